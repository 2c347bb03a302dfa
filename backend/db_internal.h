/*
 * db_internal.h: what backend modules share about a connection.  Not for fs/ or cli/: they see only
 * the opaque rg_db of db.h.
 *
 * Statements: each module keeps its SQL as static strings and fetches them with rg_stmt(), which
 * prepares each text once per connection (SQLITE_PREPARE_PERSISTENT), caches it by the string's
 * address, and returns it reset with its bindings cleared.  The caller binds, steps, copies any
 * column text it needs, and calls sqlite3_reset(): the pointer from sqlite3_column_text() dies there.
 */
#ifndef RG_DB_INTERNAL_H
#define RG_DB_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "db.h"

#define RG_STMT_SLOTS 256   /* open-addressed cache; more distinct statements than this is a bug */
#define RG_ERRMSG_MAX 512

struct rg_db {
    sqlite3 *sql;
    int readonly;
    int in_txn;                 /* a write transaction is open */
    struct {
        const char *text;       /* the key: the address of a module's static SQL string */
        sqlite3_stmt *stmt;
    } stmts[RG_STMT_SLOTS];
    /* The audit chain's head as of the open transaction; valid only while in_txn (audit.c). */
    int audit_head_valid;
    int64_t audit_head_seq;
    char audit_head_hash[65];
    int64_t audit_at_sec;       /* the second audit_at ("YYYY-MM-DDTHH:MM:SSZ") shows */
    char audit_at[21];
    char errmsg[RG_ERRMSG_MAX];
};

/* Returns the prepared statement for sql (a static string), or NULL with errmsg set. */
sqlite3_stmt *rg_stmt(rg_db *db, const char *sql);

/* Sets errmsg from a printf format and returns rc (a negative errno). */
int rg_fail(rg_db *db, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Maps an SQLite result code to a negative errno, with sqlite3_errmsg() as the message. */
int rg_sqlfail(rg_db *db, int sqlite_rc);

/* Runs a statement that returns no rows (or whose rows are ignored); returns 0 or -errno. */
int rg_exec_stmt(rg_db *db, sqlite3_stmt *st);

/* The migrations of schema.c: migration i takes user_version i to i+1. */
extern const char *const rg_schema_migrations[];
extern const int rg_schema_nmigrations;

#endif
