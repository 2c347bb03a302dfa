/*
 * vet.h: vetting the register: the rules' verdicts, people's decisions, and re-vetting jobs.
 *
 * Verdicts are approved, excluded, review (a person must decide) or pending (not yet vetted).  The
 * rules (rules.h) decide automatically; a person's decision (rg_decide) is final until released,
 * and a re-vet never overwrites it, only marks auto_disagrees when the rules would now decide
 * differently.  A verdict that changes writes a verdict.* audit event in the same transaction; an
 * unchanged one writes nothing and keeps the applicant's mtime.
 *
 * Re-vetting runs as a job recorded in the job table: rg_job_create() records what to vet,
 * rg_job_run() does it in batches of a few thousand applicants per transaction (so readers are never
 * blocked for long) and records its cursor after each batch, so a job killed midway resumes where it
 * stopped when rg_job_run() is called on it again.
 *
 * All functions return 0 (or a count) or a negative errno with rg_db_errmsg() set.  Strings passed in
 * are copied; nothing returned needs freeing.
 */
#ifndef RG_VET_H
#define RG_VET_H

#include <stdint.h>

#include "db.h"
#include "util.h"

enum rg_verdict { RG_PENDING = 0, RG_APPROVED, RG_EXCLUDED, RG_REVIEW };

/* "pending", "approved", "excluded", "review"; and back (-1 when unknown). */
const char *rg_verdict_name(enum rg_verdict v);
int rg_verdict_parse(const char *name);

/* ---- decisions by people ---- */

enum rg_decision { RG_DECIDE_APPROVE, RG_DECIDE_EXCLUDE, RG_DECIDE_REFER };

/*
 * Records a person's decision on applicant id with a mandatory reason (non-empty UTF-8).  The
 * verdict becomes approved, excluded or review, rule "manual", decided_by who, and no re-vet
 * overwrites it.  -ENOENT: no such applicant; -EINVAL: empty reason.
 */
int rg_decide(rg_db *db, const rg_actor *who, int64_t id, enum rg_decision d, const char *reason);

/* Hands applicant id back to the rules: clears the manual decision and re-vets it at once. */
int rg_release(rg_db *db, const rg_actor *who, int64_t id);

/* Records evidence about an applicant (kind: "note", "clp-report", "public-statement") and re-vets
 * it (evidence sends an applicant to review: the aims-and-values rule). */
int rg_add_evidence(rg_db *db, const rg_actor *who, int64_t id, const char *kind, const char *text);

/* Re-vets one applicant now, in its own transaction.  Returns 1 if its verdict changed, else 0. */
int rg_vet_one(rg_db *db, const rg_actor *who, int64_t id);

/* ---- re-vetting jobs ---- */

enum rg_scope_kind {
    RG_SCOPE_ALL,          /* every applicant */
    RG_SCOPE_PENDING,      /* verdict pending */
    RG_SCOPE_IDS,          /* the listed ids */
    RG_SCOPE_CLP,          /* one CLP, by slug */
    RG_SCOPE_VERDICT,      /* one verdict */
    RG_SCOPE_JOINED,       /* joined_day in [from, to] (to may be "" for open-ended) */
};

typedef struct rg_scope {
    enum rg_scope_kind kind;
    const int64_t *ids;    /* RG_SCOPE_IDS */
    int nids;
    const char *clp_slug;  /* RG_SCOPE_CLP */
    enum rg_verdict verdict;           /* RG_SCOPE_VERDICT */
    const char *from, *to;             /* RG_SCOPE_JOINED: "YYYY-MM-DD" */
} rg_scope;

/*
 * Parses a scope as written after `revet` or `regfs vet DB`: "all", "pending", "ID...",
 * "clp SLUG", "verdict DECISION", "joined FROM [TO]".  words are borrowed by *out (ids are parsed
 * into ids_buf of ids_cap entries).  Returns 0 or -EINVAL with a message in err.
 */
int rg_scope_parse(int nwords, char *const *words, rg_scope *out, int64_t *ids_buf, int ids_cap,
                   char *err, size_t errlen);

/* Creates a queued job for scope, requested by who.  Returns the job id (> 0).  -ENOENT if an id in
 * an RG_SCOPE_IDS scope does not exist.  The job table records every job; the audit log records a
 * job that changes something: job.start just before its first verdict event, job.finish {done,
 * changed, state} when it ends (a re-vet that changes nothing writes neither).  With
 * RG_JOB_LOG_REQUEST the request itself is logged too, in the same transaction: job.request {job,
 * scope, total}, for a request a user wrote to a ctl file, which the log must attribute. */
#define RG_JOB_LOG_REQUEST 1u
int64_t rg_job_create(rg_db *db, const rg_actor *who, const rg_scope *scope, unsigned flags);

/* Called after every batch; return non-zero to stop the job (it stays resumable). */
typedef int (*rg_job_progress_fn)(void *arg, int64_t done, int64_t total);

/*
 * Runs (or resumes) job id to the end, a batch per transaction, calling progress after each.
 * Returns the number of applicants whose verdict changed in this run, or a negative errno (the job
 * is then marked failed with the message).  A job cancelled meanwhile (rg_job_cancel from another
 * connection) stops at the next batch with state cancelled.
 */
int64_t rg_job_run(rg_db *db, int64_t id, rg_job_progress_fn progress, void *arg);

/*
 * Jobs are held by one process at a time: rg_job_create() gives the new job to the calling process,
 * and rg_job_run() takes a job only when no other live process holds it (else it returns -EALREADY,
 * changing nothing), in the same transaction as its first batch.  A job whose process died (kill -9,
 * a crash) is free, and the next rg_job_run() on it resumes it from its cursor; a run stopped by its
 * progress callback lets go of it.
 */

/* Marks a queued or running job cancelled (audited).  -ENOENT no such job, -EINVAL already ended. */
int rg_job_cancel(rg_db *db, const rg_actor *who, int64_t id);

/* Jobs left queued or running (say, by a killed daemon), oldest first, into ids[cap].  Returns n. */
int rg_job_unfinished(rg_db *db, int64_t *ids, int cap);

/* ---- additions (job.c) ---- */

/* Appends the canonical text of a scope, as stored in the job table and as rg_scope_parse() reads
 * it back: "all", "pending", "ids 1 2 3", "clp SLUG", "verdict V", "joined FROM [TO]". */
void rg_scope_format(const rg_scope *scope, rg_buf *out);

/* One job as recorded.  Strings are copied (scope cut at 255 bytes, with "..." when it was). */
typedef struct rg_job_info {
    int64_t id, total, done, changed, cursor;
    char state[16];
    char scope[256];
    char requested_by[RG_ACTOR_STR_LEN];
    char started[RG_UTC_LEN], finished[RG_UTC_LEN];
    char error[256];
    char owner[96];        /* the process that holds it (see rg_job_owner_pid), or "" */
} rg_job_info;

/* The pid of the live process that holds job j (0: none, or it has died: then the job is free). */
long rg_job_owner_pid(const rg_job_info *j);

/* Reads job id into *out.  Returns 0, -ENOENT, or another negative errno. */
int rg_job_get(rg_db *db, int64_t id, rg_job_info *out);

/* What one run of a job did: applicants vetted, verdicts written, and the verdicts they now have
 * (indexed by enum rg_verdict). */
typedef struct rg_job_tally {
    int64_t vetted, changed;
    int64_t verdicts[4];
} rg_job_tally;

/* rg_job_run(), also filling *tally (may be NULL) for this run. */
int64_t rg_job_run_tally(rg_db *db, int64_t id, rg_job_progress_fn progress, void *arg,
                         rg_job_tally *tally);

#endif
