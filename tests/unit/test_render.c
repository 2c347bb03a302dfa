/*
 * test_render.c: the exact bytes of every rendered file (render.h, README.md ("File formats")).
 *
 * The fixture is a real register made with rg_db_open(RG_OPEN_CREATE) in a temporary directory and
 * filled with SQL, so that every value is known: a watch-list exclusion with a tab, a newline, a
 * backslash and UTF-8 in its values; a manual decision whose reason needs percent-encoding; a pending
 * applicant; fifty plain ones for batching; evidence, a watch-list entry, a job and audit events
 * (appended through audit.c, at a fixed clock, for applicants 42 and 4 so that "4" must not match
 * "42").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db_internal.h"
#include "fixture.h"
#include "render.h"

static char tmpdir[PATH_MAX];
static rg_db *db;

static const char FIXTURE_SQL[] =
    "INSERT INTO applicant(id, given_name, family_name, date_of_birth, email, postcode, clp, clp_slug,"
    " kind, joined_at, joined_day, declared_party, aims_values, verdict, rule, score, reasons,"
    " decided_by, decided_at, manual, manual_reason, auto_disagrees, recommendation, ballot,"
    " rules_version, watchlist_version, changed_ns) VALUES"
    " (42, 'Siân', 'O''Brien' || char(9) || 'Smith', '1980-02-29', 'sian@example.org', 'CF10 1AA',"
    "  'Cardiff Central', 'cardiff-central', 'member', '2026-11-20T09:15:00Z', '2026-11-20',"
    "  'Left\\Right' || char(10) || 'Party', 'yes', 'excluded', 'watch-list', 0.97,"
    "  '[{\"rule\":\"watch-list\",\"outcome\":\"excluded\",\"score\":0.97,"
    "\"reason\":\"matches W00017 (name, date of birth)\\nline two\",\"evidence\":\"W00017\"},"
    "{\"outcome\":\"approved\",\"rule\":\"declared-party\",\"score\":0}]',"
    "  'regfs', '2026-11-24T08:00:00Z', 0, '', '', '', 0, 3, 7, 1795507200123456789),"
    " (7, 'Bill', 'Jones', '1975-06-01', 'bill@example.org', 'M1 1AE', 'Manchester Central',"
    "  'manchester-central', 'registered_supporter', '2026-11-21', '2026-11-21', '', 'yes',"
    "  'approved', 'manual', 0, '[]', 'alice:1000', '2026-11-25T10:30:00Z', 1,"
    "  'Spoke to the CLP secretary: 100% fine' || char(13) || char(10) || 'ok', 'excluded', '', 1,"
    "  3, 7, 1795602600000000000),"
    " (5, 'Ann', 'Lee', '', '', '', 'Bristol West', 'bristol-west', 'affiliated_supporter',"
    "  '2026-11-22', '2026-11-22', '', 'no', 'pending', '', 0, '[]', '', '', 0, '', '', '', 0, 0, 0,"
    "  1795000000000000005),"
    /* every escape at once, and text that looks like an escape already */
    " (9, 'back\\t' || char(9), char(13) || char(10) || '\\\\', '', '', '', 'Leeds' || char(9) || 'East',"
    "  'leeds-east', 'member', '2026-11-22', '2026-11-22',"
    "  '\\n\\' || char(1, 8, 12, 31, 34, 47, 127) || 'é€😀', 'yes', 'review', 'aims-values',"
    "  0.5, '[]', 'regfs', '2026-11-24T08:00:00Z', 0, '', '', 'excluded', 0, 3, 7, 1795000000000000009);"
    "WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < 149)"
    " INSERT INTO applicant(id, given_name, family_name, clp, clp_slug, kind, joined_at, joined_day,"
    " aims_values, verdict, rule, score, decided_by, decided_at, ballot, changed_ns)"
    " SELECT i, 'Given' || i, 'Family' || i, 'Leeds East', 'leeds-east', 'member', '2026-11-23',"
    " '2026-11-23', 'yes', 'approved', 'clear', i / 1000.0, 'regfs', '2026-11-24T08:00:00Z', i % 2,"
    " 1795000000000000000 + i FROM n;"
    "INSERT INTO evidence(applicant_id, kind, text, added_by, added_at) VALUES"
    " (42, 'clp-report', 'Seen leafleting for the SWP' || char(10) || 'twice', 'bob:1001',"
    "  '2026-11-23T12:00:00Z'),"
    " (42, 'note', 'Checked \"W00017\"', 'alice:1000', '2026-11-23T13:00:00Z');"
    "INSERT INTO watchlist(ino, id, given_name, family_name, date_of_birth, email, postcode,"
    " organisation, role, source, changed_ns) VALUES"
    " (1, 'W00017', 'Siân', 'O''Brien', '1980-02-29', '', 'CF10 1AA', 'Socialist Workers Party',"
    "  'branch secretary', 'https://example.org/a\\b' || char(10) || 'p. 3', 1794000000000000017);"
    "INSERT INTO job(id, scope, requested_by, state, total, done, changed, cursor, started, finished,"
    " error, changed_ns) VALUES"
    " (3, 'clp cardiff-central', 'alice:1000', 'done', 120, 120, 4, 99, '2026-11-24T09:00:00Z',"
    "  '2026-11-24T09:01:30Z', '', 1795510890000000000);";

static int append_event(const char *action, int64_t applicant, const char *key, const char *value)
{
    rg_actor who;

    rg_actor_daemon(&who);
    return rg_audit_append(db, &who, action, applicant, json_pack("{s:s}", key, value)) > 0 ? 0 : -1;
}

static int setup(void **state)
{
    char path[PATH_MAX + 16];
    char *err = NULL;

    if (fixture_register("render", tmpdir, sizeof tmpdir, path, sizeof path, &db) < 0)
        return -1;
    if (sqlite3_exec(db->sql, FIXTURE_SQL, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "fixture: %s\n", err);
        sqlite3_free(err);
        return -1;
    }
    setenv("REGFS_NOW", "1795507200", 1);   /* 2026-11-24T08:00:00Z */
    if (rg_db_begin(db) < 0 ||
        append_event("applicant.import", 42, "file", "surge.csv") < 0 ||
        append_event("applicant.import", 4, "file", "surge.csv") < 0 ||
        append_event("setting.set", 0, "key", "auto_exclude") < 0 ||
        append_event("verdict.auto", 42, "verdict", "excluded\ttab") < 0 ||
        append_event("verdict.auto", 4, "verdict", "approved") < 0 ||
        rg_db_commit(db) < 0) {
        fprintf(stderr, "audit: %s\n", rg_db_errmsg(db));
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    rg_db_close(db);
    fixture_remove(tmpdir);
    return 0;
}

/* Renders one applicant file into a fresh string; fails the test on an error. */
static char *render(int64_t id, enum rg_applicant_file which, int64_t *mtime)
{
    rg_buf b = RG_BUF_INIT;
    int rc = rg_render_applicant(db, id, which, &b, mtime);

    if (rc != 0)
        fail_msg("rendering %s of %lld: %d %s", rg_applicant_file_names[which], (long long)id, rc,
                 rg_db_errmsg(db));
    return rg_buf_steal(&b);
}

/* s starts with prefix. */
static void assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("expected a prefix of\n%s\ngot\n%.*s", prefix, (int)strlen(prefix), s);
}

static char *export_all(enum rg_export_format fmt)
{
    rg_buf b = RG_BUF_INIT;
    int64_t last = 0;

    rg_export_header(fmt, &b);
    assert_int_equal(rg_export_rows(db, fmt, 0, INT_MAX, &b, &last, NULL), 54);
    assert_int_equal(last, 149);
    return rg_buf_steal(&b);
}

/* ---- exact bytes ---- */

static void test_file_names(void **state)
{
    assert_string_equal(rg_applicant_file_names[RG_FILE_SUMMARY], "summary");
    assert_string_equal(rg_applicant_file_names[RG_FILE_RECORD_JSON], "record.json");
    assert_string_equal(rg_applicant_file_names[RG_FILE_VERDICT], "verdict");
    assert_string_equal(rg_applicant_file_names[RG_FILE_HISTORY], "history");
}

static void test_summary_bytes(void **state)
{
    int64_t mtime = 0;
    char *s = render(42, RG_FILE_SUMMARY, &mtime);

    assert_string_equal(s,
        "id: 42\n"
        "given_name: Siân\n"
        "family_name: O'Brien\\tSmith\n"
        "date_of_birth: 1980-02-29\n"
        "email: sian@example.org\n"
        "postcode: CF10 1AA\n"
        "clp: Cardiff Central\n"
        "kind: member\n"
        "joined_at: 2026-11-20T09:15:00Z\n"
        "declared_party: Left\\\\Right\\nParty\n"
        "aims_values: yes\n"
        "verdict: excluded\n"
        "rule: watch-list\n"
        "score: 0.97\n"
        "decided_by: regfs\n"
        "decided_at: 2026-11-24T08:00:00Z\n"
        "ballot: no\n"
        "manual_reason: \n"
        "auto_disagrees: \n"
        "recommendation: \n"
        "rules_version: 3\n"
        "watchlist_version: 7\n"
        "reason: watch-list excluded 0.97 matches W00017 (name, date of birth)\\nline two\n"
        "reason: declared-party approved 0.00\n");
    assert_int_equal(mtime, 1795507200123456789LL);
    free(s);
}

static void test_summary_manual_and_pending(void **state)
{
    char *s = render(7, RG_FILE_SUMMARY, NULL);

    assert_non_null(strstr(s, "\nverdict: approved\nrule: manual\nscore: 0.00\n"
                              "decided_by: alice:1000\ndecided_at: 2026-11-25T10:30:00Z\nballot: yes\n"
                              "manual_reason: Spoke to the CLP secretary: 100% fine\\r\\nok\n"
                              "auto_disagrees: excluded\nrecommendation: \nrules_version: 3\n"
                              "watchlist_version: 7\n"));
    /* no reasons: the file ends at watchlist_version */
    assert_string_equal(s + strlen(s) - strlen("watchlist_version: 7\n"), "watchlist_version: 7\n");
    free(s);
    s = render(5, RG_FILE_SUMMARY, NULL);
    assert_non_null(strstr(s, "\nverdict: pending\nrule: \nscore: 0.00\ndecided_by: \ndecided_at: \n"
                              "ballot: no\n"));
    free(s);
}

static void test_verdict_line(void **state)
{
    int64_t mtime = 0;
    char *s = render(42, RG_FILE_VERDICT, &mtime);

    assert_string_equal(s, "excluded rule=watch-list score=0.97 by=regfs at=2026-11-24T08:00:00Z\n");
    assert_int_equal(mtime, 1795507200123456789LL);
    free(s);
    /* manual: the reason at the end, percent-encoded so that the line splits on spaces */
    s = render(7, RG_FILE_VERDICT, NULL);
    assert_string_equal(s, "approved rule=manual score=0.00 by=alice:1000 at=2026-11-25T10:30:00Z"
                           " reason=Spoke%20to%20the%20CLP%20secretary:%20100%25%20fine%0D%0Aok"
                           " auto_disagrees=excluded\n");
    free(s);
    s = render(5, RG_FILE_VERDICT, NULL);
    assert_string_equal(s, "pending rule= score=0.00 by= at=\n");
    free(s);
    s = render(9, RG_FILE_VERDICT, NULL);
    assert_string_equal(s, "review rule=aims-values score=0.50 by=regfs at=2026-11-24T08:00:00Z"
                           " recommendation=excluded\n");
    free(s);
}

static void test_record_json_bytes(void **state)
{
    int64_t mtime = 0;
    char *s = render(42, RG_FILE_RECORD_JSON, &mtime);

    assert_string_equal(s,
        "{\n"
        "  \"aims_values\": \"yes\",\n"
        "  \"auto_disagrees\": \"\",\n"
        "  \"ballot\": false,\n"
        "  \"clp\": \"Cardiff Central\",\n"
        "  \"clp_slug\": \"cardiff-central\",\n"
        "  \"date_of_birth\": \"1980-02-29\",\n"
        "  \"decided_at\": \"2026-11-24T08:00:00Z\",\n"
        "  \"decided_by\": \"regfs\",\n"
        "  \"declared_party\": \"Left\\\\Right\\nParty\",\n"
        "  \"email\": \"sian@example.org\",\n"
        "  \"evidence\": [\n"
        "    {\n"
        "      \"added_at\": \"2026-11-23T12:00:00Z\",\n"
        "      \"added_by\": \"bob:1001\",\n"
        "      \"kind\": \"clp-report\",\n"
        "      \"text\": \"Seen leafleting for the SWP\\ntwice\"\n"
        "    },\n"
        "    {\n"
        "      \"added_at\": \"2026-11-23T13:00:00Z\",\n"
        "      \"added_by\": \"alice:1000\",\n"
        "      \"kind\": \"note\",\n"
        "      \"text\": \"Checked \\\"W00017\\\"\"\n"
        "    }\n"
        "  ],\n"
        "  \"family_name\": \"O'Brien\\tSmith\",\n"
        "  \"given_name\": \"Siân\",\n"
        "  \"id\": 42,\n"
        "  \"joined_at\": \"2026-11-20T09:15:00Z\",\n"
        "  \"joined_day\": \"2026-11-20\",\n"
        "  \"kind\": \"member\",\n"
        "  \"manual\": false,\n"
        "  \"manual_reason\": \"\",\n"
        "  \"postcode\": \"CF10 1AA\",\n"
        "  \"reasons\": [\n"
        "    {\n"
        "      \"evidence\": \"W00017\",\n"
        "      \"outcome\": \"excluded\",\n"
        "      \"reason\": \"matches W00017 (name, date of birth)\\nline two\",\n"
        "      \"rule\": \"watch-list\",\n"
        "      \"score\": 0.97\n"
        "    },\n"
        "    {\n"
        "      \"outcome\": \"approved\",\n"
        "      \"rule\": \"declared-party\",\n"
        "      \"score\": 0\n"
        "    }\n"
        "  ],\n"
        "  \"recommendation\": \"\",\n"
        "  \"rule\": \"watch-list\",\n"
        "  \"rules_version\": 3,\n"
        "  \"score\": 0.97,\n"
        "  \"verdict\": \"excluded\",\n"
        "  \"watchlist_version\": 7\n"
        "}\n");
    assert_int_equal(mtime, 1795507200123456789LL);
    free(s);
}

static void test_record_json_parses(void **state)
{
    static const int64_t ids[] = { 5, 7, 9, 42, 100 };

    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *s = render(ids[i], RG_FILE_RECORD_JSON, NULL);
        json_error_t err;
        json_t *o = json_loads(s, JSON_REJECT_DUPLICATES, &err);

        if (!o)
            fail_msg("record.json of %lld: %s", (long long)ids[i], err.text);
        assert_int_equal(json_integer_value(json_object_get(o, "id")), ids[i]);
        assert_true(json_is_array(json_object_get(o, "reasons")));
        assert_true(json_is_array(json_object_get(o, "evidence")));
        assert_true(json_is_boolean(json_object_get(o, "ballot")));
        assert_true(json_is_string(json_object_get(o, "verdict")));
        if (ids[i] == 9) {   /* control characters survive the round trip */
            assert_string_equal(json_string_value(json_object_get(o, "given_name")), "back\\t\t");
            assert_string_equal(json_string_value(json_object_get(o, "family_name")), "\r\n\\\\");
        }
        if (ids[i] == 7) {
            assert_true(json_is_true(json_object_get(o, "ballot")));
            assert_true(json_is_true(json_object_get(o, "manual")));
            assert_int_equal(json_array_size(json_object_get(o, "evidence")), 0);
        }
        json_decref(o);
        free(s);
    }
}

static void test_watch_bytes(void **state)
{
    rg_buf b = RG_BUF_INIT;
    int64_t mtime = 0;

    assert_int_equal(rg_render_watch(db, "W00017", &b, &mtime), 0);
    assert_string_equal(b.data,
        "id: W00017\n"
        "given_name: Siân\n"
        "family_name: O'Brien\n"
        "date_of_birth: 1980-02-29\n"
        "email: \n"
        "postcode: CF10 1AA\n"
        "organisation: Socialist Workers Party\n"
        "role: branch secretary\n"
        "source: https://example.org/a\\\\b\\np. 3\n");
    assert_int_equal(mtime, 1794000000000000017LL);
    rg_buf_free(&b);
}

static void test_job_bytes(void **state)
{
    rg_buf b = RG_BUF_INIT;
    int64_t mtime = 0;

    assert_int_equal(rg_render_job(db, 3, &b, &mtime), 0);
    assert_string_equal(b.data,
        "id: 3\n"
        "scope: clp cardiff-central\n"
        "state: done\n"
        "total: 120\n"
        "done: 120\n"
        "changed: 4\n"
        "requested_by: alice:1000\n"
        "started: 2026-11-24T09:00:00Z\n"
        "finished: 2026-11-24T09:01:30Z\n"
        "error: \n");
    assert_int_equal(mtime, 1795510890000000000LL);
    rg_buf_free(&b);
}

/* ---- history ---- */

struct collect {
    const char *applicant;
    rg_buf buf;
    int n;
};

static int collect_event(const rg_audit_event *ev, void *arg)
{
    struct collect *c = arg;

    if (strcmp(ev->applicant, c->applicant) == 0) {
        rg_audit_format(ev, &c->buf);
        c->n++;
    }
    return 0;
}

static void test_history(void **state)
{
    struct collect c = { .applicant = "42", .buf = RG_BUF_INIT };
    rg_audit_filter all = { 0 };
    int64_t mtime = 0;
    char *s;

    /* The expected lines come from a scan of the whole log, filtered here, not by the query. */
    assert_int_equal(rg_audit_scan(db, &all, collect_event, &c), 0);
    assert_int_equal(c.n, 2);
    s = render(42, RG_FILE_HISTORY, &mtime);
    assert_string_equal(s, c.buf.data);
    assert_prefix(s, "1\t2026-11-24T08:00:00Z\tregfs\tapplicant.import\t42\t{\"file\":\"surge.csv\"}\t");
    assert_non_null(strstr(s, "\n4\t2026-11-24T08:00:00Z\tregfs\tverdict.auto\t42\t{\"verdict\":\"excluded\\ttab\"}\t"));
    assert_int_equal(mtime, 1795507200123456789LL);
    free(s);
    rg_buf_free(&c.buf);

    /* An applicant without events has an empty history, not an error. */
    s = render(7, RG_FILE_HISTORY, &mtime);
    assert_string_equal(s, "");
    assert_int_equal(mtime, 1795602600000000000LL);
    free(s);
}

/* ---- errors ---- */

static void test_missing_objects(void **state)
{
    rg_buf b = RG_BUF_INIT;
    int64_t mtime = 12345;

    rg_buf_adds(&b, "keep");
    for (int f = 0; f < RG_FILE_COUNT; f++) {
        assert_int_equal(rg_render_applicant(db, 4, (enum rg_applicant_file)f, &b, &mtime), -ENOENT);
        assert_int_equal(rg_render_applicant(db, 999, (enum rg_applicant_file)f, &b, &mtime), -ENOENT);
        assert_non_null(strstr(rg_db_errmsg(db), "999"));
    }
    assert_int_equal(rg_render_watch(db, "W99999", &b, &mtime), -ENOENT);
    assert_int_equal(rg_render_watch(db, "", &b, &mtime), -ENOENT);
    assert_int_equal(rg_render_job(db, 999, &b, &mtime), -ENOENT);
    assert_int_equal(rg_render_applicant(db, 42, RG_FILE_COUNT, &b, &mtime), -EINVAL);
    /* nothing appended, nothing stamped */
    assert_string_equal(b.data, "keep");
    assert_int_equal(b.len, 4);
    assert_int_equal(mtime, 12345);
    rg_buf_free(&b);
}

static void test_damaged_reasons(void **state)
{
    char path[PATH_MAX + 16], *err = NULL;
    rg_db *saved = db;
    rg_buf b = RG_BUF_INIT;
    int64_t last = 0;

    snprintf(path, sizeof path, "%s/damaged.db", tmpdir);
    assert_int_equal(rg_db_open(path, RG_OPEN_CREATE, &db), 0);
    assert_int_equal(sqlite3_exec(db->sql,
        "INSERT INTO applicant(id, given_name, family_name, clp, clp_slug, kind, joined_at, joined_day,"
        " aims_values, reasons, changed_ns) VALUES (1, 'A', 'B', 'C', 'c', 'member', '2026-11-01',"
        " '2026-11-01', 'yes', '[{\"rule\":', 1), (2, 'A', 'B', 'C', 'c', 'member', '2026-11-01',"
        " '2026-11-01', 'yes', '{\"rule\":\"x\"}', 1), (3, CAST(X'41C3' AS TEXT), 'B', 'C', 'c', 'member',"
        " '2026-11-01', '2026-11-01', 'yes', '[]', 1)", NULL, NULL, &err), SQLITE_OK);
    for (int64_t id = 1; id <= 2; id++) {
        assert_int_equal(rg_render_applicant(db, id, RG_FILE_SUMMARY, &b, NULL), -EIO);
        assert_non_null(strstr(rg_db_errmsg(db), id == 1 ? "applicant 1:" : "applicant 2:"));
        assert_int_equal(rg_render_applicant(db, id, RG_FILE_RECORD_JSON, &b, NULL), -EIO);
        assert_int_equal(b.len, 0);
        /* what does not show the reasons still renders */
        assert_int_equal(rg_render_applicant(db, id, RG_FILE_VERDICT, &b, NULL), 0);
        rg_buf_reset(&b);
    }
    assert_int_equal(rg_export_rows(db, RG_EXPORT_JSONL, 0, 10, &b, &last, NULL), -EIO);
    assert_int_equal(b.len, 0);
    assert_int_equal(last, 0);
    /* text that is not UTF-8 cannot be JSON: an error naming the applicant, not a bad line */
    assert_int_equal(rg_render_applicant(db, 3, RG_FILE_RECORD_JSON, &b, NULL), -EIO);
    assert_non_null(strstr(rg_db_errmsg(db), "applicant 3: stored text is not valid UTF-8"));
    assert_int_equal(rg_export_rows(db, RG_EXPORT_JSONL, 2, 10, &b, &last, NULL), -EIO);
    assert_non_null(strstr(rg_db_errmsg(db), "applicant 3: given_name is not valid UTF-8"));
    assert_int_equal(b.len, 0);
    assert_int_equal(rg_export_rows(db, RG_EXPORT_TSV, 0, 10, &b, &last, NULL), 3);
    assert_int_equal(last, 3);
    rg_buf_free(&b);
    rg_db_close(db);
    db = saved;
}

/* Scores show two decimals everywhere, JSON the same rounded value; a tiny negative is not "-0.00". */
static void test_score_forms(void **state)
{
    static const struct { double score; const char *text, *json; } cases[] = {
        { 1.0, "1.00", "1.0" }, { -0.0001, "0.00", "0.0" }, { 0.125, "0.12", "0.12" },
        { 0.995, "0.99", "0.99" }, { 0.9999, "1.00", "1.0" }, { 0.5, "0.50", "0.5" },
    };
    char path[PATH_MAX + 16], sql[512], want[128], *err = NULL;
    rg_db *saved = db;
    rg_buf b = RG_BUF_INIT;
    int64_t last = 0;

    snprintf(path, sizeof path, "%s/scores.db", tmpdir);
    assert_int_equal(rg_db_open(path, RG_OPEN_CREATE, &db), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO applicant(id, given_name, family_name, clp, clp_slug, kind, joined_at,"
                 " joined_day, aims_values, verdict, rule, score, changed_ns) VALUES (%zu, 'A', 'B', 'C',"
                 " 'c', 'member', '2026-11-01', '2026-11-01', 'yes', 'review', 'watch-list', %.17g, 1)",
                 i + 1, cases[i].score);
        assert_int_equal(sqlite3_exec(db->sql, sql, NULL, NULL, &err), SQLITE_OK);

        rg_buf_reset(&b);
        assert_int_equal(rg_render_applicant(db, (int64_t)i + 1, RG_FILE_VERDICT, &b, NULL), 0);
        snprintf(want, sizeof want, "review rule=watch-list score=%s by= at=\n", cases[i].text);
        assert_string_equal(b.data, want);
        rg_buf_reset(&b);
        assert_int_equal(rg_render_applicant(db, (int64_t)i + 1, RG_FILE_SUMMARY, &b, NULL), 0);
        snprintf(want, sizeof want, "\nscore: %s\n", cases[i].text);
        assert_non_null(strstr(b.data, want));
        rg_buf_reset(&b);
        assert_int_equal(rg_export_rows(db, RG_EXPORT_TSV, (int64_t)i, 1, &b, &last, NULL), 1);
        snprintf(want, sizeof want, "\t%s\t\tno\n", cases[i].text);
        assert_non_null(strstr(b.data, want));
        rg_buf_reset(&b);
        assert_int_equal(rg_export_rows(db, RG_EXPORT_JSONL, (int64_t)i, 1, &b, &last, NULL), 1);
        snprintf(want, sizeof want, ",\"score\":%s,", cases[i].json);
        assert_non_null(strstr(b.data, want));
        rg_buf_reset(&b);
        assert_int_equal(rg_render_applicant(db, (int64_t)i + 1, RG_FILE_RECORD_JSON, &b, NULL), 0);
        snprintf(want, sizeof want, "\n  \"score\": %s,\n", cases[i].json);
        assert_non_null(strstr(b.data, want));
    }
    rg_buf_free(&b);
    rg_db_close(db);
    db = saved;
}

/* ---- export ---- */

static void test_tsv_header_and_rows(void **state)
{
    char *s = export_all(RG_EXPORT_TSV), *p;
    int lines = 0;

    assert_prefix(s, "id\tkind\tgiven_name\tfamily_name\tdate_of_birth\temail\tpostcode\tclp\t"
                                "joined_at\tdeclared_party\taims_values\tverdict\trule\tscore\t"
                                "decided_by\tballot\n");
    assert_non_null(strstr(s, "\n42\tmember\tSiân\tO'Brien\\tSmith\t1980-02-29\tsian@example.org\t"
                              "CF10 1AA\tCardiff Central\t2026-11-20T09:15:00Z\tLeft\\\\Right\\nParty\t"
                              "yes\texcluded\twatch-list\t0.97\tregfs\tno\n"));
    assert_non_null(strstr(s, "\n7\tregistered_supporter\tBill\tJones\t1975-06-01\tbill@example.org\t"
                              "M1 1AE\tManchester Central\t2026-11-21\t\tyes\tapproved\tmanual\t0.00\t"
                              "alice:1000\tyes\n"));
    assert_non_null(strstr(s, "\n5\taffiliated_supporter\tAnn\tLee\t\t\t\tBristol West\t2026-11-22\t\tno\t"
                              "pending\t\t0.00\t\tno\n"));
    assert_non_null(strstr(s, "\n101\tmember\tGiven101\tFamily101\t\t\t\tLeeds East\t2026-11-23\t\tyes\t"
                              "approved\tclear\t0.10\tregfs\tyes\n"));
    /* id order, every line 16 fields */
    for (p = s; *p; p = strchr(p, '\n') + 1) {
        int tabs = 0;
        for (char *q = p; *q != '\n'; q++)
            tabs += *q == '\t';
        assert_int_equal(tabs, 15);
        lines++;
    }
    assert_int_equal(lines, 55);
    assert_true(strstr(s, "\n5\t") < strstr(s, "\n7\t"));
    assert_true(strstr(s, "\n9\t") < strstr(s, "\n42\t"));
    assert_true(strstr(s, "\n42\t") < strstr(s, "\n100\t"));
    free(s);
}

/* Undoes the TSV escapes of one field in place; returns its length, or -1 for a stray backslash. */
static long tsv_unescape(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        if (*r != '\\') {
            *w++ = *r;
            continue;
        }
        switch (*++r) {
        case 't': *w++ = '\t'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case '\\': *w++ = '\\'; break;
        default: return -1;
        }
    }
    *w = '\0';
    return w - s;
}

static void test_tsv_round_trip(void **state)
{
    static const char *const cols[] = {
        "id", "kind", "given_name", "family_name", "date_of_birth", "email", "postcode", "clp",
        "joined_at", "declared_party", "aims_values", "verdict", "rule", "score", "decided_by",
        "ballot",
    };
    char *s = export_all(RG_EXPORT_TSV), *line, *save = NULL;
    sqlite3_stmt *st;
    int rows = 0;

    /* Each field, unescaped, must be the stored text (score and ballot in their shown forms). */
    assert_int_equal(sqlite3_prepare_v2(db->sql,
        "SELECT id, kind, given_name, family_name, date_of_birth, email, postcode, clp, joined_at,"
        " declared_party, aims_values, verdict, rule, score, decided_by,"
        " CASE ballot WHEN 1 THEN 'yes' ELSE 'no' END FROM applicant ORDER BY id", -1, &st, NULL),
        SQLITE_OK);
    line = strtok_r(s, "\n", &save);   /* the header */
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *field = line;
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        for (int i = 0; i < 16; i++) {
            char *tab = strchr(field, '\t');
            char score[32];
            const char *want = (const char *)sqlite3_column_text(st, i);
            if (tab)
                *tab = '\0';
            assert_true(i == 15 ? tab == NULL : tab != NULL);
            if (tsv_unescape(field) < 0)
                fail_msg("row %d %s: stray backslash", rows, cols[i]);
            if (i == 13)   /* the score: two decimals */
                want = (snprintf(score, sizeof score, "%.2f", sqlite3_column_double(st, i)), score);
            if (strcmp(field, want) != 0)
                fail_msg("row %d %s: '%s' != '%s'", rows, cols[i], field, want);
            field = tab + 1;
        }
        rows++;
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(rows, 54);
    free(s);
}

static void test_jsonl(void **state)
{
    static const char *const keys[] = {
        "id", "kind", "given_name", "family_name", "date_of_birth", "email", "postcode", "clp",
        "joined_at", "declared_party", "aims_values", "verdict", "rule", "score", "decided_by",
        "ballot", "reasons",
    };
    char *s = export_all(RG_EXPORT_JSONL), *line, *save = NULL;
    int64_t prev = 0;
    int rows = 0;

    /* one compact object a line, keys sorted */
    assert_prefix(s, "{\"aims_values\":\"no\",\"ballot\":false,\"clp\":\"Bristol West\","
                                "\"date_of_birth\":\"\",\"decided_by\":\"\",\"declared_party\":\"\","
                                "\"email\":\"\",\"family_name\":\"Lee\",\"given_name\":\"Ann\",\"id\":5,"
                                "\"joined_at\":\"2026-11-22\",\"kind\":\"affiliated_supporter\","
                                "\"postcode\":\"\",\"reasons\":[],\"rule\":\"\",\"score\":0.0,"
                                "\"verdict\":\"pending\"}\n");
    assert_int_equal(s[strlen(s) - 1], '\n');
    for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t err;
        json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &err);
        if (!o)
            fail_msg("line %d: %s", rows + 1, err.text);
        assert_int_equal(json_object_size(o), sizeof keys / sizeof keys[0]);
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!json_object_get(o, keys[k]))
                fail_msg("line %d lacks %s", rows + 1, keys[k]);
        assert_true(json_integer_value(json_object_get(o, "id")) > prev);
        prev = json_integer_value(json_object_get(o, "id"));
        if (prev == 42) {
            assert_true(json_real_value(json_object_get(o, "score")) == 0.97);
            assert_int_equal(json_array_size(json_object_get(o, "reasons")), 2);
            assert_string_equal(json_string_value(json_object_get(o, "family_name")), "O'Brien\tSmith");
            assert_string_equal(json_string_value(json_object_get(o, "declared_party")), "Left\\Right\nParty");
        }
        if (prev == 9)
            assert_string_equal(json_string_value(json_object_get(o, "declared_party")),
                                "\\n\\\x01\b\f\x1f\"/\x7f" "é€😀");
        /* written by hand, the line is what jansson writes for the same object */
        char *again = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        assert_string_equal(line, again);
        free(again);
        json_decref(o);
        rows++;
    }
    assert_int_equal(rows, 54);
    free(s);
}

static void test_export_batches(void **state)
{
    static const int sizes[] = { 1, 2, 3, 7, 53, 54, 55, 1000 };

    for (int f = RG_EXPORT_TSV; f <= RG_EXPORT_JSONL; f++) {
        char *whole = export_all((enum rg_export_format)f);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            rg_buf b = RG_BUF_INIT;
            int64_t last = 0, prev;
            int n, total = 0;

            assert_int_equal(rg_db_read_begin(db), 0);
            rg_export_header((enum rg_export_format)f, &b);
            for (;;) {
                prev = last;
                n = rg_export_rows(db, (enum rg_export_format)f, last, sizes[k], &b, &last, NULL);
                assert_true(n >= 0 && n <= sizes[k]);
                if (n == 0)
                    break;
                assert_true(last > prev);
                total += n;
            }
            assert_int_equal(last, 149);   /* unchanged by the empty last call */
            rg_db_read_end(db);
            assert_int_equal(total, 54);
            assert_string_equal(b.data, whole);
            rg_buf_free(&b);
        }
        free(whole);
    }
}

/* The newest changed_ns of the rows rendered, whatever the batch size: an export's mtime.  Set on a
 * row in the middle, so that neither the first nor the last batch holds it. */
static void test_export_newest(void **state)
{
    static const int sizes[] = { 1, 5, 54, 1000 };
    sqlite3_stmt *st;
    int64_t old, top;

    assert_int_equal(sqlite3_prepare_v2(db->sql, "SELECT changed_ns, (SELECT max(changed_ns) FROM"
                                        " applicant) FROM applicant WHERE id = 42", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    old = sqlite3_column_int64(st, 0);
    top = sqlite3_column_int64(st, 1) + 1000;
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db->sql, "UPDATE applicant SET changed_ns = ?1 WHERE id = 42",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, top);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    for (int f = RG_EXPORT_TSV; f <= RG_EXPORT_JSONL; f++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            rg_buf b = RG_BUF_INIT;
            int64_t last = 0, newest = 0;

            while (rg_export_rows(db, (enum rg_export_format)f, last, sizes[k], &b, &last, &newest) > 0)
                ;
            assert_int_equal(newest, top);
            rg_buf_free(&b);
        }
    }
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, old);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static void test_export_after_id(void **state)
{
    rg_buf b = RG_BUF_INIT;
    int64_t last = 7;

    /* after 7 comes 9, then 42: ids need not be dense */
    assert_int_equal(rg_export_rows(db, RG_EXPORT_TSV, 7, 2, &b, &last, NULL), 2);
    assert_int_equal(last, 42);
    assert_int_equal(strncmp(b.data, "9\t", 2), 0);
    assert_non_null(strstr(b.data, "\n42\t"));
    rg_buf_reset(&b);
    last = -1;
    assert_int_equal(rg_export_rows(db, RG_EXPORT_TSV, 149, 10, &b, &last, NULL), 0);
    assert_int_equal(last, -1);
    assert_int_equal(b.len, 0);
    assert_int_equal(rg_export_rows(db, RG_EXPORT_TSV, 0, 0, &b, &last, NULL), -EINVAL);
    /* JSONL has no header */
    rg_export_header(RG_EXPORT_JSONL, &b);
    assert_int_equal(b.len, 0);
    rg_buf_free(&b);
}

/* Rendering inside the caller's snapshot must not end it. */
static void test_inside_snapshot(void **state)
{
    rg_buf b = RG_BUF_INIT;

    assert_int_equal(rg_db_read_begin(db), 0);
    assert_int_equal(rg_render_applicant(db, 42, RG_FILE_RECORD_JSON, &b, NULL), 0);
    assert_int_equal(rg_render_applicant(db, 42, RG_FILE_HISTORY, &b, NULL), 0);
    assert_int_equal(sqlite3_get_autocommit(db->sql), 0);
    rg_db_read_end(db);
    assert_int_equal(sqlite3_get_autocommit(db->sql), 1);
    rg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_names),
        cmocka_unit_test(test_summary_bytes),
        cmocka_unit_test(test_summary_manual_and_pending),
        cmocka_unit_test(test_verdict_line),
        cmocka_unit_test(test_record_json_bytes),
        cmocka_unit_test(test_record_json_parses),
        cmocka_unit_test(test_watch_bytes),
        cmocka_unit_test(test_job_bytes),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_missing_objects),
        cmocka_unit_test(test_damaged_reasons),
        cmocka_unit_test(test_score_forms),
        cmocka_unit_test(test_tsv_header_and_rows),
        cmocka_unit_test(test_tsv_round_trip),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_export_batches),
        cmocka_unit_test(test_export_newest),
        cmocka_unit_test(test_export_after_id),
        cmocka_unit_test(test_inside_snapshot),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
