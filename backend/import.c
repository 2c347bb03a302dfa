/*
 * import.c: applicants, the watch list and the organisations from CSV (see import.h).
 *
 * One table per kind of file says which columns it has, how each is validated, which statements
 * read and write its records and which audit actions they write; one driver runs them all.  The
 * driver reads records from the CSV reader (csv.h), which allocates nothing per record; a row's
 * values are (pointer, length) views into the reader's buffer, trimmed in place, bound to the
 * statements without copying and compared with the stored record while its statement is still on
 * the row.  So a row that changes nothing costs a lookup and no allocation, and a new or changed
 * row costs its writes and the audit event's JSON.  The whole file is one transaction: the audit
 * chain's head is cached in the connection for its length (audit.c), and any failure rolls back
 * every row and every event.
 *
 * Rejected rows go to a temporary file beside the rejects file, which replaces it only once the
 * transaction has committed; an import that fails leaves the previous rejects file as it was.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#include "audit.h"
#include "csv.h"
#include "db_internal.h"
#include "import.h"

/* ---- SQL ---- */

/* Parameters: ?1 the key, then the file's other columns in the order of the tables below, then
 * the derived columns. */
static const char SQL_APP_GET[] =
    "SELECT given_name, family_name, date_of_birth, email, postcode, clp, kind, joined_at,"
    " declared_party, aims_values, manual, verdict FROM applicant WHERE id = ?1";
static const char SQL_APP_INSERT[] =
    "INSERT INTO applicant(id, given_name, family_name, date_of_birth, email, postcode, clp, kind,"
    " joined_at, declared_party, aims_values, clp_slug, joined_day, changed_ns)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
static const char SQL_APP_UPDATE[] =
    "UPDATE applicant SET given_name = ?2, family_name = ?3, date_of_birth = ?4, email = ?5,"
    " postcode = ?6, clp = ?7, kind = ?8, joined_at = ?9, declared_party = ?10, aims_values = ?11,"
    " clp_slug = ?12, joined_day = ?13, changed_ns = ?14 WHERE id = ?1";
/* The same, for an applicant whose verdict came from the rules: it described the old data. */
static const char SQL_APP_UPDATE_RESET[] =
    "UPDATE applicant SET given_name = ?2, family_name = ?3, date_of_birth = ?4, email = ?5,"
    " postcode = ?6, clp = ?7, kind = ?8, joined_at = ?9, declared_party = ?10, aims_values = ?11,"
    " clp_slug = ?12, joined_day = ?13, changed_ns = ?14,"
    " verdict = 'pending', rule = '', score = 0, reasons = '[]', ballot = 0, decided_by = '',"
    " decided_at = '' WHERE id = ?1";

/* The applicant table's own indexes (not the primary key's), for a bulk load into an empty table. */
static const char SQL_APP_INDEXES[] =
    "SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'applicant'"
    " AND sql IS NOT NULL ORDER BY name";

static const char SQL_WATCH_GET[] =
    "SELECT given_name, family_name, date_of_birth, email, postcode, organisation, role, source"
    " FROM watchlist WHERE id = ?1";
static const char SQL_WATCH_INSERT[] =
    "INSERT INTO watchlist(id, given_name, family_name, date_of_birth, email, postcode,"
    " organisation, role, source, changed_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
static const char SQL_WATCH_UPDATE[] =
    "UPDATE watchlist SET given_name = ?2, family_name = ?3, date_of_birth = ?4, email = ?5,"
    " postcode = ?6, organisation = ?7, role = ?8, source = ?9, changed_ns = ?10 WHERE id = ?1";
static const char SQL_APP_ANY[] = "SELECT EXISTS (SELECT 1 FROM applicant)";
static const char SQL_WATCH_ANY[] = "SELECT EXISTS (SELECT 1 FROM watchlist)";
static const char SQL_WATCH_BUMP[] =
    "UPDATE counter SET value = value + 1 WHERE name = 'watchlist_version'";

static const char SQL_ORG_GET[] = "SELECT aliases FROM organisation WHERE name = ?1";
static const char SQL_ORG_INSERT[] = "INSERT INTO organisation(name, aliases) VALUES (?1, ?2)";
static const char SQL_ORG_UPDATE[] = "UPDATE organisation SET aliases = ?2 WHERE name = ?1";
static const char SQL_ORG_ALL[] = "SELECT name, aliases FROM organisation ORDER BY name";
static const char SQL_ORG_DELETE[] = "DELETE FROM organisation WHERE name = ?1";
static const char SQL_ORG_ANY[] = "SELECT EXISTS (SELECT 1 FROM organisation)";

/* ---- the kinds of file ---- */

/* How a column's value is checked, after trimming.  Every column also refuses control characters,
 * except that free text (what an applicant wrote, where an entry came from) may hold tabs and line
 * breaks: that is what quoted CSV fields with embedded newlines are for. */
enum rule {
    R_ID,         /* applicant id: a positive decimal integer, at most 2^53 */
    R_REQUIRED,   /* text that must not be empty */
    R_OPTIONAL,   /* text that may be empty */
    R_DOB,        /* empty, or a real date "YYYY-MM-DD" not in the future */
    R_EMAIL,      /* empty, or one '@' between non-empty parts, no spaces */
    R_KIND,       /* member, registered_supporter or affiliated_supporter */
    R_JOINED,     /* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS[.fff]Z" */
    R_YESNO,      /* yes or no */
    R_WATCH_ID,   /* a file name under watchlist/: no '/', not "." or "..", at most 63 bytes */
    R_ALIASES,    /* names separated by '|': each trimmed, empty ones dropped */
};

struct column {
    const char *name;
    enum rule rule;
    size_t max;       /* bytes after trimming; 0 when the rule bounds the length itself */
    bool free_text;   /* tabs, CR and LF allowed */
};

#define MAX_COLUMNS 11
#define NAME_MAX_BYTES 200
#define ID_MAX ((int64_t)1 << 53)   /* ids stay exact in JSON numbers and in doubles */

static const struct column applicant_columns[] = {
    { "id", R_ID, 0, false },
    { "given_name", R_REQUIRED, NAME_MAX_BYTES, false },
    { "family_name", R_REQUIRED, NAME_MAX_BYTES, false },
    { "date_of_birth", R_DOB, 0, false },
    { "email", R_EMAIL, 254, false },
    { "postcode", R_OPTIONAL, 16, false },   /* malformed or foreign postcodes are vetting's to judge */
    { "clp", R_REQUIRED, NAME_MAX_BYTES, false },
    { "kind", R_KIND, 0, false },
    { "joined_at", R_JOINED, 0, false },
    { "declared_party", R_OPTIONAL, NAME_MAX_BYTES, true },
    { "aims_values", R_YESNO, 0, false },
};
enum { APP_CLP = 6, APP_JOINED = 8 };   /* indexes of the columns derived ones are made from */

static const struct column watch_columns[] = {
    { "id", R_WATCH_ID, 63, false },   /* match.h keeps watch ids in 64 bytes */
    { "given_name", R_REQUIRED, NAME_MAX_BYTES, false },
    { "family_name", R_REQUIRED, NAME_MAX_BYTES, false },
    { "date_of_birth", R_DOB, 0, false },
    { "email", R_EMAIL, 254, false },
    { "postcode", R_OPTIONAL, 16, false },
    { "organisation", R_REQUIRED, NAME_MAX_BYTES, false },
    { "role", R_REQUIRED, NAME_MAX_BYTES, false },
    { "source", R_REQUIRED, 1000, true },   /* often a URL, sometimes a note */
};

static const struct column org_columns[] = {
    { "name", R_REQUIRED, NAME_MAX_BYTES, false },
    { "aliases", R_ALIASES, 2000, false },
};

struct kind_def {
    const char *name;                 /* as on the command line */
    const struct column *cols;        /* cols[0] is the key */
    int ncols;
    bool int_key;                     /* the key is an integer (an applicant id) */
    const char *sql_any;              /* whether the table has any record */
    const char *sql_get;              /* the stored cols[1..], in order, by key */
    const char *sql_insert, *sql_update;
    const char *act_import, *act_update;
};

#define COLUMNS(a) a, (int)(sizeof a / sizeof a[0])
static const struct kind_def kinds[] = {
    [RG_IMPORT_APPLICANTS] = { "applicants", COLUMNS(applicant_columns), true, SQL_APP_ANY,
                               SQL_APP_GET,
                               SQL_APP_INSERT, SQL_APP_UPDATE, "applicant.import",
                               "applicant.update" },
    [RG_IMPORT_WATCHLIST] = { "watchlist", COLUMNS(watch_columns), false, SQL_WATCH_ANY,
                              SQL_WATCH_GET,
                              SQL_WATCH_INSERT, SQL_WATCH_UPDATE, "watchlist.import",
                              "watchlist.update" },
    [RG_IMPORT_ORGANISATIONS] = { "organisations", COLUMNS(org_columns), false, SQL_ORG_ANY,
                                  SQL_ORG_GET,
                                  SQL_ORG_INSERT, SQL_ORG_UPDATE, "organisation.import",
                                  "organisation.update" },
};
#define NKINDS (int)(sizeof kinds / sizeof kinds[0])

const char *rg_import_kind_name(enum rg_import_kind kind)
{
    return (int)kind >= 0 && (int)kind < NKINDS ? kinds[kind].name : "?";
}

int rg_import_kind_parse(const char *name)
{
    for (int i = 0; i < NKINDS; i++)
        if (strcmp(kinds[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- the keys seen in a file, to refuse a second row with the same key ---- */

/*
 * An open-addressed table of keys and the line each was first seen on.  Keys live in one arena,
 * each preceded by its length in a byte (keys are at most 255 bytes: the key columns are bounded
 * shorter than that).  Both grow by doubling, so a file costs a few allocations, not one per row.
 */
struct keyset {
    struct key_slot {
        uint64_t hash;
        uint32_t off;    /* of the length byte in keys */
        uint32_t line;   /* 0: the slot is empty */
    } *slot;
    size_t cap, used;
    rg_buf keys;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325u;   /* FNV-1a, then a final mix for the low bits */

    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3u;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return h;
}

static int keyset_grow(struct keyset *ks)
{
    size_t cap = ks->cap ? ks->cap * 2 : 1024;
    struct key_slot *slot = calloc(cap, sizeof *slot);

    if (!slot)
        return -ENOMEM;
    for (size_t i = 0; i < ks->cap; i++) {
        if (!ks->slot[i].line)
            continue;
        size_t j = ks->slot[i].hash & (cap - 1);
        while (slot[j].line)
            j = (j + 1) & (cap - 1);
        slot[j] = ks->slot[i];
    }
    free(ks->slot);
    ks->slot = slot;
    ks->cap = cap;
    return 0;
}

/* The slot holding key, or the empty slot where it would go. */
static struct key_slot *keyset_slot(const struct keyset *ks, const void *key, size_t n, uint64_t h)
{
    size_t j = h & (ks->cap - 1);

    for (;; j = (j + 1) & (ks->cap - 1)) {
        struct key_slot *s = &ks->slot[j];
        if (!s->line)
            return s;
        const unsigned char *k = (const unsigned char *)ks->keys.data + s->off;
        if (s->hash == h && k[0] == n && memcmp(k + 1, key, n) == 0)
            return s;
    }
}

/* Returns the line key was first seen on, or 0 (and not found). */
static long keyset_find(const struct keyset *ks, const void *key, size_t n)
{
    if (ks->cap == 0 || n > 255)
        return 0;
    return keyset_slot(ks, key, n, hash_bytes(key, n))->line;
}

/* Adds key, first seen on line.  Returns 0 when it is new, the line of its first sighting when it
 * is not, or -ENOMEM. */
static long keyset_add(struct keyset *ks, const void *key, size_t n, long line)
{
    uint64_t h = hash_bytes(key, n);
    unsigned char len = (unsigned char)n;
    struct key_slot *s;

    if (n > 255)
        return -EINVAL;
    if ((ks->used + 1) * 4 > ks->cap * 3 && keyset_grow(ks) < 0)
        return -ENOMEM;
    s = keyset_slot(ks, key, n, h);
    if (s->line)
        return s->line;
    if (ks->keys.len > UINT32_MAX - 256)
        return -ENOMEM;
    s->off = (uint32_t)ks->keys.len;
    rg_buf_add(&ks->keys, &len, 1);
    rg_buf_add(&ks->keys, key, n);
    if (rg_buf_failed(&ks->keys))
        return -ENOMEM;
    s->hash = h;
    s->line = line < 1 ? 1 : line > (long)UINT32_MAX ? UINT32_MAX : (uint32_t)line;
    ks->used++;
    return 0;
}

static void keyset_free(struct keyset *ks)
{
    free(ks->slot);
    rg_buf_free(&ks->keys);
}

/* ---- one import ---- */

#define SLUG_SLOTS 2048

/* A value as a view into the reader's buffer (or into scratch): not NUL-terminated at n. */
struct val {
    const char *s;
    size_t n;
};

struct import {
    rg_db *db;
    const rg_actor *who;
    const struct kind_def *k;
    enum rg_import_kind kind;
    const char *name;               /* the input as messages name it */
    FILE *errors;                   /* borrowed, may be NULL */
    rg_import_progress_fn progress;
    void *progress_arg;
    rg_import_result *res;
    bool only_if_empty;             /* organisations: do nothing if the table has rows */
    bool fatal_rejects;             /* a rejected row fails the import (the built-in list) */
    bool skipped;                   /* OUT: only_if_empty found rows */
    bool was_empty;                 /* the table had no records: every valid row is new */

    int index[MAX_COLUMNS];         /* file column of each of k->cols */
    int nhdr;                       /* columns in the header */
    rg_buf hdr;                     /* the header's names, each NUL-terminated: a copy, as the
                                       reader's record is gone at the next read */
    const char *hdr_field[RG_CSV_DEFAULT_MAX_FIELDS];
    size_t hdr_len[RG_CSV_DEFAULT_MAX_FIELDS];

    struct keyset seen;             /* keys of this file's rows */
    int64_t now_ns;
    char today[11];
    bool watch_changed;
    rg_buf indexes;                 /* CREATE INDEX statements to run again, NUL-separated */
    rg_buf scratch;                 /* normalised aliases, a rejected record's repaired bytes */
    rg_buf detail;                  /* a new record's audit detail */
    int key_order[MAX_COLUMNS];     /* k->cols by name, as the detail's keys are sorted */
    bool key_order_ready;
    struct slug_slot {              /* applicants: CLP slugs already made (a few hundred CLPs) */
        char clp[NAME_MAX_BYTES + 1];
        char slug[128];
    } *slugs;                       /* SLUG_SLOTS of them, allocated at the first applicant */
    int memfd;                      /* for re-reading a repaired record; -1 until needed */

    const char *rejects_path;       /* "" for none */
    char rejects_tmp[RG_IMPORT_PATH_MAX];   /* rejects_path is shorter by 16 at least */
    FILE *rejects;                  /* the temporary file, once a row is rejected */
};

/* Writes s (n bytes) into out as a double-quoted string for a message: quotes, backslashes and
 * control characters escaped, and cut short (at a character boundary) after about 60 bytes. */
static const char *quoted(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;

    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o + 12 >= outlen || (o > 60 && (c & 0xC0) != 0x80)) {
            o += (size_t)snprintf(out + o, outlen - o, "...");
            break;
        }
        if (c == '"' || c == '\\')
            o += (size_t)snprintf(out + o, outlen - o, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                 (unsigned char)s[i + 1] <= 0x9F)
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", (unsigned char)s[++i]);
        else
            out[o++] = (char)c;
    }
    snprintf(out + o, outlen - o, "\"");
    return out;
}

/* Formats "column: reason" into err and returns -1, for the validators' failures. */
__attribute__((format(printf, 4, 5)))
static int bad(char *err, size_t errlen, const struct column *c, const char *fmt, ...)
{
    int k = snprintf(err, errlen, "%s: ", c->name);
    va_list ap;

    va_start(ap, fmt);
    rg_vsnprintf_utf8(err + k, errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

/* The offset of the first control character (C0, DEL or C1; free text may have tabs, CR and LF)
 * in s, or n. */
static size_t find_control(const char *s, size_t n, bool free_text)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (free_text && (c == '\t' || c == '\n' || c == '\r'))
            continue;
        if (c < 0x20 || c == 0x7F)
            return i;
        if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
            (unsigned char)s[i + 1] <= 0x9F)
            return i;   /* U+0080..U+009F: C1, among them a one-byte CSI */
    }
    return n;
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* "dddd-dd-dd": shaped like a date, real or not. */
static bool date_shaped(const char *s, size_t n)
{
    return n >= 10 && is_digits(s, 4) && s[4] == '-' && is_digits(s + 5, 2) && s[7] == '-' &&
           is_digits(s + 8, 2);
}

static bool equals(const struct val *v, const char *s)
{
    return v->n == strlen(s) && memcmp(v->s, s, v->n) == 0;
}

/* Splits, trims and rejoins an aliases list into x->scratch, and points v at it. */
static int normalise_aliases(struct import *x, const struct column *c, struct val *v, char *err,
                             size_t errlen)
{
    const char *p = v->s, *end = v->s + v->n;
    char q[160];

    rg_buf_reset(&x->scratch);
    while (p <= end) {
        const char *bar = memchr(p, '|', (size_t)(end - p));
        const char *a = p, *b = bar ? bar : end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b - a > NAME_MAX_BYTES)
            return bad(err, errlen, c, "alias %s is %zu bytes long, at most %d allowed",
                       quoted(a, (size_t)(b - a), q, sizeof q), (size_t)(b - a), NAME_MAX_BYTES);
        if (b > a) {
            if (x->scratch.len > 0)
                rg_buf_add(&x->scratch, "|", 1);
            rg_buf_add(&x->scratch, a, (size_t)(b - a));
        }
        if (!bar)
            break;
        p = bar + 1;
    }
    if (rg_buf_failed(&x->scratch))
        return bad(err, errlen, c, "out of memory");
    v->s = x->scratch.len ? x->scratch.data : "";
    v->n = x->scratch.len;
    return 0;
}

/*
 * Checks the (trimmed) value v of column c.  Returns 0, or -1 with "column: reason" in err.  Sets
 * *id for R_ID; may repoint v at a normalised copy (R_ALIASES).
 */
static int check_value(struct import *x, const struct column *c, struct val *v, int64_t *id,
                       char *err, size_t errlen)
{
    const char *s = v->s;
    size_t n = v->n, at;
    char q[160], buf[48];

    if ((at = find_control(s, n, c->free_text)) < n)
        return bad(err, errlen, c, "%s contains a control character (at byte %zu)",
                   quoted(s, n, q, sizeof q), at + 1);
    if (c->max && n > c->max)
        return bad(err, errlen, c, "%s is %zu bytes long, at most %zu allowed",
                   quoted(s, n, q, sizeof q), n, c->max);
    switch (c->rule) {
    case R_ID: {
        int64_t value = 0;
        if (n == 0)
            return bad(err, errlen, c, "is empty");
        if (!is_digits(s, n))
            return bad(err, errlen, c, "%s is not a positive whole number", quoted(s, n, q, sizeof q));
        for (size_t i = 0; i < n; i++) {
            value = value * 10 + (s[i] - '0');
            if (value > ID_MAX)
                return bad(err, errlen, c, "%s is too large (at most %" PRId64 ")",
                           quoted(s, n, q, sizeof q), ID_MAX);
        }
        if (value == 0)
            return bad(err, errlen, c, "%s is not a positive whole number", quoted(s, n, q, sizeof q));
        *id = value;
        return 0;
    }
    case R_REQUIRED:
        return n == 0 ? bad(err, errlen, c, "is empty") : 0;
    case R_OPTIONAL:
        return 0;
    case R_DOB:
        if (n == 0)
            return 0;
        if (n != 10 || !date_shaped(s, n))
            return bad(err, errlen, c, "%s is not a date (YYYY-MM-DD)", quoted(s, n, q, sizeof q));
        memcpy(buf, s, 10);
        buf[10] = '\0';
        if (!rg_date_valid(buf))
            return bad(err, errlen, c, "%s is not a real date", quoted(s, n, q, sizeof q));
        if (strcmp(buf, x->today) > 0)
            return bad(err, errlen, c, "%s is in the future", quoted(s, n, q, sizeof q));
        return 0;
    case R_EMAIL: {
        if (n == 0)
            return 0;
        const char *a = memchr(s, '@', n);
        bool ok = a && a > s && a < s + n - 1 && !memchr(a + 1, '@', (size_t)(s + n - a - 1));
        for (size_t i = 0; ok && i < n; i++)
            ok = s[i] != ' ';
        return ok ? 0 : bad(err, errlen, c, "%s is not an email address", quoted(s, n, q, sizeof q));
    }
    case R_KIND:
        if (equals(v, "member") || equals(v, "registered_supporter") ||
            equals(v, "affiliated_supporter"))
            return 0;
        return bad(err, errlen, c, "%s is not member, registered_supporter or affiliated_supporter",
                   quoted(s, n, q, sizeof q));
    case R_JOINED:
        if (n == 0)
            return bad(err, errlen, c, "is empty");
        if (date_shaped(s, n)) {
            memcpy(buf, s, 10);
            buf[10] = '\0';
            if (!rg_date_valid(buf))
                return bad(err, errlen, c, "%s is not a real date", quoted(s, n, q, sizeof q));
        }
        if (n < sizeof buf) {
            memcpy(buf, s, n);
            buf[n] = '\0';
            if (rg_timestamp_valid(buf))
                return 0;
        }
        return bad(err, errlen, c, "%s is not a date (YYYY-MM-DD) or a UTC time"
                   " (YYYY-MM-DDTHH:MM:SSZ)", quoted(s, n, q, sizeof q));
    case R_YESNO:
        if (equals(v, "yes") || equals(v, "no"))
            return 0;
        return bad(err, errlen, c, "%s is not yes or no", quoted(s, n, q, sizeof q));
    case R_WATCH_ID:
        if (n == 0)
            return bad(err, errlen, c, "is empty");
        if (memchr(s, '/', n) || equals(v, ".") || equals(v, ".."))
            return bad(err, errlen, c, "%s cannot name a file (no '/', not . or ..)",
                       quoted(s, n, q, sizeof q));
        return 0;
    case R_ALIASES:
        return normalise_aliases(x, c, v, err, errlen);
    }
    return 0;
}

/* ---- the rejects file ---- */

/* Whether the file at path is a rejects file: its header's last column is `error`.  Returns 1, 0,
 * or -errno. */
static int is_rejects_file(const char *path)
{
    char head[4096];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = read(fd, head, sizeof head - 1);
    close(fd);
    if (n < 0)
        return -errno;
    head[n] = '\0';
    char *nl = strchr(head, '\n');
    if (!nl)
        return 0;
    if (nl > head && nl[-1] == '\r')
        nl--;
    return nl - head >= 6 && memcmp(nl - 6, ",error", 6) == 0;
}

/* Checks, before anything is written, that the rejects file may be written where it goes: not
 * over the input (in, the open input's stat, stdin included), nor over anything but a rejects file. */
static int check_rejects_path(rg_db *db, const struct stat *in, const char *path)
{
    struct stat out;
    int rc;

    if (stat(path, &out) < 0)
        return errno == ENOENT ? 0 : rg_fail(db, -errno, "rejects file %s: %s", path, strerror(errno));
    if (in->st_dev == out.st_dev && in->st_ino == out.st_ino)
        return rg_fail(db, -EINVAL, "rejects file %s is the input; not overwriting it", path);
    if (!S_ISREG(out.st_mode))
        return rg_fail(db, -EINVAL, "rejects file %s is not a regular file", path);
    if (out.st_size == 0)
        return 0;
    if ((rc = is_rejects_file(path)) < 0)
        return rg_fail(db, rc, "rejects file %s: %s", path, strerror(-rc));
    if (rc == 0)
        return rg_fail(db, -EEXIST, "%s exists and is not a rejects file; not overwriting it",
                       path);
    return 0;
}

/* Opens the temporary rejects file and writes its header, at the first rejected row. */
static int rejects_open(struct import *x)
{
    const char *f[RG_CSV_DEFAULT_MAX_FIELDS + 1];
    size_t len[RG_CSV_DEFAULT_MAX_FIELDS + 1];
    int fd, rc;

    snprintf(x->rejects_tmp, sizeof x->rejects_tmp, "%s.XXXXXX", x->rejects_path);
    /* mode 0600: a rejects file holds the same personal data as the register */
    if ((fd = mkostemp(x->rejects_tmp, O_CLOEXEC)) < 0) {
        rc = -errno;
        x->rejects_tmp[0] = '\0';
        return rg_fail(x->db, rc, "cannot write the rejects file %s: %s", x->rejects_path,
                       strerror(-rc));
    }
    if (!(x->rejects = fdopen(fd, "w"))) {
        rc = -errno;
        close(fd);
        unlink(x->rejects_tmp);
        x->rejects_tmp[0] = '\0';
        return rg_fail(x->db, rc, "%s: %s", x->rejects_path, strerror(-rc));
    }
    for (int i = 0; i < x->nhdr; i++) {
        f[i] = x->hdr_field[i];
        len[i] = x->hdr_len[i];
    }
    f[x->nhdr] = "error";
    len[x->nhdr] = 5;
    if ((rc = rg_csv_write_row(x->rejects, f, len, x->nhdr + 1)) < 0)
        return rg_fail(x->db, rc, "writing %s: %s", x->rejects_path, strerror(-rc));
    return 0;
}

/* Closes the temporary rejects file; unless keep, removes it too. */
static int rejects_close(struct import *x, bool keep)
{
    int rc = 0;

    if (x->rejects) {
        if (fclose(x->rejects) != 0)
            rc = -errno;
        x->rejects = NULL;
    }
    if (rc < 0 || !keep) {
        if (x->rejects_tmp[0])
            unlink(x->rejects_tmp);
        x->rejects_tmp[0] = '\0';
    }
    if (rc < 0)
        return rg_fail(x->db, rc, "writing %s: %s", x->rejects_path, strerror(-rc));
    return 0;
}

/*
 * Reports a rejected row: one line on the errors stream, one in the rejects file (fields as given,
 * padded with empty ones to the header's width, then the error), and the count.  Returns 0, or a
 * negative errno when the rejects file cannot be written or rejects are fatal.
 */
static int reject(struct import *x, long line, const char *const *field, const size_t *len, int n,
                  const char *err)
{
    const char *f[RG_CSV_DEFAULT_MAX_FIELDS + 1];
    size_t l[RG_CSV_DEFAULT_MAX_FIELDS + 1];
    char why[600];
    int rc, i;

    x->res->rejected++;
    if (x->errors)
        fprintf(x->errors, "%s:%ld: %s\n", x->name, line, err);
    if (x->fatal_rejects)
        return rg_fail(x->db, -EINVAL, "%s", err);
    if (!x->rejects_path[0])
        return 0;
    if (!x->rejects && (rc = rejects_open(x)) < 0)
        return rc;
    for (i = 0; i < n && i < RG_CSV_DEFAULT_MAX_FIELDS; i++) {
        f[i] = field[i];
        l[i] = len[i];
    }
    for (; i < x->nhdr; i++) {
        f[i] = "";
        l[i] = 0;
    }
    snprintf(why, sizeof why, "line %ld: %s", line, err);
    f[i] = why;
    l[i] = strlen(why);
    if ((rc = rg_csv_write_row(x->rejects, f, l, i + 1)) < 0)
        return rg_fail(x->db, rc, "writing %s: %s", x->rejects_path, strerror(-rc));
    return 0;
}

/* Copies raw into x->scratch with every NUL and every byte that is not part of valid UTF-8
 * replaced by U+FFFD. */
static void repair_utf8(struct import *x, const char *raw, size_t n)
{
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)raw, *end = p + n;

    rg_buf_reset(&x->scratch);
    while (p < end) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate(p, end - p, &cp);
        if (k <= 0 || cp == 0) {
            rg_buf_add(&x->scratch, "\xEF\xBF\xBD", 3);
            p++;
        } else {
            rg_buf_add(&x->scratch, p, (size_t)k);
            p += k;
        }
    }
}

/*
 * Rejects a record the reader could not parse.  Its raw bytes are repaired (bad UTF-8 and NULs
 * become U+FFFD); where that was the only fault, the repaired record is read again to recover its
 * fields, so that the rejects file keeps the row's columns for the user to correct.  Otherwise the
 * repaired bytes go into the first column.
 */
static int reject_unparsed(struct import *x, const rg_csv_record *rec)
{
    char err[600];
    const char *one;
    size_t one_len;
    int rc;

    if (rec->error_field >= 0 && rec->error_field < x->nhdr)
        snprintf(err, sizeof err, "%s: %s", x->hdr_field[rec->error_field], rec->message);
    else
        snprintf(err, sizeof err, "%s", rec->message);
    if (x->fatal_rejects || !x->rejects_path[0])
        return reject(x, rec->line, NULL, NULL, 0, err);

    repair_utf8(x, rec->raw, rec->raw_len);
    if (rg_buf_failed(&x->scratch))
        return rg_fail(x->db, -ENOMEM, "out of memory");
    if ((rec->error == RG_CSV_BAD_UTF8 || rec->error == RG_CSV_NUL) && x->scratch.len > 0) {
        if (x->memfd < 0)
            x->memfd = memfd_create("regfs-reject", MFD_CLOEXEC);
        if (x->memfd >= 0 && ftruncate(x->memfd, 0) == 0 &&
            pwrite(x->memfd, x->scratch.data, x->scratch.len, 0) == (ssize_t)x->scratch.len &&
            lseek(x->memfd, 0, SEEK_SET) == 0) {
            rg_csv_limits lim = { .max_record = x->scratch.len + 2 };
            rg_csv *again = rg_csv_open_fd(x->memfd, &lim);
            rg_csv_record fixed;
            if (again && rg_csv_next(again, &fixed) == 1 && fixed.error == RG_CSV_OK) {
                rc = reject(x, rec->line, fixed.field, fixed.len, fixed.nfields, err);
                rg_csv_close(again);
                return rc;
            }
            rg_csv_close(again);
        }
    }
    one = x->scratch.len ? x->scratch.data : "";
    one_len = x->scratch.len;
    return reject(x, rec->line, &one, &one_len, 1, err);
}

/* ---- writing records ---- */

/*
 * The slug of a CLP's name (rg_slug() folds accents through utf8proc, which allocates), from a
 * direct-mapped cache: a register has a few hundred CLPs and a million rows.  Returns a pointer
 * valid until the next call, or NULL when out of memory.
 */
static const char *clp_slug(struct import *x, struct val clp)
{
    struct slug_slot *s;

    if (!x->slugs && !(x->slugs = calloc(SLUG_SLOTS, sizeof *x->slugs)))
        return NULL;
    s = &x->slugs[hash_bytes(clp.s, clp.n) % SLUG_SLOTS];
    if (s->slug[0] == '\0' || strncmp(s->clp, clp.s, clp.n) != 0 || s->clp[clp.n] != '\0') {
        memcpy(s->clp, clp.s, clp.n);   /* at most NAME_MAX_BYTES: validated */
        s->clp[clp.n] = '\0';
        rg_slug(s->clp, s->slug, sizeof s->slug);
    }
    return s->slug;
}

/* Binds the key and the file's other columns, then the derived ones, and runs sql. */
static int write_record(struct import *x, const char *sql, const struct val *v, int64_t id)
{
    const struct kind_def *k = x->k;
    sqlite3_stmt *st = rg_stmt(x->db, sql);
    const char *slug;

    if (!st)
        return -EIO;
    if (k->int_key)
        sqlite3_bind_int64(st, 1, id);
    else
        sqlite3_bind_text(st, 1, v[0].s, (int)v[0].n, SQLITE_STATIC);
    for (int i = 1; i < k->ncols; i++)
        sqlite3_bind_text(st, i + 1, v[i].s, (int)v[i].n, SQLITE_STATIC);
    switch (x->kind) {
    case RG_IMPORT_APPLICANTS:
        if (!(slug = clp_slug(x, v[APP_CLP])))
            return rg_fail(x->db, -ENOMEM, "out of memory");
        sqlite3_bind_text(st, 12, slug, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 13, v[APP_JOINED].s, 10, SQLITE_STATIC);
        sqlite3_bind_int64(st, 14, x->now_ns);
        break;
    case RG_IMPORT_WATCHLIST:
        sqlite3_bind_int64(st, 10, x->now_ns);
        x->watch_changed = true;
        break;
    case RG_IMPORT_ORGANISATIONS:
        break;
    }
    return rg_exec_stmt(x->db, st);
}

/* The audit detail of a new record: every column, as rg_audit_append() would encode the object
 * (keys sorted, compact), written straight into x->detail.  Returns its text, or NULL when out of
 * memory (the values are valid UTF-8: the reader refuses any other). */
static const char *new_record_detail(struct import *x, const struct val *v, int64_t id)
{
    const struct kind_def *k = x->k;
    rg_buf *b = &x->detail;

    if (!x->key_order_ready) {   /* the first time: the columns by name */
        for (int i = 0; i < k->ncols; i++) {
            int j = i;
            for (; j > 0 && strcmp(k->cols[x->key_order[j - 1]].name, k->cols[i].name) > 0; j--)
                x->key_order[j] = x->key_order[j - 1];
            x->key_order[j] = i;
        }
        x->key_order_ready = true;
    }
    rg_buf_reset(b);
    rg_buf_add(b, "{", 1);
    for (int j = 0; j < k->ncols; j++) {
        int i = x->key_order[j];
        rg_buf_adds(b, j > 0 ? ",\"" : "\"");   /* column names need no escaping */
        rg_buf_adds(b, k->cols[i].name);
        rg_buf_add(b, "\":", 2);
        if (i == 0 && k->int_key)
            rg_buf_add_int(b, id);
        else if (rg_buf_add_json_str(b, v[i].s, v[i].n) < 0)
            return NULL;
    }
    rg_buf_add(b, "}", 1);
    return rg_buf_failed(b) ? NULL : b->data;
}

/*
 * Adds, updates or leaves alone the record of one valid row, with its audit event.  A changed
 * applicant whose verdict came from the rules goes back to pending.  Returns 0 or a negative errno.
 */
static int apply_row(struct import *x, const struct val *v, int64_t id)
{
    const struct kind_def *k = x->k;
    sqlite3_stmt *st = rg_stmt(x->db, k->sql_get);
    json_t *changed = NULL, *detail;
    const char *update = k->sql_update, *detail_text;
    bool verdict_reset = false;
    int64_t seq;
    int rc;

    if (!st)
        return -EIO;
    if (k->int_key)
        sqlite3_bind_int64(st, 1, id);
    else
        sqlite3_bind_text(st, 1, v[0].s, (int)v[0].n, SQLITE_STATIC);
    /* Into an empty table every row is new (repeated keys were refused): no need to look. */
    rc = x->was_empty ? SQLITE_DONE : sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        if ((rc = write_record(x, k->sql_insert, v, id)) < 0)
            return rc;
        if (!(detail_text = new_record_detail(x, v, id)))
            return rg_fail(x->db, -ENOMEM, "out of memory building an audit event");
        if ((seq = rg_audit_append_text(x->db, x->who, k->act_import, k->int_key ? id : 0,
                                        detail_text)) < 0)
            return (int)seq;
        x->res->added++;
        return 0;
    }
    if (rc != SQLITE_ROW) {
        rc = rg_sqlfail(x->db, rc);
        sqlite3_reset(st);
        return rc;
    }

    /* Compare while the statement is on the row; the old values go into the event from here. */
    for (int i = 1; i < k->ncols; i++) {
        const char *old = (const char *)sqlite3_column_text(st, i - 1);
        size_t old_n = (size_t)sqlite3_column_bytes(st, i - 1);
        if (old_n == v[i].n && (old_n == 0 || memcmp(old, v[i].s, old_n) == 0))
            continue;
        if ((!changed && !(changed = json_object())) ||
            json_object_set_new(changed, k->cols[i].name,
                                json_pack("[s%s%]", old ? old : "", old_n, v[i].s, v[i].n)) < 0) {
            sqlite3_reset(st);
            json_decref(changed);
            return rg_fail(x->db, -ENOMEM, "out of memory");
        }
    }
    if (changed && x->kind == RG_IMPORT_APPLICANTS && sqlite3_column_int(st, k->ncols - 1) == 0) {
        const char *verdict = (const char *)sqlite3_column_text(st, k->ncols);
        update = SQL_APP_UPDATE_RESET;
        verdict_reset = verdict && strcmp(verdict, "pending") != 0;
    }
    sqlite3_reset(st);
    if (!changed) {
        x->res->unchanged++;
        return 0;
    }

    if ((rc = write_record(x, update, v, id)) < 0) {
        json_decref(changed);
        return rc;
    }
    if (k->int_key)
        detail = json_pack("{s:o}", "changed", changed);
    else
        detail = json_pack("{s:s%,s:o}", k->cols[0].name, v[0].s, v[0].n, "changed", changed);
    if (detail && verdict_reset && json_object_set_new(detail, "verdict_reset", json_true()) < 0) {
        json_decref(detail);
        detail = NULL;
    }
    if ((seq = rg_audit_append(x->db, x->who, k->act_update, k->int_key ? id : 0, detail)) < 0)
        return (int)seq;
    x->res->changed++;
    return 0;
}

/* Trims ASCII spaces and tabs from both ends of a field. */
static struct val trimmed(const char *s, size_t n)
{
    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return (struct val){ s, n };
}

/* Validates one record and imports it or rejects it.  Returns 0 or a negative errno (fatal). */
static int import_record(struct import *x, const rg_csv_record *rec)
{
    const struct kind_def *k = x->k;
    struct val v[MAX_COLUMNS];
    char err[600], q[160];
    int64_t id = 0;
    long first;

    if (rec->error != RG_CSV_OK)
        return reject_unparsed(x, rec);
    if (rec->nfields != x->nhdr) {
        snprintf(err, sizeof err, "%d field%s where the header has %d", rec->nfields,
                 rec->nfields == 1 ? "" : "s", x->nhdr);
        return reject(x, rec->line, rec->field, rec->len, rec->nfields, err);
    }
    for (int i = 0; i < k->ncols; i++)
        v[i] = trimmed(rec->field[x->index[i]], rec->len[x->index[i]]);

    /* The key first: a row whose key repeats an earlier one is ambiguous whatever else it holds. */
    if (check_value(x, &k->cols[0], &v[0], &id, err, sizeof err) < 0)
        return reject(x, rec->line, rec->field, rec->len, rec->nfields, err);
    first = k->int_key ? keyset_add(&x->seen, &id, sizeof id, rec->line)
                       : keyset_add(&x->seen, v[0].s, v[0].n, rec->line);
    if (first < 0)
        return rg_fail(x->db, (int)first, "out of memory");
    if (first > 0) {
        if (k->int_key)
            snprintf(err, sizeof err, "%s: duplicate %s %" PRId64 ", first on line %ld",
                     k->cols[0].name, k->cols[0].name, id, first);
        else
            snprintf(err, sizeof err, "%s: duplicate %s %s, first on line %ld", k->cols[0].name,
                     k->cols[0].name, quoted(v[0].s, v[0].n, q, sizeof q), first);
        return reject(x, rec->line, rec->field, rec->len, rec->nfields, err);
    }
    for (int i = 1; i < k->ncols; i++)
        if (check_value(x, &k->cols[i], &v[i], &id, err, sizeof err) < 0)
            return reject(x, rec->line, rec->field, rec->len, rec->nfields, err);
    return apply_row(x, v, id);
}

/* Organisations: removes those the file does not list, each with its event. */
static int remove_absent_organisations(struct import *x)
{
    sqlite3_stmt *st = rg_stmt(x->db, SQL_ORG_ALL);
    rg_buf gone = RG_BUF_INIT;   /* name NUL aliases NUL, for each organisation to remove */
    int rc;

    if (!st)
        return -EIO;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const char *aliases = (const char *)sqlite3_column_text(st, 1);
        if (!name || keyset_find(&x->seen, name, n))
            continue;
        rg_buf_add(&gone, name, n + 1);
        rg_buf_adds(&gone, aliases ? aliases : "");
        rg_buf_add(&gone, "", 1);
    }
    rc = rc == SQLITE_DONE ? 0 : rg_sqlfail(x->db, rc);
    sqlite3_reset(st);
    if (rc == 0 && rg_buf_failed(&gone))
        rc = rg_fail(x->db, -ENOMEM, "out of memory");
    for (size_t off = 0; rc == 0 && off < gone.len;) {
        const char *name = gone.data + off, *aliases = name + strlen(name) + 1;
        off = (size_t)(aliases - gone.data) + strlen(aliases) + 1;
        if (!(st = rg_stmt(x->db, SQL_ORG_DELETE))) {
            rc = -EIO;
            break;
        }
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        if ((rc = rg_exec_stmt(x->db, st)) < 0)
            break;
        int64_t seq = rg_audit_append(x->db, x->who, "organisation.remove", 0,
                                      json_pack("{s:s,s:s}", "name", name, "aliases", aliases));
        if (seq < 0) {
            rc = (int)seq;
            break;
        }
        x->res->removed++;
    }
    rg_buf_free(&gone);
    return rc;
}

/* Whether a table has any record (sql is its kind's sql_any): 1, 0 or a negative errno. */
static int have_records(rg_db *db, const char *sql)
{
    sqlite3_stmt *st = rg_stmt(db, sql);
    int rc;

    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    rc = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : rg_sqlfail(db, rc);
    sqlite3_reset(st);
    return rc;
}

/*
 * A bulk load into an empty applicant table: its indexes are dropped and, once the rows are in,
 * built again from the stored definitions, each in one sorted pass, which is several times faster
 * than updating seven indexes at random for every row.  Readers never see the difference: it all
 * happens inside the import's transaction, and a failure rolls it back with the rest.  The index
 * names and definitions are the schema's own, read from sqlite_schema, so this is the one place
 * that runs SQL text that is not a static string.
 */
static int drop_indexes(struct import *x)
{
    sqlite3_stmt *st = rg_stmt(x->db, SQL_APP_INDEXES);
    rg_buf names = RG_BUF_INIT;
    int rc;

    if (!st)
        return -EIO;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rg_buf_adds(&names, (const char *)sqlite3_column_text(st, 0));
        rg_buf_add(&names, "", 1);
        rg_buf_adds(&x->indexes, (const char *)sqlite3_column_text(st, 1));
        rg_buf_add(&x->indexes, "", 1);
    }
    rc = rc == SQLITE_DONE ? 0 : rg_sqlfail(x->db, rc);
    sqlite3_reset(st);
    if (rc == 0 && (rg_buf_failed(&names) || rg_buf_failed(&x->indexes)))
        rc = rg_fail(x->db, -ENOMEM, "out of memory");
    for (size_t off = 0; rc == 0 && off < names.len; off += strlen(names.data + off) + 1) {
        char *sql = sqlite3_mprintf("DROP INDEX \"%w\"", names.data + off);
        int src = sql ? sqlite3_exec(x->db->sql, sql, NULL, NULL, NULL) : SQLITE_NOMEM;
        sqlite3_free(sql);
        if (src != SQLITE_OK)
            rc = rg_sqlfail(x->db, src);
    }
    rg_buf_free(&names);
    return rc;
}

static int rebuild_indexes(struct import *x)
{
    for (size_t off = 0; off < x->indexes.len; off += strlen(x->indexes.data + off) + 1) {
        int src = sqlite3_exec(x->db->sql, x->indexes.data + off, NULL, NULL, NULL);
        if (src != SQLITE_OK)
            return rg_sqlfail(x->db, src);
    }
    return 0;
}

/* Reads the header, checks its columns and keeps a copy of it.  Returns 0 or a negative errno. */
static int read_header(struct import *x, rg_csv *csv)
{
    const char *names[MAX_COLUMNS];
    char err[400];
    rg_buf list = RG_BUF_INIT;
    rg_csv_record rec;
    int rc;

    for (int i = 0; i < x->k->ncols; i++) {
        names[i] = x->k->cols[i].name;
        rg_buf_addf(&list, "%s%s", i ? ", " : "", names[i]);
    }
    rc = rg_csv_next(csv, &rec);
    if (rc < 0)
        rc = rg_fail(x->db, rc, "%s: %s", x->name, strerror(-rc));
    else if (rc == 0)
        rc = rg_fail(x->db, -EINVAL, "%s: empty file: no header row (%s files have the columns %s)",
                     x->name, x->k->name, list.data ? list.data : "");
    else if (rg_csv_not_utf8(csv))
        rc = rg_fail(x->db, -EINVAL, "%s: %s, not UTF-8: save it as \"CSV UTF-8\", or convert it"
                     " with iconv -f UTF-16 -t UTF-8", x->name, rg_csv_not_utf8(csv));
    else if (rg_csv_map_header(&rec, names, x->k->ncols, x->index, err, sizeof err) < 0)
        rc = rg_fail(x->db, -EINVAL, "%s: %s (%s files have exactly the columns %s)", x->name, err,
                     x->k->name, list.data ? list.data : "");
    else
        rc = 0;
    rg_buf_free(&list);
    if (rc < 0)
        return rc;

    x->nhdr = rec.nfields;
    size_t off[RG_CSV_DEFAULT_MAX_FIELDS];
    for (int j = 0; j < rec.nfields; j++) {
        off[j] = x->hdr.len;
        x->hdr_len[j] = rec.len[j];
        rg_buf_add(&x->hdr, rec.field[j], rec.len[j] + 1);
    }
    if (rg_buf_failed(&x->hdr))
        return rg_fail(x->db, -ENOMEM, "out of memory");
    for (int j = 0; j < rec.nfields; j++)
        x->hdr_field[j] = x->hdr.data + off[j];
    return 0;
}

/*
 * Imports the CSV on fd (total bytes long, 0 when unknown) as set up in x.  Returns 0 or a negative
 * errno with nothing changed; x->res says what happened.
 */
static int run_import(struct import *x, int fd, uint64_t total)
{
    char why[RG_ERRMSG_MAX];
    rg_csv_record rec;
    rg_csv *csv;
    long line = 0;
    int rc;

    if (!(csv = rg_csv_open_fd(fd, NULL)))
        return rg_fail(x->db, -errno, "%s: %s", x->name, strerror(errno));
    if ((rc = read_header(x, csv)) < 0)
        goto out_close;
    x->now_ns = rg_now_ns();
    rg_today(x->today);

    if ((rc = rg_db_begin(x->db)) < 0)
        goto out_close;
    if ((rc = have_records(x->db, x->k->sql_any)) < 0)
        goto out_rollback;
    x->was_empty = rc == 0;
    if (x->only_if_empty && !x->was_empty) {
        x->skipped = true;
        rc = 0;
        goto out_rollback;
    }
    if (x->was_empty && x->kind == RG_IMPORT_APPLICANTS && (rc = drop_indexes(x)) < 0)
        goto out_rollback;
    while ((rc = rg_csv_next(csv, &rec)) == 1) {
        line = rec.line;
        x->res->rows++;
        if ((rc = import_record(x, &rec)) < 0)
            goto out_rollback;
        if (x->progress && (x->res->rows & 1023) == 0)
            x->progress(x->progress_arg, (uint64_t)x->res->rows, rg_csv_offset(csv), total);
    }
    line = 0;
    if (rc < 0) {
        rc = rg_fail(x->db, rc, "%s", strerror(-rc));
        goto out_rollback;
    }
    if (x->kind == RG_IMPORT_ORGANISATIONS) {
        /* A header alone is more likely a mistake than a party that fears no other. */
        if (x->res->rows == 0) {
            rc = rg_fail(x->db, -EINVAL, "no organisations in the file; the list is left as it was");
            goto out_rollback;
        }
        if (x->res->rejected > 0)
            x->res->removal_skipped = 1;
        else if ((rc = remove_absent_organisations(x)) < 0)
            goto out_rollback;
    }
    if (x->indexes.len > 0 && (rc = rebuild_indexes(x)) < 0)
        goto out_rollback;
    if (x->watch_changed) {
        sqlite3_stmt *st = rg_stmt(x->db, SQL_WATCH_BUMP);
        if (!st || (rc = rg_exec_stmt(x->db, st)) < 0) {
            rc = st ? rc : -EIO;
            goto out_rollback;
        }
    }
    if ((rc = rejects_close(x, true)) < 0 || (rc = rg_db_commit(x->db)) < 0)
        goto out_rollback;

    /* Committed: now the rejects file may replace the old one, or a stale one go. */
    if (x->rejects_tmp[0]) {
        if (rename(x->rejects_tmp, x->rejects_path) == 0)
            snprintf(x->res->rejects_path, sizeof x->res->rejects_path, "%s", x->rejects_path);
        else   /* keep the rows where they are, and say where that is */
            snprintf(x->res->rejects_path, sizeof x->res->rejects_path, "%s", x->rejects_tmp);
        x->rejects_tmp[0] = '\0';
    } else if (x->rejects_path[0] && x->res->rejected == 0 && is_rejects_file(x->rejects_path) == 1) {
        unlink(x->rejects_path);
    }
    if (x->progress)
        x->progress(x->progress_arg, (uint64_t)x->res->rows, rg_csv_offset(csv), total);
    rc = 0;
    goto out_close;

out_rollback:
    memcpy(why, x->db->errmsg, sizeof why);
    rg_db_rollback(x->db);
    rejects_close(x, false);
    if (rc < 0 && line > 0)
        rg_fail(x->db, rc, "%s:%ld: %s; nothing was imported", x->name, line, why);
    else if (rc < 0)
        rg_fail(x->db, rc, "%s: %s; nothing was imported", x->name, why);
out_close:
    rg_csv_close(csv);
    return rc;
}

static void import_free(struct import *x)
{
    keyset_free(&x->seen);
    rg_buf_free(&x->hdr);
    rg_buf_free(&x->scratch);
    rg_buf_free(&x->detail);
    rg_buf_free(&x->indexes);
    free(x->slugs);
    if (x->memfd >= 0)
        close(x->memfd);
}

/* Where rejected rows go: as asked, else beside a regular input file, named after it
 * ("x/applicants.csv" -> "x/applicants.rejects.csv"); else (stdin, a pipe) nowhere: "". */
static int rejects_path_for(rg_db *db, const char *path, bool regular, const char *asked,
                            char out[RG_IMPORT_PATH_MAX])
{
    size_t n = strlen(path);

    out[0] = '\0';
    if (asked) {
        if (strlen(asked) >= RG_IMPORT_PATH_MAX - 16)
            return rg_fail(db, -ENAMETOOLONG, "%s: name too long", asked);
        snprintf(out, RG_IMPORT_PATH_MAX, "%s", asked);
    } else if (regular) {
        if (n >= 4 && strcmp(path + n - 4, ".csv") == 0)
            n -= 4;
        if (n >= RG_IMPORT_PATH_MAX - 32)
            return rg_fail(db, -ENAMETOOLONG, "%s: name too long", path);
        snprintf(out, RG_IMPORT_PATH_MAX, "%.*s.rejects.csv", (int)n, path);
    }
    return 0;
}

int rg_import_file(rg_db *db, const rg_actor *who, enum rg_import_kind kind, const char *path,
                   const rg_import_opts *opts, rg_import_result *res)
{
    static const rg_import_opts defaults = { 0 };
    bool from_stdin = strcmp(path, "-") == 0;
    char rejects[RG_IMPORT_PATH_MAX];
    struct stat sb;
    int fd, rc;

    memset(res, 0, sizeof *res);
    if (!opts)
        opts = &defaults;
    if ((int)kind < 0 || (int)kind >= NKINDS)
        return rg_fail(db, -EINVAL, "unknown kind of import %d", (int)kind);

    if (from_stdin)
        fd = STDIN_FILENO;
    else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return rg_fail(db, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) < 0) {
        rc = rg_fail(db, -errno, "%s: %s", path, strerror(errno));
        goto out_close;
    }
    if (S_ISDIR(sb.st_mode)) {
        rc = rg_fail(db, -EISDIR, "%s: %s", path, strerror(EISDIR));
        goto out_close;
    }
    if ((rc = rejects_path_for(db, path, !from_stdin && S_ISREG(sb.st_mode), opts->rejects_path,
                               rejects)) < 0 ||
        (rejects[0] && (rc = check_rejects_path(db, &sb, rejects)) < 0))
        goto out_close;

    struct import x = {
        .db = db, .who = who, .k = &kinds[kind], .kind = kind,
        .name = from_stdin ? "<stdin>" : path,
        .errors = opts->errors, .progress = opts->progress, .progress_arg = opts->progress_arg,
        .res = res, .memfd = -1, .rejects_path = rejects,
    };
    rc = run_import(&x, fd, S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0);
    import_free(&x);
    if (rc < 0) {
        int64_t rows = res->rows;
        memset(res, 0, sizeof *res);
        res->rows = rows;
    } else {
        rc = res->rejected > INT32_MAX ? INT32_MAX : (int)res->rejected;
    }
out_close:
    if (!from_stdin)
        close(fd);
    return rc;
}

int rg_import_default_organisations(rg_db *db, const rg_actor *who)
{
    size_t len = strlen(rg_default_orgs_csv);
    rg_import_result res;
    int fd, rc;

    /* The reader reads a descriptor: hand it the embedded bytes through a memfd. */
    if ((fd = memfd_create("organisations.csv", MFD_CLOEXEC)) < 0)
        return rg_fail(db, -errno, "memfd_create: %s", strerror(errno));
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, rg_default_orgs_csv + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = rg_fail(db, n < 0 ? -errno : -EIO, "writing the built-in organisations: %s",
                         strerror(n < 0 ? errno : EIO));
            close(fd);
            return rc;
        }
        done += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    memset(&res, 0, sizeof res);
    struct import x = {
        .db = db, .who = who, .k = &kinds[RG_IMPORT_ORGANISATIONS],
        .kind = RG_IMPORT_ORGANISATIONS, .name = "organisations.csv (built in)", .res = &res,
        .only_if_empty = true, .fatal_rejects = true, .memfd = -1, .rejects_path = "",
    };
    rc = run_import(&x, fd, len);
    import_free(&x);
    close(fd);
    if (rc < 0)
        return rc;
    return x.skipped ? 0 : 1;
}
