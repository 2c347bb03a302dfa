/*
 * cmd_restore.c: `regfs restore [--force] [--expect-head SEQ:HASH]... FILE DB`: check a copy and put
 * it in place as the register.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "cli.h"

#define MAX_HEADS 64

/* What a head the copy does not hold means for a restore. */
static const char *meaning(int state)
{
    switch (state) {
    case RG_HEAD_TRUNCATED: return "the copy is older than the expected head";
    case RG_HEAD_REWRITTEN: return "the copy's log was rewritten";
    default: return "the copy's log is broken";
    }
}

int cmd_restore(int argc, char **argv)
{
    rg_head heads[MAX_HEADS];
    const char *args[2];
    rg_restore_opts o = { .expect = heads };
    rg_restore_info info;
    char err[1024];
    rg_actor me;
    int n = 0, rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            o.force = 1;
        } else if (strcmp(argv[i], "--expect-head") == 0) {
            if (i + 1 == argc || o.nexpect == MAX_HEADS)
                return cli_usage("restore");
            if (rg_head_parse(argv[++i], &heads[o.nexpect]) < 0) {
                cli_error("restore", "--expect-head: '%s' is not SEQ:HASH (a sequence number, a colon"
                          " or a space, 64 hex digits; audit/head shows one)", argv[i]);
                return cli_usage("restore");
            }
            o.nexpect++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("restore", "unknown option '%s'", argv[i]);
            return cli_usage("restore");
        } else if (n < 2) {
            args[n++] = argv[i];
        } else {
            return cli_usage("restore");
        }
    }
    if (n != 2)
        return cli_usage("restore");
    rg_actor_for_uid(getuid(), &me);
    o.who = &me;
    rc = rg_restore(args[0], args[1], &o, &info, err, sizeof err);
    if (rc == -ESTALE) {
        for (size_t i = 0; i < o.nexpect; i++)
            if (heads[i].state != RG_HEAD_HOLDS)
                cli_error("restore", "%s: refused: expected head %" PRId64 ": %s: %s", args[0],
                          heads[i].seq, heads[i].why, meaning(heads[i].state));
        return RG_EXIT_TAMPERED;
    }
    if (rc == -EBADMSG || rc == -EUCLEAN) {
        cli_error("restore", "refused: %s", err);
        return RG_EXIT_TAMPERED;
    }
    if (rc < 0) {
        cli_error("restore", "%s", err);
        return RG_EXIT_FAIL;
    }
    printf("%s: restored from %s: %" PRId64 " events checked, head %" PRId64 " %s\n", args[1], args[0],
           info.events, info.head_seq, info.head_hash);
    if (info.replaced && info.replaced_seq >= 0)
        printf("replaced a register whose head was %" PRId64 " %s\n", info.replaced_seq,
               info.replaced_hash);
    else if (info.replaced)
        printf("replaced a register that could not be read\n");
    printf("recorded as audit event %" PRId64 " (register.restore)\n", info.event);
    return RG_EXIT_OK;
}
