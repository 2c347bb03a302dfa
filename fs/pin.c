/*
 * pin.c: when a small file may be read through the kernel's page cache, and with what size.
 *
 * An applicant's files are rendered at open into the handle's buffer
 * (content.c).  Through the page cache a file is one object per inode for the kernel: its pages,
 * filled by whichever open file read them, and one size, from the latest attributes it accepted,
 * at which it cuts every read.  A reader whose version differs from either gets a torn file.  So a
 * handle uses the page cache only when the kernel's view of the inode is of that same version, and
 * this module keeps it so.  Per inode it records:
 *
 *   - the content (keyed hash and size) of the last version opened through the page cache: the
 *     only version whose pages the kernel may hold;
 *   - how many handles of that version are open (refs): while any is, that version is pinned.
 *     Every size reported for the inode (getattr, lookup, readdirplus: fs_pin_report) is the
 *     pinned one, and a handle of another version reads with direct I/O, outside the page cache;
 *   - what sizes were reported since the kernel last dropped the inode's attributes (told): none,
 *     one size, or several.
 *
 * The first open of a version makes the kernel's view agree before it replies.  If the kernel may
 * hold another size, it drops its attributes, so that the first read asks again and gets the
 * pinned size (the kernel ignores an answer to a getattr sent before the drop, so an old size in
 * flight cannot land afterwards).  If it may hold another version's pages, the open stores its
 * own over them (fuse_lowlevel_notify_store), which also spares the first read a round trip and
 * the kernel's marking of the file's atime stale after it (and the getattr that would follow).
 *
 * A version left behind when its last handle closes stays with the kernel only if nothing changed
 * meanwhile: if the watcher saw a change while it was pinned (fs_pin_before_inval), the release
 * asks the watcher to drop it (fs_watch_queue_inval), so that stat shows the new size.  While a
 * file is pinned, stat shows the pinned version's size and time, though a new open reads the
 * newest version.
 *
 * The table holds at most PIN_MAX inodes; an unpinned record is forgotten to make room, and the
 * next open of that inode then starts as the first did.  (test_mount_cache runs with a table of
 * a few records, REGFS_PIN_MAX, so that forgetting happens all the time.)
 *
 * Locking: one mutex for the table.  No other lock is taken under it, and it is never held
 * across a call into the kernel.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

#define PIN_BUCKETS (1u << 16)
#define PIN_MAX (1u << 17)   /* some 10 MB; REGFS_PIN_MAX (tests) makes it smaller */

enum { TOLD_UNKNOWN = -2, TOLD_NONE = -1, TOLD_MIXED = -3 };

struct pin {
    struct pin *next;      /* in its bucket */
    fuse_ino_t ino;
    uint64_t hash;         /* of the pinned (or last pinned) version; valid if size >= 0 */
    int64_t size;          /* -1: none yet */
    int64_t mtime_ns;
    int64_t told;          /* TOLD_*, or the one size reported since the last drop */
    int refs;              /* open page-cache handles of this version */
    int preparing;         /* the first opener is dropping the kernel's copy: others go direct */
    int dirty;             /* the watcher saw a change while pinned */
};

struct fs_pins {
    pthread_mutex_t lock;
    struct pin *bucket[PIN_BUCKETS];
    size_t count, max;
    size_t hand;           /* the next bucket to sweep when full */
    int swept;             /* a record was ever forgotten: a new one may have been told before */
    unsigned char key[crypto_shorthash_KEYBYTES];
};

int fs_pins_new(struct rg_fs *fs)
{
    struct fs_pins *p;

    if (sodium_init() < 0)
        return -EIO;
    if (!(p = calloc(1, sizeof *p)))
        return -ENOMEM;
    pthread_mutex_init(&p->lock, NULL);
    p->max = (size_t)rg_env_long("REGFS_PIN_MAX", 8, PIN_MAX, PIN_MAX);
    /* Keyed: nobody who writes an applicant's data can make two versions look alike. */
    randombytes_buf(p->key, sizeof p->key);
    fs->pins = p;
    return 0;
}

void fs_pins_free(struct rg_fs *fs)
{
    struct fs_pins *p = fs->pins;

    if (!p)
        return;
    for (size_t b = 0; b < PIN_BUCKETS; b++) {
        struct pin *e = p->bucket[b], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
    fs->pins = NULL;
}

int fs_pin_eligible(fuse_ino_t ino)
{
    /* The watcher drops an applicant's files by inode when they change (watch.c); a watch-list
     * entry only by name, which would leave a size reported while pinned in place. */
    return FS_TAG(ino) == T_APP_FILE && (FS_VAL(ino) & 7) < RG_FILE_COUNT;
}

static size_t bucket_of(fuse_ino_t ino)
{
    return (size_t)((ino * UINT64_C(0x9E3779B97F4A7C15)) >> 48) & (PIN_BUCKETS - 1);
}

static struct pin *find(struct fs_pins *p, fuse_ino_t ino)
{
    struct pin *e = p->bucket[bucket_of(ino)];

    while (e && e->ino != ino)
        e = e->next;
    return e;
}

/* Forgets unpinned records, a bucket at a time, until an eighth of the table is free. */
static void sweep(struct fs_pins *p)
{
    for (size_t n = 0; n < PIN_BUCKETS && p->count > p->max - p->max / 8; n++) {
        struct pin **link = &p->bucket[p->hand];
        while (*link) {
            struct pin *e = *link;
            if (e->refs == 0 && !e->preparing && !e->dirty) {
                *link = e->next;
                free(e);
                p->count--;
                p->swept = 1;
            } else {
                link = &e->next;
            }
        }
        p->hand = (p->hand + 1) & (PIN_BUCKETS - 1);
    }
}

static struct pin *find_or_add(struct fs_pins *p, fuse_ino_t ino)
{
    struct pin *e = find(p, ino);
    size_t b;

    if (e)
        return e;
    if (p->count >= p->max)
        sweep(p);
    if (!(e = calloc(1, sizeof *e)))
        return NULL;
    b = bucket_of(ino);
    e->ino = ino;
    e->size = -1;
    /* Every size reported since the mount was recorded: unless records were forgotten since,
     * an inode without one was never reported, and the kernel holds nothing of it. */
    e->told = p->swept ? TOLD_UNKNOWN : TOLD_NONE;
    e->next = p->bucket[b];
    p->bucket[b] = e;
    p->count++;
    return e;
}

static void told(struct pin *e, int64_t size)
{
    if (e->told == TOLD_NONE)
        e->told = size;
    else if (e->told != size)
        e->told = TOLD_MIXED;
}

void fs_pin_report(struct rg_fs *fs, fuse_ino_t ino, struct stat *st)
{
    struct fs_pins *p = fs->pins;
    struct pin *e;

    if (!p || !fs_pin_eligible(ino))
        return;
    pthread_mutex_lock(&p->lock);
    if ((e = find_or_add(p, ino))) {
        if (e->refs > 0) {
            st->st_size = e->size;
            st->st_blocks = (e->size + 511) / 512;
            st->st_mtim.tv_sec = e->mtime_ns / 1000000000;
            st->st_mtim.tv_nsec = e->mtime_ns % 1000000000;
            st->st_atim = st->st_ctim = st->st_mtim;
        }
        told(e, st->st_size);
    }
    pthread_mutex_unlock(&p->lock);
}

int fs_pin_open(struct rg_fs *fs, fuse_ino_t ino, const rg_buf *content, int64_t mtime_ns)
{
    struct fs_pins *p = fs->pins;
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t hash;
    int64_t size = (int64_t)content->len;
    int same, drop_attrs, rc = 0;
    struct pin *e;

    crypto_shorthash(h, (const unsigned char *)content->data, content->len, p->key);
    memcpy(&hash, h, sizeof hash);
    pthread_mutex_lock(&p->lock);
    if (!(e = find_or_add(p, ino))) {
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    same = e->size == size && e->hash == hash;
    if (e->refs > 0) {
        /* Pinned: share that version, or stay out of its way. */
        if (same && !e->preparing) {
            e->refs++;
            pthread_mutex_unlock(&p->lock);
            return 1;
        }
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    drop_attrs = e->told != size && e->told != TOLD_NONE;
    e->hash = hash;
    e->size = size;
    e->mtime_ns = mtime_ns;
    e->refs = 1;
    e->dirty = 0;
    if (same && !drop_attrs) {
        pthread_mutex_unlock(&p->lock);
        return 1;
    }
    e->preparing = 1;
    if (drop_attrs)
        e->told = TOLD_NONE;
    pthread_mutex_unlock(&p->lock);
    /*
     * The opener holds the inode, so neither call drops its last reference, and no read of ours is
     * in flight on it (refs was 0): they wait for nothing the daemon must answer.  The kernel may
     * hold another size: it forgets it, and the first read asks again.  It may hold another
     * version's pages: this one's are stored over them, which also spares the first read a trip.
     */
    if (drop_attrs)
        rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
    if (rc == 0 && !same && content->len > 0) {
        struct fuse_bufvec bv = FUSE_BUFVEC_INIT(content->len);
        bv.buf[0].mem = content->data;
        rc = fuse_lowlevel_notify_store(fs->se, ino, 0, &bv, 0);
    }
    pthread_mutex_lock(&p->lock);
    e->preparing = 0;
    if (rc < 0) {
        /* Whatever the kernel holds now is unknown: this reader goes direct, the next one
         * starts afresh. */
        e->refs = 0;
        e->size = -1;
        e->told = TOLD_UNKNOWN;
    }
    pthread_mutex_unlock(&p->lock);
    return rc == 0;
}

void fs_pin_release(struct rg_fs *fs, fuse_ino_t ino)
{
    struct fs_pins *p = fs->pins;
    struct pin *e;
    int requeue = 0;

    pthread_mutex_lock(&p->lock);
    if ((e = find(p, ino)) && e->refs > 0 && --e->refs == 0 && e->dirty) {
        e->dirty = 0;
        requeue = 1;
    }
    pthread_mutex_unlock(&p->lock);
    if (requeue)
        fs_watch_queue_inval(fs, ino);
}

int fs_pin_before_inval(struct rg_fs *fs, fuse_ino_t ino)
{
    struct fs_pins *p = fs->pins;
    struct pin *e;
    int pinned = 0;

    if (!p || !fs_pin_eligible(ino))
        return 0;
    pthread_mutex_lock(&p->lock);
    if ((e = find(p, ino))) {
        if (e->refs > 0 || e->preparing)
            pinned = e->dirty = 1;   /* the kernel keeps it: its attributes stay as told */
        else
            e->told = TOLD_NONE;     /* the caller drops them now */
    }
    pthread_mutex_unlock(&p->lock);
    return pinned;
}
