/*
 * tests/unit/fixture.h: the temporary register that most unit tests start from.
 *
 * fixture_register() makes a fresh directory under $TMPDIR (or /tmp) named after the test, and a new
 * register in it, through the real backend (rg_db_open with RG_OPEN_CREATE).  fixture_remove() deletes
 * that directory and everything a test left in it (the -wal and -shm files, copies, keys).  The caller
 * owns the rg_db and closes it before fixture_remove().  Header-only: each test binary is one file.
 */
#ifndef REGFS_TEST_FIXTURE_H
#define REGFS_TEST_FIXTURE_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"

/* dir gets "$TMPDIR/regfs-test-TAG-XXXXXX" made private by mkdtemp, path gets "dir/register.db".
 * Returns 0, or -1 with the reason on stderr (a cmocka setup then fails the group). */
static inline int fixture_register(const char *tag, char *dir, size_t dirlen, char *path, size_t pathlen,
                                   rg_db **db)
{
    const char *base = getenv("TMPDIR");

    snprintf(dir, dirlen, "%s/regfs-test-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(dir)) {
        perror(dir);
        return -1;
    }
    snprintf(path, pathlen, "%s/register.db", dir);
    if (rg_db_open(path, RG_OPEN_CREATE, db) < 0) {
        fprintf(stderr, "rg_db_open %s: %s\n", path, rg_db_errmsg(*db));
        return -1;
    }
    return 0;
}

static inline int fixture_remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path);
}

/* rm -rf dir; quiet when it is already gone. */
static inline void fixture_remove(const char *dir)
{
    nftw(dir, fixture_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
