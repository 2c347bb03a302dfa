/*
 * jobs.c: the job thread.  Re-vet jobs asked for through ctl (`revet ...`) run here one after the
 * other, on a connection of this thread's own, while the worker threads keep answering readers:
 * rg_job_run() commits a batch at a time, and WAL lets readers read throughout.
 *
 * At mount, jobs a stopped daemon left queued or running are resumed first (rg_job_run resumes
 * from the job's cursor), unless another live process (`regfs vet`) holds one: that is left to it.
 * While idle, the thread looks every ADOPT_SECONDS for a job whose process has died since (a
 * `regfs vet` killed while the register is mounted) and resumes it, once, so that jobs/<n> does
 * not say "running" for a job nobody runs.  At unmount the running job is stopped at its next batch and stays
 * resumable.  After each batch the watcher is woken so that jobs/<n> shows the progress.  The
 * thread's connection is opened for a run of jobs and closed when the queue is empty.
 */
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs.h"
#include "vet.h"

#define RESUME_MAX 256
#define ADOPT_SECONDS 5

struct fs_jobs {
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int64_t *queue;              /* protected by lock */
    size_t head, n, cap;
    atomic_int stop;
    int64_t adopted[RESUME_MAX];  /* jobs taken over from a dead process: each only once */
    int nadopted;
};

static int progress(void *arg, int64_t done, int64_t total)
{
    struct rg_fs *fs = arg;

    fs_watch_kick(fs);
    return atomic_load(&fs->jobs->stop);
}

/* Takes the next job: 1 with *id, 0 when told to stop, 2 when idle for ADOPT_SECONDS. */
static int pop(struct fs_jobs *j, int64_t *id)
{
    struct timespec until;
    int got = 0;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ADOPT_SECONDS;
    pthread_mutex_lock(&j->lock);
    while (!atomic_load(&j->stop) && j->n == 0)
        if (pthread_cond_timedwait(&j->wake, &j->lock, &until) == ETIMEDOUT) {
            got = 2;
            break;
        }
    if (!atomic_load(&j->stop) && j->n > 0) {
        *id = j->queue[j->head];
        j->head = (j->head + 1) % j->cap;
        j->n--;
        got = 1;
    }
    pthread_mutex_unlock(&j->lock);
    return got;
}

static int queue_empty(struct fs_jobs *j)
{
    int empty;

    pthread_mutex_lock(&j->lock);
    empty = j->n == 0;
    pthread_mutex_unlock(&j->lock);
    return empty;
}

/* Queues the unfinished jobs no live process holds (their process died since), each only once. */
static void adopt_orphans(struct rg_fs *fs)
{
    struct fs_jobs *j = fs->jobs;
    int64_t ids[RESUME_MAX];
    rg_job_info info;
    int n, seen;

    pthread_mutex_lock(&fs->wlock);
    n = rg_job_unfinished(fs->wdb, ids, RESUME_MAX);
    for (int i = 0; i < n && j->nadopted < RESUME_MAX; i++) {
        seen = 0;
        for (int k = 0; k < j->nadopted && !seen; k++)
            seen = j->adopted[k] == ids[i];
        if (seen || rg_job_get(fs->wdb, ids[i], &info) < 0 || rg_job_owner_pid(&info) != 0)
            continue;
        j->adopted[j->nadopted++] = ids[i];
        fs_log(fs, LOG_INFO, "resuming job %" PRId64 ": the process that ran it is gone", ids[i]);
        fs_jobs_enqueue(fs, ids[i]);
    }
    pthread_mutex_unlock(&fs->wlock);
}

static void *jobs_main(void *arg)
{
    struct rg_fs *fs = arg;
    struct fs_jobs *j = fs->jobs;
    rg_db *db = NULL;
    rg_tree_job job;
    int64_t id, changed;
    int got;

    while ((got = pop(j, &id)) != 0) {
        if (got == 2) {
            adopt_orphans(fs);
            continue;
        }
        /* A small page cache: a re-vet reads the whole register once, and its peak is the
         * daemon's (bench: 128 MiB at 630,000 applicants with the default 32 MiB). */
        if (!db && (rg_db_open(fs->db_path, 0, &db) < 0 || rg_db_small_cache(db) < 0)) {
            fs_log(fs, LOG_ERR, "job %" PRId64 " cannot run: %s", id, rg_db_errmsg(db));
            rg_db_close(db);
            db = NULL;
            continue;
        }
        /* A job may have ended meanwhile: cancelled, or run by `regfs vet` in another process. */
        if (rg_tree_job_find(db, id, &job) == 0 && strcmp(job.state, "queued") != 0 &&
            strcmp(job.state, "running") != 0)
            continue;
        changed = rg_job_run(db, id, progress, fs);
        if (changed == -EALREADY)
            fs_log(fs, LOG_INFO, "job %" PRId64 " left to the process that runs it: %s", id, rg_db_errmsg(db));
        else if (changed < 0 && !atomic_load(&j->stop) &&
            !(rg_tree_job_find(db, id, &job) == 0 && strcmp(job.state, "running") != 0 &&
              strcmp(job.state, "failed") != 0))
            fs_log(fs, LOG_ERR, "job %" PRId64 " failed: %s", id, rg_db_errmsg(db));
        fs_watch_kick(fs);
        /* A re-vet of the whole register needs a hundred MB for its indexes and page cache; an
         * idle daemon should not keep them. */
        if (queue_empty(j)) {
            rg_db_close(db);
            db = NULL;
            malloc_trim(0);
        }
    }
    rg_db_close(db);
    return NULL;
}

int fs_jobs_enqueue(struct rg_fs *fs, int64_t id)
{
    struct fs_jobs *j = fs->jobs;

    if (!j)
        return -EROFS;
    pthread_mutex_lock(&j->lock);
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 16;
        int64_t *q = malloc(cap * sizeof *q);
        if (!q) {
            pthread_mutex_unlock(&j->lock);
            return -ENOMEM;
        }
        for (size_t i = 0; i < j->n; i++)
            q[i] = j->queue[(j->head + i) % j->cap];
        free(j->queue);
        j->queue = q;
        j->head = 0;
        j->cap = cap;
    }
    j->queue[(j->head + j->n) % j->cap] = id;
    j->n++;
    pthread_cond_signal(&j->wake);
    pthread_mutex_unlock(&j->lock);
    return 0;
}

int fs_jobs_start(struct rg_fs *fs)
{
    struct fs_jobs *j = calloc(1, sizeof *j);
    int64_t ids[RESUME_MAX];
    int n, rc;

    if (!j)
        return -ENOMEM;
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->wake, NULL);
    fs->jobs = j;
    /* Resume what a stopped daemon left, oldest first. */
    pthread_mutex_lock(&fs->wlock);
    n = rg_job_unfinished(fs->wdb, ids, RESUME_MAX);
    pthread_mutex_unlock(&fs->wlock);
    if (n < 0)
        fs_log(fs, LOG_ERR, "cannot list unfinished jobs: %s", rg_db_errmsg(fs->wdb));
    for (int i = 0; i < n; i++) {
        fs_log(fs, LOG_INFO, "resuming job %" PRId64, ids[i]);
        fs_jobs_enqueue(fs, ids[i]);
    }
    if ((rc = fs_thread_create(&j->thread, jobs_main, fs)) != 0) {
        fs_log(fs, LOG_ERR, "cannot start the job thread: %s", strerror(rc));
        return -rc;
    }
    j->started = 1;
    return 0;
}

void fs_jobs_stop(struct rg_fs *fs)
{
    struct fs_jobs *j = fs->jobs;

    if (!j)
        return;
    if (j->started) {
        pthread_mutex_lock(&j->lock);
        atomic_store(&j->stop, 1);
        pthread_cond_broadcast(&j->wake);
        pthread_mutex_unlock(&j->lock);
        pthread_join(j->thread, NULL);
    }
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->wake);
    free(j->queue);
    free(j);
    fs->jobs = NULL;
}
