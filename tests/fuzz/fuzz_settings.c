/*
 * fuzz_settings.c: `regfs config DB KEY VALUE` (backend/settings.c): the validators of every
 * setting and storing a value, on a register made once per process.
 *
 * Input: KEY=VALUE, as a user would type them (a command-line argument holds no NUL, so each stops
 * at the first).  The first byte, when it is below 32, instead picks a known key by its number and
 * the rest is the value.  What is checked: an unknown key is -ENOENT; a value is stored exactly
 * when its validator accepts it (and is then read back unchanged); a refused one is -EINVAL with a
 * message and leaves the setting as it was; what the rules read back stays in the documented range.
 */
#include <math.h>

#include "fuzz.h"
#include "settings.h"

static void check_readers(rg_db *db)
{
    double threshold = rg_setting_double(db, "match_name_threshold");
    long age = rg_setting_long(db, "min_age_member");
    long days = rg_setting_long(db, "ballot_min_days");

    FUZZ_ASSERT(isfinite(threshold) && threshold > 0 && threshold <= 1);
    FUZZ_ASSERT(age >= 0 && age <= 130);
    FUZZ_ASSERT(days >= -1 && days <= 36600);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_actor who = { "fuzz", 1000 };
    rg_db *db = fuzz_register(0);
    size_t n;
    const rg_setting_def *defs = rg_settings(&n), *def;
    char *input, *key, *value, before[RG_SETTING_MAX], after[RG_SETTING_MAX], why[256] = "";
    int rc, valid;

    if (!(input = malloc(size + 1)))
        return 0;
    memcpy(input, data, size);
    input[size] = '\0';
    if (size > 0 && (unsigned char)input[0] < 32) {
        key = (char *)defs[(unsigned char)input[0] % n].key;
        value = input + 1;
    } else {
        key = input;
        value = strchr(input, '=');
        if (value)
            *value++ = '\0';
        else
            value = key + strlen(key);
    }

    def = rg_setting_find(key);
    if (def && rg_setting_get(db, key, before, sizeof before) < 0)
        fuzz_die(db, "reading a setting");
    rc = rg_setting_set(db, &who, key, value);
    if (!def) {
        FUZZ_ASSERT(rc == -ENOENT && rg_db_errmsg(db)[0]);
        free(input);
        return 0;
    }
    valid = strlen(value) < RG_SETTING_MAX && rg_utf8_valid(value, strlen(value)) &&
            (*value || !*def->default_value) && def->valid(value, why, sizeof why);
    FUZZ_ASSERT(rg_setting_get(db, key, after, sizeof after) == 0);
    if (valid) {
        FUZZ_ASSERT(rc == (strcmp(before, value) != 0));
        /* An empty value resets an optional setting: it reads as its default again. */
        FUZZ_ASSERT(strcmp(after, *value ? value : def->default_value) == 0);
    } else {
        FUZZ_ASSERT(rc == -EINVAL && rg_db_errmsg(db)[0]);
        FUZZ_ASSERT(strcmp(after, before) == 0);
    }
    check_readers(db);
    free(input);
    return 0;
}
