/*
 * readme.c: the README at the top of the mount, made from the tables the code runs on (layout.c's
 * tree, ctl.c's grammars), so that it cannot drift from what the filesystem does.
 */
#include <stdio.h>
#include <string.h>

#include "fs.h"

/* Appends text wrapped at width columns: the first word at column col (the caller has written up to
 * there), every later line indented by indent spaces. */
static void add_wrapped(rg_buf *b, const char *text, int col, int indent, int width)
{
    int first = 1;

    while (*text) {
        size_t w = strcspn(text, " ");
        if (!first) {
            if (col + 1 + (int)w > width) {
                rg_buf_addf(b, "\n%*s", indent, "");
                col = indent;
            } else {
                rg_buf_add(b, " ", 1);
                col++;
            }
        }
        rg_buf_add(b, text, w);
        col += (int)w;
        first = 0;
        text += w;
        while (*text == ' ')
            text++;
    }
    rg_buf_add(b, "\n", 1);
}

static void add_entry(rg_buf *b, const char *name, const char *help, int col)
{
    int n = (int)strlen(name) + 2;

    rg_buf_addf(b, "  %s", name);
    if (n + 2 > col)
        rg_buf_addf(b, "\n%*s", col, "");
    else
        rg_buf_addf(b, "%*s", col - n, "");
    add_wrapped(b, help, col, col, 100);
}

void fs_readme_make(struct rg_fs *fs, rg_buf *b)
{
    const fs_ctl_doc *ctl;
    const fs_doc *docs;
    const char *file = NULL;
    size_t n;

    rg_buf_adds(b,
                "regfs: the membership register, served live from its database\n"
                "\n"
                "Everything here is read from the register as it is now: the verdicts, the\n"
                "reasons behind them and the audit log that records every change.  Files are\n"
                "read-only; the only way to change the register through this folder is to write a\n"
                "command to a ctl file.  Nothing can be created, renamed or removed.\n"
                "\n"
                "WHAT IS HERE\n");
    docs = fs_tree_docs(&n);
    for (size_t i = 0; i < n; i++)
        add_entry(b, docs[i].path, docs[i].help, 36);

    rg_buf_adds(b,
                "\n"
                "CONTROL FILES\n"
                "One command per line; several lines may be written at once (one write), and such a\n"
                "write is checked whole before any of it runs.  An unknown command, a missing\n"
                "reason, an unknown id, text that is not UTF-8 or a write of more than 65536 bytes\n"
                "fails the write with EINVAL (\"Invalid argument\") and changes nothing; the attempt\n"
                "is recorded in the audit log as ctl.refused, with the reason.  Every accepted\n"
                "command is recorded with the name and uid of the user who wrote it.\n"
                "For example:\n"
                "  echo 'refer the CLP reports a public statement' > applicants/1000123/ctl\n"
                "  echo 'revet clp bristol-west' > ctl; cat jobs/*\n");
    ctl = fs_ctl_docs(&n);
    for (size_t i = 0; i < n; i++) {
        if (!file || strcmp(file, ctl[i].file) != 0) {
            file = ctl[i].file;
            rg_buf_addf(b, "\n%s:\n", file);
        }
        for (size_t f = 0; ctl[i].forms[f]; f++) {
            if (ctl[i].forms[f + 1])
                rg_buf_addf(b, "  %s\n", ctl[i].forms[f]);
            else
                add_entry(b, ctl[i].forms[f], ctl[i].help, 36);
        }
    }

    rg_buf_adds(b,
                "\n"
                "BEHAVIOUR\n"
                "- Sizes in stat are exact, and a file that is open keeps the version it was opened\n"
                "  with to the end, so cp, tar, rsync and restic never see a file change under them.\n"
                "- Inode numbers are stable across remounts; mtime is the time of the last change to\n"
                "  what a file shows, so an incremental backup moves only what changed.\n"
                "- Changes show at once: after a ctl write the next read shows them; tail -f\n"
                "  audit/log prints events as they happen; verdicts/ follows the verdicts.\n"
                "- Files belong to the mounting user and the group given by -o group=NAME: folders\n"
                "  0550, files 0440, ctl files 0660 (written by that group; they read as empty).\n"
                "  Nothing is world-accessible.  Writes elsewhere fail with EACCES, and every write\n"
                "  fails with EROFS when mounted with -o ro.\n"
                "- Unmount with `fusermount3 -u MOUNTPOINT` (or stop the daemon with SIGTERM); a\n"
                "  re-vet job that is running stops at its next batch and resumes at the next\n"
                "  mount.\n");
    (void)fs;
}
