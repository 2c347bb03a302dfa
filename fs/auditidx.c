/*
 * auditidx.c: audit/log and audit/<day> as files that only grow, read at any offset without
 * rendering the whole log.
 *
 * The index keeps, for the log and for each day, the running byte total and every CHUNK-th event's
 * sequence number with its byte offset.  A read at offset off finds the last chunk at or before
 * off and renders events from there: at most CHUNK lines more than the reply needs.  The index is
 * built by one pass over the log (the watcher starts it at mount, in the background) and then
 * extended with the new events only; it costs 16 bytes per CHUNK events and a few dozen per day.
 *
 * Line lengths are counted from the fields exactly as rg_audit_format() writes them (seven fields,
 * six tabs, a newline); the integration tests compare audit/log with `regfs log` byte for byte.
 *
 * Locking: x->lock protects everything in the index.  It is never held while a notification is
 * sent (the kernel may be waiting for a read that needs it) nor across a read's database scan.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "fs.h"

#define CHUNK 256

struct chunk {
    int64_t seq;
    int64_t off;
};

struct chunks {
    struct chunk *v;
    size_t n, cap;
};

struct day {
    int64_t key;                 /* days since the epoch + FS_DAY_BIAS */
    int64_t bytes, count;
    int64_t published;           /* the size the watcher last told the kernel about */
    char last_at[RG_UTC_LEN];
    struct chunks chunks;
};

struct fs_aidx {
    pthread_mutex_t lock;
    int built;                   /* the first full pass is done */
    int failed;                  /* out of memory: the index is incomplete */
    int64_t last_seq, total, count, published;
    char last_at[RG_UTC_LEN];
    struct chunks chunks;
    struct day *days;            /* sorted by key */
    size_t ndays, dcap;
    size_t cur;                  /* the day of the last event: where the next one most likely goes */
};

int fs_aidx_new(struct rg_fs *fs)
{
    struct fs_aidx *x = calloc(1, sizeof *x);

    if (!x)
        return -ENOMEM;
    pthread_mutex_init(&x->lock, NULL);
    fs->aidx = x;
    return 0;
}

void fs_aidx_free(struct rg_fs *fs)
{
    struct fs_aidx *x = fs->aidx;

    if (!x)
        return;
    for (size_t i = 0; i < x->ndays; i++)
        free(x->days[i].chunks.v);
    free(x->days);
    free(x->chunks.v);
    pthread_mutex_destroy(&x->lock);
    free(x);
    fs->aidx = NULL;
}

static int chunks_push(struct chunks *c, int64_t seq, int64_t off)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct chunk *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (struct chunk){ seq, off };
    return 0;
}

static size_t digits(int64_t v)
{
    size_t n = 1;

    for (uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v; u >= 10; u /= 10)
        n++;
    return n + (v < 0);
}

/* The length of rg_audit_format()'s line for ev. */
static int64_t line_len(const rg_audit_event *ev)
{
    return (int64_t)(digits(ev->seq) + strlen(ev->at) + strlen(ev->actor) + strlen(ev->action) +
                     strlen(ev->applicant) + strlen(ev->detail) + strlen(ev->hash) + 7);
}

static int64_t day_key(const char *at)
{
    char day[RG_DAY_LEN];
    int64_t days;

    if (strnlen(at, 10) < 10)
        return 0;
    memcpy(day, at, 10);
    day[10] = '\0';
    return fs_day_parse(day, &days) == 0 ? days + FS_DAY_BIAS : 0;
}

/* The index of the first day with key >= key. */
static size_t days_lower(const struct fs_aidx *x, int64_t key)
{
    size_t lo = 0, hi = x->ndays;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->days[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct day *day_find(struct fs_aidx *x, int64_t key)
{
    size_t i = days_lower(x, key);

    return i < x->ndays && x->days[i].key == key ? &x->days[i] : NULL;
}

/* The day record for key, made if new. */
static struct day *day_get(struct fs_aidx *x, int64_t key)
{
    size_t i;

    if (x->cur < x->ndays && x->days[x->cur].key == key)
        return &x->days[x->cur];
    i = days_lower(x, key);
    if (i == x->ndays || x->days[i].key != key) {
        if (x->ndays == x->dcap) {
            size_t cap = x->dcap ? x->dcap * 2 : 64;
            struct day *v = realloc(x->days, cap * sizeof *v);
            if (!v)
                return NULL;
            x->days = v;
            x->dcap = cap;
        }
        memmove(&x->days[i + 1], &x->days[i], (x->ndays - i) * sizeof *x->days);
        memset(&x->days[i], 0, sizeof x->days[i]);
        x->days[i].key = key;
        x->ndays++;
    }
    x->cur = i;
    return &x->days[i];
}

static int index_event(const rg_audit_event *ev, void *arg)
{
    struct fs_aidx *x = arg;
    int64_t len = line_len(ev);
    struct day *d;

    if (x->count % CHUNK == 0 && chunks_push(&x->chunks, ev->seq, x->total) < 0)
        return -ENOMEM;
    if (!(d = day_get(x, day_key(ev->at))))
        return -ENOMEM;
    if (d->count % CHUNK == 0 && chunks_push(&d->chunks, ev->seq, d->bytes) < 0)
        return -ENOMEM;
    x->total += len;
    x->count++;
    x->last_seq = ev->seq;
    snprintf(x->last_at, sizeof x->last_at, "%s", ev->at);
    d->bytes += len;
    d->count++;
    snprintf(d->last_at, sizeof d->last_at, "%s", ev->at);
    return 0;
}

/* Called with x->lock held. */
static int sync_locked(struct fs_aidx *x, rg_db *db)
{
    rg_audit_filter f = { .from_seq = x->last_seq + 1 };
    int rc;

    if (x->failed)
        return -ENOMEM;
    rc = rg_audit_scan(db, &f, index_event, x);
    if (rc == -ENOMEM)
        x->failed = 1;
    if (rc == 0 && !x->built) {
        /* Whatever the kernel learns from now on is at least this: later growth starts here. */
        x->built = 1;
        x->published = x->total;
        for (size_t i = 0; i < x->ndays; i++)
            x->days[i].published = x->days[i].bytes;
    }
    return rc;
}

int fs_aidx_sync(struct rg_fs *fs, rg_db *db)
{
    struct fs_aidx *x = fs->aidx;
    int rc;

    pthread_mutex_lock(&x->lock);
    rc = sync_locked(x, db);
    pthread_mutex_unlock(&x->lock);
    return rc;
}

int fs_aidx_attr(struct rg_fs *fs, rg_db *db, const char *day, int64_t *size, int64_t *mtime_ns)
{
    struct fs_aidx *x = fs->aidx;
    int64_t key = 0, days;
    struct day *d;
    int rc;

    if (day) {
        if (fs_day_parse(day, &days) < 0)
            return -ENOENT;
        key = days + FS_DAY_BIAS;
    }
    pthread_mutex_lock(&x->lock);
    if ((rc = sync_locked(x, db)) < 0)
        goto out_unlock;
    if (!day) {
        *size = x->total;
        *mtime_ns = rg_tree_utc_ns(x->last_at);
    } else if ((d = day_find(x, key))) {
        *size = d->bytes;
        *mtime_ns = rg_tree_utc_ns(d->last_at);
    } else {
        rc = -ENOENT;
    }
out_unlock:
    pthread_mutex_unlock(&x->lock);
    return rc;
}

int fs_aidx_days(struct rg_fs *fs, rg_db *db, int64_t after, int64_t *keys, int max)
{
    struct fs_aidx *x = fs->aidx;
    int n = 0, rc;

    pthread_mutex_lock(&x->lock);
    if ((rc = sync_locked(x, db)) == 0)
        for (size_t i = days_lower(x, after + 1); i < x->ndays && n < max; i++)
            keys[n++] = x->days[i].key;
    pthread_mutex_unlock(&x->lock);
    return rc < 0 ? rc : n;
}

struct reader {
    int64_t pos;          /* the offset of the next event's line */
    int64_t off;          /* where the reply starts */
    size_t want;
    rg_buf line;
    rg_buf *out;
};

static int read_event(const rg_audit_event *ev, void *arg)
{
    struct reader *r = arg;
    int64_t len = line_len(ev);

    if (r->pos + len > r->off) {
        size_t from = r->off > r->pos ? (size_t)(r->off - r->pos) : 0;
        size_t n = (size_t)len - from;
        rg_buf_reset(&r->line);
        rg_audit_format(ev, &r->line);
        if (n > r->want - r->out->len)
            n = r->want - r->out->len;
        rg_buf_add(r->out, r->line.data + from, n);
    }
    r->pos += len;
    return r->out->len >= r->want || rg_buf_failed(r->out) ? 1 : 0;
}

int fs_aidx_read(struct rg_fs *fs, rg_db *db, const char *day, int64_t off, size_t size, rg_buf *out)
{
    struct fs_aidx *x = fs->aidx;
    struct reader r = { .off = off, .want = size, .line = RG_BUF_INIT, .out = out };
    rg_audit_filter f = { .day = NULL };
    const struct chunks *c;
    int64_t days;
    size_t lo, hi;
    int rc = 0;

    if (size == 0)
        return 0;
    pthread_mutex_lock(&x->lock);
    if (!x->built && (rc = sync_locked(x, db)) < 0)
        goto out_unlock;
    if (day) {
        struct day *d = fs_day_parse(day, &days) == 0 ? day_find(x, days + FS_DAY_BIAS) : NULL;
        if (!d)
            goto out_unlock;
        c = &d->chunks;
        f.day = day;
    } else {
        c = &x->chunks;
    }
    if (c->n == 0)
        goto out_unlock;
    /* The last chunk that starts at or before off. */
    lo = 0;
    hi = c->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->v[mid].off <= off)
            lo = mid;
        else
            hi = mid;
    }
    f.from_seq = c->v[lo].seq;
    r.pos = c->v[lo].off;
    pthread_mutex_unlock(&x->lock);

    rc = rg_audit_scan(db, &f, read_event, &r);
    rg_buf_free(&r.line);
    return rc < 0 ? rc : 0;
out_unlock:
    pthread_mutex_unlock(&x->lock);
    return rc;
}

struct grown {
    fuse_ino_t ino;
    int64_t old;
};

void fs_aidx_publish(struct rg_fs *fs, rg_db *db, void (*fn)(struct rg_fs *, fuse_ino_t, int64_t))
{
    struct fs_aidx *x = fs->aidx;
    struct grown *g = NULL;
    size_t n = 0;

    pthread_mutex_lock(&x->lock);
    if (!x->built || sync_locked(x, db) < 0) {
        pthread_mutex_unlock(&x->lock);
        return;
    }
    /* Collect under the lock, notify after it. */
    if ((g = malloc((x->ndays + 1) * sizeof *g))) {
        if (x->total != x->published)
            g[n++] = (struct grown){ FS_INO_AUDIT_LOG, x->published };
        for (size_t i = 0; i < x->ndays; i++)
            if (x->days[i].bytes != x->days[i].published)
                g[n++] = (struct grown){ FS_INO(T_AUDIT_DAY, x->days[i].key),
                                         x->days[i].published };
        x->published = x->total;
        for (size_t i = 0; i < x->ndays; i++)
            x->days[i].published = x->days[i].bytes;
    }
    pthread_mutex_unlock(&x->lock);
    for (size_t i = 0; i < n; i++)
        fn(fs, g[i].ino, g[i].old);
    free(g);
}
