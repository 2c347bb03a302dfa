/*
 * main.c: the `regfs` command: a table of subcommands, their help, and dispatch.
 *
 * Invoked as mount.regfs or mount.fuse.regfs (by mount(8) for an fstab line of type fuse.regfs), or
 * as `regfs DB MOUNTPOINT -o ...` (by mount.fuse3, mount(8)'s fallback), it is `regfs mount`.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

const char *rg_progname = "regfs";

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *synopsis;    /* after "regfs NAME " */
    const char *summary;     /* one line for `regfs --help` */
    const char *help;        /* the rest of `regfs NAME --help` */
};

static const struct command commands[] = {
    { "init", cmd_init, "DB",
      "create a new register",
      "Creates the register DB (an SQLite file, mode 0600) with the current schema and the default\n"
      "list of other parties and proscribed organisations (replace it with `regfs import DB\n"
      "organisations FILE`).  An existing register is left as it is, but upgraded to the current schema.\n" },
    { "import", cmd_import, "[--quiet] [--rejects FILE] DB applicants|watchlist|organisations FILE.csv",
      "import applicants, the watch list or the organisations from CSV",
      "Reads FILE.csv (RFC 4180, UTF-8, a header row; columns found by name in any order; `-` reads\n"
      "stdin) and imports its good rows in one transaction, each change written to the audit log.\n"
      "Rows that fail validation are not imported: each is reported on stderr with its line number,\n"
      "column and reason, and written with an extra `error` column to FILE.rejects.csv beside the\n"
      "input (or to --rejects FILE; stdin has none unless given).  Importing the same file again\n"
      "changes nothing and says so; a changed row updates the record and is audited as a change.\n"
      "Records absent from an applicants or watchlist file stay (import is an upsert).  A progress\n"
      "bar is drawn when stderr is a terminal, unless --quiet.\n"
      "\n"
      "Columns:\n"
      "  applicants     id given_name family_name date_of_birth email postcode clp kind joined_at\n"
      "                 declared_party aims_values\n"
      "  watchlist      id given_name family_name date_of_birth email postcode organisation role source\n"
      "  organisations  name aliases (aliases separated by `|`); replaces the whole list (but\n"
      "                 removes nothing when rows were rejected)\n"
      "\n"
      "Exit status: 0 all rows imported (or nothing to change), 3 some rows rejected, 1 failure\n"
      "(nothing imported), 2 usage.\n" },
    { "verify", cmd_verify, "DB [--checkpoint FILE]... [--pubkey PUBLIC]",
      "re-check the audit log's hash chain, and that it still holds signed checkpoints",
      "Recomputes every audit event's SHA-256 from its fields and its predecessor's hash and checks\n"
      "that the sequence numbers have no gaps, and that every applicant's verdict is the one its last\n"
      "verdict event in the log gives (a verdict and its event are written together, so a difference\n"
      "means the file was changed behind regfs's back).  Prints the number of events and the head on\n"
      "success; otherwise names the first broken event or differing applicant.  Exit status 0 when\n"
      "all holds, 4 when it does not.\n"
      "\n"
      "A chain only proves that the log agrees with itself: whoever can write the file can cut its\n"
      "tail off, or rewrite an event and recompute every hash after it.  With --checkpoint FILE (a\n"
      "statement printed by `regfs checkpoint`, kept off the machine; repeatable) and --pubkey PUBLIC\n"
      "(the public key from `regfs keygen`), verify also checks each statement's signature with that\n"
      "key, refusing one signed by another key or altered by a single byte, and proves that the log\n"
      "still holds, unchanged, every event the checkpoint covered.  It names the violated checkpoint:\n"
      "  the log ends at event N, before event M        (a cut tail, or an older copy)\n"
      "  event M's hash differs                          (the log was rewritten)\n"
      "  the chain is broken at event K, before event M  (an event changed, removed or moved)\n"
      "On success it adds one line per checkpoint: `checkpoint FILE holds: event M HASH, signed AT`.\n"
      "\n"
      "Exit status: 0 the chain and every checkpoint hold, 4 they do not (or a statement is refused),\n"
      "1 a file could not be read, 2 usage.\n" },
    { "backup", cmd_backup, "[--force] DB FILE",
      "copy the register, while it is in use, into one standalone file",
      "Writes a consistent copy of the register, as it was when the copy began, to FILE: one SQLite\n"
      "file with nothing beside it (no -wal or -shm), mode 0600, written under a temporary name in\n"
      "FILE's folder, synced and renamed, so FILE is either the whole copy or untouched.  The register\n"
      "may be mounted and written meanwhile: nobody waits for the copy.  Prints FILE's size and the\n"
      "audit head it holds.  An existing FILE is refused unless --force; the register itself always.\n"
      "A mounted register offers the same copy as snapshot/register.db.  `regfs restore` puts one back.\n"
      "\n"
      "Exit status: 0 copied, 1 failure (FILE untouched), 2 usage.\n" },
    { "restore", cmd_restore, "[--force] [--expect-head SEQ:HASH]... FILE DB",
      "check a copy and put it in place as the register",
      "Copies FILE beside DB and checks that copy before anything else: its structure (PRAGMA\n"
      "integrity_check), its whole audit chain, and that it holds each --expect-head SEQ:HASH (event\n"
      "SEQ with that hash: a head you kept, from `regfs verify`, audit/head, or a checkpoint).  A copy\n"
      "that is damaged, whose chain is broken, that ends before an expected head (older) or has\n"
      "another hash there (rewritten) is refused and DB is left as it was.  A good copy is upgraded\n"
      "to the current schema, given a register.restore event (who, from where, the copy's head and\n"
      "the replaced register's head) and renamed over DB; stale DB-wal, DB-shm and DB-journal files\n"
      "are removed, since SQLite would replay them into the restored file.\n"
      "\n"
      "An existing DB is replaced only with --force.  Stop the daemon first (unmount): a DB that is in\n"
      "use is refused, but a program that opens it while the restore runs is not noticed.\n"
      "\n"
      "Exit status: 0 restored, 4 the copy was refused (damaged, chain broken, older or rewritten),\n"
      "1 failure (not a regfs copy, DB exists or is in use, no space), 2 usage.\n" },
    { "keygen", cmd_keygen, "SECRET PUBLIC",
      "make the Ed25519 key pair that signs checkpoints",
      "Writes a new key pair: SECRET (mode 0600) signs checkpoints, PUBLIC lets anyone check them.\n"
      "Both are two lines of text: `regfs-ed25519-secret v1` and the 32-byte Ed25519 seed in hex, or\n"
      "`regfs-ed25519-public v1` and the 32-byte public key in hex.  Existing files are never\n"
      "overwritten.  Keep SECRET away from the register's machine if you can (it is needed only when\n"
      "a checkpoint is made) and out of its backups; give PUBLIC to the auditors.\n"
      "\n"
      "Exit status: 0 made, 1 failure (nothing written), 2 usage.\n" },
    { "checkpoint", cmd_checkpoint, "DB --key SECRET",
      "sign the audit chain's head and print the statement",
      "Re-checks the whole audit chain (a broken one is not signed: exit 4), then signs its head with\n"
      "the secret key and writes the statement to stdout:\n"
      "  regfs checkpoint v1\n"
      "  register: <the register's id>\n"
      "  seq: <the head's sequence number>\n"
      "  hash: <the head's hash>\n"
      "  at: <UTC time>\n"
      "  key: <the public key, hex>\n"
      "  signature: <Ed25519 signature of the six lines above, newlines included, hex>\n"
      "The checkpoint is also recorded in the register (an audit.checkpoint event, and a file in a\n"
      "mount's audit/checkpoints/).  Keep the statement off the machine: mail it to the auditor,\n"
      "print it.  `regfs verify DB --checkpoint FILE --pubkey PUBLIC` proves the log against it.\n"
      "\n"
      "Exit status: 0 signed, 4 the chain is broken, 1 failure, 2 usage.\n" },
    { "log", cmd_log, "DB [--applicant ID] [--day YYYY-MM-DD] [--from SEQ]",
      "print the audit log, one event per line",
      "Prints the audit events, oldest first, in the format of the mounted audit/log (audit.h and\n"
      "README.md document it): SEQ, AT, ACTOR, ACTION, APPLICANT, DETAIL and HASH, tab-separated.\n"
      "scripts/verify-audit re-checks such a copy with standard tools.\n" },
    { "stats", cmd_stats, "DB",
      "print counts: applicants by kind and verdict, the review queue, the audit head",
      "Prints `key: value` lines, the same as the mounted register's stats file.\n" },
    { "config", cmd_config, "DB [KEY [VALUE]]",
      "show or change the vetting settings",
      "Without KEY, lists every setting as `key: value` with its description.  With KEY, prints its\n"
      "value.  With KEY and VALUE, validates and stores it; the change is audited.  An empty VALUE\n"
      "(\"\") resets an optional setting.\n" },
    { "vet", cmd_vet, "[--quiet] DB [all|pending|ID...]",
      "vet the register (default: the pending applicants)",
      "Runs the vetting rules over the chosen applicants as a job recorded in the register, in\n"
      "batches, so that readers are never blocked for long and an interrupted job can resume.  A\n"
      "person's decision is never overwritten; where the rules now disagree with it the applicant is\n"
      "marked auto_disagrees.  A progress bar is drawn when stderr is a terminal.\n" },
    { "export", cmd_export, "DB [--format tsv|jsonl]",
      "write the register with its verdicts to stdout",
      "TSV (default): a header line, then one line per applicant ordered by id, with the columns\n"
      "  id kind given_name family_name date_of_birth email postcode clp joined_at declared_party\n"
      "  aims_values verdict rule score decided_by ballot\n"
      "tabs, newlines and backslashes in values escaped as \\t, \\n and \\\\.  JSONL: one compact JSON\n"
      "object per applicant with the same fields plus its reasons.  The bytes are those of the mounted\n"
      "register.tsv and register.jsonl.\n" },
    { "mount", cmd_mount, "DB MOUNTPOINT [-f] [-o OPTIONS]",
      "serve the register as a filesystem",
      "Mounts the register DB at MOUNTPOINT with FUSE, as a tree of files for ls, cat, grep -r, find,\n"
      "jq, tar, rsync, restic and tail -f: the applicants with their verdicts and reasons, folders by\n"
      "verdict, CLP and day joined, the watch list, the audit log, re-vet jobs and a snapshot for\n"
      "backups.  README at the top of the mount describes the tree and the commands that the ctl files\n"
      "take (`echo 'approve REASON' > applicants/ID/ctl`, `echo 'revet all' > ctl`).  DB is checked\n"
      "before anything is mounted.  Without -f the command returns once the mount is ready and the\n"
      "daemon goes on in the background, logging to syslog.\n"
      "\n"
      "Unmount with `fusermount3 -u MOUNTPOINT` (or umount(8) as root), or send the daemon SIGTERM or\n"
      "SIGINT: it unmounts and exits 0.  A re-vet job still running stops at its next batch and\n"
      "resumes at the next mount.\n"
      "\n"
      "Options:\n"
      "  -f                  stay in the foreground, logging to stderr\n"
      "  -o group=NAME       the group of every file (default: your primary group); its members may\n"
      "                      read the register and write ctl files\n"
      "  -o allow_other      let users other than you in, as the modes allow (default_permissions is\n"
      "                      always on); needs user_allow_other in /etc/fuse.conf unless you are root\n"
      "  -o ro               read-only: every ctl write fails with EROFS, and no job runs\n"
      "  -o noprefetch       do not read the register into the page cache at mount (by default a\n"
      "                      background thread reads it once, unless it is more than half of the\n"
      "                      memory available, so that the first listings need not wait on the disk)\n"
      "  -o checkpoint_key=SECRET\n"
      "                      the secret key (from `regfs keygen`, mode 0600) that `echo checkpoint >\n"
      "                      ctl` signs the audit chain's head with; without it that write fails\n"
      "  -d, -o debug        print every FUSE request (implies -f)\n"
      "  -s                  serve requests on one thread\n"
      "  -o max_threads=N    at most N threads serving requests (default 10)\n"
      "  Other -o options are passed to FUSE and the kernel (mount.fuse3(8)): nosuid, nodev, noatime...\n"
      "\n"
      "Permissions: everything belongs to the mounting user and the group; folders are 0550, files\n"
      "0440, ctl files 0660 (read as empty); nothing is world-accessible.  Personal data is in every file: mount with\n"
      "a group that holds only the people entitled to see it.\n"
      "\n"
      "In /etc/fstab (mount(8) runs /sbin/mount.fuse.regfs, a symlink to regfs that `make install`\n"
      "makes):\n"
      "  /srv/register.db  /srv/register  fuse.regfs  defaults,group=compliance  0 0\n"
      "\n"
      "Exit status: 0 unmounted cleanly (or, without -f, mounted); 1 the register could not be opened\n"
      "or mounted; 2 usage.\n" },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s %s: ", rg_progname, cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_usage(const char *cmd)
{
    const struct command *c = find(cmd);

    if (c)
        fprintf(stderr, "usage: %s %s %s\nTry `%s %s --help'.\n", rg_progname, c->name, c->synopsis,
                rg_progname, c->name);
    return RG_EXIT_USAGE;
}

int cli_help(const char *cmd)
{
    const struct command *c = find(cmd);

    if (!c)
        return RG_EXIT_USAGE;
    printf("usage: %s %s %s\n\n%s: %s.\n\n%s", rg_progname, c->name, c->synopsis, c->name, c->summary,
           c->help);
    return RG_EXIT_OK;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

rg_db *cli_open(const char *cmd, const char *path, int flags)
{
    rg_db *db = NULL;

    if (rg_db_open(path, flags, &db) < 0) {
        cli_error(cmd, "%s", rg_db_errmsg(db));
        rg_db_close(db);
        return NULL;
    }
    return db;
}

static int usage_all(FILE *f)
{
    fprintf(f,
            "usage: %s COMMAND [ARGS]\n\n"
            "regfs keeps a party's membership register in one SQLite file, vets applicants against\n"
            "other parties' lists and a watch list, keeps a hash-chained audit log of every change, and\n"
            "serves it all as a filesystem.\n\nCommands:\n",
            rg_progname);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`%s COMMAND --help' describes a command; regfs(1) describes them all.\n"
               "Exit status: 0 success, 1 failure, 2 usage, 3 rows rejected by import,\n"
               "4 audit chain broken, a checkpoint violated or a copy refused.\n", rg_progname);
    return f == stdout ? RG_EXIT_OK : RG_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    const struct command *c;

    if (strcmp(base, "mount.regfs") == 0 || strcmp(base, "mount.fuse.regfs") == 0)
        return cmd_mount(argc, argv);
    if (argc < 2)
        return usage_all(stderr);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
        return argc > 2 && find(argv[2]) ? cli_help(argv[2]) : usage_all(stdout);
    if (strcmp(argv[1], "--version") == 0) {
        printf("regfs 0.1 (schema %d)\n", rg_db_schema_version());
        return RG_EXIT_OK;
    }
    if (!(c = find(argv[1]))) {
        /* mount.fuse3 (mount(8)'s fallback for type fuse.regfs) runs `regfs DB MOUNTPOINT -o ...`. */
        struct stat sb;
        if (argc >= 3 && stat(argv[1], &sb) == 0 && S_ISREG(sb.st_mode))
            return cmd_mount(argc, argv);
        fprintf(stderr, "%s: unknown command '%s'\n", rg_progname, argv[1]);
        return usage_all(stderr);
    }
    if (cli_wants_help(argc - 1, argv + 1))
        return cli_help(c->name);
    return c->run(argc - 1, argv + 1);
}
