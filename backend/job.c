/*
 * job.c: re-vetting jobs (see vet.h): scopes, the job table, and running a job in batches.
 *
 * A run loads the rules once (settings, organisations, the watch list into a matcher, and for a big
 * scope an in-memory index of the register for the duplicate and name-count lookups), then works
 * through the scope in id order, one batch of RG_JOB_BATCH applicants per write transaction:
 *
 *   BEGIN IMMEDIATE; re-read the job (cancelled? where is its cursor?); take the batch after the
 *   cursor, with its evidence, evaluated; write the verdicts that changed, each with its audit
 *   event; advance the job's cursor and counts; COMMIT.
 *
 * Reading the cursor inside the transaction makes a batch and the cursor move together: a job killed
 * between batches resumes after the last committed one and vets nobody twice, and two processes that
 * resume one job at once share its batches instead of repeating them.  Readers are never blocked (WAL),
 * and other writers wait at most one batch.
 *
 * Threads: evaluating the rules is pure (rules.h), so a batch is split between worker threads that
 * only read the rules and write their own rows; every database call stays on the caller's thread
 * and connection.  With the register indexed, the run is a pipeline: inside batch k's transaction
 * the next batch is read and handed to the workers, which evaluate it while this thread writes batch
 * k and commits.  The batch read ahead is used only if no other connection has committed since
 * (PRAGMA data_version, read under the next transaction's write lock); otherwise it is read and
 * evaluated again, so that a decision a person made in between is seen and never overwritten.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "db_internal.h"
#include "stats.h"
#include "vet_internal.h"

#define RG_JOB_BATCH 5000

#define RG_JOB_MAX_THREADS 8
/*
 * When one pass over the register to index it (rules.h) is cheaper than asking SQL about each
 * applicant: for a job over at least INDEX_MIN applicants that covers a sixteenth of the register
 * or INDEX_ALWAYS applicants.  An indexed job also reads ahead and evaluates in the background.
 */
#define INDEX_MIN 1000
#define INDEX_ALWAYS 20000

static const char SQL_BATCH_ALL[] =
    "SELECT " RG_VET_COLUMNS " FROM applicant WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_BATCH_VERDICT[] =
    "SELECT " RG_VET_COLUMNS " FROM applicant WHERE verdict = ?3 AND id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_BATCH_CLP[] =
    "SELECT " RG_VET_COLUMNS " FROM applicant WHERE clp_slug = ?3 AND id > ?1 ORDER BY id LIMIT ?2";
/* A wide range of days walks the table in id order (the unary + keeps SQLite off the day index,
 * which would sort every match for every batch); a narrow one takes the day index and sorts a few. */
static const char SQL_BATCH_JOINED[] =
    "SELECT " RG_VET_COLUMNS " FROM applicant WHERE +joined_day >= ?3 AND (?4 = '' OR +joined_day <= ?4)"
    " AND id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_BATCH_JOINED_NARROW[] =
    "SELECT " RG_VET_COLUMNS " FROM applicant INDEXED BY applicant_by_day"
    " WHERE joined_day >= ?3 AND joined_day <= (CASE WHEN ?4 = '' THEN '9999' ELSE ?4 END)"
    " AND id > ?1 ORDER BY id LIMIT ?2";
static const char SQL_ONE[] = "SELECT " RG_VET_COLUMNS " FROM applicant WHERE id = ?1";

static const char SQL_COUNT_ALL[] = "SELECT count(*) FROM applicant";
static const char SQL_COUNT_VERDICT[] = "SELECT count(*) FROM applicant WHERE verdict = ?3";
static const char SQL_COUNT_CLP[] = "SELECT count(*) FROM applicant WHERE clp_slug = ?3";
static const char SQL_COUNT_JOINED[] =
    "SELECT count(*) FROM applicant WHERE joined_day >= ?3 AND (?4 = '' OR joined_day <= ?4)";
static const char SQL_EXISTS[] = "SELECT 1 FROM applicant WHERE id = ?1";

static const char SQL_JOB_INSERT[] =
    "INSERT INTO job(scope, requested_by, state, total, changed_ns, owner)"
    " VALUES (?1, ?2, 'queued', ?3, ?4, ?5)";
static const char SQL_JOB_GET[] =
    "SELECT id, scope, requested_by, state, total, done, changed, cursor, started, finished, error, owner"
    " FROM job WHERE id = ?1";
/* Taking a job from the owner seen (in the same transaction), or letting go of it. */
static const char SQL_JOB_CLAIM[] = "UPDATE job SET owner = ?2 WHERE id = ?1 AND owner = ?3";
static const char SQL_JOB_START[] =
    "UPDATE job SET state = 'running', started = ?2, changed_ns = ?3 WHERE id = ?1 AND state = 'queued'";
static const char SQL_JOB_STEP[] =
    "UPDATE job SET done = done + ?2, changed = changed + ?3, cursor = ?4, total = max(total, done + ?2),"
    " changed_ns = ?5 WHERE id = ?1";
static const char SQL_JOB_END[] =
    "UPDATE job SET state = ?2, finished = ?3, error = ?4, changed_ns = ?5, owner = '' WHERE id = ?1";
static const char SQL_JOB_UNFINISHED[] =
    "SELECT id FROM job WHERE state IN ('queued', 'running') ORDER BY id LIMIT ?1";

/* ---- scopes ---- */

static int is_count(const char *w, int64_t *out)
{
    char *end;
    long long v;

    if (!w || *w < '0' || *w > '9')
        return 0;
    errno = 0;
    v = strtoll(w, &end, 10);
    if (*end != '\0' || errno || v <= 0)
        return 0;
    *out = v;
    return 1;
}

static int slug_ok(const char *s)
{
    if (!*s || strlen(s) > 127)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int rg_scope_parse(int nwords, char *const *words, rg_scope *out, int64_t *ids_buf, int ids_cap,
                   char *err, size_t errlen)
{
    const char *w = nwords > 0 ? words[0] : "pending";
    int first = 0, n = 0;

    memset(out, 0, sizeof *out);
    if (nwords <= 0 || strcmp(w, "pending") == 0 || strcmp(w, "all") == 0) {
        if (nwords > 1)
            goto out_extra;
        out->kind = strcmp(w, "all") == 0 ? RG_SCOPE_ALL : RG_SCOPE_PENDING;
        return 0;
    }
    if (strcmp(w, "clp") == 0) {
        if (nwords != 2 || !slug_ok(words[1])) {
            snprintf(err, errlen, "clp needs one CLP slug (lower case a-z, 0-9 and '-', as in clps/)");
            return -EINVAL;
        }
        out->kind = RG_SCOPE_CLP;
        out->clp_slug = words[1];
        return 0;
    }
    if (strcmp(w, "verdict") == 0) {
        int v = nwords == 2 ? rg_verdict_parse(words[1]) : -1;
        if (v < 0) {
            snprintf(err, errlen, "verdict needs one of approved, excluded, review, pending");
            return -EINVAL;
        }
        out->kind = RG_SCOPE_VERDICT;
        out->verdict = (enum rg_verdict)v;
        return 0;
    }
    if (strcmp(w, "joined") == 0) {
        if (nwords < 2 || nwords > 3 || strlen(words[1]) != 10 || !rg_date_valid(words[1]) ||
            (nwords == 3 && (strlen(words[2]) != 10 || !rg_date_valid(words[2])))) {
            snprintf(err, errlen, "joined needs FROM [TO], dates as YYYY-MM-DD");
            return -EINVAL;
        }
        if (nwords == 3 && strcmp(words[1], words[2]) > 0) {
            snprintf(err, errlen, "joined: FROM %s is after TO %s", words[1], words[2]);
            return -EINVAL;
        }
        out->kind = RG_SCOPE_JOINED;
        out->from = words[1];
        out->to = nwords == 3 ? words[2] : "";
        return 0;
    }
    if (strcmp(w, "ids") == 0)
        first = 1;
    if (first == nwords) {
        snprintf(err, errlen, "ids needs at least one applicant id");
        return -EINVAL;
    }
    for (int i = first; i < nwords; i++) {
        int64_t id;
        if (!is_count(words[i], &id)) {
            snprintf(err, errlen, "'%s' is not a scope (all, pending, ID..., clp SLUG, verdict V,"
                     " joined FROM [TO]) nor an applicant id", words[i]);
            return -EINVAL;
        }
        if (n == ids_cap) {
            snprintf(err, errlen, "too many ids (at most %d)", ids_cap);
            return -EINVAL;
        }
        ids_buf[n++] = id;
    }
    if (n > 0)
        qsort(ids_buf, (size_t)n, sizeof *ids_buf, cmp_id);
    int u = 0;
    for (int i = 0; i < n; i++)
        if (u == 0 || ids_buf[u - 1] != ids_buf[i])
            ids_buf[u++] = ids_buf[i];
    out->kind = RG_SCOPE_IDS;
    out->ids = ids_buf;
    out->nids = u;
    return 0;
out_extra:
    snprintf(err, errlen, "'%s' takes no further words ('%s')", w, words[1]);
    return -EINVAL;
}

void rg_scope_format(const rg_scope *s, rg_buf *out)
{
    switch (s->kind) {
    case RG_SCOPE_ALL: rg_buf_adds(out, "all"); break;
    case RG_SCOPE_PENDING: rg_buf_adds(out, "pending"); break;
    case RG_SCOPE_CLP: rg_buf_addf(out, "clp %s", s->clp_slug); break;
    case RG_SCOPE_VERDICT: rg_buf_addf(out, "verdict %s", rg_verdict_name(s->verdict)); break;
    case RG_SCOPE_JOINED:
        rg_buf_addf(out, "joined %s%s%s", s->from, s->to && *s->to ? " " : "", s->to ? s->to : "");
        break;
    case RG_SCOPE_IDS:
        rg_buf_adds(out, "ids");
        for (int i = 0; i < s->nids; i++)
            rg_buf_addf(out, " %" PRId64, s->ids[i]);
        break;
    }
}

/* A parsed scope that owns its words and ids (for a job read back from the table). */
struct owned_scope {
    rg_scope scope;
    char *text;
    char **words;
    int64_t *ids;
};

static void owned_scope_free(struct owned_scope *o)
{
    free(o->text);
    free(o->words);
    free(o->ids);
}

static int owned_scope_parse(rg_db *db, const char *text, struct owned_scope *o)
{
    char err[256], *save = NULL;
    int n = 0, cap = 1, rc;

    memset(o, 0, sizeof *o);
    if (!(o->text = strdup(text)))
        return rg_fail(db, -ENOMEM, "out of memory");
    for (const char *p = text; *p; p++)
        cap += *p == ' ';
    o->words = calloc((size_t)cap, sizeof *o->words);
    o->ids = calloc((size_t)cap, sizeof *o->ids);
    if (!o->words || !o->ids)
        return rg_fail(db, -ENOMEM, "out of memory");
    for (char *w = strtok_r(o->text, " ", &save); w && n < cap; w = strtok_r(NULL, " ", &save))
        o->words[n++] = w;
    if ((rc = rg_scope_parse(n, o->words, &o->scope, o->ids, cap, err, sizeof err)) < 0)
        return rg_fail(db, rc, "job scope '%s': %s", text, err);
    return 0;
}

/* Binds the scope's parameters (?3, ?4) into a batch or count statement. */
static void bind_scope(sqlite3_stmt *st, const rg_scope *s)
{
    switch (s->kind) {
    case RG_SCOPE_PENDING: sqlite3_bind_text(st, 3, "pending", -1, SQLITE_STATIC); break;
    case RG_SCOPE_VERDICT: sqlite3_bind_text(st, 3, rg_verdict_name(s->verdict), -1, SQLITE_STATIC); break;
    case RG_SCOPE_CLP: sqlite3_bind_text(st, 3, s->clp_slug, -1, SQLITE_TRANSIENT); break;
    case RG_SCOPE_JOINED:
        sqlite3_bind_text(st, 3, s->from, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 4, s->to ? s->to : "", -1, SQLITE_TRANSIENT);
        break;
    default: break;
    }
}

static int count_scope(rg_db *db, const rg_scope *s, int64_t *total)
{
    const char *sql = s->kind == RG_SCOPE_ALL ? SQL_COUNT_ALL
                    : s->kind == RG_SCOPE_CLP ? SQL_COUNT_CLP
                    : s->kind == RG_SCOPE_JOINED ? SQL_COUNT_JOINED : SQL_COUNT_VERDICT;
    sqlite3_stmt *st;
    int step;

    if (s->kind == RG_SCOPE_IDS) {
        if (!(st = rg_stmt(db, SQL_EXISTS)))
            return -EIO;
        for (int i = 0; i < s->nids; i++) {
            sqlite3_bind_int64(st, 1, s->ids[i]);
            step = sqlite3_step(st);
            sqlite3_reset(st);
            if (step == SQLITE_DONE)
                return rg_fail(db, -ENOENT, "no applicant %" PRId64, s->ids[i]);
            if (step != SQLITE_ROW)
                return rg_sqlfail(db, step);
        }
        *total = s->nids;
        return 0;
    }
    if (!(st = rg_stmt(db, sql)))
        return -EIO;
    bind_scope(st, s);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *total = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return step == SQLITE_ROW ? 0 : rg_sqlfail(db, step);
}

/* The number of applicants on the register (0 when it cannot be read: then nothing is indexed). */
static int64_t count_all(rg_db *db)
{
    rg_scope all = { .kind = RG_SCOPE_ALL };
    int64_t n = 0;

    return count_scope(db, &all, &n) < 0 ? INT64_MAX / 32 : n;
}

/* ---- who runs a job ---- */

/*
 * A process is named "BOOT-ID PID START": the kernel's boot id, its pid, and its start time in clock
 * ticks since boot (/proc/PID/stat, field 22), so that neither a reboot nor a reused pid makes a dead
 * process look alive.  Read afresh each time: the daemon forks after it starts.
 */
static int proc_start(long pid, unsigned long long *start)
{
    char path[64], buf[1024], *p;
    FILE *f;
    size_t n;

    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (!(f = fopen(path, "re")))
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the name, field 2, is in parentheses and may hold anything: count fields after its end */
    if (!(p = strrchr(buf, ')')))
        return -1;
    for (int field = 2; field < 21 && p; field++)
        p = strchr(p + 1, ' ');
    return p && sscanf(p + 1, "%llu", start) == 1 ? 0 : -1;
}

static void boot_id(char out[40])
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

    if (!f || !fgets(out, 40, f))
        snprintf(out, 40, "-");
    out[strcspn(out, "\n")] = '\0';
    if (f)
        fclose(f);
}

static void owner_self(char out[96])
{
    char boot[40];
    unsigned long long start = 0;

    boot_id(boot);
    proc_start((long)getpid(), &start);
    snprintf(out, 96, "%s %ld %llu", boot, (long)getpid(), start);
}

long rg_job_owner_pid(const rg_job_info *j)
{
    char boot[40], mine[40];
    unsigned long long start, now;
    long pid;

    if (sscanf(j->owner, "%39s %ld %llu", boot, &pid, &start) != 3 || pid <= 0)
        return 0;
    boot_id(mine);
    if (strcmp(boot, mine) != 0 || proc_start(pid, &now) < 0 || now != start)
        return 0;
    return pid;
}

/* Moves job id from the owner seen to owner (both strings), inside the caller's transaction. */
static int job_claim(rg_db *db, int64_t id, const char *seen, const char *owner)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_JOB_CLAIM);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, seen, -1, SQLITE_STATIC);
    if ((rc = rg_exec_stmt(db, st)) < 0)
        return rc;
    return sqlite3_changes(db->sql) == 1 ? 0
         : rg_fail(db, -EALREADY, "job %" PRId64 " was taken by another process", id);
}

/* Lets go of job id if this process holds it (a run stopped midway), in a transaction of its own. */
static void job_release(rg_db *db, int64_t id)
{
    char self[96];

    owner_self(self);
    if (rg_db_begin(db) < 0)
        return;
    if (job_claim(db, id, self, "") < 0 || rg_db_commit(db) < 0)
        rg_db_rollback(db);
}

/* ---- the job table ---- */

int64_t rg_job_create(rg_db *db, const rg_actor *who, const rg_scope *scope, unsigned flags)
{
    char actor[RG_ACTOR_STR_LEN], self[96];
    rg_buf text = RG_BUF_INIT;
    sqlite3_stmt *st;
    int64_t total = 0, id;
    int rc;

    owner_self(self);
    rg_scope_format(scope, &text);
    if (rg_buf_failed(&text)) {
        rg_buf_free(&text);
        return rg_fail(db, -ENOMEM, "out of memory");
    }
    if ((rc = rg_db_begin(db)) < 0)
        goto out_free;
    if ((rc = count_scope(db, scope, &total)) < 0)
        goto out_rollback;
    if (!(st = rg_stmt(db, SQL_JOB_INSERT))) {
        rc = -EIO;
        goto out_rollback;
    }
    sqlite3_bind_text(st, 1, text.data, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rg_actor_str(who, actor), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, total);
    sqlite3_bind_int64(st, 4, rg_now_ns());
    sqlite3_bind_text(st, 5, self, -1, SQLITE_STATIC);
    if ((rc = rg_exec_stmt(db, st)) < 0)
        goto out_rollback;
    id = sqlite3_last_insert_rowid(db->sql);
    if (flags & RG_JOB_LOG_REQUEST) {
        int64_t seq = rg_audit_append(db, who, "job.request", 0,
                                      json_pack("{s:I, s:s, s:I}", "job", (json_int_t)id, "scope",
                                                text.data, "total", (json_int_t)total));
        if (seq < 0) {
            rc = (int)seq;
            goto out_rollback;
        }
    }
    if ((rc = rg_db_commit(db)) < 0)
        goto out_free;
    rg_buf_free(&text);
    return id;
out_rollback:
    rg_db_rollback(db);
out_free:
    rg_buf_free(&text);
    return rc;
}

static void copy_col(char *dst, size_t n, sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", s ? s : "");
}

int rg_job_get(rg_db *db, int64_t id, rg_job_info *out)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_JOB_GET);
    int step;

    memset(out, 0, sizeof *out);
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *scope = (const char *)sqlite3_column_text(st, 1);
        out->id = sqlite3_column_int64(st, 0);
        copy_col(out->scope, sizeof out->scope, st, 1);
        if (scope && strlen(scope) >= sizeof out->scope)
            memcpy(out->scope + sizeof out->scope - 4, "...", 4);
        copy_col(out->requested_by, sizeof out->requested_by, st, 2);
        copy_col(out->state, sizeof out->state, st, 3);
        out->total = sqlite3_column_int64(st, 4);
        out->done = sqlite3_column_int64(st, 5);
        out->changed = sqlite3_column_int64(st, 6);
        out->cursor = sqlite3_column_int64(st, 7);
        copy_col(out->started, sizeof out->started, st, 8);
        copy_col(out->finished, sizeof out->finished, st, 9);
        copy_col(out->error, sizeof out->error, st, 10);
        copy_col(out->owner, sizeof out->owner, st, 11);
    }
    sqlite3_reset(st);
    if (step == SQLITE_DONE)
        return rg_fail(db, -ENOENT, "no job %" PRId64, id);
    return step == SQLITE_ROW ? 0 : rg_sqlfail(db, step);
}

/* The job's full scope text (rg_job_info cuts it); a new string the caller frees. */
static int job_scope_text(rg_db *db, int64_t id, char **out)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_JOB_GET);
    int step;

    *out = NULL;
    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW && !(*out = strdup((const char *)sqlite3_column_text(st, 1)))) {
        sqlite3_reset(st);
        return rg_fail(db, -ENOMEM, "out of memory");
    }
    sqlite3_reset(st);
    if (step == SQLITE_DONE)
        return rg_fail(db, -ENOENT, "no job %" PRId64, id);
    return step == SQLITE_ROW ? 0 : rg_sqlfail(db, step);
}

static int job_end(rg_db *db, const rg_actor *who, const rg_job_info *j, const char *state,
                   const char *error)
{
    char at[RG_UTC_LEN];
    int64_t now = rg_now_ns(), seq;
    sqlite3_stmt *st = rg_stmt(db, SQL_JOB_END);
    json_t *detail;
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, j->id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rg_fmt_utc(now / 1000000000, at), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, error ? error : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    if ((rc = rg_exec_stmt(db, st)) < 0)
        return rc;
    if (strcmp(state, "cancelled") != 0 && j->changed == 0)
        return 0;   /* it changed nothing, and logged no start: the job table has it all */
    detail = json_pack("{s:I, s:I, s:I, s:s}", "job", (json_int_t)j->id, "done", (json_int_t)j->done,
                       "changed", (json_int_t)j->changed, "state", state);
    if (detail && error)
        json_object_set_new(detail, "error", json_string(error));
    seq = rg_audit_append(db, who, strcmp(state, "cancelled") == 0 ? "job.cancel" : "job.finish", 0, detail);
    return seq < 0 ? (int)seq : 0;
}

int rg_job_cancel(rg_db *db, const rg_actor *who, int64_t id)
{
    rg_job_info j;
    int rc;

    if ((rc = rg_db_begin(db)) < 0)
        return rc;
    if ((rc = rg_job_get(db, id, &j)) < 0)
        goto out_rollback;
    if (strcmp(j.state, "queued") != 0 && strcmp(j.state, "running") != 0) {
        rc = rg_fail(db, -EINVAL, "job %" PRId64 " has already ended (%s)", id, j.state);
        goto out_rollback;
    }
    if ((rc = job_end(db, who, &j, "cancelled", NULL)) < 0)
        goto out_rollback;
    return rg_db_commit(db);
out_rollback:
    rg_db_rollback(db);
    return rc;
}

int rg_job_unfinished(rg_db *db, int64_t *ids, int cap)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_JOB_UNFINISHED);
    int n = 0, step;

    if (!st)
        return -EIO;
    sqlite3_bind_int(st, 1, cap);
    while ((step = sqlite3_step(st)) == SQLITE_ROW && n < cap)
        ids[n++] = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return step == SQLITE_DONE || step == SQLITE_ROW ? n : rg_sqlfail(db, step);
}

/* ---- running ---- */

struct batch {
    rg_vet_row *rows;
    int n, cap;
    int narrow;        /* the scope is a small part of the register: read it through its index */
    int more;          /* the scope may hold applicants after this batch */
    int64_t last;      /* the last id the batch covers: the job's cursor once it is written */
};

static void batch_free(struct batch *b)
{
    for (int i = 0; i < b->cap; i++)
        rg_vet_row_free(&b->rows[i]);
    free(b->rows);
}

/* Reads the next batch of the scope after cursor into b (and says whether more may follow). */
static int read_batch(rg_db *db, const rg_scope *s, int64_t cursor, struct batch *b)
{
    sqlite3_stmt *st;
    int step = SQLITE_DONE, rc = 0;

    b->n = 0;
    b->last = cursor;
    if (s->kind == RG_SCOPE_IDS) {
        int i = 0;
        while (i < s->nids && s->ids[i] <= cursor)
            i++;
        if (!(st = rg_stmt(db, SQL_ONE)))
            return -EIO;
        for (; i < s->nids && b->n < b->cap && rc == 0; i++) {
            b->last = s->ids[i];
            sqlite3_bind_int64(st, 1, s->ids[i]);
            if ((step = sqlite3_step(st)) == SQLITE_ROW)
                rc = rg_vet_row_load(&b->rows[b->n++], st);
            sqlite3_reset(st);
            if (step != SQLITE_ROW && step != SQLITE_DONE)
                return rg_sqlfail(db, step);   /* (DONE: an id removed since, nothing to vet) */
        }
        b->more = i < s->nids;
        step = SQLITE_DONE;
    } else {
        const char *sql = s->kind == RG_SCOPE_ALL ? SQL_BATCH_ALL
                        : s->kind == RG_SCOPE_CLP ? SQL_BATCH_CLP
                        : s->kind == RG_SCOPE_JOINED ? (b->narrow ? SQL_BATCH_JOINED_NARROW : SQL_BATCH_JOINED)
                        : SQL_BATCH_VERDICT;
        if (!(st = rg_stmt(db, sql)))
            return -EIO;
        sqlite3_bind_int64(st, 1, cursor);
        sqlite3_bind_int(st, 2, b->cap);
        bind_scope(st, s);
        while (rc == 0 && b->n < b->cap && (step = sqlite3_step(st)) == SQLITE_ROW)
            rc = rg_vet_row_load(&b->rows[b->n++], st);
        sqlite3_reset(st);
        b->more = b->n == b->cap;
        if (b->n > 0)
            b->last = b->rows[b->n - 1].in.id;
        if (step == SQLITE_ROW)
            step = SQLITE_DONE;
    }
    if (rc < 0)
        return rg_fail(db, rc, "out of memory reading applicants");
    if (step != SQLITE_DONE)
        return rg_sqlfail(db, step);
    return rg_vet_rows_evidence(db, b->rows, b->n);
}

/* One evaluation of a batch, split between threads that only read the rules and write their rows. */
struct worker {
    const rg_rules *rules;
    rg_vet_row *rows;
    int from, to;
    int lookup_in_memory;
    int rc;
    int64_t failed_id;   /* the applicant rc is about */
};

struct eval {
    struct worker w[RG_JOB_MAX_THREADS];
    pthread_t tid[RG_JOB_MAX_THREADS];
    int started[RG_JOB_MAX_THREADS];
    int nthr, running, background;
};

static void *eval_range(void *arg)
{
    struct worker *w = arg;

    for (int i = w->from; i < w->to && w->rc == 0; i++) {
        if (w->lookup_in_memory)
            w->rc = rg_rules_lookup_register(w->rules, NULL, &w->rows[i].in);
        if (w->rc == 0)
            w->rc = rg_rules_eval(w->rules, &w->rows[i].in, &w->rows[i].res);
        if (w->rc < 0)
            w->failed_id = w->rows[i].in.id;
    }
    return NULL;
}

static int nthreads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("REGFS_THREADS");

    if (env && *env)
        n = strtol(env, NULL, 10);
    return n < 1 ? 1 : n > RG_JOB_MAX_THREADS ? RG_JOB_MAX_THREADS : (int)n;
}

/*
 * Starts evaluating the batch on nthr threads and returns at once (background, when the register
 * lookups are in memory and so need no database), or evaluates it here and now (foreground).
 */
static void eval_start(struct eval *e, const rg_rules *rules, struct batch *b, int lookup_in_memory,
                       int nthr, int background)
{
    memset(e, 0, sizeof *e);
    if (b->n < 64)
        nthr = 1;
    e->nthr = nthr;
    e->background = background;
    for (int t = 0; t < nthr; t++) {
        e->w[t] = (struct worker){
            .rules = rules, .rows = b->rows, .lookup_in_memory = lookup_in_memory,
            .from = (int)((int64_t)b->n * t / nthr), .to = (int)((int64_t)b->n * (t + 1) / nthr),
        };
        if (t > 0 || background)
            e->started[t] = pthread_create(&e->tid[t], NULL, eval_range, &e->w[t]) == 0;
    }
    e->running = 1;
    if (!background)
        eval_range(&e->w[0]);
}

/* Waits for eval_start()'s threads, doing the share of any that could not be started.  On a
 * failure, sets db's error (unless db is NULL: waiting only to clean up). */
static int eval_wait(rg_db *db, struct eval *e)
{
    int rc = 0;

    if (!e->running)
        return 0;
    for (int t = 0; t < e->nthr; t++)
        if (e->started[t])
            pthread_join(e->tid[t], NULL);
    for (int t = 0; t < e->nthr; t++)
        if (!e->started[t] && (t > 0 || e->background))
            eval_range(&e->w[t]);
    e->running = 0;
    for (int t = 0; t < e->nthr; t++)
        if (e->w[t].rc < 0)
            rc = db ? rg_rules_eval_failed(db, e->w[t].rc, e->w[t].failed_id) : e->w[t].rc;
    return rc;
}

/* Reads and evaluates the next batch after cursor, in the foreground. */
static int load_batch(rg_db *db, const rg_rules *rules, const rg_scope *scope, int64_t cursor,
                      struct batch *b, int lookup_in_memory, int nthr)
{
    struct eval e;
    int rc;

    if ((rc = read_batch(db, scope, cursor, b)) < 0)
        return rc;
    if (!lookup_in_memory)
        for (int i = 0; i < b->n; i++)
            if ((rc = rg_rules_lookup_register(rules, db, &b->rows[i].in)) < 0)
                return rc;
    eval_start(&e, rules, b, lookup_in_memory, nthr, 0);
    return eval_wait(db, &e);
}

int64_t rg_job_run(rg_db *db, int64_t id, rg_job_progress_fn progress, void *arg)
{
    return rg_job_run_tally(db, id, progress, arg, NULL);
}

/* Marks the job failed after an error (in a transaction of its own), keeping the error's message. */
static void job_fail(rg_db *db, const rg_actor *who, int64_t id)
{
    char msg[RG_ERRMSG_MAX];
    rg_job_info j;

    memcpy(msg, db->errmsg, sizeof msg);
    rg_db_rollback(db);
    if (rg_db_begin(db) == 0) {
        if (rg_job_get(db, id, &j) == 0 && job_end(db, who, &j, "failed", msg) == 0)
            rg_db_commit(db);
        else
            rg_db_rollback(db);
    }
    memcpy(db->errmsg, msg, sizeof msg);
}

/* Moves a queued job to running, inside the caller's transaction. */
static int job_mark_running(rg_db *db, int64_t id)
{
    char at[RG_UTC_LEN];
    int64_t now = rg_now_ns();
    sqlite3_stmt *st = rg_stmt(db, SQL_JOB_START);

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, rg_fmt_utc(now / 1000000000, at), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, now);
    return rg_exec_stmt(db, st);
}

/* The job's first change is preceded by job.start in the log (a job that changes nothing logs nothing). */
static int log_start(rg_db *db, const rg_actor *who, const rg_job_info *j, const char *scope_text)
{
    int64_t seq = rg_audit_append(db, who, "job.start", 0,
                                  json_pack("{s:I, s:s, s:I}", "job", (json_int_t)j->id, "scope",
                                            scope_text, "total", (json_int_t)j->total));
    return seq < 0 ? (int)seq : 0;
}

/* Writes the verdicts of batch b and advances job j past it, inside the caller's transaction. */
static int apply_batch(rg_db *db, const rg_rules *rules, const rg_actor *who, const rg_job_info *j,
                       const char *scope_text, struct batch *b, rg_job_tally *tally, int64_t *changed)
{
    int64_t now = rg_now_ns();
    int started = j->changed > 0, rc;
    sqlite3_stmt *st;

    *changed = 0;
    for (int i = 0; i < b->n; i++) {
        enum rg_verdict v;
        int w;
        if (!started && rg_vet_changes(rules, &b->rows[i])) {
            if ((rc = log_start(db, who, j, scope_text)) < 0)
                return rc;
            started = 1;
        }
        w = rg_vet_apply(db, rules, &b->rows[i], who, "verdict.auto", 0, now, &v);
        if (w < 0)
            return w;
        *changed += w;
        tally->verdicts[v]++;
    }
    if (!(st = rg_stmt(db, SQL_JOB_STEP)))
        return -EIO;
    sqlite3_bind_int64(st, 1, j->id);
    sqlite3_bind_int64(st, 2, b->n);
    sqlite3_bind_int64(st, 3, *changed);
    sqlite3_bind_int64(st, 4, b->last);
    sqlite3_bind_int64(st, 5, now);
    return rg_exec_stmt(db, st);
}

/*
 * The loop, pipelined: while this thread writes batch k and commits it, other threads evaluate
 * batch k+1, read in batch k's transaction.  While most of each batch changes, writing is the
 * longer side (SQLite's work: at the surge's scale some 52 ms of a batch, against 16 ms of rules),
 * and the evaluation takes one thread fewer than there are processors so that the writer never
 * waits for one; when little changes (a re-vet), evaluating is all there is, and it takes them all.
 * A batch read ahead is used only if no other connection has committed anything since (PRAGMA
 * data_version); otherwise it is read and evaluated again under the new transaction, so a decision
 * made meanwhile is never overwritten.
 */
int64_t rg_job_run_tally(rg_db *db, int64_t id, rg_job_progress_fn progress, void *arg,
                         rg_job_tally *tally)
{
    rg_job_tally local = { 0 };
    struct owned_scope scope = { 0 };
    struct batch bufs[2] = { { 0 } }, *cur = &bufs[0], *next = &bufs[1], *swap;
    struct eval ahead = { .running = 0 };
    rg_rules *rules = NULL;
    rg_actor who;
    rg_job_info j;
    char *scope_text = NULL, self[96];
    int nthr = nthreads(), in_memory = 0, cur_ready = 0, writer_bound = 1;
    /* test_crash stops a job between batches to kill it there: without a pause, the next batch
     * takes the write lock again within microseconds of the commit. */
    long pause_ms = rg_env_long("REGFS_JOB_PAUSE_MS", 0, 10000, 0);
    long pid;
    int64_t rc, cur_cursor = -1, dv_committed = -1, register_size;

    if (!tally)
        tally = &local;
    memset(tally, 0, sizeof *tally);
    owner_self(self);
    if ((rc = rg_job_get(db, id, &j)) < 0 || (rc = job_scope_text(db, id, &scope_text)) < 0)
        return rc;
    if (strcmp(j.state, "queued") != 0 && strcmp(j.state, "running") != 0) {
        free(scope_text);
        return rg_fail(db, -EINVAL, "job %" PRId64 " has already ended (%s)", id, j.state);
    }
    if (strcmp(j.owner, self) != 0 && (pid = rg_job_owner_pid(&j)) > 0) {
        free(scope_text);   /* (checked again, and the job taken, under the write lock below) */
        return rg_fail(db, -EALREADY, "job %" PRId64 " is being run by process %ld", id, pid);
    }
    rg_actor_parse(j.requested_by, &who);
    if ((rc = owned_scope_parse(db, scope_text, &scope)) < 0 || (rc = rg_rules_load(db, &rules)) < 0)
        goto out_fail;
    register_size = count_all(db);
    if (j.total - j.done >= INDEX_MIN &&
        (j.total - j.done >= INDEX_ALWAYS || (j.total - j.done) * 16 >= register_size)) {
        if ((rc = rg_rules_index_register(rules, db)) < 0)
            goto out_fail;
        in_memory = 1;
    }
    for (int i = 0; i < 2; i++) {
        bufs[i].cap = RG_JOB_BATCH;
        bufs[i].narrow = j.total * 32 < register_size;
        if (!(bufs[i].rows = calloc((size_t)bufs[i].cap, sizeof *bufs[i].rows))) {
            rc = rg_fail(db, -ENOMEM, "out of memory");
            goto out_fail;
        }
    }

    for (;;) {
        int64_t changed, done_now;
        int finished, stop;

        if ((rc = rg_db_begin(db)) < 0 || (rc = rg_job_get(db, id, &j)) < 0)
            goto out_fail;
        if (strcmp(j.owner, self) != 0 && (strcmp(j.state, "queued") == 0 || strcmp(j.state, "running") == 0)) {
            /* under the write lock: nobody else can take it between this look and the claim */
            pid = rg_job_owner_pid(&j);
            rc = pid > 0 ? rg_fail(db, -EALREADY, "job %" PRId64 " is being run by process %ld", id, pid)
                         : job_claim(db, id, j.owner, self);
            if (rc < 0) {   /* another live process holds it: leave it alone, change nothing */
                char keep[RG_ERRMSG_MAX];
                memcpy(keep, db->errmsg, sizeof keep);
                rg_db_rollback(db);
                memcpy(db->errmsg, keep, sizeof keep);
                goto out_free;
            }
        }
        if (strcmp(j.state, "queued") == 0) {
            if ((rc = job_mark_running(db, id)) < 0)
                goto out_fail;
        } else if (strcmp(j.state, "running") != 0) {
            rg_db_rollback(db);   /* cancelled meanwhile, or finished by another runner */
            break;
        }
        if (!cur_ready || j.cursor != cur_cursor || rg_db_data_version(db) != dv_committed) {
            if ((rc = load_batch(db, rules, &scope.scope, j.cursor, cur, in_memory, nthr)) < 0)
                goto out_fail;
        }
        finished = !cur->more;
        cur_ready = 0;
        if (!finished && in_memory) {
            /* read the next batch in this transaction and evaluate it while this one is written */
            if ((rc = read_batch(db, &scope.scope, cur->last, next)) < 0)
                goto out_fail;
            eval_start(&ahead, rules, next, in_memory, writer_bound && nthr > 1 ? nthr - 1 : nthr, 1);
        }
        if ((rc = apply_batch(db, rules, &who, &j, scope_text, cur, tally, &changed)) < 0)
            goto out_fail;
        if (finished && ((rc = rg_job_get(db, id, &j)) < 0 || (rc = job_end(db, &who, &j, "done", NULL)) < 0))
            goto out_fail;
        /* A job may change every verdict: count them once now, with the job's last event, so that
         * stats (and a fresh mount's first stat) need not (stats.h). */
        if (finished && (rc = rg_stats_save(db)) < 0)
            goto out_fail;
        /* read under the write lock, so no other commit can slip in before it is taken */
        dv_committed = rg_db_data_version(db);
        if ((rc = rg_db_commit(db)) < 0)
            goto out_fail;
        if (pause_ms > 0 && !finished)
            usleep((useconds_t)pause_ms * 1000);
        tally->vetted += cur->n;
        tally->changed += changed;
        writer_bound = changed * 2 >= cur->n;
        done_now = j.done + cur->n;
        if (ahead.running) {
            if ((rc = eval_wait(db, &ahead)) < 0)
                goto out_fail;
            cur_cursor = cur->last;
            swap = cur, cur = next, next = swap;
            cur_ready = 1;
        }
        if (finished)
            break;
        stop = progress && progress(arg, done_now, j.total > done_now ? j.total : done_now);
        if (stop) {
            job_release(db, id);
            break;   /* stopped by the caller: the job stays running, to be resumed */
        }
    }
    if (progress && rg_job_get(db, id, &j) == 0 && strcmp(j.state, "done") == 0)
        progress(arg, j.done, j.total);
    rc = tally->changed;
    goto out_free;
out_fail:
    eval_wait(NULL, &ahead);
    job_fail(db, &who, id);
out_free:
    eval_wait(NULL, &ahead);
    batch_free(&bufs[0]);
    batch_free(&bufs[1]);
    rg_rules_free(rules);
    owned_scope_free(&scope);
    free(scope_text);
    return rc;
}
