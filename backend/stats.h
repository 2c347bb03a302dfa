/*
 * stats.h: the register in numbers, as `key: value` lines (regfs stats, and the mounted stats file).
 *
 * Keys, in order: applicants, members, registered_supporters, affiliated_supporters, approved,
 * excluded, review, pending, review_queue (review plus decisions the rules now disagree with),
 * auto_disagrees, ballot_eligible, watchlist, organisations, evidence, jobs_running, audit_events,
 * audit_head (sequence number and hash), rules_version, watchlist_version.
 */
#ifndef RG_STATS_H
#define RG_STATS_H

#include "db.h"
#include "util.h"

/* Appends the lines to out, all read from one snapshot.  Returns 0 or a negative errno. */
int rg_stats_render(rg_db *db, rg_buf *out);

/* Keeps the applicant counts (the slow part of the render) in the register, as of the current audit
 * head, for the next rg_stats_render() to use while the head has not moved.  Call inside a write
 * transaction.  Returns 0 or a negative errno. */
int rg_stats_save(rg_db *db);

#endif
