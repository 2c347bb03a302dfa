/*
 * checkpoint.c: Ed25519 keys, signed checkpoints of the audit chain, and checking a log against the
 * heads someone kept (the formats are documented in checkpoint.h).
 *
 * The chain is walked here rather than with rg_audit_verify() because a checkpoint needs more than a
 * yes or no: the hash of the last event checked (to sign it, or to carry on from it inside a write
 * transaction), and each kept head decided in the same read snapshot as the chain.  The walk makes
 * the same checks, with the same messages, as audit.c's.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "db_internal.h"

static const char SQL_REGISTER_ID[] = "SELECT value FROM register_info WHERE name = 'id'";
static const char SQL_INSERT[] =
    "INSERT INTO checkpoint(seq, hash, at, register, key, signature, statement, event)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_LIST[] =
    "SELECT seq, CAST(strftime('%s', at) AS INTEGER), length(statement) FROM checkpoint"
    " WHERE seq > ?1 ORDER BY seq LIMIT ?2";
static const char SQL_GET[] =
    "SELECT seq, CAST(strftime('%s', at) AS INTEGER), length(statement), statement FROM checkpoint"
    " WHERE seq = ?1";

static const char GENESIS[RG_HASH_HEX] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static const char MAGIC_SECRET[] = "regfs-ed25519-secret v1\n";
static const char MAGIC_PUBLIC[] = "regfs-ed25519-public v1\n";
static const char MAGIC_STATEMENT[] = "regfs checkpoint v1\n";

#define KEY_FILE_MAX 256

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int say(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        rg_vsnprintf_utf8(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int sodium_ready(char *err, size_t errlen)
{
    return sodium_init() < 0 ? say(err, errlen, -EIO, "libsodium could not be initialised") : 0;
}

/* Whether s[0..n) is n lower-case hex digits. */
static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void hex_to_bin(const char *hex, unsigned char *out, size_t outlen)
{
    sodium_hex2bin(out, outlen, hex, outlen * 2, NULL, NULL, NULL);
}

/* ---- key files ---- */

/* Writes all of p[0..n) to fd and syncs it; returns 0 or -errno. */
static int write_all_sync(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return fsync(fd) < 0 ? -errno : 0;
}

/* Syncs the directory holding path, so that a new name in it survives a crash. */
static void sync_parent(const char *path)
{
    char *copy = strdup(path);
    int fd;

    if (!copy)
        return;
    fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

int rg_key_generate(const char *secret_path, const char *public_path, char *err, size_t errlen)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char seed[crypto_sign_SEEDBYTES];
    char text[KEY_FILE_MAX];
    int sfd = -1, pfd = -1, rc;

    if ((rc = sodium_ready(err, errlen)) < 0)
        return rc;
    sfd = open(secret_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (sfd < 0)
        return say(err, errlen, -errno, "%s: %s%s", secret_path, strerror(errno),
                   errno == EEXIST ? " (a key is never overwritten)" : "");
    pfd = open(public_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (pfd < 0) {
        rc = say(err, errlen, -errno, "%s: %s%s", public_path, strerror(errno),
                 errno == EEXIST ? " (a key is never overwritten)" : "");
        goto out_unlink;
    }
    crypto_sign_keypair(pk, sk);
    crypto_sign_ed25519_sk_to_seed(seed, sk);

    memcpy(text, MAGIC_SECRET, sizeof MAGIC_SECRET - 1);
    sodium_bin2hex(text + sizeof MAGIC_SECRET - 1, 2 * sizeof seed + 1, seed, sizeof seed);
    strcat(text, "\n");
    if ((rc = write_all_sync(sfd, text, strlen(text))) < 0) {
        say(err, errlen, rc, "%s: %s", secret_path, strerror(-rc));
        goto out_unlink;
    }
    memcpy(text, MAGIC_PUBLIC, sizeof MAGIC_PUBLIC - 1);
    sodium_bin2hex(text + sizeof MAGIC_PUBLIC - 1, 2 * sizeof pk + 1, pk, sizeof pk);
    strcat(text, "\n");
    if ((rc = write_all_sync(pfd, text, strlen(text))) < 0) {
        say(err, errlen, rc, "%s: %s", public_path, strerror(-rc));
        goto out_unlink;
    }
    if (close(sfd) < 0 || close(pfd) < 0) {
        sfd = pfd = -1;
        rc = say(err, errlen, -errno, "writing the keys: %s", strerror(errno));
        goto out_unlink;
    }
    sync_parent(secret_path);
    sync_parent(public_path);
    rc = 0;
    goto out_wipe;
out_unlink:
    if (sfd >= 0) {
        close(sfd);
        unlink(secret_path);
    }
    if (pfd >= 0) {
        close(pfd);
        unlink(public_path);
    }
out_wipe:
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(text, sizeof text);
    return rc;
}

/*
 * Reads a key file: magic, 64 hex digits, an optional final newline.  With secret set, refuses a
 * file that anyone but its owner may read or write.  Fills out[32].
 */
static int key_file_read(const char *path, int secret, unsigned char out[32], char *err, size_t errlen)
{
    const char *magic = secret ? MAGIC_SECRET : MAGIC_PUBLIC;
    const char *other = secret ? MAGIC_PUBLIC : MAGIC_SECRET;
    size_t mlen = strlen(magic), len = 0;
    char text[KEY_FILE_MAX + 1];
    struct stat sb;
    ssize_t r;
    int fd, rc = 0;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return say(err, errlen, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &sb) < 0) {
        rc = say(err, errlen, -errno, "%s: %s", path, strerror(errno));
        goto out_close;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = say(err, errlen, -EINVAL, "%s: not a regular file", path);
        goto out_close;
    }
    while (len < sizeof text - 1 && (r = read(fd, text + len, sizeof text - 1 - len)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = say(err, errlen, -errno, "%s: %s", path, strerror(errno));
            goto out_close;
        }
        len += (size_t)r;
    }
    text[len] = '\0';
    if (len >= mlen && memcmp(text, other, mlen) == 0) {
        rc = say(err, errlen, -EINVAL, "%s: is a %s key, not a %s key", path,
                 secret ? "public" : "secret", secret ? "secret" : "public");
        goto out_close;
    }
    if (len < mlen + 64 || memcmp(text, magic, mlen) != 0 || !is_hex(text + mlen, 64) ||
        !(len == mlen + 64 || (len == mlen + 65 && text[mlen + 64] == '\n'))) {
        rc = say(err, errlen, -EINVAL, "%s: not a regfs %s key file (`regfs keygen` makes them)", path,
                 secret ? "secret" : "public");
        goto out_close;
    }
    if (secret && (sb.st_mode & 077)) {
        rc = say(err, errlen, -EACCES, "%s: the secret key is open to others (mode %04o): "
                 "chmod 600 it, and make a new key if others may have read it",
                 path, (unsigned)(sb.st_mode & 07777));
        goto out_close;
    }
    hex_to_bin(text + mlen, out, 32);
out_close:
    sodium_memzero(text, sizeof text);
    close(fd);
    return rc;
}

int rg_pubkey_load(const char *path, rg_pubkey *out, char *err, size_t errlen)
{
    int rc;

    if ((rc = sodium_ready(err, errlen)) < 0 || (rc = key_file_read(path, 0, out->pk, err, errlen)) < 0)
        return rc;
    sodium_bin2hex(out->hex, sizeof out->hex, out->pk, sizeof out->pk);
    return 0;
}

/* ---- heads ---- */

/* A sequence number: decimal digits, no sign, no leading zero, > 0.  Returns 0 or -1. */
static int parse_seq(const char *s, size_t n, int64_t *out)
{
    int64_t v = 0;

    if (n == 0 || n > 18 || s[0] < '1' || s[0] > '9')
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int rg_head_parse(const char *s, rg_head *out)
{
    size_t n = strcspn(s, ": "), len = strlen(s);

    if (len > 0 && s[len - 1] == '\n')
        len--;
    memset(out, 0, sizeof *out);
    if (n >= len || len - n - 1 != 64 || parse_seq(s, n, &out->seq) < 0 || !is_hex(s + n + 1, 64))
        return -EINVAL;
    memcpy(out->hash, s + n + 1, 64);
    out->hash[64] = '\0';
    return 0;
}

#define HEAD_UNDECIDED (-1)

struct walk {
    rg_db *db;
    int64_t expect;              /* the sequence number the next event must have */
    char prev[RG_HASH_HEX];      /* the hash of the event before it */
    int64_t bad_seq;
    rg_head *heads;
    size_t nheads;
};

static int walk_one(const rg_audit_event *ev, void *arg)
{
    struct walk *w = arg;
    char want[RG_HASH_HEX];

    if (ev->seq != w->expect) {
        w->bad_seq = ev->seq;
        return rg_fail(w->db, -EBADMSG, "audit event %" PRId64 ": expected sequence number %" PRId64
                       " (events missing or reordered)", ev->seq, w->expect);
    }
    rg_audit_hash(w->prev, ev, want);
    if (strcmp(want, ev->hash) != 0) {
        w->bad_seq = ev->seq;
        return rg_fail(w->db, -EBADMSG, "audit event %" PRId64 ": hash does not match its contents"
                       " and its predecessor (stored %.16s..., computed %.16s...)",
                       ev->seq, ev->hash, want);
    }
    /* The stored hash is now the true chain value at this event: compare it with what was kept. */
    for (size_t i = 0; i < w->nheads; i++) {
        rg_head *h = &w->heads[i];
        if (h->seq != ev->seq)
            continue;
        if (strcmp(h->hash, ev->hash) == 0) {
            h->state = RG_HEAD_HOLDS;
        } else {
            h->state = RG_HEAD_REWRITTEN;
            snprintf(h->why, sizeof h->why, "event %" PRId64 "'s hash differs (the log has %.16s...,"
                     " expected %.16s...)", h->seq, ev->hash, h->hash);
        }
    }
    memcpy(w->prev, ev->hash, RG_HASH_HEX);
    w->expect++;
    return 0;
}

/* Walks the chain from w->expect (after w->prev) to its end, deciding the heads it passes.  Runs in
 * the caller's transaction.  Returns 0 or a negative errno (-EBADMSG: broken at w->bad_seq). */
static int walk(struct walk *w)
{
    /* From the start, as rg_audit_verify() reads it: an event numbered 0 is out of place too. */
    rg_audit_filter from = { .from_seq = w->expect == 1 ? 0 : w->expect };
    int rc = rg_audit_scan(w->db, &from, walk_one, w);

    return rc > 0 ? -EIO : rc;
}

/* Decides the heads the walk did not reach, and returns the result rg_chain_check() documents. */
static int64_t settle_heads(struct walk *w, int rc)
{
    char keep[RG_ERRMSG_MAX];
    rg_head *first_bad = NULL;

    if (rc < 0 && rc != -EBADMSG)
        return rc;
    for (size_t i = 0; i < w->nheads; i++) {
        rg_head *h = &w->heads[i];
        if (h->state == HEAD_UNDECIDED) {
            if (rc == -EBADMSG) {
                h->state = RG_HEAD_BROKEN;
                snprintf(h->why, sizeof h->why, "the chain is broken at event %" PRId64
                         ", before event %" PRId64, w->bad_seq, h->seq);
            } else {
                h->state = RG_HEAD_TRUNCATED;
                snprintf(h->why, sizeof h->why, "the log ends at event %" PRId64 ", before event %"
                         PRId64, w->expect - 1, h->seq);
            }
        }
        if (h->state != RG_HEAD_HOLDS && !first_bad)
            first_bad = h;
    }
    if (rc == -EBADMSG)
        return rc;
    if (first_bad) {
        snprintf(keep, sizeof keep, "%s", first_bad->why);
        return rg_fail(w->db, -ESTALE, "%s", keep);
    }
    return w->expect - 1;
}

static void walk_init(struct walk *w, rg_db *db, rg_head *heads, size_t n)
{
    *w = (struct walk){ .db = db, .expect = 1, .heads = heads, .nheads = n };
    memcpy(w->prev, GENESIS, RG_HASH_HEX);
    for (size_t i = 0; i < n; i++) {
        heads[i].state = HEAD_UNDECIDED;
        heads[i].why[0] = '\0';
    }
}

int64_t rg_chain_check(rg_db *db, rg_head *heads, size_t n, int64_t *bad_seq)
{
    struct walk w;
    int64_t rc;

    walk_init(&w, db, heads, n);
    *bad_seq = 0;
    for (size_t i = 0; i < n; i++)
        if (heads[i].seq <= 0)
            return rg_fail(db, -EINVAL, "a kept head's sequence number must be positive");
    if ((rc = rg_db_read_begin(db)) < 0)
        return rc;
    rc = walk(&w);
    rg_db_read_end(db);
    *bad_seq = w.bad_seq;
    return settle_heads(&w, (int)rc);
}

/* ---- statements ---- */

/* The signed bytes: the first six lines of the statement. */
static void signed_part(const rg_checkpoint *cp, rg_buf *out)
{
    rg_buf_addf(out, "%sregister: %s\nseq: %" PRId64 "\nhash: %s\nat: %s\nkey: %s\n", MAGIC_STATEMENT,
                cp->register_id, cp->head.seq, cp->head.hash, cp->at, cp->key);
}

int rg_register_id(rg_db *db, char out[RG_REGISTER_ID_LEN])
{
    sqlite3_stmt *st = rg_stmt(db, SQL_REGISTER_ID);
    int rc;

    if (!st)
        return -EIO;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        snprintf(out, RG_REGISTER_ID_LEN, "%s", id ? id : "");
        rc = SQLITE_DONE;
    } else if (rc == SQLITE_DONE) {
        sqlite3_reset(st);
        return rg_fail(db, -EIO, "the register has no id (its register_info table is damaged)");
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rg_sqlfail(db, rc);
}

/* Reads the secret key file into sk (libsodium's 64-byte form) and its public key into pk. */
static int secret_load(rg_db *db, const char *path, unsigned char sk[crypto_sign_SECRETKEYBYTES],
                       unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    char err[RG_ERRMSG_MAX];
    int rc;

    if ((rc = sodium_ready(err, sizeof err)) < 0 || (rc = key_file_read(path, 1, seed, err, sizeof err)) < 0)
        return rg_fail(db, rc, "%s", err);
    crypto_sign_seed_keypair(pk, sk, seed);
    sodium_memzero(seed, sizeof seed);
    return 0;
}

/* A walk's result, with a broken chain's message saying that it is not signed. */
static int refuse_broken(rg_db *db, int rc)
{
    char why[RG_ERRMSG_MAX];

    if (rc != -EBADMSG)
        return rc;
    memcpy(why, db->errmsg, sizeof why);
    return rg_fail(db, -EBADMSG, "refusing to sign a broken chain: %s", why);
}

int64_t rg_checkpoint_make(rg_db *db, const rg_actor *who, const char *secret_path, rg_buf *statement)
{
    unsigned char sk[crypto_sign_SECRETKEYBYTES], pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sig[crypto_sign_BYTES];
    rg_checkpoint cp = { 0 };
    rg_buf text = RG_BUF_INIT;
    sqlite3_stmt *st;
    struct walk w;
    int64_t rc, event;

    if (db->in_txn)
        return rg_fail(db, -EINVAL, "a checkpoint is made in its own transaction");
    if ((rc = secret_load(db, secret_path, sk, pk)) < 0)
        return rc;

    /* The whole chain is checked in a read snapshot first, so that the write lock is held only to
     * check the few events appended since and to sign: a broken chain is never signed. */
    walk_init(&w, db, NULL, 0);
    if ((rc = rg_db_read_begin(db)) < 0)
        goto out_wipe;
    rc = refuse_broken(db, walk(&w));
    rg_db_read_end(db);
    if (rc < 0)
        goto out_wipe;
    if ((rc = rg_db_begin(db)) < 0)
        goto out_wipe;
    if ((rc = refuse_broken(db, walk(&w))) < 0)
        goto out_rollback;
    if (w.expect == 1) {
        rc = rg_fail(db, -ENODATA, "the audit log is empty: there is no head to sign");
        goto out_rollback;
    }
    cp.head.seq = w.expect - 1;
    memcpy(cp.head.hash, w.prev, RG_HASH_HEX);
    rg_fmt_utc(rg_now_ns() / 1000000000, cp.at);
    if ((rc = rg_register_id(db, cp.register_id)) < 0)
        goto out_rollback;
    sodium_bin2hex(cp.key, sizeof cp.key, pk, sizeof pk);
    signed_part(&cp, &text);
    if (rg_buf_failed(&text)) {
        rc = rg_fail(db, -ENOMEM, "out of memory");
        goto out_rollback;
    }
    crypto_sign_detached(sig, NULL, (const unsigned char *)text.data, text.len, sk);
    sodium_bin2hex(cp.signature, sizeof cp.signature, sig, sizeof sig);
    rg_buf_addf(&text, "signature: %s\n", cp.signature);
    if (rg_buf_failed(&text)) {
        rc = rg_fail(db, -ENOMEM, "out of memory");
        goto out_rollback;
    }

    event = rg_audit_append(db, who, "audit.checkpoint", 0,
                            json_pack("{s:s, s:I, s:s, s:s, s:s, s:s}", "register", cp.register_id,
                                      "seq", (json_int_t)cp.head.seq, "hash", cp.head.hash,
                                      "at", cp.at, "key", cp.key, "signature", cp.signature));
    if (event < 0) {
        rc = event;
        goto out_rollback;
    }
    if (!(st = rg_stmt(db, SQL_INSERT))) {
        rc = -EIO;
        goto out_rollback;
    }
    sqlite3_bind_int64(st, 1, cp.head.seq);
    sqlite3_bind_text(st, 2, cp.head.hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, cp.at, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, cp.register_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, cp.key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, cp.signature, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, text.data, (int)text.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, event);
    if ((rc = rg_exec_stmt(db, st)) < 0)
        goto out_rollback;
    if ((rc = rg_db_commit(db)) < 0)
        goto out_wipe;
    rg_buf_add(statement, text.data, text.len);
    rc = cp.head.seq;
    goto out_wipe;
out_rollback:
    rg_db_rollback(db);
out_wipe:
    sodium_memzero(sk, sizeof sk);
    rg_buf_free(&text);
    return rc;
}

/* The statement's lines after the first: their prefix and how long their value is (0: a number). */
static const struct {
    const char *prefix;
    size_t len;
} LINES[] = {
    { "register: ", RG_REGISTER_ID_LEN - 1 },
    { "seq: ", 0 },
    { "hash: ", RG_HASH_HEX - 1 },
    { "at: ", RG_UTC_LEN - 1 },
    { "key: ", RG_KEY_HEX - 1 },
    { "signature: ", RG_SIG_HEX - 1 },
};
#define NLINES (sizeof LINES / sizeof LINES[0])

int rg_checkpoint_read(const char *text, size_t len, const rg_pubkey *key, rg_checkpoint *out,
                       char *err, size_t errlen)
{
    char norm[RG_CHECKPOINT_MAX + 1];
    unsigned char sig[crypto_sign_BYTES];
    const char *p, *end;
    rg_buf signed_bytes = RG_BUF_INIT;
    size_t n = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = sodium_ready(err, errlen)) < 0)
        return rc;
    if (len > RG_CHECKPOINT_MAX)
        return say(err, errlen, -EBADMSG, "not a regfs checkpoint: %zu bytes, more than a statement has",
                   len);
    /* CR LF line ends (mail) read as LF. */
    for (size_t i = 0; i < len; i++)
        if (!(text[i] == '\r' && i + 1 < len && text[i + 1] == '\n'))
            norm[n++] = text[i];
    norm[n] = '\0';
    if (memchr(norm, '\0', n))
        return say(err, errlen, -EBADMSG, "not a regfs checkpoint: it contains a NUL byte");
    if (strncmp(norm, MAGIC_STATEMENT, strlen(MAGIC_STATEMENT)) != 0)
        return say(err, errlen, -EBADMSG, "not a regfs checkpoint: line 1 is not `regfs checkpoint v1`");
    p = norm + strlen(MAGIC_STATEMENT);
    end = norm + n;
    for (size_t i = 0; i < NLINES; i++) {
        size_t plen = strlen(LINES[i].prefix);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *vend = nl ? nl : end;
        size_t linelen = (size_t)(vend - p);
        const char *v = p + (linelen >= plen ? plen : linelen);
        size_t vlen = (size_t)(vend - v);
        int ok;

        if (!nl && i + 1 < NLINES)
            return say(err, errlen, -EBADMSG, "malformed checkpoint: it ends at line %zu", i + 2);
        ok = linelen >= plen && strncmp(p, LINES[i].prefix, plen) == 0;
        if (ok && LINES[i].len == 0)
            ok = parse_seq(v, vlen, &out->head.seq) == 0;
        else if (ok)
            ok = vlen == LINES[i].len;
        if (ok && i == 3) {
            char at[RG_UTC_LEN];
            memcpy(at, v, vlen);
            at[vlen] = '\0';
            ok = rg_timestamp_valid(at) && at[vlen - 1] == 'Z' && at[10] == 'T';
        } else if (ok && LINES[i].len) {
            ok = is_hex(v, vlen);
        }
        if (!ok)
            return say(err, errlen, -EBADMSG, "malformed checkpoint: line %zu is not `%s` and %s", i + 2,
                       LINES[i].prefix, i == 1 ? "a sequence number" : i == 3 ? "a UTC time"
                       : "lower-case hex digits");
        switch (i) {
        case 0: memcpy(out->register_id, v, vlen); break;
        case 2: memcpy(out->head.hash, v, vlen); break;
        case 3: memcpy(out->at, v, vlen); break;
        case 4: memcpy(out->key, v, vlen); break;
        case 5: memcpy(out->signature, v, vlen); break;
        default: break;
        }
        p = nl ? nl + 1 : end;
    }
    if (p != end)
        return say(err, errlen, -EBADMSG, "malformed checkpoint: text after the signature line");

    if (strcmp(out->key, key->hex) != 0)
        return say(err, errlen, -EKEYREJECTED, "signed by another key: the statement names key %.16s...,"
                   " the public key given is %.16s...", out->key, key->hex);
    signed_part(out, &signed_bytes);
    if (rg_buf_failed(&signed_bytes)) {
        rg_buf_free(&signed_bytes);
        return say(err, errlen, -ENOMEM, "out of memory");
    }
    hex_to_bin(out->signature, sig, sizeof sig);
    rc = crypto_sign_verify_detached(sig, (const unsigned char *)signed_bytes.data, signed_bytes.len,
                                     key->pk);
    rg_buf_free(&signed_bytes);
    if (rc != 0)
        return say(err, errlen, -EBADMSG, "the signature does not verify: the statement is not the one"
                   " that was signed");
    return 0;
}

int rg_checkpoint_verify(rg_db *db, const char *text, size_t len, const char *public_path,
                         rg_checkpoint *out)
{
    char err[RG_ERRMSG_MAX], id[RG_REGISTER_ID_LEN];
    rg_pubkey key;
    int64_t bad, rc;

    memset(out, 0, sizeof *out);
    if ((rc = rg_pubkey_load(public_path, &key, err, sizeof err)) < 0 ||
        (rc = rg_checkpoint_read(text, len, &key, out, err, sizeof err)) < 0)
        return rg_fail(db, (int)rc, "%s", err);
    if ((rc = rg_register_id(db, id)) < 0)
        return (int)rc;
    if (strcmp(id, out->register_id) != 0)
        return rg_fail(db, -ESTALE, "the checkpoint is of another register (%s), not this one (%s)",
                       out->register_id, id);
    rc = rg_chain_check(db, &out->head, 1, &bad);
    return rc < 0 ? (int)rc : 0;
}

/* ---- the recorded checkpoints ---- */

static void entry_from(sqlite3_stmt *st, rg_checkpoint_entry *e)
{
    e->seq = sqlite3_column_int64(st, 0);
    e->at_ns = sqlite3_column_int64(st, 1) * 1000000000;
    e->size = sqlite3_column_int64(st, 2);
}

int rg_checkpoint_list(rg_db *db, int64_t after, rg_checkpoint_entry *out, int max)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_LIST);
    int rc, n = 0;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, max);
    while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        entry_from(st, &out[n++]);
    if (n < max && rc != SQLITE_DONE) {
        sqlite3_reset(st);
        return rg_sqlfail(db, rc);
    }
    sqlite3_reset(st);
    return n;
}

int rg_checkpoint_get(rg_db *db, int64_t seq, rg_buf *statement, rg_checkpoint_entry *info)
{
    sqlite3_stmt *st = rg_stmt(db, SQL_GET);
    int rc;

    if (!st)
        return -EIO;
    sqlite3_bind_int64(st, 1, seq);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rg_checkpoint_entry e;
        entry_from(st, &e);
        if (info)
            *info = e;
        rg_buf_add(statement, sqlite3_column_text(st, 3), (size_t)sqlite3_column_bytes(st, 3));
        sqlite3_reset(st);
        return 1;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : rg_sqlfail(db, rc);
}
