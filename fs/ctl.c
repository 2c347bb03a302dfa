/*
 * ctl.c: the control files.  One table of commands per ctl file; README prints the same tables.
 *
 * A write is one batch: at most FS_CTL_MAX bytes of UTF-8, one command a line (blank lines are
 * skipped).  Every line is parsed and checked against the register (the applicant exists, the job
 * is still running, the scope names something) before any line runs, so a batch with one bad line
 * changes nothing.  A refused batch fails the write with EINVAL and is recorded in the audit log as
 * ctl.refused with the reason and the text; an accepted one runs line by line as the writer (the
 * uid of the FUSE request), each command audited by the backend function that carries it out.
 *
 * Everything here runs on the write connection fs->wdb with fs->wlock held (fs.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "fs.h"
#include "vet.h"

struct ctl_ctx {
    struct rg_fs *fs;
    rg_db *db;
    const rg_actor *who;
    int64_t applicant;           /* applicants/<id>/ctl; 0 for the register's ctl */
};

struct ctl_cmd;

struct ctl_line {
    int lineno;
    const struct ctl_cmd *cmd;
    char *text;                  /* ARGS_TEXT: the rest of the line, trimmed */
    char **words;                /* ARGS_WORDS: the words after the command */
    int nwords;
    rg_scope scope;              /* revet: filled by its check */
    int64_t *ids;
    int64_t job;                 /* cancel */
};

enum ctl_args { ARGS_NONE, ARGS_TEXT, ARGS_WORDS };

struct ctl_cmd {
    const char *name;
    const char *const *forms;    /* for README and error messages */
    const char *help;
    enum ctl_args args;
    int min, max;                /* ARGS_WORDS: how many words; max < 0: any number */
    const char *missing;         /* what to say when the text or words are missing */
    int decision;                /* approve/exclude/refer: enum rg_decision */
    /* Checks the line against the register; 0 or -EINVAL with a message in err. */
    int (*check)(struct ctl_ctx *c, struct ctl_line *l, char *err, size_t errlen);
    /* Carries it out; 0 or a negative errno with rg_db_errmsg() set. */
    int (*run)(struct ctl_ctx *c, struct ctl_line *l);
};

/* ---- the register's ctl ---- */

static int check_revet(struct ctl_ctx *c, struct ctl_line *l, char *err, size_t errlen)
{
    char why[256];
    int64_t count, mtime;
    rg_tree_app a;
    int rc;

    if (!(l->ids = calloc((size_t)l->nwords, sizeof *l->ids)))
        return -ENOMEM;
    if (rg_scope_parse(l->nwords, l->words, &l->scope, l->ids, l->nwords, why, sizeof why) < 0) {
        rg_snprintf_utf8(err, errlen, "line %d: %s", l->lineno, why);
        return -EINVAL;
    }
    if (l->scope.kind == RG_SCOPE_IDS) {
        for (int i = 0; i < l->scope.nids; i++) {
            if ((rc = rg_tree_applicant(c->db, l->scope.ids[i], &a)) == -ENOENT) {
                snprintf(err, errlen, "line %d: no applicant %" PRId64, l->lineno, l->scope.ids[i]);
                return -EINVAL;
            }
            if (rc < 0)
                return rc;
        }
    }
    if (l->scope.kind == RG_SCOPE_CLP) {
        if ((rc = rg_tree_folder_info(c->db, RG_FOLDER_CLP, l->scope.clp_slug, &count, &mtime)) < 0)
            return rc;
        if (count == 0) {
            rg_snprintf_utf8(err, errlen, "line %d: no CLP '%s' (the names are those of clps/)",
                             l->lineno, l->scope.clp_slug);
            return -EINVAL;
        }
    }
    return 0;
}

static int run_revet(struct ctl_ctx *c, struct ctl_line *l)
{
    int64_t id = rg_job_create(c->db, c->who, &l->scope, RG_JOB_LOG_REQUEST);

    if (id < 0)
        return (int)id;
    return fs_jobs_enqueue(c->fs, id);
}

static int check_cancel(struct ctl_ctx *c, struct ctl_line *l, char *err, size_t errlen)
{
    rg_tree_job j;
    int rc;

    if (fs_parse_id(l->words[0], &l->job) < 0) {
        rg_snprintf_utf8(err, errlen, "line %d: '%s' is not a job number (see jobs/)", l->lineno,
                         l->words[0]);
        return -EINVAL;
    }
    if ((rc = rg_tree_job_find(c->db, l->job, &j)) == -ENOENT) {
        snprintf(err, errlen, "line %d: no job %" PRId64, l->lineno, l->job);
        return -EINVAL;
    }
    if (rc < 0)
        return rc;
    if (strcmp(j.state, "queued") != 0 && strcmp(j.state, "running") != 0) {
        snprintf(err, errlen, "line %d: job %" PRId64 " has already ended (%s)", l->lineno, l->job,
                 j.state);
        return -EINVAL;
    }
    return 0;
}

static int run_cancel(struct ctl_ctx *c, struct ctl_line *l)
{
    return rg_job_cancel(c->db, c->who, l->job);
}

#define NO_CHECKPOINT_KEY "no checkpoint key: mount with -o checkpoint_key=PATH"

static int check_checkpoint(struct ctl_ctx *c, struct ctl_line *l, char *err, size_t errlen)
{
    if (!c->fs->checkpoint_key) {
        snprintf(err, errlen, "line %d: %s", l->lineno, NO_CHECKPOINT_KEY);
        return -EINVAL;
    }
    return 0;
}

/* Each line runs outside any transaction, as rg_checkpoint_make() needs: it opens its own. */
static int run_checkpoint(struct ctl_ctx *c, struct ctl_line *l)
{
    rg_buf statement = RG_BUF_INIT;
    char who[RG_ACTOR_STR_LEN];
    int64_t seq = rg_checkpoint_make(c->db, c->who, c->fs->checkpoint_key, &statement);

    (void)l;
    rg_buf_free(&statement);
    if (seq < 0)
        return (int)seq;
    fs_log(c->fs, LOG_NOTICE, "ctl: %s signed a checkpoint of event %" PRId64
           " (audit/checkpoints/%" PRId64 ")", rg_actor_str(c->who, who), seq, seq);
    return 0;
}

static const char *const revet_forms[] = {
    "revet all", "revet pending", "revet ID...", "revet clp SLUG", "revet verdict DECISION",
    "revet joined FROM [TO]", NULL,
};
static const char *const cancel_forms[] = { "cancel JOB", NULL };
static const char *const checkpoint_forms[] = { "checkpoint", NULL };

static const struct ctl_cmd register_cmds[] = {
    { "revet", revet_forms,
      "re-vet those applicants (every one; the pending ones; the listed ids; one CLP by its "
      "folder name; one verdict; those who joined from FROM to TO, or since FROM) as a "
      "background job: the write returns at once and jobs/<n> shows its progress",
      ARGS_WORDS, 1, -1, "say what to re-vet: all, pending, IDs, clp SLUG, verdict DECISION or "
      "joined FROM [TO]", 0, check_revet, run_revet },
    { "cancel", cancel_forms,
      "stop a queued or running job at its next batch (what it already did stays done)",
      ARGS_WORDS, 1, 1, "say which job: cancel JOB", 0, check_cancel, run_cancel },
    { "checkpoint", checkpoint_forms,
      "sign the audit chain's head with the key given at mount (-o checkpoint_key=PATH): the "
      "statement appears as audit/checkpoints/<seq>, for `regfs verify --checkpoint`; keep a copy "
      "off the machine",
      ARGS_NONE, 0, 0, NULL, 0, check_checkpoint, run_checkpoint },
};

/* ---- applicants/<id>/ctl ---- */

static int run_vet_one(struct ctl_ctx *c, struct ctl_line *l)
{
    int rc = rg_vet_one(c->db, c->who, c->applicant);

    return rc < 0 ? rc : 0;
}

static int run_decide(struct ctl_ctx *c, struct ctl_line *l)
{
    return rg_decide(c->db, c->who, c->applicant, (enum rg_decision)l->cmd->decision, l->text);
}

static int run_release(struct ctl_ctx *c, struct ctl_line *l)
{
    return rg_release(c->db, c->who, c->applicant);
}

static int run_note(struct ctl_ctx *c, struct ctl_line *l)
{
    return rg_add_evidence(c->db, c->who, c->applicant, "note", l->text);
}

static const char *const vet_forms[] = { "revet", NULL };
static const char *const approve_forms[] = { "approve REASON", NULL };
static const char *const exclude_forms[] = { "exclude REASON", NULL };
static const char *const refer_forms[] = { "refer REASON", NULL };
static const char *const release_forms[] = { "release", NULL };
static const char *const note_forms[] = { "note TEXT", NULL };

#define REASON_REQUIRED "a reason is required: the decision is recorded with it"

static const struct ctl_cmd applicant_cmds[] = {
    { "revet", vet_forms,
      "re-vet this applicant now (a person's decision stands; if the rules now disagree, "
      "that is noted)",
      ARGS_NONE, 0, 0, NULL, 0, NULL, run_vet_one },
    { "approve", approve_forms, "approve, as a person's decision, with the reason for it",
      ARGS_TEXT, 0, 0, REASON_REQUIRED, RG_DECIDE_APPROVE, NULL, run_decide },
    { "exclude", exclude_forms, "exclude, as a person's decision, with the reason for it",
      ARGS_TEXT, 0, 0, REASON_REQUIRED, RG_DECIDE_EXCLUDE, NULL, run_decide },
    { "refer", refer_forms, "send to review, as a person's decision, with the reason for it",
      ARGS_TEXT, 0, 0, REASON_REQUIRED, RG_DECIDE_REFER, NULL, run_decide },
    { "release", release_forms,
      "withdraw a person's decision: the rules decide again, at once", ARGS_NONE, 0, 0, NULL, 0,
      NULL, run_release },
    { "note", note_forms, "add a note to the applicant's evidence (the applicant is re-vetted)",
      ARGS_TEXT, 0, 0, "the note's text is required", 0, NULL, run_note },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct ctl_table {
    const char *file;
    const struct ctl_cmd *cmds;
    size_t n;
} tables[] = {
    { "ctl", register_cmds, NELEM(register_cmds) },
    { "applicants/<id>/ctl", applicant_cmds, NELEM(applicant_cmds) },
};

const fs_ctl_doc *fs_ctl_docs(size_t *n)
{
    static fs_ctl_doc docs[NELEM(register_cmds) + NELEM(applicant_cmds)];
    size_t k = 0;

    for (size_t t = 0; t < NELEM(tables); t++)
        for (size_t i = 0; i < tables[t].n; i++)
            docs[k++] = (fs_ctl_doc){ tables[t].file, tables[t].cmds[i].forms,
                                      tables[t].cmds[i].help };
    *n = k;
    return docs;
}

/* ---- parsing ---- */

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t';
}

static char *trim(char *s)
{
    size_t n;

    while (is_space(*s))
        s++;
    n = strlen(s);
    while (n > 0 && (is_space(s[n - 1]) || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static void command_names(const struct ctl_table *t, char *out, size_t outlen)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; i < t->n && used < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", i ? ", " : "", t->cmds[i].name);
}

/* Parses one line (modified in place) into l.  0, or -EINVAL with a message in err. */
static int parse_line(const struct ctl_table *t, char *s, struct ctl_line *l, char *err,
                      size_t errlen)
{
    char names[256], *rest, *w, *save = NULL;
    size_t len;

    len = strcspn(s, " \t");
    rest = s + len;
    if (*rest)
        *rest++ = '\0';
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->cmds[i].name, s) == 0)
            l->cmd = &t->cmds[i];
    if (!l->cmd) {
        command_names(t, names, sizeof names);
        rg_snprintf_utf8(err, errlen, "line %d: unknown command '%.*s' (%s takes %s)", l->lineno,
                         (int)rg_utf8_prefix(s, 64), s, t->file, names);
        return -EINVAL;
    }
    rest = trim(rest);
    switch (l->cmd->args) {
    case ARGS_NONE:
        if (*rest) {
            snprintf(err, errlen, "line %d: %s takes nothing after it", l->lineno, l->cmd->name);
            return -EINVAL;
        }
        return 0;
    case ARGS_TEXT:
        if (!*rest) {
            snprintf(err, errlen, "line %d: %s: %s", l->lineno, l->cmd->name, l->cmd->missing);
            return -EINVAL;
        }
        l->text = rest;
        return 0;
    case ARGS_WORDS:
        if (!(l->words = calloc(strlen(rest) / 2 + 2, sizeof *l->words)))
            return -ENOMEM;
        for (w = strtok_r(rest, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
            l->words[l->nwords++] = w;
        if (l->nwords < l->cmd->min) {
            snprintf(err, errlen, "line %d: %s: %s", l->lineno, l->cmd->name, l->cmd->missing);
            return -EINVAL;
        }
        if (l->cmd->max >= 0 && l->nwords > l->cmd->max) {
            snprintf(err, errlen, "line %d: %s takes %d word%s after it (%s)", l->lineno,
                     l->cmd->name, l->cmd->max, l->cmd->max == 1 ? "" : "s", l->cmd->forms[0]);
            return -EINVAL;
        }
        return 0;
    }
    return -EINVAL;
}

/*
 * Splits text (modified in place) into lines and checks every one.  Sets *out to the lines (free
 * them with free_lines(*out, *ncap)) and *nout to how many hold a command.
 */
static int check_all(struct ctl_ctx *c, const struct ctl_table *t, char *text,
                     struct ctl_line **out, int *nout, int *ncap, char *err, size_t errlen)
{
    struct ctl_line *lines;
    int n = 0, cap = 1, lineno = 0, rc = 0;
    char *save = NULL, *s;

    for (const char *p = text; *p; p++)
        cap += *p == '\n';
    if (!(lines = calloc((size_t)cap, sizeof *lines)))
        return -ENOMEM;
    *out = lines;
    *ncap = cap;
    for (char *p = text; p; p = save) {
        save = strchr(p, '\n');
        if (save)
            *save++ = '\0';
        lineno++;
        s = trim(p);
        if (!*s)
            continue;
        lines[n].lineno = lineno;
        if ((rc = parse_line(t, s, &lines[n], err, errlen)) < 0)
            goto out;
        n++;
        if (lines[n - 1].cmd->check &&
            (rc = lines[n - 1].cmd->check(c, &lines[n - 1], err, errlen)) < 0)
            goto out;
    }
    if (n == 0) {
        snprintf(err, errlen, "no command (one a line; see README)");
        rc = -EINVAL;
    }
out:
    *nout = n;
    return rc;
}

static void free_lines(struct ctl_line *lines, int n)
{
    for (int i = 0; lines && i < n; i++) {
        free(lines[i].words);
        free(lines[i].ids);
    }
    free(lines);
}

/* Records a refused write; a failure to record it is logged (the write fails anyway). */
static void refuse(struct ctl_ctx *c, const char *path, const char *why, const char *buf,
                   size_t size)
{
    char who[RG_ACTOR_STR_LEN];

    fs_log(c->fs, LOG_NOTICE, "%s: refused a write by %s: %s", path, rg_actor_str(c->who, who), why);
    if (rg_audit_refusal(c->db, c->who, path, why, buf, size) < 0)
        fs_log(c->fs, LOG_ERR, "%s: could not record the refusal: %s", path, rg_db_errmsg(c->db));
}

/*
 * Everything a write must pass before any of it runs: the applicant exists, the size, UTF-8, and
 * every line parsed and checked (check_all).  Sets *text and *lines for the caller to free (also on
 * failure).  0, -EINVAL with the reason in err (the write is refused), or another negative errno.
 */
static int prepare(struct ctl_ctx *c, fuse_ino_t ino, const char *buf, size_t size, char **text,
                   struct ctl_line **lines, int *n, int *ncap, char *err, size_t errlen)
{
    const struct ctl_table *t = &tables[ino == FS_INO_CTL ? 0 : 1];
    rg_tree_app a;
    int rc;

    if (ino != FS_INO_CTL) {
        c->applicant = (int64_t)(FS_VAL(ino) >> 3);
        if ((rc = rg_tree_applicant(c->db, c->applicant, &a)) == -ENOENT) {
            snprintf(err, errlen, "no applicant %" PRId64, c->applicant);
            return -EINVAL;
        }
        if (rc < 0)
            return rc;
    }
    if (size > FS_CTL_MAX) {
        snprintf(err, errlen, "the write is %zu bytes; a ctl file takes at most %d at a time",
                 size, FS_CTL_MAX);
        return -EINVAL;
    }
    if (!rg_utf8_valid(buf, size)) {
        snprintf(err, errlen, "the text is not valid UTF-8");
        return -EINVAL;
    }
    if (!(*text = malloc(size + 1)))
        return -ENOMEM;
    memcpy(*text, buf, size);
    (*text)[size] = '\0';
    return check_all(c, t, *text, lines, n, ncap, err, errlen);
}

int fs_ctl_check(struct rg_fs *fs, rg_db *db, fuse_ino_t ino, const char *buf, size_t size,
                 const rg_actor *who, char *err, size_t errlen)
{
    struct ctl_ctx c = { fs, db, who, 0 };
    struct ctl_line *lines = NULL;
    char *text = NULL;
    int n = 0, ncap = 0, rc;

    rc = prepare(&c, ino, buf, size, &text, &lines, &n, &ncap, err, errlen);
    free_lines(lines, ncap);
    free(text);
    return rc;
}

int fs_ctl_write(struct rg_fs *fs, fuse_ino_t ino, const char *buf, size_t size, const rg_actor *who)
{
    struct ctl_ctx c = { fs, fs->wdb, who, 0 };
    struct ctl_line *lines = NULL;
    char path[64], err[512] = "", *text = NULL;
    int n = 0, ncap = 0, rc = 0;

    if (fs->ro || !fs->wdb)
        return -EROFS;
    fs_ctl_path(ino, path, sizeof path);
    pthread_mutex_lock(&fs->wlock);
    if ((rc = prepare(&c, ino, buf, size, &text, &lines, &n, &ncap, err, sizeof err)) < 0) {
        if (rc != -EINVAL)
            goto out_unlock;
        goto out_refuse;
    }
    for (int i = 0; i < n; i++) {
        if ((rc = lines[i].cmd->run(&c, &lines[i])) < 0) {
            rg_snprintf_utf8(err, sizeof err, "line %d: %s%s", lines[i].lineno, rg_db_errmsg(c.db),
                             i > 0 ? " (the lines before it were carried out)" : "");
            /* The backend's "no such" and "bad value" are the writer's mistake, not the disk's. */
            if (rc == -ENOENT)
                rc = -EINVAL;
            goto out_refuse;
        }
    }
    goto out_unlock;
out_refuse:
    if (rc == -ENOENT)
        rc = -EINVAL;
    refuse(&c, path, err, buf, size);
out_unlock:
    pthread_mutex_unlock(&fs->wlock);
    free_lines(lines, ncap);
    free(text);
    return rc;
}
