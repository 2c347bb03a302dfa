/*
 * stats.c: counts for `regfs stats` and the mounted stats file (see stats.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db_internal.h"
#include "stats.h"

/*
 * The applicant counts take a pass over every applicant (a second or two at the surge's scale, more
 * with a cold cache: too slow for the first `stat` of a fresh mount).  So they are kept in the
 * counter table, as stats.seq (the audit head they were counted at) and stats.0 ... stats.10, and
 * used while the head has not moved: every change to an applicant writes an audit event in the
 * same transaction, so an unmoved head means unchanged counts.  rg_stats_save() writes them at
 * the end of every vetting job, the one writer that changes them all at once.
 */
#define NAPP 11

/* The applicant counts, in count_keys' order, in one pass. */
static const char SQL_APP_COUNTS[] =
    "SELECT count(*), total(kind = 'member'), total(kind = 'registered_supporter'),"
    " total(kind = 'affiliated_supporter'), total(verdict = 'approved'),"
    " total(verdict = 'excluded'), total(verdict = 'review'), total(verdict = 'pending'),"
    " total(verdict = 'review' OR auto_disagrees <> ''), total(auto_disagrees <> ''),"
    " total(ballot = 1)"
    " FROM applicant";

static const char SQL_CACHED[] =
    "SELECT name, value FROM counter WHERE name GLOB 'stats.*'";

static const char SQL_CACHE_PUT[] =
    "INSERT OR REPLACE INTO counter(name, value) VALUES (?, ?)";

/* The rest: small tables, counted each time. */
static const char SQL_COUNTS[] =
    "SELECT"
    " (SELECT count(*) FROM watchlist),"
    " (SELECT count(*) FROM organisation),"
    " (SELECT count(*) FROM evidence),"
    " (SELECT count(*) FROM job WHERE state IN ('queued','running')),"
    " (SELECT value FROM counter WHERE name = 'rules_version'),"
    " (SELECT value FROM counter WHERE name = 'watchlist_version')";

static const char *const count_keys[] = {
    "applicants", "members", "registered_supporters", "affiliated_supporters", "approved",
    "excluded", "review", "pending", "review_queue", "auto_disagrees", "ballot_eligible",
    "watchlist", "organisations", "evidence", "jobs_running",
};
#define NCOUNTS (sizeof count_keys / sizeof count_keys[0])

/* The cached counts if they were counted at seq: 1, else 0 (or a negative errno). */
static int cached_counts(rg_db *db, int64_t seq, int64_t counts[NAPP])
{
    sqlite3_stmt *st = rg_stmt(db, SQL_CACHED);
    int have = 0, at = 0, step;

    if (!st)
        return -EIO;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0) + 6;   /* after "stats." */
        int64_t v = sqlite3_column_int64(st, 1);
        char *end;
        long i;

        if (strcmp(name, "seq") == 0) {
            at = v == seq;
            continue;
        }
        i = strtol(name, &end, 10);
        if (*end == '\0' && end != name && i >= 0 && i < NAPP) {
            counts[i] = v;
            have |= 1 << i;
        }
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE)
        return rg_sqlfail(db, step);
    return at && have == (1 << NAPP) - 1;
}

/* The counts at the head seq: cached or counted.  In a transaction of the caller's. */
static int app_counts(rg_db *db, int64_t seq, int64_t counts[NAPP], int *counted)
{
    sqlite3_stmt *st;
    int rc;

    *counted = 0;
    if ((rc = cached_counts(db, seq, counts)) != 0)
        return rc < 0 ? rc : 0;
    if (!(st = rg_stmt(db, SQL_APP_COUNTS)))
        return -EIO;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
        sqlite3_reset(st);
        return rg_sqlfail(db, rc);
    }
    for (int i = 0; i < NAPP; i++)
        counts[i] = sqlite3_column_int64(st, i);
    sqlite3_reset(st);
    *counted = 1;
    return 0;
}

int rg_stats_save(rg_db *db)
{
    char hash[RG_HASH_HEX], name[16];
    int64_t seq, counts[NAPP];
    sqlite3_stmt *st;
    int rc, counted;

    if ((rc = rg_audit_head(db, &seq, hash)) < 0 || (rc = app_counts(db, seq, counts, &counted)) < 0)
        return rc;
    if (!counted)
        return 0;
    for (int i = -1; i < NAPP; i++) {
        if (!(st = rg_stmt(db, SQL_CACHE_PUT)))
            return -EIO;
        if (i < 0)
            snprintf(name, sizeof name, "stats.seq");
        else
            snprintf(name, sizeof name, "stats.%d", i);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, i < 0 ? seq : counts[i]);
        if ((rc = rg_exec_stmt(db, st)) < 0)
            return rc;
    }
    return 0;
}

int rg_stats_render(rg_db *db, rg_buf *out)
{
    char hash[RG_HASH_HEX];
    int64_t seq, rules = 0, wl = 0, counts[NAPP];
    sqlite3_stmt *st;
    int rc, counted;

    if ((rc = rg_db_read_begin(db)) < 0)
        return rc;
    if ((rc = rg_audit_head(db, &seq, hash)) < 0 || (rc = app_counts(db, seq, counts, &counted)) < 0)
        goto out_end;
    for (int i = 0; i < NAPP; i++)
        rg_buf_addf(out, "%s: %" PRId64 "\n", count_keys[i], counts[i]);
    if (!(st = rg_stmt(db, SQL_COUNTS))) {
        rc = -EIO;
        goto out_end;
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        rc = rg_sqlfail(db, rc);
        goto out_end;
    }
    for (size_t i = NAPP; i < NCOUNTS; i++)
        rg_buf_addf(out, "%s: %" PRId64 "\n", count_keys[i],
                    (int64_t)sqlite3_column_int64(st, (int)(i - NAPP)));
    rules = sqlite3_column_int64(st, (int)(NCOUNTS - NAPP));
    wl = sqlite3_column_int64(st, (int)(NCOUNTS - NAPP + 1));
    sqlite3_reset(st);
    rg_buf_addf(out, "audit_events: %" PRId64 "\naudit_head: %" PRId64 " %s\n", seq, seq, hash);
    rg_buf_addf(out, "rules_version: %" PRId64 "\nwatchlist_version: %" PRId64 "\n", rules, wl);
    rc = rg_buf_failed(out) ? -ENOMEM : 0;
out_end:
    rg_db_read_end(db);
    return rc;
}
