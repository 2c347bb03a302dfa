/*
 * cli.h: what the `regfs` subcommands share: the exit codes, error reporting and opening the register.
 *
 * Each subcommand is `int cmd_NAME(int argc, char **argv)` in cli/cmd_NAME.c, with argv[0] the
 * subcommand's name, and returns an exit code.  Their help texts live in the table in cli/main.c.
 */
#ifndef RG_CLI_H
#define RG_CLI_H

#include "db.h"

/* Exit codes (documented in README.md and regfs(1)). */
enum {
    RG_EXIT_OK = 0,
    RG_EXIT_FAIL = 1,       /* the operation failed; nothing was changed */
    RG_EXIT_USAGE = 2,      /* bad command line */
    RG_EXIT_REJECTED = 3,   /* import: some rows were rejected (the good ones were imported) */
    RG_EXIT_TAMPERED = 4,   /* verify/restore: the audit chain or a checkpoint does not hold */
};

extern const char *rg_progname;   /* "regfs" */

/* "regfs CMD: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the subcommand's usage line to stderr and returns RG_EXIT_USAGE. */
int cli_usage(const char *cmd);

/* Prints the full help of a subcommand to stdout and returns RG_EXIT_OK. */
int cli_help(const char *cmd);

/* True when argv holds -h or --help anywhere before "--". */
int cli_wants_help(int argc, char **argv);

/* Opens the register for a subcommand; prints the reason and returns NULL on failure. */
rg_db *cli_open(const char *cmd, const char *path, int flags);

/* Subcommands. */
int cmd_init(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_vet(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);

#endif
