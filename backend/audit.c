/*
 * audit.c: the hash-chained audit log (the format is documented in audit.h).
 *
 * The chain's head is read once per write transaction and then kept in the connection, so that an
 * import that writes a hundred thousand events reads it once, not a hundred thousand times.  Only one
 * writer can hold the transaction, so the cached head cannot go stale while it is valid.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "db_internal.h"
#include "sha256.h"

static const char SQL_HEAD[] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit(seq, at, actor, action, applicant, detail, hash) VALUES (?1,?2,?3,?4,?5,?6,?7)";
static const char SQL_SCAN_ALL[] =
    "SELECT seq, at, actor, action, applicant, detail, hash FROM audit WHERE seq >= ?1 ORDER BY seq";
static const char SQL_SCAN_APPLICANT[] =
    "SELECT seq, at, actor, action, applicant, detail, hash FROM audit"
    " WHERE applicant = ?2 AND applicant <> '-' AND seq >= ?1 ORDER BY seq";
static const char SQL_SCAN_DAY[] =
    "SELECT seq, at, actor, action, applicant, detail, hash FROM audit"
    " WHERE substr(at, 1, 10) = ?2 AND seq >= ?1 ORDER BY seq";

static const char GENESIS[RG_HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

void rg_audit_hash(const char *prev_hash, const rg_audit_event *ev, char out[RG_HASH_HEX])
{
    rg_sha256 st;
    unsigned char digest[RG_SHA256_BYTES];
    char seq[24];
    const char *fields[] = { seq, ev->at, ev->actor, ev->action, ev->applicant, ev->detail };

    snprintf(seq, sizeof seq, "%" PRId64, ev->seq);
    rg_sha256_init(&st);
    rg_sha256_update(&st, prev_hash, 64);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        rg_sha256_update(&st, "\t", 1);
        rg_sha256_update(&st, fields[i], strlen(fields[i]));
    }
    rg_sha256_final(&st, digest);
    sodium_bin2hex(out, RG_HASH_HEX, digest, sizeof digest);
}

int rg_audit_head(rg_db *db, int64_t *seq, char hash[RG_HASH_HEX])
{
    sqlite3_stmt *st = rg_stmt(db, SQL_HEAD);
    int rc;

    if (!st)
        return -EIO;
    *seq = 0;
    memcpy(hash, GENESIS, RG_HASH_HEX);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        *seq = sqlite3_column_int64(st, 0);
        snprintf(hash, RG_HASH_HEX, "%s", h ? h : "");
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rg_sqlfail(db, rc);
}

int64_t rg_audit_append_text(rg_db *db, const rg_actor *who, const char *action, int64_t applicant,
                             const char *detail)
{
    char actor[RG_ACTOR_STR_LEN], app[24], hash[RG_HASH_HEX];
    sqlite3_stmt *st;
    rg_audit_event ev;
    int64_t rc, now;

    if (!db->in_txn)
        return rg_fail(db, -EINVAL, "audit event %s outside a write transaction", action);
    if (!db->audit_head_valid) {
        if ((rc = rg_audit_head(db, &db->audit_head_seq, db->audit_head_hash)) < 0)
            return rc;
        db->audit_head_valid = 1;
    }
    /* The time of day, formatted once a second: an import writes thousands of events in one. */
    now = rg_now_ns() / 1000000000;
    if (now != db->audit_at_sec || !db->audit_at[0]) {
        rg_fmt_utc(now, db->audit_at);
        db->audit_at_sec = now;
    }
    if (applicant > 0)
        snprintf(app, sizeof app, "%" PRId64, applicant);
    else
        snprintf(app, sizeof app, "-");
    ev = (rg_audit_event){
        .seq = db->audit_head_seq + 1,
        .at = db->audit_at,
        .actor = rg_actor_str(who, actor),
        .action = action,
        .applicant = app,
        .detail = detail,
    };
    rg_audit_hash(db->audit_head_hash, &ev, hash);

    if (!(st = rg_stmt(db, SQL_INSERT)))
        return -EIO;
    sqlite3_bind_int64(st, 1, ev.seq);
    sqlite3_bind_text(st, 2, ev.at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev.actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ev.action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ev.applicant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, ev.detail, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, hash, -1, SQLITE_STATIC);
    if ((rc = rg_exec_stmt(db, st)) < 0) {
        db->audit_head_valid = 0;
        return rc;
    }
    db->audit_head_seq = ev.seq;
    memcpy(db->audit_head_hash, hash, RG_HASH_HEX);
    return ev.seq;
}

int64_t rg_audit_append(rg_db *db, const rg_actor *who, const char *action, int64_t applicant,
                        json_t *detail)
{
    char *text = NULL;
    int64_t rc;

    if (!detail)
        return rg_fail(db, -ENOMEM, "out of memory building an audit event");
    if (!json_is_object(detail)) {
        rc = rg_fail(db, -EINVAL, "audit detail must be a JSON object");
        goto out_decref;
    }
    text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
    if (!text) {
        rc = rg_fail(db, -ENOMEM, "out of memory encoding an audit event");
        goto out_decref;
    }
    rc = rg_audit_append_text(db, who, action, applicant, text);
    free(text);
out_decref:
    json_decref(detail);
    return rc;
}

void rg_audit_format(const rg_audit_event *ev, rg_buf *buf)
{
    rg_buf_addf(buf, "%" PRId64 "\t%s\t%s\t%s\t%s\t%s\t%s\n", ev->seq, ev->at, ev->actor, ev->action,
                ev->applicant, ev->detail, ev->hash);
}

static const char *col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

int rg_audit_scan(rg_db *db, const rg_audit_filter *f,
                  int (*fn)(const rg_audit_event *ev, void *arg), void *arg)
{
    const char *sql = f->applicant > 0 ? SQL_SCAN_APPLICANT : f->day ? SQL_SCAN_DAY : SQL_SCAN_ALL;
    sqlite3_stmt *st = rg_stmt(db, sql);
    char app[24];
    int rc, stop = 0;

    if (!st)
        return -EIO;
    /* From the start means every row, even one smuggled in below seq 1, so that verify sees it. */
    sqlite3_bind_int64(st, 1, f->from_seq > 1 ? f->from_seq : INT64_MIN);
    if (f->applicant > 0) {
        snprintf(app, sizeof app, "%" PRId64, f->applicant);
        sqlite3_bind_text(st, 2, app, -1, SQLITE_TRANSIENT);
    } else if (f->day) {
        sqlite3_bind_text(st, 2, f->day, -1, SQLITE_TRANSIENT);
    }
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rg_audit_event ev = {
            .seq = sqlite3_column_int64(st, 0),
            .at = col(st, 1), .actor = col(st, 2), .action = col(st, 3),
            .applicant = col(st, 4), .detail = col(st, 5), .hash = col(st, 6),
        };
        stop = fn(&ev, arg);
    }
    sqlite3_reset(st);
    if (stop)
        return stop;
    return rc == SQLITE_DONE ? 0 : rg_sqlfail(db, rc);
}

struct verify_state {
    rg_db *db;
    int64_t expect_seq, bad_seq;
    char prev[RG_HASH_HEX];
};

static int verify_one(const rg_audit_event *ev, void *arg)
{
    struct verify_state *vs = arg;
    char want[RG_HASH_HEX];

    if (ev->seq != vs->expect_seq) {
        vs->bad_seq = ev->seq;
        return rg_fail(vs->db, -EBADMSG, "audit event %" PRId64 ": expected sequence number %" PRId64
                       " (events missing or reordered)", ev->seq, vs->expect_seq);
    }
    rg_audit_hash(vs->prev, ev, want);
    if (strcmp(want, ev->hash) != 0) {
        vs->bad_seq = ev->seq;
        return rg_fail(vs->db, -EBADMSG, "audit event %" PRId64 ": hash does not match its contents"
                       " and its predecessor (stored %.16s..., computed %.16s...)",
                       ev->seq, ev->hash, want);
    }
    memcpy(vs->prev, ev->hash, RG_HASH_HEX);
    vs->expect_seq++;
    return 0;
}

int64_t rg_audit_verify(rg_db *db, int64_t *bad_seq)
{
    struct verify_state vs = { .db = db, .expect_seq = 1 };
    rg_audit_filter all = { 0 };
    int rc;

    memcpy(vs.prev, GENESIS, RG_HASH_HEX);
    *bad_seq = 0;
    if ((rc = rg_db_read_begin(db)) < 0)
        return rc;
    rc = rg_audit_scan(db, &all, verify_one, &vs);
    rg_db_read_end(db);
    if (rc < 0) {
        *bad_seq = vs.bad_seq;
        return rc;
    }
    return vs.expect_seq - 1;
}
