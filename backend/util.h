/*
 * util.h: small pieces every backend module uses: the clock, actors, a growable byte buffer, and
 * validation of the register's text formats.
 *
 * rg_buf owns its bytes: rg_buf_free() releases them, rg_buf_steal() hands them to the caller (who
 * then frees them with free()).  Appending never fails silently: on out-of-memory the buffer is marked
 * failed, later appends do nothing, and rg_buf_failed() says so once, at the end.
 */
#ifndef RG_UTIL_H
#define RG_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the environment ---- */

/* The decimal integer in environment variable name if it is one within [min, max], else dflt
 * (unset, empty, not a number or out of range alike). */
long rg_env_long(const char *name, long min, long max, long dflt);

/* ---- time ---- */

/* Nanoseconds since the epoch, UTC.  REGFS_NOW=<unix seconds> in the environment fixes the clock
 * (tests use it to place events on given days). */
int64_t rg_now_ns(void);

#define RG_UTC_LEN 21   /* "YYYY-MM-DDTHH:MM:SSZ" + NUL */
/* Formats seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ" into out[RG_UTC_LEN]; returns out. */
char *rg_fmt_utc(int64_t unix_seconds, char *out);

/* Today's date (UTC) as "YYYY-MM-DD" into out[11]. */
char *rg_today(char *out);

/* ---- actors: who made a change ---- */

/* A user acting through the CLI or a ctl file ("alice:1000"), or the daemon itself ("regfs"). */
typedef struct rg_actor {
    char name[64];
    long uid;          /* -1 for the daemon */
} rg_actor;

/* The user behind uid (name from the password database, or the number if it has none). */
void rg_actor_for_uid(uid_t uid, rg_actor *out);
/* The daemon itself. */
void rg_actor_daemon(rg_actor *out);
/* The text stored in the audit log: "name:uid" or "regfs".  out must hold 96 bytes. */
#define RG_ACTOR_STR_LEN 96
char *rg_actor_str(const rg_actor *a, char *out);

/* ---- buffers ---- */

typedef struct rg_buf {
    char *data;   /* NUL-terminated when len > 0 or after any append */
    size_t len, cap;
    int failed;   /* an allocation failed; contents are incomplete */
} rg_buf;

#define RG_BUF_INIT { NULL, 0, 0, 0 }
void rg_buf_add(rg_buf *b, const void *p, size_t n);
void rg_buf_adds(rg_buf *b, const char *s);
void rg_buf_addf(rg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void rg_buf_vaddf(rg_buf *b, const char *fmt, va_list ap);
void rg_buf_reset(rg_buf *b);             /* len = 0, keeps the memory */
void rg_buf_free(rg_buf *b);
char *rg_buf_steal(rg_buf *b);            /* new reference: the caller frees it */
static inline int rg_buf_failed(const rg_buf *b) { return b->failed; }
/*
 * Appends s as a JSON string, escaped byte for byte as jansson's json_dumps() escapes it (without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH), so that text written by hand and by jansson agree:
 * \" \\ \b \f \n \r \t, other control characters as \u00XX (upper-case hex), everything else,
 * UTF-8 included, as is.  Returns 0, or -1 with b unchanged past its length on entry if s is not
 * strict UTF-8 (jansson refuses such text too).
 */
int rg_buf_add_json_str(rg_buf *b, const char *s, size_t n);
/* Appends v in decimal. */
void rg_buf_add_int(rg_buf *b, int64_t v);

/* ---- formats ---- */

/* Strict UTF-8 (no overlongs, surrogates or NULs).  Returns 1 if valid. */
int rg_utf8_valid(const char *s, size_t n);
/* The length of the UTF-8 character whose first byte is c (1 to 4), or 0 if no character starts
 * with c (a continuation byte, or 0xF8 and above). */
size_t rg_utf8_char_len(unsigned char c);
/* The length of the longest prefix of s, at most max bytes, that does not end inside a UTF-8
 * character: what to give "%.*s" so that a cut never splits one. */
size_t rg_utf8_prefix(const char *s, size_t max);
/* snprintf() that never leaves half a UTF-8 character: when the output is truncated, an incomplete
 * character at its end is dropped as well.  Returns what vsnprintf() returns. */
int rg_snprintf_utf8(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int rg_vsnprintf_utf8(char *buf, size_t size, const char *fmt, va_list ap);
/* A real calendar date "YYYY-MM-DD" (2016-02-30 is not).  Returns 1 if valid. */
int rg_date_valid(const char *s);
/* "YYYY-MM-DD" or an ISO 8601 UTC time "YYYY-MM-DDTHH:MM:SS[.fff]Z".  Returns 1 if valid. */
int rg_timestamp_valid(const char *s);
/* A UK postcode in the usual written form ("SW1A 1AA", "M1 1AE"; case and the space are folded).
 * Returns 1 if its format is valid. */
int rg_postcode_valid(const char *s);
/* The postcode folded for comparison ("sw1a1aa") into out[16]; returns its length, 0 if empty. */
size_t rg_postcode_fold(const char *s, char *out);
/* The outward code (district) of a folded postcode ("sw1a"), into out[8]; returns its length. */
size_t rg_postcode_district(const char *folded, char *out);
/* A CLP name as a directory name: lower case ASCII letters and digits, other runs become '-'.
 * "Bristol West" -> "bristol-west", "Ynys Môn" -> "ynys-mon" (accents folded).  out[128]. */
void rg_slug(const char *s, char *out, size_t outlen);

#endif
