/*
 * content.c: the bytes of the files, and the promise that a reader sees one version of a file from
 * open to close with the size that stat gave.
 *
 *   - Small files (an applicant's, a watch-list entry, a job, stats, audit/head, README) are
 *     rendered into a buffer at open that the handle owns: later changes make a new version for
 *     the next open, never a mix.  An applicant's files are read through the page cache when
 *     pin.c can promise the kernel holds that same version (pages and size); every other small
 *     file, and those when it cannot, with direct I/O.
 *   - register.tsv and register.jsonl are rendered once per version of the register into an
 *     unlinked temporary file (not the heap: at 630,000 applicants they are hundreds of MB), shared
 *     by reference count between getattr (which needs the size) and every open of that version.
 *     A version stays current until an audit event about an applicant arrives.
 *   - snapshot/register.db is a copy made at open by rg_backup_to_tmpfile() (one read snapshot, a
 *     standalone file), in an unlinked file; while one is open, stat reports its size, and before
 *     that the size such a copy would have (the database's page count times its page size).
 *   - audit/log and audit/<day> are append-only and read at any offset from auditidx.c.
 *
 * Locking: cache->lock protects the export and snapshot pointers and reference counts; render_lock
 * serialises the rendering of one export format (a second reader waits for the first render rather
 * than making its own); stats_lock protects the stats cache; clp_lock the CLP map.  No lock is held
 * while another is taken, except that render_lock is held while cache->lock is taken briefly.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "backup.h"
#include "checkpoint.h"
#include "fs.h"
#include "stats.h"

#define EXPORT_BATCH_ROWS 4096
#define EXPORT_FLUSH_BYTES (1 << 20)

struct fs_export {
    int fd;
    int64_t size;
    int64_t seq;        /* the audit head this version was rendered at */
    int64_t mtime_ns;
    int refs;           /* protected by cache->lock */
};

struct fs_snap {
    int fd;
    int64_t size;
    int refs;           /* protected by cache->lock */
};

struct clp {
    uint64_t hash;
    char slug[RG_SLUG_LEN];
};

struct fs_cache {
    pthread_mutex_t lock;
    pthread_mutex_t render_lock[2];
    struct fs_export *exp[2];   /* the current version of each format; holds one reference */
    struct fs_snap *snap;       /* the newest open snapshot, or NULL; holds no reference */
    struct fs_handle *handles;  /* every open handle: the kernel sends no release for a file
                                 * still open (or just closed) when the mount goes away */
    int64_t snap_reported;      /* the size stat last reported for it */

    pthread_mutex_t stats_lock;
    rg_buf stats;               /* protected by stats_lock */
    int64_t stats_seq;
    uint64_t stats_gen;
    int stats_valid;

    pthread_mutex_t clp_lock;
    struct clp *clps;           /* sorted by hash; protected by clp_lock */
    size_t nclps;
    int clps_loaded;
    atomic_int clps_stale;

    /* The pre-render thread (see fs_prerender_start). */
    pthread_t pre_thread;
    int pre_started;
    pthread_mutex_t pre_lock;
    pthread_cond_t pre_wake;
    int pre_stop;               /* protected by pre_lock */
    atomic_int stopping;        /* the daemon is exiting: abandon a render under way */
    int pre_pending;            /* protected by pre_lock */
    struct timespec pre_last;   /* the last change; protected by pre_lock */
};

enum h_type { H_BUF, H_EMPTY, H_EXPORT, H_SNAP, H_LOG, H_DAY };

struct fs_handle {
    struct fs_handle *prev, *next;   /* in fs_cache.handles; protected by its lock */
    enum h_type type;
    rg_buf buf;
    struct fs_export *exp;
    struct fs_snap *snap;
    fuse_ino_t pinned;       /* the inode whose pin this handle holds (pin.c), or 0 */
    char day[RG_DAY_LEN];
};

int fs_cache_new(struct rg_fs *fs)
{
    struct fs_cache *c = calloc(1, sizeof *c);

    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->render_lock[0], NULL);
    pthread_mutex_init(&c->render_lock[1], NULL);
    pthread_mutex_init(&c->stats_lock, NULL);
    pthread_mutex_init(&c->clp_lock, NULL);
    pthread_mutex_init(&c->pre_lock, NULL);
    pthread_cond_init(&c->pre_wake, NULL);
    c->snap_reported = -1;
    fs->cache = c;
    return 0;
}

static void export_put(struct fs_cache *c, struct fs_export *e)
{
    int last;

    if (!e)
        return;
    pthread_mutex_lock(&c->lock);
    last = --e->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        close(e->fd);
        free(e);
    }
}

void fs_cache_free(struct rg_fs *fs)
{
    struct fs_cache *c = fs->cache;

    if (!c)
        return;
    while (c->handles)
        fs_release(fs, c->handles);
    export_put(c, c->exp[0]);
    export_put(c, c->exp[1]);
    rg_buf_free(&c->stats);
    free(c->clps);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->render_lock[0]);
    pthread_mutex_destroy(&c->render_lock[1]);
    pthread_mutex_destroy(&c->stats_lock);
    pthread_mutex_destroy(&c->clp_lock);
    pthread_mutex_destroy(&c->pre_lock);
    pthread_cond_destroy(&c->pre_wake);
    free(c);
    fs->cache = NULL;
}

/* An anonymous private file for a rendering: unlinked from birth, in the database's folder (so
 * personal data stays where it already is), or in memory if that folder will not have it. */
static int tmpfile_fd(struct rg_fs *fs)
{
    int fd = open(fs->tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

    if (fd < 0)
        fd = memfd_create("regfs-export", MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- stats ---- */

/* Brings the stats cache up to date: re-rendered when an event or a change the watcher saw (a
 * job's progress) has happened since.  Called with stats_lock held. */
static int stats_refresh(struct rg_fs *fs, rg_db *db)
{
    struct fs_cache *c = fs->cache;
    uint64_t gen = atomic_load(&fs->gen);
    rg_buf b = RG_BUF_INIT;
    int64_t seq, at;
    int rc;

    if ((rc = rg_tree_head(db, &seq, &at)) < 0)
        return rc;
    if (c->stats_valid && c->stats_seq == seq && c->stats_gen == gen)
        return 0;
    if ((rc = rg_stats_render(db, &b)) < 0) {
        rg_buf_free(&b);
        return rc;
    }
    if (rg_buf_failed(&b)) {
        rg_buf_free(&b);
        return -ENOMEM;
    }
    rg_buf_free(&c->stats);
    c->stats = b;
    c->stats_seq = seq;
    c->stats_gen = gen;
    c->stats_valid = 1;
    return 0;
}

int fs_stats_attr(struct rg_fs *fs, rg_db *db, int64_t *size)
{
    struct fs_cache *c = fs->cache;
    int rc;

    pthread_mutex_lock(&c->stats_lock);
    if ((rc = stats_refresh(fs, db)) == 0)
        *size = (int64_t)c->stats.len;
    pthread_mutex_unlock(&c->stats_lock);
    return rc;
}

static int stats_copy(struct rg_fs *fs, rg_db *db, rg_buf *out)
{
    struct fs_cache *c = fs->cache;
    int rc;

    pthread_mutex_lock(&c->stats_lock);
    if ((rc = stats_refresh(fs, db)) == 0)
        rg_buf_add(out, c->stats.data, c->stats.len);
    pthread_mutex_unlock(&c->stats_lock);
    return rc;
}

int fs_head_render(rg_db *db, rg_buf *out)
{
    char hash[RG_HASH_HEX];
    int64_t seq;
    int rc = rg_audit_head(db, &seq, hash);

    if (rc == 0)
        rg_buf_addf(out, "%" PRId64 " %s\n", seq, hash);
    return rc;
}

/* ---- register.tsv and register.jsonl ---- */

static int export_render(struct rg_fs *fs, rg_db *db, enum rg_export_format fmt,
                         struct fs_export **out)
{
    struct fs_export *e = calloc(1, sizeof *e);
    rg_buf buf = RG_BUF_INIT;
    int64_t last = 0, at;
    int rc, n;

    if (!e)
        return -ENOMEM;
    if ((e->fd = tmpfile_fd(fs)) < 0) {
        rc = e->fd;
        fs_log(fs, LOG_ERR, "cannot make a temporary file for register.%s: %s",
               fmt == RG_EXPORT_TSV ? "tsv" : "jsonl", strerror(-rc));
        free(e);
        return rc;
    }
    /* One read snapshot: the rows, the head they belong to and their mtime agree. */
    if ((rc = rg_db_read_begin(db)) < 0)
        goto out_close;
    if ((rc = rg_tree_head(db, &e->seq, &at)) < 0)
        goto out_end;
    rg_export_header(fmt, &buf);
    while ((n = rg_export_rows(db, fmt, last, EXPORT_BATCH_ROWS, &buf, &last, &e->mtime_ns)) > 0) {
        if (atomic_load(&fs->cache->stopping)) {
            rc = -ECANCELED;
            goto out_end;
        }
        if (buf.len >= EXPORT_FLUSH_BYTES) {
            if (rg_buf_failed(&buf)) {
                rc = -ENOMEM;
                goto out_end;
            }
            if ((rc = write_all(e->fd, buf.data, buf.len)) < 0)
                goto out_end;
            e->size += (int64_t)buf.len;
            rg_buf_reset(&buf);
        }
    }
    if ((rc = n) < 0)
        goto out_end;
    if (rg_buf_failed(&buf)) {
        rc = -ENOMEM;
        goto out_end;
    }
    if (buf.len > 0 && (rc = write_all(e->fd, buf.data, buf.len)) < 0)
        goto out_end;
    e->size += (int64_t)buf.len;
    e->refs = 1;
    rg_db_read_end(db);
    rg_buf_free(&buf);
    *out = e;
    return 0;
out_end:
    rg_db_read_end(db);
out_close:
    rg_buf_free(&buf);
    close(e->fd);
    free(e);
    return rc;
}

/*
 * The current version of an export, rendered if the register changed since the last one.  With
 * ref, takes a reference the caller gives back with export_put().  size and mtime may be NULL.
 */
static int export_current(struct rg_fs *fs, rg_db *db, enum rg_export_format fmt,
                          struct fs_export **ref, int64_t *size, int64_t *mtime)
{
    struct fs_cache *c = fs->cache;
    struct fs_export *e, *old = NULL, *fresh = NULL;
    int rc = 0, stale = 1;

    pthread_mutex_lock(&c->render_lock[fmt]);
    pthread_mutex_lock(&c->lock);
    e = c->exp[fmt];
    pthread_mutex_unlock(&c->lock);
    /* Only this thread replaces c->exp[fmt] (render_lock), so e stays valid here. */
    if (e && (rc = rg_tree_applicant_events_since(db, e->seq)) == 0)
        stale = 0;
    if (rc < 0)
        goto out_unlock;
    if (stale) {
        if ((rc = export_render(fs, db, fmt, &fresh)) < 0)
            goto out_unlock;
        pthread_mutex_lock(&c->lock);
        old = c->exp[fmt];
        c->exp[fmt] = fresh;
        pthread_mutex_unlock(&c->lock);
        export_put(c, old);
    }
    pthread_mutex_lock(&c->lock);
    e = c->exp[fmt];
    if (ref) {
        e->refs++;
        *ref = e;
    }
    if (size)
        *size = e->size;
    if (mtime)
        *mtime = e->mtime_ns;
    pthread_mutex_unlock(&c->lock);
out_unlock:
    pthread_mutex_unlock(&c->render_lock[fmt]);
    return rc;
}

int fs_export_attr(struct rg_fs *fs, rg_db *db, enum rg_export_format fmt, int64_t *size,
                   int64_t *mtime_ns)
{
    return export_current(fs, db, fmt, NULL, size, mtime_ns);
}

/* ---- rendering the exports ahead of the next stat ----
 *
 * At 630,000 applicants register.jsonl takes seconds to render (and stats most of one), and
 * `ls -l` at the top of the mount needs their sizes.  So a thread renders them once the register
 * has been quiet for PRERENDER_QUIET_S after a change (and once at mount): the common `ls -l` then
 * finds the current version ready.  A stat during a burst of changes (a running re-vet) still renders on demand, and
 * waits for a pre-render under way rather than making a second one (render_lock). */

#define PRERENDER_QUIET_S 2

static void *prerender_main(void *arg)
{
    struct rg_fs *fs = arg;
    struct fs_cache *c = fs->cache;
    struct timespec now, until;
    int64_t size, mtime;
    rg_db *db;

    pthread_mutex_lock(&c->pre_lock);
    for (;;) {
        while (!c->pre_stop && !c->pre_pending)
            pthread_cond_wait(&c->pre_wake, &c->pre_lock);
        if (c->pre_stop)
            break;
        /* Quiet: no change for PRERENDER_QUIET_S. */
        clock_gettime(CLOCK_REALTIME, &now);
        until = c->pre_last;
        until.tv_sec += PRERENDER_QUIET_S;
        if (now.tv_sec < until.tv_sec ||
            (now.tv_sec == until.tv_sec && now.tv_nsec < until.tv_nsec)) {
            pthread_cond_timedwait(&c->pre_wake, &c->pre_lock, &until);
            continue;
        }
        c->pre_pending = 0;
        pthread_mutex_unlock(&c->pre_lock);
        if ((db = fs_db(fs))) {
            fs_stats_attr(fs, db, &size);
            fs_export_attr(fs, db, RG_EXPORT_TSV, &size, &mtime);
            fs_export_attr(fs, db, RG_EXPORT_JSONL, &size, &mtime);
        }
        pthread_mutex_lock(&c->pre_lock);
    }
    pthread_mutex_unlock(&c->pre_lock);
    return NULL;
}

int fs_prerender_start(struct rg_fs *fs)
{
    struct fs_cache *c = fs->cache;
    int rc;

    fs_prerender_kick(fs);
    if ((rc = fs_thread_create(&c->pre_thread, prerender_main, fs)) != 0) {
        fs_log(fs, LOG_ERR, "cannot start the pre-render thread: %s", strerror(rc));
        return -rc;
    }
    c->pre_started = 1;
    return 0;
}

void fs_prerender_stop(struct rg_fs *fs)
{
    struct fs_cache *c = fs->cache;

    if (!c || !c->pre_started)
        return;
    atomic_store(&c->stopping, 1);
    pthread_mutex_lock(&c->pre_lock);
    c->pre_stop = 1;
    pthread_cond_signal(&c->pre_wake);
    pthread_mutex_unlock(&c->pre_lock);
    pthread_join(c->pre_thread, NULL);
    c->pre_started = 0;
}

void fs_prerender_kick(struct rg_fs *fs)
{
    struct fs_cache *c = fs->cache;

    pthread_mutex_lock(&c->pre_lock);
    clock_gettime(CLOCK_REALTIME, &c->pre_last);
    c->pre_pending = 1;
    pthread_cond_signal(&c->pre_wake);
    pthread_mutex_unlock(&c->pre_lock);
}

/* ---- snapshot/register.db ---- */

int fs_snapshot_attr(struct rg_fs *fs, rg_db *db, int64_t *size)
{
    struct fs_cache *c = fs->cache;
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    if (c->snap && c->snap->refs > 0) {
        *size = c->snap->size;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    pthread_mutex_unlock(&c->lock);
    if ((rc = rg_tree_db_size(db, size)) == 0) {
        pthread_mutex_lock(&c->lock);
        c->snap_reported = *size;
        pthread_mutex_unlock(&c->lock);
    }
    return rc;
}

static int snapshot_open(struct rg_fs *fs, rg_db *db, struct fs_snap **out)
{
    struct fs_cache *c = fs->cache;
    struct fs_snap *s = calloc(1, sizeof *s);
    const char *tmp = getenv("TMPDIR");
    rg_backup_info info;
    int rc, moved;

    if (!s)
        return -ENOMEM;
    /* A standalone copy (backup.h) in an unlinked file beside the database, or in TMPDIR if that
     * folder will not have it. */
    rc = rg_backup_to_tmpfile(db, fs->tmp_dir, &s->fd, &info);
    if (rc < 0 && rc != -ENOSPC)
        rc = rg_backup_to_tmpfile(db, tmp && *tmp ? tmp : "/tmp", &s->fd, &info);
    if (rc < 0) {
        fs_log(fs, LOG_ERR, "snapshot/register.db: %s", rg_db_errmsg(db));
        free(s);
        return rc;
    }
    s->size = info.size;
    s->refs = 1;
    pthread_mutex_lock(&c->lock);
    moved = c->snap_reported != s->size;
    c->snap = s;
    c->snap_reported = s->size;
    pthread_mutex_unlock(&c->lock);
    if (moved)
        fs_watch_snapshot_moved(fs);
    *out = s;
    return 0;
}

static void snapshot_put(struct fs_cache *c, struct fs_snap *s)
{
    int last;

    pthread_mutex_lock(&c->lock);
    last = --s->refs == 0;
    if (last && c->snap == s)
        c->snap = NULL;
    pthread_mutex_unlock(&c->lock);
    if (last) {
        close(s->fd);
        free(s);
    }
}

/* ---- CLP folders ---- */

static int clp_cmp(const void *a, const void *b)
{
    const struct clp *x = a, *y = b;

    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* Re-reads the CLP slugs (one index seek each).  Called with clp_lock held. */
static int clps_load(struct rg_fs *fs, rg_db *db)
{
    struct fs_cache *c = fs->cache;
    struct clp *v = NULL, *nv;
    size_t n = 0, cap = 0, k = 0;
    char slug[RG_SLUG_LEN] = "";
    int rc;

    atomic_store(&c->clps_stale, 0);
    while ((rc = rg_tree_next_clp(db, slug, slug)) > 0) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            if (!(nv = realloc(v, cap * sizeof *v))) {
                free(v);
                return -ENOMEM;
            }
            v = nv;
        }
        v[n].hash = fs_slug_hash(slug);
        memcpy(v[n].slug, slug, sizeof slug);
        n++;
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof *v, clp_cmp);
    /* Two slugs with one hash cannot both have a folder: the first (by hash order) keeps it. */
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && v[k - 1].hash == v[i].hash) {
            fs_log(fs, LOG_WARNING, "CLP slugs '%s' and '%s' share a folder number; '%s' is hidden",
                   v[k - 1].slug, v[i].slug, v[i].slug);
            continue;
        }
        v[k++] = v[i];
    }
    free(c->clps);
    c->clps = v;
    c->nclps = k;
    c->clps_loaded = 1;
    return 0;
}

/* The first CLP with hash >= h (index into c->clps). */
static size_t clps_lower(const struct fs_cache *c, uint64_t h)
{
    size_t lo = 0, hi = c->nclps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->clps[mid].hash < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int fs_clp_slug(struct rg_fs *fs, rg_db *db, uint64_t hash, char out[RG_SLUG_LEN])
{
    struct fs_cache *c = fs->cache;
    int rc = 0, reloaded = 0;
    size_t i;

    pthread_mutex_lock(&c->clp_lock);
    if (!c->clps_loaded || atomic_load(&c->clps_stale)) {
        if ((rc = clps_load(fs, db)) < 0)
            goto out_unlock;
        reloaded = 1;
    }
    for (;;) {
        i = clps_lower(c, hash);
        if (i < c->nclps && c->clps[i].hash == hash) {
            memcpy(out, c->clps[i].slug, RG_SLUG_LEN);
            break;
        }
        /* A CLP that appeared since the last load: load once more before saying no. */
        if (reloaded) {
            rc = -ENOENT;
            break;
        }
        if ((rc = clps_load(fs, db)) < 0)
            break;
        reloaded = 1;
    }
out_unlock:
    pthread_mutex_unlock(&c->clp_lock);
    return rc;
}

int fs_clps_after(struct rg_fs *fs, rg_db *db, uint64_t after_key, uint64_t *keys,
                  char (*slugs)[RG_SLUG_LEN], int max)
{
    struct fs_cache *c = fs->cache;
    int n = 0, rc = 0;

    pthread_mutex_lock(&c->clp_lock);
    if (!c->clps_loaded || atomic_load(&c->clps_stale))
        rc = clps_load(fs, db);
    if (rc == 0) {
        /* Keys are hash + 1, so that no key is 0. */
        for (size_t i = clps_lower(c, after_key); i < c->nclps && n < max; i++) {
            keys[n] = c->clps[i].hash + 1;
            memcpy(slugs[n], c->clps[i].slug, RG_SLUG_LEN);
            n++;
        }
    }
    pthread_mutex_unlock(&c->clp_lock);
    return rc < 0 ? rc : n;
}

void fs_clps_stale(struct rg_fs *fs)
{
    atomic_store(&fs->cache->clps_stale, 1);
}

/* ---- open, read, release ---- */

/* The bytes of a small file, and (for an applicant's file or a watch-list entry) its mtime. */
static int render_small(struct rg_fs *fs, rg_db *db, fuse_ino_t ino, rg_buf *out,
                        int64_t *mtime_ns)
{
    uint64_t v = FS_VAL(ino);
    rg_tree_watch w;
    int rc;

    switch (FS_TAG(ino)) {
    case T_FIXED:
        switch (ino) {
        case FS_INO_README:
            rg_buf_add(out, fs->readme.data, fs->readme.len);
            return 0;
        case FS_INO_STATS:
            return stats_copy(fs, db, out);
        case FS_INO_AUDIT_HEAD:
            return fs_head_render(db, out);
        }
        return -EISDIR;
    case T_APP_FILE:
        if ((v & 7) >= RG_FILE_COUNT)
            return -ENOENT;
        return rg_render_applicant(db, (int64_t)(v >> 3), (enum rg_applicant_file)(v & 7), out,
                                   mtime_ns);
    case T_WATCH:
        if ((rc = rg_tree_watch_by_ino(db, (int64_t)v, &w)) < 0)
            return rc;
        return rg_render_watch(db, w.id, out, mtime_ns);
    case T_JOB:
        return rg_render_job(db, (int64_t)v, out, NULL);
    case T_CHECKPOINT:
        rc = rg_checkpoint_get(db, (int64_t)v, out, NULL);
        return rc == 0 ? -ENOENT : rc < 0 ? rc : 0;
    default:
        return -EISDIR;
    }
}

int fs_open(struct rg_fs *fs, rg_db *db, fuse_ino_t ino, int flags, struct fs_handle **out,
            int *keep_cache, int *direct_io)
{
    struct fs_handle *h;
    int64_t size, mtime = 0;
    int rc = 0;

    *keep_cache = 1;
    *direct_io = 0;
    if (fs_is_ctl(ino)) {
        /* Writes go straight to the daemon, one write(2) a command batch; a read (a backup's)
         * finds the file empty. */
        if ((flags & O_ACCMODE) != O_RDONLY && fs->ro)
            return -EROFS;
        *direct_io = 1;
        *keep_cache = 0;
    } else if ((flags & O_ACCMODE) != O_RDONLY) {
        return fs->ro ? -EROFS : -EACCES;
    }
    if (!(h = calloc(1, sizeof *h)))
        return -ENOMEM;
    if (fs_is_ctl(ino)) {
        h->type = H_EMPTY;
    } else if (ino == FS_INO_TSV || ino == FS_INO_JSONL) {
        h->type = H_EXPORT;
        rc = export_current(fs, db, ino == FS_INO_TSV ? RG_EXPORT_TSV : RG_EXPORT_JSONL, &h->exp,
                            NULL, NULL);
    } else if (ino == FS_INO_SNAPSHOT_DB) {
        h->type = H_SNAP;
        *keep_cache = 0;   /* every open is a new copy */
        rc = snapshot_open(fs, db, &h->snap);
    } else if (ino == FS_INO_AUDIT_LOG) {
        h->type = H_LOG;
    } else if (FS_TAG(ino) == T_AUDIT_DAY) {
        h->type = H_DAY;
        fs_day_format((int64_t)FS_VAL(ino) - FS_DAY_BIAS, h->day);
        rc = fs_aidx_attr(fs, db, h->day, &size, &mtime);
    } else {
        /* Rendered at every open: later changes make a new version for the next open, never a
         * mix.  Through the page cache only when the kernel's pages and size are of this very
         * version (pin.c); otherwise direct I/O reads the handle's bytes and nothing else. */
        h->type = H_BUF;
        rc = render_small(fs, db, ino, &h->buf, &mtime);
        if (rc == 0 && rg_buf_failed(&h->buf))
            rc = -ENOMEM;
        if (rc == 0 && fs_pin_eligible(ino) && fs_pin_open(fs, ino, &h->buf, mtime)) {
            h->pinned = ino;
        } else {
            *direct_io = 1;
            *keep_cache = 0;
        }
    }
    if (rc < 0) {
        rg_buf_free(&h->buf);
        free(h);
        return rc;
    }
    pthread_mutex_lock(&fs->cache->lock);
    if ((h->next = fs->cache->handles))
        h->next->prev = h;
    fs->cache->handles = h;
    pthread_mutex_unlock(&fs->cache->lock);
    *out = h;
    return 0;
}

int fs_read(struct rg_fs *fs, rg_db *db, struct fs_handle *h, off_t off, size_t size, fs_data *out)
{
    int64_t total;
    int fd;
    int rc;

    out->fd = -1;
    out->p = NULL;
    out->n = 0;
    if (off < 0)
        return -EINVAL;
    switch (h->type) {
    case H_EMPTY:
        return 0;
    case H_BUF:
        /* A copy: the kernel may let the reader close the file (and the release free h) while
         * this thread is still returning from the reply's writev. */
        if ((size_t)off < h->buf.len) {
            size_t n = h->buf.len - (size_t)off < size ? h->buf.len - (size_t)off : size;
            rg_buf_add(&out->buf, h->buf.data + off, n);
            if (rg_buf_failed(&out->buf))
                return -ENOMEM;
            out->p = out->buf.data;
            out->n = n;
        }
        return 0;
    case H_EXPORT:
    case H_SNAP:
        total = h->type == H_EXPORT ? h->exp->size : h->snap->size;
        fd = h->type == H_EXPORT ? h->exp->fd : h->snap->fd;
        if (off < total) {
            out->fd = fd;
            out->pos = off;
            out->n = (size_t)(total - off) < size ? (size_t)(total - off) : size;
        }
        return 0;
    case H_LOG:
    case H_DAY:
        rc = fs_aidx_read(fs, db, h->type == H_DAY ? h->day : NULL, off, size, &out->buf);
        if (rc == 0 && rg_buf_failed(&out->buf))
            rc = -ENOMEM;
        if (rc == 0) {
            out->p = out->buf.data;
            out->n = out->buf.len;
        }
        return rc;
    }
    return -EINVAL;
}

void fs_release(struct rg_fs *fs, struct fs_handle *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&fs->cache->lock);
    if (h->prev)
        h->prev->next = h->next;
    else
        fs->cache->handles = h->next;
    if (h->next)
        h->next->prev = h->prev;
    pthread_mutex_unlock(&fs->cache->lock);
    if (h->exp)
        export_put(fs->cache, h->exp);
    if (h->snap)
        snapshot_put(fs->cache, h->snap);
    if (h->pinned)
        fs_pin_release(fs, h->pinned);
    rg_buf_free(&h->buf);
    free(h);
}
