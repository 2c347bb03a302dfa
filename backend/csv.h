/*
 * csv.h: reading and writing RFC 4180 CSV, the import and rejects format.
 *
 * The reader takes UTF-8 CSV with a header row: fields separated by commas, records ended by LF or
 * CRLF (a file may mix them), quoted fields holding commas, doubled quotes and line breaks.  A UTF-8
 * byte-order mark at the very start is skipped, blank lines are skipped, and the last record needs no
 * line ending.  A quote inside an unquoted field is kept as text.  The reader is built for files of
 * hundreds of thousands of records: it reads with read(2) into one buffer allocated when it is opened
 * and allocates nothing afterwards.  A malformed record is not fatal: it comes back flagged, with its
 * raw bytes for a rejects file, and reading goes on at the next record.
 *
 * Ownership: a reader owns all its memory.  Everything an rg_csv_record points to is *borrowed* from
 * the reader and valid until the next rg_csv_next() or rg_csv_close() on it; copy what you keep.
 * rg_csv_open_fd() borrows its descriptor (the caller closes it, after rg_csv_close());
 * rg_csv_open_path() opens a descriptor that rg_csv_close() closes (stdin excepted).  The writer
 * functions write into the caller's FILE and allocate nothing.  A reader is used by one thread at a
 * time.
 */
#ifndef RG_CSV_H
#define RG_CSV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RG_CSV_DEFAULT_MAX_RECORD 65536 /* bytes */
#define RG_CSV_DEFAULT_MAX_FIELDS 64

/* Limits on one record; a zero member takes the default above. */
typedef struct rg_csv_limits {
    size_t max_record; /* bytes of a record as in the file, line ending excluded (at most 1 GiB) */
    int max_fields;    /* fields per record (at most 1048576) */
} rg_csv_limits;

/* Why a record was rejected. */
enum rg_csv_error {
    RG_CSV_OK = 0,
    RG_CSV_BAD_UTF8,        /* overlong, surrogate, above U+10FFFF, truncated or stray byte */
    RG_CSV_NUL,             /* a NUL byte in a field */
    RG_CSV_UNTERMINATED,    /* a quoted field still open at end of file or after max_record bytes */
    RG_CSV_AFTER_QUOTE,     /* text between a closing quote and the next comma or line ending */
    RG_CSV_TOO_LONG,        /* longer than max_record bytes */
    RG_CSV_TOO_MANY_FIELDS  /* more than max_fields fields */
};

/* One record, filled by rg_csv_next().  Every pointer is borrowed from the reader. */
typedef struct rg_csv_record {
    int nfields;               /* 0 when error is set */
    const char *const *field;  /* field[i]: unescaped value, NUL-terminated */
    const size_t *len;         /* len[i]: bytes in field[i], NUL excluded */
    long line;                 /* 1-based physical line on which the record starts */
    enum rg_csv_error error;
    int error_field;           /* 0-based index of the field at fault, or -1 (TOO_LONG) */
    const char *message;       /* "" or, e.g., "invalid UTF-8 at byte 14 of field 3" (counting from 1) */
    const char *raw;           /* the record's bytes as in the file, not NUL-terminated, line ending */
    size_t raw_len;            /* excluded; at most max_record (a longer record is cut there) */
} rg_csv_record;

typedef struct rg_csv rg_csv;

/*
 * Returns a new reader of fd, which it borrows: reading starts at fd's current offset.  lim may be
 * NULL for the defaults.  Returns NULL with errno set: EINVAL for a limit out of range, ENOMEM.
 * Free with rg_csv_close().
 */
rg_csv *rg_csv_open_fd(int fd, const rg_csv_limits *lim);

/* Opens path ("-" is stdin) and returns a new reader of it, or NULL with errno set as open(2) or
 * rg_csv_open_fd() sets it. */
rg_csv *rg_csv_open_path(const char *path, const rg_csv_limits *lim);

/* After the first rg_csv_next(): why the input is not UTF-8 text at all, judged by its first
 * two bytes (UTF-16, with or without its byte-order mark), or NULL. */
const char *rg_csv_not_utf8(const rg_csv *c);

/* Frees the reader and closes the descriptor rg_csv_open_path() opened.  NULL is allowed. */
void rg_csv_close(rg_csv *c);

/*
 * Reads the next record into *out (OUT).  Returns 1 for a record, 0 at end of file, or a negative
 * errno when read(2) fails; calling again after an error retries the read.
 *
 * A malformed record still returns 1, with out->error, error_field, message, line and raw set and
 * nfields 0.  Its first fault is the one reported, except that a record over max_record is TOO_LONG
 * (UNTERMINATED if a quoted field is still open where it crosses the limit).  Reading resumes at the end of the rejected record, except where that end cannot be
 * found: after a quoted field left open (at end of file or past max_record bytes) reading resumes on
 * the line after the one where the quote opened, on the view that the quote is the mistake; after an
 * over-long record it resumes after the next LF, discarding, never buffering, what lies between.
 * UTF-8 and NUL faults are located by byte within the unescaped field value.
 */
int rg_csv_next(rg_csv *c, rg_csv_record *out);

/* Bytes of the file consumed so far (from where reading started), for a progress bar; equal to the
 * bytes read once rg_csv_next() has returned 0. */
uint64_t rg_csv_offset(const rg_csv *c);

/*
 * Finds the wanted columns in a header record, by name, in any order: a header name matches after
 * its surrounding ASCII spaces and tabs are trimmed, exactly (case included).  Fills index_out[i]
 * (OUT, nwanted entries) with the 0-based column of wanted[i], or -1 when it is missing.  Returns 0,
 * or -EINVAL when a wanted column is missing, a header name is not wanted, a name appears twice or
 * hdr is a rejected record; err (OUT, may be NULL when errlen is 0) then names them all, as in
 * "missing columns: id, email; unknown column: e-mail; duplicate column: name".
 */
int rg_csv_map_header(const rg_csv_record *hdr, const char *const *wanted, int nwanted,
                      int *index_out, char *err, size_t errlen);

/*
 * Writes one field, quoted when it holds a comma, quote, CR or LF or starts or ends with a space or
 * tab, with its quotes doubled.  Returns 0 or a negative errno; since f is buffered, an error may
 * surface only when the caller flushes or closes it.
 */
int rg_csv_write_field(FILE *f, const char *s, size_t len);

/*
 * Writes a record of n >= 1 fields and an LF (which RFC 4180 readers accept in place of CRLF).
 * lens may be NULL when every field is NUL-terminated.  A lone empty field is written as "" so that
 * it does not read back as a blank line.  Returns 0, -EINVAL for n < 1, or a negative errno as
 * rg_csv_write_field().
 */
int rg_csv_write_row(FILE *f, const char *const *fields, const size_t *lens, int n);

#endif
