/*
 * test_audit.c: the hash-chained audit log (backend/audit.c).
 *
 * What a court would ask of it: every event is chained to the one before by a SHA-256 that anyone
 * can recompute from the documented bytes (audit.h), and any change to a stored event, by any
 * means, is found and named.  The tamper tests work as an attacker with the file would: through a
 * second, raw SQLite connection, with the append-only triggers dropped first.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "db.h"
#include "db_internal.h"
#include "fixture.h"

static const char ZEROS[] = "0000000000000000000000000000000000000000000000000000000000000000";

/*
 * Known answers, computed outside regfs with coreutils:
 *   z=$(printf '%064d' 0)
 *   printf '%s\t%s\t%s\t%s\t%s\t%s\t%s' "$z" 1 2026-07-14T09:31:02Z alice:1000 setting.set - \
 *       '{"key":"auto_exclude","new":"off","old":"on"}' | sha256sum
 *   printf '%s\t%s\t%s\t%s\t%s\t%s\t%s' "$h1" 2 2026-07-14T09:31:02Z regfs applicant.import 42 \
 *       '{"given_name":"Siân","id":42}' | sha256sum
 */
#define KNOWN_NOW "1784021462"   /* 2026-07-14T09:31:02Z */
static const char KNOWN_HASH1[] = "394ae435b065099650fb52682c1368dca6f22de55dbc08c898dd53c424dc0c69";
static const char KNOWN_HASH2[] = "cb6b835571c75b5ec267134d88825a1de7d59027ae5cff6ff277b970306d7f46";

struct fixture {
    char dir[256];
    char path[300];
    rg_db *db;
};

static const rg_actor ALICE = { "alice", 1000 };
static const rg_actor DAEMON = { "regfs", -1 };

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);

    if (!f)
        return -1;
    if (fixture_register("audit", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->db) < 0)
        return -1;
    unsetenv("REGFS_NOW");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    rg_db_close(f->db);
    fixture_remove(f->dir);
    free(f);
    unsetenv("REGFS_NOW");
    return 0;
}

/* Appends one event in its own transaction; returns its seq. */
static int64_t append1(rg_db *db, const rg_actor *who, const char *action, int64_t applicant,
                       json_t *detail)
{
    int64_t seq;

    assert_int_equal(rg_db_begin(db), 0);
    seq = rg_audit_append(db, who, action, applicant, detail);
    if (seq < 0)
        fail_msg("rg_audit_append: %s", rg_db_errmsg(db));
    assert_int_equal(rg_db_commit(db), 0);
    return seq;
}

/* Five events of different shapes: seq 3 has an applicant, a non-ASCII detail and a nested object. */
static void five_events(rg_db *db)
{
    assert_int_equal(append1(db, &ALICE, "organisation.import", 0, json_pack("{s:i}", "count", 31)), 1);
    assert_int_equal(append1(db, &ALICE, "applicant.import", 17,
                             json_pack("{s:s, s:s}", "given_name", "Bill", "family_name", "Smith")), 2);
    assert_int_equal(append1(db, &DAEMON, "verdict.auto", 42,
                             json_pack("{s:s, s:s, s:{s:s, s:f}}", "verdict", "excluded",
                                       "name", "Siân Ó", "match", "rule", "watchlist", "score", 0.97)), 3);
    assert_int_equal(append1(db, &ALICE, "setting.set", 0,
                             json_pack("{s:s, s:s, s:s}", "key", "auto_exclude", "old", "on",
                                       "new", "off")), 4);
    assert_int_equal(append1(db, &ALICE, "verdict.manual", 42,
                             json_pack("{s:s, s:s}", "verdict", "approved", "reason", "different DOB")), 5);
}

/* ---- a raw connection, as an attacker with the file would use ---- */

static sqlite3 *raw_open(const char *path)
{
    sqlite3 *s = NULL;

    if (sqlite3_open(path, &s) != SQLITE_OK)
        fail_msg("sqlite3_open: %s", s ? sqlite3_errmsg(s) : "out of memory");
    sqlite3_busy_timeout(s, 5000);
    return s;
}

static void raw_exec(sqlite3 *s, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(s, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static sqlite3 *attacker(const char *path)
{
    sqlite3 *s = raw_open(path);

    raw_exec(s, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete");
    return s;
}

static const char *const COLUMNS[] = { "at", "actor", "action", "applicant", "detail", "hash" };
#define NCOLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

/* Reads one column of one event (col is one of COLUMNS: never data). */
static void raw_get(sqlite3 *s, const char *col, int64_t seq, char *out, size_t outlen)
{
    char sql[128];
    sqlite3_stmt *st;

    snprintf(sql, sizeof sql, "SELECT %s FROM audit WHERE seq = ?1", col);
    assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true((size_t)sqlite3_column_bytes(st, 0) < outlen);
    snprintf(out, outlen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* Overwrites one column of one event; returns the SQLite result code. */
static int raw_set(sqlite3 *s, const char *col, int64_t seq, const char *value, size_t len)
{
    char sql[128];
    sqlite3_stmt *st;
    int rc;

    snprintf(sql, sizeof sql, "UPDATE audit SET %s = ?1 WHERE seq = ?2", col);
    assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, value, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, seq);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Expects verify to find the chain broken first at want_seq, with a message naming it. */
static void expect_broken_at(rg_db *db, int64_t want_seq, const char *what)
{
    int64_t bad = -1, n = rg_audit_verify(db, &bad);
    char name[64];

    if (n != -EBADMSG || bad != want_seq)
        fail_msg("%s: verify returned %" PRId64 ", bad seq %" PRId64 " (%s); want -EBADMSG at %" PRId64,
                 what, n, bad, n < 0 ? rg_db_errmsg(db) : "chain holds", want_seq);
    snprintf(name, sizeof name, "audit event %" PRId64 ":", want_seq);
    if (!strstr(rg_db_errmsg(db), name))
        fail_msg("%s: message does not name event %" PRId64 ": %s", what, want_seq, rg_db_errmsg(db));
}

static void expect_holds(rg_db *db, int64_t want_n)
{
    int64_t bad = -1, n = rg_audit_verify(db, &bad);

    if (n != want_n)
        fail_msg("verify returned %" PRId64 " (%s), want %" PRId64, n, rg_db_errmsg(db), want_n);
    assert_int_equal(bad, 0);
}

/* ---- tests ---- */

static void test_append_needs_transaction(void **state)
{
    struct fixture *f = *state;
    char hash[RG_HASH_HEX];
    int64_t seq;

    assert_int_equal(rg_audit_append(f->db, &ALICE, "setting.set", 0, json_object()), -EINVAL);
    assert_non_null(strstr(rg_db_errmsg(f->db), "outside a write transaction"));
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(seq, 0);
    assert_string_equal(hash, ZEROS);

    assert_int_equal(rg_db_begin(f->db), 0);
    assert_int_equal(rg_audit_append(f->db, &ALICE, "setting.set", 0, NULL), -ENOMEM);
    assert_int_equal(rg_audit_append(f->db, &ALICE, "setting.set", 0, json_pack("[i]", 1)), -EINVAL);
    assert_non_null(strstr(rg_db_errmsg(f->db), "JSON object"));
    assert_int_equal(rg_audit_append(f->db, &ALICE, "setting.set", 0, json_string("x")), -EINVAL);
    assert_int_equal(rg_db_commit(f->db), 0);
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(seq, 0);
    expect_holds(f->db, 0);

    /* A read-only handle cannot even start the transaction. */
    rg_db *ro = NULL;
    assert_int_equal(rg_db_open(f->path, RG_OPEN_READONLY, &ro), 0);
    assert_int_equal(rg_db_begin(ro), -EROFS);
    assert_int_equal(rg_audit_append(ro, &ALICE, "setting.set", 0, json_object()), -EINVAL);
    rg_db_close(ro);
}

static int copy_hash(const rg_audit_event *ev, void *arg)
{
    snprintf(arg, RG_HASH_HEX, "%s", ev->hash);
    return 0;
}

static void test_head_and_seq(void **state)
{
    struct fixture *f = *state;
    char hash[RG_HASH_HEX], stored[RG_HASH_HEX];
    int64_t seq;

    /* Several events in one transaction number on from each other... */
    assert_int_equal(rg_db_begin(f->db), 0);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(rg_audit_append(f->db, &ALICE, "applicant.import", i,
                                         json_pack("{s:i}", "id", i)), i);
    assert_int_equal(rg_db_commit(f->db), 0);
    /* ... and the next transaction carries on. */
    assert_int_equal(append1(f->db, &DAEMON, "job.start", 0, json_object()), 4);
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(seq, 4);
    rg_audit_filter last = { .from_seq = 4 };
    assert_int_equal(rg_audit_scan(f->db, &last, copy_hash, stored), 0);
    assert_string_equal(hash, stored);
    assert_int_equal(strlen(hash), 64);
    assert_int_equal(strspn(hash, "0123456789abcdef"), 64);
    expect_holds(f->db, 4);
}

struct collected {
    int n;
    rg_buf lines;
    int64_t seqs[64];
};

static int collect(const rg_audit_event *ev, void *arg)
{
    struct collected *c = arg;

    if (c->n < 64)
        c->seqs[c->n] = ev->seq;
    c->n++;
    rg_audit_format(ev, &c->lines);
    return 0;
}

static void test_known_answer_and_format(void **state)
{
    struct fixture *f = *state;
    struct collected c = { .lines = RG_BUF_INIT };
    rg_audit_filter all = { 0 };
    char hash[RG_HASH_HEX];

    setenv("REGFS_NOW", KNOWN_NOW, 1);
    /* Keys given out of order: the stored detail is compact with sorted keys. */
    assert_int_equal(append1(f->db, &ALICE, "setting.set", 0,
                             json_pack("{s:s, s:s, s:s}", "old", "on", "new", "off",
                                       "key", "auto_exclude")), 1);
    assert_int_equal(append1(f->db, &DAEMON, "applicant.import", 42,
                             json_pack("{s:i, s:s}", "id", 42, "given_name", "Siân")), 2);
    assert_int_equal(rg_audit_scan(f->db, &all, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_false(rg_buf_failed(&c.lines));
    assert_string_equal(c.lines.data,
        "1\t2026-07-14T09:31:02Z\talice:1000\tsetting.set\t-\t"
        "{\"key\":\"auto_exclude\",\"new\":\"off\",\"old\":\"on\"}\t"
        "394ae435b065099650fb52682c1368dca6f22de55dbc08c898dd53c424dc0c69\n"
        "2\t2026-07-14T09:31:02Z\tregfs\tapplicant.import\t42\t{\"given_name\":\"Siân\",\"id\":42}\t"
        "cb6b835571c75b5ec267134d88825a1de7d59027ae5cff6ff277b970306d7f46\n");

    /* rg_audit_hash is the same function of the documented fields. */
    rg_audit_event ev = { .seq = 1, .at = "2026-07-14T09:31:02Z", .actor = "alice:1000",
                          .action = "setting.set", .applicant = "-",
                          .detail = "{\"key\":\"auto_exclude\",\"new\":\"off\",\"old\":\"on\"}" };
    rg_audit_hash(ZEROS, &ev, hash);
    assert_string_equal(hash, KNOWN_HASH1);
    ev = (rg_audit_event){ .seq = 2, .at = "2026-07-14T09:31:02Z", .actor = "regfs",
                           .action = "applicant.import", .applicant = "42",
                           .detail = "{\"given_name\":\"Siân\",\"id\":42}" };
    rg_audit_hash(KNOWN_HASH1, &ev, hash);
    assert_string_equal(hash, KNOWN_HASH2);
    assert_int_equal(rg_audit_head(f->db, &(int64_t){ 0 }, hash), 0);
    assert_string_equal(hash, KNOWN_HASH2);

    /* rg_audit_format appends: what was in the buffer stays. */
    rg_buf b = RG_BUF_INIT;
    rg_buf_adds(&b, "before\n");
    ev.hash = KNOWN_HASH2;
    rg_audit_format(&ev, &b);
    assert_string_equal(b.data, "before\n2\t2026-07-14T09:31:02Z\tregfs\tapplicant.import\t42\t"
                                "{\"given_name\":\"Siân\",\"id\":42}\t"
                                "cb6b835571c75b5ec267134d88825a1de7d59027ae5cff6ff277b970306d7f46\n");
    rg_buf_free(&b);
    rg_buf_free(&c.lines);
    expect_holds(f->db, 2);
}

/* Each line's HASH is the SHA-256 of the previous HASH, a tab, and the line up to its last tab. */
static int check_line_independently(const rg_audit_event *ev, void *arg)
{
    char *prev = arg, hex[RG_HASH_HEX];
    unsigned char digest[crypto_hash_sha256_BYTES];
    rg_buf line = RG_BUF_INIT, pre = RG_BUF_INIT;

    rg_audit_format(ev, &line);
    char *last_tab = strrchr(line.data, '\t');
    assert_non_null(last_tab);
    assert_string_equal(last_tab + 1 + 64, "\n");   /* HASH, then the newline, ends the line */
    rg_buf_addf(&pre, "%s\t", prev);
    rg_buf_add(&pre, line.data, (size_t)(last_tab - line.data));
    crypto_hash_sha256(digest, (const unsigned char *)pre.data, pre.len);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    assert_string_equal(hex, ev->hash);
    snprintf(prev, RG_HASH_HEX, "%s", ev->hash);
    rg_buf_free(&line);
    rg_buf_free(&pre);
    return 0;
}

static void test_lines_rehash_independently(void **state)
{
    struct fixture *f = *state;
    rg_audit_filter all = { 0 };
    char prev[RG_HASH_HEX];

    five_events(f->db);
    snprintf(prev, sizeof prev, "%s", ZEROS);
    assert_int_equal(rg_audit_scan(f->db, &all, check_line_independently, prev), 0);
    expect_holds(f->db, 5);
}

static int count_fields(const rg_audit_event *ev, void *arg)
{
    rg_buf line = RG_BUF_INIT;
    int tabs = 0, newlines = 0;

    rg_audit_format(ev, &line);
    for (size_t i = 0; i < line.len; i++) {
        tabs += line.data[i] == '\t';
        newlines += line.data[i] == '\n';
    }
    assert_int_equal(tabs, 6);
    assert_int_equal(newlines, 1);
    rg_buf_free(&line);
    ++*(int *)arg;
    return 0;
}

static void test_detail_cannot_break_the_line(void **state)
{
    struct fixture *f = *state;
    rg_audit_filter all = { 0 };
    int n = 0;

    /* Applicant data is whatever people typed: tabs and newlines must not split the log line. */
    append1(f->db, &ALICE, "applicant.update", 9,
            json_pack("{s:s, s:s}", "given_name", "Bill\tWilliam", "reason", "line one\nline two\r\n"));
    assert_int_equal(rg_audit_scan(f->db, &all, count_fields, &n), 0);
    assert_int_equal(n, 1);
    expect_holds(f->db, 1);
}

static int keep_detail(const rg_audit_event *ev, void *arg)
{
    snprintf(arg, 256, "%s", ev->detail);
    return 0;
}

static void test_detail_reals_read_as_written(void **state)
{
    struct fixture *f = *state;
    rg_audit_filter all = { 0 };
    char detail[256];

    /* The hash covers the detail's bytes, so a score must read as a person would write it. */
    append1(f->db, &DAEMON, "verdict.auto", 42,
            json_pack("{s:f, s:f, s:f, s:i}", "score", 0.97, "threshold", 0.88, "half", 0.5, "n", 3));
    assert_int_equal(rg_audit_scan(f->db, &all, keep_detail, detail), 0);
    assert_string_equal(detail, "{\"half\":0.5,\"n\":3,\"score\":0.97,\"threshold\":0.88}");
}

static void test_verify_good_chain(void **state)
{
    struct fixture *f = *state;

    expect_holds(f->db, 0);   /* an empty log holds */
    five_events(f->db);
    expect_holds(f->db, 5);
    /* A big transaction, as an import writes. */
    assert_int_equal(rg_db_begin(f->db), 0);
    for (int i = 0; i < 2000; i++)
        assert_int_equal(rg_audit_append(f->db, &ALICE, "applicant.import", 100 + i,
                                         json_pack("{s:i}", "id", 100 + i)), 6 + i);
    assert_int_equal(rg_db_commit(f->db), 0);
    expect_holds(f->db, 2005);
}

static void test_tamper_every_byte(void **state)
{
    struct fixture *f = *state;
    char orig[1024], forged[1024], msg[1200];
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    for (size_t c = 0; c < NCOLUMNS; c++) {
        raw_get(s, COLUMNS[c], 3, orig, sizeof orig);
        size_t len = strlen(orig);
        assert_true(len > 0);
        for (size_t i = 0; i < len; i++) {
            memcpy(forged, orig, len + 1);
            forged[i] ^= 0x01;   /* '0' <-> '1', 'a' <-> '`', '{' <-> 'z': one bit of one byte */
            assert_int_equal(raw_set(s, COLUMNS[c], 3, forged, len), SQLITE_OK);
            snprintf(msg, sizeof msg, "%s byte %zu of event 3", COLUMNS[c], i);
            expect_broken_at(f->db, 3, msg);
        }
        /* One byte more, one byte fewer. */
        snprintf(forged, sizeof forged, "%s ", orig);
        assert_int_equal(raw_set(s, COLUMNS[c], 3, forged, len + 1), SQLITE_OK);
        expect_broken_at(f->db, 3, "a byte appended");
        assert_int_equal(raw_set(s, COLUMNS[c], 3, orig, len - 1), SQLITE_OK);
        expect_broken_at(f->db, 3, "a byte cut");
        assert_int_equal(raw_set(s, COLUMNS[c], 3, orig, len), SQLITE_OK);
        expect_holds(f->db, 5);   /* the harness really restored it: the test is sound */
    }
    sqlite3_close(s);
}

static void test_tamper_first_and_last(void **state)
{
    struct fixture *f = *state;
    char orig[1024];
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    raw_get(s, "detail", 1, orig, sizeof orig);
    assert_int_equal(raw_set(s, "detail", 1, "{\"count\":30}", 12), SQLITE_OK);
    expect_broken_at(f->db, 1, "first event");
    assert_int_equal(raw_set(s, "detail", 1, orig, strlen(orig)), SQLITE_OK);
    raw_get(s, "actor", 5, orig, sizeof orig);
    assert_int_equal(raw_set(s, "actor", 5, "bob:1001", 8), SQLITE_OK);
    expect_broken_at(f->db, 5, "last event");
    assert_int_equal(raw_set(s, "actor", 5, orig, strlen(orig)), SQLITE_OK);
    expect_holds(f->db, 5);
    sqlite3_close(s);
}

static void test_tamper_delete_middle(void **state)
{
    struct fixture *f = *state;
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    raw_exec(s, "DELETE FROM audit WHERE seq = 3");
    expect_broken_at(f->db, 4, "event 3 deleted");
    assert_non_null(strstr(rg_db_errmsg(f->db), "expected sequence number 3"));
    sqlite3_close(s);
}

static void test_tamper_delete_first(void **state)
{
    struct fixture *f = *state;
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    raw_exec(s, "DELETE FROM audit WHERE seq = 1");
    expect_broken_at(f->db, 2, "event 1 deleted");
    sqlite3_close(s);
}

static void test_tamper_row_below_one(void **state)
{
    struct fixture *f = *state;
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    /* A row numbered below the first event must not hide from the checker. */
    raw_exec(s, "INSERT INTO audit(seq, at, actor, action, applicant, detail, hash)"
                " SELECT -7, at, actor, action, applicant, detail, hash FROM audit WHERE seq = 2");
    expect_broken_at(f->db, -7, "a row smuggled in below seq 1");
    sqlite3_close(s);
}

static void test_tamper_renumber(void **state)
{
    struct fixture *f = *state;
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    /* Hide a deletion by renumbering the events after it. */
    raw_exec(s, "DELETE FROM audit WHERE seq = 3;"
                "UPDATE audit SET seq = 3 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 5");
    expect_broken_at(f->db, 3, "renumbered after a deletion");
    sqlite3_close(s);
}

static void test_tamper_swap(void **state)
{
    struct fixture *f = *state;
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    /* Swap two events' whole contents, hashes included, keeping their places. */
    raw_exec(s, "CREATE TEMP TABLE t AS SELECT * FROM audit WHERE seq IN (2, 3);"
                "UPDATE audit SET (at, actor, action, applicant, detail, hash) ="
                " (SELECT at, actor, action, applicant, detail, hash FROM t WHERE t.seq = 5 - audit.seq)"
                " WHERE seq IN (2, 3)");
    expect_broken_at(f->db, 2, "events 2 and 3 swapped");
    /* Swap them back, then swap only two details. */
    raw_exec(s, "UPDATE audit SET (at, actor, action, applicant, detail, hash) ="
                " (SELECT at, actor, action, applicant, detail, hash FROM t WHERE t.seq = audit.seq)"
                " WHERE seq IN (2, 3)");
    expect_holds(f->db, 5);
    raw_exec(s, "UPDATE audit SET detail = (SELECT detail FROM t WHERE t.seq = 5 - audit.seq)"
                " WHERE seq IN (2, 3)");
    expect_broken_at(f->db, 2, "details of 2 and 3 swapped");
    sqlite3_close(s);
}

static void test_tamper_recompute(void **state)
{
    struct fixture *f = *state;
    char prev[RG_HASH_HEX], hash[RG_HASH_HEX], at[64], actor[128], action[64], app[32];
    const char *detail = "{\"match\":{\"rule\":\"watchlist\",\"score\":0.5},\"name\":\"Siân Ó\","
                         "\"verdict\":\"approved\"}";
    sqlite3 *s;

    five_events(f->db);
    s = attacker(f->path);
    /* The attacker knows the format: rewrites event 3 and gives it a correct hash for its new
     * contents.  Event 3 now checks; event 4, chained to the old hash, does not. */
    raw_get(s, "hash", 2, prev, sizeof prev);
    raw_get(s, "at", 3, at, sizeof at);
    raw_get(s, "actor", 3, actor, sizeof actor);
    raw_get(s, "action", 3, action, sizeof action);
    raw_get(s, "applicant", 3, app, sizeof app);
    rg_audit_event ev = { .seq = 3, .at = at, .actor = actor, .action = action, .applicant = app,
                          .detail = detail };
    rg_audit_hash(prev, &ev, hash);
    assert_int_equal(raw_set(s, "detail", 3, detail, strlen(detail)), SQLITE_OK);
    assert_int_equal(raw_set(s, "hash", 3, hash, 64), SQLITE_OK);
    expect_broken_at(f->db, 4, "event 3 rewritten with a fresh hash");

    /* A forged event appended with a made-up hash. */
    raw_exec(s, "INSERT INTO audit(seq, at, actor, action, applicant, detail, hash) VALUES (6,"
                " '2026-07-14T10:00:00Z', 'alice:1000', 'verdict.manual', '42', '{}',"
                " 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')");
    expect_broken_at(f->db, 4, "still the first break");
    sqlite3_close(s);
}

static void test_tamper_forged_tail(void **state)
{
    struct fixture *f = *state;
    sqlite3 *s;

    five_events(f->db);
    s = raw_open(f->path);   /* appending needs no dropped trigger */
    raw_exec(s, "INSERT INTO audit(seq, at, actor, action, applicant, detail, hash) VALUES (6,"
                " '2026-07-14T10:00:00Z', 'alice:1000', 'verdict.manual', '42', '{}',"
                " 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')");
    expect_broken_at(f->db, 6, "forged event appended");
    raw_exec(s, "INSERT INTO audit(seq, at, actor, action, applicant, detail, hash) VALUES (9,"
                " '2026-07-14T10:00:00Z', 'alice:1000', 'verdict.manual', '42', '{}', 'x')");
    expect_broken_at(f->db, 6, "the earlier break is named first");
    sqlite3_close(s);
}

static void test_triggers_refuse_changes(void **state)
{
    struct fixture *f = *state;
    sqlite3 *s;
    char *msg = NULL;
    int rc;

    five_events(f->db);
    s = raw_open(f->path);
    rc = sqlite3_exec(s, "UPDATE audit SET detail = '{}' WHERE seq = 3", NULL, NULL, &msg);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "append-only"));
    sqlite3_free(msg);
    msg = NULL;
    rc = sqlite3_exec(s, "DELETE FROM audit WHERE seq = 3", NULL, NULL, &msg);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    assert_non_null(strstr(msg, "append-only"));
    sqlite3_free(msg);
    rc = sqlite3_exec(s, "DELETE FROM audit", NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    /* An upsert is an update, and is refused the same way. */
    rc = sqlite3_exec(s, "INSERT INTO audit(seq, at, actor, action, applicant, detail, hash)"
                         " VALUES (3, 'x', 'x', 'x', 'x', 'x', 'x')"
                         " ON CONFLICT(seq) DO UPDATE SET detail = excluded.detail", NULL, NULL, NULL);
    assert_int_equal(rc, SQLITE_CONSTRAINT);
    sqlite3_close(s);
    /* Through the register's own connection too, where a replace is a delete that fires the
     * delete trigger (recursive_triggers). */
    rc = sqlite3_exec(f->db->sql, "UPDATE audit SET at = '2020-01-01T00:00:00Z'", NULL, NULL, NULL);
    assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);   /* this connection reports extended codes */
    rc = sqlite3_exec(f->db->sql, "INSERT OR REPLACE INTO audit(seq, at, actor, action, applicant,"
                                  " detail, hash) VALUES (3, 'x', 'x', 'x', 'x', 'x', 'x')",
                      NULL, NULL, NULL);
    assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
    expect_holds(f->db, 5);
}

static void test_rollback_leaves_no_event(void **state)
{
    struct fixture *f = *state;
    char before[RG_HASH_HEX], hash[RG_HASH_HEX];
    int64_t seq;

    five_events(f->db);
    assert_int_equal(rg_audit_head(f->db, &seq, before), 0);

    /* Events appended, then the change they record is abandoned. */
    assert_int_equal(rg_db_begin(f->db), 0);
    assert_int_equal(rg_audit_append(f->db, &ALICE, "applicant.update", 17, json_pack("{s:i}", "x", 1)), 6);
    assert_int_equal(rg_audit_append(f->db, &ALICE, "applicant.update", 17, json_pack("{s:i}", "x", 2)), 7);
    rg_db_rollback(f->db);
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(seq, 5);
    assert_string_equal(hash, before);
    expect_holds(f->db, 5);

    /* The cached head must not remember the rolled-back events: the next one is 6, chained to 5. */
    assert_int_equal(append1(f->db, &ALICE, "applicant.update", 17, json_pack("{s:s}", "x", "3")), 6);
    expect_holds(f->db, 6);

    /* Rolled back with nothing appended, then appended: still in order. */
    assert_int_equal(rg_db_begin(f->db), 0);
    rg_db_rollback(f->db);
    assert_int_equal(append1(f->db, &ALICE, "applicant.update", 17, json_object()), 7);
    expect_holds(f->db, 7);
}

static void test_two_writers_interleave(void **state)
{
    struct fixture *f = *state;
    rg_db *other = NULL;

    /* Two connections (the daemon and a CLI command) take turns: each must chain to the other's
     * newest event, never to a head it cached in an earlier transaction. */
    assert_int_equal(rg_db_open(f->path, 0, &other), 0);
    assert_int_equal(append1(f->db, &ALICE, "setting.set", 0, json_object()), 1);
    assert_int_equal(append1(other, &DAEMON, "job.start", 0, json_object()), 2);
    assert_int_equal(append1(f->db, &ALICE, "setting.set", 0, json_object()), 3);
    assert_int_equal(append1(f->db, &ALICE, "setting.set", 0, json_object()), 4);
    assert_int_equal(append1(other, &DAEMON, "job.finish", 0, json_object()), 5);
    expect_holds(f->db, 5);
    expect_holds(other, 5);
    rg_db_close(other);
}

struct stop_at {
    int64_t seen;
    int64_t stop;
};

static int stop_early(const rg_audit_event *ev, void *arg)
{
    struct stop_at *s = arg;

    s->seen = ev->seq;
    return ev->seq == s->stop ? 77 : 0;
}

static void test_scan_filters(void **state)
{
    struct fixture *f = *state;
    struct collected c = { .lines = RG_BUF_INIT };

    setenv("REGFS_NOW", "1784021462", 1);                 /* 2026-07-14 */
    append1(f->db, &ALICE, "applicant.import", 42, json_object());   /* 1 */
    append1(f->db, &ALICE, "applicant.import", 43, json_object());   /* 2 */
    setenv("REGFS_NOW", "1784107862", 1);                 /* 2026-07-15 */
    append1(f->db, &ALICE, "verdict.manual", 42, json_object());     /* 3 */
    append1(f->db, &ALICE, "setting.set", 0, json_object());         /* 4 */
    append1(f->db, &ALICE, "verdict.manual", 420, json_object());    /* 5: not applicant 42 */

    rg_audit_filter by_app = { .applicant = 42 };
    assert_int_equal(rg_audit_scan(f->db, &by_app, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.seqs[0], 1);
    assert_int_equal(c.seqs[1], 3);

    c.n = 0;
    rg_audit_filter by_day = { .day = "2026-07-15" };
    assert_int_equal(rg_audit_scan(f->db, &by_day, collect, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.seqs[0], 3);
    assert_int_equal(c.seqs[2], 5);

    c.n = 0;
    rg_audit_filter from = { .from_seq = 4 };
    assert_int_equal(rg_audit_scan(f->db, &from, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.seqs[0], 4);

    c.n = 0;
    rg_audit_filter none = { .applicant = 7 };
    assert_int_equal(rg_audit_scan(f->db, &none, collect, &c), 0);
    assert_int_equal(c.n, 0);

    struct stop_at s = { .stop = 2 };
    rg_audit_filter all = { 0 };
    assert_int_equal(rg_audit_scan(f->db, &all, stop_early, &s), 77);
    assert_int_equal(s.seen, 2);
    rg_buf_free(&c.lines);
    expect_holds(f->db, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_needs_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_and_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_known_answer_and_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lines_rehash_independently, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detail_cannot_break_the_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detail_reals_read_as_written, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_good_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_first_and_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_row_below_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_renumber, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_swap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_recompute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tamper_forged_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_triggers_refuse_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_leaves_no_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_writers_interleave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_filters, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
