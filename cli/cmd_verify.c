/*
 * cmd_verify.c: `regfs verify DB [--checkpoint FILE]... [--pubkey PUBLIC]`: re-check the audit chain
 * and name the first broken event; with checkpoints, also prove that the log still holds, unchanged,
 * every event that each of them covered.  Then check that every applicant's verdict is the one its
 * last verdict event gives (crosscheck.h): nothing changed the register behind the log's back.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "checkpoint.h"
#include "cli.h"
#include "crosscheck.h"

#define MAX_CHECKPOINTS 64

struct cp_arg {
    const char *file;
    rg_checkpoint cp;
    int usable;          /* its statement was read, checked and is of this register */
};

/* Reads a small file whole into buf[cap] (one byte more than a statement may have, so that a longer
 * file is noticed); returns its length or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t r;
    int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    while (len < cap && (r = read(fd, buf + len, cap - len)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            close(fd);
            return r;
        }
        len += (size_t)r;
    }
    close(fd);
    return (ssize_t)len;
}

/* What a checkpoint the log does not hold means. */
static const char *meaning(int state)
{
    switch (state) {
    case RG_HEAD_TRUNCATED: return "events were removed from the log's tail (or this is an older copy)";
    case RG_HEAD_REWRITTEN: return "the log was rewritten";
    default: return "the log was changed before the checkpointed event";
    }
}

/* Reads and checks each checkpoint's statement; returns the worst exit status so far. */
static int read_checkpoints(rg_db *db, const char *pubkey, struct cp_arg *cps, int n)
{
    char text[RG_CHECKPOINT_MAX + 1], err[512], id[RG_REGISTER_ID_LEN];
    int status = RG_EXIT_OK, rc;
    rg_pubkey key;
    ssize_t len;

    if (rg_pubkey_load(pubkey, &key, err, sizeof err) < 0) {
        cli_error("verify", "%s", err);
        return RG_EXIT_FAIL;
    }
    if (rg_register_id(db, id) < 0) {
        cli_error("verify", "%s", rg_db_errmsg(db));
        return RG_EXIT_FAIL;
    }
    for (int i = 0; i < n; i++) {
        if ((len = read_small(cps[i].file, text, sizeof text)) < 0) {
            cli_error("verify", "%s: %s", cps[i].file, strerror((int)-len));
            status = RG_EXIT_FAIL;
            continue;
        }
        rc = rg_checkpoint_read(text, (size_t)len, &key, &cps[i].cp, err, sizeof err);
        if (rc < 0) {
            cli_error("verify", "checkpoint %s is refused: %s", cps[i].file, err);
            status = status == RG_EXIT_FAIL ? status : RG_EXIT_TAMPERED;
            continue;
        }
        if (strcmp(cps[i].cp.register_id, id) != 0) {
            cli_error("verify", "checkpoint %s is of another register (%s), not this one (%s)",
                      cps[i].file, cps[i].cp.register_id, id);
            status = status == RG_EXIT_FAIL ? status : RG_EXIT_TAMPERED;
            continue;
        }
        cps[i].usable = 1;
    }
    return status;
}

int cmd_verify(int argc, char **argv)
{
    struct cp_arg cps[MAX_CHECKPOINTS];
    rg_head heads[MAX_CHECKPOINTS];
    int where[MAX_CHECKPOINTS];        /* heads[k] is the head of cps[where[k]] */
    const char *path = NULL, *pubkey = NULL;
    char hash[RG_HASH_HEX];
    int64_t n, n2, bad = 0, seq;
    int ncp = 0, nheads = 0, status = RG_EXIT_OK;
    rg_db *db;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--checkpoint") == 0 || strcmp(argv[i], "--pubkey") == 0) {
            if (i + 1 == argc) {
                cli_error("verify", "%s needs a file", argv[i]);
                return cli_usage("verify");
            }
            if (argv[i][2] == 'p') {
                if (pubkey) {
                    cli_error("verify", "one --pubkey at a time");
                    return cli_usage("verify");
                }
                pubkey = argv[++i];
            } else if (ncp == MAX_CHECKPOINTS) {
                cli_error("verify", "at most %d checkpoints at a time", MAX_CHECKPOINTS);
                return cli_usage("verify");
            } else {
                cps[ncp++] = (struct cp_arg){ .file = argv[++i] };
            }
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("verify", "unknown option '%s'", argv[i]);
            return cli_usage("verify");
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage("verify");
        }
    }
    if (!path)
        return cli_usage("verify");
    if ((ncp > 0) != (pubkey != NULL)) {
        cli_error("verify", ncp ? "--checkpoint needs --pubkey PUBLIC: a signature proves nothing"
                                  " unless it is checked against a key you trust"
                                : "--pubkey is for checking --checkpoint FILE");
        return cli_usage("verify");
    }
    if (!(db = cli_open("verify", path, RG_OPEN_READONLY)))
        return RG_EXIT_FAIL;

    if (ncp > 0) {
        status = read_checkpoints(db, pubkey, cps, ncp);
        if (status == RG_EXIT_FAIL)
            goto out_close;
        for (int i = 0; i < ncp; i++)
            if (cps[i].usable) {
                heads[nheads] = cps[i].cp.head;
                where[nheads++] = i;
            }
    }
    /* Without checkpoints, exactly the check `regfs verify` has always made. */
    n = ncp ? rg_chain_check(db, heads, (size_t)nheads, &bad) : rg_audit_verify(db, &bad);
    if (n == -EBADMSG) {
        cli_error("verify", "audit chain broken at event %" PRId64 ": %s", bad, rg_db_errmsg(db));
        status = RG_EXIT_TAMPERED;
    } else if (n < 0 && n != -ESTALE) {
        cli_error("verify", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
        goto out_close;
    }
    for (int k = 0; k < nheads; k++) {
        const struct cp_arg *c = &cps[where[k]];
        if (heads[k].state == RG_HEAD_HOLDS)
            continue;
        cli_error("verify", "checkpoint %s (event %" PRId64 ", signed %s) is violated: %s: %s",
                  c->file, c->cp.head.seq, c->cp.at, heads[k].why, meaning(heads[k].state));
        status = RG_EXIT_TAMPERED;
    }
    if (status != RG_EXIT_OK)
        goto out_close;
    if ((n2 = rg_crosscheck_verdicts(db)) < 0) {
        cli_error("verify", "%s%s", rg_db_errmsg(db),
                  n2 == -EBADMSG ? ": the register was changed without its audit log" : "");
        status = n2 == -EBADMSG ? RG_EXIT_TAMPERED : RG_EXIT_FAIL;
        goto out_close;
    }
    if (rg_audit_head(db, &seq, hash) < 0) {
        cli_error("verify", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
        goto out_close;
    }
    printf("ok: %" PRId64 " events, head %" PRId64 " %s\n", n, seq, hash);
    for (int k = 0; k < nheads; k++) {
        const struct cp_arg *c = &cps[where[k]];
        printf("checkpoint %s holds: event %" PRId64 " %s, signed %s by key %.16s...\n", c->file,
               c->cp.head.seq, c->cp.head.hash, c->cp.at, c->cp.key);
    }
out_close:
    rg_db_close(db);
    return status;
}
