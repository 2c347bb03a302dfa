/*
 * render.c: the bytes of every file rendered from the register (render.h states the contract,
 * README.md ("File formats") documents each format with an example).
 *
 * Speed: the filesystem renders a file on every cold read and `regfs export` renders the whole
 * register, so each kind of read is one prepared statement, and the line formats (TSV, summary,
 * verdict, watch-list entries, jobs) are built straight into the caller's rg_buf from the column
 * text, with no allocation of their own.  jansson is used only where the output is JSON (record.json,
 * JSONL) or where the stored reasons must be read (the summary's `reason:` lines).
 *
 * Every public function leaves the caller's buffer as it found it when it fails.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db_internal.h"
#include "render.h"

/*
 * The applicant's columns.  The first sixteen are the TSV columns in TSV order, so that the export
 * statements, which select only what their format shows, share these indexes with the full one.
 */
#define TSV_COLS                                                                                    \
    "id, kind, given_name, family_name, date_of_birth, email, postcode, clp, joined_at,"          \
    " declared_party, aims_values, verdict, rule, score, decided_by, ballot"
#define MORE_COLS                                                                                   \
    ", reasons, decided_at, manual, manual_reason, auto_disagrees, recommendation, rules_version,"  \
    " watchlist_version, clp_slug, joined_day, changed_ns"

enum {
    C_ID, C_KIND, C_GIVEN, C_FAMILY, C_DOB, C_EMAIL, C_POSTCODE, C_CLP, C_JOINED_AT, C_PARTY,
    C_AIMS, C_VERDICT, C_RULE, C_SCORE, C_DECIDED_BY, C_BALLOT,
    N_TSV_COLS,
    C_REASONS = N_TSV_COLS, C_DECIDED_AT, C_MANUAL, C_MANUAL_REASON, C_AUTO_DISAGREES,
    C_RECOMMENDATION, C_RULES_VERSION, C_WATCHLIST_VERSION, C_CLP_SLUG, C_JOINED_DAY, C_CHANGED_NS,
};

static const char SQL_APPLICANT[] = "SELECT " TSV_COLS MORE_COLS " FROM applicant WHERE id = ?1";
static const char SQL_APPLICANT_MTIME[] = "SELECT changed_ns FROM applicant WHERE id = ?1";
static const char SQL_EVIDENCE[] =
    "SELECT kind, text, added_by, added_at FROM evidence WHERE applicant_id = ?1 ORDER BY id";
/* changed_ns comes last, after what the format shows: the newest one is the export's mtime. */
static const char SQL_EXPORT_TSV[] =
    "SELECT " TSV_COLS ", changed_ns FROM applicant WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_EXPORT_JSONL[] =
    "SELECT " TSV_COLS ", reasons, changed_ns FROM applicant WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_WATCH[] =
    "SELECT id, given_name, family_name, date_of_birth, email, postcode, organisation, role, source,"
    " changed_ns FROM watchlist WHERE id = ?1";
static const char SQL_JOB[] =
    "SELECT id, scope, state, total, done, changed, requested_by, started, finished, error,"
    " changed_ns FROM job WHERE id = ?1";

const char *const rg_applicant_file_names[RG_FILE_COUNT] = {
    [RG_FILE_SUMMARY] = "summary",
    [RG_FILE_RECORD_JSON] = "record.json",
    [RG_FILE_VERDICT] = "verdict",
    [RG_FILE_HISTORY] = "history",
};

/* The TSV header: the column names of TSV_COLS, tab-separated. */
static const char TSV_HEADER[] =
    "id\tkind\tgiven_name\tfamily_name\tdate_of_birth\temail\tpostcode\tclp\tjoined_at\t"
    "declared_party\taims_values\tverdict\trule\tscore\tdecided_by\tballot\n";

/* jansson output flags.  Numbers print with 15 significant digits, so that a stored 0.97 reads
 * back as 0.97 and not as its binary neighbour 0.96999999999999997. */
#define JSON_FLAGS_COMMON (JSON_SORT_KEYS | JSON_REAL_PRECISION(15))
#define JSON_FLAGS_LINE (JSON_COMPACT | JSON_FLAGS_COMMON)
#define JSON_FLAGS_PRETTY (JSON_INDENT(2) | JSON_FLAGS_COMMON)

/* ---- pieces of text ---- */

/* A column's text and length; "" for NULL (the schema has none, but a damaged file might). */
static const char *coltext(sqlite3_stmt *st, int i, size_t *n)
{
    const char *s = (const char *)sqlite3_column_text(st, i);

    *n = s ? (size_t)sqlite3_column_bytes(st, i) : 0;
    return s ? s : "";
}

/* What a byte becomes in TSV and key: value text: 0 for itself, else the letter after '\'. */
static const char tsv_escape[256] = {
    ['\t'] = 't', ['\n'] = 'n', ['\r'] = 'r', ['\\'] = '\\',
};

/* Appends s with tab, newline, carriage return and backslash written as \t, \n, \r and \\. */
static void add_escaped(rg_buf *b, const char *s, size_t n)
{
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        char e = tsv_escape[(unsigned char)s[i]];
        if (e) {
            char esc[2] = { '\\', e };
            rg_buf_add(b, s + run, i - run);
            rg_buf_add(b, esc, 2);
            run = i + 1;
        }
    }
    rg_buf_add(b, s + run, n - run);
}

static void add_col_escaped(rg_buf *b, sqlite3_stmt *st, int i)
{
    size_t n;
    const char *s = coltext(st, i, &n);

    add_escaped(b, s, n);
}

/* Appends v in decimal without a printf: the export writes one per row. */
static void add_i64(rg_buf *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof tmp;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    rg_buf_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

#define RG_SCORE_LEN 32
/*
 * A score as it is shown everywhere: fixed, two decimals ("0.97", "1.00", "0.00").  Two decimals
 * keep the files stable: a re-vet that computes the same score with different rounding noise does
 * not change a byte.  "-0.00" (a tiny negative) is shown as "0.00".
 */
static const char *fmt_score(double v, char out[RG_SCORE_LEN])
{
    snprintf(out, RG_SCORE_LEN, "%.2f", v);
    if (strcmp(out, "-0.00") == 0)
        memcpy(out, "0.00", 5);
    return out;
}

static void add_score(rg_buf *b, double v)
{
    char s[RG_SCORE_LEN];

    rg_buf_adds(b, fmt_score(v, s));
}

/* "key: value\n", the value escaped as in TSV. */
static void add_kv(rg_buf *b, const char *key, const char *s, size_t n)
{
    rg_buf_adds(b, key);
    rg_buf_add(b, ": ", 2);
    add_escaped(b, s, n);
    rg_buf_add(b, "\n", 1);
}

static void add_kv_col(rg_buf *b, const char *key, sqlite3_stmt *st, int i)
{
    size_t n;
    const char *s = coltext(st, i, &n);

    add_kv(b, key, s, n);
}

static void add_kv_i64(rg_buf *b, const char *key, int64_t v)
{
    rg_buf_adds(b, key);
    rg_buf_add(b, ": ", 2);
    add_i64(b, v);
    rg_buf_add(b, "\n", 1);
}

/* Appends s percent-encoded for the verdict line: '%', space and control bytes become %XX. */
static void add_pct(rg_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '%') {
            char esc[3] = { '%', hex[c >> 4], hex[c & 15] };
            rg_buf_add(b, s + run, i - run);
            rg_buf_add(b, esc, 3);
            run = i + 1;
        }
    }
    rg_buf_add(b, s + run, n - run);
}

/* " key=value", the value percent-encoded. */
static void add_field_col(rg_buf *b, const char *key, sqlite3_stmt *st, int i)
{
    size_t n;
    const char *s = coltext(st, i, &n);

    rg_buf_add(b, " ", 1);
    rg_buf_adds(b, key);
    rg_buf_add(b, "=", 1);
    add_pct(b, s, n);
}

/* ---- JSON ---- */

static int dump_to_buf(const char *p, size_t n, void *arg)
{
    rg_buf *b = arg;

    rg_buf_add(b, p, n);
    return rg_buf_failed(b) ? -1 : 0;
}

/*
 * Parses applicant id's stored reasons (a JSON array).  Returns a new reference, or NULL with the
 * error in db: -EIO when the stored text is not an array, -ENOMEM.
 */
static json_t *load_reasons(rg_db *db, int64_t id, const char *s, size_t n, int *rc)
{
    json_error_t err;
    json_t *r;

    if (n == 2 && memcmp(s, "[]", 2) == 0) {
        if (!(r = json_array()))
            *rc = rg_fail(db, -ENOMEM, "out of memory");
        return r;
    }
    r = json_loadb(s, n, JSON_REJECT_DUPLICATES, &err);
    if (!r || !json_is_array(r)) {
        json_decref(r);
        *rc = rg_fail(db, -EIO, "applicant %" PRId64 ": stored reasons are not a JSON array%s%s", id,
                      r ? "" : ": ", r ? "" : err.text);
        return NULL;
    }
    return r;
}

/* Why building a JSON value failed: jansson returns NULL for both. */
enum { BAD_NOMEM = 1, BAD_UTF8 = 2 };

/* A column as a new JSON string; on failure NULL, and *bad says why. */
static json_t *jstr(sqlite3_stmt *st, int i, int *bad)
{
    size_t n;
    const char *s = coltext(st, i, &n);
    json_t *j = json_stringn(s, n);

    if (!j)
        *bad |= rg_utf8_valid(s, n) ? BAD_NOMEM : BAD_UTF8;
    return j;
}

/* The score as a JSON number: the value of the two-decimal text the other formats show. */
static json_t *jscore(double v)
{
    char s[RG_SCORE_LEN];

    return json_real(strtod(fmt_score(v, s), NULL));
}

/* Sets the TSV columns of the current row in o; *bad as for jstr(). */
static void set_tsv_fields(json_t *o, sqlite3_stmt *st, int *bad)
{
    static const struct { const char *key; int col; } strs[] = {
        { "kind", C_KIND }, { "given_name", C_GIVEN }, { "family_name", C_FAMILY },
        { "date_of_birth", C_DOB }, { "email", C_EMAIL }, { "postcode", C_POSTCODE },
        { "clp", C_CLP }, { "joined_at", C_JOINED_AT }, { "declared_party", C_PARTY },
        { "aims_values", C_AIMS }, { "verdict", C_VERDICT }, { "rule", C_RULE },
        { "decided_by", C_DECIDED_BY },
    };

    if (json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, C_ID))) < 0)
        *bad |= BAD_NOMEM;
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (json_object_set_new(o, strs[i].key, jstr(st, strs[i].col, bad)) < 0)
            *bad |= BAD_NOMEM;
    if (json_object_set_new(o, "score", jscore(sqlite3_column_double(st, C_SCORE))) < 0 ||
        json_object_set_new(o, "ballot", json_boolean(sqlite3_column_int(st, C_BALLOT))) < 0)
        *bad |= BAD_NOMEM;
}

/* ---- applicants ---- */

/* The summary of the current row of SQL_APPLICANT. */
static int render_summary(rg_db *db, sqlite3_stmt *st, rg_buf *out)
{
    static const struct { const char *key; int col; } lines[] = {
        { "given_name", C_GIVEN }, { "family_name", C_FAMILY }, { "date_of_birth", C_DOB },
        { "email", C_EMAIL }, { "postcode", C_POSTCODE }, { "clp", C_CLP }, { "kind", C_KIND },
        { "joined_at", C_JOINED_AT }, { "declared_party", C_PARTY }, { "aims_values", C_AIMS },
        { "verdict", C_VERDICT }, { "rule", C_RULE },
    };
    static const struct { const char *key; int col; } after[] = {
        { "decided_by", C_DECIDED_BY }, { "decided_at", C_DECIDED_AT },
    };
    static const struct { const char *key; int col; } notes[] = {
        { "manual_reason", C_MANUAL_REASON }, { "auto_disagrees", C_AUTO_DISAGREES },
        { "recommendation", C_RECOMMENDATION },
    };
    int64_t id = sqlite3_column_int64(st, C_ID);
    json_t *reasons, *r;
    size_t n, i;
    const char *s;
    int rc = 0;

    add_kv_i64(out, "id", id);
    for (i = 0; i < sizeof lines / sizeof lines[0]; i++)
        add_kv_col(out, lines[i].key, st, lines[i].col);
    rg_buf_adds(out, "score: ");
    add_score(out, sqlite3_column_double(st, C_SCORE));
    rg_buf_add(out, "\n", 1);
    for (i = 0; i < sizeof after / sizeof after[0]; i++)
        add_kv_col(out, after[i].key, st, after[i].col);
    rg_buf_adds(out, sqlite3_column_int(st, C_BALLOT) ? "ballot: yes\n" : "ballot: no\n");
    for (i = 0; i < sizeof notes / sizeof notes[0]; i++)
        add_kv_col(out, notes[i].key, st, notes[i].col);
    add_kv_i64(out, "rules_version", sqlite3_column_int64(st, C_RULES_VERSION));
    add_kv_i64(out, "watchlist_version", sqlite3_column_int64(st, C_WATCHLIST_VERSION));

    /* reason: RULE OUTCOME SCORE TEXT, with "-" for a missing word so that fields stay in place. */
    s = coltext(st, C_REASONS, &n);
    if (n == 2 && memcmp(s, "[]", 2) == 0)
        return 0;
    if (!(reasons = load_reasons(db, id, s, n, &rc)))
        return rc;
    json_array_foreach(reasons, i, r) {
        json_t *rule = json_object_get(r, "rule"), *outcome = json_object_get(r, "outcome");
        json_t *score = json_object_get(r, "score"), *text = json_object_get(r, "reason");

        rg_buf_adds(out, "reason: ");
        if (json_is_string(rule) && json_string_length(rule) > 0)
            add_escaped(out, json_string_value(rule), json_string_length(rule));
        else
            rg_buf_add(out, "-", 1);
        rg_buf_add(out, " ", 1);
        if (json_is_string(outcome) && json_string_length(outcome) > 0)
            add_escaped(out, json_string_value(outcome), json_string_length(outcome));
        else
            rg_buf_add(out, "-", 1);
        rg_buf_add(out, " ", 1);
        if (json_is_number(score))
            add_score(out, json_number_value(score));
        else
            rg_buf_add(out, "-", 1);
        if (json_is_string(text) && json_string_length(text) > 0) {
            rg_buf_add(out, " ", 1);
            add_escaped(out, json_string_value(text), json_string_length(text));
        }
        rg_buf_add(out, "\n", 1);
    }
    json_decref(reasons);
    return 0;
}

/* The verdict line of the current row of SQL_APPLICANT. */
static int render_verdict(sqlite3_stmt *st, rg_buf *out)
{
    static const struct { const char *key; int col; } optional[] = {
        { "reason", C_MANUAL_REASON }, { "auto_disagrees", C_AUTO_DISAGREES },
        { "recommendation", C_RECOMMENDATION },
    };
    char score[RG_SCORE_LEN];

    add_col_escaped(out, st, C_VERDICT);
    add_field_col(out, "rule", st, C_RULE);
    rg_buf_adds(out, " score=");
    rg_buf_adds(out, fmt_score(sqlite3_column_double(st, C_SCORE), score));
    add_field_col(out, "by", st, C_DECIDED_BY);
    add_field_col(out, "at", st, C_DECIDED_AT);
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++)
        if (sqlite3_column_bytes(st, optional[i].col) > 0)
            add_field_col(out, optional[i].key, st, optional[i].col);
    rg_buf_add(out, "\n", 1);
    return 0;
}

/* record.json of the current row of SQL_APPLICANT, with its evidence. */
static int render_record(rg_db *db, sqlite3_stmt *st, rg_buf *out)
{
    static const struct { const char *key; int col; } strs[] = {
        { "decided_at", C_DECIDED_AT }, { "manual_reason", C_MANUAL_REASON },
        { "auto_disagrees", C_AUTO_DISAGREES }, { "recommendation", C_RECOMMENDATION },
        { "clp_slug", C_CLP_SLUG }, { "joined_day", C_JOINED_DAY },
    };
    int64_t id = sqlite3_column_int64(st, C_ID);
    json_t *o, *reasons, *evidence = NULL;
    sqlite3_stmt *ev;
    size_t n;
    const char *s = coltext(st, C_REASONS, &n);
    int rc = 0, step, bad = 0;

    if (!(reasons = load_reasons(db, id, s, n, &rc)))
        return rc;
    if (!(o = json_object())) {
        json_decref(reasons);
        return rg_fail(db, -ENOMEM, "out of memory");
    }
    set_tsv_fields(o, st, &bad);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (json_object_set_new(o, strs[i].key, jstr(st, strs[i].col, &bad)) < 0)
            bad |= BAD_NOMEM;
    if (json_object_set_new(o, "manual", json_boolean(sqlite3_column_int(st, C_MANUAL))) < 0 ||
        json_object_set_new(o, "rules_version",
                            json_integer(sqlite3_column_int64(st, C_RULES_VERSION))) < 0 ||
        json_object_set_new(o, "watchlist_version",
                            json_integer(sqlite3_column_int64(st, C_WATCHLIST_VERSION))) < 0 ||
        json_object_set_new(o, "reasons", reasons) < 0 ||
        !(evidence = json_array()) || json_object_set(o, "evidence", evidence) < 0)
        bad |= BAD_NOMEM;

    /* SQL_APPLICANT's row stays readable: the evidence is another statement. */
    if (!(ev = rg_stmt(db, SQL_EVIDENCE))) {
        rc = -EIO;
        goto out_decref;
    }
    sqlite3_bind_int64(ev, 1, id);
    while ((step = sqlite3_step(ev)) == SQLITE_ROW) {
        static const char *const keys[] = { "kind", "text", "added_by", "added_at" };
        json_t *e = json_object();
        for (int i = 0; i < 4; i++)
            if (json_object_set_new(e, keys[i], jstr(ev, i, &bad)) < 0)
                bad |= BAD_NOMEM;
        if (json_array_append_new(evidence, e) < 0)
            bad |= BAD_NOMEM;
    }
    sqlite3_reset(ev);
    if (step != SQLITE_DONE) {
        rc = rg_sqlfail(db, step);
        goto out_decref;
    }
    if (bad & BAD_UTF8) {
        rc = rg_fail(db, -EIO, "applicant %" PRId64 ": stored text is not valid UTF-8", id);
        goto out_decref;
    }
    if (bad || json_dump_callback(o, dump_to_buf, out, JSON_FLAGS_PRETTY) < 0) {
        rc = rg_fail(db, -ENOMEM, "out of memory");
        goto out_decref;
    }
    rg_buf_add(out, "\n", 1);
out_decref:
    json_decref(evidence);
    json_decref(o);
    return rc;
}

/* Appends one event to the rg_buf arg; stops the scan once the buffer has failed. */
static int history_line(const rg_audit_event *ev, void *arg)
{
    rg_audit_format(ev, arg);
    return rg_buf_failed(arg) ? 1 : 0;
}

static int render_history(rg_db *db, int64_t id, rg_buf *out, int64_t *mtime_ns)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_APPLICANT_MTIME);
    rg_audit_filter f = { .applicant = id };
    int64_t changed = 0;
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        changed = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return rg_fail(db, -ENOENT, "no applicant %" PRId64, id);
    if (rc != SQLITE_OK)
        return rg_sqlfail(db, rc);
    /* A stop (> 0) means the buffer failed: rg_render_applicant() reports it. */
    if ((rc = rg_audit_scan(db, &f, history_line, out)) < 0)
        return rc;
    if (mtime_ns)
        *mtime_ns = changed;
    return 0;
}

int rg_render_applicant(rg_db *db, int64_t id, enum rg_applicant_file which, rg_buf *out,
                        int64_t *mtime_ns)
{
    size_t mark = out->len;
    /* Files made of two reads take a snapshot of their own unless the caller holds one. */
    int own_snapshot = (which == RG_FILE_RECORD_JSON || which == RG_FILE_HISTORY) &&
                       sqlite3_get_autocommit(db->sql);
    sqlite3_stmt *st = NULL;
    int rc;

    if ((unsigned)which >= RG_FILE_COUNT)
        return rg_fail(db, -EINVAL, "no such applicant file (%d)", (int)which);
    if (own_snapshot && (rc = rg_db_read_begin(db)) < 0)
        return rc;
    if (which == RG_FILE_HISTORY) {
        rc = render_history(db, id, out, mtime_ns);
        goto out_end;
    }
    if (!(st = rg_stmt(db, SQL_APPLICANT))) {
        rc = -EIO;
        goto out_end;
    }
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        rc = rg_fail(db, -ENOENT, "no applicant %" PRId64, id);
        goto out_reset;
    }
    if (rc != SQLITE_ROW) {
        rc = rg_sqlfail(db, rc);
        goto out_reset;
    }
    switch (which) {
    case RG_FILE_SUMMARY: rc = render_summary(db, st, out); break;
    case RG_FILE_RECORD_JSON: rc = render_record(db, st, out); break;
    case RG_FILE_VERDICT: rc = render_verdict(st, out); break;
    default: rc = -EINVAL; break;
    }
    if (rc == 0 && mtime_ns)
        *mtime_ns = sqlite3_column_int64(st, C_CHANGED_NS);
out_reset:
    sqlite3_reset(st);
out_end:
    if (own_snapshot)
        rg_db_read_end(db);
    if (rc == 0 && rg_buf_failed(out))
        rc = rg_fail(db, -ENOMEM, "out of memory rendering applicant %" PRId64, id);
    if (rc < 0 && !rg_buf_failed(out)) {
        out->len = mark;
        if (out->data)
            out->data[mark] = '\0';
    }
    return rc;
}

/* ---- the watch list and jobs ---- */

int rg_render_watch(rg_db *db, const char *watch_id, rg_buf *out, int64_t *mtime_ns)
{
    static const char *const keys[] = {
        "id", "given_name", "family_name", "date_of_birth", "email", "postcode", "organisation",
        "role", "source",
    };
    enum { NKEYS = sizeof keys / sizeof keys[0] };
    sqlite3_stmt *st = rg_stmt(db, SQL_WATCH);
    size_t mark = out->len;
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, watch_id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < NKEYS; i++)
            add_kv_col(out, keys[i], st, i);
        if (mtime_ns)
            *mtime_ns = sqlite3_column_int64(st, NKEYS);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = rg_fail(db, -ENOENT, "no watch-list entry %s", watch_id);
    } else {
        rc = rg_sqlfail(db, rc);
    }
    sqlite3_reset(st);
    if (rc == 0 && rg_buf_failed(out))
        return rg_fail(db, -ENOMEM, "out of memory");
    if (rc < 0 && !rg_buf_failed(out) && out->data)
        out->data[out->len = mark] = '\0';
    return rc;
}

int rg_render_job(rg_db *db, int64_t job_id, rg_buf *out, int64_t *mtime_ns)
{
    static const struct { const char *key; int is_int; } cols[] = {
        { "id", 1 }, { "scope", 0 }, { "state", 0 }, { "total", 1 }, { "done", 1 },
        { "changed", 1 }, { "requested_by", 0 }, { "started", 0 }, { "finished", 0 },
        { "error", 0 },
    };
    enum { NCOLS = sizeof cols / sizeof cols[0] };
    sqlite3_stmt *st = rg_stmt(db, SQL_JOB);
    size_t mark = out->len;
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, job_id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        for (int i = 0; i < NCOLS; i++) {
            if (cols[i].is_int)
                add_kv_i64(out, cols[i].key, sqlite3_column_int64(st, i));
            else
                add_kv_col(out, cols[i].key, st, i);
        }
        if (mtime_ns)
            *mtime_ns = sqlite3_column_int64(st, NCOLS);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        rc = rg_fail(db, -ENOENT, "no job %" PRId64, job_id);
    } else {
        rc = rg_sqlfail(db, rc);
    }
    sqlite3_reset(st);
    if (rc == 0 && rg_buf_failed(out))
        return rg_fail(db, -ENOMEM, "out of memory");
    if (rc < 0 && !rg_buf_failed(out) && out->data)
        out->data[out->len = mark] = '\0';
    return rc;
}

/* ---- the whole register ---- */

void rg_export_header(enum rg_export_format fmt, rg_buf *out)
{
    if (fmt == RG_EXPORT_TSV)
        rg_buf_add(out, TSV_HEADER, sizeof TSV_HEADER - 1);
}

static void tsv_row(sqlite3_stmt *st, rg_buf *out)
{
    add_i64(out, sqlite3_column_int64(st, C_ID));
    for (int i = C_ID + 1; i < C_SCORE; i++) {
        rg_buf_add(out, "\t", 1);
        add_col_escaped(out, st, i);
    }
    rg_buf_add(out, "\t", 1);
    add_score(out, sqlite3_column_double(st, C_SCORE));
    rg_buf_add(out, "\t", 1);
    add_col_escaped(out, st, C_DECIDED_BY);
    rg_buf_adds(out, sqlite3_column_int(st, C_BALLOT) ? "\tyes\n" : "\tno\n");
}

/*
 * Appends a score as a JSON number, as jansson writes the same value: the value of its two-decimal
 * text, with up to 15 significant digits and at least one decimal ("0.97", "1.0", "0.0").
 */
static void add_json_score(rg_buf *b, double v)
{
    char s[RG_SCORE_LEN], num[40];
    double r = strtod(fmt_score(v, s), NULL);

    snprintf(num, sizeof num, "%.15g", r);
    if (strpbrk(num, ".e")) {
        if (strchr(num, 'e')) {   /* only for absurd scores: let jansson spell the exponent */
            json_t *j = json_real(r);
            if (j && json_dump_callback(j, dump_to_buf, b, JSON_ENCODE_ANY | JSON_FLAGS_LINE) == 0) {
                json_decref(j);
                return;
            }
            json_decref(j);
        }
        rg_buf_adds(b, num);
    } else {
        rg_buf_adds(b, num);
        rg_buf_add(b, ".0", 2);
    }
}

/*
 * One JSONL line: the TSV fields and the reasons, keys in byte order as JSON_SORT_KEYS would put
 * them, written by hand (jansson builds and sorts an object per row at several times the cost); only
 * the stored reasons go through jansson, to be checked and written in the same canonical form.
 */
static int jsonl_row(rg_db *db, sqlite3_stmt *st, rg_buf *out)
{
    static const struct { const char *key; int col; } fields[] = {   /* sorted by key */
        { "aims_values", C_AIMS }, { "ballot", C_BALLOT }, { "clp", C_CLP },
        { "date_of_birth", C_DOB }, { "decided_by", C_DECIDED_BY }, { "declared_party", C_PARTY },
        { "email", C_EMAIL }, { "family_name", C_FAMILY }, { "given_name", C_GIVEN },
        { "id", C_ID }, { "joined_at", C_JOINED_AT }, { "kind", C_KIND },
        { "postcode", C_POSTCODE }, { "reasons", C_REASONS }, { "rule", C_RULE },
        { "score", C_SCORE }, { "verdict", C_VERDICT },
    };
    int64_t id = sqlite3_column_int64(st, C_ID);
    int rc = 0;

    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        int c = fields[i].col;
        size_t n;
        const char *s;

        rg_buf_add(out, i == 0 ? "{\"" : ",\"", 2);
        rg_buf_adds(out, fields[i].key);
        rg_buf_add(out, "\":", 2);
        switch (c) {
        case C_ID:
            add_i64(out, id);
            break;
        case C_BALLOT:
            rg_buf_adds(out, sqlite3_column_int(st, c) ? "true" : "false");
            break;
        case C_SCORE:
            add_json_score(out, sqlite3_column_double(st, c));
            break;
        case C_REASONS: {
            json_t *reasons;
            s = coltext(st, c, &n);
            if (n == 2 && memcmp(s, "[]", 2) == 0) {
                rg_buf_add(out, "[]", 2);
                break;
            }
            if (!(reasons = load_reasons(db, id, s, n, &rc)))
                return rc;
            if (json_dump_callback(reasons, dump_to_buf, out, JSON_FLAGS_LINE) < 0)
                rc = rg_fail(db, -ENOMEM, "out of memory");
            json_decref(reasons);
            if (rc < 0)
                return rc;
            break;
        }
        default:
            s = coltext(st, c, &n);
            if (rg_buf_add_json_str(out, s, n) < 0)
                return rg_fail(db, -EIO, "applicant %" PRId64 ": %s is not valid UTF-8", id,
                               fields[i].key);
            break;
        }
    }
    rg_buf_add(out, "}\n", 2);
    return 0;
}

int rg_export_rows(rg_db *db, enum rg_export_format fmt, int64_t after_id, int max_rows,
                   rg_buf *out, int64_t *last_id, int64_t *newest_ns)
{
    sqlite3_stmt *st;
    size_t mark = out->len;
    int64_t last = *last_id, newest = newest_ns ? *newest_ns : 0, changed;
    int rows = 0, rc, changed_col;

    if (fmt != RG_EXPORT_TSV && fmt != RG_EXPORT_JSONL)
        return rg_fail(db, -EINVAL, "unknown export format %d", (int)fmt);
    if (max_rows <= 0)
        return rg_fail(db, -EINVAL, "export batch of %d rows", max_rows);
    if (!(st = rg_stmt(db, fmt == RG_EXPORT_TSV ? SQL_EXPORT_TSV : SQL_EXPORT_JSONL)))
        return -EIO;
    sqlite3_bind_int64(st, 1, after_id);
    sqlite3_bind_int(st, 2, max_rows);
    changed_col = sqlite3_column_count(st) - 1;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (fmt == RG_EXPORT_TSV)
            tsv_row(st, out);
        else if ((rc = jsonl_row(db, st, out)) < 0)
            break;
        last = sqlite3_column_int64(st, C_ID);
        if ((changed = sqlite3_column_int64(st, changed_col)) > newest)
            newest = changed;
        rows++;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        rc = rg_buf_failed(out) ? rg_fail(db, -ENOMEM, "out of memory exporting the register") : 0;
    else if (rc > 0)
        rc = rg_sqlfail(db, rc);
    if (rc < 0) {
        if (!rg_buf_failed(out) && out->data)
            out->data[out->len = mark] = '\0';
        return rc;
    }
    *last_id = last;
    if (newest_ns)
        *newest_ns = newest;
    return rows;
}
