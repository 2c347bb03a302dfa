/*
 * crosscheck.c: each applicant's verdict against its last verdict event (see crosscheck.h).
 *
 * One pass over the audit log's applicant events (grouped by applicant, SQLite keeping the columns
 * of the row with max(seq)) joined both ways with the applicant table, in one read snapshot.
 */
#include <errno.h>
#include <inttypes.h>

#include "crosscheck.h"
#include "db_internal.h"

#define EXPECTED_VERDICT                                                                          \
    "CASE e.action WHEN 'verdict.manual' THEN"                                                    \
    "   CASE json_extract(e.detail, '$.decision') WHEN 'approve' THEN 'approved'"                 \
    "   WHEN 'exclude' THEN 'excluded' WHEN 'refer' THEN 'review' ELSE '?' END"                   \
    " WHEN 'verdict.auto' THEN json_extract(e.detail, '$.to')"                                    \
    " WHEN 'verdict.release' THEN json_extract(e.detail, '$.to')"                                 \
    " ELSE 'pending' END"

/* Rows: applicant id, its verdict (NULL: not on the register), the event's seq and action (NULL:
 * no event), the verdict the event gives.  Only mismatches, first by id. */
static const char SQL_MISMATCH[] =
    "WITH e AS ("
    "  SELECT CAST(applicant AS INTEGER) AS id, max(seq) AS seq, action, detail FROM audit"
    "  WHERE applicant <> '-' AND (action = 'verdict.auto' OR action = 'verdict.release'"
    "    OR action = 'verdict.manual' OR action = 'applicant.import'"
    "    OR (action = 'applicant.update' AND json_extract(detail, '$.verdict_reset') = 1))"
    "  GROUP BY applicant),"
    " x AS (SELECT e.id, a.verdict, e.seq, e.action, " EXPECTED_VERDICT " AS expected"
    "  FROM e LEFT JOIN applicant a ON a.id = e.id)"
    " SELECT id, verdict, seq, action, expected FROM x WHERE verdict IS NOT expected"
    " UNION ALL"
    " SELECT a.id, a.verdict, NULL, NULL, NULL FROM applicant a WHERE NOT EXISTS"
    "  (SELECT 1 FROM x WHERE x.id = a.id)"
    " ORDER BY 1 LIMIT 1";
static const char SQL_COUNT[] = "SELECT count(*) FROM applicant";

int64_t rg_crosscheck_verdicts(rg_db *db)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    int step, rc;

    if ((rc = rg_db_read_begin(db)) < 0)
        return rc;
    if (!(st = rg_stmt(db, SQL_MISMATCH))) {
        rc = -EIO;
        goto out_end;
    }
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), seq = sqlite3_column_int64(st, 2);
        const char *verdict = (const char *)sqlite3_column_text(st, 1);
        const char *action = (const char *)sqlite3_column_text(st, 3);
        const char *expected = (const char *)sqlite3_column_text(st, 4);
        if (!verdict)
            rg_fail(db, -EBADMSG, "event %" PRId64 " (%s) is about applicant %" PRId64
                    ", who is not on the register", seq, action ? action : "?", id);
        else if (!action)
            rg_fail(db, -EBADMSG, "applicant %" PRId64 " (verdict %s) has no event in the audit log"
                    " that records it", id, verdict);
        else
            rg_fail(db, -EBADMSG, "applicant %" PRId64 "'s verdict is %s, but its last verdict event,"
                    " %" PRId64 " (%s), says %s", id, verdict, seq, action, expected ? expected : "nothing");
        sqlite3_reset(st);
        rc = -EBADMSG;
        goto out_end;
    }
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        rc = rg_sqlfail(db, step);
        goto out_end;
    }
    if (!(st = rg_stmt(db, SQL_COUNT))) {
        rc = -EIO;
        goto out_end;
    }
    if ((step = sqlite3_step(st)) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    rc = step == SQLITE_ROW ? 0 : rg_sqlfail(db, step);
out_end:
    rg_db_read_end(db);
    return rc < 0 ? rc : n;
}
