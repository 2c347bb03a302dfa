/*
 * audit.h: the append-only, hash-chained audit log.
 *
 * Every change to the register writes one event, in the same transaction as the change, so that the
 * log and the data cannot disagree.  An event is rendered as one line of seven tab-separated fields:
 *
 *     SEQ \t AT \t ACTOR \t ACTION \t APPLICANT \t DETAIL \t HASH \n
 *
 * SEQ is 1, 2, 3...; AT is UTC "YYYY-MM-DDTHH:MM:SSZ"; ACTOR is "name:uid" or "regfs"; ACTION is a
 * dotted word ("applicant.import"); APPLICANT is the applicant id or "-"; DETAIL is a JSON object,
 * compact, keys sorted, reals to 15 significant digits (jansson JSON_COMPACT|JSON_SORT_KEYS|
 * JSON_REAL_PRECISION(15)), so a score 0.97 reads 0.97; it never contains a tab or newline;
 * HASH is the lower-case hex SHA-256 of these bytes:
 *
 *     PREV_HASH \t SEQ \t AT \t ACTOR \t ACTION \t APPLICANT \t DETAIL
 *
 * that is, the previous line's HASH field (64 '0's before the first event), a tab, and this line up
 * to but excluding its last tab.  scripts/verify-audit re-checks a copy of the log with sha256sum.
 *
 * Actions in use: applicant.import, applicant.update, watchlist.import, watchlist.update,
 * watchlist.remove, organisation.import, organisation.update, organisation.remove, setting.set,
 * verdict.auto, verdict.manual, verdict.release, evidence.add, job.start, job.finish, job.cancel,
 * ctl.refused, audit.checkpoint (checkpoint.h), register.restore (backup.h).
 *
 * Ownership: rg_audit_append() steals its detail object.  Events passed to callbacks are borrowed and
 * valid only during the call.
 */
#ifndef RG_AUDIT_H
#define RG_AUDIT_H

#include <stdint.h>

#include "db.h"
#include "util.h"

#define RG_HASH_HEX 65   /* 64 hex digits + NUL */

/* jansson's json_t, without making every includer include jansson.h */
struct json_t;

/*
 * Appends one event inside the caller's open write transaction (rg_db_begin()).  applicant is the
 * applicant id, or 0 for none ("-").  detail (stolen, may be NULL after a failed json_pack: then
 * -ENOMEM) must be a JSON object.  Returns the new event's sequence number (> 0) or a negative errno.
 */
int64_t rg_audit_append(rg_db *db, const rg_actor *who, const char *action, int64_t applicant,
                        struct json_t *detail);

/*
 * The same with the detail already encoded: the text json_dumps() makes of a JSON object with the
 * flags above (rg_buf_add_json_str() writes its strings so).  For events written by the hundred
 * thousand, where building and encoding a json_t costs more than storing the event.
 */
int64_t rg_audit_append_text(rg_db *db, const rg_actor *who, const char *action, int64_t applicant,
                             const char *detail);

/* One stored event; strings are borrowed. */
typedef struct rg_audit_event {
    int64_t seq;
    const char *at, *actor, *action, *applicant, *detail, *hash;
} rg_audit_event;

/* The newest event's sequence number and hash (0 and 64 '0's for an empty log). */
int rg_audit_head(rg_db *db, int64_t *seq, char hash[RG_HASH_HEX]);

/* Appends an event's log line, newline included, to buf. */
void rg_audit_format(const rg_audit_event *ev, rg_buf *buf);

/* Which events rg_audit_scan() visits, in sequence order. */
typedef struct rg_audit_filter {
    int64_t from_seq;          /* first sequence number (0 or 1: from the start, every row) */
    int64_t applicant;         /* > 0: only this applicant's events */
    const char *day;           /* non-NULL: only events at "YYYY-MM-DD" */
} rg_audit_filter;

/*
 * Calls fn for each event the filter selects, stopping early when fn returns non-zero (that value
 * is then returned).  Returns 0 at the end, or a negative errno.
 */
int rg_audit_scan(rg_db *db, const rg_audit_filter *f,
                  int (*fn)(const rg_audit_event *ev, void *arg), void *arg);

/*
 * Re-checks the whole chain: sequence numbers without gaps, each hash recomputed from its fields
 * and its predecessor's hash.  Returns the number of events checked when the chain holds; on the
 * first broken event returns -EBADMSG with *bad_seq set and a message that names it and says what
 * is wrong.
 */
int64_t rg_audit_verify(rg_db *db, int64_t *bad_seq);

/* Hashes one event's fields after prev_hash (the chain step above) into out. */
void rg_audit_hash(const char *prev_hash, const rg_audit_event *ev, char out[RG_HASH_HEX]);

#endif
