/*
 * cmd_export.c: `regfs export DB [--format tsv|jsonl]`: the register with its verdicts on stdout.
 *
 * The bytes are those of the mounted register.tsv and register.jsonl (render.h renders both; the
 * formats are documented in README.md ("File formats")).  The whole export reads one snapshot of the register,
 * so a vet running meanwhile never shows half its changes, and is rendered in batches written out as
 * they fill, so memory stays small however large the register.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "render.h"

#define EXPORT_BATCH_ROWS 4096
#define EXPORT_FLUSH_BYTES (1 << 20)

static const struct {
    const char *name;
    enum rg_export_format fmt;
} formats[] = {
    { "tsv", RG_EXPORT_TSV },
    { "jsonl", RG_EXPORT_JSONL },
};

static int parse_format(const char *name, enum rg_export_format *out)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(formats[i].name, name) == 0) {
            *out = formats[i].fmt;
            return 0;
        }
    }
    return -1;
}

/* Writes and empties buf; returns 0 or -1 after reporting the write error. */
static int flush(rg_buf *buf)
{
    if (buf->len > 0 && fwrite(buf->data, 1, buf->len, stdout) != buf->len) {
        cli_error("export", "writing to stdout: %s", strerror(errno));
        return -1;
    }
    rg_buf_reset(buf);
    return 0;
}

int cmd_export(int argc, char **argv)
{
    enum rg_export_format fmt = RG_EXPORT_TSV;
    const char *path = NULL, *fmtname = NULL;
    rg_buf buf = RG_BUF_INIT;
    int64_t last = 0;
    int status = RG_EXIT_FAIL, rc;
    rg_db *db;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0) {
            if (++i == argc)
                return cli_usage("export");
            fmtname = argv[i];
        } else if (strncmp(argv[i], "--format=", 9) == 0) {
            fmtname = argv[i] + 9;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            cli_error("export", "unknown option '%s'", argv[i]);
            return cli_usage("export");
        } else if (!path) {
            path = argv[i];
        } else {
            return cli_usage("export");
        }
    }
    if (!path)
        return cli_usage("export");
    if (fmtname && parse_format(fmtname, &fmt) < 0) {
        cli_error("export", "unknown format '%s' (tsv or jsonl)", fmtname);
        return cli_usage("export");
    }
    if (!(db = cli_open("export", path, RG_OPEN_READONLY)))
        return RG_EXIT_FAIL;
    if (rg_db_read_begin(db) < 0) {
        cli_error("export", "%s", rg_db_errmsg(db));
        goto out_close;
    }
    rg_export_header(fmt, &buf);
    while ((rc = rg_export_rows(db, fmt, last, EXPORT_BATCH_ROWS, &buf, &last, NULL)) > 0)
        if (buf.len >= EXPORT_FLUSH_BYTES && flush(&buf) < 0)
            goto out_end;
    if (rc < 0) {
        cli_error("export", "%s", rg_db_errmsg(db));
        goto out_end;
    }
    if (flush(&buf) < 0)
        goto out_end;
    if (fflush(stdout) != 0) {
        cli_error("export", "writing to stdout: %s", strerror(errno));
        goto out_end;
    }
    status = RG_EXIT_OK;
out_end:
    rg_db_read_end(db);
out_close:
    rg_buf_free(&buf);
    rg_db_close(db);
    return status;
}
