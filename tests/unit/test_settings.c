/*
 * test_settings.c: the vetting settings (backend/settings.c): defaults, validation with messages
 * that say what is wrong, and the audit trail and rules version that every change leaves.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "db.h"
#include "settings.h"
#include "fixture.h"

struct fixture {
    char dir[256];
    char path[300];
    rg_db *db;
};

static const rg_actor ALICE = { "alice", 1000 };

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    if (fixture_register("settings", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->db) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rg_db_close(f->db);
    fixture_remove(f->dir);
    free(f);
    return 0;
}

static int64_t head_seq(rg_db *db)
{
    char hash[RG_HASH_HEX];
    int64_t seq = -1;

    assert_int_equal(rg_audit_head(db, &seq, hash), 0);
    return seq;
}

static void want_setting(rg_db *db, const char *key, const char *want)
{
    char v[RG_SETTING_MAX];

    assert_int_equal(rg_setting_get(db, key, v, sizeof v), 0);
    if (strcmp(v, want) != 0)
        fail_msg("%s = '%s', want '%s'", key, v, want);
}

/* The last audit event's action and detail. */
struct last_event {
    char action[64];
    char detail[512];
    char actor[96];
};

static int keep_last(const rg_audit_event *ev, void *arg)
{
    struct last_event *l = arg;

    snprintf(l->action, sizeof l->action, "%s", ev->action);
    snprintf(l->detail, sizeof l->detail, "%s", ev->detail);
    snprintf(l->actor, sizeof l->actor, "%s", ev->actor);
    return 0;
}

static void test_defaults(void **state)
{
    struct fixture *f = *state;
    size_t n = 0;
    const rg_setting_def *defs = rg_settings(&n);
    char v[RG_SETTING_MAX], why[160];

    assert_true(n >= 8);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(rg_setting_find(defs[i].key), &defs[i]);
        assert_true(strlen(defs[i].help) > 0);
        assert_int_equal(rg_setting_get(f->db, defs[i].key, v, sizeof v), 0);
        assert_string_equal(v, defs[i].default_value);
        /* every default passes its own validator */
        if (!defs[i].valid(defs[i].default_value, why, sizeof why))
            fail_msg("%s: default '%s' is invalid: %s", defs[i].key, defs[i].default_value, why);
    }
    want_setting(f->db, "auto_exclude", "on");
    want_setting(f->db, "match_name_threshold", "0.88");
    want_setting(f->db, "min_age_member", "14");
    want_setting(f->db, "ballot_freeze_date", "");
    assert_int_equal(rg_setting_bool(f->db, "auto_exclude"), 1);
    assert_true(fabs(rg_setting_double(f->db, "match_name_threshold") - 0.88) < 1e-9);
    assert_int_equal(rg_setting_long(f->db, "min_age_registered_supporter"), 16);
    assert_int_equal(rg_setting_long(f->db, "ballot_min_days"), -1);   /* unset optional number */
    assert_null(rg_setting_find("no_such_setting"));
    assert_int_equal(rg_rules_version(f->db), 1);
    assert_int_equal(head_seq(f->db), 0);   /* reading writes nothing */
}

static void test_set_get(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "off"), 1);
    want_setting(f->db, "auto_exclude", "off");
    assert_int_equal(rg_setting_bool(f->db, "auto_exclude"), 0);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "match_name_threshold", "0.93"), 1);
    assert_true(fabs(rg_setting_double(f->db, "match_name_threshold") - 0.93) < 1e-9);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "match_name_threshold", "1"), 1);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "min_age_member", "0"), 1);
    assert_int_equal(rg_setting_long(f->db, "min_age_member"), 0);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_freeze_date", "2016-02-29"), 1);
    want_setting(f->db, "ballot_freeze_date", "2016-02-29");
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_min_days", "183"), 1);
    assert_int_equal(rg_setting_long(f->db, "ballot_min_days"), 183);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_kinds", "member"), 1);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_kinds", "member,affiliated_supporter"), 1);
    want_setting(f->db, "ballot_kinds", "member,affiliated_supporter");

    /* An empty value resets an optional setting to "none". */
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_min_days", ""), 1);
    want_setting(f->db, "ballot_min_days", "");
    assert_int_equal(rg_setting_long(f->db, "ballot_min_days"), -1);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_freeze_date", ""), 1);
    want_setting(f->db, "ballot_freeze_date", "");

    /* Values persist across connections. */
    rg_db *again = NULL;
    assert_int_equal(rg_db_open(f->path, RG_OPEN_READONLY, &again), 0);
    want_setting(again, "auto_exclude", "off");
    want_setting(again, "ballot_kinds", "member,affiliated_supporter");
    /* and a read-only handle cannot change them */
    assert_int_equal(rg_setting_set(again, &ALICE, "auto_exclude", "on"), -EROFS);
    rg_db_close(again);
    want_setting(f->db, "auto_exclude", "off");
}

static void test_invalid_refused(void **state)
{
    struct fixture *f = *state;
    static const struct { const char *key, *value, *says; } cases[] = {
        { "auto_exclude", "yes", "on or off" },
        { "auto_exclude", "ON", "on or off" },
        { "auto_exclude", "", "cannot be empty" },
        { "match_name_threshold", "1.5", "at most 1" },
        { "match_name_threshold", "0", "greater than 0" },
        { "match_name_threshold", "-0.5", "greater than 0" },
        { "match_name_threshold", "high", "number" },
        { "match_name_threshold", "0.9x", "number" },
        { "match_name_threshold", "nan", "number" },
        { "match_name_threshold", "inf", "number" },
        { "match_name_threshold", " 0.9", "number" },
        { "match_name_threshold", "0x0.8", "number" },   /* strtod reads hex */
        { "min_age_member", "-1", "0 to 130" },
        { "min_age_member", "131", "0 to 130" },
        { "min_age_member", "14.5", "whole number" },
        { "min_age_member", "fourteen", "whole number" },
        { "min_age_member", " 14", "whole number" },
        { "min_age_member", "+14", "whole number" },
        { "min_age_registered_supporter", "", "cannot be empty" },
        { "ballot_freeze_date", "2016-02-30", "YYYY-MM-DD" },
        { "ballot_freeze_date", "2015-02-29", "YYYY-MM-DD" },
        { "ballot_freeze_date", "14/07/2026", "YYYY-MM-DD" },
        { "ballot_freeze_date", "2026-07-14T00:00:00Z", "YYYY-MM-DD" },
        { "ballot_min_days", "six months", "days" },
        { "ballot_min_days", "-1", "days" },
        { "ballot_min_days", " 90", "days" },
        { "ballot_kinds", "member,councillor", "'councillor'" },
        { "ballot_kinds", "members", "'members'" },
        { "ballot_kinds", "Member", "'Member'" },
        { "auto_exclude", "o\xff", "UTF-8" },
    };
    char longval[RG_SETTING_MAX + 10];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = rg_setting_set(f->db, &ALICE, cases[i].key, cases[i].value);
        const char *msg = rg_db_errmsg(f->db);
        if (rc != -EINVAL)
            fail_msg("%s = '%s': returned %d, want -EINVAL", cases[i].key, cases[i].value, rc);
        if (!strstr(msg, cases[i].key) || !strstr(msg, cases[i].says))
            fail_msg("%s = '%s': message \"%s\" should name the key and say \"%s\"", cases[i].key,
                     cases[i].value, msg, cases[i].says);
    }
    memset(longval, '1', sizeof longval - 1);
    longval[sizeof longval - 1] = '\0';
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_min_days", longval), -EINVAL);
    assert_non_null(strstr(rg_db_errmsg(f->db), "too long"));

    /* Nothing was written by any of them. */
    assert_int_equal(head_seq(f->db), 0);
    assert_int_equal(rg_rules_version(f->db), 1);
    want_setting(f->db, "auto_exclude", "on");
    want_setting(f->db, "min_age_member", "14");
    want_setting(f->db, "ballot_kinds", "member,registered_supporter,affiliated_supporter");
}

static void test_unknown_key(void **state)
{
    struct fixture *f = *state;
    char v[RG_SETTING_MAX];

    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exlude", "off"), -ENOENT);
    assert_non_null(strstr(rg_db_errmsg(f->db), "auto_exlude"));
    assert_int_equal(rg_setting_get(f->db, "auto_exlude", v, sizeof v), -ENOENT);
    assert_non_null(strstr(rg_db_errmsg(f->db), "no such setting"));
    assert_int_equal(rg_setting_set(f->db, &ALICE, "", "on"), -ENOENT);
    assert_int_equal(head_seq(f->db), 0);
}

static void test_change_is_audited(void **state)
{
    struct fixture *f = *state;
    struct last_event l;
    rg_audit_filter all = { 0 };
    int64_t bad;

    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "off"), 1);
    assert_int_equal(head_seq(f->db), 1);
    assert_int_equal(rg_rules_version(f->db), 2);
    assert_int_equal(rg_audit_scan(f->db, &all, keep_last, &l), 0);
    assert_string_equal(l.action, "setting.set");
    assert_string_equal(l.actor, "alice:1000");
    assert_string_equal(l.detail, "{\"key\":\"auto_exclude\",\"new\":\"off\",\"old\":\"on\"}");

    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "on"), 1);
    assert_int_equal(head_seq(f->db), 2);
    assert_int_equal(rg_rules_version(f->db), 3);
    assert_int_equal(rg_audit_scan(f->db, &all, keep_last, &l), 0);
    assert_string_equal(l.detail, "{\"key\":\"auto_exclude\",\"new\":\"on\",\"old\":\"off\"}");

    /* Resetting an optional setting is audited with the value it had. */
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_min_days", "90"), 1);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_min_days", ""), 1);
    assert_int_equal(rg_audit_scan(f->db, &all, keep_last, &l), 0);
    assert_string_equal(l.detail, "{\"key\":\"ballot_min_days\",\"new\":\"\",\"old\":\"90\"}");
    assert_int_equal(rg_rules_version(f->db), 5);
    assert_int_equal(rg_audit_verify(f->db, &bad), 4);
}

static void test_same_value_changes_nothing(void **state)
{
    struct fixture *f = *state;

    /* Setting the default explicitly is no change. */
    assert_int_equal(rg_setting_set(f->db, &ALICE, "auto_exclude", "on"), 0);
    assert_int_equal(rg_setting_set(f->db, &ALICE, "ballot_freeze_date", ""), 0);
    assert_int_equal(head_seq(f->db), 0);
    assert_int_equal(rg_rules_version(f->db), 1);

    assert_int_equal(rg_setting_set(f->db, &ALICE, "match_name_threshold", "0.9"), 1);
    assert_int_equal(head_seq(f->db), 1);
    assert_int_equal(rg_rules_version(f->db), 2);
    for (int i = 0; i < 3; i++)
        assert_int_equal(rg_setting_set(f->db, &ALICE, "match_name_threshold", "0.9"), 0);
    assert_int_equal(head_seq(f->db), 1);
    assert_int_equal(rg_rules_version(f->db), 2);
    want_setting(f->db, "match_name_threshold", "0.9");
    /* and the connection is left outside any transaction: the next change commits normally */
    assert_int_equal(rg_setting_set(f->db, &ALICE, "min_age_member", "15"), 1);
    assert_int_equal(head_seq(f->db), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_is_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_value_changes_nothing, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
