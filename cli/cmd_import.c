/*
 * cmd_import.c: `regfs import [--quiet] [--rejects FILE] DB applicants|watchlist|organisations
 * FILE.csv`: import a CSV file into the register (backend/import.h does the work).
 *
 * Rejected rows are reported on stderr, one line each, while a progress bar may be drawn there
 * too: on a terminal each report first erases the bar's line, and the bar is redrawn at its next
 * update.  The bar counts rows; its total is estimated from the bytes read so far.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "import.h"
#include "progress.h"

/* A stream onto stderr that erases the progress bar's line before each line it writes. */
static ssize_t erasing_write(void *cookie, const char *buf, size_t n)
{
    int *at_line_start = cookie;

    for (size_t i = 0; i < n;) {
        const char *nl = memchr(buf + i, '\n', n - i);
        size_t chunk = nl ? (size_t)(nl - (buf + i)) + 1 : n - i;
        if (*at_line_start)
            fputs("\r\033[K", stderr);
        fwrite(buf + i, 1, chunk, stderr);
        *at_line_start = nl != NULL;
        i += chunk;
    }
    fflush(stderr);
    return (ssize_t)n;
}

/* The bar counts rows; until the end their total is extrapolated from the share of bytes read. */
static void on_progress(void *arg, uint64_t rows, uint64_t done, uint64_t total)
{
    uint64_t estimate = 0;

    if (total > 0 && done > 0)
        estimate = done >= total ? rows : (uint64_t)((double)rows * (double)total / (double)done);
    rg_progress_update(arg, rows, estimate);
}

/* "applicants.csv: 3000 rows: 2990 added, 0 changed, 0 unchanged, 10 rejected (see ...)", or
 * "applicants.csv: nothing to change (3000 rows unchanged)". */
static void print_summary(const char *shown, const rg_import_result *r, enum rg_import_kind kind)
{
    if (r->added == 0 && r->changed == 0 && r->removed == 0) {
        printf("%s: nothing to change (%" PRId64 " row%s unchanged)", shown, r->unchanged,
               r->unchanged == 1 ? "" : "s");
    } else {
        printf("%s: %" PRId64 " row%s: %" PRId64 " added, %" PRId64 " changed, %" PRId64 " unchanged",
               shown, r->rows, r->rows == 1 ? "" : "s", r->added, r->changed, r->unchanged);
        if (kind == RG_IMPORT_ORGANISATIONS)
            printf(", %" PRId64 " removed", r->removed);
    }
    if (r->rejected > 0) {
        printf(", %" PRId64 " rejected", r->rejected);
        if (r->rejects_path[0])
            printf(" (see %s)", r->rejects_path);
    }
    if (r->removal_skipped)
        printf("; no organisation was removed, because rows were rejected");
    printf("\n");
}

int cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "quiet", no_argument, NULL, 'q' },
        { "rejects", required_argument, NULL, 'r' },
        { NULL, 0, NULL, 0 },
    };
    rg_import_opts opts = { 0 };
    rg_import_result res;
    rg_progress *bar;
    rg_actor me;
    rg_db *db;
    int quiet = 0, at_line_start = 1, kind, c, rc, status;
    FILE *errors = stderr;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "qr:", longopts, NULL)) != -1) {
        switch (c) {
        case 'q':
            quiet = 1;
            break;
        case 'r':
            opts.rejects_path = optarg;
            break;
        default:
            if (optopt)
                cli_error("import", "unknown option -%c or missing argument", optopt);
            else
                cli_error("import", "unknown option %s or missing argument", argv[optind - 1]);
            return cli_usage("import");
        }
    }
    if (argc - optind != 3)
        return cli_usage("import");
    const char *dbpath = argv[optind], *what = argv[optind + 1], *file = argv[optind + 2];
    if ((kind = rg_import_kind_parse(what)) < 0) {
        cli_error("import", "unknown kind '%s': applicants, watchlist or organisations", what);
        return cli_usage("import");
    }
    if (!(db = cli_open("import", dbpath, 0)))
        return RG_EXIT_FAIL;
    rg_actor_for_uid(getuid(), &me);

    bar = rg_progress_start(rg_import_kind_name(kind), "rows", 0, quiet);
    if (!quiet && isatty(STDERR_FILENO)) {
        static const cookie_io_functions_t io = { .write = erasing_write };
        FILE *f = fopencookie(&at_line_start, "w", io);
        if (f) {
            setvbuf(f, NULL, _IOLBF, 0);
            errors = f;
        }
    }
    opts.errors = errors;
    opts.progress = on_progress;
    opts.progress_arg = bar;
    rc = rg_import_file(db, &me, (enum rg_import_kind)kind, file, &opts, &res);
    if (errors != stderr)
        fclose(errors);
    rg_progress_end(bar);

    if (rc < 0) {
        cli_error("import", "%s", rg_db_errmsg(db));
        status = RG_EXIT_FAIL;
    } else {
        print_summary(strcmp(file, "-") == 0 ? "<stdin>" : file, &res, (enum rg_import_kind)kind);
        status = rc > 0 ? RG_EXIT_REJECTED : RG_EXIT_OK;
    }
    rg_db_close(db);
    if (fflush(stdout) != 0 && status == RG_EXIT_OK)
        status = RG_EXIT_FAIL;
    return status;
}
