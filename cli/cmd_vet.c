/*
 * cmd_vet.c: `regfs vet [--quiet] DB [all|pending|ID...|clp SLUG|verdict V|joined FROM [TO]]`:
 * re-vet the register as a job, resuming unfinished jobs first (then the one asked for, even when
 * a resumed job had the same scope: what it vetted before it stopped may have changed since).
 *
 * Interrupting it (SIGINT, SIGTERM) stops the job after the batch in hand; it stays in the job table
 * as running, and the next `regfs vet` (or the daemon) resumes it where it stopped.  So does a job
 * whose process was killed outright.  A job another live process runs (a mounted daemon) is left to it.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"
#include "util.h"
#include "vet.h"

#define MAX_RESUME 64

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* n with thousands separators ("1,234,567") into out[32]. */
static const char *commas(int64_t n, char out[32])
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%" PRId64, n < 0 ? -n : n), k = 0;

    if (n < 0)
        out[k++] = '-';
    for (int i = 0; i < len; i++) {
        out[k++] = digits[i];
        if ((len - i - 1) % 3 == 0 && i != len - 1)
            out[k++] = ',';
    }
    out[k] = '\0';
    return out;
}

/* A rate rounded to three significant figures (79,712 -> 79,700). */
static int64_t round3sig(double x)
{
    double scale = 1;

    while (x / scale >= 1000)
        scale *= 10;
    return (int64_t)(x / scale + 0.5) * (int64_t)scale;
}

static int on_progress(void *arg, int64_t done, int64_t total)
{
    rg_progress_update(arg, (uint64_t)done, (uint64_t)total);
    return interrupted;
}

/* Runs (or resumes) one job with a progress bar and prints its summary.  Returns an exit code. */
static int run_job(rg_db *db, int64_t id, int quiet, int *finished)
{
    char a[32], b[32], c[32], d[32], e[32], f[32];
    rg_job_tally t;
    rg_job_info j;
    rg_progress *bar;
    double start = now(), secs;
    int64_t rc;

    *finished = 0;
    if (rg_job_get(db, id, &j) < 0) {
        cli_error("vet", "%s", rg_db_errmsg(db));
        return RG_EXIT_FAIL;
    }
    bar = rg_progress_start("vetting", "applicants", (uint64_t)j.total, quiet);
    rg_progress_update(bar, (uint64_t)j.done, (uint64_t)j.total);
    rc = rg_job_run_tally(db, id, on_progress, bar, &t);
    rg_progress_end(bar);
    if (rc == -EALREADY) {   /* another live process (a mounted daemon) runs it: not ours to run */
        printf("job %" PRId64 " left alone: %s\n", id, rg_db_errmsg(db));
        return RG_EXIT_OK;
    }
    if (rc < 0) {
        cli_error("vet", "job %" PRId64 " failed: %s", id, rg_db_errmsg(db));
        return RG_EXIT_FAIL;
    }
    secs = now() - start;
    if (rg_job_get(db, id, &j) < 0) {
        cli_error("vet", "%s", rg_db_errmsg(db));
        return RG_EXIT_FAIL;
    }
    printf("vetted %s applicant%s in %.1f s (%s/s): %s changed; approved %s, excluded %s, review %s\n",
           commas(t.vetted, a), t.vetted == 1 ? "" : "s", secs, commas(secs > 0 ? round3sig(t.vetted / secs) : t.vetted, b),
           commas(t.changed, c), commas(t.verdicts[RG_APPROVED], d), commas(t.verdicts[RG_EXCLUDED], e),
           commas(t.verdicts[RG_REVIEW], f));
    if (strcmp(j.state, "done") == 0) {
        *finished = 1;
        return RG_EXIT_OK;
    }
    if (strcmp(j.state, "cancelled") == 0) {
        printf("job %" PRId64 " was cancelled at %s of %s\n", id, commas(j.done, a), commas(j.total, b));
        return RG_EXIT_OK;
    }
    fflush(stdout);
    fprintf(stderr, "%s vet: interrupted: job %" PRId64 " stopped at %s of %s; run `%s vet DB` to resume it\n",
            rg_progname, id, commas(j.done, a), commas(j.total, b), rg_progname);
    return RG_EXIT_FAIL;
}

int cmd_vet(int argc, char **argv)
{
    int64_t resume[MAX_RESUME], *ids = NULL, id;
    char err[256];
    struct sigaction sa = { .sa_handler = on_signal };
    rg_buf text = RG_BUF_INIT;
    rg_scope scope;
    rg_actor me;
    rg_db *db = NULL;
    int quiet = 0, i = 1, n, status = RG_EXIT_OK, finished;

    if (i < argc && strcmp(argv[i], "--quiet") == 0)
        quiet = 1, i++;
    if (i < argc && strcmp(argv[i], "--") == 0)
        i++;
    if (i >= argc || argv[i][0] == '-')
        return cli_usage("vet");
    if (!(ids = calloc((size_t)argc, sizeof *ids))) {
        cli_error("vet", "out of memory");
        return RG_EXIT_FAIL;
    }
    if (rg_scope_parse(argc - i - 1, argv + i + 1, &scope, ids, argc, err, sizeof err) < 0) {
        cli_error("vet", "%s", err);
        free(ids);
        return cli_usage("vet");
    }
    rg_scope_format(&scope, &text);
    if (!(db = cli_open("vet", argv[i], 0))) {
        status = RG_EXIT_FAIL;
        goto out_free;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if ((n = rg_job_unfinished(db, resume, MAX_RESUME)) < 0) {
        cli_error("vet", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
        goto out_close;
    }
    for (int k = 0; k < n && !interrupted; k++) {
        rg_job_info j;
        char a[32], b[32];
        long pid;
        if (rg_job_get(db, resume[k], &j) < 0)
            continue;
        if ((pid = rg_job_owner_pid(&j)) > 0 && pid != (long)getpid()) {
            printf("job %" PRId64 " (%s, requested by %s) is being run by process %ld: left to it\n",
                   j.id, j.scope, j.requested_by, pid);
            continue;
        }
        printf("resuming job %" PRId64 " (%s, requested by %s): %s of %s vetted\n", j.id, j.scope,
               j.requested_by, commas(j.done, a), commas(j.total, b));
        if ((status = run_job(db, resume[k], quiet, &finished)) != RG_EXIT_OK)
            goto out_close;
    }
    if (interrupted) {
        status = RG_EXIT_FAIL;
        goto out_close;
    }
    rg_actor_for_uid(getuid(), &me);
    if ((id = rg_job_create(db, &me, &scope, 0)) < 0) {
        cli_error("vet", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
        goto out_close;
    }
    if (!quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "job %" PRId64 ": %s\n", id, text.data ? text.data : "");
    status = run_job(db, id, quiet, &finished);
out_close:
    rg_db_close(db);
out_free:
    rg_buf_free(&text);
    free(ids);
    return status;
}
