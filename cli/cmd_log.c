/*
 * cmd_log.c: `regfs log DB [--applicant ID] [--day YYYY-MM-DD] [--from SEQ]`: the audit log, one
 * event per line, oldest first, in the format of the mounted audit/log (audit.h).
 *
 * The filters combine: --applicant and --day together give that applicant's events on that day.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cli.h"

#define LOG_FLUSH_BYTES (1 << 16)

struct log_state {
    rg_buf buf;
    const char *day;       /* set only when rg_audit_scan() cannot filter by it itself */
    int write_failed;
};

static int flush(struct log_state *ls)
{
    if (ls->buf.len > 0 && fwrite(ls->buf.data, 1, ls->buf.len, stdout) != ls->buf.len) {
        ls->write_failed = errno ? errno : EIO;
        return 1;
    }
    rg_buf_reset(&ls->buf);
    return 0;
}

static int print_event(const rg_audit_event *ev, void *arg)
{
    struct log_state *ls = arg;

    if (ls->day && strncmp(ev->at, ls->day, 10) != 0)
        return 0;
    rg_audit_format(ev, &ls->buf);
    if (rg_buf_failed(&ls->buf))
        return 1;
    return ls->buf.len >= LOG_FLUSH_BYTES ? flush(ls) : 0;
}

/* A decimal number >= min; returns 0 or -1. */
static int parse_num(const char *s, int64_t min, int64_t *out)
{
    char *end;
    long long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0' || v < min)
        return -1;
    *out = v;
    return 0;
}

int cmd_log(int argc, char **argv)
{
    rg_audit_filter f = { 0 };
    struct log_state ls = { .buf = RG_BUF_INIT };
    const char *path = NULL;
    int status = RG_EXIT_FAIL, rc;
    rg_db *db;

    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (strcmp(opt, "--applicant") == 0 || strcmp(opt, "--day") == 0 || strcmp(opt, "--from") == 0) {
            if (++i == argc)
                return cli_usage("log");
            if (strcmp(opt, "--applicant") == 0 && parse_num(argv[i], 1, &f.applicant) < 0) {
                cli_error("log", "--applicant: '%s' is not an applicant id", argv[i]);
                return cli_usage("log");
            }
            if (strcmp(opt, "--from") == 0 && parse_num(argv[i], 0, &f.from_seq) < 0) {
                cli_error("log", "--from: '%s' is not a sequence number", argv[i]);
                return cli_usage("log");
            }
            if (strcmp(opt, "--day") == 0) {
                if (!rg_date_valid(argv[i])) {
                    cli_error("log", "--day: '%s' is not a date (YYYY-MM-DD)", argv[i]);
                    return cli_usage("log");
                }
                f.day = argv[i];
            }
        } else if (opt[0] == '-' && opt[1] != '\0') {
            cli_error("log", "unknown option '%s'", opt);
            return cli_usage("log");
        } else if (!path) {
            path = opt;
        } else {
            return cli_usage("log");
        }
    }
    if (!path)
        return cli_usage("log");
    /* rg_audit_scan() filters by applicant or by day, not both: the day is then checked here. */
    if (f.applicant > 0 && f.day)
        ls.day = f.day;
    if (!(db = cli_open("log", path, RG_OPEN_READONLY)))
        return RG_EXIT_FAIL;
    rc = rg_audit_scan(db, &f, print_event, &ls);
    if (rc < 0) {
        cli_error("log", "%s", rg_db_errmsg(db));
        goto out_free;
    }
    if (rg_buf_failed(&ls.buf)) {
        cli_error("log", "out of memory");
        goto out_free;
    }
    if (rc == 0)
        flush(&ls);
    if (ls.write_failed || fflush(stdout) != 0) {
        cli_error("log", "writing to stdout: %s", strerror(ls.write_failed ? ls.write_failed : errno));
        goto out_free;
    }
    status = RG_EXIT_OK;
out_free:
    rg_buf_free(&ls.buf);
    rg_db_close(db);
    return status;
}
