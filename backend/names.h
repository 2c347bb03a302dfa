/*
 * names.h: comparing people's names: string similarity, a phonetic code for blocking, and the table
 * of given names that are the same name (William, Will, Bill, Liam).
 *
 * Every function here takes names already folded by rg_fold_name() (fold.h): lower case, no
 * accents, tokens separated by single spaces.  They compare bytes, which is exact for folded Latin
 * names (ASCII) and a fair approximation for other scripts.
 *
 * Ownership: rg_jaro_winkler() and rg_phonetic() are pure.  rg_nicknames_parse() returns a new table
 * the caller frees with rg_nicknames_free(); it is read-only afterwards, so threads may share it, and
 * strings it returns are borrowed from it.
 */
#ifndef RG_NAMES_H
#define RG_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* ---- similarity ---- */

#define RG_JW_MAX 64   /* bytes of each string that take part in rg_jaro_winkler() */

/*
 * Jaro-Winkler similarity of a[alen] and b[blen]: 1 for equal strings, 0 for nothing in common.
 * The Winkler boost (0.1 per byte of common prefix, up to 4) applies when the Jaro similarity is
 * above 0.7.  Only the first RG_JW_MAX bytes of each string take part.  Two empty strings score 1.
 */
double rg_jaro_winkler(const char *a, size_t alen, const char *b, size_t blen);

/* ---- phonetic blocking code ---- */

#define RG_PHONETIC_SIZE 5   /* four characters and the NUL */

/*
 * Writes the phonetic code of one folded name token tok[len] into out: a Soundex variant tuned for
 * British family names, documented in names.c, so that spellings of one name share a code (Smith,
 * Smyth and Smithe: S530; Macdonald and McDonald: M235; Thompson and Thomson: T525; Phillips and
 * Philips: F410; Williams and William: W450).  It is a blocking key: it decides which names are compared at
 * all, never whether two names match.  Returns the code's length (4), or 0 when the token holds no
 * ASCII letter (out is then "").
 */
int rg_phonetic(const char *tok, size_t len, char out[RG_PHONETIC_SIZE]);

/* ---- nicknames ---- */

/*
 * The nickname table groups given names that are one name: a canonical name and its variants
 * (William: Will, Bill, Billy, Liam).  A name may belong to several groups (Alex: Alexander and
 * Alexandra).  Two names are the same name when they share a group.
 */
typedef struct rg_nicknames rg_nicknames;

/* A name's membership of one group: the group's number, and whether the name is its canonical form. */
typedef uint16_t rg_nickref;
#define RG_NICK_GROUP(r) ((unsigned)(r) >> 1)
#define RG_NICK_IS_CANONICAL(r) ((unsigned)(r) & 1u)

/* The table shipped in data/nicknames.tsv, embedded in the program at build time (NUL-terminated). */
extern const char rg_nicknames_tsv[];

/*
 * Parses a nickname table: one group per line, "Canonical<TAB>Variant,Variant,...", blank lines
 * and '#' comments ignored.  Names are folded (so "Seán" is "sean") and must be one word each.
 * On success sets *out to a new table and returns 0.  Returns -EINVAL for a malformed line (its
 * number, from 1, in *bad_line when bad_line is not NULL) or -ENOMEM; *out is then NULL.
 */
int rg_nicknames_parse(const char *tsv, rg_nicknames **out, int *bad_line);
void rg_nicknames_free(rg_nicknames *t);

/* Number of groups in the table. */
size_t rg_nicknames_ngroups(const rg_nicknames *t);

/*
 * The groups the folded given name name[len] belongs to, written to refs[max] in ascending group
 * order.  Returns how many were written (0 for a name the table does not know).  Thread-safe.
 */
int rg_nicknames_groups(const rg_nicknames *t, const char *name, size_t len, rg_nickref *refs,
                        int max);

/*
 * Whether two names, given as their groups (from rg_nicknames_groups()), are the same name.
 * Returns 2 when they share a group in which one of them is the canonical form (Bill and William),
 * 1 when they share one only as variants (Bill and Liam, both William), 0 when they share none.
 * When non-zero and group is not NULL, *group is the shared group (the closest relation's first).
 */
int rg_nicknames_relate(const rg_nickref *a, int na, const rg_nickref *b, int nb, unsigned *group);

/* The canonical name of group g, folded ("william"); borrowed from t.  NULL if g is out of range. */
const char *rg_nicknames_canonical(const rg_nicknames *t, unsigned group);

#endif
