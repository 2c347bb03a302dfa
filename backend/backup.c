/*
 * backup.c: whole copies of the register, and restoring one after checking it (see backup.h).
 *
 * One snapshot: the copy is made with SQLite's backup API from the caller's own connection, inside
 * one read transaction on it, with a single sqlite3_backup_step(-1).  The backup API copies from a
 * source connection's current read transaction when it has one, so the head reported with the copy
 * and every page copied belong to the same committed state.  In WAL mode that read transaction does
 * not block the writer: commits made meanwhile go on into the WAL, and the copy does not see them.
 * (Copied a few pages per step instead, a backup restarts whenever another connection commits, so a
 * busy writer could keep it from ever finishing.)  The price is that the WAL cannot be reset while
 * the copy is made, so it grows by what is written meanwhile.
 *
 * A standalone file: the backup API copies page 1 as it is, and in a WAL database that page says
 * "WAL" (header bytes 18 and 19), so a fresh copy would open in WAL mode and make -wal and -shm files
 * wherever it is opened (and cannot be opened at all read-only without them).  Each copy is switched
 * to rollback-journal mode (PRAGMA journal_mode = DELETE) before it is handed over.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "db_internal.h"

static const char SQL_INTEGRITY[] = "PRAGMA integrity_check(5)";
static const char SQL_APPLICATION_ID[] = "PRAGMA application_id";

#define RG_APPLICATION_ID 0x72676673   /* "rgfs", as db.c stamps every register */

static const char *const SIDECARS[] = { "-wal", "-shm", "-journal" };
#define NSIDECARS (sizeof SIDECARS / sizeof SIDECARS[0])

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rg_vsnprintf_utf8(err, errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* path with suffix appended, into out[outlen]; returns out, or NULL if it does not fit. */
static char *suffixed(const char *path, const char *suffix, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "%s%s", path, suffix);

    return n < 0 || (size_t)n >= outlen ? NULL : out;
}

/* Removes a file SQLite made beside path (a temporary copy's journal, WAL or shared memory). */
static void unlink_sidecars(const char *path)
{
    char p[4096];

    for (size_t i = 0; i < NSIDECARS; i++)
        if (suffixed(path, SIDECARS[i], p, sizeof p))
            unlink(p);
}

/* Syncs the directory holding path, so that a rename into it survives a crash. */
static int sync_parent(const char *path)
{
    char *copy = strdup(path);
    int fd, rc = 0;

    if (!copy)
        return -ENOMEM;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Makes a private, empty file beside target (or in a folder, when dir is set) named
 * .<base><tag>XXXXXX; its path into path[pathlen].  Returns the descriptor or -errno. */
static int make_temp(const char *target, int in_dir, const char *tag, char *path, size_t pathlen)
{
    char *a = strdup(target), *b = strdup(target);
    int n, fd;

    if (!a || !b) {
        free(a);
        free(b);
        return -ENOMEM;
    }
    if (in_dir)
        n = snprintf(path, pathlen, "%s/%sXXXXXX", target, tag);
    else
        n = snprintf(path, pathlen, "%s/.%s%sXXXXXX", dirname(a), basename(b), tag);
    free(a);
    free(b);
    if (n < 0 || (size_t)n >= pathlen)
        return -ENAMETOOLONG;
    fd = mkostemp(path, O_CLOEXEC);   /* mode 0600 */
    return fd < 0 ? -errno : fd;
}

/* Runs one statement on a connection of this module's own (not an rg_db). */
static int raw_exec(sqlite3 *s, const char *sql)
{
    return sqlite3_exec(s, sql, NULL, NULL, NULL);
}

/*
 * Copies db into the empty file at path (see the top of this file), and records its head in info.
 * The destination is written without a journal or syncs: it is a temporary file until the caller
 * syncs and renames it, and a crash leaves only a temporary file behind.
 */
static int copy_into(rg_db *db, const char *path, rg_backup_info *info)
{
    sqlite3 *out = NULL;
    sqlite3_backup *bk;
    sqlite3_stmt *st = NULL;
    int own_read = 0, rc, src;

    if (db->in_txn)
        return rg_fail(db, -EINVAL, "a copy cannot be made inside a write transaction");
    src = sqlite3_open_v2(path, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK || raw_exec(out, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF") !=
        SQLITE_OK) {
        rc = rg_fail(db, -EIO, "%s: %s", path, out ? sqlite3_errmsg(out) : sqlite3_errstr(src));
        goto out_close;
    }
    if (sqlite3_get_autocommit(db->sql)) {
        if ((rc = rg_db_read_begin(db)) < 0)
            goto out_close;
        own_read = 1;
    }
    /* Reading the head starts the read transaction: the pages copied next are of the same state. */
    if ((rc = rg_audit_head(db, &info->head_seq, info->head_hash)) < 0)
        goto out_end;
    if (!(bk = sqlite3_backup_init(out, "main", db->sql, "main"))) {
        rc = rg_fail(db, -EIO, "%s: %s", path, sqlite3_errmsg(out));
        goto out_end;
    }
    src = sqlite3_backup_step(bk, -1);
    sqlite3_backup_finish(bk);
    if (src != SQLITE_DONE) {
        rc = (src & 0xff) == SQLITE_FULL
                 ? rg_fail(db, -ENOSPC, "%s: the disk is full", path)
                 : rg_fail(db, (src & 0xff) == SQLITE_BUSY ? -EBUSY : -EIO, "copying the register: %s",
                           sqlite3_errstr(src));
        goto out_end;
    }
    if (own_read)
        rg_db_read_end(db);
    own_read = 0;
    /* Out of WAL mode, as the copy's header said (see the top of this file). */
    src = sqlite3_prepare_v2(out, "PRAGMA journal_mode = DELETE", -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        src = mode && strcmp(mode, "delete") == 0 ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (src != SQLITE_OK) {
        rc = rg_fail(db, -EIO, "%s: cannot leave WAL mode: %s", path, sqlite3_errmsg(out));
        goto out_close;
    }
    rc = sqlite3_close(out);
    out = NULL;
    if (rc != SQLITE_OK)
        return rg_fail(db, -EIO, "%s: %s", path, sqlite3_errstr(rc));
    return 0;
out_end:
    if (own_read)
        rg_db_read_end(db);
out_close:
    if (out)
        sqlite3_close_v2(out);
    return rc;
}

/* Whether a and b name the same file (0 or 1), or -errno if a cannot be read. */
static int same_file(const char *a, const struct stat *b)
{
    struct stat sa;

    if (stat(a, &sa) < 0)
        return -errno;
    return sa.st_dev == b->st_dev && sa.st_ino == b->st_ino;
}

int rg_backup_to_file(rg_db *db, const char *dest, int flags, rg_backup_info *info)
{
    rg_backup_info local;
    const char *source = sqlite3_db_filename(db->sql, "main");
    char tmp[4096];
    struct stat sb;
    int fd, rc;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    if (stat(dest, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return rg_fail(db, -EINVAL, "%s: not a regular file", dest);
        if (source && *source && same_file(source, &sb) == 1)
            return rg_fail(db, -EINVAL, "%s: is the register itself", dest);
        if (!(flags & RG_BACKUP_REPLACE))
            return rg_fail(db, -EEXIST, "%s: exists (give --force to replace it)", dest);
    } else if (errno != ENOENT) {
        return rg_fail(db, -errno, "%s: %s", dest, strerror(errno));
    }
    if ((fd = make_temp(dest, 0, "backup-", tmp, sizeof tmp)) < 0)
        return rg_fail(db, fd, "%s: cannot make a file beside it: %s", dest, strerror(-fd));
    if ((rc = copy_into(db, tmp, info)) < 0)
        goto out_unlink;
    if (fstat(fd, &sb) < 0 || fsync(fd) < 0) {
        rc = rg_fail(db, errno == ENOSPC ? -ENOSPC : -EIO, "%s: %s", tmp, strerror(errno));
        goto out_unlink;
    }
    info->size = (int64_t)sb.st_size;
    if (flags & RG_BACKUP_REPLACE) {
        rc = rename(tmp, dest);
    } else {
        /* Never clobber a file that appeared while the copy was made. */
        rc = renameat2(AT_FDCWD, tmp, AT_FDCWD, dest, RENAME_NOREPLACE);
        if (rc < 0 && (errno == EINVAL || errno == ENOSYS)) {   /* a filesystem without it */
            rc = link(tmp, dest);
            if (rc == 0)
                unlink(tmp);
        }
    }
    if (rc < 0) {
        rc = rg_fail(db, -errno, "%s: %s", dest, strerror(errno));
        goto out_unlink;
    }
    close(fd);
    if ((rc = sync_parent(dest)) < 0)
        return rg_fail(db, rc, "%s: syncing its folder: %s", dest, strerror(-rc));
    return 0;
out_unlink:
    close(fd);
    unlink(tmp);
    unlink_sidecars(tmp);
    return rc;
}

int rg_backup_to_tmpfile(rg_db *db, const char *dir, int *fd, rg_backup_info *info)
{
    rg_backup_info local;
    char tmp[4096];
    struct stat sb;
    int rc;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    *fd = -1;
    if ((rc = make_temp(dir, 1, ".regfs-backup-", tmp, sizeof tmp)) < 0)
        return rg_fail(db, rc, "%s: cannot make a file there: %s", dir, strerror(-rc));
    *fd = rc;
    rc = copy_into(db, tmp, info);
    /* The copy lives on through the descriptor only. */
    unlink(tmp);
    unlink_sidecars(tmp);
    if (rc == 0 && fstat(*fd, &sb) < 0)
        rc = rg_fail(db, -errno, "%s: %s", tmp, strerror(errno));
    if (rc < 0) {
        close(*fd);
        *fd = -1;
        return rc;
    }
    info->size = (int64_t)sb.st_size;
    return 0;
}

int64_t rg_backup_check(rg_db *db, rg_head *heads, size_t n, int64_t *bad_seq)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_INTEGRITY);
    rg_buf why = RG_BUF_INIT;
    int rc, rows = 0;

    *bad_seq = 0;
    if (!st)
        return -EIO;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") == 0)
            continue;
        rg_buf_addf(&why, "%s%s", rows++ ? "; " : "", line ? line : "?");
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && (rc & 0xff) != SQLITE_CORRUPT && (rc & 0xff) != SQLITE_NOTADB) {
        rg_buf_free(&why);
        return rg_sqlfail(db, rc);
    }
    if (rows > 0 || rc != SQLITE_DONE) {
        rc = rg_fail(db, -EUCLEAN, "the file is damaged: integrity_check says: %.300s",
                     rows > 0 && !rg_buf_failed(&why) ? why.data : sqlite3_errstr(rc));
        rg_buf_free(&why);
        return rc;
    }
    rg_buf_free(&why);
    return rg_chain_check(db, heads, n, bad_seq);
}

/* ---- restore ---- */

/* Copies the file at from into the descriptor fd; returns 0 or -errno. */
static int copy_bytes(const char *from, int fd)
{
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    int in = open(from, O_RDONLY | O_CLOEXEC), rc = 0;
    ssize_t r;

    if (in < 0 || !buf) {
        rc = in < 0 ? -errno : -ENOMEM;
        if (in >= 0)
            close(in);
        free(buf);
        return rc;
    }
    while ((r = read(in, buf, CHUNK)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(fd, buf + off, (size_t)(r - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                rc = -errno;
                goto out_close;
            }
            off += w;
        }
    }
out_close:
    close(in);
    free(buf);
    return rc;
}

/*
 * Checks the raw copy before regfs opens it (which may upgrade it): an SQLite file whose structure
 * holds.  A damaged file is -EUCLEAN, one that is not SQLite at all -EINVAL.
 */
static int precheck(const char *path, const char *label, char *err, size_t errlen)
{
    sqlite3 *s = NULL;
    sqlite3_stmt *st = NULL;
    rg_buf why = RG_BUF_INIT;
    int src, rc = 0, rows = 0;

    src = sqlite3_open_v2(path, &s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(s, SQL_INTEGRITY, -1, &st, NULL);
    while (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (!line || strcmp(line, "ok") != 0)
            rg_buf_addf(&why, "%s%s", rows++ ? "; " : "", line ? line : "?");
        src = SQLITE_OK;
    }
    if (src == SQLITE_DONE)
        src = SQLITE_OK;
    if ((src & 0xff) == SQLITE_NOTADB)
        rc = say(err, errlen, -EINVAL, "%s: not an SQLite database, so not a copy of a register", label);
    else if ((src & 0xff) == SQLITE_CORRUPT || rows > 0)
        rc = say(err, errlen, -EUCLEAN, "%s: the copy is damaged: integrity_check says: %.300s", label,
                 rows > 0 && !rg_buf_failed(&why) ? why.data : sqlite3_errstr(src));
    else if (src != SQLITE_OK)
        rc = say(err, errlen, (src & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO, "%s: %s", label,
                 s ? sqlite3_errmsg(s) : sqlite3_errstr(src));
    sqlite3_finalize(st);
    st = NULL;
    /* Only a register is restored: an empty file or another program's database would otherwise
     * be made into a new, empty register by regfs's open. */
    if (rc == 0) {
        int appid = 0;
        if (sqlite3_prepare_v2(s, SQL_APPLICATION_ID, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            appid = sqlite3_column_int(st, 0);
        if (appid != RG_APPLICATION_ID)
            rc = say(err, errlen, -EINVAL, "%s: not a regfs database, so not a copy of a register", label);
        sqlite3_finalize(st);
    }
    sqlite3_close_v2(s);
    rg_buf_free(&why);
    return rc;
}

/*
 * Makes sure nobody has dest open, and leaves it out of WAL mode so that no -wal of it is left to
 * replay.  Leaving WAL mode takes an exclusive lock, which any connection that has read the file
 * holds off (a WAL connection keeps its shared lock between transactions).  A dest SQLite cannot read
 * is not in use by regfs either: it is replaced as it is.
 */
static int claim_dest(const char *dest, char *err, size_t errlen)
{
    sqlite3 *s = NULL;
    sqlite3_stmt *st = NULL;
    const char *mode = NULL;
    int src, rc = 0;

    src = sqlite3_open_v2(dest, &s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(s, "PRAGMA journal_mode = DELETE", -1, &st, NULL);
    if (src == SQLITE_OK && (src = sqlite3_step(st)) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(st, 0);
    if ((src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED ||
        (src == SQLITE_ROW && mode && strcmp(mode, "wal") == 0))
        rc = say(err, errlen, -EBUSY, "%s: in use (a mounted register, or another regfs command, has"
                 " it open): stop it first", dest);
    sqlite3_finalize(st);
    if (rc == 0 && src == SQLITE_ROW && raw_exec(s, "BEGIN EXCLUSIVE") != SQLITE_OK)
        rc = say(err, errlen, -EBUSY, "%s: in use (another process holds a lock on it): stop it first",
                 dest);
    sqlite3_close_v2(s);
    return rc;
}

/* The old register's head, for the record of what the restore replaced; -1 if unreadable. */
static void old_head(const char *dest, rg_restore_info *info)
{
    rg_db *old = NULL;

    info->replaced_seq = -1;
    if (rg_db_open(dest, RG_OPEN_READONLY, &old) == 0 &&
        rg_audit_head(old, &info->replaced_seq, info->replaced_hash) < 0)
        info->replaced_seq = -1;
    rg_db_close(old);
}

int rg_restore(const char *copy, const char *dest, const rg_restore_opts *o, rg_restore_info *info,
               char *err, size_t errlen)
{
    rg_restore_info local;
    char tmp[4096], side[4096], *from;
    struct stat sb, csb;
    json_t *detail;
    rg_db *db = NULL;
    int fd = -1, exists = 0, rc;
    int64_t n, bad, event;

    if (!info)
        info = &local;
    memset(info, 0, sizeof *info);
    info->replaced_seq = -1;

    /* ---- what is there ---- */
    if (stat(copy, &csb) < 0)
        return say(err, errlen, -errno, "%s: %s", copy, strerror(errno));
    if (!S_ISREG(csb.st_mode))
        return say(err, errlen, -EINVAL, "%s: not a regular file", copy);
    if (suffixed(copy, "-wal", side, sizeof side) && stat(side, &sb) == 0 && sb.st_size > 0)
        return say(err, errlen, -EINVAL, "%s: has a %s beside it: it is a live database, not a copy"
                   " (make one with `regfs backup`)", copy, side);
    if (stat(dest, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return say(err, errlen, -EINVAL, "%s: not a regular file", dest);
        if (sb.st_dev == csb.st_dev && sb.st_ino == csb.st_ino)
            return say(err, errlen, -EINVAL, "%s: is the copy itself", dest);
        exists = 1;
    } else if (errno != ENOENT) {
        return say(err, errlen, -errno, "%s: %s", dest, strerror(errno));
    }
    for (size_t i = 0; i < NSIDECARS && !exists; i++)
        if (suffixed(dest, SIDECARS[i], side, sizeof side) && access(side, F_OK) == 0)
            exists = 2;
    if (exists && !o->force)
        return say(err, errlen, -EEXIST, "%s: exists%s: give --force to replace it", dest,
                   exists == 2 ? " (its -wal, -shm or -journal)" : "");

    /* ---- the copy, checked where it will stay ---- */
    if ((fd = make_temp(dest, 0, "restore-", tmp, sizeof tmp)) < 0)
        return say(err, errlen, fd, "%s: cannot make a file beside it: %s", dest, strerror(-fd));
    if ((rc = copy_bytes(copy, fd)) < 0) {
        say(err, errlen, rc, "copying %s beside %s: %s", copy, dest, strerror(-rc));
        goto out_unlink;
    }
    if ((rc = precheck(tmp, copy, err, errlen)) < 0)
        goto out_unlink;
    if ((rc = rg_db_open(tmp, 0, &db)) < 0) {
        say(err, errlen, rc, "%s: %s", copy, rg_db_errmsg(db));
        goto out_unlink;
    }
    n = rg_backup_check(db, o->expect, o->nexpect, &bad);
    if (n < 0) {
        rc = (int)n;
        say(err, errlen, rc, "%s: %s", copy, rg_db_errmsg(db));
        goto out_unlink;
    }
    info->events = n;
    if ((rc = rg_audit_head(db, &info->head_seq, info->head_hash)) < 0) {
        say(err, errlen, rc, "%s: %s", copy, rg_db_errmsg(db));
        goto out_unlink;
    }
    info->replaced = exists == 1;
    if (info->replaced)
        old_head(dest, info);

    /* ---- the record of the restore, in the restored log ---- */
    from = realpath(copy, NULL);
    detail = json_pack("{s:s, s:I, s:s, s:b}", "from", from ? from : copy, "seq",
                       (json_int_t)info->head_seq, "hash", info->head_hash, "replaced", info->replaced);
    free(from);
    if (detail && info->replaced_seq >= 0) {
        json_object_set_new(detail, "replaced_seq", json_integer(info->replaced_seq));
        json_object_set_new(detail, "replaced_hash", json_string(info->replaced_hash));
    }
    if ((rc = rg_db_begin(db)) < 0) {
        json_decref(detail);
        say(err, errlen, rc, "%s: %s", tmp, rg_db_errmsg(db));
        goto out_unlink;
    }
    event = rg_audit_append(db, o->who, "register.restore", 0, detail);
    if (event < 0 || (rc = rg_db_commit(db)) < 0) {
        rc = event < 0 ? (int)event : rc;
        rg_db_rollback(db);
        say(err, errlen, rc, "%s: %s", tmp, rg_db_errmsg(db));
        goto out_unlink;
    }
    info->event = event;
    /* One file again: the WAL folded in, the header out of WAL mode. */
    if (raw_exec(db->sql, "PRAGMA journal_mode = DELETE") != SQLITE_OK) {
        rc = say(err, errlen, -EIO, "%s: %s", tmp, sqlite3_errmsg(db->sql));
        goto out_unlink;
    }
    rg_db_close(db);
    db = NULL;
    if (fsync(fd) < 0) {
        rc = say(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
        goto out_unlink;
    }

    /* ---- in place ---- */
    if (exists == 1 && (rc = claim_dest(dest, err, errlen)) < 0)
        goto out_unlink;
    for (size_t i = 0; i < NSIDECARS; i++)
        if (suffixed(dest, SIDECARS[i], side, sizeof side) && unlink(side) < 0 && errno != ENOENT) {
            rc = say(err, errlen, -errno, "%s: %s", side, strerror(errno));
            goto out_unlink;
        }
    if (rename(tmp, dest) < 0) {
        rc = say(err, errlen, -errno, "%s: %s", dest, strerror(errno));
        goto out_unlink;
    }
    close(fd);
    if ((rc = sync_parent(dest)) < 0)
        return say(err, errlen, rc, "%s: syncing its folder: %s", dest, strerror(-rc));
    return 0;
out_unlink:
    rg_db_close(db);
    close(fd);
    unlink(tmp);
    unlink_sidecars(tmp);
    return rc;
}
