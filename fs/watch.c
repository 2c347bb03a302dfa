/*
 * watch.c: the watcher thread, which keeps the kernel's caches true.
 *
 * The kernel may keep every attribute, name and page for a day (FS_TIMEOUT) because this thread
 * tells it when one goes stale.  A few times a second it asks its connection for PRAGMA
 * data_version, which moves whenever any other connection commits: a ctl write, the job thread, or
 * another process altogether (`regfs vet DB` while mounted).  When it moves, it reads the audit
 * events that are new since the last pass (every change to the register writes one, in the same
 * transaction) and invalidates what they touched:
 *   - for each applicant named: its four rendered files (pages and attributes), its folder, its
 *     name in the four verdict folders (so an old verdict folder forgets it), its CLP and day
 *     folders' attributes;
 *   - the listings of the folders whose entries changed, and only those: the kernel keeps every
 *     folder's listing (ops.c, op_opendir) and would otherwise show it again.  A folder's mtime is
 *     not enough to tell it (it has whole seconds), so the listing is dropped explicitly: the four
 *     verdict folders after a verdict.* or applicant.* event, applicants/, clps/ and joined/ and
 *     every CLP and day folder after an import or update (one can move between them), watchlist/
 *     after a watch-list change, audit/ and audit/checkpoints/ after any event, jobs/ always.
 *     applicants/ keeps its listing through a re-vet, verdicts/ and the root through everything;
 *   - an import or update of applicants can move one between CLPs and days: the clps and joined
 *     names are dropped whole (the kernel then forgets the names below them);
 *   - a change to the watch list drops the watchlist name likewise;
 *   - audit/log and the day files from the offset where they grew, audit/head, stats,
 *     register.tsv, register.jsonl, the snapshot and the fixed folders' attributes;
 *   - the jobs that were or are queued or running (their progress changes without events);
 *   - files whose version stayed pinned through a change (pin.c), once their last handle closes.
 * A ctl write waits for a pass (fs_watch_sync) before it returns, so the writer's next read sees
 * the change.  Notifications go out from this thread (libfuse doc/README.notifications), and from
 * an open for the inode it opens (pin.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"

#define POLL_MS 200
#define EVENT_BATCH 512
#define MAX_ACTIVE_JOBS 64

struct fs_watch {
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    int stop;                    /* protected by lock */
    int kicked;                  /* protected by lock */
    uint64_t requested;          /* sync passes asked for; protected by lock */
    uint64_t completed;          /* sync passes done; protected by lock */
    fuse_ino_t *queue;           /* fs_watch_queue_inval; protected by lock */
    size_t nqueue, capqueue;
    atomic_int snapshot_moved;
    atomic_int_least64_t seen_seq;   /* the newest event whose changes the kernel has been told of */
    /* The rest belongs to the watcher thread alone. */
    int64_t last_seq;
    int64_t data_version;
    int64_t active[MAX_ACTIVE_JOBS];
    int nactive;
};

static void inval(struct rg_fs *fs, fuse_ino_t ino, off_t off)
{
    /* A pinned file keeps its version until its last handle closes, which queues it again. */
    if (fs_pin_before_inval(fs, ino))
        return;
    /* -ENOENT (the kernel does not have it) is the common answer, and harmless. */
    fuse_lowlevel_notify_inval_inode(fs->se, ino, off, 0);
}

/* The files whose last handle closed on a version the register has since changed (pin.c). */
static void inval_queued(struct rg_fs *fs, struct fs_watch *w)
{
    fuse_ino_t *q;
    size_t n;

    pthread_mutex_lock(&w->lock);
    q = w->queue;
    n = w->nqueue;
    w->queue = NULL;
    w->nqueue = w->capqueue = 0;
    pthread_mutex_unlock(&w->lock);
    for (size_t i = 0; i < n; i++)
        inval(fs, q[i], 0);
    free(q);
}

void fs_watch_queue_inval(struct rg_fs *fs, fuse_ino_t ino)
{
    struct fs_watch *w = fs->watch;
    fuse_ino_t *q;

    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    if (w->nqueue == w->capqueue) {
        size_t cap = w->capqueue ? w->capqueue * 2 : 64;
        if (!(q = realloc(w->queue, cap * sizeof *q))) {
            pthread_mutex_unlock(&w->lock);
            fs_log(fs, LOG_WARNING, "watcher: out of memory; a file's size may show stale");
            return;
        }
        w->queue = q;
        w->capqueue = cap;
    }
    w->queue[w->nqueue++] = ino;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

/* A folder's attributes and its listing. */
static void inval_listing(struct rg_fs *fs, fuse_ino_t ino)
{
    inval(fs, ino, 0);
}

static void inval_name(struct rg_fs *fs, fuse_ino_t parent, const char *name)
{
    fuse_lowlevel_notify_inval_entry(fs->se, parent, name, strlen(name));
}

static void inval_grown(struct rg_fs *fs, fuse_ino_t ino, int64_t old_size)
{
    /* Pages from the one that held the old end on; the kernel zero-filled its tail. */
    inval(fs, ino, (off_t)(old_size & ~(int64_t)4095));
}

static const fuse_ino_t verdict_dirs[] = {
    FS_INO_V_APPROVED, FS_INO_V_EXCLUDED, FS_INO_V_REVIEW, FS_INO_V_PENDING,
};

static void inval_applicant(struct rg_fs *fs, rg_db *db, int64_t id, int moved)
{
    char name[24];
    int64_t days;
    rg_tree_app a;

    for (unsigned f = 0; f < RG_FILE_COUNT; f++)
        inval(fs, FS_APP_FILE_INO(id, f), 0);
    inval(fs, FS_INO(T_APP_DIR, id), -1);
    snprintf(name, sizeof name, "%" PRId64, id);
    for (size_t i = 0; i < sizeof verdict_dirs / sizeof verdict_dirs[0]; i++)
        inval_name(fs, verdict_dirs[i], name);
    if (rg_tree_applicant(db, id, &a) == 0) {
        inval(fs, FS_INO(T_CLP_DIR, fs_slug_hash(a.clp_slug)), moved ? 0 : -1);
        if (fs_day_parse(a.joined_day, &days) == 0)
            inval(fs, FS_INO(T_DAY_DIR, days + FS_DAY_BIAS), moved ? 0 : -1);
    }
    if (moved) {
        inval(fs, FS_INO(T_LINK_VERDICT, id), -1);
        inval(fs, FS_INO(T_LINK_CLP, id), -1);
        inval(fs, FS_INO(T_LINK_DAY, id), -1);
    }
}

/* Every CLP and day folder's listing: someone may have left one for another. */
static void inval_all_groups(struct rg_fs *fs, rg_db *db)
{
    uint64_t keys[64];
    char slugs[64][RG_SLUG_LEN];
    char day[RG_DAY_LEN] = "";
    int64_t days;
    uint64_t after = 0;
    int n;

    do {
        n = fs_clps_after(fs, db, after, keys, slugs, 64);
        for (int i = 0; i < n; i++)
            inval_listing(fs, FS_INO(T_CLP_DIR, keys[i]));
        if (n > 0)
            after = keys[n - 1];
    } while (n == 64);
    while (rg_tree_next_day(db, day, day) > 0)
        if (fs_day_parse(day, &days) == 0)
            inval_listing(fs, FS_INO(T_DAY_DIR, days + FS_DAY_BIAS));
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static void pass(struct rg_fs *fs, rg_db *db, struct fs_watch *w)
{
    static const fuse_ino_t fixed_dirs[] = {
        FS_INO_ROOT, FS_INO_APPLICANTS, FS_INO_VERDICTS, FS_INO_V_APPROVED, FS_INO_V_EXCLUDED,
        FS_INO_V_REVIEW, FS_INO_V_PENDING, FS_INO_CLPS, FS_INO_JOINED, FS_INO_WATCHLIST,
        FS_INO_AUDIT, FS_INO_CHECKPOINTS, FS_INO_JOBS, FS_INO_SNAPSHOT,
    };
    rg_tree_event *ev = malloc(EVENT_BATCH * sizeof *ev);
    int64_t *ids = malloc(EVENT_BATCH * sizeof *ids);
    int n, nids, events = 0, moved = 0, watchlist = 0, verdicts = 0;

    atomic_fetch_add(&fs->gen, 1);
    inval(fs, FS_INO_STATS, 0);
    inval_listing(fs, FS_INO_JOBS);
    for (int i = 0; i < w->nactive; i++)
        inval(fs, FS_INO(T_JOB, w->active[i]), 0);
    if ((n = rg_tree_jobs_active(db, w->active, MAX_ACTIVE_JOBS)) >= 0)
        w->nactive = n;
    for (int i = 0; i < w->nactive; i++)
        inval(fs, FS_INO(T_JOB, w->active[i]), 0);
    if (atomic_exchange(&w->snapshot_moved, 0))
        inval(fs, FS_INO_SNAPSHOT_DB, -1);
    if (!ev || !ids)
        goto out_free;

    do {
        n = rg_tree_events(db, w->last_seq, EVENT_BATCH, ev);
        if (n < 0) {
            fs_log(fs, LOG_ERR, "watcher: reading the audit log: %s", rg_db_errmsg(db));
            break;
        }
        nids = 0;
        int batch_moved = 0;
        for (int i = 0; i < n; i++) {
            if (ev[i].applicant > 0)
                ids[nids++] = ev[i].applicant;
            if (strcmp(ev[i].action, "applicant.import") == 0 ||
                strcmp(ev[i].action, "applicant.update") == 0)
                batch_moved = 1;
            if (strncmp(ev[i].action, "verdict.", 8) == 0 ||
                strncmp(ev[i].action, "applicant.", 10) == 0)
                verdicts = 1;
            if (strncmp(ev[i].action, "watchlist.", 10) == 0)
                watchlist = 1;
        }
        qsort(ids, (size_t)nids, sizeof *ids, cmp_i64);
        for (int i = 0; i < nids; i++)
            if (i == 0 || ids[i] != ids[i - 1])
                inval_applicant(fs, db, ids[i], batch_moved);
        moved |= batch_moved;
        events += n;
        if (n > 0)
            w->last_seq = ev[n - 1].seq;
    } while (n == EVENT_BATCH);

    if (events > 0) {
        for (size_t i = 0; i < sizeof fixed_dirs / sizeof fixed_dirs[0]; i++)
            inval(fs, fixed_dirs[i], -1);
        inval(fs, FS_INO_TSV, 0);
        inval(fs, FS_INO_JSONL, 0);
        inval(fs, FS_INO_AUDIT_HEAD, 0);
        inval(fs, FS_INO_SNAPSHOT_DB, 0);
        fs_aidx_publish(fs, db, inval_grown);
        fs_prerender_kick(fs);
        inval_listing(fs, FS_INO_AUDIT);
        inval_listing(fs, FS_INO_CHECKPOINTS);
        if (verdicts)
            for (size_t i = 0; i < sizeof verdict_dirs / sizeof verdict_dirs[0]; i++)
                inval_listing(fs, verdict_dirs[i]);
        if (moved) {
            fs_clps_stale(fs);
            inval_all_groups(fs, db);
            inval_listing(fs, FS_INO_APPLICANTS);
            inval_listing(fs, FS_INO_CLPS);
            inval_listing(fs, FS_INO_JOINED);
            inval_name(fs, FS_INO_ROOT, "clps");
            inval_name(fs, FS_INO_ROOT, "joined");
        }
        if (watchlist) {
            inval_listing(fs, FS_INO_WATCHLIST);
            inval_name(fs, FS_INO_ROOT, "watchlist");
        }
    }
out_free:
    free(ev);
    free(ids);
}

static void *watch_main(void *arg)
{
    struct rg_fs *fs = arg;
    struct fs_watch *w = fs->watch;
    rg_db *db = fs_db(fs);
    int64_t at, dv;
    int built = 0, force;
    uint64_t req;

    if (!db) {
        fs_log(fs, LOG_ERR, "watcher: no database connection; changes will not show until remount");
        pthread_mutex_lock(&w->lock);
        w->completed = UINT64_MAX;   /* nobody waits for a pass that will never come */
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->lock);
        return NULL;
    }
    w->data_version = rg_db_data_version(db);
    if (rg_tree_head(db, &w->last_seq, &at) < 0)
        fs_log(fs, LOG_ERR, "watcher: %s", rg_db_errmsg(db));
    atomic_store(&w->seen_seq, w->last_seq);
    w->nactive = rg_tree_jobs_active(db, w->active, MAX_ACTIVE_JOBS);
    if (w->nactive < 0)
        w->nactive = 0;

    for (;;) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += POLL_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->lock);
        while (!w->stop && !w->kicked && w->requested == w->completed && w->nqueue == 0)
            if (pthread_cond_timedwait(&w->wake, &w->lock, &until) == ETIMEDOUT)
                break;
        if (w->stop) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        req = w->requested;
        force = w->kicked || req != w->completed;
        w->kicked = 0;
        pthread_mutex_unlock(&w->lock);

        inval_queued(fs, w);
        dv = rg_db_data_version(db);
        if (force || dv != w->data_version) {
            w->data_version = dv;
            pass(fs, db, w);
            atomic_store(&w->seen_seq, w->last_seq);
        }
        /* The index of audit/log is built once, off the mount's critical path. */
        if (!built) {
            if (fs_aidx_sync(fs, db) < 0)
                fs_log(fs, LOG_ERR, "watcher: indexing the audit log: %s", rg_db_errmsg(db));
            built = 1;
        }
        pthread_mutex_lock(&w->lock);
        if (req > w->completed)
            w->completed = req;
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

int fs_watch_start(struct rg_fs *fs)
{
    struct fs_watch *w = calloc(1, sizeof *w);
    int rc;

    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->done, NULL);
    fs->watch = w;
    if ((rc = fs_thread_create(&w->thread, watch_main, fs)) != 0) {
        fs_log(fs, LOG_ERR, "cannot start the watcher thread: %s", strerror(rc));
        return -rc;
    }
    w->started = 1;
    return 0;
}

void fs_watch_stop(struct rg_fs *fs)
{
    struct fs_watch *w = fs->watch;

    if (!w)
        return;
    if (w->started) {
        pthread_mutex_lock(&w->lock);
        w->stop = 1;
        pthread_cond_broadcast(&w->wake);
        pthread_cond_broadcast(&w->done);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
    }
    free(w->queue);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    free(w);
    fs->watch = NULL;
}

void fs_watch_kick(struct rg_fs *fs)
{
    struct fs_watch *w = fs->watch;

    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->kicked = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

void fs_watch_sync(struct rg_fs *fs, int timeout_ms)
{
    struct fs_watch *w = fs->watch;
    struct timespec until;
    uint64_t mine;

    if (!w)
        return;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->lock);
    mine = ++w->requested;
    pthread_cond_signal(&w->wake);
    /* Bounded: if every worker thread were waiting here, the kernel could not get the reads an
     * invalidation may wait for; the timeout keeps that from becoming a deadlock. */
    while (!w->stop && w->completed < mine)
        if (pthread_cond_timedwait(&w->done, &w->lock, &until) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&w->lock);
}

void fs_watch_catch_up(struct rg_fs *fs, rg_db *db)
{
    struct fs_watch *w = fs->watch;
    int64_t seq, at;

    /* Before the first pass seen_seq is 0 and the kernel holds nothing yet: nothing to catch. */
    if (!w || rg_tree_head(db, &seq, &at) < 0 || seq <= atomic_load(&w->seen_seq))
        return;
    fs_watch_sync(fs, 1000);
}

void fs_watch_snapshot_moved(struct rg_fs *fs)
{
    if (fs->watch) {
        atomic_store(&fs->watch->snapshot_moved, 1);
        fs_watch_kick(fs);
    }
}
