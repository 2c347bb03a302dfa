/*
 * cmd_init.c: `regfs init DB`: create a register (or bring an existing one up to the current schema).
 */
#include <stdio.h>
#include <unistd.h>

#include "cli.h"
#include "import.h"

int cmd_init(int argc, char **argv)
{
    rg_actor me;
    rg_db *db;
    int rc;

    if (argc != 2)
        return cli_usage("init");
    if (!(db = cli_open("init", argv[1], RG_OPEN_CREATE)))
        return RG_EXIT_FAIL;
    rg_actor_for_uid(getuid(), &me);
    rc = rg_import_default_organisations(db, &me);
    if (rc < 0) {
        cli_error("init", "%s", rg_db_errmsg(db));
        rg_db_close(db);
        return RG_EXIT_FAIL;
    }
    printf("%s: register ready (schema %d)%s\n", argv[1], rg_db_user_version(db),
           rc > 0 ? ", default organisations loaded" : "");
    rg_db_close(db);
    return RG_EXIT_OK;
}
