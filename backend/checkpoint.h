/*
 * checkpoint.h: signed checkpoints of the audit chain, the Ed25519 keys that sign them, and the
 * check that a log still holds the heads someone kept.
 *
 * The hash chain (audit.h) proves that a log is consistent in itself, not that it is the log that
 * was there: someone able to write the file can rewrite an event and recompute every hash after it,
 * or cut the tail off.  A checkpoint pins the chain: a short text, signed with a key kept by the
 * party, stating the head (sequence number and hash) at a moment.  Kept off the machine (emailed to
 * an auditor, printed), it later proves that the log still holds, unchanged, every event it covered.
 *
 * THE STATEMENT.  Seven lines, each ended by one LF, nothing before or after:
 *
 *     regfs checkpoint v1
 *     register: <32 lower-case hex: the register's id, made when its schema was created>
 *     seq: <the head's sequence number, decimal, no leading zeros>
 *     hash: <the head's HASH, 64 lower-case hex>
 *     at: <when it was signed, UTC YYYY-MM-DDTHH:MM:SSZ>
 *     key: <the signer's Ed25519 public key, 64 lower-case hex>
 *     signature: <128 lower-case hex>
 *
 * THE SIGNED BYTES are the first six lines exactly, each with its LF: the statement up to and
 * excluding "signature: ".  The signature is a pure Ed25519 signature (RFC 8032, as libsodium's
 * crypto_sign_detached and `openssl pkeyutl -sign -rawin` make) of those bytes.  A statement whose
 * lines end in CR LF (a mail client's doing) is read as if they ended in LF.
 *
 * KEY FILES are text.  The secret key file (mode 0600) is the line "regfs-ed25519-secret v1" and a
 * line of 64 lower-case hex: the 32-byte Ed25519 seed (RFC 8032's private key).  The public key file
 * is "regfs-ed25519-public v1" and a line of 64 hex: the 32-byte public key.
 *
 * Errors: functions taking an rg_db leave their message in rg_db_errmsg(); the others write it into
 * the caller's err[errlen].  -EKEYREJECTED: a statement signed by another key than the one given;
 * -EBADMSG: a statement that is malformed or whose signature does not verify (or, from
 * rg_chain_check(), a broken chain); -ESTALE: the log does not hold a checkpointed head;
 * -EACCES: a secret key file that others can read.  Nothing returned is borrowed: strings are copied
 * into the caller's structures and buffers.
 */
#ifndef RG_CHECKPOINT_H
#define RG_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "db.h"
#include "util.h"

#define RG_REGISTER_ID_LEN 33     /* 32 hex + NUL */
#define RG_KEY_HEX 65             /* 64 hex + NUL */
#define RG_SIG_HEX 129            /* 128 hex + NUL */
#define RG_CHECKPOINT_MAX 1024    /* a statement is about 420 bytes; a longer file is not one */

/* ---- keys ---- */

/*
 * Makes a new key pair and writes it to secret_path (mode 0600) and public_path (mode 0644, less
 * what the umask takes away).  Refuses (-EEXIST) if either file exists, and leaves neither behind on
 * failure.  Both files are fsync'd.
 */
int rg_key_generate(const char *secret_path, const char *public_path, char *err, size_t errlen);

/* A public key as read from a file. */
typedef struct rg_pubkey {
    unsigned char pk[32];
    char hex[RG_KEY_HEX];
} rg_pubkey;

/* Reads a public key file.  Returns 0, or -EINVAL for a file that is not one, or -errno. */
int rg_pubkey_load(const char *path, rg_pubkey *out, char *err, size_t errlen);

/* ---- heads: what a log must still hold ---- */

enum rg_head_state {
    RG_HEAD_HOLDS,       /* the log has event seq, with exactly this hash, and the chain to it holds */
    RG_HEAD_TRUNCATED,   /* the log ends before event seq */
    RG_HEAD_REWRITTEN,   /* event seq has another hash */
    RG_HEAD_BROKEN,      /* the chain is broken at or before event seq */
};

/*
 * A head someone kept: event seq had this hash.  state and why are set by rg_chain_check(), the way
 * poll() sets revents.  why states the facts ("the log ends at event 30, before event 42", "event
 * 42's hash differs (the log has ..., expected ...)", "the chain is broken at event 17, before event
 * 42"); what they mean (a cut tail, an older copy, a rewritten log) is the caller's to add.
 */
typedef struct rg_head {
    int64_t seq;                 /* IN, > 0 */
    char hash[RG_HASH_HEX];      /* IN */
    int state;                   /* OUT: an rg_head_state */
    char why[224];               /* OUT: "" when it holds */
} rg_head;

/* Parses "SEQ:HASH", or "SEQ HASH" as audit/head shows it (a final newline allowed).  Returns 0 or
 * -EINVAL. */
int rg_head_parse(const char *s, rg_head *out);

/*
 * Re-checks the whole chain in one read snapshot, with the same checks and messages as
 * rg_audit_verify(), and on the way decides each of heads[0..n) (n may be 0).  Returns the number of
 * events when the chain holds and every head holds; -EBADMSG when the chain is broken (*bad_seq is the
 * first broken event, the message names it); -ESTALE when the chain holds but a head does not (the
 * message is the first such head's why).  Every head's state is set in all three cases.  Opens
 * its own read transaction, so it is not called inside one (nor is rg_audit_verify()).
 */
int64_t rg_chain_check(rg_db *db, rg_head *heads, size_t n, int64_t *bad_seq);

/* ---- checkpoints ---- */

/* A statement's fields. */
typedef struct rg_checkpoint {
    rg_head head;                          /* seq and hash stated */
    char at[RG_UTC_LEN];
    char register_id[RG_REGISTER_ID_LEN];
    char key[RG_KEY_HEX];
    char signature[RG_SIG_HEX];
} rg_checkpoint;

/* The register's id (the `register:` line of its checkpoints). */
int rg_register_id(rg_db *db, char out[RG_REGISTER_ID_LEN]);

/*
 * Signs the chain's current head with the secret key in secret_path and records the checkpoint: a
 * row of the checkpoint table and an `audit.checkpoint` event (by who, detail: every field of the
 * statement, so the statement can be rebuilt from the log alone), in one write transaction.  The
 * chain is re-checked first, and a broken one is not signed (-EBADMSG), nor an empty log (-ENODATA).
 * Appends the statement to *statement.  Returns the checkpointed sequence number (the event of the
 * record is the next one), or a negative errno.  Needs a read-write connection outside any
 * transaction (in a mount, the writer's); reading the whole chain first, it holds the write lock only
 * to check what was appended meanwhile and to sign.
 */
int64_t rg_checkpoint_make(rg_db *db, const rg_actor *who, const char *secret_path, rg_buf *statement);

/*
 * Parses a statement (text[0..len), not necessarily NUL-terminated) and checks its signature with
 * key.  Fills *out.  Returns 0; -EKEYREJECTED if it names another key; -EBADMSG if it is malformed or
 * its signature does not verify.  Touches no database.
 */
int rg_checkpoint_read(const char *text, size_t len, const rg_pubkey *key, rg_checkpoint *out,
                       char *err, size_t errlen);

/*
 * Everything an auditor checks of one checkpoint: rg_checkpoint_read() with the public key in
 * public_path, that it is of this register, and rg_chain_check() of its head.  Returns 0 when it
 * holds; -EKEYREJECTED, -EBADMSG (statement, or a broken chain), -ESTALE (the log no longer holds the
 * head, or the statement is of another register) or another negative errno (the key file).
 */
int rg_checkpoint_verify(rg_db *db, const char *text, size_t len, const char *public_path,
                         rg_checkpoint *out);

/* ---- the recorded checkpoints (audit/checkpoints/ in a mount) ----
 * Any connection, read-only ones included, inside a read snapshot or not.  A recorded checkpoint is
 * never changed or removed (the table is append-only, as the log is), so a file named by its seq
 * has fixed contents, size and mtime. */

typedef struct rg_checkpoint_entry {
    int64_t seq;        /* the head it states; also its key in this table */
    int64_t at_ns;      /* when it was signed */
    int64_t size;       /* the statement's length in bytes */
} rg_checkpoint_entry;

/* Keyset page of the recorded checkpoints with seq > after, ascending: fills at most max entries
 * of out and returns how many. */
int rg_checkpoint_list(rg_db *db, int64_t after, rg_checkpoint_entry *out, int max);

/* The recorded checkpoint of head seq: appends its statement to *statement and fills *info (may be
 * NULL).  Returns 1 found, 0 none, or a negative errno. */
int rg_checkpoint_get(rg_db *db, int64_t seq, rg_buf *statement, rg_checkpoint_entry *info);

#endif
