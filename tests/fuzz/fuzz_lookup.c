/*
 * fuzz_lookup.c: path lookup in the tree (fs/layout.c: fs_lookup, fs_getattr, fs_readlink,
 * fs_readdir), as the kernel walks a path a user typed, on a register made once per process (a few
 * applicants, one of them in a CLP named "../../etc"; a watch list; a finished job).
 *
 * Input: a path.  It is split at '/' (empty parts skipped, as the kernel does) and each part looked
 * up in the folder reached so far; "." and ".." are the kernel's to resolve, so the harness does
 * that itself after checking that the daemon does not answer for them.  Checked on every step: a
 * lookup gives 0 or -ENOENT/-ENOTDIR, a found entry has an inode, its attributes agree with
 * getattr's and a second lookup gives the same inode; a symlink's target stays inside the mount.
 * At the end, the folder reached is listed: every name is a usable file name (no '/', not empty, at
 * most 255 bytes) and looks up to the inode the listing gave.  After the path, a NUL and a decimal
 * number give the offset the listing starts from, as a user's lseek(2) or seekdir(3) on the folder
 * would: any offset at all must give entries past it, in increasing order, or none.
 */
#include <sys/stat.h>

#include "fs.h"
#include "fuzz.h"

struct dirent_wire {   /* struct fuse_dirent (fuse_kernel.h), as fuse_add_direntry lays it out */
    uint64_t ino, off;
    uint32_t namelen, type;
    char name[];
};

static struct rg_fs *fuzz_fs(rg_db *db)
{
    static struct rg_fs fs;
    static char path[128];

    if (fs.cache)
        return &fs;
    fs.db_path = (char *)fuzz_path("register.db", path);
    fs.tmp_dir = fuzz_dir;
    fs.uid = getuid();
    fs.gid = getgid();
    fs.foreground = 1;
    if (fs_cache_new(&fs) < 0 || fs_aidx_new(&fs) < 0 || rg_tree_reader_setup(db) < 0)
        fuzz_die(db, "setting up the tree");
    return &fs;
}

static int lookup(struct rg_fs *fs, rg_db *db, fuse_ino_t dir, const char *name,
                  struct fuse_entry_param *e)
{
    struct fuse_entry_param again;
    struct stat st;
    double timeout;
    int rc = fs_lookup(fs, db, dir, name, e);

    FUZZ_ASSERT(rc == 0 || rc == -ENOENT || rc == -ENOTDIR);
    if (rc < 0)
        return rc;
    FUZZ_ASSERT(e->ino != 0 && e->attr.st_ino == e->ino);
    FUZZ_ASSERT(fs_getattr(fs, db, e->ino, &st, &timeout) == 0);
    FUZZ_ASSERT(st.st_ino == e->ino && (st.st_mode & S_IFMT) == (e->attr.st_mode & S_IFMT));
    /* Nothing but the ctl files can be written, and nothing is the world's (links aside). */
    if (!S_ISLNK(st.st_mode))
        FUZZ_ASSERT(!(st.st_mode & 0007) &&
                    (fs_is_ctl(e->ino) ? (st.st_mode & 0777) == 0660 : !(st.st_mode & 0222)));
    FUZZ_ASSERT(fs_lookup(fs, db, dir, name, &again) == 0 && again.ino == e->ino);
    if (S_ISLNK(st.st_mode)) {
        char target[256];
        FUZZ_ASSERT(fs_readlink(fs, db, e->ino, target, sizeof target) == 0);
        /* Links point into applicants/ of this mount: "../../applicants/<id>". */
        FUZZ_ASSERT(strncmp(target, "../../applicants/", 17) == 0 && !strchr(target + 17, '/') &&
                    strcmp(target + 17, "..") != 0);
    }
    return 0;
}

static void list(struct rg_fs *fs, rg_db *db, fuse_ino_t dir, off_t off)
{
    rg_buf out = RG_BUF_INIT;
    struct fuse_entry_param e;
    char name[1025];
    uint64_t last = (uint64_t)off;

    if (fs_readdir(fs, db, NULL, dir, 8192, off, 0, &out) < 0)
        return;
    for (size_t at = 0; at + sizeof(struct dirent_wire) <= out.len;) {
        const struct dirent_wire *d = (const struct dirent_wire *)(out.data + at);
        FUZZ_ASSERT(d->namelen >= 1 && d->namelen <= 255);
        FUZZ_ASSERT(d->off > last);
        last = d->off;
        memcpy(name, d->name, d->namelen);
        name[d->namelen] = '\0';
        FUZZ_ASSERT(strlen(name) == d->namelen && !strchr(name, '/'));
        if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
            FUZZ_ASSERT(lookup(fs, db, dir, name, &e) == 0 && e.ino == d->ino);
        at += (sizeof(struct dirent_wire) + d->namelen + 7) & ~(size_t)7;
    }
    rg_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rg_db *db = fuzz_register(1);
    struct rg_fs *fs = fuzz_fs(db);
    struct fuse_entry_param e;
    fuse_ino_t stack[16] = { FS_INO_ROOT };
    int depth = 0, steps = 0;
    char *path = malloc(size + 1), *part, *save = NULL;
    const uint8_t *nul = memchr(data, '\0', size);
    off_t off = 0;

    if (!path)
        return 0;
    memcpy(path, data, size);
    path[size] = '\0';   /* a name ends at a NUL: the kernel never sends one inside a name */
    for (const uint8_t *p = nul ? nul + 1 : data + size; p < data + size && *p >= '0' && *p <= '9'; p++)
        off = off > (INT64_MAX - 9) / 10 ? INT64_MAX : off * 10 + (*p - '0');
    for (part = strtok_r(path, "/", &save); part && steps < 16;
         part = strtok_r(NULL, "/", &save), steps++) {
        if (strcmp(part, ".") == 0 || strcmp(part, "..") == 0) {
            FUZZ_ASSERT(fs_lookup(fs, db, stack[depth], part, &e) < 0);
            if (part[1] && depth > 0)
                depth--;
            continue;
        }
        if (lookup(fs, db, stack[depth], part, &e) < 0)
            break;
        if (!S_ISDIR(e.attr.st_mode))
            break;
        FUZZ_ASSERT(depth + 1 < 16);
        stack[++depth] = e.ino;
    }
    list(fs, db, stack[depth], off);
    free(path);
    return 0;
}
