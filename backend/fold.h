/*
 * fold.h: text folded for comparison, so that every way of writing a name becomes one string.
 *
 * A fold is lower-case letters and digits in tokens separated by single spaces, with no space at
 * either end.  Case is folded and accents dropped with utf8proc (compatibility decomposition, case
 * folding, marks stripped, default-ignorable characters such as the soft hyphen removed): "Siân" ->
 * "sian", "ＡＢＣ" -> "abc", "ß" -> "ss".  The Latin letters that Unicode does not decompose are
 * spelled from one small table, documented in fold.c: "Łukasz" -> "lukasz", "Ærø" -> "aero".
 * Apostrophes (straight, curly, modifier letters, the Catalan middle dot) join: "O'Brien" ->
 * "obrien", so a name written "O Brien" folds to "o brien" and the matcher also compares names with
 * their spaces removed.  Every other character that is not a letter or a digit separates tokens:
 * "Smith-Jones" -> "smith jones", "J.R. Hartley" -> "j r hartley".  Other scripts are case-folded
 * and kept as they are.
 *
 * Ownership: the functions write into a caller-owned buffer, allocate nothing and keep no state, so
 * any thread may call them.  Whatever they return, out holds a NUL-terminated fold that is usable.
 */
#ifndef RG_FOLD_H
#define RG_FOLD_H

#include <stddef.h>

/*
 * Folds a person's name (given, middle or family names, as written) into out[outsz].
 * Returns the length of the fold (0 for a name with no letter or digit), or
 *   -ENOBUFS  out was too small: it holds the fold of a prefix of in, cut at a character boundary;
 *   -EILSEQ   in is not valid UTF-8: each invalid byte separated tokens and the rest was folded;
 *   -EINVAL   out is NULL or outsz is 0 (nothing written).
 * -ENOBUFS wins when both problems occur.  in may be NULL (an empty name).
 */
int rg_fold_name(const char *in, char *out, size_t outsz);

/*
 * Folds free text such as an organisation's name the same way, except that "&" becomes the word
 * "and": "Trade Unionist & Socialist Coalition" -> "trade unionist and socialist coalition",
 * "Alliance for Workers' Liberty" -> "alliance for workers liberty".  Stop words are the caller's to
 * drop.  Returns as rg_fold_name().
 */
int rg_fold_text(const char *in, char *out, size_t outsz);

#endif
