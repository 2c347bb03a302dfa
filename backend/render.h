/*
 * render.h: the bytes of every file the register shows, for the filesystem and for `regfs export`.
 *
 * One renderer serves both, so `regfs export DB` and the mounted register.tsv are the same bytes.
 * Every function appends to a caller-owned rg_buf and returns 0, -ENOENT when the object does not
 * exist, or another negative errno (message in rg_db_errmsg()); on failure the buffer is left as it
 * was and *mtime_ns untouched.  Functions that take *mtime_ns set it to the time of the last change
 * to what the file shows (for stat), and may be passed NULL.  A stored text that cannot be shown
 * (reasons that are not a JSON array, text that is not UTF-8 in a JSON file) is -EIO naming the
 * applicant.
 *
 * mtime_ns: an applicant's files, history included, carry applicant.changed_ns.  This assumes that
 * every audit event about an applicant is written in a transaction that also bumps its changed_ns
 * (import, vet, decisions and evidence must), so that history is never newer than its mtime.  A
 * watch-list entry and a job carry their own changed_ns.
 *
 * The formats are an interface admins script against; README.md ("File formats") documents each with an
 * example, and tests/unit/test_render.c pins their bytes.  In short: TSV and `key: value` values
 * escape tab, newline, carriage return and backslash as \t \n \r \\; scores are "%.2f" (JSON: the
 * same rounded value as a number); JSON keys are sorted (jansson JSON_SORT_KEYS, at most 15
 * significant digits); the verdict line percent-encodes '%', space and control bytes.
 *
 * Stored reasons (applicant.reasons) are a JSON array of objects, one per rule that spoke:
 *   {"rule": "watch-list", "outcome": "excluded", "score": 0.97, "reason": "text naming the evidence",
 *    "evidence": "W01234", ...rule-specific keys...}
 */
#ifndef RG_RENDER_H
#define RG_RENDER_H

#include <stdint.h>

#include "db.h"
#include "util.h"

/* The files in applicants/<id>/ that are rendered from the register. */
enum rg_applicant_file {
    RG_FILE_SUMMARY,       /* key: value lines, one fact a line, then one `reason:` line per reason */
    RG_FILE_RECORD_JSON,   /* the whole applicant as pretty JSON: verdict, reasons, evidence, ballot */
    RG_FILE_VERDICT,       /* one line: decision, then key=value fields (rule, score, by, at) */
    RG_FILE_HISTORY,       /* the applicant's audit events, one per line, as in audit/log */
    RG_FILE_COUNT
};

/* Names of the files above as they appear in the tree ("summary", "record.json", ...). */
extern const char *const rg_applicant_file_names[RG_FILE_COUNT];

int rg_render_applicant(rg_db *db, int64_t id, enum rg_applicant_file which, rg_buf *out,
                        int64_t *mtime_ns);

/* watchlist/<id>: key: value lines for one watch-list entry. */
int rg_render_watch(rg_db *db, const char *watch_id, rg_buf *out, int64_t *mtime_ns);

/* jobs/<n>: key: value lines: id, scope, state, total, done, changed, requested_by, started,
 * finished, error. */
int rg_render_job(rg_db *db, int64_t job_id, rg_buf *out, int64_t *mtime_ns);

/* The register as a whole, in id order, in one of two formats. */
enum rg_export_format { RG_EXPORT_TSV, RG_EXPORT_JSONL };

/* The TSV header line (JSONL has none: appends nothing). */
void rg_export_header(enum rg_export_format fmt, rg_buf *out);

/*
 * Appends the lines of at most max_rows applicants with id > after_id, in id order, and sets
 * *last_id to the last id rendered (unchanged when there are none).  newest_ns, unless NULL, is
 * raised to the newest changed_ns among them: over a whole export, the register's mtime.  Returns
 * the number of rows rendered (0 at the end) or a negative errno (-EINVAL when max_rows < 1).
 * Call inside rg_db_read_begin() for one consistent view across calls.  One indexed range read
 * per call: a batch of a few thousand rows costs milliseconds, whatever after_id is.
 */
int rg_export_rows(rg_db *db, enum rg_export_format fmt, int64_t after_id, int max_rows,
                   rg_buf *out, int64_t *last_id, int64_t *newest_ns);

#endif
