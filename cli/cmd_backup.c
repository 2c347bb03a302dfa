/*
 * cmd_backup.c: `regfs backup [--force] DB FILE`: a consistent, standalone copy of the register,
 * taken while it is in use.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "backup.h"
#include "cli.h"

int cmd_backup(int argc, char **argv)
{
    const char *args[2];
    rg_backup_info info;
    int n = 0, flags = 0, status = RG_EXIT_OK;
    rg_db *db;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            flags |= RG_BACKUP_REPLACE;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("backup", "unknown option '%s'", argv[i]);
            return cli_usage("backup");
        } else if (n < 2) {
            args[n++] = argv[i];
        } else {
            return cli_usage("backup");
        }
    }
    if (n != 2)
        return cli_usage("backup");
    if (!(db = cli_open("backup", args[0], RG_OPEN_READONLY)))
        return RG_EXIT_FAIL;
    if (rg_backup_to_file(db, args[1], flags, &info) < 0) {
        cli_error("backup", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
    } else {
        printf("%s: %" PRId64 " bytes, audit head %" PRId64 " %s\n", args[1], info.size, info.head_seq,
               info.head_hash);
    }
    rg_db_close(db);
    return status;
}
