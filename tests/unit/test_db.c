/*
 * test_db.c: opening the register (backend/db.c): file mode, identity checks, migrations, the
 * connection's pragmas and transactions.
 *
 * Each test works in its own mkdtemp directory.  Old databases are built the way an older regfs
 * left them: the first v migrations of schema.c run by a raw SQLite connection, then the
 * application_id and user_version that db.c stamps.  The migration tests loop over every version
 * from 0 to the current one, so they hold however many migrations are appended later.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "db.h"
#include "db_internal.h"

#define REGFS_APPLICATION_ID 0x72676673   /* "rgfs", as db.c stamps it */

struct tmp {
    char dir[256];
    char path[300];
};

static int setup(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    const char *base = getenv("TMPDIR");

    if (!t)
        return -1;
    snprintf(t->dir, sizeof t->dir, "%s/regfs-test-db-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(t->dir)) {
        free(t);
        return -1;
    }
    snprintf(t->path, sizeof t->path, "%s/register.db", t->dir);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct tmp *t = *state;
    DIR *d = opendir(t->dir);
    struct dirent *e;
    char p[600];

    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
        if (unlink(p) < 0)
            rmdir(p);
    }
    if (d)
        closedir(d);
    rmdir(t->dir);
    free(t);
    return 0;
}

/* ---- a raw SQLite connection, as another program (or an attacker) would use ---- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *s = NULL;

    if (sqlite3_open_v2(path, &s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        fail_msg("sqlite3_open %s: %s", path, s ? sqlite3_errmsg(s) : "out of memory");
    return s;
}

static void raw_exec(sqlite3 *s, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(s, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static int64_t raw_int(sqlite3 *s, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;

    if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(s));
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Copies the first column of the first row into out ("" when there is none). */
static void raw_text(sqlite3 *s, const char *sql, char *out, size_t outlen)
{
    sqlite3_stmt *st;

    *out = '\0';
    if (sqlite3_prepare_v2(s, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(s));
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

static int64_t file_int(const char *path, const char *sql)
{
    sqlite3 *s = raw_open(path);
    int64_t v = raw_int(s, sql);

    sqlite3_close(s);
    return v;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 65536);

    assert_non_null(f);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Opens path with flags and expects rc; returns the error message (static copy). */
static const char *open_expect(const char *path, int flags, int want_rc)
{
    static char msg[RG_ERRMSG_MAX];
    rg_db *db = NULL;
    int rc = rg_db_open(path, flags, &db);

    assert_non_null(db);
    snprintf(msg, sizeof msg, "%s", rg_db_errmsg(db));
    rg_db_close(db);
    if (rc != want_rc)
        fail_msg("rg_db_open(%s, %d) = %d (%s), want %d", path, flags, rc, msg, want_rc);
    return msg;
}

/*
 * Builds the register as an older regfs at schema version v left it: an empty file for v = 0,
 * else migrations 0..v-1 and db.c's stamps.  At v >= 1 it also holds one applicant, one setting and
 * one audit event whose hash is correct, which must all survive the upgrade.
 */
static void build_at_version(const char *path, int v, char first_hash[RG_HASH_HEX])
{
    char sql[256];
    sqlite3 *s;
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

    assert_true(fd >= 0);
    close(fd);
    if (v == 0)
        return;
    s = raw_open(path);
    raw_exec(s, "BEGIN");
    for (int i = 0; i < v; i++)
        raw_exec(s, rg_schema_migrations[i]);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d; PRAGMA application_id = %d", v,
             REGFS_APPLICATION_ID);
    raw_exec(s, sql);
    raw_exec(s,
             "INSERT INTO applicant(id, given_name, family_name, date_of_birth, email, postcode, clp,"
             " clp_slug, kind, joined_at, joined_day, aims_values, changed_ns)"
             " VALUES (7, 'Siân', 'Evans', '1990-05-17', 'sian@example.org', 'CF10 1EP',"
             " 'Cardiff Central', 'cardiff-central', 'member', '2026-07-14', '2026-07-14', 'yes', 1)");
    raw_exec(s, "INSERT INTO setting(key, value) VALUES ('auto_exclude', 'off')");

    rg_audit_event ev = {
        .seq = 1, .at = "2026-07-14T09:31:02Z", .actor = "alice:1000", .action = "applicant.import",
        .applicant = "7", .detail = "{\"id\":7}",
    };
    rg_audit_hash("0000000000000000000000000000000000000000000000000000000000000000", &ev, first_hash);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(s, "INSERT INTO audit(seq, at, actor, action, applicant, detail,"
                                        " hash) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, ev.at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ev.actor, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, ev.action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, ev.applicant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, ev.detail, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, first_hash, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    raw_exec(s, "COMMIT");
    sqlite3_close(s);
}

/* ---- tests ---- */

static void test_create_private_file(void **state)
{
    struct tmp *t = *state;
    char wal[320];
    struct stat sb;
    mode_t old = umask(0);   /* even a permissive umask must not expose personal data */
    rg_db *db = NULL;

    assert_int_equal(rg_db_open(t->path, RG_OPEN_CREATE, &db), 0);
    umask(old);
    assert_int_equal(stat(t->path, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(rg_db_user_version(db), rg_db_schema_version());
    assert_true(rg_db_schema_version() >= 1);

    /* The write-ahead log holds the same data: it must be as private as the file. */
    assert_int_equal(rg_db_begin(db), 0);
    assert_int_equal(sqlite3_exec(db->sql, "INSERT INTO setting(key, value) VALUES ('k', 'v')",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(rg_db_commit(db), 0);
    snprintf(wal, sizeof wal, "%s-wal", t->path);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_mode & 077, 0);
    rg_db_close(db);

    assert_int_equal(file_int(t->path, "PRAGMA application_id"), REGFS_APPLICATION_ID);
}

static void test_reopen(void **state)
{
    struct tmp *t = *state;
    rg_db *db = NULL;

    assert_int_equal(rg_db_open(t->path, RG_OPEN_CREATE, &db), 0);
    assert_int_equal(rg_db_begin(db), 0);
    assert_int_equal(sqlite3_exec(db->sql, "INSERT INTO setting(key, value) VALUES ('k', 'kept')",
                                  NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(rg_db_commit(db), 0);
    rg_db_close(db);

    /* Again, with and without CREATE, and read-only: the same register. */
    open_expect(t->path, RG_OPEN_CREATE, 0);
    open_expect(t->path, 0, 0);
    assert_int_equal(rg_db_open(t->path, RG_OPEN_READONLY, &db), 0);
    assert_int_equal(rg_db_user_version(db), rg_db_schema_version());
    char v[32];
    raw_text(db->sql, "SELECT value FROM setting WHERE key = 'k'", v, sizeof v);
    assert_string_equal(v, "kept");
    assert_int_equal(rg_db_begin(db), -EROFS);
    rg_db_close(db);
}

static void test_missing_file(void **state)
{
    struct tmp *t = *state;
    struct stat sb;
    const char *msg;

    msg = open_expect(t->path, 0, -ENOENT);
    assert_non_null(strstr(msg, t->path));
    assert_int_equal(stat(t->path, &sb), -1);   /* nothing created without RG_OPEN_CREATE */
    open_expect(t->path, RG_OPEN_READONLY, -ENOENT);
    open_expect(t->path, RG_OPEN_READONLY | RG_OPEN_CREATE, -ENOENT);
    assert_int_equal(stat(t->path, &sb), -1);
    msg = open_expect(t->dir, RG_OPEN_CREATE, -EINVAL);   /* a directory */
    assert_non_null(strstr(msg, "not a regular file"));
    assert_string_equal(rg_db_errmsg(NULL), "out of memory");
}

static void test_migrations_from_every_version(void **state)
{
    struct tmp *t = *state;
    const int n = rg_db_schema_version();
    char hash[RG_HASH_HEX], first_hash[RG_HASH_HEX], text[128];

    assert_int_equal(n, rg_schema_nmigrations);
    for (int v = 0; v < n; v++) {
        rg_db *db = NULL;
        int64_t seq, bad;

        unlink(t->path);
        build_at_version(t->path, v, first_hash);
        /* (an empty file, v = 0, becomes a register only for init) */
        int rc = rg_db_open(t->path, v == 0 ? RG_OPEN_CREATE : 0, &db);
        if (rc != 0)
            fail_msg("opening a version %d database: %d %s", v, rc, rg_db_errmsg(db));
        assert_int_equal(rg_db_user_version(db), n);
        assert_int_equal(raw_int(db->sql, "PRAGMA application_id"), REGFS_APPLICATION_ID);
        if (v >= 1) {
            /* The rows an older regfs wrote are intact, and the audit chain still holds. */
            raw_text(db->sql, "SELECT given_name || ' ' || family_name || ' ' || postcode FROM applicant"
                              " WHERE id = 7", text, sizeof text);
            assert_string_equal(text, "Siân Evans CF10 1EP");
            raw_text(db->sql, "SELECT value FROM setting WHERE key = 'auto_exclude'", text, sizeof text);
            assert_string_equal(text, "off");
            assert_true(rg_audit_verify(db, &bad) >= 1);
            assert_int_equal(bad, 0);
            raw_text(db->sql, "SELECT hash FROM audit WHERE seq = 1", text, sizeof text);
            assert_string_equal(text, first_hash);
        }
        /* The upgraded register takes new audited writes on top of the old chain. */
        assert_int_equal(rg_db_begin(db), 0);
        assert_true(rg_audit_append(db, &(rg_actor){ "regfs", -1 }, "job.start", 0,
                                    json_pack("{s:i}", "v", v)) >= 1);
        assert_int_equal(rg_db_commit(db), 0);
        assert_true(rg_audit_verify(db, &bad) >= 1);
        assert_int_equal(rg_audit_head(db, &seq, hash), 0);
        assert_int_equal(seq, v >= 1 ? 2 : 1);
        rg_db_close(db);
        /* Opening it again is a no-op. */
        open_expect(t->path, RG_OPEN_READONLY, 0);
        char wal[320], shm[320];
        snprintf(wal, sizeof wal, "%s-wal", t->path);
        snprintf(shm, sizeof shm, "%s-shm", t->path);
        unlink(wal);
        unlink(shm);
    }
}

/* Personal data: a register (or its -wal) that other users may read is refused, a group's is not. */
static void test_world_readable_refused(void **state)
{
    struct tmp *t = *state;
    char wal[320];
    rg_db *db = NULL;
    const char *msg;

    assert_int_equal(rg_db_open(t->path, RG_OPEN_CREATE, &db), 0);
    rg_db_close(db);
    assert_int_equal(chmod(t->path, 0644), 0);
    msg = open_expect(t->path, RG_OPEN_READONLY, -EPERM);
    assert_non_null(strstr(msg, "other users may read it (mode 0644)"));
    open_expect(t->path, 0, -EPERM);
    assert_int_equal(chmod(t->path, 0640), 0);
    open_expect(t->path, 0, 0);
    assert_int_equal(chmod(t->path, 0600), 0);
    snprintf(wal, sizeof wal, "%s-wal", t->path);
    write_file(wal, "");
    assert_int_equal(chmod(wal, 0606), 0);
    msg = open_expect(t->path, RG_OPEN_READONLY, -EPERM);
    assert_non_null(strstr(msg, "-wal: other users may read it"));
}

static void test_readonly_refuses_old_schema(void **state)
{
    struct tmp *t = *state;
    const int n = rg_db_schema_version();
    char first_hash[RG_HASH_HEX];

    for (int v = 0; v < n; v++) {
        unlink(t->path);
        build_at_version(t->path, v, first_hash);
        const char *msg = open_expect(t->path, RG_OPEN_READONLY, v == 0 ? -EINVAL : -EPROTO);
        if (v > 0 && !(strstr(msg, "is older than this regfs's") && strstr(msg, "mount the register")))
            fail_msg("version %d: the refusal does not say what to do: %s", v, msg);
        assert_true(v > 0 || strstr(msg, "an empty file"));
        /* and nothing was written */
        assert_int_equal(file_int(t->path, "PRAGMA user_version"), v);
    }
}

static void test_newer_schema_refused(void **state)
{
    struct tmp *t = *state;
    char sql[64];
    sqlite3 *s;
    const char *msg;

    open_expect(t->path, RG_OPEN_CREATE, 0);
    s = raw_open(t->path);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", rg_db_schema_version() + 1);
    raw_exec(s, sql);
    sqlite3_close(s);
    msg = open_expect(t->path, 0, -EPROTO);
    assert_non_null(strstr(msg, "newer"));
    open_expect(t->path, RG_OPEN_READONLY, -EPROTO);
    open_expect(t->path, RG_OPEN_CREATE, -EPROTO);
    assert_int_equal(file_int(t->path, "PRAGMA user_version"), rg_db_schema_version() + 1);
}

static void test_foreign_sqlite_refused(void **state)
{
    struct tmp *t = *state;
    sqlite3 *s;
    const char *msg;

    /* Someone else's database, with tables of its own and no application_id. */
    s = raw_open(t->path);
    raw_exec(s, "CREATE TABLE members(name TEXT); INSERT INTO members VALUES ('Bill')");
    sqlite3_close(s);
    msg = open_expect(t->path, RG_OPEN_CREATE, -EINVAL);
    assert_non_null(strstr(msg, "not a regfs database"));
    msg = open_expect(t->path, RG_OPEN_READONLY, -EINVAL);
    assert_non_null(strstr(msg, "not a regfs database"));
    /* ... left as it was */
    assert_int_equal(file_int(t->path, "SELECT count(*) FROM sqlite_schema"), 1);
    assert_int_equal(file_int(t->path, "PRAGMA user_version"), 0);
    assert_int_equal(file_int(t->path, "PRAGMA application_id"), 0);

    /* Another application's stamped file, even without tables. */
    unlink(t->path);
    s = raw_open(t->path);
    raw_exec(s, "PRAGMA application_id = 1598903374; PRAGMA user_version = 1");   /* "MPBN" */
    sqlite3_close(s);
    msg = open_expect(t->path, 0, -EINVAL);
    assert_non_null(strstr(msg, "not a regfs database"));
}

static void test_non_sqlite_refused(void **state)
{
    struct tmp *t = *state;
    static const char csv[] = "id,given_name,family_name\n1,Bill,Smith\n2,Siân,Evans\n"
                              "padding padding padding padding padding padding padding padding\n";
    const char *msg;
    char *after;

    /* `regfs init applicants.csv` by mistake must not destroy the CSV. */
    write_file(t->path, csv);
    msg = open_expect(t->path, RG_OPEN_CREATE, -EINVAL);
    assert_non_null(strstr(msg, "not a regfs database"));
    open_expect(t->path, 0, -EINVAL);
    open_expect(t->path, RG_OPEN_READONLY, -EINVAL);
    after = read_file(t->path);
    assert_string_equal(after, csv);
    free(after);

    /* A file shorter than SQLite's 100-byte header is no database either. */
    write_file(t->path, "id\n");
    open_expect(t->path, RG_OPEN_CREATE, -EINVAL);
    after = read_file(t->path);
    assert_string_equal(after, "id\n");
    free(after);
}

static void test_connection_pragmas(void **state)
{
    struct tmp *t = *state;
    char mode[16];
    rg_db *db = NULL;

    assert_int_equal(rg_db_open(t->path, RG_OPEN_CREATE, &db), 0);
    raw_text(db->sql, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    assert_int_equal(raw_int(db->sql, "PRAGMA foreign_keys"), 1);
    /* Foreign keys are enforced: evidence for an applicant who does not exist is refused. */
    int rc = sqlite3_exec(db->sql, "INSERT INTO evidence(applicant_id, kind, text, added_by, added_at)"
                                   " VALUES (999, 'note', 'x', 'alice:1000', '2026-07-14T09:31:02Z')",
                          NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_CONSTRAINT_FOREIGNKEY);
    rg_db_close(db);

    /* The mode is stored in the file: another program sees WAL too. */
    sqlite3 *s = raw_open(t->path);
    raw_text(s, "PRAGMA journal_mode", mode, sizeof mode);
    assert_string_equal(mode, "wal");
    sqlite3_close(s);

    /* Read-only connections get the same pragmas. */
    assert_int_equal(rg_db_open(t->path, RG_OPEN_READONLY, &db), 0);
    assert_int_equal(raw_int(db->sql, "PRAGMA foreign_keys"), 1);
    rg_db_close(db);
}

static void test_transactions(void **state)
{
    struct tmp *t = *state;
    rg_db *db = NULL;

    assert_int_equal(rg_db_open(t->path, RG_OPEN_CREATE, &db), 0);
    rg_db_rollback(db);   /* nothing open: harmless */

    assert_int_equal(rg_db_begin(db), 0);
    raw_exec(db->sql, "INSERT INTO setting(key, value) VALUES ('a', 'rolled back')");
    rg_db_rollback(db);
    assert_int_equal(raw_int(db->sql, "SELECT count(*) FROM setting WHERE key = 'a'"), 0);

    assert_int_equal(rg_db_begin(db), 0);
    raw_exec(db->sql, "INSERT INTO setting(key, value) VALUES ('b', 'committed')");
    assert_int_equal(rg_db_commit(db), 0);
    assert_int_equal(file_int(t->path, "SELECT count(*) FROM setting WHERE key = 'b'"), 1);

    /* data_version moves when another connection commits, so caches notice. */
    assert_int_equal(rg_db_read_begin(db), 0);
    rg_db_read_end(db);
    int64_t before = rg_db_data_version(db);
    assert_true(before >= 0);
    sqlite3 *s = raw_open(t->path);
    raw_exec(s, "INSERT INTO setting(key, value) VALUES ('c', 'elsewhere')");
    sqlite3_close(s);
    assert_true(rg_db_data_version(db) > before);

    /* A read snapshot does not see a commit made while it is open. */
    assert_int_equal(rg_db_read_begin(db), 0);
    assert_int_equal(raw_int(db->sql, "SELECT count(*) FROM setting"), 2);
    s = raw_open(t->path);
    raw_exec(s, "INSERT INTO setting(key, value) VALUES ('d', 'later')");
    sqlite3_close(s);
    assert_int_equal(raw_int(db->sql, "SELECT count(*) FROM setting"), 2);
    rg_db_read_end(db);
    assert_int_equal(raw_int(db->sql, "SELECT count(*) FROM setting"), 3);
    rg_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_private_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrations_from_every_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_world_readable_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_refuses_old_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_sqlite_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_sqlite_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
