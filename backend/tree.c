/*
 * tree.c: the filesystem's reads of the register beyond rendering (tree.h states the contract).
 *
 * Every query here is bounded and indexed: a page is `WHERE key > ? ORDER BY key LIMIT ?` over an
 * index the schema already has (applicant_by_verdict, applicant_by_clp, applicant_by_day, the
 * rowids of applicant, watchlist, job and audit), and the folder keys are enumerated with one index
 * seek each (`WHERE clp_slug > ? ORDER BY clp_slug LIMIT 1`), never with a DISTINCT over the table.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "db_internal.h"
#include "tree.h"

#define APP_COLS "id, changed_ns, verdict, clp_slug, joined_day"

static const char SQL_APPLICANT[] = "SELECT " APP_COLS " FROM applicant WHERE id = ?1";

/* Pages of the four folders: ids only (covered by an index), or whole rows. */
static const char SQL_IDS_ALL[] = "SELECT id FROM applicant WHERE id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_IDS_VERDICT[] =
    "SELECT id FROM applicant WHERE verdict = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_IDS_CLP[] =
    "SELECT id FROM applicant WHERE clp_slug = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_IDS_DAY[] =
    "SELECT id FROM applicant WHERE joined_day = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_ROWS_ALL[] =
    "SELECT " APP_COLS " FROM applicant WHERE id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_ROWS_VERDICT[] =
    "SELECT " APP_COLS " FROM applicant WHERE verdict = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_ROWS_CLP[] =
    "SELECT " APP_COLS " FROM applicant WHERE clp_slug = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
static const char SQL_ROWS_DAY[] =
    "SELECT " APP_COLS " FROM applicant WHERE joined_day = ?1 AND id > ?2 ORDER BY id LIMIT ?3";

static const char SQL_INFO_ALL[] = "SELECT count(*), max(changed_ns) FROM applicant";
static const char SQL_INFO_VERDICT[] =
    "SELECT count(*), max(changed_ns) FROM applicant WHERE verdict = ?1";
static const char SQL_INFO_CLP[] =
    "SELECT count(*), max(changed_ns) FROM applicant WHERE clp_slug = ?1";
static const char SQL_INFO_DAY[] =
    "SELECT count(*), max(changed_ns) FROM applicant WHERE joined_day = ?1";

static const char SQL_NEXT_CLP[] =
    "SELECT clp_slug FROM applicant WHERE clp_slug > ?1 ORDER BY clp_slug LIMIT 1";
static const char SQL_NEXT_DAY[] =
    "SELECT joined_day FROM applicant WHERE joined_day > ?1 ORDER BY joined_day LIMIT 1";

static const char SQL_WATCHES[] =
    "SELECT ino, changed_ns, id FROM watchlist WHERE ino > ?1 ORDER BY ino LIMIT ?2";
static const char SQL_WATCH_BY_ID[] = "SELECT ino, changed_ns, id FROM watchlist WHERE id = ?1";
static const char SQL_WATCH_BY_INO[] = "SELECT ino, changed_ns, id FROM watchlist WHERE ino = ?1";

static const char SQL_JOBS[] =
    "SELECT id, changed_ns, state FROM job WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_JOB[] = "SELECT id, changed_ns, state FROM job WHERE id = ?1";
static const char SQL_JOBS_ACTIVE[] =
    "SELECT id FROM job WHERE state IN ('queued', 'running') ORDER BY id LIMIT ?1";

static const char SQL_EVENTS[] =
    "SELECT seq, CASE applicant WHEN '-' THEN 0 ELSE CAST(applicant AS INTEGER) END, at, action"
    " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2";
static const char SQL_HEAD[] = "SELECT seq, at FROM audit ORDER BY seq DESC LIMIT 1";
static const char SQL_FIRST[] = "SELECT at FROM audit ORDER BY seq LIMIT 1";
static const char SQL_APPLICANT_EVENT_SINCE[] =
    "SELECT 1 FROM audit WHERE seq > ?1 AND applicant <> '-' LIMIT 1";

static const char SQL_PAGE_COUNT[] = "PRAGMA page_count";
static const char SQL_PAGE_SIZE[] = "PRAGMA page_size";

/* Copies column i's text into out[outlen] ("" for NULL), cutting it if it is too long. */
static void copy_col(sqlite3_stmt *st, int i, char *out, size_t outlen)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    size_t n = s ? (size_t)sqlite3_column_bytes(st, i) : 0;

    if (n >= outlen)
        n = outlen - 1;
    memcpy(out, s ? s : "", n);
    out[n] = '\0';
}

static void app_row(sqlite3_stmt *st, void *out, int i)
{
    rg_tree_app *a = &((rg_tree_app *)out)[i];

    a->id = sqlite3_column_int64(st, 0);
    a->changed_ns = sqlite3_column_int64(st, 1);
    copy_col(st, 2, a->verdict, sizeof a->verdict);
    copy_col(st, 3, a->clp_slug, sizeof a->clp_slug);
    copy_col(st, 4, a->joined_day, sizeof a->joined_day);
}

static void app_id_row(sqlite3_stmt *st, void *out, int i)
{
    rg_tree_app *a = &((rg_tree_app *)out)[i];

    memset(a, 0, sizeof *a);
    a->id = sqlite3_column_int64(st, 0);
}

/* Steps st to its one row.  Returns 1 with a row, 0 without (st reset), or a negative errno. */
static int step_one(rg_db *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW)
        return 1;
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rg_sqlfail(db, rc);
}

/* Reads row i of a page into out[i] (each caller's own row type). */
typedef void read_row_fn(sqlite3_stmt *st, void *out, int i);

/* Steps st, its parameters bound, through at most max rows, each read by read_row.  Returns the
 * number of rows, or a negative errno. */
static int scan(rg_db *db, sqlite3_stmt *st, int max, read_row_fn *read_row, void *out)
{
    int n = 0, rc = SQLITE_DONE;

    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        read_row(st, out, n++);
    sqlite3_reset(st);
    if (n < max && rc != SQLITE_DONE)
        return rg_sqlfail(db, rc);
    return n;
}

/* Reads st's one row into out with read_row.  Returns 1, 0 if there is no row, or a negative
 * errno. */
static int scan_one(rg_db *db, sqlite3_stmt *st, read_row_fn *read_row, void *out)
{
    int rc = step_one(db, st);

    if (rc <= 0)
        return rc;
    read_row(st, out, 0);
    sqlite3_reset(st);
    return 1;
}

/* A page of a keyset scan whose SQL takes ?1 = the last key of the page before, ?2 = max. */
static int scan_after(rg_db *db, const char *sql, int64_t after, int max, read_row_fn *read_row,
                      void *out)
{
    sqlite3_stmt *st = rg_stmt(db, sql);

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, max);
    return scan(db, st, max, read_row, out);
}

/* The one row of sql (?1 = key) into out: 0, -ENOENT ("no WHAT KEY"), or another negative errno. */
static int find_by_key(rg_db *db, const char *sql, int64_t key, read_row_fn *read_row, void *out,
                       const char *what)
{
    sqlite3_stmt *st = rg_stmt(db, sql);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, key);
    if ((rc = scan_one(db, st, read_row, out)) == 0)
        rc = rg_fail(db, -ENOENT, "no %s %" PRId64, what, key);
    return rc < 0 ? rc : 0;
}

int rg_tree_applicant(rg_db *db, int64_t id, rg_tree_app *out)
{
    return find_by_key(db, SQL_APPLICANT, id, app_row, out, "applicant");
}

int rg_tree_applicants(rg_db *db, enum rg_tree_folder f, const char *key, int64_t after, int max,
                       int full, rg_tree_app *out)
{
    static const char *const ids_sql[] = {
        [RG_FOLDER_ALL] = SQL_IDS_ALL, [RG_FOLDER_VERDICT] = SQL_IDS_VERDICT,
        [RG_FOLDER_CLP] = SQL_IDS_CLP, [RG_FOLDER_DAY] = SQL_IDS_DAY,
    };
    static const char *const rows_sql[] = {
        [RG_FOLDER_ALL] = SQL_ROWS_ALL, [RG_FOLDER_VERDICT] = SQL_ROWS_VERDICT,
        [RG_FOLDER_CLP] = SQL_ROWS_CLP, [RG_FOLDER_DAY] = SQL_ROWS_DAY,
    };
    sqlite3_stmt *st;

    if ((unsigned)f > RG_FOLDER_DAY || (f != RG_FOLDER_ALL && !key))
        return rg_fail(db, -EINVAL, "bad folder");
    if (!(st = rg_stmt(db, full ? rows_sql[f] : ids_sql[f])))
        return -EIO;
    if (f != RG_FOLDER_ALL)
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, max);
    return scan(db, st, max, full ? app_row : app_id_row, out);
}

int rg_tree_folder_info(rg_db *db, enum rg_tree_folder f, const char *key, int64_t *count,
                        int64_t *mtime_ns)
{
    static const char *const sql[] = {
        [RG_FOLDER_ALL] = SQL_INFO_ALL, [RG_FOLDER_VERDICT] = SQL_INFO_VERDICT,
        [RG_FOLDER_CLP] = SQL_INFO_CLP, [RG_FOLDER_DAY] = SQL_INFO_DAY,
    };
    sqlite3_stmt *st;
    int rc;

    if ((unsigned)f > RG_FOLDER_DAY || (f != RG_FOLDER_ALL && !key))
        return rg_fail(db, -EINVAL, "bad folder");
    if (!(st = rg_stmt(db, sql[f])))
        return -EIO;
    if (f != RG_FOLDER_ALL)
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if ((rc = step_one(db, st)) < 0)
        return rc;
    *count = rc ? sqlite3_column_int64(st, 0) : 0;
    *mtime_ns = rc ? sqlite3_column_int64(st, 1) : 0;
    sqlite3_reset(st);
    return 0;
}

static int next_key(rg_db *db, const char *sql, const char *after, char *out, size_t outlen)
{
    sqlite3_stmt *st = rg_stmt(db, sql);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, after ? after : "", -1, SQLITE_TRANSIENT);
    if ((rc = step_one(db, st)) <= 0)
        return rc;
    copy_col(st, 0, out, outlen);
    sqlite3_reset(st);
    return 1;
}

int rg_tree_next_clp(rg_db *db, const char *after, char out[RG_SLUG_LEN])
{
    return next_key(db, SQL_NEXT_CLP, after, out, RG_SLUG_LEN);
}

int rg_tree_next_day(rg_db *db, const char *after, char out[RG_DAY_LEN])
{
    return next_key(db, SQL_NEXT_DAY, after, out, RG_DAY_LEN);
}

static int one_int64(rg_db *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = rg_stmt(db, sql);
    int rc;

    if (!st)
        return -EIO;
    if ((rc = step_one(db, st)) < 0)
        return rc;
    *out = rc ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return 0;
}

/* ---- the watch list and jobs ---- */

static void watch_row(sqlite3_stmt *st, void *out, int i)
{
    rg_tree_watch *w = &((rg_tree_watch *)out)[i];

    w->ino = sqlite3_column_int64(st, 0);
    w->changed_ns = sqlite3_column_int64(st, 1);
    copy_col(st, 2, w->id, sizeof w->id);
}

int rg_tree_watches(rg_db *db, int64_t after, int max, rg_tree_watch *out)
{
    return scan_after(db, SQL_WATCHES, after, max, watch_row, out);
}

int rg_tree_watch_by_id(rg_db *db, const char *id, rg_tree_watch *out)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_WATCH_BY_ID);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
    if ((rc = scan_one(db, st, watch_row, out)) == 0)
        rc = rg_fail(db, -ENOENT, "no watch-list entry %s", id);
    return rc < 0 ? rc : 0;
}

int rg_tree_watch_by_ino(rg_db *db, int64_t ino, rg_tree_watch *out)
{
    return find_by_key(db, SQL_WATCH_BY_INO, ino, watch_row, out, "watch-list entry with inode");
}

static void job_row(sqlite3_stmt *st, void *out, int i)
{
    rg_tree_job *j = &((rg_tree_job *)out)[i];

    j->id = sqlite3_column_int64(st, 0);
    j->changed_ns = sqlite3_column_int64(st, 1);
    copy_col(st, 2, j->state, sizeof j->state);
}

int rg_tree_jobs(rg_db *db, int64_t after, int max, rg_tree_job *out)
{
    return scan_after(db, SQL_JOBS, after, max, job_row, out);
}

int rg_tree_job_find(rg_db *db, int64_t id, rg_tree_job *out)
{
    return find_by_key(db, SQL_JOB, id, job_row, out, "job");
}

static void id_row(sqlite3_stmt *st, void *out, int i)
{
    ((int64_t *)out)[i] = sqlite3_column_int64(st, 0);
}

int rg_tree_jobs_active(rg_db *db, int64_t *ids, int cap)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_JOBS_ACTIVE);

    if (!st)
        return -EIO;
    sqlite3_bind_int(st, 1, cap);
    return scan(db, st, cap, id_row, ids);
}

/* ---- the audit log as a change feed ---- */

int64_t rg_tree_utc_ns(const char *s)
{
    struct tm tm = { 0 };
    int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;

    if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return 0;
    if (s[10] == 'T' && sscanf(s + 11, "%2d:%2d:%2d", &h, &mi, &sec) != 3)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm) * 1000000000;
}

static void event_row(sqlite3_stmt *st, void *out, int i)
{
    rg_tree_event *e = &((rg_tree_event *)out)[i];

    e->seq = sqlite3_column_int64(st, 0);
    e->applicant = sqlite3_column_int64(st, 1);
    e->at_ns = rg_tree_utc_ns((const char *)sqlite3_column_text(st, 2));
    copy_col(st, 2, e->day, sizeof e->day);
    copy_col(st, 3, e->action, sizeof e->action);
}

int rg_tree_events(rg_db *db, int64_t after, int max, rg_tree_event *out)
{
    return scan_after(db, SQL_EVENTS, after, max, event_row, out);
}

int rg_tree_head(rg_db *db, int64_t *seq, int64_t *at_ns)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_HEAD);
    int rc;

    if (!st)
        return -EIO;
    *seq = *at_ns = 0;
    if ((rc = step_one(db, st)) <= 0)
        return rc;
    *seq = sqlite3_column_int64(st, 0);
    *at_ns = rg_tree_utc_ns((const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    return 0;
}

int rg_tree_first_at(rg_db *db, int64_t *at_ns)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_FIRST);
    int rc;

    if (!st)
        return -EIO;
    *at_ns = 0;
    if ((rc = step_one(db, st)) <= 0)
        return rc;
    *at_ns = rg_tree_utc_ns((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return 0;
}

int rg_tree_applicant_events_since(rg_db *db, int64_t after)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_APPLICANT_EVENT_SINCE);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, after);
    if ((rc = step_one(db, st)) > 0)
        sqlite3_reset(st);
    return rc;
}

/* ---- the database as a file ---- */

int rg_tree_db_size(rg_db *db, int64_t *bytes)
{
    int64_t pages, size;
    int rc;

    if ((rc = one_int64(db, SQL_PAGE_COUNT, &pages)) < 0 ||
        (rc = one_int64(db, SQL_PAGE_SIZE, &size)) < 0)
        return rc;
    *bytes = pages * size;
    return 0;
}

int rg_tree_reader_setup(rg_db *db)
{
    /* 1 MiB of page cache per worker thread keeps the daemon small; the kernel's page cache holds
     * the database file anyway.  (4 MiB cost some 10 MiB of peak RSS at 630,000 applicants and
     * bought nothing measurable in a warm tar or grep -r of 20,000.) */
    int rc = sqlite3_exec(db->sql, "PRAGMA cache_size = -1024; PRAGMA query_only = 1", NULL, NULL,
                          NULL);

    return rc == SQLITE_OK ? 0 : rg_sqlfail(db, rc);
}

/* ---- refused ctl writes ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if the bytes there are not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t len = rg_utf8_char_len(s[0]);

    if (len == 0 || len > n)
        return 0;
    return rg_utf8_valid((const char *)s, len) ? len : 0;
}

/* Appends s[0..n) to b, each byte that is not part of valid UTF-8 as "\xNN". */
static void add_escaped(rg_buf *b, const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, n - i);
        if (k) {
            rg_buf_add(b, s + i, k);
            i += k;
        } else {
            rg_buf_addf(b, "\\x%02x", s[i]);
            i++;
        }
    }
    rg_buf_add(b, "", 0);   /* b->data is a string even when n is 0 */
}

int64_t rg_audit_refusal(rg_db *db, const rg_actor *who, const char *path, const char *error,
                         const void *bytes, size_t len)
{
    rg_buf text = RG_BUF_INIT, why = RG_BUF_INIT;
    int64_t rc, seq;

    /* Both are the caller's bytes, or quote them: escaped, the refusal is always recorded. */
    add_escaped(&text, bytes, len < RG_REFUSAL_TEXT_MAX ? len : RG_REFUSAL_TEXT_MAX);
    add_escaped(&why, (const unsigned char *)error, strlen(error));
    if (rg_buf_failed(&text) || rg_buf_failed(&why)) {
        rc = rg_fail(db, -ENOMEM, "out of memory");
        goto out_free;
    }
    if ((rc = rg_db_begin(db)) < 0)
        goto out_free;
    rc = rg_audit_append(db, who, "ctl.refused", 0,
                         json_pack("{s:s, s:s, s:I, s:s}", "path", path, "error", why.data, "bytes",
                                   (json_int_t)len, "text", text.data));
    if (rc < 0) {
        rg_db_rollback(db);
        goto out_free;
    }
    seq = rc;
    if ((rc = rg_db_commit(db)) < 0)
        goto out_free;
    rc = seq;
out_free:
    rg_buf_free(&text);
    rg_buf_free(&why);
    return rc;
}
