/*
 * prefetch.c: reads the register file once at mount, front to back, so that the kernel's page
 * cache holds it before the first listing needs it.
 *
 * Why: a cold register is read by SQLite one 4 KiB page at a time, and an imported and vetted
 * register's applicant rows are scattered through the file (each row's page sits between pages of
 * the audit events written with it, and the pages a vet split off are at the end).  The kernel
 * cannot read ahead of such a pattern, so a first `ls -l applicants` paid one disk read per page:
 * at 20,000 applicants a scan of the table took 164 ms from a cold cache and 37 ms when the same
 * pages came in large sequential reads (docs/bench.md).  One sequential pass costs little next to
 * that (the whole file reads at about 1 GB/s here) and every later read is served from memory.
 * The watcher's first pass over the audit log (auditidx.c) also pulls in most of the file, but only
 * from its first poll on and as a side effect of the log's layout; this pass starts with the
 * mount, reads the whole file, and reads nothing that is cached already (a warm remount costs a
 * few mincore() calls).
 *
 * The pages are the kernel's page cache, not the daemon's memory: they count in no process's RSS
 * (the file is mapped only to ask mincore() which pages are there already, never touched) and the
 * kernel evicts them like any other file's.  To stay a good neighbour the pass is skipped
 * when the file is more than half of the memory available (MemAvailable), runs at a lower CPU
 * priority than the request threads, and stops at unmount.  -o noprefetch turns it off.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs.h"

#define PREFETCH_CHUNK (1024 * 1024)

struct fs_prefetch {
    pthread_t thread;
    int fd;
    int64_t size;
    atomic_int stop;
};

/* MemAvailable from /proc/meminfo in bytes, or -1 when it cannot be read. */
static int64_t mem_available(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[128];
    long long kib = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lld kB", &kib) == 1)
            break;
    fclose(f);
    return kib < 0 ? -1 : (int64_t)kib * 1024;
}

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Whether every page of [off, off + len) is in the page cache already.  map is the file mapped but
 * never touched (so it adds nothing to the RSS), or NULL: then nothing counts as resident. */
static int resident(const char *map, int64_t off, size_t len, unsigned char *vec, size_t page)
{
    if (!map || mincore((void *)(map + off), len, vec) < 0)
        return 0;
    for (size_t i = 0; i < (len + page - 1) / page; i++)
        if (!(vec[i] & 1))
            return 0;
    return 1;
}

static void *prefetch_main(void *arg)
{
    struct rg_fs *fs = arg;
    struct fs_prefetch *p = fs->prefetch;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *buf = malloc(PREFETCH_CHUNK);
    unsigned char *vec = malloc(PREFETCH_CHUNK / page + 1);
    char *map = mmap(NULL, (size_t)p->size, PROT_READ, MAP_SHARED, p->fd, 0);
    int64_t off = 0, fetched = 0, start = now_ms();
    ssize_t n = 0;

    /* Behind the threads that answer requests (a thread's nice value is its own on Linux). */
    setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
    if (map == MAP_FAILED)
        map = NULL;
    /* A warm remount finds the file in the cache already: only what is missing is read. */
    while (buf && vec && off < p->size && !atomic_load(&p->stop)) {
        size_t len = (size_t)(p->size - off < PREFETCH_CHUNK ? p->size - off : PREFETCH_CHUNK);
        if (resident(map, off, len, vec, page)) {
            n = (ssize_t)len;
        } else {
            if ((n = pread(p->fd, buf, len, off)) <= 0)
                break;   /* an error, or the file is shorter than it was at mount */
            fetched += n;
        }
        off += n;
    }
    if (!buf || !vec || n < 0)
        fs_log(fs, LOG_WARNING, "prefetch: reading the register: %s",
               strerror(buf && vec ? errno : ENOMEM));
    else if (off >= p->size)
        fs_log(fs, LOG_INFO, "prefetch: the register (%.1f MiB) is in the page cache (%.1f MiB read "
               "in %" PRId64 " ms)", (double)p->size / (1 << 20), (double)fetched / (1 << 20),
               now_ms() - start);
    else
        fs_log(fs, LOG_INFO, "prefetch: stopped at %.1f of the register's %.1f MiB (%s)",
               (double)off / (1 << 20), (double)p->size / (1 << 20),
               atomic_load(&p->stop) ? "the unmount" : "the file ended early");
    if (map)
        munmap(map, (size_t)p->size);
    free(vec);
    free(buf);
    return NULL;
}

int fs_prefetch_start(struct rg_fs *fs)
{
    struct fs_prefetch *p;
    struct stat st;
    int64_t avail;
    int rc;

    if (fs->noprefetch)
        return 0;
    if (!(p = calloc(1, sizeof *p)))
        return -ENOMEM;
    if ((p->fd = open(fs->db_path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(p->fd, &st) < 0) {
        /* Not worth failing a mount over: the register was opened a moment ago, and the first
         * connection to read it will say what is wrong. */
        fs_log(fs, LOG_WARNING, "prefetch: %s: %s", fs->db_path, strerror(errno));
        goto skip;
    }
    p->size = st.st_size;
    avail = mem_available();
    if (avail >= 0 && p->size > avail / 2) {
        fs_log(fs, LOG_INFO, "prefetch: skipped: the register (%" PRId64 " MiB) is more than half "
               "the memory available (%" PRId64 " MiB)", p->size >> 20, avail >> 20);
        goto skip;
    }
    fs->prefetch = p;
    if ((rc = fs_thread_create(&p->thread, prefetch_main, fs)) != 0) {
        fs->prefetch = NULL;
        fs_log(fs, LOG_ERR, "cannot start the prefetch thread: %s", strerror(rc));
        close(p->fd);
        free(p);
        return -rc;
    }
    return 0;
skip:
    if (p->fd >= 0)
        close(p->fd);
    free(p);
    return 0;
}

void fs_prefetch_stop(struct rg_fs *fs)
{
    struct fs_prefetch *p = fs->prefetch;

    if (!p)
        return;
    atomic_store(&p->stop, 1);
    pthread_join(p->thread, NULL);
    close(p->fd);
    free(p);
    fs->prefetch = NULL;
}
