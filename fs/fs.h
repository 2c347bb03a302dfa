/*
 * fs.h: what the files of the FUSE daemon share.  Not a library header: only the files of fs/ and
 * cli/cmd_mount.c (which calls rg_fs_main) include it.  fs/ sees the register only through the
 * backend headers; it never includes sqlite3.h.
 *
 * Threads and SQLite connections.  An rg_db is one connection and is never shared between threads:
 *   - every FUSE worker thread reads through its own connection, opened on its first request and
 *     closed when the thread ends (fs_db(), a pthread key);
 *   - ctl writes go through the one write connection fs->wdb, used only with fs->wlock held;
 *   - the job thread (jobs.c) runs re-vet jobs on a connection it opens for itself;
 *   - the watcher thread (watch.c) reads through its own fs_db() connection, and is the only thread
 *     that sends the kernel invalidations: a notification sent from inside a request handler can
 *     deadlock (libfuse doc/README.notifications).
 *   - the prefetch thread (prefetch.c) opens no connection: it reads the register file with plain
 *     reads, to fill the page cache, and ends.
 *
 * The files:
 *   ino.c      the inode numbers: a type tag in the top bits, stable database keys below
 *   layout.c   the tree: which names exist where, their attributes, lookup and readdir
 *   content.c  the bytes of the files: per-open copies, register.tsv/jsonl, the snapshot
 *   auditidx.c audit/log and audit/<day> as append-only files, read at any offset
 *   ctl.c      the ctl grammar (one table per ctl file) and running the commands
 *   readme.c   README, generated from the tables of layout.c and ctl.c
 *   watch.c    the watcher: notices changes and invalidates the kernel's caches
 *   prefetch.c reads the register file into the page cache once at mount
 *   jobs.c     the job thread
 *   ops.c      the fuse_lowlevel_ops: each handler calls a worker above and picks the reply
 *   mount.c    options, mounting, threads, clean exit
 */
#ifndef RG_FS_H
#define RG_FS_H

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <syslog.h>

#include "db.h"
#include "render.h"
#include "tree.h"
#include "util.h"

/* ---- inode numbers (ino.c) ----
 *
 * A 4-bit type tag in bits 60-63 and a value from a stable database key below it, so that a number
 * means the same object across remounts and no two objects share one.  The kernel's root is 1. */

enum fs_tag {
    T_FIXED = 0,       /* the fixed files and folders: small numbers (FS_INO_ROOT ...) */
    T_APP_DIR = 1,     /* applicants/<id>/            | id */
    T_APP_FILE = 2,    /* applicants/<id>/<file>      | id << 3 | file index */
    T_LINK_VERDICT = 3,/* verdicts/<v>/<id>           | id (an applicant is in one verdict) */
    T_LINK_CLP = 4,    /* clps/<slug>/<id>            | id (and in one CLP) */
    T_LINK_DAY = 5,    /* joined/<day>/<id>           | id (and joined on one day) */
    T_CLP_DIR = 6,     /* clps/<slug>/                | 48-bit hash of the slug */
    T_DAY_DIR = 7,     /* joined/<day>/               | days since the epoch + FS_DAY_BIAS */
    T_AUDIT_DAY = 8,   /* audit/<day>                 | days since the epoch + FS_DAY_BIAS */
    T_WATCH = 9,       /* watchlist/<id>              | watchlist.ino */
    T_JOB = 10,        /* jobs/<n>                    | job id */
    T_CHECKPOINT = 11, /* audit/checkpoints/<seq>     | the head's sequence number */
};

#define FS_TAG_SHIFT 60
#define FS_VAL_MASK ((UINT64_C(1) << FS_TAG_SHIFT) - 1)
#define FS_INO(tag, v) (((fuse_ino_t)(tag) << FS_TAG_SHIFT) | ((fuse_ino_t)(v) & FS_VAL_MASK))
#define FS_TAG(ino) ((int)((ino) >> FS_TAG_SHIFT))
#define FS_VAL(ino) ((uint64_t)(ino) & FS_VAL_MASK)

/* The files of applicants/<id>/: rg_applicant_file's four, then ctl. */
#define FS_APP_CTL RG_FILE_COUNT
#define FS_APP_NFILES (RG_FILE_COUNT + 1)
#define FS_APP_FILE_INO(id, f) FS_INO(T_APP_FILE, ((uint64_t)(id) << 3) | (uint64_t)(f))
#define FS_APP_MAX_ID ((int64_t)(FS_VAL_MASK >> 3))

/* Days are keyed from a bias so that every key is positive (readdir offsets are keys). */
#define FS_DAY_BIAS 1000000
/* Days since the epoch of 9999-12-31, the last day a "YYYY-MM-DD" name can hold. */
#define FS_DAY_LAST 2932896

/* The fixed nodes (layout.c's table lists them with their names and help). */
enum {
    FS_INO_ROOT = 1, FS_INO_README, FS_INO_STATS, FS_INO_TSV, FS_INO_JSONL, FS_INO_CTL,
    FS_INO_APPLICANTS, FS_INO_VERDICTS, FS_INO_V_APPROVED, FS_INO_V_EXCLUDED, FS_INO_V_REVIEW,
    FS_INO_V_PENDING, FS_INO_CLPS, FS_INO_JOINED, FS_INO_WATCHLIST, FS_INO_AUDIT, FS_INO_AUDIT_LOG,
    FS_INO_AUDIT_HEAD, FS_INO_JOBS, FS_INO_SNAPSHOT, FS_INO_SNAPSHOT_DB,
    FS_INO_CHECKPOINTS,   /* new fixed nodes go here, at the end: the numbers above are in use */
    FS_INO_FIXED_END
};

/* Parses a decimal key as written in a name: digits only, no leading zero, > 0.  Returns 0 or -1. */
int fs_parse_id(const char *s, int64_t *out);
/* "YYYY-MM-DD" (a real date) to days since the epoch and back (out[RG_DAY_LEN]). */
int fs_day_parse(const char *s, int64_t *days);
void fs_day_format(int64_t days, char out[RG_DAY_LEN]);
/* The 48-bit hash of a CLP slug that names its folder's inode. */
uint64_t fs_slug_hash(const char *slug);
/* The inode of verdicts/<v>/ for a verdict name, or 0 if it is not one. */
fuse_ino_t fs_verdict_dir_ino(const char *verdict);

/* ---- the daemon ---- */

struct fs_aidx;
struct fs_cache;
struct fs_watch;
struct fs_jobs;
struct fs_pins;

struct rg_fs {
    char *db_path;              /* absolute: the daemon runs from / */
    char *tmp_dir;              /* where export and snapshot copies are made (the database's folder) */
    uid_t uid;                  /* every file's owner: the mounting user */
    gid_t gid;                  /* every file's group: -o group=NAME */
    int ro;                     /* -o ro: nothing is written, ctl writes fail with EROFS */
    char *checkpoint_key;       /* -o checkpoint_key=PATH, absolute (the daemon runs from /); or NULL:
                                 * the ctl command checkpoint is then refused */
    int foreground;
    int noprefetch;             /* -o noprefetch: no read of the register at mount (prefetch.c) */
    struct fuse_session *se;
    pthread_key_t conn_key;     /* the worker threads' read connections */
    pthread_mutex_t wlock;
    rg_db *wdb;                 /* the write connection; protected by wlock; NULL under -o ro */
    int64_t born_ns;            /* the first audit event's time: README's and the ctl files' mtime */
    rg_buf readme;              /* README, made once at mount */
    atomic_uint_least64_t gen;  /* bumped by the watcher whenever it sees the database change */
    struct fs_aidx *aidx;
    struct fs_cache *cache;
    struct fs_watch *watch;
    struct fs_jobs *jobs;
    struct fs_pins *pins;
    struct fs_prefetch *prefetch;
};

/* This thread's read connection, opened on first use; NULL (and logged) if it cannot be opened. */
rg_db *fs_db(struct rg_fs *fs);

/* pthread_create() with every signal blocked in the new thread: SIGTERM and SIGINT must reach the
 * main thread, which libfuse's session loop wakes on (its own workers block them too). */
int fs_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg);

/* Logs a line to stderr in the foreground, else to syslog. */
void fs_log(struct rg_fs *fs, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The cache timeouts: long, because every change is invalidated explicitly (watch.c). */
#define FS_TIMEOUT 86400.0

/* ---- the tree (layout.c) ---- */

/* Fills e for name in parent: 0, -ENOENT, or another negative errno. */
int fs_lookup(struct rg_fs *fs, rg_db *db, fuse_ino_t parent, const char *name,
              struct fuse_entry_param *e);
/* The attributes of ino and how long the kernel may keep them. */
int fs_getattr(struct rg_fs *fs, rg_db *db, fuse_ino_t ino, struct stat *st, double *timeout);
/* Fills out (at most size bytes) with the entries of directory ino after offset off, as
 * fuse_add_direntry[_plus] lays them out.  -ENOTDIR for a file. */
int fs_readdir(struct rg_fs *fs, rg_db *db, fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
               int plus, rg_buf *out);
/* The target of a symlink into out[outlen]. */
int fs_readlink(struct rg_fs *fs, rg_db *db, fuse_ino_t ino, char *out, size_t outlen);
/* Whether ino is a ctl file (the only files that can be written). */
int fs_is_ctl(fuse_ino_t ino);
/* The path of a ctl file inside the mount ("ctl", "applicants/1000123/ctl") into out. */
void fs_ctl_path(fuse_ino_t ino, char *out, size_t outlen);

/* What README says about the tree: one entry per name pattern, in display order. */
typedef struct fs_doc {
    const char *path;
    const char *help;
} fs_doc;
const fs_doc *fs_tree_docs(size_t *n);

/* ---- file contents (content.c) ---- */

struct fs_handle;

int fs_cache_new(struct rg_fs *fs);
void fs_cache_free(struct rg_fs *fs);

/* The sizes and mtimes of the files whose bytes are made per version rather than per open. */
int fs_stats_attr(struct rg_fs *fs, rg_db *db, int64_t *size);
int fs_export_attr(struct rg_fs *fs, rg_db *db, enum rg_export_format fmt, int64_t *size,
                   int64_t *mtime_ns);
int fs_snapshot_attr(struct rg_fs *fs, rg_db *db, int64_t *size);
int fs_head_render(rg_db *db, rg_buf *out);

/* The thread that renders register.tsv and register.jsonl once the register has been quiet for a
 * moment after a change, so that stat rarely waits for a render.  fs_prerender_kick() says "it
 * changed" (the watcher calls it). */
int fs_prerender_start(struct rg_fs *fs);
void fs_prerender_stop(struct rg_fs *fs);
void fs_prerender_kick(struct rg_fs *fs);

/* The CLP folders: slug for a hash, and the slugs in hash order after a key (clps/ listing).
 * fs_clps_stale() makes the next use re-read them (the watcher calls it on imports). */
int fs_clp_slug(struct rg_fs *fs, rg_db *db, uint64_t hash, char out[RG_SLUG_LEN]);
int fs_clps_after(struct rg_fs *fs, rg_db *db, uint64_t after_key, uint64_t *keys,
                  char (*slugs)[RG_SLUG_LEN], int max);
void fs_clps_stale(struct rg_fs *fs);

/*
 * Opens ino with open(2) flags.  Sets *out to a new handle the caller frees with fs_release(), and
 * says whether the kernel may keep its page cache (*keep_cache) and whether reads and writes must
 * bypass it (*direct_io).  -EACCES for a write to anything but a ctl file, -EROFS under -o ro.
 */
int fs_open(struct rg_fs *fs, rg_db *db, fuse_ino_t ino, int flags, struct fs_handle **out,
            int *keep_cache, int *direct_io);

/* What a read returns: bytes in memory (p, n; buf owns them when used), or a range of a file. */
typedef struct fs_data {
    rg_buf buf;
    const char *p;
    size_t n;
    int fd;          /* >= 0: reply with n bytes of fd at pos */
    off_t pos;
} fs_data;

int fs_read(struct rg_fs *fs, rg_db *db, struct fs_handle *h, off_t off, size_t size, fs_data *out);
void fs_release(struct rg_fs *fs, struct fs_handle *h);

/* ---- audit/log and audit/<day> (auditidx.c) ---- */

int fs_aidx_new(struct rg_fs *fs);
void fs_aidx_free(struct rg_fs *fs);
/* Brings the index up to the newest event.  Cheap when nothing is new. */
int fs_aidx_sync(struct rg_fs *fs, rg_db *db);
/* Size and mtime of audit/log (day NULL) or audit/<day>; -ENOENT for a day without events. */
int fs_aidx_attr(struct rg_fs *fs, rg_db *db, const char *day, int64_t *size, int64_t *mtime_ns);
/* Appends the bytes [off, off + size) of audit/log or audit/<day> to out (fewer at the end). */
int fs_aidx_read(struct rg_fs *fs, rg_db *db, const char *day, int64_t off, size_t size, rg_buf *out);
/* The days with events whose key (days + FS_DAY_BIAS) is > after, in order.  Returns the count. */
int fs_aidx_days(struct rg_fs *fs, rg_db *db, int64_t after, int64_t *keys, int max);
/* For the watcher: the sizes the kernel was last told (published) and the current ones, per file
 * that grew since the last call; calls fn(ino, old_size) for each and marks them published.  Does
 * nothing until someone has read the log (the index is then built). */
void fs_aidx_publish(struct rg_fs *fs, rg_db *db, void (*fn)(struct rg_fs *, fuse_ino_t, int64_t));

/* ---- ctl files (ctl.c) ---- */

#define FS_CTL_MAX 65536   /* the largest write a ctl file accepts */

/* Validates the whole write, then runs it as who.  0 when every command ran; -EINVAL (refused,
 * nothing done, the refusal audited) or another negative errno. */
int fs_ctl_write(struct rg_fs *fs, fuse_ino_t ino, const char *buf, size_t size, const rg_actor *who);
/* What fs_ctl_write() does before it runs anything, on db: 0 when the write would be accepted,
 * -EINVAL with the reason in err, or another negative errno.  Runs nothing and records nothing
 * (tests/fuzz/fuzz_ctl.c feeds it any bytes without a mount). */
int fs_ctl_check(struct rg_fs *fs, rg_db *db, fuse_ino_t ino, const char *buf, size_t size,
                 const rg_actor *who, char *err, size_t errlen);

/* The grammar, for README: one table per ctl file. */
typedef struct fs_ctl_doc {
    const char *file;            /* "ctl", "applicants/<id>/ctl" */
    const char *const *forms;    /* NULL-terminated: "revet all", ... */
    const char *help;
} fs_ctl_doc;
const fs_ctl_doc *fs_ctl_docs(size_t *n);

/* ---- which small files go through the page cache (pin.c) ---- */

int fs_pins_new(struct rg_fs *fs);
void fs_pins_free(struct rg_fs *fs);
/* Whether ino's handles may use the page cache: an applicant's rendered files. */
int fs_pin_eligible(fuse_ino_t ino);
/* At open of an eligible ino, with the content the handle will serve: 1 if the handle may read
 * through the page cache (it then holds a pin, given back with fs_pin_release), 0 if it must use
 * direct I/O.  May make the kernel drop its copy of ino first; never call it with a lock held. */
int fs_pin_open(struct rg_fs *fs, fuse_ino_t ino, const rg_buf *content, int64_t mtime_ns);
void fs_pin_release(struct rg_fs *fs, fuse_ino_t ino);
/* Called with every attribute reply for ino: while ino is pinned, puts the pinned version's size
 * and time in st, and records what size the kernel was told. */
void fs_pin_report(struct rg_fs *fs, fuse_ino_t ino, struct stat *st);
/* The watcher calls this before it drops ino from the kernel; returns 1 if ino is pinned (it
 * will be dropped again when its last handle closes). */
int fs_pin_before_inval(struct rg_fs *fs, fuse_ino_t ino);

/* ---- README (readme.c) ---- */

void fs_readme_make(struct rg_fs *fs, rg_buf *out);

/* ---- reading the register into the page cache (prefetch.c) ----
 *
 * fs_prefetch_start starts a thread that reads once, front to back, what of the register file is
 * not in the page cache already, unless -o noprefetch was given or the file is more than half of
 * the memory available; a file it cannot open is logged and skipped.  0, or a negative errno if
 * the thread cannot be started.
 * fs_prefetch_stop stops a read under way and joins the thread; a no-op when none was started. */
int fs_prefetch_start(struct rg_fs *fs);
void fs_prefetch_stop(struct rg_fs *fs);

/* ---- the watcher (watch.c) and the job thread (jobs.c) ---- */

int fs_watch_start(struct rg_fs *fs);
void fs_watch_stop(struct rg_fs *fs);
/* Wakes the watcher for a pass now (non-blocking; safe from any thread). */
void fs_watch_kick(struct rg_fs *fs);
/* Makes the watcher run a pass that starts after this call and waits for it to finish (at most
 * timeout_ms), so that a ctl write returns after the kernel has forgotten what it changed. */
void fs_watch_sync(struct rg_fs *fs, int timeout_ms);
/* Called before an open: if the database holds events the watcher has not passed on yet (another
 * process changed it within the last poll), waits (at most a second) for a pass, so that the
 * kernel's idea of the file's size agrees with the version the open will read. */
void fs_watch_catch_up(struct rg_fs *fs, rg_db *db);
/* Asks the next pass to drop the kernel's attributes of snapshot/register.db. */
void fs_watch_snapshot_moved(struct rg_fs *fs);
/* Asks the next pass to drop ino's attributes and pages (a version unpinned after a change). */
void fs_watch_queue_inval(struct rg_fs *fs, fuse_ino_t ino);

int fs_jobs_start(struct rg_fs *fs);
void fs_jobs_stop(struct rg_fs *fs);
/* Queues job id to run on the job thread. */
int fs_jobs_enqueue(struct rg_fs *fs, int64_t id);

/* ---- the session (ops.c, mount.c) ---- */

extern const struct fuse_lowlevel_ops fs_ops;

/* Exit statuses of rg_fs_main (those of the regfs command, cli.h). */
enum { RG_FS_OK = 0, RG_FS_FAIL = 1, RG_FS_USAGE = 2 };

/*
 * `regfs mount DB MOUNTPOINT [-f] [-o OPTIONS]` (argv[0] "mount"), or, with as_helper, the same
 * as run by mount(8) (argv[0] "mount.regfs" or "mount.fuse.regfs": -n, -s, -v and -t TYPE are
 * ignored and -f means "fake").  Returns once unmounted (or, without -f, in the parent once the
 * mount is ready) with an exit status.
 */
int rg_fs_main(int argc, char **argv, int as_helper);

/* Prints libfuse's own options, for --help. */
void rg_fs_print_fuse_help(void);

#endif
