/*
 * names.c: Jaro-Winkler similarity, the phonetic blocking code, and the nickname table (names.h).
 *
 * The phonetic code is Soundex (a letter and three digits, letters in classes, vowels separating
 * repeats, h and w not) with changes for the way British family names are spelt and misspelt:
 *   - a trailing s after a consonant is dropped (Williams/William, Phillips/Phillip,
 *     Roberts/Robert): people add and lose it, and the scorer, not the block, decides whether it
 *     matters.  After a vowel it stays, so that Jones is not blocked with the given name John;
 *   - silent or doubled beginnings are rewritten (Knight/Night, Wright/Right, Psmith);
 *   - ph is f, mps/mpt lose their p (Thompson/Thomson, Simpson/Simson), dg is g, ght is t
 *     (Leighton/Layton);
 *   - the first letter is kept as a class, not as itself: every vowel is 'A' (Ellis/Allis,
 *     Owen/Ewan, O'Brien is A165) and c, k and q are 'K' (Cohen/Kohen, Carr/Karr).
 * Mac and Mc need nothing: the a is a vowel, which Soundex does not code.
 *
 * The nickname table keeps every (name, group) pair in one array sorted by name, in one string
 * pool, and finds a name by binary search: a dozen comparisons of short strings per lookup.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "names.h"

/* ---- Jaro-Winkler ---- */

double rg_jaro_winkler(const char *a, size_t alen, const char *b, size_t blen)
{
    bool amatch[RG_JW_MAX] = { false }, bmatch[RG_JW_MAX] = { false };
    size_t window, matches = 0, half_transpositions = 0, prefix = 0, k = 0;
    double jaro;

    if (alen > RG_JW_MAX)
        alen = RG_JW_MAX;
    if (blen > RG_JW_MAX)
        blen = RG_JW_MAX;
    if (alen == 0 || blen == 0)
        return alen == blen ? 1.0 : 0.0;

    window = (alen > blen ? alen : blen) / 2;
    window = window > 0 ? window - 1 : 0;
    for (size_t i = 0; i < alen; i++) {
        size_t lo = i > window ? i - window : 0, hi = i + window + 1 < blen ? i + window + 1 : blen;
        for (size_t j = lo; j < hi; j++) {
            if (!bmatch[j] && a[i] == b[j]) {
                amatch[i] = bmatch[j] = true;
                matches++;
                break;
            }
        }
    }
    if (matches == 0)
        return 0.0;
    for (size_t i = 0; i < alen; i++) {
        if (!amatch[i])
            continue;
        while (!bmatch[k])
            k++;
        if (a[i] != b[k])
            half_transpositions++;
        k++;
    }
    jaro = ((double)matches / (double)alen + (double)matches / (double)blen +
            ((double)matches - (double)half_transpositions / 2.0) / (double)matches) / 3.0;
    if (jaro <= 0.7)
        return jaro;
    while (prefix < 4 && prefix < alen && prefix < blen && a[prefix] == b[prefix])
        prefix++;
    return jaro + (double)prefix * 0.1 * (1.0 - jaro);
}

/* ---- phonetic code ---- */

#define PHON_WORD 32   /* letters of a token that are coded; codes need far fewer */

struct rewrite {
    const char *from, *to;
};

/* Applied once, at the start of the token. */
static const struct rewrite phon_prefix[] = {
    { "kn", "n" }, { "gn", "n" }, { "pn", "n" }, { "ps", "s" }, { "wr", "r" }, { "wh", "w" },
    { "x", "s" },
};

/* Applied anywhere, left to right, the first that fits at each position. */
static const struct rewrite phon_infix[] = {
    { "ght", "t" }, { "mps", "ms" }, { "mpt", "mt" }, { "ph", "f" }, { "dg", "g" },
};

/*
 * Soundex classes: '1'..'6' consonant classes, '0' a vowel (separates repeats, never coded), '-' h
 * and w (transparent: a repeat across them is still a repeat).
 */
static const char phon_class[26] = {
    ['a' - 'a'] = '0', ['e' - 'a'] = '0', ['i' - 'a'] = '0', ['o' - 'a'] = '0', ['u' - 'a'] = '0',
    ['y' - 'a'] = '0',
    ['h' - 'a'] = '-', ['w' - 'a'] = '-',
    ['b' - 'a'] = '1', ['f' - 'a'] = '1', ['p' - 'a'] = '1', ['v' - 'a'] = '1',
    ['c' - 'a'] = '2', ['g' - 'a'] = '2', ['j' - 'a'] = '2', ['k' - 'a'] = '2', ['q' - 'a'] = '2',
    ['s' - 'a'] = '2', ['x' - 'a'] = '2', ['z' - 'a'] = '2',
    ['d' - 'a'] = '3', ['t' - 'a'] = '3',
    ['l' - 'a'] = '4',
    ['m' - 'a'] = '5', ['n' - 'a'] = '5',
    ['r' - 'a'] = '6',
};

/* The first letter stands for its sound: vowels are one letter, hard c is k. */
static char phon_initial(char c)
{
    if (phon_class[c - 'a'] == '0' && c != 'y')
        return 'A';
    if (c == 'c' || c == 'q')
        return 'K';
    return (char)(c - 'a' + 'A');
}

/* Rewrites src[n] into dst (capacity PHON_WORD) by the rules above; returns the new length. */
static size_t phon_rewrite(const char *src, size_t n, char *dst)
{
    size_t i = 0, len = 0;

    for (size_t r = 0; r < sizeof phon_prefix / sizeof phon_prefix[0]; r++) {
        size_t fl = strlen(phon_prefix[r].from);
        if (n > fl && memcmp(src, phon_prefix[r].from, fl) == 0) {
            len = strlen(phon_prefix[r].to);
            memcpy(dst, phon_prefix[r].to, len);
            i = fl;
            break;
        }
    }
    while (i < n && len < PHON_WORD) {
        size_t r;
        for (r = 0; r < sizeof phon_infix / sizeof phon_infix[0]; r++) {
            size_t fl = strlen(phon_infix[r].from), tl = strlen(phon_infix[r].to);
            if (n - i >= fl && memcmp(src + i, phon_infix[r].from, fl) == 0 && len + tl <= PHON_WORD) {
                memcpy(dst + len, phon_infix[r].to, tl);
                len += tl;
                i += fl;
                break;
            }
        }
        if (r == sizeof phon_infix / sizeof phon_infix[0])
            dst[len++] = src[i++];
    }
    return len;
}

int rg_phonetic(const char *tok, size_t len, char out[RG_PHONETIC_SIZE])
{
    char letters[PHON_WORD], word[PHON_WORD];
    size_t n = 0, wn, digits = 0;
    char last;

    for (size_t i = 0; i < len && n < PHON_WORD; i++) {
        char c = tok[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c >= 'a' && c <= 'z')
            letters[n++] = c;
    }
    if (n >= 4 && letters[n - 1] == 's' && letters[n - 2] != 's' && phon_class[letters[n - 2] - 'a'] != '0')
        n--;
    out[0] = '\0';
    if (n == 0)
        return 0;

    wn = phon_rewrite(letters, n, word);
    out[0] = phon_initial(word[0]);
    last = phon_class[word[0] - 'a'];
    for (size_t i = 1; i < wn && digits < 3; i++) {
        char c = phon_class[word[i] - 'a'];
        if (c == '-')
            continue;
        if (c != '0' && c != last)
            out[1 + digits++] = c;
        last = c;
    }
    while (digits < 3)
        out[1 + digits++] = '0';
    out[4] = '\0';
    return 4;
}

/* ---- nickname table ---- */

#define NICK_NAME_MAX 64   /* bytes of one folded name in the table */

struct nick_name {
    uint32_t off;      /* into pool, NUL-terminated */
    uint32_t len;
    rg_nickref ref;
};

struct rg_nicknames {
    char *pool;
    size_t pool_len, pool_cap;
    struct nick_name *names;   /* sorted by name, then ref */
    size_t nnames, names_cap;
    uint32_t *canonical;       /* pool offset of each group's canonical name */
    size_t ngroups, groups_cap;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 64;
    void *np;

    if (need <= *cap)
        return 0;
    while (ncap < need)
        ncap *= 2;
    np = realloc(*p, ncap * elem);
    if (!np)
        return -ENOMEM;
    *p = np;
    *cap = ncap;
    return 0;
}

static int nick_intern(rg_nicknames *t, const char *s, size_t len, uint32_t *off)
{
    if (grow((void **)&t->pool, &t->pool_cap, t->pool_len + len + 1, 1) < 0)
        return -ENOMEM;
    memcpy(t->pool + t->pool_len, s, len);
    t->pool[t->pool_len + len] = '\0';
    *off = (uint32_t)t->pool_len;
    t->pool_len += len + 1;
    return 0;
}

/* Folds raw[rawlen] and adds it to group g.  -EINVAL when it is not one word, -ENOMEM. */
static int nick_add(rg_nicknames *t, const char *raw, size_t rawlen, unsigned g, bool canonical)
{
    char copy[NICK_NAME_MAX], folded[NICK_NAME_MAX];
    struct nick_name *nn;
    int len;

    while (rawlen > 0 && (*raw == ' ' || *raw == '\t'))
        raw++, rawlen--;
    while (rawlen > 0 && (raw[rawlen - 1] == ' ' || raw[rawlen - 1] == '\t'))
        rawlen--;
    if (rawlen == 0 || rawlen >= sizeof copy)
        return -EINVAL;
    memcpy(copy, raw, rawlen);
    copy[rawlen] = '\0';
    len = rg_fold_name(copy, folded, sizeof folded);
    if (len <= 0 || memchr(folded, ' ', (size_t)len))
        return -EINVAL;
    if (grow((void **)&t->names, &t->names_cap, t->nnames + 1, sizeof *t->names) < 0)
        return -ENOMEM;
    nn = &t->names[t->nnames];
    if (nick_intern(t, folded, (size_t)len, &nn->off) < 0)
        return -ENOMEM;
    nn->len = (uint32_t)len;
    nn->ref = (rg_nickref)(g << 1 | (canonical ? 1u : 0u));
    t->nnames++;
    if (canonical) {
        if (grow((void **)&t->canonical, &t->groups_cap, g + 1, sizeof *t->canonical) < 0)
            return -ENOMEM;
        t->canonical[g] = nn->off;
        t->ngroups = g + 1;
    }
    return 0;
}

/* Parses one line "Canonical<TAB>v1,v2" (comments already cut) as group g. */
static int nick_line(rg_nicknames *t, const char *line, size_t len, unsigned g)
{
    const char *tab = memchr(line, '\t', len), *p, *end = line + len;
    int rc;

    if (!tab || g > RG_NICK_GROUP(UINT16_MAX))
        return -EINVAL;
    if ((rc = nick_add(t, line, (size_t)(tab - line), g, true)) < 0)
        return rc;
    for (p = tab + 1; p <= end;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if ((rc = nick_add(t, p, (size_t)(stop - p), g, false)) < 0)
            return rc;
        p = stop + 1;
    }
    return 0;
}

static int nick_cmp_key(const char *pool, const struct nick_name *n, const char *s, size_t len)
{
    size_t m = n->len < len ? n->len : len;
    int c = memcmp(pool + n->off, s, m);

    if (c != 0)
        return c;
    return (n->len > len) - (n->len < len);
}

static int nick_cmp(const void *x, const void *y, void *pool)
{
    const struct nick_name *a = x, *b = y;
    int c = nick_cmp_key(pool, a, (const char *)pool + b->off, b->len);

    return c != 0 ? c : (int)a->ref - (int)b->ref;
}

/* Sorts the pairs and merges repeats of one name in one group (keeping the canonical mark). */
static void nick_finish(rg_nicknames *t)
{
    size_t w = 0;

    if (t->nnames == 0)
        return;
    qsort_r(t->names, t->nnames, sizeof *t->names, nick_cmp, t->pool);
    for (size_t r = 0; r < t->nnames; r++) {
        struct nick_name *prev = w > 0 ? &t->names[w - 1] : NULL, *cur = &t->names[r];
        if (prev && prev->len == cur->len && RG_NICK_GROUP(prev->ref) == RG_NICK_GROUP(cur->ref) &&
            memcmp(t->pool + prev->off, t->pool + cur->off, cur->len) == 0) {
            prev->ref |= cur->ref;
            continue;
        }
        t->names[w++] = *cur;
    }
    t->nnames = w;
}

void rg_nicknames_free(rg_nicknames *t)
{
    if (!t)
        return;
    free(t->pool);
    free(t->names);
    free(t->canonical);
    free(t);
}

int rg_nicknames_parse(const char *tsv, rg_nicknames **out, int *bad_line)
{
    rg_nicknames *t = calloc(1, sizeof *t);
    const char *p = tsv ? tsv : "";
    int lineno = 0, rc = 0;

    *out = NULL;
    if (!t)
        return -ENOMEM;
    while (*p) {
        const char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p), *hash;
        size_t len;

        lineno++;
        hash = memchr(p, '#', (size_t)(end - p));
        len = (size_t)((hash ? hash : end) - p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '\r'))
            len--;
        if (len > 0 && (rc = nick_line(t, p, len, (unsigned)t->ngroups)) < 0)
            goto out_free;
        p = nl ? nl + 1 : end;
    }
    nick_finish(t);
    *out = t;
    return 0;

out_free:
    if (bad_line)
        *bad_line = lineno;
    rg_nicknames_free(t);
    return rc;
}

size_t rg_nicknames_ngroups(const rg_nicknames *t)
{
    return t->ngroups;
}

int rg_nicknames_groups(const rg_nicknames *t, const char *name, size_t len, rg_nickref *refs, int max)
{
    size_t lo = 0, hi = t->nnames;
    int n = 0;

    while (lo < hi) {   /* the first pair whose name is >= name */
        size_t mid = lo + (hi - lo) / 2;
        if (nick_cmp_key(t->pool, &t->names[mid], name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < t->nnames && n < max && nick_cmp_key(t->pool, &t->names[lo], name, len) == 0; lo++)
        refs[n++] = t->names[lo].ref;
    return n;
}

int rg_nicknames_relate(const rg_nickref *a, int na, const rg_nickref *b, int nb, unsigned *group)
{
    int i = 0, j = 0, best = 0;

    while (i < na && j < nb) {
        unsigned ga = RG_NICK_GROUP(a[i]), gb = RG_NICK_GROUP(b[j]);
        if (ga < gb) {
            i++;
        } else if (gb < ga) {
            j++;
        } else {
            int rel = RG_NICK_IS_CANONICAL(a[i]) || RG_NICK_IS_CANONICAL(b[j]) ? 2 : 1;
            if (rel > best) {
                best = rel;
                if (group)
                    *group = ga;
            }
            i++, j++;
        }
    }
    return best;
}

const char *rg_nicknames_canonical(const rg_nicknames *t, unsigned group)
{
    return group < t->ngroups ? t->pool + t->canonical[group] : NULL;
}
