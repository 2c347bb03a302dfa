/*
 * backup.h: whole copies of the register, taken while it is in use, and put back only once checked.
 *
 * A copy is one SQLite file, complete on its own: in rollback-journal mode, so that it needs no -wal
 * or -shm beside it and opens anywhere, even read-only; of one committed state of the register (the
 * state when the copy began: commits made meanwhile are not in it); private to its owner (mode 0600:
 * it holds personal data).  cp, tar, rsync, restic and borg carry it as they would any file.
 *
 * A restore never trusts the copy: it checks the file's structure (PRAGMA integrity_check), the
 * whole audit chain, and any heads the caller kept, before the copy replaces the register, and it
 * records itself in the restored register's log (a `register.restore` event).
 *
 * Errors: functions taking an rg_db leave their message in rg_db_errmsg(); rg_restore() writes it
 * into the caller's err[errlen].  Nothing returned is borrowed; a returned descriptor is the
 * caller's to close.
 */
#ifndef RG_BACKUP_H
#define RG_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "checkpoint.h"
#include "db.h"
#include "util.h"

/* What a copy holds. */
typedef struct rg_backup_info {
    int64_t size;                  /* bytes */
    int64_t head_seq;              /* the audit chain's head in the copy (0 for an empty log) */
    char head_hash[RG_HASH_HEX];
} rg_backup_info;

enum rg_backup_flags {
    RG_BACKUP_REPLACE = 1 << 0,    /* replace an existing dest (never the register itself) */
};

/*
 * Copies the register db is open on into a new file at dest: written under a temporary name in
 * dest's folder, synced, then renamed to dest, so that dest is either the whole copy or untouched.
 * Refuses an existing dest (-EEXIST) unless RG_BACKUP_REPLACE, and the register's own file always
 * (-EINVAL).  db may be read-only; it must not be inside a write transaction.  If it is inside a
 * read snapshot (rg_db_read_begin()), the copy is of that snapshot.  info may be NULL.
 */
int rg_backup_to_file(rg_db *db, const char *dest, int flags, rg_backup_info *info);

/*
 * The same copy as an unlinked file made in dir (the file exists under a name, ".regfs-backup-*",
 * only while it is written; a crash then leaves it behind): sets *fd to a new read-write descriptor
 * at offset 0 and info->size to its size, which never changes.  For snapshot/register.db: each open
 * gets its own copy, and the copy vanishes when the last descriptor is closed.  Any connection may
 * make it, a query_only reader too, and it copies what that connection's snapshot sees.
 */
int rg_backup_to_tmpfile(rg_db *db, const char *dir, int *fd, rg_backup_info *info);

/*
 * Checks an open register as a restore does: PRAGMA integrity_check, then rg_chain_check() with
 * heads[0..n).  Returns the number of events when all holds; -EUCLEAN when the file is damaged (the
 * message quotes integrity_check); otherwise as rg_chain_check().
 */
int64_t rg_backup_check(rg_db *db, rg_head *heads, size_t n, int64_t *bad_seq);

typedef struct rg_restore_opts {
    const rg_actor *who;           /* recorded in the register.restore event */
    int force;                     /* replace an existing register */
    rg_head *expect;               /* heads the copy must hold (each one's state is set); or NULL */
    size_t nexpect;
} rg_restore_opts;

typedef struct rg_restore_info {
    int64_t events;                /* events in the copy, all checked */
    int64_t head_seq;              /* the copy's head ... */
    char head_hash[RG_HASH_HEX];   /* ... before the register.restore event */
    int64_t event;                 /* the register.restore event */
    int replaced;                  /* an existing register was replaced */
    int64_t replaced_seq;          /* its head, when it could be read (else -1) */
    char replaced_hash[RG_HASH_HEX];
} rg_restore_info;

/*
 * Puts the copy at path copy in place as the register at dest, after checking it.  The copy is first
 * copied byte for byte beside dest (mode 0600), and it is that file which is checked, upgraded to the
 * current schema, given a register.restore event (detail: from, seq and hash of the copy's head,
 * replaced, and replaced_seq and replaced_hash when the old register could be read), synced and
 * renamed over dest; stale dest-wal, dest-shm and dest-journal files (which SQLite would otherwise
 * replay into the restored file) are removed first.
 *
 * Nothing may have dest open: a mounted register must be unmounted first.  A connection that has
 * read dest is detected (-EBUSY); one that opens it during the restore is not.
 *
 * Returns 0, or: -EEXIST dest (or a -wal, -shm or -journal of it) exists and force is not set;
 * -EBUSY dest is in use; -EINVAL copy is not a regfs database, is dest itself, or has a -wal beside
 * it (a live database, not a copy); -EUCLEAN copy is damaged; -EBADMSG its audit chain is broken;
 * -ESTALE it does not hold an expected head (older, or rewritten); other negative errnos.  On any
 * failure dest keeps its contents (it may have been taken out of WAL mode), and the copy made beside
 * it is removed; a crash leaves that copy as .NAME.restore-XXXXXX, which can be deleted.  info may
 * be NULL.
 */
int rg_restore(const char *copy, const char *dest, const rg_restore_opts *o, rg_restore_info *info,
               char *err, size_t errlen);

#endif
