/*
 * tree.h: the reads the mounted filesystem needs beyond the rendered files (render.h): pages of the
 * folders it shows (applicants/, verdicts/<v>/, clps/<slug>/, joined/<day>/, watchlist/, jobs/),
 * the keys of the folders themselves (CLP slugs, days joined), the feed of new audit events that
 * drives the kernel cache invalidation, the size of a copy of the database, and the audit record of
 * a refused ctl write.
 *
 * Pages are keyset pages: each function takes an exclusive lower bound `after` and fills at most
 * `max` entries of a caller-owned array in key order, so that a folder of any size is listed with one
 * bounded, indexed query per page and a listing resumed at a key neither repeats nor skips entries.
 *
 * Every function returns 0 (or a count, or 1/0 for found/not found where it says so) on success and a
 * negative errno with rg_db_errmsg() set on failure; -ENOENT means the object does not exist.  All
 * strings are copied into the caller's structures: nothing returned is borrowed or needs freeing.
 */
#ifndef RG_TREE_H
#define RG_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "util.h"

#define RG_DAY_LEN 11        /* "YYYY-MM-DD" + NUL */
#define RG_SLUG_LEN 128      /* rg_slug()'s out[128] */
#define RG_WATCH_ID_LEN 64

/* What the filesystem needs to know about one applicant to place it in the tree. */
typedef struct rg_tree_app {
    int64_t id;
    int64_t changed_ns;              /* last change to anything applicants/<id>/ shows */
    char verdict[12];                /* "approved", "excluded", "review", "pending" */
    char clp_slug[RG_SLUG_LEN];
    char joined_day[RG_DAY_LEN];
} rg_tree_app;

/* The folders of applicants the tree shows; key selects which one (NULL for RG_FOLDER_ALL). */
enum rg_tree_folder {
    RG_FOLDER_ALL,       /* applicants/ */
    RG_FOLDER_VERDICT,   /* verdicts/<key>/, key a verdict name */
    RG_FOLDER_CLP,       /* clps/<key>/, key a CLP slug */
    RG_FOLDER_DAY,       /* joined/<key>/, key "YYYY-MM-DD" */
};

/* One applicant.  Returns 0, or -ENOENT when there is no applicant id. */
int rg_tree_applicant(rg_db *db, int64_t id, rg_tree_app *out);

/*
 * The applicants of a folder with id > after, in id order, into out[max].  With full == 0 only the
 * ids are filled (answered from an index alone); with full == 1 every field.  Returns the count.
 */
int rg_tree_applicants(rg_db *db, enum rg_tree_folder f, const char *key, int64_t after, int max,
                       int full, rg_tree_app *out);

/* How many applicants a folder holds and the newest changed_ns among them (0, 0 when empty). */
int rg_tree_folder_info(rg_db *db, enum rg_tree_folder f, const char *key, int64_t *count,
                        int64_t *mtime_ns);

/* The smallest CLP slug / day joined greater than after ("" for the first) into out.  Each is one
 * index seek.  Returns 1 when there is one, 0 at the end. */
int rg_tree_next_clp(rg_db *db, const char *after, char out[RG_SLUG_LEN]);
int rg_tree_next_day(rg_db *db, const char *after, char out[RG_DAY_LEN]);

/* ---- the watch list and jobs ---- */

typedef struct rg_tree_watch {
    int64_t ino;                     /* watchlist.ino: stable across imports */
    int64_t changed_ns;
    char id[RG_WATCH_ID_LEN];
} rg_tree_watch;

/* Entries with ino > after in ino order.  Returns the count. */
int rg_tree_watches(rg_db *db, int64_t after, int max, rg_tree_watch *out);
/* One entry by its id or by its ino.  Returns 0 or -ENOENT. */
int rg_tree_watch_by_id(rg_db *db, const char *id, rg_tree_watch *out);
int rg_tree_watch_by_ino(rg_db *db, int64_t ino, rg_tree_watch *out);

typedef struct rg_tree_job {
    int64_t id;
    int64_t changed_ns;
    char state[12];                  /* queued, running, done, cancelled, failed */
} rg_tree_job;

/* Jobs with id > after in id order.  Returns the count. */
int rg_tree_jobs(rg_db *db, int64_t after, int max, rg_tree_job *out);
/* One job.  Returns 0 or -ENOENT. */
int rg_tree_job_find(rg_db *db, int64_t id, rg_tree_job *out);
/* The ids of queued or running jobs, oldest first, into ids[cap].  Returns the count. */
int rg_tree_jobs_active(rg_db *db, int64_t *ids, int cap);

/* ---- the audit log as a change feed ---- */

typedef struct rg_tree_event {
    int64_t seq;
    int64_t applicant;               /* 0 for none ("-") */
    int64_t at_ns;                   /* the event's time, whole seconds */
    char action[40];                 /* "verdict.auto", ... (longer names are cut) */
    char day[RG_DAY_LEN];            /* the date part of at */
} rg_tree_event;

/* Events with seq > after in sequence order.  Returns the count. */
int rg_tree_events(rg_db *db, int64_t after, int max, rg_tree_event *out);

/* The newest event's sequence number and time (0, 0 for an empty log). */
int rg_tree_head(rg_db *db, int64_t *seq, int64_t *at_ns);
/* The first event's time (0 for an empty log): when the register was made. */
int rg_tree_first_at(rg_db *db, int64_t *at_ns);

/* Whether any event about an applicant (a change to a row of the register) has seq > after.
 * Returns 1 or 0. */
int rg_tree_applicant_events_since(rg_db *db, int64_t after);

/* "YYYY-MM-DDTHH:MM:SSZ" (or a date alone) as nanoseconds since the epoch; 0 if unparsable. */
int64_t rg_tree_utc_ns(const char *s);

/* ---- the database as a file ---- */

/* The bytes a copy of the database made now would have (page count times page size): the size of
 * rg_backup_to_tmpfile()'s copy (backup.h), known without making it. */
int rg_tree_db_size(rg_db *db, int64_t *bytes);

/* Makes db a lean reader for a filesystem worker thread: a small page cache, and no writes. */
int rg_tree_reader_setup(rg_db *db);

/* ---- refused ctl writes ---- */

#define RG_REFUSAL_TEXT_MAX 1024     /* bytes of the refused text kept in the event */

/*
 * Records a refused ctl write as a `ctl.refused` event in its own write transaction: detail
 * {"path": path, "error": error, "bytes": len, "text": the first RG_REFUSAL_TEXT_MAX bytes of the
 * write, with every byte that is not valid UTF-8 written as the four characters \xHH}.  Returns the
 * event's sequence number or a negative errno.
 */
int64_t rg_audit_refusal(rg_db *db, const rg_actor *who, const char *path, const char *error,
                         const void *bytes, size_t len);

#endif
