/*
 * settings.c: the settings table and its storage (see settings.h).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db_internal.h"
#include "settings.h"

static const char SQL_GET[] = "SELECT value FROM setting WHERE key = ?1";
static const char SQL_SET[] =
    "INSERT INTO setting(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2";
static const char SQL_UNSET[] = "DELETE FROM setting WHERE key = ?1";
static const char SQL_BUMP_RULES[] = "UPDATE counter SET value = value + 1 WHERE name = 'rules_version'";
static const char SQL_RULES_VERSION[] = "SELECT value FROM counter WHERE name = 'rules_version'";

static int valid_bool(const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "on") == 0 || strcmp(v, "off") == 0)
        return 1;
    snprintf(err, errlen, "must be on or off");
    return 0;
}

/* Plain decimal digits (and '.' if dot): no sign, spaces, exponent or hex, which strtod and strtol
 * would accept, so that equal numbers are stored, compared and audited as equal text. */
static int plain_decimal(const char *v, int dot)
{
    return *v && v[strspn(v, dot ? "0123456789." : "0123456789")] == '\0';
}

static int valid_fraction(const char *v, char *err, size_t errlen)
{
    char *end;
    double d = strtod(v, &end);

    if (plain_decimal(v, 1) && *end == '\0' && isfinite(d) && d > 0 && d <= 1)
        return 1;
    snprintf(err, errlen, "must be a number greater than 0 and at most 1");
    return 0;
}

static int valid_age(const char *v, char *err, size_t errlen)
{
    char *end;
    long n = strtol(v, &end, 10);

    if (plain_decimal(v, 0) && *end == '\0' && n >= 0 && n <= 130)
        return 1;
    snprintf(err, errlen, "must be a whole number of years from 0 to 130");
    return 0;
}

static int valid_opt_days(const char *v, char *err, size_t errlen)
{
    char *end;
    long n;

    if (*v == '\0')
        return 1;
    n = strtol(v, &end, 10);
    if (plain_decimal(v, 0) && *end == '\0' && n >= 0 && n <= 36600)
        return 1;
    snprintf(err, errlen, "must be a whole number of days (or empty for none)");
    return 0;
}

static int valid_opt_date(const char *v, char *err, size_t errlen)
{
    if (*v == '\0' || (strlen(v) == 10 && rg_date_valid(v)))
        return 1;
    snprintf(err, errlen, "must be a date YYYY-MM-DD (or empty for none)");
    return 0;
}

static int valid_kinds(const char *v, char *err, size_t errlen)
{
    static const char *const kinds[] = { "member", "registered_supporter", "affiliated_supporter" };
    char copy[RG_SETTING_MAX], *save = NULL;

    snprintf(copy, sizeof copy, "%s", v);
    for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
        int ok = 0;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            ok |= strcmp(k, kinds[i]) == 0;
        if (!ok) {
            snprintf(err, errlen, "unknown kind '%s' (member, registered_supporter, affiliated_supporter)", k);
            return 0;
        }
    }
    return 1;
}

static int valid_party_list(const char *v, char *err, size_t errlen)
{
    /* '|'-separated names, none of them empty: "Labour|Co-operative Party" */
    if (*v && *v != '|' && !strstr(v, "||") && v[strlen(v) - 1] != '|')
        return 1;
    snprintf(err, errlen, "must be party names separated by '|', none empty");
    return 0;
}

static int valid_count_or_any(const char *v, char *err, size_t errlen)
{
    char *end;
    long n;

    if (strcmp(v, "any") == 0)
        return 1;
    n = strtol(v, &end, 10);
    if (plain_decimal(v, 0) && *end == '\0' && n >= 0 && n <= 10000000)
        return 1;
    snprintf(err, errlen, "must be a whole number, or any for no limit");
    return 0;
}

static const rg_setting_def settings[] = {
    { "auto_exclude", "on",
      "on: the rules may exclude on their own; off: every would-be exclusion goes to review", valid_bool },
    { "match_name_threshold", "0.88",
      "name similarity (0-1) at which a watch-list name counts as matching", valid_fraction },
    { "min_age_member", "14", "minimum age in years for a member", valid_age },
    { "min_age_registered_supporter", "16", "minimum age in years for a registered supporter", valid_age },
    { "min_age_affiliated_supporter", "16", "minimum age in years for an affiliated supporter", valid_age },
    { "ballot_kinds", "member,registered_supporter,affiliated_supporter",
      "comma-separated kinds of applicant who may vote in the ballot", valid_kinds },
    { "ballot_freeze_date", "",
      "only those who joined on or before this date (YYYY-MM-DD) may vote; empty: no freeze", valid_opt_date },
    { "ballot_min_days", "",
      "days of membership needed to vote, counted to the freeze date (or today); empty: none", valid_opt_days },
    { "own_parties", "Labour|Labour Party|Co-operative Party|Co-op Party|Labour Co-op|Labour and Co-operative Party",
      "'|'-separated names of this party and its sister parties: declaring one is not another party",
      valid_party_list },
    { "name_only_review_max", "1",
      "a watch-list name match with no evidence for or against it goes to review only when the name"
      " matches exactly and at most this many applicants have it (0: never; any: always)",
      valid_count_or_any },
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

const rg_setting_def *rg_settings(size_t *n)
{
    *n = NSETTINGS;
    return settings;
}

const rg_setting_def *rg_setting_find(const char *key)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0)
            return &settings[i];
    return NULL;
}

int rg_setting_get(rg_db *db, const char *key, char *out, size_t outlen)
{
    const rg_setting_def *def = rg_setting_find(key);
    sqlite3_stmt *st;
    int rc;

    if (!def)
        return rg_fail(db, -ENOENT, "no such setting: %s", key);
    snprintf(out, outlen, "%s", def->default_value);
    if (!(st = rg_stmt(db, SQL_GET)))
        return -EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
        rc = SQLITE_DONE;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rg_sqlfail(db, rc);
}

int rg_setting_bool(rg_db *db, const char *key)
{
    char v[RG_SETTING_MAX];

    rg_setting_get(db, key, v, sizeof v);
    return strcmp(v, "on") == 0;
}

double rg_setting_double(rg_db *db, const char *key)
{
    char v[RG_SETTING_MAX];

    rg_setting_get(db, key, v, sizeof v);
    return strtod(v, NULL);
}

long rg_setting_long(rg_db *db, const char *key)
{
    char v[RG_SETTING_MAX];

    rg_setting_get(db, key, v, sizeof v);
    return *v ? strtol(v, NULL, 10) : -1;
}

long rg_rules_version(rg_db *db)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_RULES_VERSION);
    long v = 0;

    if (st && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    if (st)
        sqlite3_reset(st);
    return v;
}

int rg_setting_set(rg_db *db, const rg_actor *who, const char *key, const char *value)
{
    const rg_setting_def *def = rg_setting_find(key);
    char old[RG_SETTING_MAX], why[160];
    sqlite3_stmt *st;
    int rc;

    if (!def)
        return rg_fail(db, -ENOENT, "no such setting: %s (see `regfs config DB`)", key);
    if (strlen(value) >= RG_SETTING_MAX || !rg_utf8_valid(value, strlen(value)))
        return rg_fail(db, -EINVAL, "%s: value is too long or not UTF-8", key);
    if (*value == '\0' && *def->default_value != '\0')
        return rg_fail(db, -EINVAL, "%s: cannot be empty", key);
    if (!def->valid(value, why, sizeof why))
        return rg_fail(db, -EINVAL, "%s: '%s' %s", key, value, why);

    if ((rc = rg_db_begin(db)) < 0)
        return rc;
    if ((rc = rg_setting_get(db, key, old, sizeof old)) < 0)
        goto out_rollback;
    if (strcmp(old, value) == 0) {
        rg_db_rollback(db);
        return 0;
    }
    st = rg_stmt(db, *value ? SQL_SET : SQL_UNSET);
    if (!st) {
        rc = -EIO;
        goto out_rollback;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (*value)
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    if ((rc = rg_exec_stmt(db, st)) < 0)
        goto out_rollback;
    if (!(st = rg_stmt(db, SQL_BUMP_RULES)) || (rc = rg_exec_stmt(db, st)) < 0) {
        rc = rc < 0 ? rc : -EIO;
        goto out_rollback;
    }
    int64_t seq = rg_audit_append(db, who, "setting.set", 0,
                                  json_pack("{s:s, s:s, s:s}", "key", key, "old", old, "new", value));
    if (seq < 0) {
        rc = (int)seq;
        goto out_rollback;
    }
    if ((rc = rg_db_commit(db)) < 0)
        return rc;
    return 1;
out_rollback:
    rg_db_rollback(db);
    return rc;
}
