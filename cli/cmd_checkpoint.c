/*
 * cmd_checkpoint.c: `regfs checkpoint DB --key SECRET`: sign the audit chain's head, record the
 * checkpoint in the register and print the statement, to be kept off the machine.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"

int cmd_checkpoint(int argc, char **argv)
{
    const char *path = NULL, *key = NULL;
    rg_buf out = RG_BUF_INIT;
    int status = RG_EXIT_FAIL;
    int64_t rc;
    rg_actor me;
    rg_db *db;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0) {
            if (i + 1 == argc) {
                cli_error("checkpoint", "--key needs the secret key file");
                return cli_usage("checkpoint");
            }
            key = argv[++i];
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("checkpoint", "unknown option '%s'", argv[i]);
            return cli_usage("checkpoint");
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage("checkpoint");
        }
    }
    if (!path || !key)
        return cli_usage("checkpoint");
    if (!(db = cli_open("checkpoint", path, 0)))
        return RG_EXIT_FAIL;
    rg_actor_for_uid(getuid(), &me);
    rc = rg_checkpoint_make(db, &me, key, &out);
    if (rc < 0) {
        cli_error("checkpoint", "%s", rg_db_errmsg(db));
        status = rc == -EBADMSG ? RG_EXIT_TAMPERED : RG_EXIT_FAIL;
        goto out_free;
    }
    if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
        /* Recorded in the register all the same: `regfs log` shows it as audit.checkpoint. */
        cli_error("checkpoint", "writing to stdout: %s (the checkpoint is recorded in %s)",
                  strerror(errno), path);
        goto out_free;
    }
    status = RG_EXIT_OK;
out_free:
    rg_buf_free(&out);
    rg_db_close(db);
    return status;
}
