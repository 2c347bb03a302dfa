/*
 * cmd_verify.c: `regfs verify DB`: re-check the audit chain and name the first broken event.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "audit.h"
#include "cli.h"

int cmd_verify(int argc, char **argv)
{
    char hash[RG_HASH_HEX];
    int64_t n, bad = 0, seq;
    rg_db *db;
    int status = RG_EXIT_OK;

    if (argc != 2)
        return cli_usage("verify");
    if (!(db = cli_open("verify", argv[1], RG_OPEN_READONLY)))
        return RG_EXIT_FAIL;
    n = rg_audit_verify(db, &bad);
    if (n == -EBADMSG) {
        cli_error("verify", "audit chain broken at event %" PRId64 ": %s", bad, rg_db_errmsg(db));
        status = RG_EXIT_TAMPERED;
    } else if (n < 0) {
        cli_error("verify", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
    } else if (rg_audit_head(db, &seq, hash) < 0) {
        cli_error("verify", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
    } else {
        printf("ok: %" PRId64 " events, head %" PRId64 " %s\n", n, seq, hash);
    }
    rg_db_close(db);
    return status;
}
