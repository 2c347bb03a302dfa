/*
 * cmd_config.c: `regfs config DB [KEY [VALUE]]`: list, read or change the vetting settings.
 */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "settings.h"

static int list_all(rg_db *db)
{
    char v[RG_SETTING_MAX];
    size_t n;
    const rg_setting_def *defs = rg_settings(&n);

    for (size_t i = 0; i < n; i++) {
        if (rg_setting_get(db, defs[i].key, v, sizeof v) < 0) {
            cli_error("config", "%s", rg_db_errmsg(db));
            return RG_EXIT_FAIL;
        }
        printf("%s: %s\n    # %s (default: %s)\n", defs[i].key, v, defs[i].help,
               *defs[i].default_value ? defs[i].default_value : "none");
    }
    return RG_EXIT_OK;
}

int cmd_config(int argc, char **argv)
{
    char v[RG_SETTING_MAX];
    rg_actor me;
    rg_db *db;
    int status = RG_EXIT_OK, rc;

    if (argc < 2 || argc > 4)
        return cli_usage("config");
    if (!(db = cli_open("config", argv[1], argc == 4 ? 0 : RG_OPEN_READONLY)))
        return RG_EXIT_FAIL;
    if (argc == 2) {
        status = list_all(db);
    } else if (argc == 3) {
        if (rg_setting_get(db, argv[2], v, sizeof v) < 0) {
            cli_error("config", "%s", rg_db_errmsg(db));
            status = RG_EXIT_FAIL;
        } else {
            printf("%s\n", v);
        }
    } else {
        rg_actor_for_uid(getuid(), &me);
        rc = rg_setting_set(db, &me, argv[2], argv[3]);
        if (rc < 0) {
            cli_error("config", "%s", rg_db_errmsg(db));
            status = RG_EXIT_FAIL;
        } else {
            printf("%s: %s%s\n", argv[2], argv[3], rc == 0 ? " (unchanged)" : "");
        }
    }
    rg_db_close(db);
    return status;
}
