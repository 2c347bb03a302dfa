/*
 * vet_internal.h: what vet.c (verdicts on one applicant) and job.c (re-vetting many) share: one
 * applicant row as vetting reads it, and the step that turns the rules' result into the stored
 * verdict.  Not for fs/ or cli/.
 *
 * Ownership: an rg_vet_row owns its strings (in store) and its evidence; it is reused from one
 * applicant to the next (rg_vet_row_read() overwrites it) and released with rg_vet_row_free().
 */
#ifndef RG_VET_INTERNAL_H
#define RG_VET_INTERNAL_H

#include <sqlite3.h>
#include <stdint.h>

#include "rules.h"
#include "vet.h"

/* The columns rg_vet_row_load() expects, in order, after "SELECT " of a statement over applicant. */
#define RG_VET_COLUMNS \
    "id, given_name, family_name, date_of_birth, email, postcode, clp, kind, joined_day," \
    " declared_party, aims_values, verdict, rule, score, reasons, manual, auto_disagrees," \
    " recommendation, ballot, manual_reason"

typedef struct rg_vet_row {
    rg_applicant_in in;            /* the facts the rules see; strings point into store */
    /* as stored */
    enum rg_verdict verdict;
    int manual, ballot;
    double score;
    const char *rule, *reasons, *auto_disagrees, *recommendation, *manual_reason;
    /* evidence recorded against the applicant, oldest first */
    rg_evidence_item *ev;
    int nev, evcap;
    rg_rule_result res;            /* the rules' verdict, once evaluated */
    char *store;                   /* the strings above, back to back */
    rg_buf detail;                 /* the audit detail of a change (rg_vet_apply()) */
    size_t storecap;
} rg_vet_row;

void rg_vet_row_free(rg_vet_row *row);

/* Copies the current result row of st (RG_VET_COLUMNS) into row.  Returns 0 or -ENOMEM. */
int rg_vet_row_load(rg_vet_row *row, sqlite3_stmt *st);

/* Appends one piece of evidence (copied).  Returns 0 or -ENOMEM. */
int rg_vet_row_add_evidence(rg_vet_row *row, int64_t id, const char *kind, const char *text,
                            const char *added_by, const char *added_at);

/* Reads applicant id (and its evidence) into row.  Returns 0, -ENOENT, or another negative errno. */
int rg_vet_row_read(rg_db *db, int64_t id, rg_vet_row *row);

/* Fills the row's evidence for every row in rows[n] (sorted by id) with one range query. */
int rg_vet_rows_evidence(rg_db *db, rg_vet_row *rows, int n);

/*
 * Writes what the rules decided (row->res, already evaluated) into the register inside the
 * caller's write transaction, keeping a person's decision, and audits it as who with action
 * ("verdict.auto" unless the caller says otherwise).  Writes nothing when nothing the applicant
 * shows would change, unless force.  Returns 1 when it wrote, 0 when unchanged, or a negative
 * errno.  *verdict_out (may be NULL) receives the verdict the applicant now has.
 */
int rg_vet_apply(rg_db *db, const rg_rules *rules, rg_vet_row *row, const rg_actor *who,
                 const char *action, int force, int64_t now_ns, enum rg_verdict *verdict_out);

/* Whether rg_vet_apply() would write this evaluated row. */
int rg_vet_changes(const rg_rules *rules, const rg_vet_row *row);

/* Parses an audit actor string ("name:uid" or "regfs") back into an actor. */
void rg_actor_parse(const char *s, rg_actor *out);

#endif
