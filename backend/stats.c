/*
 * stats.c: counts for `regfs stats` and the mounted stats file (see stats.h).
 */
#include <errno.h>
#include <inttypes.h>

#include "audit.h"
#include "db_internal.h"
#include "stats.h"

/* One statement, one row: everything but the audit head, counted in as few passes as SQLite can. */
static const char SQL_COUNTS[] =
    "SELECT"
    " (SELECT count(*) FROM applicant),"
    " (SELECT count(*) FROM applicant WHERE kind = 'member'),"
    " (SELECT count(*) FROM applicant WHERE kind = 'registered_supporter'),"
    " (SELECT count(*) FROM applicant WHERE kind = 'affiliated_supporter'),"
    " (SELECT count(*) FROM applicant WHERE verdict = 'approved'),"
    " (SELECT count(*) FROM applicant WHERE verdict = 'excluded'),"
    " (SELECT count(*) FROM applicant WHERE verdict = 'review'),"
    " (SELECT count(*) FROM applicant WHERE verdict = 'pending'),"
    " (SELECT count(*) FROM applicant WHERE verdict = 'review' OR auto_disagrees <> ''),"
    " (SELECT count(*) FROM applicant WHERE auto_disagrees <> ''),"
    " (SELECT count(*) FROM applicant WHERE ballot = 1),"
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

int rg_stats_render(rg_db *db, rg_buf *out)
{
    char hash[RG_HASH_HEX];
    int64_t seq, rules = 0, wl = 0;
    sqlite3_stmt *st;
    int rc;

    if ((rc = rg_db_read_begin(db)) < 0)
        return rc;
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
    for (size_t i = 0; i < NCOUNTS; i++)
        rg_buf_addf(out, "%s: %" PRId64 "\n", count_keys[i], (int64_t)sqlite3_column_int64(st, (int)i));
    rules = sqlite3_column_int64(st, NCOUNTS);
    wl = sqlite3_column_int64(st, NCOUNTS + 1);
    sqlite3_reset(st);
    if ((rc = rg_audit_head(db, &seq, hash)) < 0)
        goto out_end;
    rg_buf_addf(out, "audit_events: %" PRId64 "\naudit_head: %" PRId64 " %s\n", seq, seq, hash);
    rg_buf_addf(out, "rules_version: %" PRId64 "\nwatchlist_version: %" PRId64 "\n", rules, wl);
    rc = rg_buf_failed(out) ? -ENOMEM : 0;
out_end:
    rg_db_read_end(db);
    return rc;
}
