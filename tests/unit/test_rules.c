/*
 * test_rules.c: the vetting rules (backend/rules.h), one applicant at a time.
 *
 * Each test builds a register in a temporary directory through the real backend (rg_db_open), adds
 * organisations, watch-list entries and applicants with SQL through a second connection, as an
 * import would leave them, loads the rules and asks what they decide about an applicant: the
 * verdict, the deciding rule, and the reasons a person would read.  The clock is fixed at
 * 2026-07-01 (REGFS_NOW) so that ages and ballot days do not drift.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db.h"
#include "rules.h"
#include "settings.h"
#include "fixture.h"

#define NOW "1782907200"   /* 2026-07-01T12:00:00Z */

static const rg_actor ALICE = { "alice", 1000 };

struct fixture {
    char dir[256];
    char path[300];
    rg_db *db;
    sqlite3 *sql;            /* a second connection, for building the register */
    rg_rules *rules;
    rg_rule_result res;
    json_t *reasons;         /* res.reasons parsed, after judge() */
};

static void sql_exec(struct fixture *f, const char *sql)
{
    char *err = NULL;

    if (sqlite3_exec(f->sql, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err);
}

static void add_org(struct fixture *f, const char *name, const char *aliases)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(f->sql, "INSERT INTO organisation(name, aliases) VALUES (?1, ?2)",
                                        -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, aliases, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

static void add_watch(struct fixture *f, const char *id, const char *given, const char *family,
                      const char *dob, const char *email, const char *postcode, const char *org,
                      const char *role)
{
    sqlite3_stmt *st;
    const char *v[] = { id, given, family, dob, email, postcode, org, role };

    assert_int_equal(sqlite3_prepare_v2(f->sql,
        "INSERT INTO watchlist(id, given_name, family_name, date_of_birth, email, postcode,"
        " organisation, role, source, changed_ns) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,'council website',0)",
        -1, &st, NULL), SQLITE_OK);
    for (int i = 0; i < 8; i++)
        sqlite3_bind_text(st, i + 1, v[i], -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* An applicant as the rules see one; the defaults are an unremarkable new member. */
typedef struct app {
    int64_t id;
    const char *given, *family, *dob, *email, *postcode, *kind, *joined, *declared, *aims;
} app;

static app A(int64_t id, const char *given, const char *family, const char *dob)
{
    return (app){ id, given, family, dob, "", "BS6 5AB", "member", "2026-06-20", "", "yes" };
}

static void add_app(struct fixture *f, const app *a)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(f->sql,
        "INSERT INTO applicant(id, given_name, family_name, date_of_birth, email, postcode, clp,"
        " clp_slug, kind, joined_at, joined_day, declared_party, aims_values, changed_ns)"
        " VALUES (?1,?2,?3,?4,?5,?6,'Bristol West','bristol-west',?7,?8,?8,?9,?10,0)", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, a->given, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->family, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->dob, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->email, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, a->postcode, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, a->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, a->joined, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, a->declared, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, a->aims, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        fail_msg("insert applicant %lld: %s", (long long)a->id, sqlite3_errmsg(f->sql));
    sqlite3_finalize(st);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    setenv("REGFS_NOW", NOW, 1);
    if (fixture_register("rules", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->db) < 0)
        return -1;
    if (sqlite3_open(f->path, &f->sql) != SQLITE_OK)
        return -1;
    sqlite3_busy_timeout(f->sql, 5000);
    *state = f;
    add_org(f, "Green Party", "Green Party of England and Wales|Greens|Green|GPEW|Scottish Greens");
    add_org(f, "Socialist Workers Party", "SWP|Socialist Workers");
    add_org(f, "Socialist Equality Party", "SEP");
    add_org(f, "Conservative Party", "Conservatives|Conservative|Tory|Tories");
    add_org(f, "Liberal Democrats", "Lib Dems|Lib Dem|LibDems|Liberal Democrat");
    add_org(f, "Labour Against the Witchhunt", "LAW");
    add_org(f, "Sinn Féin", "Sinn Fein");
    add_org(f, "Alba Party", "Alba");
    add_org(f, "Alta Party", "");   /* made up: one letter from Alba */
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    json_decref(f->reasons);
    rg_rule_result_free(&f->res);
    rg_rules_free(f->rules);
    sqlite3_close(f->sql);
    rg_db_close(f->db);
    fixture_remove(f->dir);
    free(f);
    return 0;
}

/* (Re)loads the rules from the register as it is now; indexed: the in-memory register index. */
static void load(struct fixture *f, int indexed)
{
    rg_rules_free(f->rules);
    f->rules = NULL;
    if (rg_rules_load(f->db, &f->rules) < 0)
        fail_msg("rg_rules_load: %s", rg_db_errmsg(f->db));
    if (indexed && rg_rules_index_register(f->rules, f->db) < 0)
        fail_msg("rg_rules_index_register: %s", rg_db_errmsg(f->db));
}

/* What the rules decide about a (which must be in the register), with f->reasons parsed. */
static const rg_rule_result *judge(struct fixture *f, const app *a)
{
    rg_applicant_in in = {
        .id = a->id, .given_name = a->given, .family_name = a->family, .date_of_birth = a->dob,
        .email = a->email, .postcode = a->postcode, .clp = "Bristol West", .kind = a->kind,
        .joined_day = a->joined, .declared_party = a->declared, .aims_values = a->aims,
    };
    json_error_t err;

    if (!f->rules)
        load(f, 0);
    assert_int_equal(rg_rules_lookup_register(f->rules, f->db, &in), 0);
    assert_int_equal(rg_rules_eval(f->rules, &in, &f->res), 0);
    json_decref(f->reasons);
    f->reasons = json_loads(f->res.reasons.data, 0, &err);
    if (!json_is_array(f->reasons))
        fail_msg("reasons are not a JSON array: %s (%s)", f->res.reasons.data, err.text);
    return &f->res;
}

/* The reason object of rule, or NULL when that rule did not speak. */
static json_t *reason(struct fixture *f, const char *rule)
{
    size_t i;
    json_t *r;

    json_array_foreach(f->reasons, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "rule")), rule) == 0)
            return r;
    }
    return NULL;
}

static const char *field(json_t *r, const char *key)
{
    json_t *v = json_object_get(r, key);

    if (!json_is_string(v))
        fail_msg("reason has no string %s", key);
    return json_string_value(v);
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        const char *h_ = (hay), *n_ = (needle);                                                    \
        if (!strstr(h_, n_))                                                                       \
            fail_msg("'%s' does not contain '%s'", h_, n_);                                        \
    } while (0)

static void expect(struct fixture *f, const app *a, enum rg_verdict v, const char *rule)
{
    const rg_rule_result *r = judge(f, a);

    if (r->verdict != v || strcmp(r->rule, rule) != 0)
        fail_msg("applicant %lld (%s %s, declared '%s'): %s by %s, want %s by %s; reasons %s",
                 (long long)a->id, a->given, a->family, a->declared, rg_verdict_name(r->verdict),
                 r->rule, rg_verdict_name(v), rule, r->reasons.data);
}

/* ---- declared-party ---- */

static void test_declared_folding(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *answer;
        enum rg_declared want;
        const char *org;
    } cases[] = {
        { "Green Party of England and Wales", RG_DECLARED_MATCH, "Green Party" },
        { "greens", RG_DECLARED_MATCH, "Green Party" },
        { "The Green Party", RG_DECLARED_MATCH, "Green Party" },
        { "  GREEN   party!! ", RG_DECLARED_MATCH, "Green Party" },
        { "SWP", RG_DECLARED_MATCH, "Socialist Workers Party" },
        { "s.w.p.", RG_DECLARED_UNKNOWN, "" },              /* "s w p" is not "swp" */
        { "Socialist Workers", RG_DECLARED_MATCH, "Socialist Workers Party" },
        { "socialist workers' party", RG_DECLARED_MATCH, "Socialist Workers Party" },
        { "Sinn Féin", RG_DECLARED_MATCH, "Sinn Féin" },
        { "SINN FEIN", RG_DECLARED_MATCH, "Sinn Féin" },
        { "Labour", RG_DECLARED_OWN, "" },
        { "Labour Party", RG_DECLARED_OWN, "" },
        { "the labour party", RG_DECLARED_OWN, "" },
        { "Co-operative Party", RG_DECLARED_OWN, "" },
        { "Labour and Co-operative", RG_DECLARED_OWN, "" },
        { "none", RG_DECLARED_NONE, "" },
        { "N/A", RG_DECLARED_NONE, "" },
        { "-", RG_DECLARED_NONE, "" },
        { "No party", RG_DECLARED_NONE, "" },
        { "not a member of any other party", RG_DECLARED_NONE, "" },
        { "Green Patry", RG_DECLARED_MISSPELT, "Green Party" },
        { "Liberal Democrays", RG_DECLARED_MISSPELT, "Liberal Democrats" },
        { "Conservatve", RG_DECLARED_MISSPELT, "Conservative Party" },
        { "Lab", RG_DECLARED_UNKNOWN, "" },                 /* never guessed into "LAW" */
        { "SPW", RG_DECLARED_UNKNOWN, "" },                 /* too short to guess: SWP or SEP? */
        { "Labour Pary", RG_DECLARED_OWN, "" },
        { "ex-SWP, now Labour", RG_DECLARED_MENTION, "Socialist Workers Party" },
        { "Mebyon Kernow??", RG_DECLARED_UNKNOWN, "" },
        { "Alfa", RG_DECLARED_AMBIGUOUS, "Alba Party or Alta Party" },
        { "Alba", RG_DECLARED_MATCH, "Alba Party" },
    };
    char org[256];

    load(f, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum rg_declared got = rg_rules_declared(f->rules, cases[i].answer, org, sizeof org);
        if (got != cases[i].want || strcmp(org, cases[i].org) != 0)
            fail_msg("'%s': %d '%s', want %d '%s'", cases[i].answer, got, org, cases[i].want, cases[i].org);
    }
}

static void test_declared_rule(void **state)
{
    struct fixture *f = *state;
    app swp = A(1, "Ann", "Abel", "1980-01-01"), lab = A(2, "Ben", "Bell", "1981-02-02");
    app none = A(3, "Cat", "Cole", "1982-03-03"), mk = A(4, "Dan", "Dale", "1983-04-04");
    app typo = A(5, "Eve", "Eden", "1984-05-05");
    json_t *r;

    swp.declared = "Socialist Workers";
    lab.declared = "Labour";
    none.declared = "none";
    mk.declared = "Mebyon Kernow??";
    typo.declared = "Green Patry";
    add_app(f, &swp), add_app(f, &lab), add_app(f, &none), add_app(f, &mk), add_app(f, &typo);

    expect(f, &swp, RG_EXCLUDED, "declared-party");
    r = reason(f, "declared-party");
    assert_string_equal(field(r, "outcome"), "excluded");
    assert_string_equal(field(r, "evidence"), "Socialist Workers Party");
    assert_string_equal(field(r, "declared"), "Socialist Workers");
    assert_contains(field(r, "reason"), "\"Socialist Workers\" is Socialist Workers Party");
    assert_true(f->res.score == 1.0);
    assert_string_equal(f->res.summary, "excluded declared-party Socialist Workers Party 1.00");

    expect(f, &lab, RG_APPROVED, "none");   /* this party: not another */
    assert_null(reason(f, "declared-party"));
    assert_string_equal(field(reason(f, "none"), "reason"), "nothing against the applicant");
    expect(f, &none, RG_APPROVED, "none");

    expect(f, &mk, RG_REVIEW, "declared-party");
    r = reason(f, "declared-party");
    assert_string_equal(field(r, "outcome"), "review");
    assert_contains(field(r, "reason"), "not on the list of organisations: \"Mebyon Kernow??\"");

    expect(f, &typo, RG_EXCLUDED, "declared-party");
    assert_contains(field(reason(f, "declared-party"), "reason"), "a misspelling of Green Party");

    typo.declared = "Alfa";
    expect(f, &typo, RG_REVIEW, "declared-party");
    assert_contains(field(reason(f, "declared-party"), "reason"), "could be a misspelling of Alba Party or Alta Party");
}

/* ---- watch-list ---- */

static void test_watch_exact_and_namesake(void **state)
{
    struct fixture *f = *state;
    app jane = A(10, "Jane", "Doyle", "1970-05-06"), other = A(11, "Jane", "Doyle", "1988-12-01");
    json_t *r;

    add_watch(f, "W00001", "Jane", "Doyle", "1970-05-06", "", "", "Green Party", "councillor");
    add_app(f, &jane), add_app(f, &other);

    expect(f, &jane, RG_EXCLUDED, "watch-list");
    r = reason(f, "watch-list");
    assert_string_equal(field(r, "evidence"), "W00001");
    assert_string_equal(field(r, "date_of_birth"), "matches");
    assert_string_equal(field(r, "organisation"), "Green Party");
    assert_contains(field(r, "reason"), "W00001 Jane Doyle (Green Party, councillor)");
    /* each feature's part in the score is kept */
    assert_contains(field(r, "explain"), "date of birth matches [+4.0]");
    assert_true(f->res.score > 0.9);
    assert_string_equal(f->res.evidence, "W00001");

    /* The namesake: same name, another date of birth.  Approved, and the reason is kept. */
    expect(f, &other, RG_APPROVED, "none");
    r = reason(f, "watch-list");
    assert_non_null(r);
    assert_string_equal(field(r, "outcome"), "approved");
    assert_string_equal(field(r, "date_of_birth"), "differs");
    assert_contains(field(r, "reason"), "namesake");
    assert_non_null(reason(f, "none"));
}

static void test_watch_nickname_and_accents(void **state)
{
    struct fixture *f = *state;
    app bill = A(20, "Bill", "Pemberton", "1961-11-12");
    app sian = A(21, "Sian", "Prydderch", "1975-03-04"), sian2 = A(22, "Siân", "Ó Briain", "1979-09-09");
    json_t *r;

    add_watch(f, "W00002", "William", "Pemberton", "1961-11-12", "", "", "Conservative Party", "candidate");
    add_watch(f, "W00003", "Siân", "Prydderch", "", "", "CF10 1AA", "Green Party", "member");
    add_watch(f, "W00004", "Sian", "O'Briain", "1979-09-09", "", "", "Socialist Workers Party", "member");
    sian.postcode = "cf101aa";
    add_app(f, &bill), add_app(f, &sian), add_app(f, &sian2);

    expect(f, &bill, RG_EXCLUDED, "watch-list");
    r = reason(f, "watch-list");
    assert_string_equal(field(r, "evidence"), "W00002");
    assert_contains(field(r, "name_how"), "nickname");

    expect(f, &sian, RG_EXCLUDED, "watch-list");   /* accent dropped; postcode written otherwise */
    r = reason(f, "watch-list");
    assert_string_equal(field(r, "evidence"), "W00003");
    assert_string_equal(field(r, "postcode"), "matches");

    expect(f, &sian2, RG_EXCLUDED, "watch-list");   /* accents added, apostrophe dropped */
    assert_string_equal(field(reason(f, "watch-list"), "evidence"), "W00004");
}

static void test_watch_corroboration(void **state)
{
    struct fixture *f = *state;
    app moved = A(30, "Mark", "Quennell", "1990-01-01"), same_district = A(31, "Tom", "Ashdown", "1966-06-06");
    app elsewhere = A(32, "Tom", "Ashdown", "1967-07-07");

    add_watch(f, "W00005", "Mark", "Quennell", "1955-05-05", "mark@quennell.example", "", "Green Party", "officer");
    add_watch(f, "W00006", "Tom", "Ashdown", "", "", "BS6", "Socialist Workers Party", "activist");
    moved.email = "Mark@Quennell.example";
    same_district.postcode = "BS6 7XY";
    elsewhere.postcode = "LS1 4AP";
    add_app(f, &moved), add_app(f, &same_district), add_app(f, &elsewhere);

    /* The date of birth contradicts, but the email ties them. */
    expect(f, &moved, RG_EXCLUDED, "watch-list");
    assert_string_equal(field(reason(f, "watch-list"), "email"), "matches");
    assert_string_equal(field(reason(f, "watch-list"), "date_of_birth"), "differs");
    /* The list gives only a district: the same district is weak corroboration, review. */
    expect(f, &same_district, RG_REVIEW, "watch-list");
    assert_string_equal(field(reason(f, "watch-list"), "postcode"), "district matches");
    /* Another district: a namesake elsewhere. */
    expect(f, &elsewhere, RG_APPROVED, "none");
    assert_string_equal(field(reason(f, "watch-list"), "outcome"), "approved");
}

static void test_watch_name_alone(void **state)
{
    struct fixture *f = *state;
    app rare = A(40, "Ffion", "Llewellyn-Price", "1985-02-02");
    app smith[3] = { A(41, "John", "Smith", "1950-01-01"), A(42, "John", "Smith", "1960-01-01"),
                     A(43, "JOHN", "smith", "1970-01-01") };
    app near = A(44, "Jon", "Smith", "1971-01-01");
    json_t *r;

    add_watch(f, "W00007", "Ffion", "Llewellyn-Price", "", "", "", "Green Party", "candidate");
    add_watch(f, "W00008", "John", "Smith", "", "", "", "Conservative Party", "councillor");
    add_app(f, &rare), add_app(f, &near);
    for (int i = 0; i < 3; i++)
        add_app(f, &smith[i]);

    /* A name nobody else on the register has, and nothing for or against: a person must look. */
    expect(f, &rare, RG_REVIEW, "watch-list");
    assert_contains(field(reason(f, "watch-list"), "reason"), "nobody else on the register has it");
    /* A name three applicants share says nothing about any of them. */
    for (int i = 0; i < 3; i++) {
        expect(f, &smith[i], RG_APPROVED, "none");
        r = reason(f, "watch-list");
        assert_string_equal(field(r, "outcome"), "approved");
        assert_contains(field(r, "reason"), "3 applicants on the register share");
    }
    /* A near name alone is less still. */
    expect(f, &near, RG_APPROVED, "none");
    assert_contains(field(reason(f, "watch-list"), "reason"), "only a near name");

    /* The same, from the in-memory index that big runs use. */
    load(f, 1);
    expect(f, &rare, RG_REVIEW, "watch-list");
    expect(f, &smith[1], RG_APPROVED, "none");
    assert_contains(field(reason(f, "watch-list"), "reason"), "3 applicants on the register share");

    /* The party may want every name match looked at. */
    assert_int_equal(rg_setting_set(f->db, &ALICE, "name_only_review_max", "any"), 1);
    load(f, 0);
    expect(f, &smith[0], RG_REVIEW, "watch-list");
    assert_contains(field(reason(f, "watch-list"), "reason"), "nothing confirms or contradicts");
}

/* ---- aims-and-values, duplicate, eligibility ---- */

static void test_aims_and_values(void **state)
{
    struct fixture *f = *state;
    app a = A(50, "Gail", "Grey", "1970-01-01");
    rg_evidence_item ev[2] = {
        { 7, "clp-report", "spoke against the party at a hustings", "bob:1001", "2026-06-25T10:00:00Z" },
        { 9, "public-statement", "urged members to vote for another party", "carol:1002", "2026-06-26T11:00:00Z" },
    };
    rg_applicant_in in = {
        .id = 50, .given_name = "Gail", .family_name = "Grey", .date_of_birth = "1970-01-01", .email = "",
        .postcode = "BS6 5AB", .kind = "member", .joined_day = "2026-06-20", .declared_party = "",
        .aims_values = "yes", .evidence = ev, .nevidence = 2,
    };
    json_error_t err;
    json_t *r;

    add_app(f, &a);
    load(f, 0);
    assert_int_equal(rg_rules_lookup_register(f->rules, f->db, &in), 0);
    assert_int_equal(rg_rules_eval(f->rules, &in, &f->res), 0);
    assert_int_equal(f->res.verdict, RG_REVIEW);   /* never excluded on evidence by the rules */
    assert_string_equal(f->res.rule, "aims-and-values");
    f->reasons = json_loads(f->res.reasons.data, 0, &err);
    r = reason(f, "aims-and-values");
    assert_string_equal(field(r, "evidence"), "7,9");
    assert_contains(field(r, "reason"), "2 items of evidence");
    assert_contains(field(r, "reason"), "public-statement #9 by carol:1002");
    assert_contains(field(r, "reason"), "urged members to vote for another party");
}

static void test_duplicate(void **state)
{
    struct fixture *f = *state;
    app first = A(60, "Harry", "Hobbs", "1990-09-09"), again = A(75, "Harold", "Hobbs", "");
    app twin = A(80, "Harry", "Hobbs", "1990-09-09"), alone = A(81, "Ivy", "Ince", "1991-01-01");
    char buf[2][1024];

    first.email = "harry.hobbs@example.org";
    again.email = "Harry.Hobbs@EXAMPLE.org";
    twin.email = "hh@example.net";
    add_app(f, &first), add_app(f, &again), add_app(f, &twin), add_app(f, &alone);

    for (int indexed = 0; indexed < 2; indexed++) {
        load(f, indexed);
        expect(f, &first, RG_APPROVED, "none");   /* the first registration is not the duplicate */
        expect(f, &again, RG_REVIEW, "duplicate");
        assert_string_equal(field(reason(f, "duplicate"), "duplicate_of"), "60");
        assert_contains(field(reason(f, "duplicate"), "reason"), "applicant 60 (same email)");
        expect(f, &twin, RG_REVIEW, "duplicate");
        assert_string_equal(field(reason(f, "duplicate"), "evidence"), "60");
        assert_contains(field(reason(f, "duplicate"), "reason"), "(same name and date of birth)");
        snprintf(buf[indexed], sizeof buf[indexed], "%s", f->res.reasons.data);
        expect(f, &alone, RG_APPROVED, "none");
    }
    assert_string_equal(buf[0], buf[1]);   /* the index and the database agree */
}

static void test_eligibility(void **state)
{
    struct fixture *f = *state;
    app no = A(90, "Jo", "Jay", "1970-01-01"), young = A(91, "Kit", "Kaye", "2013-01-01");
    app supporter = A(92, "Lou", "Lamb", "2010-08-01"), pc = A(93, "Max", "Moss", "1970-01-01");
    app all = A(94, "Ned", "Nash", "2015-01-01"), ok = A(95, "Oli", "Ord", "2012-06-30");
    json_t *r;

    no.aims = "no";
    supporter.kind = "registered_supporter";
    pc.postcode = "BS6";
    all.aims = "no", all.postcode = "12345";
    add_app(f, &no), add_app(f, &young), add_app(f, &supporter), add_app(f, &pc), add_app(f, &all), add_app(f, &ok);

    expect(f, &no, RG_REVIEW, "eligibility");
    assert_contains(field(reason(f, "eligibility"), "reason"), "aims and values (aims_values: no)");
    expect(f, &young, RG_REVIEW, "eligibility");
    assert_contains(field(reason(f, "eligibility"), "reason"), "aged 13 on 2026-07-01 (born 2013-01-01); the minimum for a member is 14");
    expect(f, &supporter, RG_REVIEW, "eligibility");
    assert_contains(field(reason(f, "eligibility"), "reason"), "the minimum for a registered supporter is 16");
    expect(f, &pc, RG_REVIEW, "eligibility");
    assert_contains(field(reason(f, "eligibility"), "reason"), "postcode \"BS6\" is not a valid UK postcode");
    expect(f, &all, RG_REVIEW, "eligibility");   /* every problem named in one reason */
    r = reason(f, "eligibility");
    assert_contains(field(r, "reason"), "aims_values: no");
    assert_contains(field(r, "reason"), "aged 11");
    assert_contains(field(r, "reason"), "\"12345\"");
    expect(f, &ok, RG_APPROVED, "none");   /* fourteen today */
}

/* Where the rules cut text to a length (an evidence note, an organisation's long name in the
 * one-line summary), the cut never splits a character: the reasons still parse as JSON and the
 * summary a re-vet compares and the export prints stays UTF-8. */
static void test_cuts_keep_characters_whole(void **state)
{
    struct fixture *f = *state;
    static const char party[] = "Коммунистическая партия Российской Федерации";   /* 83 bytes */
    app kprf = A(70, "Pat", "Pike", "1970-01-01");
    char note[256];
    rg_evidence_item ev = { 11, "note", note, "bob:1001", "2026-06-25T10:00:00Z" };
    rg_applicant_in in = {
        .id = 71, .given_name = "Quin", .family_name = "Quay", .date_of_birth = "1970-01-01",
        .email = "", .postcode = "BS6 5AB", .kind = "member", .joined_day = "2026-06-20",
        .declared_party = "", .aims_values = "yes", .evidence = &ev, .nevidence = 1,
    };
    app quin = A(71, "Quin", "Quay", "1970-01-01");
    json_error_t err;
    const char *why;

    add_org(f, party, "КПРФ");
    kprf.declared = "КПРФ";
    add_app(f, &kprf), add_app(f, &quin);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "off"), 1);

    /* the organisation's name is longer than the evidence field: cut between two letters */
    expect(f, &kprf, RG_REVIEW, "declared-party");
    assert_int_equal(f->res.recommended, RG_EXCLUDED);
    assert_string_equal(field(reason(f, "declared-party"), "evidence"), party);
    assert_true(strlen(f->res.evidence) < strlen(party));
    assert_true(strncmp(f->res.evidence, party, strlen(f->res.evidence)) == 0);
    if (!rg_utf8_valid(f->res.evidence, strlen(f->res.evidence)) ||
        !rg_utf8_valid(f->res.summary, strlen(f->res.summary)))
        fail_msg("a cut split a character: evidence '%s', summary '%s'", f->res.evidence,
                 f->res.summary);

    /* a note quoted up to 200 bytes, where byte 200 is the middle of an e-acute */
    memset(note, 'a', 199);
    strcpy(note + 199, "\xc3\xa9\xc3\xa9 and more");
    assert_int_equal(rg_rules_lookup_register(f->rules, f->db, &in), 0);
    assert_int_equal(rg_rules_eval(f->rules, &in, &f->res), 0);
    json_decref(f->reasons);
    if (!(f->reasons = json_loads(f->res.reasons.data, 0, &err)))
        fail_msg("the reasons are not JSON (%s): %s", err.text, f->res.reasons.data);
    why = field(reason(f, "aims-and-values"), "reason");
    assert_non_null(strstr(why, "aaaa\"; only a person"));   /* 199 a's, no half e-acute */
}

static void test_strongest_wins_every_reason_kept(void **state)
{
    struct fixture *f = *state;
    app a = A(100, "Pat", "Penn", "1970-01-01");

    a.declared = "SWP";
    a.aims = "no";
    add_watch(f, "W00009", "Pat", "Penn", "", "", "", "Green Party", "member");
    add_app(f, &a);
    expect(f, &a, RG_EXCLUDED, "declared-party");
    assert_non_null(reason(f, "declared-party"));
    assert_non_null(reason(f, "watch-list"));    /* review: a rare name, nothing else */
    assert_non_null(reason(f, "eligibility"));
    assert_null(reason(f, "none"));
    assert_int_equal(json_array_size(f->reasons), 3);
}

static void test_auto_exclude_off(void **state)
{
    struct fixture *f = *state;
    app a = A(110, "Quinn", "Quayle", "1970-01-01");

    a.declared = "Tory";
    add_app(f, &a);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "off"), 1);
    load(f, 0);
    expect(f, &a, RG_REVIEW, "declared-party");
    assert_int_equal(f->res.recommended, RG_EXCLUDED);
    assert_string_equal(f->res.summary, "excluded declared-party Conservative Party 1.00");
    assert_string_equal(field(reason(f, "declared-party"), "outcome"), "excluded");
}

static void test_ballot(void **state)
{
    struct fixture *f = *state;
    app a = A(120, "Rae", "Rowe", "1970-01-01");
    rg_applicant_in in = { .id = 120, .kind = "member", .joined_day = "2026-06-20" };

    add_app(f, &a);
    load(f, 0);
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 1);
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_REVIEW), 0);
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_PENDING), 0);

    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_freeze_date", "2026-06-01"), 1);
    load(f, 0);
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 0);   /* joined after the freeze */
    in.joined_day = "2026-06-01";
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 1);   /* on the day counts */

    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_min_days", "180"), 1);
    load(f, 0);
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 0);
    in.joined_day = "2025-12-03";   /* 180 days before the freeze */
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 1);
    in.joined_day = "2025-12-04";
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 0);

    /* Without a freeze date the days count to today (2026-07-01). */
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_freeze_date", ""), 1);
    load(f, 0);
    in.joined_day = "2026-01-02";   /* 180 days */
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 1);

    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_kinds", "member"), 1);
    load(f, 0);
    in.kind = "registered_supporter";
    assert_int_equal(rg_rules_ballot(f->rules, &in, RG_APPROVED), 0);
}

static void test_versions(void **state)
{
    struct fixture *f = *state;
    long before;

    load(f, 0);
    before = rg_rules_rules_version(f->rules);
    assert_int_equal(rg_rules_watchlist_version(f->rules), 0);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "min_age_member", "15"), 1);
    sql_exec(f, "UPDATE counter SET value = 7 WHERE name = 'watchlist_version'");
    load(f, 0);
    assert_int_equal(rg_rules_rules_version(f->rules), before + 1);
    assert_int_equal(rg_rules_watchlist_version(f->rules), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_declared_folding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_declared_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_exact_and_namesake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_nickname_and_accents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_corroboration, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_name_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aims_and_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eligibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cuts_keep_characters_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strongest_wins_every_reason_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auto_exclude_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ballot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
