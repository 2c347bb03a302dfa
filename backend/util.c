/*
 * util.c: the clock, actors, growable buffers and the register's text formats (see util.h).
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>

#include "util.h"

long rg_env_long(const char *name, long min, long max, long dflt)
{
    const char *env = getenv(name);
    char *end;
    long v;

    if (!env || !*env)
        return dflt;
    errno = 0;
    v = strtol(env, &end, 10);
    return *end == '\0' && errno == 0 && v >= min && v <= max ? v : dflt;
}

int64_t rg_now_ns(void)
{
    const char *fixed = getenv("REGFS_NOW");
    struct timespec ts;

    if (fixed && *fixed) {
        char *end;
        long long s = strtoll(fixed, &end, 10);
        if (*end == '\0' && s > 0)
            return (int64_t)s * 1000000000;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *rg_fmt_utc(int64_t unix_seconds, char *out)
{
    time_t t = (time_t)unix_seconds;
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, RG_UTC_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return out;
}

char *rg_today(char *out)
{
    char utc[RG_UTC_LEN];

    rg_fmt_utc(rg_now_ns() / 1000000000, utc);
    memcpy(out, utc, 10);
    out[10] = '\0';
    return out;
}

void rg_actor_for_uid(uid_t uid, rg_actor *out)
{
    struct passwd pw, *res = NULL;
    char buf[1024];

    out->uid = (long)uid;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
        snprintf(out->name, sizeof out->name, "%s", res->pw_name);
    else
        snprintf(out->name, sizeof out->name, "uid%ld", (long)uid);
}

void rg_actor_daemon(rg_actor *out)
{
    snprintf(out->name, sizeof out->name, "regfs");
    out->uid = -1;
}

char *rg_actor_str(const rg_actor *a, char *out)
{
    if (a->uid < 0)
        snprintf(out, RG_ACTOR_STR_LEN, "%s", a->name);
    else
        snprintf(out, RG_ACTOR_STR_LEN, "%s:%ld", a->name, a->uid);
    return out;
}

/* ---- buffers ---- */

static int buf_grow(rg_buf *b, size_t need)
{
    size_t cap;
    char *p;

    if (b->failed)
        return -1;
    if (b->len + need + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + need + 1)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void rg_buf_add(rg_buf *b, const void *p, size_t n)
{
    if (buf_grow(b, n) < 0)
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void rg_buf_adds(rg_buf *b, const char *s)
{
    rg_buf_add(b, s, strlen(s));
}

int rg_buf_add_json_str(rg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    size_t mark = b->len, run = 0, i = 0;

    rg_buf_add(b, "\"", 1);
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            /* Strict UTF-8, as utf8proc reads it: no overlongs, no surrogates, nothing above
             * U+10FFFF. */
            utf8proc_int32_t cp;
            utf8proc_ssize_t len = utf8proc_iterate(p + i, (utf8proc_ssize_t)(n - i), &cp);
            if (len <= 0)
                goto out_invalid;
            i += (size_t)len;
            continue;
        }
        if (c >= 0x20 && c != '"' && c != '\\') {
            i++;
            continue;
        }
        rg_buf_add(b, s + run, i - run);
        switch (c) {
        case '"': rg_buf_add(b, "\\\"", 2); break;
        case '\\': rg_buf_add(b, "\\\\", 2); break;
        case '\b': rg_buf_add(b, "\\b", 2); break;
        case '\f': rg_buf_add(b, "\\f", 2); break;
        case '\n': rg_buf_add(b, "\\n", 2); break;
        case '\r': rg_buf_add(b, "\\r", 2); break;
        case '\t': rg_buf_add(b, "\\t", 2); break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            rg_buf_add(b, u, 6);
        }
        }
        run = ++i;
    }
    rg_buf_add(b, s + run, n - run);
    rg_buf_add(b, "\"", 1);
    return 0;
out_invalid:
    if (!rg_buf_failed(b) && b->data)
        b->data[b->len = mark] = '\0';
    return -1;
}

void rg_buf_add_int(rg_buf *b, int64_t v)
{
    char d[24], *p = d + sizeof d;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) > 0);
    if (v < 0)
        *--p = '-';
    rg_buf_add(b, p, (size_t)(d + sizeof d - p));
}

void rg_buf_vaddf(rg_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || buf_grow(b, (size_t)n) < 0)
        return;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void rg_buf_addf(rg_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rg_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

void rg_buf_reset(rg_buf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->data)
        b->data[0] = '\0';
}

void rg_buf_free(rg_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = 0;
}

char *rg_buf_steal(rg_buf *b)
{
    char *p = b->data;

    if (!p)
        p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---- formats ---- */

int rg_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    while (p < end) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, end - p, &cp);
        if (k <= 0 || cp == 0)
            return 0;
        p += k;
    }
    return 1;
}

size_t rg_utf8_prefix(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n <= max)
        return n;
    /* s[max] is the first byte left out: if it continues a character, cut before that
     * character's first byte. */
    for (n = max; n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; n--)
        ;
    return n;
}

size_t rg_utf8_char_len(unsigned char c)
{
    return c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
}

int rg_vsnprintf_utf8(char *buf, size_t size, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, size, fmt, ap);
    size_t len, start;

    if (n < 0 || size == 0 || (size_t)n < size)
        return n;
    /* Cut to len bytes.  The last character starts at most 3 bytes back; if it is longer than
     * what is left of it, the cut fell inside it. */
    len = size - 1;
    for (start = len; start > 0 && len - start < 3 && ((unsigned char)buf[start - 1] & 0xC0) == 0x80;)
        start--;
    if (start > 0 && len - (start - 1) < rg_utf8_char_len((unsigned char)buf[start - 1]))
        buf[start - 1] = '\0';
    return n;
}

int rg_snprintf_utf8(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = rg_vsnprintf_utf8(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* Whether s starts with a real calendar date "YYYY-MM-DD" (what follows is the caller's to check). */
static int date_prefix_valid(const char *s)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, m, d, leap;

    if (strlen(s) < 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2))
        return 0;
    y = atoi(s);
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1800 || m < 1 || m > 12 || d < 1)
        return 0;
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

int rg_date_valid(const char *s)
{
    return date_prefix_valid(s) && s[10] == '\0';
}

int rg_timestamp_valid(const char *s)
{
    size_t n = strlen(s);

    if (!date_prefix_valid(s))
        return 0;
    if (n == 10)
        return 1;
    /* YYYY-MM-DDTHH:MM:SS[.fraction]Z */
    if (n < 20 || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' || !digits(s + 14, 2) ||
        s[16] != ':' || !digits(s + 17, 2))
        return 0;
    if (atoi(s + 11) > 23 || atoi(s + 14) > 59 || atoi(s + 17) > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return 0;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return p[0] == 'Z' && p[1] == '\0';
}

size_t rg_postcode_fold(const char *s, char *out)
{
    size_t n = 0;

    for (; *s && n < 15; s++)
        if (!isspace((unsigned char)*s))
            out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
    return n;
}

size_t rg_postcode_district(const char *folded, char *out)
{
    size_t n = strlen(folded), k = n >= 5 ? n - 3 : 0;   /* the inward code is always 3 long */

    if (k > 7)
        k = 7;
    memcpy(out, folded, k);
    out[k] = '\0';
    return k;
}

int rg_postcode_valid(const char *s)
{
    /* Outward code: A9, A99, AA9, AA99, A9A, AA9A; inward code: 9AA.  GIR 0AA is the one exception. */
    char f[16];
    size_t n = rg_postcode_fold(s, f), out;

    if (strcmp(f, "gir0aa") == 0)
        return 1;
    if (n < 5 || n > 7)
        return 0;
    out = n - 3;
    if (!isdigit((unsigned char)f[out]) || !isalpha((unsigned char)f[out + 1]) ||
        !isalpha((unsigned char)f[out + 2]))
        return 0;
    if (!isalpha((unsigned char)f[0]))
        return 0;
    /* the rest of the outward code: one or two letters, then a digit, then a digit or a letter */
    size_t i = 1;
    if (i < out && isalpha((unsigned char)f[i]))
        i++;
    if (i >= out || !isdigit((unsigned char)f[i]))
        return 0;
    i++;
    if (i < out && isalnum((unsigned char)f[i]))
        i++;
    /* The written form has at most one space, between the two parts. */
    const char *sp = strchr(s, ' ');
    if (sp && (strchr(sp + 1, ' ') || (size_t)(sp - s) != out))
        return 0;
    return i == out;
}

void rg_slug(const char *s, char *out, size_t outlen)
{
    utf8proc_uint8_t *folded = NULL;
    size_t n = 0;
    int dash = 0;

    if (utf8proc_map((const utf8proc_uint8_t *)s, 0, &folded,
                     UTF8PROC_NULLTERM | UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK | UTF8PROC_CASEFOLD) < 0)
        folded = NULL;
    const char *p = folded ? (const char *)folded : s;
    for (; *p && n + 1 < outlen; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c) && c < 0x80) {
            if (dash && n > 0) {
                if (n + 2 >= outlen)
                    break;   /* no room for the dash and a letter: stop rather than join two words */
                out[n++] = '-';
            }
            dash = 0;
            out[n++] = (char)tolower(c);
        } else if (c < 0x80 || (c & 0xc0) == 0xc0) {
            dash = 1;   /* punctuation, space or a non-ASCII letter: one dash per run */
        }
    }
    if (n == 0 && outlen > 1)
        out[n++] = '-';
    out[n] = '\0';
    free(folded);
}
