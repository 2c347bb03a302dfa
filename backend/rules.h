/*
 * rules.h: the vetting rules: what they decide about one applicant, and why.
 *
 * The rules are one table (rules.c), run in this order, each of which may speak:
 *
 *   declared-party   the applicant wrote another party on the form: a known organisation (its name
 *                    or an alias, after folding case, accents, punctuation and the words "the",
 *                    "party" and "of") excludes, and so does an unmistakable misspelling of one (one
 *                    slip, two in a long name, none in three letters, and no other name as close);
 *                    an answer that names one among other words, is as close to two names, or is
 *                    unknown goes to review.  Answers meaning "none", and this party's own names
 *                    (the own_parties setting), say nothing.
 *   watch-list       the applicant is a watch-listed person (match.h decides, on corroboration:
 *                    exclude, review, or cleared, which approves and keeps the namesake's reason).
 *                    A name match with no evidence for or against it goes to review only when the
 *                    name matches exactly and is rare on the register (name_only_review_max): where
 *                    many applicants share a name and nothing singles one out, the match says
 *                    nothing about any of them, and reviewing them all would swamp the staff.
 *   aims-and-values  evidence recorded against the applicant sends it to review; only a person
 *                    excludes on it.
 *   duplicate        an earlier applicant with the same email, or the same name and date of birth,
 *                    sends it to review, naming the other id.
 *   eligibility      aims_values not "yes", younger today than the minimum age for its kind, or a
 *                    malformed postcode sends it to review.
 *   none             nothing against it: approved.
 *
 * The strongest outcome wins (excluded over review over approved), and of equals the first in the
 * table (so a possible watch-list match names a review before a malformed postcode does); every
 * rule that spoke keeps its reason.  With the auto_exclude setting off, an exclusion becomes review
 * and the rules' recommendation is kept beside it.
 *
 * Stored reasons are a JSON array, one object per rule that spoke, in table order (render.h):
 *   {"rule":"watch-list","outcome":"excluded","score":0.97,"reason":"...","evidence":"W01234",...}
 * written compactly and deterministically, so that a re-vet can tell "unchanged" by comparing text.
 *
 * Ownership: an rg_rules is built from the database once per vetting run (rg_rules_load, then
 * rg_rules_index_register for a big run) and is then read-only: rg_rules_eval(), rg_rules_ballot()
 * and, once indexed, rg_rules_lookup_register() may be called from several threads at once.
 * rg_rules_eval() writes into a caller-owned rg_rule_result that the caller reuses from one
 * applicant to the next and frees with rg_rule_result_free().  Applicant strings are borrowed.
 */
#ifndef RG_RULES_H
#define RG_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "util.h"
#include "vet.h"

typedef struct rg_rules rg_rules;

/* One piece of evidence recorded against an applicant (strings borrowed). */
typedef struct rg_evidence_item {
    int64_t id;
    const char *kind, *text, *added_by, *added_at;
} rg_evidence_item;

/* What the rules are told about one applicant.  Strings are borrowed; "" means unknown. */
typedef struct rg_applicant_in {
    int64_t id;
    const char *given_name, *family_name, *date_of_birth, *email, *postcode, *clp, *kind;
    const char *joined_day;        /* "YYYY-MM-DD" */
    const char *declared_party, *aims_values;
    const rg_evidence_item *evidence;
    int nevidence;
    /* Filled by rg_rules_lookup_register(): the earliest other applicant who is this person, and
     * how many applicants (this one included) have this given and family name. */
    int64_t duplicate_of;          /* 0: none */
    const char *duplicate_how;     /* static: "email" or "name and date of birth" */
    int64_t name_count;
} rg_applicant_in;

#define RG_SUMMARY_LEN 160

/* The rules' verdict on one applicant.  Zero-initialise before first use. */
typedef struct rg_rule_result {
    enum rg_verdict verdict;       /* what the rules decide (review where auto_exclude held back) */
    enum rg_verdict recommended;   /* what they would decide with auto_exclude on */
    const char *rule;              /* the deciding rule (static string) */
    double score;                  /* its score, rounded to 3 decimals */
    char evidence[64];             /* what its evidence was: "W01234", "1234", an organisation */
    /* "excluded watch-list W01234 0.97": the recommendation as one line (auto_disagrees and
     * recommendation are written with it). */
    char summary[RG_SUMMARY_LEN];
    rg_buf reasons;                /* the JSON array; owned, reused by the next call */
    rg_buf scratch;                /* private */
    int bad_text;                  /* private: a string was not UTF-8 (rg_rules_eval's EILSEQ) */
} rg_rule_result;

void rg_rule_result_free(rg_rule_result *r);

/*
 * Loads the settings, the organisations and the watch list (into a matcher) as they are now.
 * Sets *out to a new rules object, freed with rg_rules_free().  Returns 0 or a negative errno.
 */
int rg_rules_load(rg_db *db, rg_rules **out);
void rg_rules_free(rg_rules *r);

/*
 * Builds an in-memory index of the whole register (emails, names, names with dates of birth) in
 * one pass, for a run over many applicants; without it rg_rules_lookup_register() asks the
 * database, which is cheaper for a few.  Returns 0 or a negative errno.
 */
int rg_rules_index_register(rg_rules *r, rg_db *db);

/*
 * Fills what the rules need to know about the rest of the register: a->duplicate_of and
 * a->duplicate_how (the lowest id below a->id with the same email, compared without regard to
 * ASCII case, or the same folded given and family name and date of birth), and a->name_count (the
 * applicants whose given and family names are a's, compared without regard to ASCII case).  With
 * an index built, db is not used (may be NULL) and this is thread-safe.  Returns 0 or a negative
 * errno.
 */
int rg_rules_lookup_register(const rg_rules *r, rg_db *db, rg_applicant_in *a);

/* Runs every rule on a and fills *out.  Thread-safe.  Returns 0, -ENOMEM, or -EILSEQ if a reason
 * would have held text that is not UTF-8 (which the register's checks on input rule out). */
int rg_rules_eval(const rg_rules *r, const rg_applicant_in *a, rg_rule_result *out);
/* Sets db's error to what rg_rules_eval()'s failure rc on applicant id means; returns rc. */
int rg_rules_eval_failed(rg_db *db, int rc, int64_t id);

/* Whether an applicant with verdict v may vote: approved, of a voting kind, joined on or before
 * the freeze date, a member for the minimum number of days.  Returns 1 or 0. */
int rg_rules_ballot(const rg_rules *r, const rg_applicant_in *a, enum rg_verdict v);

/* The versions the rules were loaded under (the counters rules_version and watchlist_version). */
long rg_rules_rules_version(const rg_rules *r);
long rg_rules_watchlist_version(const rg_rules *r);

/* Number of watch-list entries loaded. */
size_t rg_rules_watchlist_size(const rg_rules *r);

/* How a declared_party answer reads (the declared-party rule's first step). */
enum rg_declared {
    RG_DECLARED_NONE = 0,   /* empty, or a word meaning "no party" */
    RG_DECLARED_OWN,        /* this party or a sister party (own_parties) */
    RG_DECLARED_MATCH,      /* another organisation's name or alias */
    RG_DECLARED_MISSPELT,   /* unmistakably a misspelling of one ("Green Patry") */
    RG_DECLARED_AMBIGUOUS,  /* as few slips away from two or more names */
    RG_DECLARED_MENTION,    /* names another organisation among other words */
    RG_DECLARED_UNKNOWN,    /* something else */
};

/* Classifies answer; for MATCH, MISSPELT and MENTION copies the organisation's name into
 * org[orgsz], for AMBIGUOUS the names it could be ("SEP or SWP"). */
enum rg_declared rg_rules_declared(const rg_rules *r, const char *answer, char *org, size_t orgsz);

/* Folds an organisation's name or a declared answer for comparison: rg_fold_text() without the
 * words "the", "party" and "of" ("The Green Party of England and Wales" -> "green england and
 * wales").  Returns its length. */
size_t rg_rules_fold_party(const char *s, char *out, size_t outsz);

#endif
