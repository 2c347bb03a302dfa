/*
 * fuzz_ctl.c: what is written to a ctl file (fs/ctl.c): the size and UTF-8 checks, splitting into
 * lines, each command's grammar and its check against the register (revet's scopes, cancel's job
 * number, the applicant of applicants/<id>/ctl), through fs_ctl_check(): fs_ctl_write() without
 * the running, so no mount is needed.
 *
 * The first byte picks the file: the register's ctl, or the ctl of an applicant who exists or of
 * one who does not; the rest is the write.  A write must be accepted (0) or refused with -EINVAL
 * and a reason.
 */
#include "fs.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char key[] = "/nonexistent/checkpoint.key";
    rg_actor who = { "fuzz", 1000 };
    rg_db *db = fuzz_register(1);
    struct rg_fs fs = { .checkpoint_key = NULL };
    char err[512] = "";
    fuse_ino_t ino;
    int rc;

    if (size < 1)
        return 0;
    switch (data[0] % 4) {
    case 0: ino = FS_INO_CTL; break;
    case 1: ino = FS_INO_CTL; fs.checkpoint_key = key; break;
    case 2: ino = FS_APP_FILE_INO(1000358, FS_APP_CTL); break;
    default: ino = FS_APP_FILE_INO(4242, FS_APP_CTL); break;
    }
    rc = fs_ctl_check(&fs, db, ino, (const char *)data + 1, size - 1, &who, err, sizeof err);
    FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    FUZZ_ASSERT(rc == 0 || err[0]);
    FUZZ_ASSERT(memchr(err, '\0', sizeof err));
    /* An applicant who does not exist takes no command at all. */
    FUZZ_ASSERT(data[0] % 4 != 3 || rc != 0);
    return 0;
}
