/*
 * import.h: importing applicants, the watch list and the organisations from CSV files.
 *
 * A file is RFC 4180 CSV in UTF-8 with a header row; its columns are found by name, in any order,
 * and must be exactly the kind's columns (an unknown or missing column fails the whole file before
 * anything is written).  Each row is validated; a row that fails is not imported but reported, with
 * its line number, column and reason, on opts->errors and in a rejects file: the original header
 * plus an `error` column, then one line per rejected row.  The good rows are imported in one
 * transaction, each change with its audit event, so that any failure (a full disk, an I/O error)
 * leaves the register and its audit chain exactly as they were.
 *
 * Import is an upsert keyed by id (applicants, watch list) or name (organisations): a row equal to
 * the stored record changes nothing and writes no event, so importing the same file twice is a
 * no-op; a changed row updates the record and is audited as a change.  Records absent from an
 * applicants or watch-list file stay as they are.  An organisations file replaces the whole list:
 * organisations absent from it are removed, unless some of its rows were rejected (then nothing is
 * removed, so that one mistyped row cannot take a party out of vetting); a file with no rows at all
 * is refused.
 *
 * A changed applicant whose verdict came from the rules goes back to pending (the verdict described
 * the old data; the event says "verdict_reset": true); a person's decision is kept.  An import that
 * adds or changes watch-list entries bumps the watchlist_version counter once.
 *
 * Ownership: everything is passed in borrowed and copied where kept; results are written into the
 * caller's rg_import_result.  Nothing returned needs freeing.
 */
#ifndef RG_IMPORT_H
#define RG_IMPORT_H

#include <stdint.h>
#include <stdio.h>

#include "db.h"
#include "util.h"

enum rg_import_kind {
    RG_IMPORT_APPLICANTS,
    RG_IMPORT_WATCHLIST,
    RG_IMPORT_ORGANISATIONS,
};

/* "applicants", "watchlist", "organisations"; and back (-1 when unknown). */
const char *rg_import_kind_name(enum rg_import_kind kind);
int rg_import_kind_parse(const char *name);

/* Called every thousand rows or so and once at the end.  total_bytes is 0 when the input's size is
 * unknown (a pipe). */
typedef void (*rg_import_progress_fn)(void *arg, uint64_t rows, uint64_t done_bytes,
                                      uint64_t total_bytes);

typedef struct rg_import_opts {
    /* Where to write rejected rows.  NULL: beside the input, named after it ("x/applicants.csv"
     * -> "x/applicants.rejects.csv"); stdin ("-") then has none.  An existing file there is
     * replaced only if it is itself a rejects file (its header ends in `error`) and never when it
     * is the input; an import without rejects removes a stale one. */
    const char *rejects_path;
    /* One line per rejected row ("applicants.csv:17: date_of_birth: \"2016-02-30\" is not a real
     * date"), or NULL for none. */
    FILE *errors;
    rg_import_progress_fn progress;   /* may be NULL */
    void *progress_arg;
} rg_import_opts;

#define RG_IMPORT_PATH_MAX 4096

typedef struct rg_import_result {
    int64_t rows;        /* data rows read (the header excluded), rejected ones included */
    int64_t added, changed, unchanged, rejected;
    int64_t removed;     /* organisations only */
    int removal_skipped; /* organisations only: rows were rejected, so none were removed */
    char rejects_path[RG_IMPORT_PATH_MAX];   /* the rejects file written, or "" when none */
} rg_import_result;

/*
 * Imports the CSV file at path ("-" reads stdin) as kind, audited as who.  opts may be NULL (no
 * error lines, no progress, the default rejects file).  Fills *res (OUT) and returns 0 when every
 * row was imported or unchanged, or the number of rejected rows (> 0) when the good rows were
 * imported and some rejected.  Returns a negative errno, with nothing imported and the message in
 * rg_db_errmsg(), when the file cannot be read, its header is wrong (-EINVAL: the message lists
 * the missing and unknown columns), the rejects file cannot be written, or the database fails
 * (-ENOSPC, -EIO, -EBUSY).
 */
int rg_import_file(rg_db *db, const rg_actor *who, enum rg_import_kind kind, const char *path,
                   const rg_import_opts *opts, rg_import_result *res);

/*
 * Loads the built-in list of organisations (data/organisations.csv, embedded in the program) when
 * the register has none, audited as who.  Returns 1 when it loaded them, 0 when organisations
 * already exist (they are left alone), or a negative errno.
 */
int rg_import_default_organisations(rg_db *db, const rg_actor *who);

/* The built-in list as shipped: CSV text, NUL-terminated (backend/orgs_data.c). */
extern const char rg_default_orgs_csv[];

#endif
