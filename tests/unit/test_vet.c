/*
 * test_vet.c: verdicts in the register (backend/vet.h): re-vetting jobs, people's decisions,
 * releases and evidence, and what each leaves in the audit log.
 *
 * Registers are built in a temporary directory through the real backend (rg_db_open), their rows
 * added with SQL through a second connection as an import would leave them; the jobs then run
 * through rg_job_create()/rg_job_run() exactly as `regfs vet` and the ctl files run them, and the
 * tests read back what a user would see: each applicant's verdict, rule, reasons and marks, the job
 * row, and the audit events.  The clock is fixed at 2026-07-01 (REGFS_NOW).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "db.h"
#include "settings.h"
#include "vet.h"
#include "fixture.h"

#define NOW "1782907200"   /* 2026-07-01T12:00:00Z */

static const rg_actor ALICE = { "alice", 1000 };
static const rg_actor BOB = { "bob", 1001 };

struct fixture {
    char dir[256];
    char path[300];
    rg_db *db;
    sqlite3 *sql;            /* a second connection: builds the register, reads back what it holds */
};

static void sql_exec(struct fixture *f, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(f->sql, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
}

/* The first column of the first row of a query with one optional integer parameter, as text. */
static char *query(struct fixture *f, const char *sql, int64_t arg, char *out, size_t outsz)
{
    sqlite3_stmt *st;
    int rc;

    if (sqlite3_prepare_v2(f->sql, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(f->sql));
    if (sqlite3_bind_parameter_count(st) > 0)
        sqlite3_bind_int64(st, 1, arg);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW)
        fail_msg("%s (%" PRId64 "): no row (%d)", sql, arg, rc);
    snprintf(out, outsz, "%s", sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "");
    sqlite3_finalize(st);
    return out;
}

static int64_t query_int(struct fixture *f, const char *sql, int64_t arg)
{
    char buf[64];

    return strtoll(query(f, sql, arg, buf, sizeof buf), NULL, 10);
}

/* One column of applicant id. */
static const char *col(struct fixture *f, int64_t id, const char *column)
{
    static char buf[4096];
    char sql[128];

    snprintf(sql, sizeof sql, "SELECT %s FROM applicant WHERE id = ?1", column);
    return query(f, sql, id, buf, sizeof buf);
}

static int64_t events(struct fixture *f, const char *action)
{
    sqlite3_stmt *st;
    int64_t n;

    assert_int_equal(sqlite3_prepare_v2(f->sql, "SELECT count(*) FROM audit WHERE action = ?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The detail of the newest event of action about applicant (or "-" for none). */
static const char *last_detail(struct fixture *f, const char *action, int64_t applicant)
{
    static char buf[2048];
    sqlite3_stmt *st;
    char app[24];

    snprintf(app, sizeof app, "%" PRId64, applicant);
    assert_int_equal(sqlite3_prepare_v2(f->sql, "SELECT detail, actor FROM audit WHERE action = ?1 AND"
                                        " applicant = ?2 ORDER BY seq DESC LIMIT 1", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, applicant > 0 ? app : "-", -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        fail_msg("no %s event for %s", action, app);
    snprintf(buf, sizeof buf, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return buf;
}

static int64_t head(rg_db *db)
{
    char hash[RG_HASH_HEX];
    int64_t seq = -1;

    assert_int_equal(rg_audit_head(db, &seq, hash), 0);
    return seq;
}

static void add_watch(struct fixture *f, const char *id, const char *given, const char *family,
                      const char *dob, const char *org)
{
    sqlite3_stmt *st;
    const char *v[] = { id, given, family, dob, org };

    assert_int_equal(sqlite3_prepare_v2(f->sql,
        "INSERT INTO watchlist(id, given_name, family_name, date_of_birth, organisation, changed_ns)"
        " VALUES (?1,?2,?3,?4,?5,0)", -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static sqlite3_stmt *app_insert(struct fixture *f)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(f->sql,
        "INSERT INTO applicant(id, given_name, family_name, date_of_birth, email, postcode, clp,"
        " clp_slug, kind, joined_at, joined_day, declared_party, aims_values, changed_ns)"
        " VALUES (?1,?2,?3,?4,?5,'BS6 5AB',?6,?7,?8,?9,?9,?10,?11,0)", -1, &st, NULL), SQLITE_OK);
    return st;
}

/* Adds applicant id; NULL fields take an unremarkable new member's values. */
static void add_app_full(struct fixture *f, sqlite3_stmt *st, int64_t id, const char *given, const char *family,
                         const char *dob, const char *declared, const char *clp, const char *joined)
{
    char email[64];

    snprintf(email, sizeof email, "a%" PRId64 "@example.org", id);
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, given, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, family, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 4, dob ? dob : "1980-01-01", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 5, email, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 6, clp && strcmp(clp, "leeds-central") == 0 ? "Leeds Central" : "Bristol West", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, clp ? clp : "bristol-west", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, "member", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, joined ? joined : "2026-06-20", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 10, declared ? declared : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 11, "yes", -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        fail_msg("insert %" PRId64 ": %s", id, sqlite3_errmsg(f->sql));
}

static void add_app(struct fixture *f, int64_t id, const char *given, const char *family, const char *dob,
                    const char *declared)
{
    sqlite3_stmt *st = app_insert(f);

    add_app_full(f, st, id, given, family, dob, declared, NULL, NULL);
    sqlite3_finalize(st);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    setenv("REGFS_NOW", NOW, 1);
    if (fixture_register("vet", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->db) < 0)
        return -1;
    if (sqlite3_open(f->path, &f->sql) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(f->sql, 10000);
    *state = f;
    sql_exec(f, "INSERT INTO organisation(name, aliases) VALUES"
                " ('Socialist Workers Party', 'SWP|Socialist Workers'), ('Green Party', 'Greens|Green')");
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sqlite3_close(f->sql);
    rg_db_close(f->db);
    fixture_remove(f->dir);
    free(f);
    return 0;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!strstr(h_, n_))                                                                       \
            fail_msg("'%s' does not contain '%s'", h_, n_);                                        \
    } while (0)

/* Parses words into a scope, creates the job as who and runs it to the end; returns its changes. */
static int64_t vet(struct fixture *f, const rg_actor *who, const char *words)
{
    char copy[256], *w[16], *save = NULL, err[256];
    int64_t ids[16], id, changed;
    int n = 0;
    rg_scope scope;

    snprintf(copy, sizeof copy, "%s", words);
    for (char *t = strtok_r(copy, " ", &save); t && n < 16; t = strtok_r(NULL, " ", &save))
        w[n++] = t;
    if (rg_scope_parse(n, w, &scope, ids, 16, err, sizeof err) < 0)
        fail_msg("scope '%s': %s", words, err);
    if ((id = rg_job_create(f->db, who, &scope, 0)) <= 0)
        fail_msg("rg_job_create: %s", rg_db_errmsg(f->db));
    if ((changed = rg_job_run(f->db, id, NULL, NULL)) < 0)
        fail_msg("rg_job_run: %s", rg_db_errmsg(f->db));
    return changed;
}

/* ---- re-vetting ---- */

static void test_vet_all_then_nothing_changes(void **state)
{
    struct fixture *f = *state;
    char before[64], after[64];
    int64_t seq;

    add_app(f, 1, "Ann", "Abel", NULL, NULL);
    add_app(f, 2, "Ben", "Bell", NULL, "Socialist Workers");
    add_app(f, 3, "Cat", "Cole", "1970-05-06", NULL);
    add_watch(f, "W00001", "Cat", "Cole", "1970-05-06", "Green Party");
    sql_exec(f, "UPDATE counter SET value = 4 WHERE name = 'watchlist_version'");

    assert_int_equal(vet(f, &ALICE, "pending"), 3);
    assert_string_equal(col(f, 1, "verdict"), "approved");
    assert_string_equal(col(f, 1, "rule"), "none");
    assert_string_equal(col(f, 2, "verdict"), "excluded");
    assert_string_equal(col(f, 2, "rule"), "declared-party");
    assert_string_equal(col(f, 3, "verdict"), "excluded");
    assert_string_equal(col(f, 3, "rule"), "watch-list");
    assert_contains(col(f, 3, "reasons"), "\"evidence\":\"W00001\"");
    assert_string_equal(col(f, 3, "decided_by"), "regfs");
    assert_string_equal(col(f, 3, "decided_at"), "2026-07-01T12:00:00Z");
    assert_string_equal(col(f, 3, "watchlist_version"), "4");
    assert_string_equal(col(f, 3, "rules_version"), "1");
    assert_string_equal(col(f, 1, "ballot"), "1");
    assert_string_equal(col(f, 2, "ballot"), "0");
    /* each change is audited, as who asked, with what it was and what it became */
    assert_int_equal(events(f, "verdict.auto"), 3);
    assert_string_equal(last_detail(f, "verdict.auto", 2),
                        "{\"from\":\"pending\",\"rule\":\"declared-party\",\"score\":\"1\",\"to\":\"excluded\"}");
    assert_int_equal(events(f, "job.start"), 1);
    assert_int_equal(events(f, "job.finish"), 1);
    assert_contains(last_detail(f, "job.finish", 0), "\"changed\":3");
    query(f, "SELECT changed_ns FROM applicant WHERE id = ?1", 3, before, sizeof before);
    assert_string_not_equal(before, "0");

    /* Nothing new: a re-vet writes nothing, not even the job's events, and keeps every mtime. */
    seq = head(f->db);
    assert_int_equal(vet(f, &BOB, "all"), 0);
    assert_int_equal(head(f->db), seq);
    query(f, "SELECT changed_ns FROM applicant WHERE id = ?1", 3, after, sizeof after);
    assert_string_equal(before, after);
    assert_string_equal(query(f, "SELECT state || ' ' || total || ' ' || done || ' ' || changed FROM job"
                                 " WHERE id = ?1", 2, before, sizeof before), "done 3 3 0");
}

/* A re-vet asked for through a ctl file is a user's write: its request is logged, as that user, even
 * when it goes on to change nothing. */
static void test_requested_revet_is_logged(void **state)
{
    struct fixture *f = *state;
    char *w[] = { "all" }, err[256];
    int64_t ids[1], seq, id;
    rg_scope scope;

    add_app(f, 1, "Ann", "Abel", NULL, NULL);
    assert_int_equal(vet(f, &ALICE, "pending"), 1);
    seq = head(f->db);
    assert_int_equal(rg_scope_parse(1, w, &scope, ids, 1, err, sizeof err), 0);
    id = rg_job_create(f->db, &BOB, &scope, RG_JOB_LOG_REQUEST);
    assert_true(id > 0);
    assert_int_equal(head(f->db), seq + 1);
    assert_int_equal(events(f, "job.request"), 1);
    assert_string_equal(query(f, "SELECT actor FROM audit WHERE seq = ?1", seq + 1, err, sizeof err),
                        "bob:1001");
    assert_contains(last_detail(f, "job.request", 0), "\"scope\":\"all\"");
    assert_int_equal(rg_job_run(f->db, id, NULL, NULL), 0);
    assert_int_equal(head(f->db), seq + 1);   /* nothing changed: no job.start, no job.finish */
}

static void test_manual_decision_survives(void **state)
{
    struct fixture *f = *state;
    int64_t seq;

    add_app(f, 10, "Dee", "Dodd", NULL, NULL);
    add_app(f, 11, "Eli", "Eyre", "1965-01-02", NULL);
    add_watch(f, "W00002", "Eli", "Eyre", "1965-01-02", "Socialist Workers Party");
    assert_int_equal(vet(f, &ALICE, "all"), 2);
    assert_string_equal(col(f, 11, "verdict"), "excluded");

    /* A reason is mandatory, and the applicant must exist. */
    seq = head(f->db);
    assert_int_equal(rg_decide(f->db, &BOB, 11, RG_DECIDE_APPROVE, ""), -EINVAL);
    assert_int_equal(rg_decide(f->db, &BOB, 11, RG_DECIDE_APPROVE, " \n "), -EINVAL);
    assert_int_equal(rg_decide(f->db, &BOB, 99, RG_DECIDE_APPROVE, "because"), -ENOENT);
    assert_int_equal(head(f->db), seq);

    assert_int_equal(rg_decide(f->db, &BOB, 11, RG_DECIDE_APPROVE, "left the SWP in 2019; letter on file"), 0);
    assert_int_equal(rg_decide(f->db, &BOB, 10, RG_DECIDE_EXCLUDE, "abusive emails to the CLP secretary"), 0);
    assert_string_equal(col(f, 11, "verdict"), "approved");
    assert_string_equal(col(f, 11, "rule"), "manual");
    assert_string_equal(col(f, 11, "manual"), "1");
    assert_string_equal(col(f, 11, "decided_by"), "bob:1001");
    assert_string_equal(col(f, 11, "manual_reason"), "left the SWP in 2019; letter on file");
    assert_string_equal(col(f, 11, "ballot"), "1");
    assert_contains(col(f, 11, "auto_disagrees"), "excluded watch-list W00002 0.9");
    assert_string_equal(col(f, 10, "auto_disagrees"), "approved");
    assert_string_equal(last_detail(f, "verdict.manual", 11),
                        "{\"decision\":\"approve\",\"from\":\"excluded\",\"reason\":\"left the SWP in 2019; letter on file\"}");

    /* A re-vet never overwrites a person's decision, and finds nothing new to say. */
    seq = head(f->db);
    assert_int_equal(vet(f, &ALICE, "all"), 0);
    assert_int_equal(head(f->db), seq);
    assert_string_equal(col(f, 11, "verdict"), "approved");
    assert_string_equal(col(f, 10, "verdict"), "excluded");
    assert_string_equal(col(f, 10, "decided_by"), "bob:1001");

    /* The watch list changes: the rules now agree with the person, and say so. */
    sql_exec(f, "DELETE FROM watchlist");
    assert_int_equal(vet(f, &ALICE, "all"), 1);
    assert_string_equal(col(f, 11, "verdict"), "approved");
    assert_string_equal(col(f, 11, "auto_disagrees"), "");
    assert_string_equal(col(f, 11, "rule"), "manual");
    assert_contains(last_detail(f, "verdict.auto", 11), "\"auto_disagrees\":\"\"");

    /* Released, the rules decide again. */
    assert_int_equal(rg_release(f->db, &BOB, 10), 0);
    assert_string_equal(col(f, 10, "verdict"), "approved");
    assert_string_equal(col(f, 10, "rule"), "none");
    assert_string_equal(col(f, 10, "manual"), "0");
    assert_string_equal(col(f, 10, "manual_reason"), "");
    assert_string_equal(col(f, 10, "decided_by"), "regfs");
    assert_string_equal(last_detail(f, "verdict.release", 10),
                        "{\"ballot\":1,\"from\":\"excluded\",\"rule\":\"none\",\"score\":\"0\",\"to\":\"approved\"}");
    assert_int_equal(rg_release(f->db, &BOB, 10), -EINVAL);   /* nothing left to release */
    assert_int_equal(rg_release(f->db, &BOB, 12345), -ENOENT);
}

static void test_refer_and_evidence(void **state)
{
    struct fixture *f = *state;
    int64_t seq;

    add_app(f, 20, "Fay", "Fox", NULL, NULL);
    add_app(f, 21, "Gus", "Gray", NULL, NULL);
    assert_int_equal(vet(f, &ALICE, "all"), 2);

    seq = head(f->db);
    assert_int_equal(rg_add_evidence(f->db, &BOB, 20, "Bad Kind!", "x"), -EINVAL);
    assert_int_equal(rg_add_evidence(f->db, &BOB, 20, "note", ""), -EINVAL);
    assert_int_equal(rg_add_evidence(f->db, &BOB, 999, "note", "text"), -ENOENT);
    assert_int_equal(head(f->db), seq);

    assert_int_equal(rg_add_evidence(f->db, &BOB, 20, "clp-report", "heckled the candidate at the AGM"), 0);
    assert_string_equal(col(f, 20, "verdict"), "review");
    assert_string_equal(col(f, 20, "rule"), "aims-and-values");
    assert_contains(col(f, 20, "reasons"), "clp-report #1 by bob:1001");
    assert_contains(col(f, 20, "reasons"), "heckled the candidate at the AGM");
    assert_string_equal(last_detail(f, "evidence.add", 20), "{\"kind\":\"clp-report\",\"text\":\"heckled the candidate at the AGM\"}");
    assert_contains(last_detail(f, "verdict.auto", 20), "\"to\":\"review\"");
    assert_int_equal(head(f->db), seq + 2);   /* the evidence and the verdict it caused */

    /* Only a person excludes on evidence: a re-vet leaves it in review. */
    assert_int_equal(vet(f, &ALICE, "all"), 0);
    assert_string_equal(col(f, 20, "verdict"), "review");

    assert_int_equal(rg_decide(f->db, &BOB, 21, RG_DECIDE_REFER, "CLP asks us to look again"), 0);
    assert_string_equal(col(f, 21, "verdict"), "review");
    assert_string_equal(col(f, 21, "rule"), "manual");
    assert_string_equal(col(f, 21, "ballot"), "0");
    assert_int_equal(rg_vet_one(f->db, &ALICE, 21), 0);
    assert_string_equal(col(f, 21, "verdict"), "review");
}

static void test_auto_exclude_off(void **state)
{
    struct fixture *f = *state;

    add_app(f, 30, "Hal", "Hart", NULL, "Greens");
    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "off"), 1);
    assert_int_equal(vet(f, &ALICE, "all"), 1);
    assert_string_equal(col(f, 30, "verdict"), "review");
    assert_string_equal(col(f, 30, "rule"), "declared-party");
    assert_string_equal(col(f, 30, "recommendation"), "excluded declared-party Green Party 1.00");
    assert_contains(last_detail(f, "verdict.auto", 30), "\"recommendation\":\"excluded declared-party Green Party 1.00\"");
    assert_string_equal(col(f, 30, "rules_version"), "2");

    /* A person confirms the rules' recommendation: no disagreement to mark. */
    assert_int_equal(rg_decide(f->db, &BOB, 30, RG_DECIDE_EXCLUDE, "confirmed: Green councillor"), 0);
    assert_string_equal(col(f, 30, "auto_disagrees"), "");
    assert_string_equal(col(f, 30, "recommendation"), "");
    assert_int_equal(rg_release(f->db, &BOB, 30), 0);

    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "on"), 1);
    assert_int_equal(vet(f, &ALICE, "all"), 1);
    assert_string_equal(col(f, 30, "verdict"), "excluded");
    assert_string_equal(col(f, 30, "recommendation"), "");
    assert_string_equal(col(f, 30, "rules_version"), "3");
}

static void test_ballot_column(void **state)
{
    struct fixture *f = *state;
    sqlite3_stmt *st = app_insert(f);

    add_app_full(f, st, 40, "Ike", "Ives", NULL, NULL, NULL, "2025-01-10");
    add_app_full(f, st, 41, "Jem", "Judd", NULL, NULL, NULL, "2026-06-20");
    sqlite3_finalize(st);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_freeze_date", "2026-01-01"), 1);
    assert_int_equal(vet(f, &ALICE, "all"), 2);
    assert_string_equal(col(f, 40, "ballot"), "1");
    assert_string_equal(col(f, 41, "ballot"), "0");
    assert_string_equal(col(f, 41, "verdict"), "approved");

    /* The freeze moves: only the ballot changes, and that is audited too. */
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_freeze_date", "2026-06-30"), 1);
    assert_int_equal(vet(f, &ALICE, "all"), 1);
    assert_string_equal(col(f, 41, "ballot"), "1");
    assert_contains(last_detail(f, "verdict.auto", 41), "\"ballot\":1");
}

/* ---- jobs ---- */

static void test_scopes(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *words;
        const char *canonical;   /* NULL: refused */
    } cases[] = {
        { "", "pending" }, { "pending", "pending" }, { "all", "all" },
        { "3 1 2 1", "ids 1 2 3" }, { "ids 7", "ids 7" }, { "clp bristol-west", "clp bristol-west" },
        { "verdict review", "verdict review" }, { "joined 2026-06-01 2026-06-30", "joined 2026-06-01 2026-06-30" },
        { "joined 2026-06-01", "joined 2026-06-01" },
        { "all now", NULL }, { "clp", NULL }, { "clp Bristol West", NULL }, { "verdict maybe", NULL },
        { "joined 2026-02-30", NULL }, { "joined 2026-07-01 2026-06-01", NULL }, { "x1", NULL },
        { "0", NULL }, { "ids", NULL }, { "1 2 3 4 5", NULL },   /* more than the 4 the buffer holds */
    };
    char copy[128], *w[8], *save = NULL, err[256];
    int64_t ids[4];
    rg_scope scope;

    (void)f;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = 0, rc;
        rg_buf text = RG_BUF_INIT;
        snprintf(copy, sizeof copy, "%s", cases[i].words);
        for (char *t = strtok_r(copy, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save))
            w[n++] = t;
        err[0] = '\0';
        rc = rg_scope_parse(n, w, &scope, ids, 4, err, sizeof err);
        if (!cases[i].canonical) {
            if (rc != -EINVAL || !*err)
                fail_msg("'%s' should be refused with a message", cases[i].words);
            continue;
        }
        if (rc != 0)
            fail_msg("'%s': %s", cases[i].words, err);
        rg_scope_format(&scope, &text);
        assert_string_equal(text.data, cases[i].canonical);
        rg_buf_free(&text);
    }
}

static void test_job_scopes(void **state)
{
    struct fixture *f = *state;
    sqlite3_stmt *st = app_insert(f);
    int64_t ids[2] = { 55, 9999 };
    rg_scope scope = { .kind = RG_SCOPE_IDS, .ids = ids, .nids = 2 };

    add_app_full(f, st, 50, "Kay", "Kent", NULL, NULL, "leeds-central", "2026-05-01");
    add_app_full(f, st, 51, "Lee", "Lowe", NULL, NULL, "bristol-west", "2026-05-02");
    add_app_full(f, st, 52, "Mo", "Mann", NULL, NULL, "leeds-central", "2026-06-15");
    add_app_full(f, st, 53, "Nat", "Nye", NULL, NULL, "bristol-west", "2026-06-16");
    add_app_full(f, st, 54, "Ona", "Oak", NULL, NULL, "bristol-west", "2026-06-17");
    add_app_full(f, st, 55, "Pip", "Pye", NULL, NULL, "bristol-west", "2026-06-18");
    sqlite3_finalize(st);

    assert_int_equal(vet(f, &ALICE, "clp leeds-central"), 2);
    assert_string_equal(col(f, 50, "verdict"), "approved");
    assert_string_equal(col(f, 51, "verdict"), "pending");
    assert_string_equal(col(f, 52, "verdict"), "approved");
    assert_int_equal(vet(f, &ALICE, "joined 2026-05-02 2026-06-16"), 2);   /* 51 and 53; 52 unchanged */
    assert_string_equal(col(f, 53, "verdict"), "approved");
    assert_string_equal(col(f, 54, "verdict"), "pending");
    assert_int_equal(vet(f, &ALICE, "54"), 1);
    assert_int_equal(vet(f, &ALICE, "verdict pending"), 1);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE verdict = 'pending'", 0), 0);
    assert_int_equal(vet(f, &ALICE, "joined 2026-06-18"), 0);

    /* An id that does not exist refuses the whole job. */
    assert_int_equal(rg_job_create(f->db, &ALICE, &scope, 0), -ENOENT);
    assert_contains(rg_db_errmsg(f->db), "9999");
}

static int stop_after_first(void *arg, int64_t done, int64_t total)
{
    int *calls = arg;

    (*calls)++;
    assert_true(done <= total);
    return 1;
}

static int count_calls(void *arg, int64_t done, int64_t total)
{
    int64_t *last = arg;

    assert_true(done >= *last);
    assert_true(done <= total);
    *last = done;
    return 0;
}

#define MANY 12345

static void add_many(struct fixture *f)
{
    sqlite3_stmt *st = app_insert(f);
    char given[32];

    sql_exec(f, "BEGIN");
    for (int i = 1; i <= MANY; i++) {
        snprintf(given, sizeof given, "Person%d", i);
        add_app_full(f, st, 1000 + 2 * i, given, "Many", NULL, i % 1000 == 0 ? "SWP" : NULL, NULL, NULL);
    }
    sql_exec(f, "COMMIT");
    sqlite3_finalize(st);
}

static void test_job_stopped_and_resumed(void **state)
{
    struct fixture *f = *state;
    rg_scope scope = { .kind = RG_SCOPE_ALL };
    int64_t id, unfinished[4], changed, last = 0;
    rg_job_info j;
    int calls = 0;

    add_many(f);
    id = rg_job_create(f->db, &ALICE, &scope, 0);
    assert_true(id > 0);
    assert_int_equal(rg_job_unfinished(f->db, unfinished, 4), 1);
    assert_int_equal(rg_job_get(f->db, id, &j), 0);
    assert_string_equal(j.state, "queued");
    assert_int_equal(j.total, MANY);

    /* Stopped after the first batch: that batch is committed, the rest waits. */
    changed = rg_job_run(f->db, id, stop_after_first, &calls);
    assert_int_equal(calls, 1);
    assert_true(changed > 0 && changed < MANY);
    assert_int_equal(rg_job_get(f->db, id, &j), 0);
    assert_string_equal(j.state, "running");
    assert_int_equal(j.done, changed);
    assert_int_equal(j.changed, changed);
    assert_int_equal(j.cursor, query_int(f, "SELECT max(id) FROM applicant WHERE verdict <> 'pending'", 0));
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE verdict = 'pending'", 0), MANY - changed);
    assert_int_equal(events(f, "verdict.auto"), changed);
    assert_int_equal(events(f, "job.finish"), 0);
    assert_int_equal(rg_job_unfinished(f->db, unfinished, 4), 1);
    assert_int_equal(unfinished[0], id);

    /* Resumed (as `regfs vet` resumes it): it carries on after its cursor and finishes. */
    assert_int_equal(rg_job_run(f->db, id, count_calls, &last), MANY - changed);
    assert_int_equal(last, MANY);
    assert_int_equal(rg_job_get(f->db, id, &j), 0);
    assert_string_equal(j.state, "done");
    assert_int_equal(j.total, MANY);
    assert_int_equal(j.done, MANY);
    assert_int_equal(j.changed, MANY);
    assert_string_not_equal(j.finished, "");
    assert_int_equal(rg_job_unfinished(f->db, unfinished, 4), 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE verdict = 'pending'", 0), 0);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE verdict = 'excluded'", 0), MANY / 1000);
    /* every applicant vetted once: one event each, none twice */
    assert_int_equal(events(f, "verdict.auto"), MANY);
    assert_int_equal(query_int(f, "SELECT count(DISTINCT applicant) FROM audit WHERE action = 'verdict.auto'", 0), MANY);
    assert_int_equal(events(f, "job.start"), 1);
    assert_int_equal(events(f, "job.finish"), 1);
    assert_int_equal(rg_job_run(f->db, id, NULL, NULL), -EINVAL);   /* ended */
    /* and the chain still holds */
    int64_t bad = 0;
    assert_int_equal(rg_audit_verify(f->db, &bad), head(f->db));
}

/*
 * One job, one runner: a job another live process holds is left alone (-EALREADY, nothing
 * written); once that process is killed, the job is free and runs to the end here.
 */
static void test_job_held_by_another_process(void **state)
{
    struct fixture *f = *state;
    rg_scope scope = { .kind = RG_SCOPE_ALL };
    int64_t id = 0;
    rg_job_info j;
    char want[64];
    int fds[2], status;
    pid_t child;

    add_many(f);
    assert_int_equal(pipe(fds), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {   /* the other process: creates the job (and so holds it), then waits */
        rg_db *db = NULL;
        int64_t made = rg_db_open(f->path, 0, &db) < 0 ? -1 : rg_job_create(db, &BOB, &scope, 0);
        if (write(fds[1], &made, sizeof made) != sizeof made)
            _exit(1);
        pause();
        _exit(0);
    }
    assert_int_equal(read(fds[0], &id, sizeof id), (ssize_t)sizeof id);
    close(fds[0]);
    close(fds[1]);
    assert_true(id > 0);

    assert_int_equal(rg_job_run(f->db, id, NULL, NULL), -EALREADY);
    snprintf(want, sizeof want, "is being run by process %ld", (long)child);
    assert_non_null(strstr(rg_db_errmsg(f->db), want));
    assert_int_equal(rg_job_get(f->db, id, &j), 0);
    assert_string_equal(j.state, "queued");
    assert_int_equal(j.done, 0);
    assert_int_equal(rg_job_owner_pid(&j), child);
    assert_int_equal(events(f, "verdict.auto"), 0);

    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_int_equal(rg_job_get(f->db, id, &j), 0);
    assert_int_equal(rg_job_owner_pid(&j), 0);   /* dead: the job is free */
    assert_int_equal(rg_job_run(f->db, id, NULL, NULL), MANY);
    assert_int_equal(rg_job_get(f->db, id, &j), 0);
    assert_string_equal(j.state, "done");
    assert_string_equal(j.owner, "");
    assert_int_equal(events(f, "verdict.auto"), MANY);
}

/* A few days of a big register: read through the day index, the same verdicts. */
static void test_job_narrow_joined(void **state)
{
    struct fixture *f = *state;
    sqlite3_stmt *st;

    add_many(f);
    st = app_insert(f);
    add_app_full(f, st, 500, "Rex", "Reid", NULL, NULL, NULL, "2026-05-01");
    add_app_full(f, st, 40000, "Sam", "Sell", NULL, "Greens", NULL, "2026-05-31T23:59:59Z");
    add_app_full(f, st, 40001, "Tia", "Toms", NULL, NULL, NULL, "2026-06-01");
    sqlite3_finalize(st);
    sql_exec(f, "UPDATE applicant SET joined_day = substr(joined_at, 1, 10)");
    assert_int_equal(vet(f, &ALICE, "joined 2026-05-01 2026-05-31"), 2);
    assert_string_equal(col(f, 500, "verdict"), "approved");
    assert_string_equal(col(f, 40000, "verdict"), "excluded");
    assert_string_equal(col(f, 40001, "verdict"), "pending");
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE verdict = 'pending'", 0), MANY + 1);
    assert_int_equal(vet(f, &ALICE, "joined 2026-06-01"), 1 + MANY);
}

/* A person decides while a job runs: the job reads ahead, but never overwrites the decision. */
struct meddle {
    const char *path;
    int64_t target;
    int done;
};

static int decide_meanwhile(void *arg, int64_t done, int64_t total)
{
    struct meddle *m = arg;
    rg_db *other = NULL;

    (void)done, (void)total;
    if (m->done++)
        return 0;
    assert_int_equal(rg_db_open(m->path, 0, &other), 0);
    if (rg_decide(other, &BOB, m->target, RG_DECIDE_EXCLUDE, "known to the regional office") < 0)
        fail_msg("rg_decide: %s", rg_db_errmsg(other));
    rg_db_close(other);
    return 0;
}

static void test_decision_during_job(void **state)
{
    struct fixture *f = *state;
    struct meddle m = { f->path, 1000 + 2 * 7001, 0 };   /* in the second batch */
    rg_scope scope = { .kind = RG_SCOPE_ALL };
    int64_t id;

    add_many(f);
    id = rg_job_create(f->db, &ALICE, &scope, 0);
    assert_true(id > 0);
    assert_true(rg_job_run(f->db, id, decide_meanwhile, &m) >= MANY - 1);
    assert_int_equal(m.done > 0, 1);
    assert_string_equal(col(f, m.target, "verdict"), "excluded");
    assert_string_equal(col(f, m.target, "rule"), "manual");
    assert_string_equal(col(f, m.target, "auto_disagrees"), "approved");
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE verdict = 'pending'", 0), 0);
}

static void test_cancel(void **state)
{
    struct fixture *f = *state;
    rg_scope scope = { .kind = RG_SCOPE_PENDING };
    int64_t id, unfinished[2];
    rg_job_info j;

    add_app(f, 60, "Quin", "Quill", NULL, NULL);
    id = rg_job_create(f->db, &ALICE, &scope, 0);
    assert_int_equal(rg_job_cancel(f->db, &BOB, id), 0);
    assert_int_equal(rg_job_get(f->db, id, &j), 0);
    assert_string_equal(j.state, "cancelled");
    assert_int_equal(rg_job_unfinished(f->db, unfinished, 2), 0);
    assert_int_equal(events(f, "job.cancel"), 1);
    assert_int_equal(rg_job_cancel(f->db, &BOB, id), -EINVAL);
    assert_int_equal(rg_job_run(f->db, id, NULL, NULL), -EINVAL);
    assert_int_equal(rg_job_cancel(f->db, &BOB, 12345), -ENOENT);
    assert_string_equal(col(f, 60, "verdict"), "pending");
}

/* A cancel from another connection (a ctl file) is seen at the next batch. */
static int cancel_meanwhile(void *arg, int64_t done, int64_t total)
{
    struct meddle *m = arg;
    rg_db *other = NULL;

    (void)done, (void)total;
    if (m->done++)
        return 0;
    assert_int_equal(rg_db_open(m->path, 0, &other), 0);
    if (rg_job_cancel(other, &BOB, m->target) < 0)
        fail_msg("rg_job_cancel: %s", rg_db_errmsg(other));
    rg_db_close(other);
    return 0;
}

static void test_cancel_while_running(void **state)
{
    struct fixture *f = *state;
    rg_scope scope = { .kind = RG_SCOPE_PENDING };
    struct meddle m = { f->path, 0, 0 };
    int64_t changed;
    rg_job_info j;

    add_many(f);
    m.target = rg_job_create(f->db, &ALICE, &scope, 0);
    changed = rg_job_run(f->db, m.target, cancel_meanwhile, &m);
    assert_int_equal(m.done, 1);
    assert_true(changed > 0 && changed < MANY);
    assert_int_equal(rg_job_get(f->db, m.target, &j), 0);
    assert_string_equal(j.state, "cancelled");
    assert_int_equal(j.done, changed);
    assert_int_equal(query_int(f, "SELECT count(*) FROM applicant WHERE verdict = 'pending'", 0), MANY - changed);
    assert_int_equal(events(f, "job.cancel"), 1);
    assert_int_equal(events(f, "job.finish"), 0);
    assert_int_equal(rg_job_run(f->db, m.target, NULL, NULL), -EINVAL);
}

static void test_verdict_names(void **state)
{
    (void)state;
    for (int v = RG_PENDING; v <= RG_REVIEW; v++)
        assert_int_equal(rg_verdict_parse(rg_verdict_name((enum rg_verdict)v)), v);
    assert_int_equal(rg_verdict_parse("maybe"), -1);
    assert_int_equal(rg_verdict_parse(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vet_all_then_nothing_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requested_revet_is_logged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manual_decision_survives, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refer_and_evidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_exclude_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ballot_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_scopes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_stopped_and_resumed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_narrow_joined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decision_during_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_job_held_by_another_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_while_running, setup, teardown),
        cmocka_unit_test(test_verdict_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
