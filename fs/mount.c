/*
 * mount.c: `regfs mount DB MOUNTPOINT [-f] [-o OPTIONS]`, and the same as mount.regfs or
 * mount.fuse.regfs, the names mount(8) runs for an fstab line of type fuse.regfs.
 *
 * Order matters here.  The register is opened and checked before anything is mounted, so that a
 * wrong path or a file that is not a register is a clear error and not an empty mount.  That
 * connection is closed again before fuse_daemonize() forks: SQLite's locks belong to the process
 * that took them, so every connection the daemon uses is opened after the fork, as are its threads.
 * At the end (fusermount3 -u, or SIGTERM/SIGINT/SIGHUP through fuse_set_signal_handlers) the job
 * thread stops at its next batch, the watcher stops, the session is unmounted and destroyed, every
 * connection is closed, and the exit status is 0.
 */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fs.h"

struct mount_opts {
    char *db;
    char *group;          /* -o group=NAME */
    char *checkpoint_key; /* -o checkpoint_key=PATH */
    int ro;               /* -o ro */
    int noprefetch;       /* -o noprefetch */
    int help;
    int fake;             /* mount -f, as a mount helper: do everything but mount */
};

enum { KEY_RO, KEY_IGNORE, KEY_HELP };

static const struct fuse_opt option_spec[] = {
    { "group=%s", offsetof(struct mount_opts, group), 0 },
    { "checkpoint_key=%s", offsetof(struct mount_opts, checkpoint_key), 0 },
    FUSE_OPT_KEY("ro", KEY_RO),
    { "noprefetch", offsetof(struct mount_opts, noprefetch), 1 },
    FUSE_OPT_KEY("-h", KEY_HELP),
    FUSE_OPT_KEY("--help", KEY_HELP),
    /* What fstab and mount(8) say that is no business of a FUSE filesystem (mount.fuse3 drops
     * the same). */
    FUSE_OPT_KEY("defaults", KEY_IGNORE),
    FUSE_OPT_KEY("auto", KEY_IGNORE),
    FUSE_OPT_KEY("noauto", KEY_IGNORE),
    FUSE_OPT_KEY("user", KEY_IGNORE),
    FUSE_OPT_KEY("nouser", KEY_IGNORE),
    FUSE_OPT_KEY("users", KEY_IGNORE),
    FUSE_OPT_KEY("_netdev", KEY_IGNORE),
    FUSE_OPT_KEY("nofail", KEY_IGNORE),
    FUSE_OPT_KEY("x-%s", KEY_IGNORE),
    FUSE_OPT_KEY("comment=%s", KEY_IGNORE),
    FUSE_OPT_END
};

static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
    struct mount_opts *o = data;

    switch (key) {
    case FUSE_OPT_KEY_NONOPT:
        if (!o->db) {
            o->db = strdup(arg);
            return 0;
        }
        return 1;   /* the mount point, for fuse_parse_cmdline() */
    case KEY_RO:
        o->ro = 1;
        return 1;   /* also the kernel's read-only flag */
    case KEY_HELP:
        o->help = 1;
        return 0;
    case KEY_IGNORE:
        return 0;
    default:
        return 1;
    }
}

/* ---- connections and logging ---- */

static void close_conn(void *db)
{
    rg_db_close(db);
}

rg_db *fs_db(struct rg_fs *fs)
{
    rg_db *db = pthread_getspecific(fs->conn_key);

    if (db)
        return db;
    if (rg_db_open(fs->db_path, fs->ro ? RG_OPEN_READONLY : 0, &db) < 0 ||
        rg_tree_reader_setup(db) < 0) {
        fs_log(fs, LOG_ERR, "cannot open the register: %s", rg_db_errmsg(db));
        rg_db_close(db);
        return NULL;
    }
    pthread_setspecific(fs->conn_key, db);
    return db;
}

void fs_log(struct rg_fs *fs, int priority, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (fs->foreground) {
        fprintf(stderr, "regfs: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    } else {
        vsyslog(priority, fmt, ap);
    }
    va_end(ap);
}

int fs_thread_create(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    sigset_t all, old;
    int rc;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* libfuse's own messages: to stderr in the foreground, to syslog once detached. */
static int log_foreground = 1;

static void fuse_log_func(enum fuse_log_level level, const char *fmt, va_list ap)
{
    /* libfuse 3.14's multi-threaded loop says this about its own default on every mount. */
    if (strstr(fmt, "Ignoring invalid max threads value"))
        return;
    if (log_foreground)
        vfprintf(stderr, fmt, ap);
    else
        vsyslog((int)level, fmt, ap);
}

/* ---- main ---- */

/* Drops what mount(8) passes a helper that is no option of ours: -n (no mtab), -s (sloppy), -v,
 * -t TYPE; -f (fake) means "do not mount". */
static int helper_args(int argc, char **argv, struct mount_opts *o, char **out)
{
    int n = 0;

    for (int i = 0; i < argc; i++) {
        if (i > 0 && (strcmp(argv[i], "-n") == 0 || strcmp(argv[i], "-s") == 0 ||
                      strcmp(argv[i], "-v") == 0))
            continue;
        if (i > 0 && strcmp(argv[i], "-f") == 0) {
            o->fake = 1;
            continue;
        }
        if (i > 0 && strcmp(argv[i], "-t") == 0) {
            i++;
            continue;
        }
        out[n++] = argv[i];
    }
    out[n] = NULL;
    return n;
}

static int resolve_group(const char *name, gid_t *gid)
{
    struct group *gr = getgrnam(name);
    char *end;
    long v;

    if (gr) {
        *gid = gr->gr_gid;
        return 0;
    }
    v = strtol(name, &end, 10);
    if (*name && !*end && v >= 0) {
        *gid = (gid_t)v;
        return 0;
    }
    return -1;
}

/*
 * -o checkpoint_key=PATH: the secret key file must be there now, a regular file that only its owner
 * may read or write (rg_checkpoint_make() refuses any other, but only when a checkpoint is asked
 * for: better to say so at mount).  Its contents are read, and checked, at each checkpoint: the
 * key may be replaced while mounted.  Sets out to its absolute path.
 */
static int check_key(const char *me, const char *path, char out[PATH_MAX])
{
    struct stat sb;

    if (!realpath(path, out) || stat(out, &sb) < 0) {
        fprintf(stderr, "%s: -o checkpoint_key=%s: %s\n", me, path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        fprintf(stderr, "%s: -o checkpoint_key=%s: not a regular file\n", me, path);
        return -1;
    }
    if (sb.st_mode & 077) {
        fprintf(stderr, "%s: -o checkpoint_key=%s: the secret key is open to others (mode %04o): "
                "chmod 600 it, and make a new key if others may have read it\n", me, path,
                (unsigned)(sb.st_mode & 07777));
        return -1;
    }
    if (access(out, R_OK) < 0) {
        fprintf(stderr, "%s: -o checkpoint_key=%s: %s\n", me, path, strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * A daemon killed without unmounting (kill -9, a crash, the OOM killer) leaves its mount behind, and
 * every use of the mountpoint fails with ENOTCONN.  Say so and how to clear it, rather than fail
 * later with the kernel's words.  Not cleared here: the dead mount may not be regfs's, and whoever
 * still has files open in it should be found first (fusermount3 -u says "busy" if so).
 */
static int stale_mountpoint(const char *me, const char *mountpoint)
{
    struct statfs fsb;
    struct stat sb;

    /* statfs always asks the daemon; stat may be answered from the kernel's attribute cache */
    if ((statfs(mountpoint, &fsb) == 0 || errno != ENOTCONN) && (stat(mountpoint, &sb) == 0 || errno != ENOTCONN))
        return 0;
    fprintf(stderr, "%s: %s: a stale mount: the filesystem daemon that served it has died (%s); "
            "clear it with `fusermount3 -u %s` (or `umount %s` as root), then mount again\n",
            me, mountpoint, strerror(ENOTCONN), mountpoint, mountpoint);
    return 1;
}

static int add_mount_options(struct fuse_args *args, const char *db)
{
    char *opts = NULL, *fsname = NULL;
    int rc = -1;

    /* The kernel checks the modes (nobody reaches a file the modes refuse, allow_other or not);
     * /proc/mounts shows "DB MOUNTPOINT fuse.regfs". */
    if (asprintf(&fsname, "fsname=%s", db) < 0)
        return -1;
    if (fuse_opt_add_opt(&opts, "default_permissions") == 0 &&
        fuse_opt_add_opt_escaped(&opts, fsname) == 0 &&
        fuse_opt_add_opt(&opts, "subtype=regfs") == 0 &&
        fuse_opt_add_arg(args, "-o") == 0 && fuse_opt_add_arg(args, opts) == 0)
        rc = 0;
    free(opts);
    free(fsname);
    return rc;
}

void rg_fs_print_fuse_help(void)
{
    printf("\nFUSE options (libfuse %s):\n", fuse_pkgversion());
    fuse_cmdline_help();
    fuse_lowlevel_help();
}

static int run(struct rg_fs *fs, struct fuse_args *args, struct fuse_cmdline_opts *cl)
{
    struct fuse_loop_config *cfg = NULL;
    int rc, status = RG_FS_FAIL;

    fs->se = fuse_session_new(args, &fs_ops, sizeof fs_ops, fs);
    if (!fs->se)
        return RG_FS_FAIL;
    /* libfuse leaves a signal alone that was ignored when we started, and a shell ignores SIGINT
     * in what it starts with `&`: the daemon decides for itself that SIGINT, SIGTERM and SIGHUP
     * mean "unmount and exit". */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    if (fuse_set_signal_handlers(fs->se) != 0)
        goto out_destroy;
    if (fuse_session_mount(fs->se, cl->mountpoint) != 0)
        goto out_signals;
    fs->foreground = cl->foreground;
    if (fuse_daemonize(cl->foreground) != 0)
        goto out_unmount;
    if (!fs->foreground) {
        openlog("regfs", LOG_PID, LOG_DAEMON);
        log_foreground = 0;
    }

    /* From here on: one process, its connections and threads.
     * A render's buffer can be megabytes (register.tsv is written out in 1 MB pieces), made by
     * whichever worker thread asked.  glibc raises its mmap threshold to the size of each such
     * buffer freed, after which they come from the thread's own arena and stay there: over a soak
     * the RSS crept up by a third while the memory in use stayed flat (test_soak, heaptrack).  A
     * fixed threshold keeps every large buffer an mmap that is given back when freed. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    if (!fs->ro && rg_db_open(fs->db_path, 0, &fs->wdb) < 0) {
        fs_log(fs, LOG_ERR, "cannot open the register for writing: %s", rg_db_errmsg(fs->wdb));
        rg_db_close(fs->wdb);
        fs->wdb = NULL;
        goto out_unmount;
    }
    if (fs_prefetch_start(fs) < 0 || fs_watch_start(fs) < 0 || (!fs->ro && fs_jobs_start(fs) < 0) ||
        fs_prerender_start(fs) < 0)
        goto out_threads;

    if (cl->singlethread) {
        rc = fuse_session_loop(fs->se);
    } else {
        if (!(cfg = fuse_loop_cfg_create()))
            goto out_threads;
        fuse_loop_cfg_set_clone_fd(cfg, (unsigned)cl->clone_fd);
        /* UINT_MAX is fuse_parse_cmdline's "not given": keep the loop's own default then. */
        if (cl->max_idle_threads != UINT_MAX)
            fuse_loop_cfg_set_idle_threads(cfg, cl->max_idle_threads);
        if (cl->max_threads > 0 && cl->max_threads != UINT_MAX)
            fuse_loop_cfg_set_max_threads(cfg, cl->max_threads);
        rc = fuse_session_loop_mt(fs->se, cfg);
        fuse_loop_cfg_destroy(cfg);
    }
    /* Unmounted (0) or told to stop by a signal: both are a clean end. */
    if (rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP)
        status = RG_FS_OK;
    else
        fs_log(fs, LOG_ERR, "the session ended with an error: %s", strerror(-rc));
out_threads:
    fs_prefetch_stop(fs);
    fs_prerender_stop(fs);
    fs_jobs_stop(fs);
    fs_watch_stop(fs);
out_unmount:
    fuse_session_unmount(fs->se);
out_signals:
    fuse_remove_signal_handlers(fs->se);
out_destroy:
    fuse_session_destroy(fs->se);
    fs->se = NULL;
    return status;
}

int rg_fs_main(int argc, char **argv, int as_helper)
{
    const char *me = as_helper ? argv[0] : "regfs mount";
    struct mount_opts o = { 0 };
    struct fuse_cmdline_opts cl = { 0 };
    char **av = calloc((size_t)argc + 1, sizeof *av);
    struct fuse_args args;
    struct rg_fs fs = { 0 };
    char abs[PATH_MAX], dir[PATH_MAX], key[PATH_MAX];
    rg_db *db = NULL;
    int status = RG_FS_USAGE, ac, rc;

    if (!av)
        return RG_FS_FAIL;
    fuse_set_log_func(fuse_log_func);
    if (as_helper) {
        ac = helper_args(argc, argv, &o, av);
    } else {
        memcpy(av, argv, (size_t)argc * sizeof *av);
        ac = argc;
    }
    args = (struct fuse_args)FUSE_ARGS_INIT(ac, av);
    if (fuse_opt_parse(&args, &o, option_spec, opt_proc) == -1)
        goto out_args;
    if (o.help) {
        rg_fs_print_fuse_help();
        status = RG_FS_OK;
        goto out_args;
    }
    if (!o.db) {
        fprintf(stderr, "%s: which register? (usage: regfs mount DB MOUNTPOINT [-f] [-o OPTIONS])\n",
                me);
        goto out_args;
    }
    if (fuse_parse_cmdline(&args, &cl) != 0)
        goto out_args;
    if (!cl.mountpoint) {
        fprintf(stderr, "%s: where? (usage: regfs mount DB MOUNTPOINT [-f] [-o OPTIONS])\n", me);
        goto out_args;
    }
    fs.uid = getuid();
    fs.gid = getgid();
    fs.ro = o.ro;
    fs.noprefetch = o.noprefetch;
    if (o.group && resolve_group(o.group, &fs.gid) < 0) {
        fprintf(stderr, "%s: -o group=%s: no such group\n", me, o.group);
        goto out_args;
    }
    if (o.checkpoint_key && !*o.checkpoint_key) {
        fprintf(stderr, "%s: -o checkpoint_key= needs the secret key file (from `regfs keygen`)\n", me);
        goto out_args;
    }
    status = RG_FS_FAIL;
    if (o.checkpoint_key && check_key(me, o.checkpoint_key, key) < 0)
        goto out_args;
    if (!realpath(o.db, abs)) {
        fprintf(stderr, "%s: %s: %s\n", me, o.db, strerror(errno));
        goto out_args;
    }
    if (stale_mountpoint(me, cl.mountpoint))
        goto out_args;
    /* A register, readable now, before anything is mounted. */
    if ((rc = rg_db_open(abs, o.ro ? RG_OPEN_READONLY : 0, &db)) < 0 ||
        (rc = rg_tree_first_at(db, &fs.born_ns)) < 0) {
        fprintf(stderr, "%s: %s%s\n", me, rg_db_errmsg(db),
                rc == -EROFS && !o.ro ? "; mount it with -o ro to serve it read-only" : "");
        rg_db_close(db);
        goto out_args;
    }
    rg_db_close(db);
    if (o.fake) {
        status = RG_FS_OK;
        goto out_args;
    }
    if (add_mount_options(&args, abs) < 0)
        goto out_args;
    snprintf(dir, sizeof dir, "%s", abs);
    fs.db_path = abs;
    fs.checkpoint_key = o.checkpoint_key ? key : NULL;
    fs.tmp_dir = dirname(dir);
    pthread_mutex_init(&fs.wlock, NULL);
    if (pthread_key_create(&fs.conn_key, close_conn) != 0)
        goto out_mutex;
    fs_readme_make(&fs, &fs.readme);
    if (rg_buf_failed(&fs.readme) || fs_pins_new(&fs) < 0 ||
        fs_cache_new(&fs) < 0 || fs_aidx_new(&fs) < 0)
        goto out_key;

    status = run(&fs, &args, &cl);

    /* The main thread read through a connection of its own only in single-threaded mode. */
    close_conn(pthread_getspecific(fs.conn_key));
    pthread_setspecific(fs.conn_key, NULL);
    rg_db_close(fs.wdb);
out_key:
    fs_aidx_free(&fs);
    fs_cache_free(&fs);   /* before the pins: it releases the handles left open */
    fs_pins_free(&fs);
    rg_buf_free(&fs.readme);
    pthread_key_delete(fs.conn_key);
out_mutex:
    pthread_mutex_destroy(&fs.wlock);
out_args:
    free(cl.mountpoint);
    free(o.db);
    free(o.group);
    free(o.checkpoint_key);
    fuse_opt_free_args(&args);
    free(av);
    return status;
}
