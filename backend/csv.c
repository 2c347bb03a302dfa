/*
 * csv.c: the RFC 4180 reader and writer declared in csv.h.
 *
 * The reader keeps one buffer of file bytes.  A record is parsed only once all of it is in the
 * buffer: when the parse runs out of bytes, the unconsumed tail moves to the front, read(2) appends
 * more, and the record is parsed again from its start (records are short next to the buffer, so the
 * re-parse costs little).  The parse looks at no more than max_record + 2 bytes (a record at the
 * limit and its CRLF), so the buffer never grows, and the unescaped values go to a second buffer of
 * fixed size.  A record whose end lies beyond that window is rejected and the rest of it discarded
 * by scanning for an LF, without buffering it.
 */
#include "csv.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READ_CHUNK (1u << 20)          /* the least read(2) asks for once the buffer is compacted */
#define LIMIT_MAX_RECORD (1u << 30)
#define LIMIT_MAX_FIELDS (1 << 20)

struct rg_csv {
    int fd;
    bool own_fd;
    size_t max_record;
    int max_fields;

    unsigned char *buf;     /* buf[r..e) is read but not yet consumed */
    size_t cap, r, e;
    uint64_t base;          /* file offset of buf[0], counted from where reading started */
    long line;              /* physical line number of buf[r] */
    bool started;           /* the byte-order mark has been looked for */
    bool eof;               /* read(2) has returned 0 */
    bool skipping;          /* discarding through the next LF: the tail of a rejected record */
    unsigned char lead[2];  /* the input's first two bytes (after a UTF-8 byte-order mark) */
    size_t nlead;

    char *val;              /* the current record's unescaped values, each NUL-terminated */
    const char **field;     /* max_fields pointers into val */
    size_t *len;

    enum rg_csv_error err;  /* the current record's first fault */
    int err_field;
    char msg[128];
};

enum parsed { PARSED_RECORD, PARSED_BLANK, PARSED_NEED_MORE };

/*
 * Returns the index of the first byte of s[0..n) that is NUL or starts an ill-formed UTF-8 sequence
 * (Unicode table 3-7: no overlongs, surrogates or values above U+10FFFF), or n if there is none.
 */
static size_t utf8_scan(const unsigned char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;

    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* Eight bytes in 0x01..0x7F: no high bit, and no zero byte to borrow through. */
            if (((w | (w - ones)) & highs) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned b = s[i];
        if (b >= 0x01 && b <= 0x7F) {
            i++;
            continue;
        }
        size_t more;
        unsigned lo = 0x80, hi = 0xBF; /* the range of the byte after the lead */
        if (b >= 0xC2 && b <= 0xDF) {
            more = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            more = 2;
            lo = b == 0xE0 ? 0xA0 : 0x80;
            hi = b == 0xED ? 0x9F : 0xBF;
        } else if (b >= 0xF0 && b <= 0xF4) {
            more = 3;
            lo = b == 0xF0 ? 0x90 : 0x80;
            hi = b == 0xF4 ? 0x8F : 0xBF;
        } else {
            return i; /* NUL, a continuation byte, C0, C1 or F5..FF */
        }
        if (n - i <= more || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += more + 1;
    }
    return n;
}

/* Records a fault in the current record unless it already has one: the first fault is reported. */
__attribute__((format(printf, 4, 5)))
static void reject(rg_csv *c, enum rg_csv_error code, int field, const char *fmt, ...)
{
    va_list ap;

    if (c->err != RG_CSV_OK)
        return;
    c->err = code;
    c->err_field = field;
    va_start(ap, fmt);
    rg_vsnprintf_utf8(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
}

/* Rejects the current record as over the limit: that fault replaces any found before it. */
static void reject_too_long(rg_csv *c)
{
    c->err = RG_CSV_OK;
    reject(c, RG_CSV_TOO_LONG, -1, "record longer than %zu bytes", c->max_record);
}

/* Moves the unconsumed bytes to the front of the buffer and reads more after them.  Returns 0 (and
 * sets eof when there is no more) or a negative errno. */
static int fill(rg_csv *c)
{
    if (c->r > 0) {
        memmove(c->buf, c->buf + c->r, c->e - c->r);
        c->base += c->r;
        c->e -= c->r;
        c->r = 0;
    }
    for (;;) {
        ssize_t n = read(c->fd, c->buf + c->e, c->cap - c->e);
        if (n > 0) {
            c->e += (size_t)n;
            return 0;
        }
        if (n == 0) {
            c->eof = true;
            return 0;
        }
        if (errno != EINTR)
            return -errno;
    }
}

/* Skips a UTF-8 byte-order mark at the start of the input.  Returns 0 or a negative errno. */
static int skip_bom(rg_csv *c)
{
    static const unsigned char bom[3] = { 0xEF, 0xBB, 0xBF };

    while (c->e < sizeof bom && !c->eof) {
        int rc = fill(c);
        if (rc < 0)
            return rc;
    }
    if (c->e >= sizeof bom && memcmp(c->buf, bom, sizeof bom) == 0)
        c->r = sizeof bom;
    c->nlead = c->e - c->r < sizeof c->lead ? c->e - c->r : sizeof c->lead;
    memcpy(c->lead, c->buf + c->r, c->nlead);
    c->started = true;
    return 0;
}

const char *rg_csv_not_utf8(const rg_csv *c)
{
    const unsigned char *b = c->lead;

    if (c->nlead < 2)
        return NULL;
    if ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF))
        return "the file is UTF-16 (it starts with a UTF-16 byte-order mark)";
    if ((b[0] && b[0] < 0x80 && !b[1]) || (!b[0] && b[1] && b[1] < 0x80))
        return "the file looks like UTF-16 (a NUL byte beside each letter)";
    return NULL;
}

/* Discards input through the next LF, reading as needed.  Returns 0 or a negative errno. */
static int skip_line(rg_csv *c)
{
    for (;;) {
        const unsigned char *lf = memchr(c->buf + c->r, '\n', c->e - c->r);
        if (lf) {
            c->r = (size_t)(lf - c->buf) + 1;
            c->line++;
            c->skipping = false;
            return 0;
        }
        c->r = c->e;
        if (c->eof) {
            c->skipping = false;
            return 0;
        }
        int rc = fill(c);
        if (rc < 0)
            return rc;
    }
}

/*
 * Ends a record whose end cannot be found: reading resumes after the first LF at or after `from`,
 * which is preceded by `lines` LFs within the record.  When that LF is not in the buffer, finding it
 * is left to skip_line().  Returns where the rejected bytes stop.
 */
static const unsigned char *resync(rg_csv *c, const unsigned char *from, long lines)
{
    const unsigned char *end = c->buf + c->e;
    const unsigned char *lf = memchr(from, '\n', (size_t)(end - from));

    if (lf) {
        c->r = (size_t)(lf - c->buf) + 1;
        c->line += lines + 1;
        return lf;
    }
    c->r = c->e;
    c->line += lines;
    c->skipping = true;
    return end;
}

/* Where a record's raw bytes end when its line ending, or the data, starts at stop. */
static const unsigned char *strip_cr(const unsigned char *s, const unsigned char *stop)
{
    return stop > s && stop[-1] == '\r' ? stop - 1 : stop;
}

/*
 * Parses the record at buf[r] into c->val, c->field and c->len and, unless it needs more input,
 * consumes it and fills *out.  The record ends at an LF outside quotes or at end of file.
 */
static enum parsed parse(rg_csv *c, rg_csv_record *out)
{
    const unsigned char *s = c->buf + c->r, *end = c->buf + c->e;
    size_t window = c->max_record + 2;
    const unsigned char *lim = (size_t)(end - s) > window ? s + window : end;
    const unsigned char *p = s, *stop, *qopen = NULL;
    char *o = c->val;
    long nl = 0, qline = 0, line = c->line; /* nl counts LFs inside quoted fields so far */
    int n = 0;

    c->err = RG_CSV_OK;
    c->err_field = -1;
    c->msg[0] = '\0';
    for (;;) {
        char *v = o;
        bool quoted = p < lim && *p == '"';
        if (quoted) {
            qopen = p;
            qline = nl;
            for (p++;; p++) {
                if (p == lim)
                    goto open_quote;
                if (*p == '"') {
                    /* A quote as the last byte seen closes the field for now; if more input
                     * follows it, the tail loop below asks for it and the record is parsed again. */
                    if (p + 1 == lim || p[1] != '"')
                        break;
                    p++;
                } else if (*p == '\n') {
                    nl++;
                }
                *o++ = (char)*p;
            }
            p++;
        }
        const unsigned char *tail = p;
        while (p < lim && *p != ',' && *p != '\n')
            *o++ = (char)*p++;
        if (p == lim && !(lim == end && c->eof)) {
            if (lim == end)
                return PARSED_NEED_MORE;
            stop = strip_cr(s, resync(c, lim, nl));
            reject_too_long(c);
            goto emit;
        }
        bool last = p == lim || *p == '\n';
        size_t tail_len = (size_t)(p - tail);
        if (last && tail_len > 0 && p[-1] == '\r') {
            o--;
            tail_len--;
        }
        if (quoted && tail_len > 0)
            reject(c, RG_CSV_AFTER_QUOTE, n, "text after closing quote in field %d", n + 1);
        *o++ = '\0';
        if (n < c->max_fields) {
            c->field[n] = v;
            c->len[n] = (size_t)(o - 1 - v);
        } else {
            reject(c, RG_CSV_TOO_MANY_FIELDS, n, "too many fields (more than %d)", c->max_fields);
        }
        if (c->err == RG_CSV_OK) {
            size_t bad = utf8_scan((const unsigned char *)v, c->len[n]);
            if (bad < c->len[n])
                reject(c, v[bad] ? RG_CSV_BAD_UTF8 : RG_CSV_NUL, n, "%s at byte %zu of field %d",
                       v[bad] ? "invalid UTF-8" : "NUL byte", bad + 1, n + 1);
        }
        n++;
        if (last)
            break;
        p++;
    }
    stop = strip_cr(s, p);
    c->r = (size_t)(p - c->buf) + (p < end); /* past the LF, if the record has one */
    c->line += nl + (p < end);
    if (stop == s)
        return PARSED_BLANK;
    if ((size_t)(stop - s) > c->max_record)
        reject_too_long(c);
    goto emit;

open_quote:
    if (lim == end && !c->eof)
        return PARSED_NEED_MORE;
    if (lim == end)
        reject(c, RG_CSV_UNTERMINATED, n, "unterminated quoted field %d (opened on line %ld)",
               n + 1, line + qline);
    else
        reject(c, RG_CSV_UNTERMINATED, n,
               "unterminated quoted field %d (opened on line %ld, still open after %zu bytes)",
               n + 1, line + qline, c->max_record);
    stop = strip_cr(s, resync(c, qopen, qline));

emit:
    out->nfields = c->err == RG_CSV_OK ? n : 0;
    out->field = c->field;
    out->len = c->len;
    out->line = line;
    out->error = c->err;
    out->error_field = c->err_field;
    out->message = c->msg;
    out->raw = (const char *)s;
    out->raw_len = (size_t)(stop - s) < c->max_record ? (size_t)(stop - s) : c->max_record;
    return PARSED_RECORD;
}

rg_csv *rg_csv_open_fd(int fd, const rg_csv_limits *lim)
{
    size_t max_record = lim && lim->max_record ? lim->max_record : RG_CSV_DEFAULT_MAX_RECORD;
    int max_fields = lim && lim->max_fields ? lim->max_fields : RG_CSV_DEFAULT_MAX_FIELDS;
    rg_csv *c;

    if (max_record > LIMIT_MAX_RECORD || max_fields < 0 || max_fields > LIMIT_MAX_FIELDS) {
        errno = EINVAL;
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->fd = fd;
    c->max_record = max_record;
    c->max_fields = max_fields;
    c->line = 1;
    c->cap = max_record + 2 + READ_CHUNK;
    c->buf = malloc(c->cap);
    /* A parse copies at most max_record + 2 bytes and ends each of at most as many + 1 fields. */
    c->val = malloc(2 * (max_record + 2) + 1);
    c->field = malloc((size_t)max_fields * sizeof *c->field);
    c->len = malloc((size_t)max_fields * sizeof *c->len);
    if (!c->buf || !c->val || !c->field || !c->len) {
        rg_csv_close(c);
        errno = ENOMEM;
        return NULL;
    }
    return c;
}

rg_csv *rg_csv_open_path(const char *path, const rg_csv_limits *lim)
{
    rg_csv *c;
    int fd, saved;

    if (strcmp(path, "-") == 0)
        return rg_csv_open_fd(STDIN_FILENO, lim);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    c = rg_csv_open_fd(fd, lim);
    if (!c) {
        saved = errno;
        close(fd);
        errno = saved;
        return NULL;
    }
    c->own_fd = true;
    return c;
}

void rg_csv_close(rg_csv *c)
{
    if (!c)
        return;
    if (c->own_fd)
        close(c->fd);
    free(c->buf);
    free(c->val);
    free(c->field);
    free(c->len);
    free(c);
}

int rg_csv_next(rg_csv *c, rg_csv_record *out)
{
    int rc = 0;

    for (;;) {
        if (!c->started)
            rc = skip_bom(c);
        else if (c->skipping)
            rc = skip_line(c);
        else if (c->r == c->e && c->eof)
            return 0;
        else if (c->r == c->e)
            rc = fill(c);
        else
            switch (parse(c, out)) {
            case PARSED_RECORD:
                return 1;
            case PARSED_BLANK:
                break;
            case PARSED_NEED_MORE:
                rc = fill(c);
                break;
            }
        if (rc < 0)
            return rc;
    }
}

uint64_t rg_csv_offset(const rg_csv *c)
{
    return c->base + c->r;
}

/* ---- header mapping ---- */

/* Appends to a caller's fixed buffer, truncating silently. */
struct msgbuf {
    char *s;
    size_t cap, len;
};

__attribute__((format(printf, 2, 3)))
static void msg_add(struct msgbuf *m, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (m->len + 1 >= m->cap)
        return;
    va_start(ap, fmt);
    n = rg_vsnprintf_utf8(m->s + m->len, m->cap - m->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        m->len += m->len + (size_t)n < m->cap ? (size_t)n : strlen(m->s + m->len);
}

/* Column j's name without surrounding spaces and tabs. */
static const char *column_name(const rg_csv_record *h, int j, size_t *len)
{
    const char *s = h->field[j];
    size_t n = h->len[j];

    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

static bool same_name(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* Index of the first column named as column j is (j itself when it is the first). */
static int first_column(const rg_csv_record *h, int j)
{
    size_t len, klen;
    const char *name = column_name(h, j, &len);

    for (int k = 0; k < j; k++) {
        const char *other = column_name(h, k, &klen);
        if (same_name(name, len, other, klen))
            return k;
    }
    return j;
}

static int wanted_index(const char *const *wanted, int nwanted, const char *name, size_t len)
{
    for (int i = 0; i < nwanted; i++)
        if (same_name(name, len, wanted[i], strlen(wanted[i])))
            return i;
    return -1;
}

enum header_problem { MISSING, UNKNOWN, DUPLICATE };

/* Whether item i has the problem, and its name: item i is wanted[i] for MISSING, else column i.
 * An unknown name is reported at its first column, a duplicated one at its second. */
static bool has_problem(enum header_problem p, const rg_csv_record *h, const char *const *wanted,
                        int nwanted, const int *index, int i, const char **name, size_t *len)
{
    if (p == MISSING) {
        *name = wanted[i];
        *len = strlen(wanted[i]);
        return index[i] < 0;
    }
    *name = column_name(h, i, len);
    int first = first_column(h, i);
    if (p == UNKNOWN)
        return first == i && wanted_index(wanted, nwanted, *name, *len) < 0;
    if (first == i)
        return false;
    for (int k = first + 1; k < i; k++)
        if (first_column(h, k) == first)
            return false; /* reported at an earlier repeat */
    return true;
}

/* Whether the header holds a carriage return: then the lines end in CR alone (a header field
 * never holds one), and the whole file reads as one record. */
static bool header_has_cr(const rg_csv_record *hdr)
{
    for (int j = 0; j < hdr->nfields; j++)
        if (memchr(hdr->field[j], '\r', hdr->len[j]))
            return true;
    return false;
}

int rg_csv_map_header(const rg_csv_record *hdr, const char *const *wanted, int nwanted,
                      int *index_out, char *err, size_t errlen)
{
    static const char *const label[] = { [MISSING] = "missing", [UNKNOWN] = "unknown",
                                         [DUPLICATE] = "duplicate" };
    struct msgbuf m = { err, errlen, 0 };
    const char *name;
    size_t len;
    int problems = 0;

    if (errlen > 0)
        err[0] = '\0';
    for (int i = 0; i < nwanted; i++)
        index_out[i] = -1;
    if (header_has_cr(hdr)) {
        msg_add(&m, "its lines end in a carriage return alone (old Mac line endings), so the whole"
                " file reads as one line: convert them, e.g. with tr '\\r' '\\n'");
        return -EINVAL;
    }
    if (hdr->error != RG_CSV_OK) {
        msg_add(&m, "header: %s", hdr->message);
        return -EINVAL;
    }
    for (int j = 0; j < hdr->nfields; j++) {
        name = column_name(hdr, j, &len);
        int i = wanted_index(wanted, nwanted, name, len);
        if (i >= 0 && index_out[i] < 0)
            index_out[i] = j;
    }
    for (enum header_problem p = MISSING; p <= DUPLICATE; p++) {
        int items = p == MISSING ? nwanted : hdr->nfields, count = 0;
        for (int i = 0; i < items; i++)
            count += has_problem(p, hdr, wanted, nwanted, index_out, i, &name, &len);
        if (count == 0)
            continue;
        msg_add(&m, "%s%s column%s: ", problems ? "; " : "", label[p], count > 1 ? "s" : "");
        problems += count;
        for (int i = 0, listed = 0; i < items; i++)
            if (has_problem(p, hdr, wanted, nwanted, index_out, i, &name, &len))
                msg_add(&m, "%s%.*s", listed++ ? ", " : "", len ? (int)len : 2,
                        len ? name : "\"\"");
    }
    return problems ? -EINVAL : 0;
}

/* ---- writer ---- */

static int put(FILE *f, const void *p, size_t n)
{
    errno = 0;
    if (n == 0 || fwrite(p, 1, n, f) == n)
        return 0;
    return errno ? -errno : -EIO;
}

int rg_csv_write_field(FILE *f, const char *s, size_t len)
{
    bool quote = len > 0 && (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' || s[len - 1] == '\t');
    const char *q;
    int rc;

    for (size_t i = 0; i < len && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote)
        return put(f, s, len);
    if ((rc = put(f, "\"", 1)) < 0)
        return rc;
    /* Each segment through a quote is followed by a second quote. */
    while ((q = memchr(s, '"', len)) != NULL) {
        size_t seg = (size_t)(q - s) + 1;
        if ((rc = put(f, s, seg)) < 0 || (rc = put(f, "\"", 1)) < 0)
            return rc;
        s += seg;
        len -= seg;
    }
    if ((rc = put(f, s, len)) < 0)
        return rc;
    return put(f, "\"", 1);
}

int rg_csv_write_row(FILE *f, const char *const *fields, const size_t *lens, int n)
{
    int rc;

    if (n < 1)
        return -EINVAL;
    for (int i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(fields[i]);
        if (i > 0 && (rc = put(f, ",", 1)) < 0)
            return rc;
        if (n == 1 && len == 0)
            rc = put(f, "\"\"", 2);
        else
            rc = rg_csv_write_field(f, fields[i], len);
        if (rc < 0)
            return rc;
    }
    return put(f, "\n", 1);
}
