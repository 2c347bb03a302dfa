/*
 * settings.h: the register's vetting settings (`regfs config`), one table of keys with their
 * defaults, validators and descriptions.
 *
 * A setting that is unset reads as its default.  Changing one is audited (setting.set) and, for
 * settings the rules read, bumps the rules version that every verdict records.  Values are copied
 * into caller buffers; nothing here is owned by the caller.
 */
#ifndef RG_SETTINGS_H
#define RG_SETTINGS_H

#include <stddef.h>

#include "db.h"
#include "util.h"

#define RG_SETTING_MAX 256   /* longest value, NUL included */

typedef struct rg_setting_def {
    const char *key;
    const char *default_value;   /* "" for an optional setting that is off by default */
    const char *help;            /* one line */
    /* Returns 1 if value is acceptable, else 0 with a reason in err. */
    int (*valid)(const char *value, char *err, size_t errlen);
} rg_setting_def;

/* The table of settings, in display order; *n receives its length.  Borrowed, static. */
const rg_setting_def *rg_settings(size_t *n);

/* The definition of key, or NULL if there is no such setting. */
const rg_setting_def *rg_setting_find(const char *key);

/* Copies the value of key (or its default) into out.  Returns 0, -ENOENT for an unknown key. */
int rg_setting_get(rg_db *db, const char *key, char *out, size_t outlen);

/* Typed readers for the rules.  Return the default when unset; never fail on a known key. */
int rg_setting_bool(rg_db *db, const char *key);
double rg_setting_double(rg_db *db, const char *key);
long rg_setting_long(rg_db *db, const char *key);   /* -1 when an optional number is unset */

/*
 * Validates and stores value in its own transaction, audited as who.  An empty value resets an
 * optional setting.  Returns 1 if it changed, 0 if it already had that value, or a negative errno
 * (-ENOENT unknown key, -EINVAL invalid value: the message says why).
 */
int rg_setting_set(rg_db *db, const rg_actor *who, const char *key, const char *value);

/* The current rules version (bumped by every change to a setting the rules read). */
long rg_rules_version(rg_db *db);

#endif
