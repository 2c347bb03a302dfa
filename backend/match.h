/*
 * match.h: is this applicant a watch-listed person?
 *
 * The matcher holds an in-memory index of the watch list, built once per vetting run, and answers
 * "which watch-list entry, if any, is this applicant, and how sure are we" without comparing the
 * applicant with every entry: entries are found through blocking keys (a phonetic code of each
 * family-name part paired with an initial of the given name or of its nickname's full form, the
 * email, the date of birth), then scored on names folded the way people write them (case, accents,
 * punctuation, nicknames, typos, initials, middle names, double-barrelled and swapped names).
 * Corroboration decides the outcome, never the name alone: namesakes are common.
 *
 * What blocking gives up, by design: an entry whose given name differs from the applicant's in its
 * first letter, other than through a nickname (a typo "Xhristopher"), or whose family name has a
 * different phonetic code (a typo in its first letter), is found only when the date of birth or
 * the email is the same.  A name given whole in one field with the other empty never matches.
 *
 * Ownership: rg_matcher_add() copies everything it is given, so the caller's strings may be freed
 * afterwards.  rg_matcher_match() writes into a caller-owned rg_match and allocates nothing the caller
 * must free.  After rg_matcher_build() the matcher is read-only and rg_matcher_match() may be called
 * from several threads at once.
 *
 * The decision (court-facing; match.c implements it as one table, in this order, first rule wins).
 * "The name matches" means name_score >= rg_match_params.name_threshold.
 *   1. name matches, email matches                      -> EXCLUDE  (even if the date of birth differs:
 *                                                                     an email is one person's)
 *   2. name matches, date of birth differs               -> CLEARED  (a namesake)
 *   3. name matches, date of birth matches               -> EXCLUDE
 *   4. name matches, full postcode matches               -> EXCLUDE
 *   5. name matches, only the postcode district matches  -> REVIEW
 *   6. name matches, postcode in another district        -> CLEARED  (a namesake elsewhere: with
 *                                                                     nothing else known, a different
 *                                                                     address is evidence against)
 *   7. name matches, nothing known either way            -> REVIEW
 *   8. name does not match, email matches                -> REVIEW   (a watch-listed person's email
 *                                                                     under another name is a strong
 *                                                                     signal of a made-up name, but
 *                                                                     households share one email: a
 *                                                                     person must look)
 *   otherwise                                            -> NONE
 * So a name alone never excludes; a date of birth that matches outweighs a move of house (3 before
 * 6), and a date of birth that differs outweighs a shared address (2 before 4: a father and son of one
 * name at one address).  Two different emails are not evidence of anything: people have several.
 * Evidence is compared exactly after folding: emails by ASCII case and surrounding space, postcodes
 * by case and spaces.  A date of birth that is not a real "YYYY-MM-DD" date counts as unknown; a
 * postcode not in the UK format matches only when equal as a whole, and is otherwise unknown.
 *
 * The score is separate from the decision: a confidence in 0..1 for ordering and reading, the
 * logistic of a sum of parts that explain[] shows one by one: the name, 10 x (name_score - 1) but
 * no less than -5 (0 for an exact name); date of birth +4 / -4; email +5; postcode +2.5 (full),
 * +1 (district), -2 (other district).  An exact name alone scores 0.50, and 0.98 with a matching
 * date of birth.
 */
#ifndef RG_MATCH_H
#define RG_MATCH_H

#include <stddef.h>

/* A person as both the register and the watch list describe one.  Empty strings mean "unknown". */
typedef struct rg_person {
    const char *id;            /* watch-list id ("W01234") or applicant id as text */
    const char *given_name;    /* may hold middle names: "Mary Anne" */
    const char *family_name;
    const char *date_of_birth; /* "YYYY-MM-DD" or "" */
    const char *email;
    const char *postcode;      /* as written; compared after folding case and spaces */
} rg_person;

/* How one piece of evidence bears on "same person?". */
enum rg_evidence {
    RG_EV_UNKNOWN = 0,     /* missing on one side */
    RG_EV_MATCH = 1,       /* the same */
    RG_EV_PARTIAL = 2,     /* postcode: same district (outward code) only */
    RG_EV_CONTRADICTS = -1 /* both known and different (for email: reported, never held against) */
};

enum rg_match_outcome {
    RG_MATCH_NONE = 0,     /* no candidate whose name matches */
    RG_MATCH_CLEARED,      /* a name matched but the evidence says it is someone else */
    RG_MATCH_REVIEW,       /* a name matched; too little to decide: a person must look */
    RG_MATCH_EXCLUDE       /* a name matched and is corroborated: the same person */
};

/* "none", "cleared", "review", "exclude" (static strings). */
const char *rg_match_outcome_name(enum rg_match_outcome o);

/* Tunables; rg_match_params_default() fills the defaults documented there. */
typedef struct rg_match_params {
    double name_threshold;     /* minimum name similarity (0..1) that counts as a name match */
} rg_match_params;

/*
 * name_threshold 0.88 (the match_name_threshold setting's default).  Name scores are the mean of a
 * family-name part and a given-name part, so at 0.88: exact 1.00; a nickname 0.96 (Bill~William) or
 * 0.94 (Bill~Liam); a typo in either name about 0.95; goes by a middle name 0.925; an initial for
 * the given name 0.90 (and not a match once anything else is inexact); one part of a
 * double-barrelled family name 0.95; swapped given and family names x 0.97; middle names on both
 * sides that disagree x 0.8 on the given part; a family name alone 0.50, never a match.
 */
void rg_match_params_default(rg_match_params *p);

/* The best candidate for one applicant, with every feature's part in the decision. */
typedef struct rg_match {
    enum rg_match_outcome outcome;
    char watch_id[64];         /* the watch-list entry matched ("" when outcome is NONE) */
    double score;              /* overall confidence 0..1 that it is the same person */
    double name_score;         /* name similarity 0..1 */
    enum rg_evidence dob, email, postcode;
    char name_how[128];        /* how the names matched: "exact", "nickname bill~william", ... */
    char explain[512];         /* one line a person can read, naming each feature's part */
    const char *reason;        /* the rule that decided, a static string ("name and date of birth
                                * match"); never NULL */
    unsigned candidates;       /* watch-list entries the blocking keys brought up and that were
                                * scored for this applicant: the work done, for tests and benches */
} rg_match;

typedef struct rg_matcher rg_matcher;

/* Returns a new, empty matcher holding the built-in nickname table (names.h), or NULL when out of
 * memory (or if that table does not parse: a build defect that test_match catches).  Free with
 * rg_matcher_free(). */
rg_matcher *rg_matcher_new(void);
void rg_matcher_free(rg_matcher *m);

/* Adds one watch-list entry (copied; NULL fields are empty).  Returns 0, -ENOMEM (the matcher is
 * unchanged), or -EINVAL after rg_matcher_build(). */
int rg_matcher_add(rg_matcher *m, const rg_person *entry);

/* Finishes the index.  Returns 0 or -ENOMEM (the matcher can still take entries and be built
 * again).  Building a built matcher does nothing. */
int rg_matcher_build(rg_matcher *m);

/* Number of entries added. */
size_t rg_matcher_size(const rg_matcher *m);

/*
 * Finds the watch-list entry this applicant most likely is.  Fills *out (always) and returns its
 * outcome.  When several candidates match, the one with the strongest outcome wins, then the
 * highest score, then the one added first.  p may be NULL for the defaults.  An unbuilt matcher
 * finds nothing.  Allocates nothing; thread-safe after rg_matcher_build().
 */
enum rg_match_outcome rg_matcher_match(const rg_matcher *m, const rg_person *applicant,
                                       const rg_match_params *p, rg_match *out);

#endif
