/*
 * test_checkpoint.c: signed checkpoints of the audit chain (backend/checkpoint.c).
 *
 * What an auditor relies on: a statement that names the head of the chain, signed with a key kept
 * by the party, which later proves that the log still holds every event it covered.  The attacks are
 * made as someone with the file would make them: through a raw SQLite connection with the append-only
 * triggers dropped, cutting the tail, rewriting an event and recomputing every hash after it (a
 * forged chain that checks in itself), changing single bytes; and on the statement itself: any
 * byte changed, another key.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit.h"
#include "checkpoint.h"
#include "db.h"
#include "db_internal.h"
#include "fixture.h"

struct fixture {
    char dir[256];
    char path[300], secret[300], public[300];
    rg_db *db;
};

static const rg_actor ALICE = { "alice", 1000 };

/* Appends one event in its own transaction; returns its seq. */
static int64_t append1(rg_db *db, const char *action, int64_t applicant, json_t *detail)
{
    int64_t seq;

    assert_int_equal(rg_db_begin(db), 0);
    seq = rg_audit_append(db, &ALICE, action, applicant, detail);
    if (seq < 0)
        fail_msg("rg_audit_append: %s", rg_db_errmsg(db));
    assert_int_equal(rg_db_commit(db), 0);
    return seq;
}

/* n events of a few shapes: seq 1, 2, ..., n. */
static void some_events(rg_db *db, int n)
{
    for (int i = 1; i <= n; i++)
        assert_int_equal(append1(db, i % 3 ? "applicant.import" : "verdict.manual", 40 + i,
                                 json_pack("{s:i, s:s}", "id", 40 + i, "name", i % 2 ? "Siân" : "Bill")),
                         i);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    char err[256];

    if (!f)
        return -1;
    if (fixture_register("checkpoint", f->dir, sizeof f->dir, f->path, sizeof f->path, &f->db) < 0)
        return -1;
    snprintf(f->secret, sizeof f->secret, "%s/ck.secret", f->dir);
    snprintf(f->public, sizeof f->public, "%s/ck.public", f->dir);
    if (rg_key_generate(f->secret, f->public, err, sizeof err) < 0) {
        fprintf(stderr, "rg_key_generate: %s\n", err);
        return -1;
    }
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

/* Makes a checkpoint; returns its seq, the statement in *out (caller frees). */
static int64_t make(struct fixture *f, rg_buf *out)
{
    int64_t seq = rg_checkpoint_make(f->db, &ALICE, f->secret, out);

    if (seq < 0)
        fail_msg("rg_checkpoint_make: %s", rg_db_errmsg(f->db));
    assert_false(rg_buf_failed(out));
    return seq;
}

/* ---- a raw connection, as an attacker with the file would use ---- */

static void raw_exec(sqlite3 *s, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(s, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
}

static sqlite3 *attacker(const char *path)
{
    sqlite3 *s = NULL;

    if (sqlite3_open(path, &s) != SQLITE_OK)
        fail_msg("sqlite3_open: %s", s ? sqlite3_errmsg(s) : "out of memory");
    sqlite3_busy_timeout(s, 5000);
    raw_exec(s, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete");
    return s;
}

static const char *const COLUMNS[] = { "at", "actor", "action", "applicant", "detail", "hash" };
#define NCOLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

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

static void raw_set(sqlite3 *s, const char *col, int64_t seq, const char *value, size_t len)
{
    char sql[128];
    sqlite3_stmt *st;

    snprintf(sql, sizeof sql, "UPDATE audit SET %s = ?1 WHERE seq = ?2", col);
    assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, value, (int)len, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, seq);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Recomputes the hash of every event from seq `from` on, as a forger who knows the format would. */
static void recompute_from(sqlite3 *s, int64_t from)
{
    char prev[RG_HASH_HEX], at[64], actor[128], action[64], app[32], detail[1024], hash[RG_HASH_HEX];
    sqlite3_stmt *st;
    int64_t last;

    assert_int_equal(sqlite3_prepare_v2(s, "SELECT max(seq) FROM audit", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    last = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (from > 1)
        raw_get(s, "hash", from - 1, prev, sizeof prev);
    else
        snprintf(prev, sizeof prev, "%064d", 0);
    for (int64_t seq = from; seq <= last; seq++) {
        raw_get(s, "at", seq, at, sizeof at);
        raw_get(s, "actor", seq, actor, sizeof actor);
        raw_get(s, "action", seq, action, sizeof action);
        raw_get(s, "applicant", seq, app, sizeof app);
        raw_get(s, "detail", seq, detail, sizeof detail);
        rg_audit_event ev = { .seq = seq, .at = at, .actor = actor, .action = action, .applicant = app,
                              .detail = detail };
        rg_audit_hash(prev, &ev, hash);
        raw_set(s, "hash", seq, hash, 64);
        memcpy(prev, hash, sizeof prev);
    }
}

/* The chain itself checks (the forgery is self-consistent), n events. */
static void chain_holds(rg_db *db, int64_t n)
{
    int64_t bad = -1, got = rg_audit_verify(db, &bad);

    if (got != n)
        fail_msg("rg_audit_verify: %" PRId64 " (%s), want %" PRId64, got, rg_db_errmsg(db), n);
}

/* Checks the statement against the register: returns the result, *cp filled. */
static int verify_text(struct fixture *f, const rg_buf *text, rg_checkpoint *cp)
{
    return rg_checkpoint_verify(f->db, text->data, text->len, f->public, cp);
}

static void expect_violated(struct fixture *f, const rg_buf *text, int rc, int state, const char *says,
                            const char *what)
{
    rg_checkpoint cp;
    int got = verify_text(f, text, &cp);

    if (got != rc || cp.head.state != state)
        fail_msg("%s: verify returned %d state %d (%s); want %d state %d", what, got, cp.head.state,
                 rg_db_errmsg(f->db), rc, state);
    if (!strstr(rg_db_errmsg(f->db), says) || (state != RG_HEAD_HOLDS && !strstr(cp.head.why, says)))
        fail_msg("%s: message does not say '%s': %s / %s", what, says, rg_db_errmsg(f->db), cp.head.why);
}

/* ---- keys ---- */

static void test_keygen_files(void **state)
{
    struct fixture *f = *state;
    char text[256], err[256], p2[320], p3[320];
    struct stat sb;
    FILE *fp;
    rg_pubkey pk;

    assert_int_equal(stat(f->secret, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(stat(f->public, &sb), 0);
    assert_int_equal(sb.st_mode & 0022, 0);   /* nobody else may replace the key auditors use */

    /* Two lines each, as documented. */
    assert_non_null(fp = fopen(f->secret, "r"));
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    assert_int_equal(n, strlen("regfs-ed25519-secret v1\n") + 65);
    assert_memory_equal(text, "regfs-ed25519-secret v1\n", 24);
    assert_int_equal(strspn(text + 24, "0123456789abcdef"), 64);
    assert_string_equal(text + 88, "\n");
    assert_int_equal(rg_pubkey_load(f->public, &pk, err, sizeof err), 0);
    assert_int_equal(strlen(pk.hex), 64);

    /* The public key is the one the seed makes. */
    unsigned char seed[32], pk2[32], sk[64];
    assert_int_equal(sodium_hex2bin(seed, sizeof seed, text + 24, 64, NULL, NULL, NULL), 0);
    crypto_sign_seed_keypair(pk2, sk, seed);
    assert_memory_equal(pk2, pk.pk, 32);

    /* Never overwritten, and a failed keygen leaves nothing behind. */
    snprintf(p2, sizeof p2, "%s/new.secret", f->dir);
    snprintf(p3, sizeof p3, "%s/new.public", f->dir);
    assert_int_equal(rg_key_generate(f->secret, p3, err, sizeof err), -EEXIST);
    assert_non_null(strstr(err, "never overwritten"));
    assert_int_equal(access(p3, F_OK), -1);
    assert_int_equal(rg_key_generate(p2, f->public, err, sizeof err), -EEXIST);
    assert_int_equal(access(p2, F_OK), -1);
    assert_int_equal(rg_key_generate(p2, p2, err, sizeof err), -EEXIST);
    assert_int_equal(access(p2, F_OK), -1);
    assert_int_equal(rg_pubkey_load(f->public, &pk, err, sizeof err), 0);
    assert_memory_equal(pk2, pk.pk, 32);   /* the old key is still there */

    /* Each key file is refused where the other is wanted, with a useful message. */
    assert_int_equal(rg_pubkey_load(f->secret, &pk, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "is a secret key"));
    rg_buf out = RG_BUF_INIT;
    assert_int_equal(rg_checkpoint_make(f->db, &ALICE, f->public, &out), -EINVAL);
    assert_non_null(strstr(rg_db_errmsg(f->db), "is a public key"));
    assert_int_equal(out.len, 0);
    sodium_memzero(sk, sizeof sk);
}

static void test_secret_open_to_others(void **state)
{
    struct fixture *f = *state;
    rg_buf out = RG_BUF_INIT;
    int64_t seq;
    char hash[RG_HASH_HEX];

    some_events(f->db, 3);
    assert_int_equal(chmod(f->secret, 0640), 0);
    assert_int_equal(rg_checkpoint_make(f->db, &ALICE, f->secret, &out), -EACCES);
    assert_non_null(strstr(rg_db_errmsg(f->db), "chmod 600"));
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(seq, 3);                 /* nothing recorded */
    assert_int_equal(chmod(f->secret, 0600), 0);
    assert_int_equal(make(f, &out), 3);
    rg_buf_free(&out);
}

/* ---- making and reading ---- */

static void test_make_statement(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    char hash[RG_HASH_HEX], id[RG_REGISTER_ID_LEN], want[1024], err[256];
    rg_checkpoint cp;
    rg_pubkey pk;
    int64_t seq;

    setenv("REGFS_NOW", "1795510800", 1);   /* 2026-11-24T09:00:00Z */
    some_events(f->db, 5);
    assert_int_equal(rg_audit_head(f->db, &seq, hash), 0);
    assert_int_equal(make(f, &text), 5);
    assert_int_equal(rg_register_id(f->db, id), 0);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(rg_pubkey_load(f->public, &pk, err, sizeof err), 0);

    /* The documented seven lines, exactly. */
    char *sig = strstr(text.data, "signature: ");
    assert_non_null(sig);
    snprintf(want, sizeof want, "regfs checkpoint v1\nregister: %s\nseq: 5\nhash: %s\n"
             "at: 2026-11-24T09:00:00Z\nkey: %s\n", id, hash, pk.hex);
    assert_int_equal((size_t)(sig - text.data), strlen(want));
    assert_memory_equal(text.data, want, strlen(want));
    assert_int_equal(strlen(sig), strlen("signature: ") + 128 + 1);
    assert_string_equal(sig + strlen("signature: ") + 128, "\n");

    /* The signature is plain Ed25519 over exactly those six lines, checked here without regfs. */
    unsigned char raw[64];
    assert_int_equal(sodium_hex2bin(raw, sizeof raw, sig + 11, 128, NULL, NULL, NULL), 0);
    assert_int_equal(crypto_sign_verify_detached(raw, (const unsigned char *)want, strlen(want), pk.pk), 0);
    assert_int_not_equal(crypto_sign_verify_detached(raw, (const unsigned char *)want, strlen(want) - 1,
                                                     pk.pk), 0);

    assert_int_equal(verify_text(f, &text, &cp), 0);
    assert_int_equal(cp.head.seq, 5);
    assert_string_equal(cp.head.hash, hash);
    assert_string_equal(cp.at, "2026-11-24T09:00:00Z");
    assert_string_equal(cp.register_id, id);
    assert_int_equal(cp.head.state, RG_HEAD_HOLDS);

    /* A mail client's CR LF line ends are read as LF; a missing final newline too. */
    rg_buf crlf = RG_BUF_INIT;
    for (size_t i = 0; i < text.len; i++)
        rg_buf_adds(&crlf, text.data[i] == '\n' ? "\r\n" : (char[]){ text.data[i], 0 });
    assert_int_equal(verify_text(f, &crlf, &cp), 0);
    text.len--;
    assert_int_equal(verify_text(f, &text, &cp), 0);
    text.len++;
    rg_buf_free(&crlf);
    rg_buf_free(&text);
}

static int find_checkpoint_event(const rg_audit_event *ev, void *arg)
{
    if (strcmp(ev->action, "audit.checkpoint") != 0)
        return 0;
    snprintf(arg, 1024, "%" PRId64 " %s %s", ev->seq, ev->actor, ev->detail);
    return 1;
}

static void test_make_records(void **state)
{
    struct fixture *f = *state;
    rg_buf a = RG_BUF_INIT, b = RG_BUF_INIT, got = RG_BUF_INIT;
    rg_checkpoint_entry e[4], info;
    rg_audit_filter all = { 0 };
    rg_checkpoint cp;
    rg_pubkey pk;
    char line[1024];
    json_t *detail;

    setenv("REGFS_NOW", "1795510800", 1);
    some_events(f->db, 4);
    assert_int_equal(make(f, &a), 4);
    /* Recorded in the log, in the same transaction, by who made it: event 5. */
    assert_int_equal(rg_audit_scan(f->db, &all, find_checkpoint_event, line), 1);
    assert_memory_equal(line, "5 alice:1000 {", 14);
    assert_non_null(detail = json_loads(line + 13, 0, NULL));
    assert_int_equal(rg_pubkey_load(f->public, &pk, line, sizeof line), 0);
    assert_int_equal(rg_checkpoint_read(a.data, a.len, &pk, &cp, line, sizeof line), 0);
    assert_string_equal(json_string_value(json_object_get(detail, "hash")), cp.head.hash);
    assert_string_equal(json_string_value(json_object_get(detail, "signature")), cp.signature);
    assert_string_equal(json_string_value(json_object_get(detail, "key")), cp.key);
    assert_string_equal(json_string_value(json_object_get(detail, "register")), cp.register_id);
    assert_string_equal(json_string_value(json_object_get(detail, "at")), cp.at);
    assert_int_equal(json_integer_value(json_object_get(detail, "seq")), 4);
    json_decref(detail);
    chain_holds(f->db, 5);

    /* The next checkpoint covers the record of the first. */
    setenv("REGFS_NOW", "1795514400", 1);
    assert_int_equal(make(f, &b), 5);
    chain_holds(f->db, 6);

    /* audit/checkpoints/: a page of entries by seq, each statement as printed. */
    assert_int_equal(rg_checkpoint_list(f->db, 0, e, 4), 2);
    assert_int_equal(e[0].seq, 4);
    assert_int_equal(e[0].at_ns, 1795510800LL * 1000000000);
    assert_int_equal(e[0].size, (int64_t)a.len);
    assert_int_equal(e[1].seq, 5);
    assert_int_equal(e[1].at_ns, 1795514400LL * 1000000000);
    assert_int_equal(rg_checkpoint_list(f->db, 0, e, 1), 1);
    assert_int_equal(rg_checkpoint_list(f->db, 4, e, 4), 1);
    assert_int_equal(e[0].seq, 5);
    assert_int_equal(rg_checkpoint_list(f->db, 5, e, 4), 0);
    assert_int_equal(rg_checkpoint_get(f->db, 5, &got, &info), 1);
    assert_int_equal(got.len, b.len);
    assert_memory_equal(got.data, b.data, b.len);
    assert_int_equal(info.size, (int64_t)b.len);
    assert_int_equal(rg_checkpoint_get(f->db, 6, &got, NULL), 0);
    rg_buf_free(&a);
    rg_buf_free(&b);
    rg_buf_free(&got);
}

static void test_make_refuses(void **state)
{
    struct fixture *f = *state;
    rg_buf out = RG_BUF_INIT;
    rg_checkpoint_entry e;
    char orig[256];
    sqlite3 *s;

    /* An empty log has no head to sign. */
    assert_int_equal(rg_checkpoint_make(f->db, &ALICE, f->secret, &out), -ENODATA);
    /* Nor is a broken chain signed: the signature would bless the forgery. */
    some_events(f->db, 4);
    s = attacker(f->path);
    raw_get(s, "detail", 2, orig, sizeof orig);
    raw_set(s, "detail", 2, "{}", 2);
    assert_int_equal(rg_checkpoint_make(f->db, &ALICE, f->secret, &out), -EBADMSG);
    assert_non_null(strstr(rg_db_errmsg(f->db), "refusing to sign a broken chain: audit event 2:"));
    assert_int_equal(out.len, 0);
    assert_int_equal(rg_checkpoint_list(f->db, 0, &e, 1), 0);
    raw_set(s, "detail", 2, orig, strlen(orig));
    chain_holds(f->db, 4);   /* nothing was appended */
    /* A missing key file. */
    assert_int_equal(rg_checkpoint_make(f->db, &ALICE, "/nonexistent/key", &out), -ENOENT);
    /* Inside a transaction of the caller's. */
    assert_int_equal(rg_db_begin(f->db), 0);
    assert_int_equal(rg_checkpoint_make(f->db, &ALICE, f->secret, &out), -EINVAL);
    rg_db_rollback(f->db);
    assert_int_equal(make(f, &out), 4);
    sqlite3_close(s);
    rg_buf_free(&out);
}

/* ---- the statement attacked ---- */

static void test_statement_every_byte(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    char err[256], copy[RG_CHECKPOINT_MAX];
    rg_checkpoint cp;
    rg_pubkey pk;
    int rc;

    some_events(f->db, 3);
    make(f, &text);
    assert_int_equal(rg_pubkey_load(f->public, &pk, err, sizeof err), 0);
    assert_int_equal(rg_checkpoint_read(text.data, text.len, &pk, &cp, err, sizeof err), 0);
    for (size_t i = 0; i < text.len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {     /* the lowest and the highest bit */
            memcpy(copy, text.data, text.len);
            copy[i] ^= (char)(1 << bit);
            rc = rg_checkpoint_read(copy, text.len, &pk, &cp, err, sizeof err);
            if (rc != -EBADMSG && rc != -EKEYREJECTED)
                fail_msg("byte %zu bit %d changed (%s): read returned %d", i, bit,
                         text.data + i, rc);
        }
    }
    /* Bytes cut or added anywhere. */
    for (size_t i = 0; i < text.len; i++) {
        memcpy(copy, text.data, i);
        memcpy(copy + i, text.data + i + 1, text.len - i - 1);
        rc = rg_checkpoint_read(copy, text.len - 1, &pk, &cp, err, sizeof err);
        if (i + 1 == text.len)
            assert_int_equal(rc, 0);   /* the final newline, which may be lost */
        else if (rc != -EBADMSG && rc != -EKEYREJECTED)
            fail_msg("byte %zu cut: read returned %d", i, rc);
    }
    memcpy(copy, text.data, text.len);
    copy[text.len] = '\n';
    assert_int_equal(rg_checkpoint_read(copy, text.len + 1, &pk, &cp, err, sizeof err), -EBADMSG);
    /* Every shorter prefix (a statement cut off in the mail), read from a buffer of its own size so
     * that the sanitizer sees any read past its end. */
    for (size_t n = 0; n + 1 < text.len; n++) {
        char *cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, text.data, n);
        assert_int_equal(rg_checkpoint_read(cut, n, &pk, &cp, err, sizeof err), -EBADMSG);
        free(cut);
    }
    /* Longer than any statement. */
    char big[RG_CHECKPOINT_MAX + 2];
    memset(big, 'a', sizeof big);
    assert_int_equal(rg_checkpoint_read(big, sizeof big, &pk, &cp, err, sizeof err), -EBADMSG);

    /* The seq edited to another that reads well: the signature says no. */
    char *seq = strstr(text.data, "seq: 3\n");
    assert_non_null(seq);
    seq[5] = '2';
    assert_int_equal(rg_checkpoint_read(text.data, text.len, &pk, &cp, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "signature does not verify"));
    assert_int_equal(verify_text(f, &text, &cp), -EBADMSG);
    rg_buf_free(&text);
}

static void test_statement_other_key(void **state)
{
    struct fixture *f = *state;
    char s2[320], p2[320], err[256];
    rg_buf text = RG_BUF_INIT, forged = RG_BUF_INIT;
    rg_checkpoint cp;
    rg_pubkey mine, theirs;

    some_events(f->db, 3);
    snprintf(s2, sizeof s2, "%s/other.secret", f->dir);
    snprintf(p2, sizeof p2, "%s/other.public", f->dir);
    assert_int_equal(rg_key_generate(s2, p2, err, sizeof err), 0);
    assert_int_equal(rg_pubkey_load(f->public, &mine, err, sizeof err), 0);
    assert_int_equal(rg_pubkey_load(p2, &theirs, err, sizeof err), 0);

    /* Signed by another key (someone who made their own key pair), checked with ours. */
    int64_t seq = rg_checkpoint_make(f->db, &ALICE, s2, &text);
    assert_int_equal(seq, 3);
    assert_int_equal(verify_text(f, &text, &cp), -EKEYREJECTED);
    assert_non_null(strstr(rg_db_errmsg(f->db), "signed by another key"));
    assert_int_equal(rg_checkpoint_verify(f->db, text.data, text.len, p2, &cp), 0);

    /* The same, with its key line changed to ours: now the signature fails. */
    char *key = strstr(text.data, "key: ");
    memcpy(key + 5, mine.hex, 64);
    assert_int_equal(rg_checkpoint_read(text.data, text.len, &mine, &cp, err, sizeof err), -EBADMSG);

    /* Ours, checked with theirs. */
    rg_buf_free(&text);
    make(f, &forged);
    assert_int_equal(rg_checkpoint_read(forged.data, forged.len, &theirs, &cp, err, sizeof err),
                     -EKEYREJECTED);
    rg_buf_free(&forged);
}

static void test_other_register(void **state)
{
    struct fixture *f = *state;
    char other[320];
    rg_buf text = RG_BUF_INIT;
    rg_checkpoint cp;
    rg_db *db2 = NULL;

    /* Two registers with the same history (same clock, same events): only the id tells them apart. */
    setenv("REGFS_NOW", "1795510800", 1);
    snprintf(other, sizeof other, "%s/other.db", f->dir);
    assert_int_equal(rg_db_open(other, RG_OPEN_CREATE, &db2), 0);
    some_events(f->db, 3);
    some_events(db2, 3);
    make(f, &text);
    assert_int_equal(rg_checkpoint_verify(db2, text.data, text.len, f->public, &cp), -ESTALE);
    assert_non_null(strstr(rg_db_errmsg(db2), "of another register"));
    rg_db_close(db2);
    rg_buf_free(&text);
}

/* ---- the log attacked ---- */

static void test_truncated_tail(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    sqlite3 *s;

    some_events(f->db, 8);
    assert_int_equal(make(f, &text), 8);
    s = attacker(f->path);
    /* The checkpointed event and everything after it: the rest of the chain still checks. */
    raw_exec(s, "DELETE FROM audit WHERE seq >= 8");
    chain_holds(f->db, 7);
    expect_violated(f, &text, -ESTALE, RG_HEAD_TRUNCATED, "the log ends at event 7, before event 8",
                    "tail cut at the checkpoint");
    raw_exec(s, "DELETE FROM audit WHERE seq >= 3");
    expect_violated(f, &text, -ESTALE, RG_HEAD_TRUNCATED, "the log ends at event 2, before event 8",
                    "tail cut further");
    raw_exec(s, "DELETE FROM audit");
    expect_violated(f, &text, -ESTALE, RG_HEAD_TRUNCATED, "the log ends at event 0, before event 8",
                    "the whole log");
    sqlite3_close(s);
    rg_buf_free(&text);
}

static void test_events_after_checkpoint_are_not_its_business(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    rg_checkpoint cp;
    sqlite3 *s;

    some_events(f->db, 5);
    assert_int_equal(make(f, &text), 5);   /* its record is event 6 */
    assert_int_equal(append1(f->db, "setting.set", 0, json_pack("{s:s}", "key", "x")), 7);
    s = attacker(f->path);
    /* Cut the tail after the checkpointed event: the checkpoint still holds (it covers 1..5). */
    raw_exec(s, "DELETE FROM audit WHERE seq > 5");
    assert_int_equal(verify_text(f, &text, &cp), 0);
    sqlite3_close(s);
    rg_buf_free(&text);
}

static void test_rewritten_and_recomputed(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    const char *forged = "{\"id\":43,\"name\":\"Bill\",\"verdict\":\"approved\"}";
    sqlite3 *s;

    some_events(f->db, 10);
    assert_int_equal(make(f, &text), 10);
    s = attacker(f->path);
    /* Event 3 rewritten, and every hash after it recomputed: a forged chain that checks in itself. */
    raw_set(s, "detail", 3, forged, strlen(forged));
    recompute_from(s, 3);
    chain_holds(f->db, 11);
    expect_violated(f, &text, -ESTALE, RG_HEAD_REWRITTEN, "event 10's hash differs",
                    "rewritten and recomputed");
    /* The same forgery made right at the checkpointed event. */
    raw_set(s, "actor", 10, "mallory:1001", 12);
    recompute_from(s, 10);
    chain_holds(f->db, 11);
    expect_violated(f, &text, -ESTALE, RG_HEAD_REWRITTEN, "event 10's hash differs", "at the event");
    sqlite3_close(s);
    rg_buf_free(&text);
}

static void test_whole_chain_forged_with_new_head(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    sqlite3 *s;

    some_events(f->db, 6);
    assert_int_equal(make(f, &text), 6);
    s = attacker(f->path);
    /* Every event rewritten from the first, a new tail appended, all hashes recomputed: a head that
     * is longer than the checkpoint's and self-consistent, but not the one that was signed. */
    raw_exec(s, "UPDATE audit SET at = '2026-01-01T00:00:00Z'");
    raw_exec(s, "INSERT INTO audit(seq, at, actor, action, applicant, detail, hash) VALUES"
                " (8, '2026-01-01T00:00:00Z', 'alice:1000', 'setting.set', '-', '{}', ''),"
                " (9, '2026-01-01T00:00:00Z', 'alice:1000', 'setting.set', '-', '{}', '')");
    recompute_from(s, 1);
    chain_holds(f->db, 9);
    expect_violated(f, &text, -ESTALE, RG_HEAD_REWRITTEN, "event 6's hash differs", "whole chain");
    sqlite3_close(s);
    rg_buf_free(&text);
}

static void test_every_byte_before_checkpoint(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    char orig[1024], forged[1024], what[128];
    rg_checkpoint cp;
    sqlite3 *s;

    some_events(f->db, 6);
    assert_int_equal(make(f, &text), 6);
    s = attacker(f->path);
    for (size_t c = 0; c < NCOLUMNS; c++) {
        raw_get(s, COLUMNS[c], 4, orig, sizeof orig);
        size_t len = strlen(orig);
        for (size_t i = 0; i < len; i++) {
            memcpy(forged, orig, len + 1);
            forged[i] ^= 0x01;
            raw_set(s, COLUMNS[c], 4, forged, len);
            snprintf(what, sizeof what, "%s byte %zu of event 4", COLUMNS[c], i);
            /* The first bad event is named, and the checkpoint after it is reported violated. */
            if (verify_text(f, &text, &cp) != -EBADMSG || !strstr(rg_db_errmsg(f->db), "audit event 4:"))
                fail_msg("%s: %s", what, rg_db_errmsg(f->db));
            assert_int_equal(cp.head.state, RG_HEAD_BROKEN);
            assert_string_equal(cp.head.why, "the chain is broken at event 4, before event 6");
        }
        raw_set(s, COLUMNS[c], 4, orig, len);
        assert_int_equal(verify_text(f, &text, &cp), 0);   /* the harness restored it */
    }
    sqlite3_close(s);
    rg_buf_free(&text);
}

static void test_delete_and_swap(void **state)
{
    struct fixture *f = *state;
    rg_buf text = RG_BUF_INIT;
    rg_checkpoint cp;
    int64_t bad;
    sqlite3 *s;

    some_events(f->db, 7);
    assert_int_equal(make(f, &text), 7);
    s = attacker(f->path);
    raw_exec(s, "CREATE TEMP TABLE t AS SELECT * FROM audit");

    /* One event deleted from the middle. */
    raw_exec(s, "DELETE FROM audit WHERE seq = 3");
    assert_int_equal(verify_text(f, &text, &cp), -EBADMSG);
    assert_non_null(strstr(rg_db_errmsg(f->db), "audit event 4: expected sequence number 3"));
    assert_int_equal(cp.head.state, RG_HEAD_BROKEN);
    assert_string_equal(cp.head.why, "the chain is broken at event 4, before event 7");
    raw_exec(s, "INSERT INTO audit SELECT * FROM t WHERE seq = 3");
    assert_int_equal(verify_text(f, &text, &cp), 0);

    /* Two events swapped, hashes and all. */
    raw_exec(s, "UPDATE audit SET (at, actor, action, applicant, detail, hash) ="
                " (SELECT at, actor, action, applicant, detail, hash FROM t WHERE t.seq = 7 - audit.seq)"
                " WHERE seq IN (2, 5)");
    assert_int_equal(verify_text(f, &text, &cp), -EBADMSG);
    assert_non_null(strstr(rg_db_errmsg(f->db), "audit event 2:"));
    assert_int_equal(cp.head.state, RG_HEAD_BROKEN);

    /* Several heads at once: each decided on its own. */
    rg_head heads[3];
    assert_int_equal(rg_head_parse("1:0000000000000000000000000000000000000000000000000000000000000000",
                                   &heads[0]), 0);
    heads[1] = cp.head;
    heads[2] = cp.head;
    heads[2].seq = 50;
    raw_exec(s, "DELETE FROM audit WHERE seq = 2; INSERT INTO audit SELECT * FROM t WHERE seq = 2");
    assert_int_equal(rg_chain_check(f->db, heads, 3, &bad), -EBADMSG);
    assert_int_equal(bad, 5);
    assert_int_equal(heads[0].state, RG_HEAD_REWRITTEN);   /* event 1 is not all zeros */
    assert_string_equal(heads[1].why, "the chain is broken at event 5, before event 7");
    assert_int_equal(heads[2].state, RG_HEAD_BROKEN);
    sqlite3_close(s);
    rg_buf_free(&text);
}

static void test_head_parse(void **state)
{
    rg_head h;
    const char *hash = "85d238cc24c588354f17414e3c32f4565520207545e31211bb22f808ced05d25";
    char s[128];

    (void)state;
    snprintf(s, sizeof s, "39:%s", hash);
    assert_int_equal(rg_head_parse(s, &h), 0);
    assert_int_equal(h.seq, 39);
    assert_string_equal(h.hash, hash);
    snprintf(s, sizeof s, "39 %s\n", hash);   /* as audit/head shows it */
    assert_int_equal(rg_head_parse(s, &h), 0);
    assert_int_equal(h.seq, 39);
    const char *bad[] = { "39", "39:", "0:85d2", "-1:x", "039:", "39:ABC", "x:y", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(rg_head_parse(bad[i], &h), -EINVAL);
    snprintf(s, sizeof s, "39:%.63s", hash);
    assert_int_equal(rg_head_parse(s, &h), -EINVAL);
    snprintf(s, sizeof s, "39:%sa", hash);
    assert_int_equal(rg_head_parse(s, &h), -EINVAL);
    snprintf(s, sizeof s, "039:%s", hash);
    assert_int_equal(rg_head_parse(s, &h), -EINVAL);
    snprintf(s, sizeof s, "39:%s", hash);
    s[10] = 'A';
    assert_int_equal(rg_head_parse(s, &h), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keygen_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secret_open_to_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_make_statement, setup, teardown),
        cmocka_unit_test_setup_teardown(test_make_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_make_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_every_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_other_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_after_checkpoint_are_not_its_business, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewritten_and_recomputed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_chain_forged_with_new_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_byte_before_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_and_swap, setup, teardown),
        cmocka_unit_test(test_head_parse),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
