/*
 * crosscheck.h: does the register say what its audit log says?  Every verdict is written in the
 * same transaction as the audit event that records it (vet.c, import.c), so in a sound register
 * each applicant's verdict is the one its last verdict-bearing event gives, and every such event is
 * about an applicant on the register.  A difference means the file was changed behind regfs's back
 * (or a bug): `regfs verify` runs this after checking the chain.
 *
 * The events that set a verdict: verdict.auto and verdict.release ("to"), verdict.manual (its
 * "decision": approve, exclude, refer), applicant.import (pending), and applicant.update with
 * "verdict_reset" (pending).
 */
#ifndef RG_CROSSCHECK_H
#define RG_CROSSCHECK_H

#include <stdint.h>

#include "db.h"

/*
 * Compares every applicant's verdict with its last verdict event.  Returns the number of applicants
 * checked, -EBADMSG for the first mismatch (in applicant order) with rg_db_errmsg() naming the
 * applicant, both verdicts and the event, or another negative errno.
 */
int64_t rg_crosscheck_verdicts(rg_db *db);

#endif
