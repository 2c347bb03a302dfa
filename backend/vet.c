/*
 * vet.c: verdicts on one applicant: the rules' verdict written into the register, people's
 * decisions, releases and evidence (see vet.h).  Re-vetting many applicants is job.c.
 *
 * What the register holds for a vetted applicant is decided in one place, compute(): the rules'
 * verdict, or a person's decision kept as it is with the rules' view beside it (auto_disagrees when
 * they would decide otherwise), the ballot, and the recommendation that auto_exclude held back.
 * The row is written, and audited in the same transaction, only when something the applicant shows
 * changed: a re-vet that finds nothing new writes nothing and keeps the applicant's mtime.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "db_internal.h"
#include "vet_internal.h"

static const char SQL_ROW[] = "SELECT " RG_VET_COLUMNS " FROM applicant WHERE id = ?1";
static const char SQL_EVIDENCE_RANGE[] =
    "SELECT applicant_id, id, kind, text, added_by, added_at FROM evidence"
    " WHERE applicant_id BETWEEN ?1 AND ?2 ORDER BY applicant_id, id";
static const char SQL_WRITE_AUTO[] =
    "UPDATE applicant SET verdict = ?2, rule = ?3, score = ?4, reasons = ?5, decided_by = 'regfs',"
    " decided_at = ?6, auto_disagrees = '', recommendation = ?7, ballot = ?8, rules_version = ?9,"
    " watchlist_version = ?10, changed_ns = ?11, manual = 0, manual_reason = '' WHERE id = ?1";
/* A person's decision stands: only the rules' view beside it changes (decided_by ?12 when new). */
static const char SQL_WRITE_MANUAL[] =
    "UPDATE applicant SET verdict = ?2, rule = 'manual', score = ?4, reasons = ?5,"
    " decided_by = CASE WHEN ?12 <> '' THEN ?12 ELSE decided_by END,"
    " decided_at = CASE WHEN ?12 <> '' THEN ?6 ELSE decided_at END,"
    " auto_disagrees = ?13, recommendation = '', ballot = ?8, rules_version = ?9,"
    " watchlist_version = ?10, changed_ns = ?11, manual = 1, manual_reason = ?14 WHERE id = ?1";
static const char SQL_EXISTS[] = "SELECT 1 FROM applicant WHERE id = ?1";
static const char SQL_ADD_EVIDENCE[] =
    "INSERT INTO evidence(applicant_id, kind, text, added_by, added_at) VALUES (?1, ?2, ?3, ?4, ?5)";

#define EVIDENCE_TEXT_MAX 65536


static const char *const verdict_names[] = {
    [RG_PENDING] = "pending", [RG_APPROVED] = "approved", [RG_EXCLUDED] = "excluded",
    [RG_REVIEW] = "review",
};

const char *rg_verdict_name(enum rg_verdict v)
{
    return (unsigned)v < sizeof verdict_names / sizeof verdict_names[0] ? verdict_names[v] : "pending";
}

int rg_verdict_parse(const char *name)
{
    for (size_t i = 0; i < sizeof verdict_names / sizeof verdict_names[0]; i++)
        if (name && strcmp(name, verdict_names[i]) == 0)
            return (int)i;
    return -1;
}

void rg_actor_parse(const char *s, rg_actor *out)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long uid = -1;

    if (colon && colon[1]) {
        uid = strtol(colon + 1, &end, 10);
        if (*end != '\0' || uid < 0)
            uid = -1, colon = NULL;
    } else {
        colon = NULL;
    }
    snprintf(out->name, sizeof out->name, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
    out->uid = uid;
}

/* ---- rows ---- */

void rg_vet_row_free(rg_vet_row *row)
{
    for (int i = 0; i < row->nev; i++) {
        free((char *)row->ev[i].kind);
        free((char *)row->ev[i].text);
        free((char *)row->ev[i].added_by);
        free((char *)row->ev[i].added_at);
    }
    free(row->ev);
    free(row->store);
    rg_buf_free(&row->detail);
    rg_rule_result_free(&row->res);
    memset(row, 0, sizeof *row);
}

static void clear_evidence(rg_vet_row *row)
{
    for (int i = 0; i < row->nev; i++) {
        free((char *)row->ev[i].kind);
        free((char *)row->ev[i].text);
        free((char *)row->ev[i].added_by);
        free((char *)row->ev[i].added_at);
    }
    row->nev = 0;
    row->in.evidence = row->ev;
    row->in.nevidence = 0;
}

int rg_vet_row_add_evidence(rg_vet_row *row, int64_t id, const char *kind, const char *text,
                            const char *added_by, const char *added_at)
{
    rg_evidence_item *e;

    if (row->nev == row->evcap) {
        int cap = row->evcap ? row->evcap * 2 : 4;
        rg_evidence_item *n = realloc(row->ev, (size_t)cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        row->ev = n;
        row->evcap = cap;
    }
    e = &row->ev[row->nev];
    e->id = id;
    e->kind = strdup(kind);
    e->text = strdup(text);
    e->added_by = strdup(added_by);
    e->added_at = strdup(added_at);
    row->nev++;
    row->in.evidence = row->ev;
    row->in.nevidence = row->nev;
    return e->kind && e->text && e->added_by && e->added_at ? 0 : -ENOMEM;
}

/* The text columns of RG_VET_COLUMNS, and where each goes. */
enum { C_ID, C_GIVEN, C_FAMILY, C_DOB, C_EMAIL, C_POSTCODE, C_CLP, C_KIND, C_JOINED, C_DECLARED,
       C_AIMS, C_VERDICT, C_RULE, C_SCORE, C_REASONS, C_MANUAL, C_DISAGREES, C_RECOMMENDATION,
       C_BALLOT, C_MANUAL_REASON, C_COUNT };

int rg_vet_row_load(rg_vet_row *row, sqlite3_stmt *st)
{
    static const int text_cols[] = { C_GIVEN, C_FAMILY, C_DOB, C_EMAIL, C_POSTCODE, C_CLP, C_KIND,
                                     C_JOINED, C_DECLARED, C_AIMS, C_RULE, C_REASONS, C_DISAGREES,
                                     C_RECOMMENDATION, C_MANUAL_REASON };
    enum { NTEXT = sizeof text_cols / sizeof text_cols[0] };
    const char *ptr[NTEXT];
    int len[NTEXT];
    const char *at[C_COUNT] = { 0 };
    size_t need = 0, off = 0;
    int v;

    for (int i = 0; i < NTEXT; i++) {
        const unsigned char *t = sqlite3_column_text(st, text_cols[i]);
        ptr[i] = t ? (const char *)t : "";
        len[i] = t ? sqlite3_column_bytes(st, text_cols[i]) : 0;
        need += (size_t)len[i] + 1;
    }
    if (need > row->storecap) {
        size_t cap = need < 512 ? 512 : need * 2;
        char *s = realloc(row->store, cap);
        if (!s)
            return -ENOMEM;
        row->store = s;
        row->storecap = cap;
    }
    for (int i = 0; i < NTEXT; i++) {
        memcpy(row->store + off, ptr[i], (size_t)len[i]);
        row->store[off + (size_t)len[i]] = '\0';
        at[text_cols[i]] = row->store + off;
        off += (size_t)len[i] + 1;
    }
    clear_evidence(row);
    row->in = (rg_applicant_in){
        .id = sqlite3_column_int64(st, C_ID),
        .given_name = at[C_GIVEN], .family_name = at[C_FAMILY], .date_of_birth = at[C_DOB],
        .email = at[C_EMAIL], .postcode = at[C_POSTCODE], .clp = at[C_CLP], .kind = at[C_KIND],
        .joined_day = at[C_JOINED], .declared_party = at[C_DECLARED], .aims_values = at[C_AIMS],
        .evidence = row->ev, .nevidence = 0,
    };
    v = rg_verdict_parse((const char *)sqlite3_column_text(st, C_VERDICT));
    row->verdict = v < 0 ? RG_PENDING : (enum rg_verdict)v;
    row->rule = at[C_RULE];
    row->score = sqlite3_column_double(st, C_SCORE);
    row->reasons = at[C_REASONS];
    row->manual = sqlite3_column_int(st, C_MANUAL);
    row->auto_disagrees = at[C_DISAGREES];
    row->recommendation = at[C_RECOMMENDATION];
    row->ballot = sqlite3_column_int(st, C_BALLOT);
    row->manual_reason = at[C_MANUAL_REASON];
    return 0;
}

static int row_cmp(const void *key, const void *elem)
{
    int64_t id = *(const int64_t *)key, other = ((const rg_vet_row *)elem)->in.id;
    return id < other ? -1 : id > other;
}

int rg_vet_rows_evidence(rg_db *db, rg_vet_row *rows, int n)
{
    sqlite3_stmt *st;
    int step, rc = 0;

    for (int i = 0; i < n; i++)
        clear_evidence(&rows[i]);
    if (n == 0)
        return 0;
    if (!(st = rg_stmt(db, SQL_EVIDENCE_RANGE)))
        return -EIO;
    sqlite3_bind_int64(st, 1, rows[0].in.id);
    sqlite3_bind_int64(st, 2, rows[n - 1].in.id);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t app = sqlite3_column_int64(st, 0);
        rg_vet_row *row = bsearch(&app, rows, (size_t)n, sizeof *rows, row_cmp);
        if (!row)
            continue;   /* outside the scope: an id between two that are in it */
        rc = rg_vet_row_add_evidence(row, sqlite3_column_int64(st, 1),
                                     (const char *)sqlite3_column_text(st, 2),
                                     (const char *)sqlite3_column_text(st, 3),
                                     (const char *)sqlite3_column_text(st, 4),
                                     (const char *)sqlite3_column_text(st, 5));
        if (rc < 0)
            break;
    }
    sqlite3_reset(st);
    if (rc < 0)
        return rg_fail(db, rc, "out of memory reading evidence");
    return step == SQLITE_DONE ? 0 : rg_sqlfail(db, step);
}

int rg_vet_row_read(rg_db *db, int64_t id, rg_vet_row *row)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_ROW);
    int step, rc = 0;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, id);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = rg_vet_row_load(row, st);
    sqlite3_reset(st);
    if (step == SQLITE_DONE)
        return rg_fail(db, -ENOENT, "no applicant %" PRId64, id);
    if (step != SQLITE_ROW)
        return rg_sqlfail(db, step);
    if (rc < 0)
        return rg_fail(db, rc, "out of memory");
    return rg_vet_rows_evidence(db, row, 1);
}

/* ---- what the register should hold ---- */

struct state {
    enum rg_verdict verdict;
    const char *rule;
    double score;
    const char *reasons, *auto_disagrees, *recommendation;
    int ballot;
};

/* The row's new state from its evaluated result, keeping a person's decision; 1 if it differs. */
static int compute(const rg_rules *rules, const rg_vet_row *row, struct state *s)
{
    const rg_rule_result *res = &row->res;

    s->reasons = res->reasons.data ? res->reasons.data : "[]";
    s->score = res->score;
    if (row->manual) {
        s->verdict = row->verdict;
        s->rule = "manual";
        s->auto_disagrees = row->verdict != res->verdict && row->verdict != res->recommended ? res->summary : "";
        s->recommendation = "";
    } else {
        s->verdict = res->verdict;
        s->rule = res->rule;
        s->auto_disagrees = "";
        s->recommendation = res->verdict != res->recommended ? res->summary : "";
    }
    s->ballot = rg_rules_ballot(rules, &row->in, s->verdict);
    return s->verdict != row->verdict || strcmp(s->rule, row->rule) != 0 ||
           fabs(s->score - row->score) > 1e-9 || strcmp(s->reasons, row->reasons) != 0 ||
           strcmp(s->auto_disagrees, row->auto_disagrees) != 0 ||
           strcmp(s->recommendation, row->recommendation) != 0 || s->ballot != row->ballot;
}

int rg_vet_changes(const rg_rules *rules, const rg_vet_row *row)
{
    struct state s;

    return compute(rules, row, &s);
}

/* A score as the audit log shows it: "0.97", "1", "0". */
static const char *score_text(double x, char out[32])
{
    size_t n = (size_t)snprintf(out, 32, "%.3f", round(x * 1000.0) / 1000.0);

    while (n > 1 && out[n - 1] == '0')
        out[--n] = '\0';
    if (out[n - 1] == '.')
        out[--n] = '\0';
    return out;
}

/* Writes s into the row; decider is the person's "name:uid" for a new decision, else "". */
static int write_state(rg_db *db, const rg_rules *rules, const rg_vet_row *row, const struct state *s,
                       const char *manual_reason, const char *decider, int64_t now_ns)
{
    char at[RG_UTC_LEN];
    int manual = row->manual;
    sqlite3_stmt *st = rg_stmt(db, manual ? SQL_WRITE_MANUAL : SQL_WRITE_AUTO);

    if (!st)
        return -EIO;
    rg_fmt_utc(now_ns / 1000000000, at);
    sqlite3_bind_int64(st, 1, row->in.id);
    sqlite3_bind_text(st, 2, rg_verdict_name(s->verdict), -1, SQLITE_STATIC);
    sqlite3_bind_double(st, 4, s->score);
    sqlite3_bind_text(st, 5, s->reasons, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, at, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 8, s->ballot);
    sqlite3_bind_int64(st, 9, rg_rules_rules_version(rules));
    sqlite3_bind_int64(st, 10, rg_rules_watchlist_version(rules));
    sqlite3_bind_int64(st, 11, now_ns);
    if (manual) {
        sqlite3_bind_text(st, 12, decider ? decider : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 13, s->auto_disagrees, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 14, manual_reason, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 3, s->rule, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, s->recommendation, -1, SQLITE_STATIC);
    }
    return rg_exec_stmt(db, st);
}

/*
 * The detail of a verdict's change into d, as rg_audit_append() would encode the JSON object (keys
 * sorted, compact), written by hand: a first vet of the register writes one for every applicant.
 * Returns 0, -ENOMEM, or -EINVAL when a text is not UTF-8.
 */
static int change_detail(rg_buf *d, const rg_vet_row *row, const struct state *s)
{
    const char *from = rg_verdict_name(row->verdict), *to = rg_verdict_name(s->verdict);
    char score[32];
    int bad = 0;

    score_text(s->score, score);
    rg_buf_reset(d);
    rg_buf_add(d, "{", 1);
    if (row->manual && strcmp(s->auto_disagrees, row->auto_disagrees) != 0) {
        rg_buf_adds(d, "\"auto_disagrees\":");
        bad |= rg_buf_add_json_str(d, s->auto_disagrees, strlen(s->auto_disagrees));
        rg_buf_add(d, ",", 1);
    }
    if (s->ballot != row->ballot) {
        rg_buf_adds(d, "\"ballot\":");
        rg_buf_add_int(d, s->ballot);
        rg_buf_add(d, ",", 1);
    }
    rg_buf_adds(d, "\"from\":");
    bad |= rg_buf_add_json_str(d, from, strlen(from));
    if (*s->recommendation && strcmp(s->recommendation, row->recommendation) != 0) {
        rg_buf_adds(d, ",\"recommendation\":");
        bad |= rg_buf_add_json_str(d, s->recommendation, strlen(s->recommendation));
    }
    rg_buf_adds(d, ",\"rule\":");
    bad |= rg_buf_add_json_str(d, s->rule, strlen(s->rule));
    rg_buf_adds(d, ",\"score\":");
    bad |= rg_buf_add_json_str(d, score, strlen(score));
    rg_buf_adds(d, ",\"to\":");
    bad |= rg_buf_add_json_str(d, to, strlen(to));
    rg_buf_add(d, "}", 1);
    return rg_buf_failed(d) ? -ENOMEM : bad ? -EINVAL : 0;
}

int rg_vet_apply(rg_db *db, const rg_rules *rules, rg_vet_row *row, const rg_actor *who,
                 const char *action, int force, int64_t now_ns, enum rg_verdict *verdict_out)
{
    struct state s;
    int changed = compute(rules, row, &s), rc;

    if (verdict_out)
        *verdict_out = s.verdict;
    if (!changed && !force)
        return 0;
    if ((rc = write_state(db, rules, row, &s, row->manual_reason, NULL, now_ns)) < 0)
        return rc;
    if ((rc = change_detail(&row->detail, row, &s)) < 0)
        return rg_fail(db, rc, rc == -ENOMEM ? "out of memory building an audit event"
                                             : "an audit event's text is not UTF-8");
    int64_t seq = rg_audit_append_text(db, who, action ? action : "verdict.auto", row->in.id,
                                       row->detail.data);
    return seq < 0 ? (int)seq : 1;
}

/* ---- one applicant at a time ---- */

/*
 * Reads applicant id into row and evaluates it, inside the caller's write transaction.  The rules
 * are loaded by the caller before the transaction (loading reads in a snapshot of its own).
 */
static int read_and_eval(rg_db *db, const rg_rules *rules, int64_t id, rg_vet_row *row)
{
    int rc;

    if ((rc = rg_vet_row_read(db, id, row)) < 0)
        return rc;
    if ((rc = rg_rules_lookup_register(rules, db, &row->in)) < 0)
        return rc;
    if ((rc = rg_rules_eval(rules, &row->in, &row->res)) < 0)
        return rg_rules_eval_failed(db, rc, id);
    return 0;
}

int rg_vet_one(rg_db *db, const rg_actor *who, int64_t id)
{
    rg_rules *rules = NULL;
    rg_vet_row row = { 0 };
    int rc, wrote;

    if ((rc = rg_rules_load(db, &rules)) < 0)
        return rc;
    if ((rc = rg_db_begin(db)) < 0)
        goto out_free;
    if ((rc = read_and_eval(db, rules, id, &row)) < 0 ||
        (rc = wrote = rg_vet_apply(db, rules, &row, who, "verdict.auto", 0, rg_now_ns(), NULL)) < 0)
        goto out_rollback;
    if ((rc = rg_db_commit(db)) == 0)
        rc = wrote;
    goto out_free;
out_rollback:
    rg_db_rollback(db);
out_free:
    rg_vet_row_free(&row);
    rg_rules_free(rules);
    return rc;
}

static int text_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    const char *p = s;

    if (n == 0 || n > max || !rg_utf8_valid(s, n))
        return 0;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return *p != '\0';
}

int rg_decide(rg_db *db, const rg_actor *who, int64_t id, enum rg_decision d, const char *reason)
{
    static const char *const words[] = {
        [RG_DECIDE_APPROVE] = "approve", [RG_DECIDE_EXCLUDE] = "exclude", [RG_DECIDE_REFER] = "refer",
    };
    static const enum rg_verdict to[] = {
        [RG_DECIDE_APPROVE] = RG_APPROVED, [RG_DECIDE_EXCLUDE] = RG_EXCLUDED, [RG_DECIDE_REFER] = RG_REVIEW,
    };
    char actor[RG_ACTOR_STR_LEN];
    rg_rules *rules = NULL;
    rg_vet_row row = { 0 };
    enum rg_verdict from;
    struct state s;
    int64_t seq;
    int rc;

    if ((unsigned)d > RG_DECIDE_REFER)
        return rg_fail(db, -EINVAL, "unknown decision %d", (int)d);
    if (!text_ok(reason, 4096))
        return rg_fail(db, -EINVAL, "a decision needs a written reason (non-empty UTF-8, at most 4096 bytes)");
    if ((rc = rg_rules_load(db, &rules)) < 0)
        return rc;
    if ((rc = rg_db_begin(db)) < 0)
        goto out_free;
    if ((rc = read_and_eval(db, rules, id, &row)) < 0)
        goto out_rollback;
    from = row.verdict;
    row.manual = 1;
    row.verdict = to[d];
    compute(rules, &row, &s);
    if ((rc = write_state(db, rules, &row, &s, reason, rg_actor_str(who, actor), rg_now_ns())) < 0)
        goto out_rollback;
    seq = rg_audit_append(db, who, "verdict.manual", id,
                          json_pack("{s:s, s:s, s:s}", "decision", words[d], "reason", reason,
                                    "from", rg_verdict_name(from)));
    if (seq < 0) {
        rc = (int)seq;
        goto out_rollback;
    }
    rc = rg_db_commit(db);
    goto out_free;
out_rollback:
    rg_db_rollback(db);
out_free:
    rg_vet_row_free(&row);
    rg_rules_free(rules);
    return rc;
}

int rg_release(rg_db *db, const rg_actor *who, int64_t id)
{
    rg_rules *rules = NULL;
    rg_vet_row row = { 0 };
    int rc;

    if ((rc = rg_rules_load(db, &rules)) < 0)
        return rc;
    if ((rc = rg_db_begin(db)) < 0)
        goto out_free;
    if ((rc = read_and_eval(db, rules, id, &row)) < 0)
        goto out_rollback;
    if (!row.manual) {
        rc = rg_fail(db, -EINVAL, "applicant %" PRId64 " has no decision by a person to release", id);
        goto out_rollback;
    }
    row.manual = 0;   /* the rules decide again; apply() writes it as theirs */
    if ((rc = rg_vet_apply(db, rules, &row, who, "verdict.release", 1, rg_now_ns(), NULL)) < 0)
        goto out_rollback;
    rc = rg_db_commit(db);
    goto out_free;
out_rollback:
    rg_db_rollback(db);
out_free:
    rg_vet_row_free(&row);
    rg_rules_free(rules);
    return rc;
}

static int kind_ok(const char *kind)
{
    size_t n = kind ? strlen(kind) : 0;

    if (n == 0 || n > 32)
        return 0;
    for (const char *p = kind; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return 0;
    return 1;
}

int rg_add_evidence(rg_db *db, const rg_actor *who, int64_t id, const char *kind, const char *text)
{
    char actor[RG_ACTOR_STR_LEN], at[RG_UTC_LEN];
    rg_rules *rules = NULL;
    rg_vet_row row = { 0 };
    sqlite3_stmt *st;
    int64_t seq, now = rg_now_ns();
    int rc, step;

    if (!kind_ok(kind))
        return rg_fail(db, -EINVAL, "evidence kind must be a word of a-z, 0-9 and '-' (note, clp-report,"
                       " public-statement)");
    if (!text_ok(text, EVIDENCE_TEXT_MAX))
        return rg_fail(db, -EINVAL, "evidence needs its text (non-empty UTF-8, at most %d bytes)",
                       EVIDENCE_TEXT_MAX);
    if ((rc = rg_rules_load(db, &rules)) < 0)
        return rc;
    if ((rc = rg_db_begin(db)) < 0)
        goto out_free;
    if (!(st = rg_stmt(db, SQL_EXISTS))) {
        rc = -EIO;
        goto out_rollback;
    }
    sqlite3_bind_int64(st, 1, id);
    step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE ? rg_fail(db, -ENOENT, "no applicant %" PRId64, id) : rg_sqlfail(db, step);
        goto out_rollback;
    }
    if (!(st = rg_stmt(db, SQL_ADD_EVIDENCE))) {
        rc = -EIO;
        goto out_rollback;
    }
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rg_actor_str(who, actor), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, rg_fmt_utc(now / 1000000000, at), -1, SQLITE_STATIC);
    if ((rc = rg_exec_stmt(db, st)) < 0)
        goto out_rollback;
    seq = rg_audit_append(db, who, "evidence.add", id, json_pack("{s:s, s:s}", "kind", kind, "text", text));
    if (seq < 0) {
        rc = (int)seq;
        goto out_rollback;
    }
    if ((rc = read_and_eval(db, rules, id, &row)) < 0 ||
        (rc = rg_vet_apply(db, rules, &row, who, "verdict.auto", 0, now, NULL)) < 0)
        goto out_rollback;
    rc = rg_db_commit(db);
    goto out_free;
out_rollback:
    rg_db_rollback(db);
out_free:
    rg_vet_row_free(&row);
    rg_rules_free(rules);
    return rc;
}
