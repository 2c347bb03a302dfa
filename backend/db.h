/*
 * db.h: the register's database: one SQLite file holding applicants, organisations, the watch list,
 * evidence, settings, jobs and the audit log.
 *
 * An rg_db is one connection.  It is not shared between threads: each thread that reads opens its
 * own (readers never block on the writer in WAL mode), and the one writer serialises its transactions
 * with rg_db_begin()/rg_db_commit().  rg_db_open() always returns a handle, even on failure (as
 * sqlite3_open does), so that the caller can read rg_db_errmsg() before rg_db_close().
 *
 * Errors: every function returns 0 (or a count) on success and a negative errno on failure, leaving a
 * message in rg_db_errmsg() that names the problem.  -EBUSY: another writer holds the database;
 * -ENOSPC: the disk is full (nothing was changed); -EINVAL: bad input (the message says which);
 * -EIO: the database file is damaged or unreadable.
 */
#ifndef RG_DB_H
#define RG_DB_H

#include <stdint.h>

typedef struct rg_db rg_db;

enum rg_open_flags {
    RG_OPEN_CREATE = 1 << 0,   /* create the file (mode 0600) and its schema if missing */
    RG_OPEN_READONLY = 1 << 1, /* never write; migrations are not run (fails if the schema is old) */
};

/*
 * Opens the register at path.  Sets *out to a new handle in every case but out-of-memory (then NULL);
 * free it with rg_db_close().  Upgrades an older schema in place, in one transaction.  Refuses a file
 * whose schema is newer than this program (-EPROTO) or that is not a regfs database (-EINVAL).
 */
int rg_db_open(const char *path, int flags, rg_db **out);
void rg_db_close(rg_db *db);

/* The message for the last failure on this handle; borrowed, valid until the next call. */
const char *rg_db_errmsg(const rg_db *db);

/* The schema version this program writes, and the one of an open database. */
int rg_db_schema_version(void);
int rg_db_user_version(rg_db *db);

/*
 * Write transactions.  rg_db_begin() takes the write lock at once (BEGIN IMMEDIATE), waiting up to
 * the busy timeout for another writer.  rg_db_rollback() is safe to call when no transaction is open.
 */
int rg_db_begin(rg_db *db);
int rg_db_commit(rg_db *db);
void rg_db_rollback(rg_db *db);

/* Gives the connection an 8 MiB page cache instead of 32: for one that lives beside others in the
 * daemon (the kernel's page cache holds the file anyway).  0 or a negative errno. */
int rg_db_small_cache(rg_db *db);

/* Read snapshots: everything read between these two sees one consistent state of the database. */
int rg_db_read_begin(rg_db *db);
void rg_db_read_end(rg_db *db);

/* A counter the database bumps on every committed change (PRAGMA data_version semantics: changes
 * made through other connections only).  Cheap; used to notice that caches are stale. */
int64_t rg_db_data_version(rg_db *db);

#endif
