/*
 * cmd_stats.c: `regfs stats DB`: the same key: value lines as the mounted stats file.
 */
#include <stdio.h>

#include "cli.h"
#include "stats.h"

int cmd_stats(int argc, char **argv)
{
    rg_buf out = RG_BUF_INIT;
    rg_db *db;
    int status = RG_EXIT_OK;

    if (argc != 2)
        return cli_usage("stats");
    if (!(db = cli_open("stats", argv[1], RG_OPEN_READONLY)))
        return RG_EXIT_FAIL;
    if (rg_stats_render(db, &out) < 0) {
        cli_error("stats", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
    } else {
        fwrite(out.data, 1, out.len, stdout);
    }
    rg_buf_free(&out);
    rg_db_close(db);
    return status;
}
