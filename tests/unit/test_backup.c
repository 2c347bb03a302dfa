/*
 * test_backup.c: whole copies of the register and restoring them (backend/backup.c).
 *
 * What a party relies on: a copy taken while the register is being written is one committed state of
 * it, whole, in one file that opens anywhere; and a restore puts back only a copy that is sound,
 * whose chain holds and that is not older than a head someone kept, leaving the register untouched
 * otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "backup.h"
#include "checkpoint.h"
#include "db.h"
#include "db_internal.h"
#include "fixture.h"

struct fixture {
    char dir[256];
    char path[300], copy[300], dest[300];
    rg_db *db;
};

static const rg_actor ALICE = { "alice", 1000 };

static int64_t append1(rg_db *db, const char *action, json_t *detail)
{
    int64_t seq;

    assert_int_equal(rg_db_begin(db), 0);
    seq = rg_audit_append(db, &ALICE, action, 0, detail);
    if (seq < 0)
        fail_msg("rg_audit_append: %s", rg_db_errmsg(db));
    assert_int_equal(rg_db_commit(db), 0);
    return seq;
}

static void some_events(rg_db *db, int n)
{
    for (int i = 0; i < n; i++)
        append1(db, "setting.set", json_pack("{s:s, s:i}", "key", "auto_exclude", "n", i));
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    if (fixture_register("backup", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->db) < 0)
        return -1;
    snprintf(f->copy, sizeof f->copy, "%s/copy.db", f->dir);
    snprintf(f->dest, sizeof f->dest, "%s/restored.db", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rg_db_close(f->db);
    fixture_remove(f->dir);
    free(f);
    return 0;
}

/* The names in the fixture's folder that start with a dot or end in -wal, -shm or -journal: what a
 * copy or a restore must not leave behind. */
static int leftovers(struct fixture *f, char *first, size_t len)
{
    DIR *d = opendir(f->dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        const char *s = e->d_name;
        size_t l = strlen(s);
        if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
            continue;
        /* The -wal and -shm of a register regfs has opened are its business (a read-only
         * connection leaves them); the restore tests check the restored file's themselves. */
        if (strncmp(s, "register.db", 11) == 0 || strncmp(s, "restored.db", 11) == 0)
            continue;
        if (s[0] == '.' || (l > 4 && strcmp(s + l - 4, "-wal") == 0) ||
            (l > 4 && strcmp(s + l - 4, "-shm") == 0) || (l > 8 && strcmp(s + l - 8, "-journal") == 0)) {
            if (n++ == 0)
                snprintf(first, len, "%s", s);
        }
    }
    closedir(d);
    return n;
}

static void no_leftovers(struct fixture *f)
{
    char name[256] = "";

    if (leftovers(f, name, sizeof name) > 0)
        fail_msg("left behind: %s", name);
}

/* Opens a copy read-only as regfs would and returns its event count; checks structure and chain. */
static int64_t copy_events(const char *path)
{
    rg_db *c = NULL;
    int64_t bad, n;

    if (rg_db_open(path, RG_OPEN_READONLY, &c) < 0)
        fail_msg("%s: %s", path, rg_db_errmsg(c));
    n = rg_backup_check(c, NULL, 0, &bad);
    if (n < 0)
        fail_msg("%s: %s", path, rg_db_errmsg(c));
    rg_db_close(c);
    return n;
}

static int header_byte(const char *path, off_t at)
{
    unsigned char b = 0;
    int fd = open(path, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, at), 1);
    close(fd);
    return b;
}

static sqlite3 *attacker(const char *path)
{
    sqlite3 *s = NULL;

    assert_int_equal(sqlite3_open(path, &s), SQLITE_OK);
    sqlite3_busy_timeout(s, 5000);
    assert_int_equal(sqlite3_exec(s, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete",
                                  NULL, NULL, NULL), SQLITE_OK);
    return s;
}

/* ---- backup ---- */

static void test_backup_standalone(void **state)
{
    struct fixture *f = *state;
    rg_backup_info info;
    char hash[RG_HASH_HEX];
    struct stat sb;
    int64_t seq;

    some_events(f->db, 20);
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, &info), 0);
    assert_int_equal(info.head_seq, 20);
    assert_string_equal(info.head_hash, hash);
    assert_int_equal(stat(f->copy, &sb), 0);
    assert_int_equal(info.size, (int64_t)sb.st_size);
    assert_int_equal(sb.st_mode & 07777, 0600);            /* personal data */
    /* Rollback-journal mode in the header: nothing is needed beside it, nothing made beside it. */
    assert_int_equal(header_byte(f->copy, 18), 1);
    assert_int_equal(header_byte(f->copy, 19), 1);
    no_leftovers(f);
    assert_int_equal(copy_events(f->copy), 20);
    /* Opening it read-only made no -wal or -shm either. */
    no_leftovers(f);
    /* Its register is the same register: checkpoints of one hold for the other. */
    char a[RG_REGISTER_ID_LEN], b[RG_REGISTER_ID_LEN];
    rg_db *c = NULL;
    assert_int_equal(rg_db_open(f->copy, RG_OPEN_READONLY, &c), 0);
    assert_int_equal(rg_register_id(c, a), 0);
    assert_int_equal(rg_register_id(f->db, b), 0);
    assert_string_equal(a, b);
    rg_db_close(c);
}

static void test_backup_refuses(void **state)
{
    struct fixture *f = *state;
    rg_backup_info info;
    rg_db *ro = NULL;

    some_events(f->db, 3);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);
    some_events(f->db, 2);
    /* An existing file is kept unless replacing is asked for. */
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, &info), -EEXIST);
    assert_int_equal(copy_events(f->copy), 3);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, RG_BACKUP_REPLACE, &info), 0);
    assert_int_equal(copy_events(f->copy), 5);
    /* The register itself, never. */
    assert_int_equal(rg_backup_to_file(f->db, f->path, RG_BACKUP_REPLACE, &info), -EINVAL);
    assert_non_null(strstr(rg_db_errmsg(f->db), "the register itself"));
    /* Not from inside a write transaction: the copy would hold what is not committed. */
    assert_int_equal(rg_db_begin(f->db), 0);
    assert_int_equal(rg_backup_to_file(f->db, f->dest, 0, &info), -EINVAL);
    rg_db_rollback(f->db);
    /* A folder that does not exist. */
    assert_int_equal(rg_backup_to_file(f->db, "/nonexistent/dir/copy.db", 0, &info), -ENOENT);
    /* From a read-only handle, as `regfs backup` opens it. */
    assert_int_equal(rg_db_open(f->path, RG_OPEN_READONLY, &ro), 0);
    assert_int_equal(rg_backup_to_file(ro, f->dest, 0, &info), 0);
    assert_int_equal(info.head_seq, 5);
    rg_db_close(ro);
    no_leftovers(f);
}

static void test_backup_is_of_one_snapshot(void **state)
{
    struct fixture *f = *state;
    rg_backup_info info;
    rg_db *writer = NULL;
    char hash[RG_HASH_HEX];
    int64_t seq;

    some_events(f->db, 10);
    /* A read snapshot is open when another connection commits: the copy is of the snapshot. */
    assert_int_equal(rg_db_open(f->path, 0, &writer), 0);
    assert_int_equal(rg_db_read_begin(f->db), 0);
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    some_events(writer, 7);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, &info), 0);
    rg_db_read_end(f->db);
    assert_int_equal(info.head_seq, 10);
    assert_string_equal(info.head_hash, hash);
    assert_int_equal(copy_events(f->copy), 10);
    /* Without one, the copy is of the state when it began. */
    assert_int_equal(rg_backup_to_file(f->db, f->dest, 0, &info), 0);
    assert_int_equal(info.head_seq, 17);
    assert_int_equal(copy_events(f->dest), 17);
    rg_db_close(writer);
}

/* ---- a writer on another connection, committing batches of EVENTS_PER_TXN while copies are made */

#define EVENTS_PER_TXN 5

struct writer {
    const char *path;
    atomic_int stop;
    atomic_long txns;
    int failed;
};

static void *write_loop(void *arg)
{
    struct writer *w = arg;
    rg_db *db = NULL;
    char pad[2048];

    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    if (rg_db_open(w->path, 0, &db) < 0) {
        w->failed = 1;
        rg_db_close(db);
        return NULL;
    }
    while (!atomic_load(&w->stop)) {
        if (rg_db_begin(db) < 0) {
            w->failed = 1;
            break;
        }
        for (int i = 0; i < EVENTS_PER_TXN; i++)
            if (rg_audit_append(db, &ALICE, "applicant.import", 0, json_pack("{s:s}", "pad", pad)) < 0)
                w->failed = 1;
        if (w->failed || rg_db_commit(db) < 0) {
            w->failed = 1;
            rg_db_rollback(db);
            break;
        }
        atomic_fetch_add(&w->txns, 1);
    }
    rg_db_close(db);
    return NULL;
}

static void test_backup_while_writing(void **state)
{
    struct fixture *f = *state;
    struct writer w = { .path = f->path };
    rg_backup_info info;
    pthread_t t;
    char name[320];
    int copies = 0, during = 0;

    /* A register of some size, so that a copy takes long enough for commits to land during it. */
    assert_int_equal(rg_db_begin(f->db), 0);
    for (int i = 0; i < 4000; i++)
        assert_true(rg_audit_append(f->db, &ALICE, "applicant.import", i + 1,
                                    json_pack("{s:i, s:s}", "id", i + 1, "name",
                                              "a name long enough to fill some pages of the register"))
                    > 0);
    assert_int_equal(rg_db_commit(f->db), 0);

    assert_int_equal(pthread_create(&t, NULL, write_loop, &w), 0);
    while (atomic_load(&w.txns) < 3)
        usleep(1000);
    for (int i = 0; i < 8 && !w.failed; i++) {
        long before = atomic_load(&w.txns);
        snprintf(name, sizeof name, "%s/copy-%d.db", f->dir, i);
        assert_int_equal(rg_backup_to_file(f->db, name, 0, &info), 0);
        long after = atomic_load(&w.txns);
        during += after > before;
        /* Whole transactions only, of a state between the copy's start and end, and its head is
         * exactly the copy's last event. */
        int64_t n = copy_events(name);
        assert_int_equal(n, info.head_seq);
        assert_int_equal((n - 4000) % EVENTS_PER_TXN, 0);
        assert_true(n >= 4000 + before * EVENTS_PER_TXN);
        assert_true(n <= 4000 + (after + 1) * EVENTS_PER_TXN);
        copies++;
        unlink(name);
    }
    atomic_store(&w.stop, 1);
    pthread_join(t, NULL);
    assert_false(w.failed);
    assert_int_equal(copies, 8);
    /* The writer was never held up: it committed while copies were being made. */
    assert_true(during > 0);
    no_leftovers(f);
}

static void test_backup_tmpfile(void **state)
{
    struct fixture *f = *state;
    rg_backup_info info;
    char buf[1 << 16];
    struct stat sb;
    ssize_t r;
    int fd, out;

    some_events(f->db, 12);
    assert_int_equal(rg_backup_to_tmpfile(f->db, f->dir, &fd, &info), 0);
    assert_true(fd >= 0);
    /* Unlinked: nothing in the folder, and the file lives on through the descriptor. */
    no_leftovers(f);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_nlink, 0);
    assert_int_equal((int64_t)sb.st_size, info.size);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(lseek(fd, 0, SEEK_CUR), 0);
    /* Later changes to the register do not move it. */
    some_events(f->db, 30);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal((int64_t)sb.st_size, info.size);
    /* Its bytes, written out as a backup tool would, are a register at head 12. */
    out = open(f->copy, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(out >= 0);
    while ((r = read(fd, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)r), r);
    assert_int_equal(r, 0);
    close(out);
    close(fd);
    assert_int_equal(copy_events(f->copy), 12);
    assert_int_equal(header_byte(f->copy, 18), 1);
    /* A folder that does not exist. */
    assert_int_equal(rg_backup_to_tmpfile(f->db, "/nonexistent", &fd, &info), -ENOENT);
    assert_int_equal(fd, -1);

    /* From a mount's reader: a read-only connection set to query_only. */
    rg_db *reader = NULL;
    assert_int_equal(rg_db_open(f->path, RG_OPEN_READONLY, &reader), 0);
    assert_int_equal(sqlite3_exec(reader->sql, "PRAGMA query_only = 1", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(rg_backup_to_tmpfile(reader, f->dir, &fd, &info), 0);
    assert_int_equal(info.head_seq, 42);
    close(fd);
    rg_db_close(reader);
    no_leftovers(f);
}

/* ---- restore ---- */

static int restore(struct fixture *f, const char *copy, int force, rg_head *heads, size_t n,
                   rg_restore_info *info, char *err, size_t errlen)
{
    rg_restore_opts o = { .who = &ALICE, .force = force, .expect = heads, .nexpect = n };

    return rg_restore(copy, f->dest, &o, info, err, errlen);
}

static int find_restore(const rg_audit_event *ev, void *arg)
{
    if (strcmp(ev->action, "register.restore") != 0)
        return 0;
    snprintf(arg, 1024, "%s %s", ev->actor, ev->detail);
    return 1;
}

static void test_restore_good(void **state)
{
    struct fixture *f = *state;
    rg_restore_info info;
    rg_backup_info b;
    char err[512], detail[1024], want[512];
    rg_audit_filter all = { 0 };
    struct stat sb;
    rg_db *r = NULL;

    some_events(f->db, 9);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, &b), 0);
    some_events(f->db, 4);   /* the register moves on; the copy does not */
    if (restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err) != 0)
        fail_msg("restore: %s", err);
    assert_int_equal(info.events, 9);
    assert_int_equal(info.head_seq, 9);
    assert_string_equal(info.head_hash, b.head_hash);
    assert_int_equal(info.event, 10);
    assert_false(info.replaced);
    assert_int_equal(stat(f->dest, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(header_byte(f->dest, 18), 1);
    no_leftovers(f);
    char side[320];
    for (int i = 0; i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", f->dest, (const char *[]){ "-wal", "-shm", "-journal" }[i]);
        assert_int_equal(access(side, F_OK), -1);
    }

    /* The restored register: whole, its chain intact, and the restore on the record. */
    assert_int_equal(copy_events(f->dest), 10);
    assert_int_equal(rg_db_open(f->dest, 0, &r), 0);
    assert_int_equal(rg_audit_scan(r, &all, find_restore, detail), 1);
    char *real = realpath(f->copy, NULL);
    snprintf(want, sizeof want, "alice:1000 {\"from\":\"%s\",\"hash\":\"%s\",\"replaced\":false,\"seq\":9}",
             real, b.head_hash);
    free(real);
    assert_string_equal(detail, want);
    /* It carries on as a register. */
    assert_int_equal(append1(r, "setting.set", json_object()), 11);
    rg_db_close(r);
    assert_int_equal(copy_events(f->dest), 11);

    /* The copy itself was not changed by being restored. */
    assert_int_equal(copy_events(f->copy), 9);
}

static void test_restore_replaces_only_when_told(void **state)
{
    struct fixture *f = *state;
    rg_restore_info info;
    char err[512], hash[RG_HASH_HEX];
    int64_t seq;
    rg_db *r = NULL;

    some_events(f->db, 5);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), 0);
    /* The restored register lives on: 3 more events. */
    assert_int_equal(rg_db_open(f->dest, 0, &r), 0);
    some_events(r, 3);
    assert_int_equal(rg_audit_head(r, &seq, hash), 0);
    assert_int_equal(seq, 9);
    rg_db_close(r);

    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EEXIST);
    assert_non_null(strstr(err, "--force"));
    assert_int_equal(copy_events(f->dest), 9);
    no_leftovers(f);
    assert_int_equal(restore(f, f->copy, 1, NULL, 0, &info, err, sizeof err), 0);
    assert_true(info.replaced);
    assert_int_equal(info.replaced_seq, 9);              /* what was lost is on the record */
    assert_string_equal(info.replaced_hash, hash);
    assert_int_equal(copy_events(f->dest), 6);
    no_leftovers(f);

    /* Restoring a file onto itself. */
    assert_int_equal(rg_restore(f->dest, f->dest, &(rg_restore_opts){ .who = &ALICE, .force = 1 },
                                &info, err, sizeof err), -EINVAL);
}

static void test_restore_refuses_in_use(void **state)
{
    struct fixture *f = *state;
    rg_restore_info info;
    char err[512], hash[RG_HASH_HEX];
    int64_t seq;
    rg_db *daemon = NULL;

    some_events(f->db, 4);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);
    some_events(f->db, 2);
    /* The register itself is in use by the fixture's connection (which has read it). */
    assert_int_equal(rg_restore(f->copy, f->path, &(rg_restore_opts){ .who = &ALICE, .force = 1 },
                                &info, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "in use"));
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(seq, 6);
    assert_int_equal(copy_events(f->path), 6);
    /* A daemon's reader thread that has read once, on another register (the daemon's writer opened
     * it first, read-write, which is what puts a register in WAL mode). */
    rg_db *writer = NULL;
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), 0);
    assert_int_equal(rg_db_open(f->dest, 0, &writer), 0);
    assert_int_equal(rg_db_open(f->dest, RG_OPEN_READONLY, &daemon), 0);
    assert_int_equal(rg_audit_head(daemon, &seq, hash), 0);
    rg_db_close(writer);
    assert_int_equal(restore(f, f->copy, 1, NULL, 0, &info, err, sizeof err), -EBUSY);
    rg_db_close(daemon);
    assert_int_equal(restore(f, f->copy, 1, NULL, 0, &info, err, sizeof err), 0);
}

static void test_restore_refuses_tampered(void **state)
{
    struct fixture *f = *state;
    rg_restore_info info;
    char err[512];
    sqlite3 *s;

    some_events(f->db, 6);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);
    s = attacker(f->copy);
    assert_int_equal(sqlite3_exec(s, "UPDATE audit SET actor = 'mallory:1001' WHERE seq = 4", NULL, NULL,
                                  NULL), SQLITE_OK);
    sqlite3_close(s);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "audit event 4:"));
    assert_int_equal(access(f->dest, F_OK), -1);
    no_leftovers(f);

    /* Over an existing register, with --force: it stays as it was. */
    some_events(f->db, 1);
    assert_int_equal(rg_backup_to_file(f->db, f->dest, 0, NULL), 0);
    assert_int_equal(restore(f, f->copy, 1, NULL, 0, &info, err, sizeof err), -EBADMSG);
    assert_int_equal(copy_events(f->dest), 7);
    no_leftovers(f);
}

static void test_restore_refuses_older(void **state)
{
    struct fixture *f = *state;
    rg_restore_info info;
    rg_head heads[2];
    char err[512], hash[RG_HASH_HEX], spec[128];
    int64_t seq;

    some_events(f->db, 5);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    some_events(f->db, 3);
    /* The head someone kept, as audit/head shows it: 8. The copy ends at 5. */
    char h8[RG_HASH_HEX];
    assert_int_equal(rg_audit_head(f->db, &seq, h8), 0);
    snprintf(spec, sizeof spec, "%" PRId64 " %s\n", seq, h8);
    assert_int_equal(rg_head_parse(spec, &heads[0]), 0);
    assert_int_equal(restore(f, f->copy, 0, heads, 1, &info, err, sizeof err), -ESTALE);
    assert_int_equal(heads[0].state, RG_HEAD_TRUNCATED);
    assert_string_equal(heads[0].why, "the log ends at event 5, before event 8");
    assert_int_equal(access(f->dest, F_OK), -1);

    /* A head the copy holds, and one it holds with another hash (a rewritten copy). */
    snprintf(spec, sizeof spec, "5:%s", hash);
    assert_int_equal(rg_head_parse(spec, &heads[0]), 0);
    snprintf(spec, sizeof spec, "3:%s", hash);
    assert_int_equal(rg_head_parse(spec, &heads[1]), 0);
    assert_int_equal(restore(f, f->copy, 0, heads, 2, &info, err, sizeof err), -ESTALE);
    assert_int_equal(heads[0].state, RG_HEAD_HOLDS);
    assert_int_equal(heads[1].state, RG_HEAD_REWRITTEN);
    assert_non_null(strstr(err, "event 3's hash differs"));
    assert_int_equal(access(f->dest, F_OK), -1);
    if (restore(f, f->copy, 0, heads, 1, &info, err, sizeof err) != 0)
        fail_msg("restore with a held head: %s", err);
    no_leftovers(f);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void test_restore_refuses_damaged(void **state)
{
    struct fixture *f = *state;
    rg_restore_info info;
    struct stat sb;
    char err[512];
    int fd;

    assert_int_equal(rg_db_begin(f->db), 0);
    for (int i = 0; i < 500; i++)
        assert_true(rg_audit_append(f->db, &ALICE, "applicant.import", i + 1,
                                    json_pack("{s:i, s:s}", "id", i + 1, "n", "some text to fill pages"))
                    > 0);
    assert_int_equal(rg_db_commit(f->db), 0);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);
    assert_int_equal(stat(f->copy, &sb), 0);
    assert_true(sb.st_size > 16 * 4096);

    /* Pages overwritten in the middle (a bad disk, a torn copy). */
    char junk[8192];
    memset(junk, 0x5a, sizeof junk);
    fd = open(f->copy, O_WRONLY);
    assert_int_equal(pwrite(fd, junk, sizeof junk, sb.st_size / 2 & ~4095L), (ssize_t)sizeof junk);
    close(fd);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EUCLEAN);
    assert_non_null(strstr(err, "damaged"));
    assert_int_equal(access(f->dest, F_OK), -1);

    /* Cut short. */
    unlink(f->copy);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);
    assert_int_equal(truncate(f->copy, sb.st_size / 2), 0);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EUCLEAN);

    /* Not SQLite at all, SQLite but not a register, an empty file, no file. */
    write_file(f->copy, "id,given_name\n1,Bill\n", 21);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not an SQLite database"));
    unlink(f->copy);
    sqlite3 *s;
    assert_int_equal(sqlite3_open(f->copy, &s), SQLITE_OK);
    assert_int_equal(sqlite3_exec(s, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(s);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not a regfs database"));
    write_file(f->copy, "", 0);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EINVAL);
    unlink(f->copy);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -ENOENT);
    assert_int_equal(access(f->dest, F_OK), -1);
    no_leftovers(f);
}

static void copy_file(const char *from, const char *to)
{
    char buf[1 << 16];
    ssize_t n;
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);

    assert_true(in >= 0 && out >= 0);
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    assert_int_equal(n, 0);
    close(in);
    close(out);
}

static void test_restore_stale_sidecars(void **state)
{
    struct fixture *f = *state;
    rg_restore_info info;
    char err[512], side[320], junk[4096];
    rg_db *r = NULL;

    some_events(f->db, 5);
    assert_int_equal(rg_backup_to_file(f->db, f->copy, 0, NULL), 0);

    /* A live database is not a copy: its -wal beside it holds commits the file lacks. */
    snprintf(side, sizeof side, "%s-wal", f->copy);
    memset(junk, 1, sizeof junk);
    write_file(side, junk, sizeof junk);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "live database"));
    unlink(side);

    /* A -wal left where the register was: without --force it is not touched; with it, it is removed
     * rather than replayed into the restored file. */
    snprintf(side, sizeof side, "%s-wal", f->dest);
    write_file(side, junk, sizeof junk);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EEXIST);
    assert_int_equal(access(side, F_OK), 0);
    assert_int_equal(restore(f, f->copy, 1, NULL, 0, &info, err, sizeof err), 0);
    assert_int_equal(access(side, F_OK), -1);

    /* Over a register that crashed with commits in its WAL (the WAL saved while it was open, put
     * back after it closed): they are part of the replaced register, never replayed into the
     * restored file. */
    char saved[320];
    snprintf(saved, sizeof saved, "%s/saved-wal", f->dir);
    assert_int_equal(rg_db_open(f->dest, 0, &r), 0);
    some_events(r, 3);
    copy_file(side, saved);
    rg_db_close(r);
    assert_int_equal(access(side, F_OK), -1);   /* closing folded it in */
    assert_int_equal(rename(saved, side), 0);
    assert_int_equal(restore(f, f->copy, 1, NULL, 0, &info, err, sizeof err), 0);
    assert_int_equal(info.replaced_seq, 9);     /* the crashed register's head, WAL included */
    assert_int_equal(copy_events(f->dest), 6);
    no_leftovers(f);

    /* The same, with the crashed register's file gone and only its WAL left: a valid WAL, which
     * SQLite would replay into whatever file is put at that name. */
    assert_int_equal(rg_db_open(f->dest, 0, &r), 0);
    some_events(r, 40);
    copy_file(side, saved);
    rg_db_close(r);
    assert_int_equal(unlink(f->dest), 0);
    assert_int_equal(rename(saved, side), 0);
    assert_int_equal(restore(f, f->copy, 0, NULL, 0, &info, err, sizeof err), -EEXIST);
    assert_int_equal(restore(f, f->copy, 1, NULL, 0, &info, err, sizeof err), 0);
    assert_false(info.replaced);
    assert_int_equal(access(side, F_OK), -1);
    assert_int_equal(copy_events(f->dest), 6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_standalone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_is_of_one_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_while_writing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_tmpfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_replaces_only_when_told, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_refuses_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_refuses_tampered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_refuses_older, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_refuses_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_stale_sidecars, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
