/*
 * ops.c: the FUSE low-level operations.  Each handler finds its thread's connection, calls one
 * worker (layout.c, content.c, ctl.c) that returns 0 or a negative errno, and picks the reply; the
 * "Valid replies" of each operation in fuse_lowlevel.h are the contract.
 *
 * Everything that would change the tree (create, mkdir, unlink, rename, link, symlink, mknod,
 * chmod, chown, utimes, truncate) is refused with EACCES, or EPERM for a change of owner or mode,
 * or EROFS under -o ro; the one exception is truncating a ctl file to 0, which `echo cmd > ctl`
 * does on the way to its write.  Operations left out on purpose: the xattr ones (the kernel then
 * answers EOPNOTSUPP without asking), access (default_permissions lets the kernel check modes),
 * flush and fsync (nothing is buffered).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs.h"

static struct rg_fs *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    /* A symlink's target never changes: let the kernel keep it. */
    if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
        conn->want |= FUSE_CAP_CACHE_SYMLINKS;
    /* Keep a page cache across opens; a change is invalidated explicitly (watch.c). */
    if (conn->capable & FUSE_CAP_AUTO_INVAL_DATA)
        conn->want |= FUSE_CAP_AUTO_INVAL_DATA;
    /* Every listing carries its entries' attributes, from the query that lists them.  Left to
     * itself (READDIRPLUS_AUTO) the kernel asks for them with the first page of a folder only and
     * then looks up each further entry on its own: a cold `find` or `grep -r` then makes one more
     * round trip per applicant. */
    conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
    /* Folders are never opened: see op_opendir. */
    if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT)
        conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct rg_fs *fs = fs_of(req);
    struct fuse_entry_param e;
    rg_db *db = fs_db(fs);
    int rc;

    if (!db) {
        fuse_reply_err(req, EIO);
        return;
    }
    if ((rc = fs_lookup(fs, db, parent, name, &e)) < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    /* Inodes are computed from keys, not kept: there is nothing to forget. */
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct rg_fs *fs = fs_of(req);
    rg_db *db = fs_db(fs);
    struct stat st;
    double timeout;
    int rc;

    if (!db) {
        fuse_reply_err(req, EIO);
        return;
    }
    if ((rc = fs_getattr(fs, db, ino, &st, &timeout)) < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                       struct fuse_file_info *fi)
{
    const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
                      FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
    struct rg_fs *fs = fs_of(req);
    rg_db *db = fs_db(fs);
    struct stat st;
    double timeout;
    int rc;

    if (fs->ro) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (!fs_is_ctl(ino) || (to_set & ~(FUSE_SET_ATTR_SIZE | times)) ||
        ((to_set & FUSE_SET_ATTR_SIZE) && attr->st_size != 0)) {
        fuse_reply_err(req, to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)
                                ? EPERM : EACCES);
        return;
    }
    /* `echo cmd > ctl` truncates before it writes: a ctl file is always empty, so that is done. */
    if (!db) {
        fuse_reply_err(req, EIO);
        return;
    }
    if ((rc = fs_getattr(fs, db, ino, &st, &timeout)) < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_attr(req, &st, timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct rg_fs *fs = fs_of(req);
    rg_db *db = fs_db(fs);
    char target[64];
    int rc;

    if (!db) {
        fuse_reply_err(req, EIO);
        return;
    }
    if ((rc = fs_readlink(fs, db, ino, target, sizeof target)) < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_readlink(req, target);
}

/* The answer to every attempt to change the tree's shape. */
static void refuse(fuse_req_t req)
{
    fuse_reply_err(req, fs_of(req)->ro ? EROFS : EACCES);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    refuse(req);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    refuse(req);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    refuse(req);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    refuse(req);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
    refuse(req);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                      const char *newname, unsigned int flags)
{
    refuse(req);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    refuse(req);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    refuse(req);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct rg_fs *fs = fs_of(req);
    rg_db *db = fs_db(fs);
    struct fs_handle *h;
    int keep, direct, rc;

    if (!db) {
        fuse_reply_err(req, EIO);
        return;
    }
    if (!fs_is_ctl(ino) && (fi->flags & O_ACCMODE) == O_RDONLY)
        fs_watch_catch_up(fs, db);
    if ((rc = fs_open(fs, db, ino, fi->flags, &h, &keep, &direct)) < 0) {
        fuse_reply_err(req, -rc);
        return;
    }
    fi->fh = (uint64_t)(uintptr_t)h;
    fi->keep_cache = keep;
    fi->direct_io = direct;
    if (fuse_reply_open(req, fi) != 0)
        fs_release(fs, h);   /* the open was interrupted: no release will come */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    struct rg_fs *fs = fs_of(req);
    rg_db *db = fs_db(fs);
    fs_data d = { .buf = RG_BUF_INIT, .fd = -1 };
    int rc;

    if (!db) {
        fuse_reply_err(req, EIO);
        return;
    }
    rc = fs_read(fs, db, (struct fs_handle *)(uintptr_t)fi->fh, off, size, &d);
    if (rc < 0) {
        fuse_reply_err(req, -rc);
    } else if (d.fd >= 0) {
        struct fuse_bufvec bv = FUSE_BUFVEC_INIT(d.n);
        bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
        bv.buf[0].fd = d.fd;
        bv.buf[0].pos = d.pos;
        fuse_reply_data(req, &bv, 0);
    } else {
        fuse_reply_buf(req, d.p, d.n);
    }
    rg_buf_free(&d.buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct rg_fs *fs = fs_of(req);
    rg_actor who;
    int rc;

    if (fs->ro) {
        fuse_reply_err(req, EROFS);
        return;
    }
    if (!fs_is_ctl(ino)) {
        fuse_reply_err(req, EACCES);
        return;
    }
    rg_actor_for_uid(fuse_req_ctx(req)->uid, &who);
    rc = fs_ctl_write(fs, ino, buf, size, &who);
    /* Return only when the kernel has forgotten what changed (and the refusal, if any, is in
     * audit/log): the writer's next read must see it. */
    fs_watch_sync(fs, 5000);
    if (rc < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_write(req, size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fs_release(fs_of(req), (struct fs_handle *)(uintptr_t)fi->fh);
    fuse_reply_err(req, 0);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
    struct rg_fs *fs = fs_of(req);
    rg_db *db = fs_db(fs);
    rg_buf out = RG_BUF_INIT;
    int rc;

    if (!db) {
        fuse_reply_err(req, EIO);
        return;
    }
    if ((rc = fs_readdir(fs, db, req, ino, size, off, plus, &out)) < 0)
        fuse_reply_err(req, -rc);
    else
        fuse_reply_buf(req, out.data, out.len);
    rg_buf_free(&out);
}

/*
 * A folder needs no handle: readdir offsets are keys (layout.c), so a listing resumes without one.
 * ENOSYS tells the kernel so once for the whole mount; from then on it neither sends opendir and
 * releasedir nor drops what it read, and keeps each folder's listing cached (as if every open
 * said keep_cache and cache_readdir) until the folder's mtime changes or the watcher invalidates
 * it.  Every folder whose entries change gets a new mtime with the change (layout.c).
 */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    fuse_reply_err(req, ENOSYS);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    do_readdir(req, ino, size, off, 1);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs st = { .f_bsize = 4096, .f_frsize = 4096, .f_namemax = 255 };

    if (fs_of(req)->ro)
        st.f_flag |= ST_RDONLY;
    fuse_reply_statfs(req, &st);
}

const struct fuse_lowlevel_ops fs_ops = {
    .init = op_init,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .statfs = op_statfs,
};
