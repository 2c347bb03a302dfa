/*
 * match.c: the matcher (see match.h): blocking index, name similarity, corroboration.
 *
 * Each watch-list entry is prepared once, when added: names folded and split into tokens, a joined
 * form of each name ("o brien" and "obrien" are both "obrien"; every "mac" at the start of a token
 * is written "mc"), nickname groups of the first given name, date of birth as a number, email and
 * postcode folded.  Each entry also yields blocking keys: its email, its date of birth, and name
 * keys, which pair the phonetic code (names.h) of each family-name token and of the joined family
 * name with an initial of the given name: the first letter of each given name, and of the canonical
 * form of each nickname the first one is (so Bill Smith is under S530+b and S530+w, and William
 * Smith under S530+w).  Pairing splits the long lists of common family names (Smith is one
 * person in eighty) into lists a few entries long; what it gives up is a typo in the first letter
 * of a given name, which is then found only through the date of birth or the email.  Building
 * sorts the (key, entry) pairs into one array of posting lists, sorted by entry within a key, and
 * an open-addressed table from a key's 64-bit hash to its list.
 *
 * An applicant is prepared the same way on the stack and looks up its own keys, plus its given
 * names' codes paired with its family name's initials: that is how an entry whose names are the
 * applicant's swapped is found.  It scores each entry the lists bring up, once: an entry already
 * seen in an earlier list is skipped by a binary search of that list.  So the cost of one match is
 * the length of the few lists it touches, not the size of the watch list, and nothing is allocated.
 *
 * Scoring an entry: a name similarity (family part and given part, straight and swapped), then the
 * evidence (date of birth, email, postcode), then the first rule of the decision table that fits.
 * Only the best candidate's explanation is written out, at the end.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fold.h"
#include "match.h"
#include "names.h"
#include "util.h"

#define NAME_BYTES 64     /* a folded name; longer ones are cut (fold reports it; we compare the rest) */
#define MAX_TOK 6         /* tokens of one name that take part; more are ignored */
#define MAX_NICK 8        /* nickname groups kept for a name (Bert is in five) */
#define EMAIL_BYTES 256
#define MAX_LETTERS 8     /* initials a name is blocked under (its tokens', its nicknames' canonical forms') */
#define MAX_KEYS (2 * (MAX_TOK + 1) * MAX_LETTERS + 2)

/* ---- prepared names ---- */

typedef struct pname {
    char s[NAME_BYTES];     /* folded: tokens separated by one space */
    char cat[NAME_BYTES];   /* tokens joined, "mac" at a token's start written "mc" */
    uint8_t slen, catlen, ntok, nnick;
    uint8_t off[MAX_TOK], len[MAX_TOK];
    rg_nickref nick[MAX_NICK];   /* nickname groups of the first token */
} pname;

struct postcode {
    char full[16];          /* folded by rg_postcode_fold(): "sw1a1aa" */
    char district[8];       /* its outward code when valid: "sw1a" */
    bool valid;
};

struct entry {
    pname family, given;
    int32_t dob;            /* YYYYMMDD, 0 when unknown */
    uint32_t id, email;     /* offsets into the matcher's pool; 0 is "" */
    struct postcode pc;
};

/* An applicant, prepared on the caller's stack. */
struct applicant {
    pname family, given;
    int32_t dob;
    char email[EMAIL_BYTES];
    struct postcode pc;
};

/* Family-name words too common to be keys or, alone, to make a double-barrelled match. */
static const char *const particles[] = {
    "ab", "al", "ap", "bin", "da", "das", "de", "del", "della", "den", "der", "di", "dos", "du",
    "el", "la", "le", "mac", "mc", "o", "st", "ter", "van", "von", "y",
};

#define PARTICLE_MAX 5   /* the longest above: most words are ruled out by length alone */

static bool is_particle(const char *t, size_t n)
{
    if (n > PARTICLE_MAX)
        return false;
    for (size_t i = 0; i < sizeof particles / sizeof particles[0]; i++)
        if (strlen(particles[i]) == n && memcmp(particles[i], t, n) == 0)
            return true;
    return false;
}

static const char *tok(const pname *n, int i)
{
    return n->s + n->off[i];
}

static void prepare_name(const rg_nicknames *nick, const char *raw, pname *n)
{
    size_t i = 0, c = 0;

    memset(n->off, 0, sizeof n->off);
    memset(n->len, 0, sizeof n->len);
    (void)rg_fold_name(raw, n->s, sizeof n->s);   /* a cut or partly invalid name: compare what folded */
    n->slen = (uint8_t)strlen(n->s);
    n->ntok = 0;
    while (i < n->slen && n->ntok < MAX_TOK) {
        size_t start = i;
        while (i < n->slen && n->s[i] != ' ')
            i++;
        n->off[n->ntok] = (uint8_t)start;
        n->len[n->ntok] = (uint8_t)(i - start);
        n->ntok++;
        i++;
    }
    for (int t = 0; t < n->ntok; t++) {
        const char *p = tok(n, t);
        size_t l = n->len[t];
        if (l >= 3 && memcmp(p, "mac", 3) == 0) {
            n->cat[c++] = 'm';
            n->cat[c++] = 'c';
            p += 3, l -= 3;
        }
        memcpy(n->cat + c, p, l);   /* fits: the joined form is never longer than s */
        c += l;
    }
    n->cat[c] = '\0';
    n->catlen = (uint8_t)c;
    n->nnick = n->ntok ? (uint8_t)rg_nicknames_groups(nick, tok(n, 0), n->len[0], n->nick, MAX_NICK) : 0;
}

static int32_t parse_dob(const char *s)
{
    if (!s || !*s || !rg_date_valid(s))
        return 0;
    return (int32_t)((s[0] - '0') * 10000000 + (s[1] - '0') * 1000000 + (s[2] - '0') * 100000 +
                     (s[3] - '0') * 10000 + (s[5] - '0') * 1000 + (s[6] - '0') * 100 +
                     (s[8] - '0') * 10 + (s[9] - '0'));
}

/* Folds an email (ASCII case, surrounding space) into out[EMAIL_BYTES]; "" unless it has an @. */
static void fold_email(const char *s, char *out)
{
    size_t n = 0, len;

    out[0] = '\0';
    if (!s)
        return;
    while (*s == ' ' || *s == '\t')
        s++;
    len = strlen(s);
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r' || s[len - 1] == '\n'))
        len--;
    if (len >= EMAIL_BYTES)
        return;
    for (; n < len; n++)
        out[n] = (char)(s[n] >= 'A' && s[n] <= 'Z' ? s[n] - 'A' + 'a' : s[n]);
    out[n] = '\0';
    if (!strchr(out, '@') || out[0] == '@' || out[n - 1] == '@')
        out[0] = '\0';
}

static void prepare_postcode(const char *s, struct postcode *pc)
{
    memset(pc, 0, sizeof *pc);
    if (!s || !*s || rg_postcode_fold(s, pc->full) == 0)
        return;
    pc->valid = rg_postcode_valid(s);
    if (pc->valid)
        rg_postcode_district(pc->full, pc->district);
}

/* ---- blocking keys ---- */

enum key_kind { KEY_NAME = 1, KEY_EMAIL, KEY_DOB };

static uint64_t key_hash(enum key_kind kind, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull ^ ((uint64_t)kind * 0x9e3779b97f4a7c15ull);

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;   /* 0 marks an empty slot */
}

/*
 * The initials a given name is blocked under: the first letter of each of its tokens (so that a
 * person who goes by a middle name is found) and of the canonical form of each nickname group of its
 * first token (Bill is blocked under b and w, William under w).  Written to letters[MAX_LETTERS],
 * each once; returns how many.
 */
static int given_letters(const rg_nicknames *nick, const pname *g, char *letters)
{
    int n = 0;

    for (int i = 0; i < g->ntok + g->nnick && n < MAX_LETTERS; i++) {
        char c = i < g->ntok ? tok(g, i)[0] : rg_nicknames_canonical(nick, RG_NICK_GROUP(g->nick[i - g->ntok]))[0];
        if (!memchr(letters, c, (size_t)n))
            letters[n++] = c;
    }
    return n;
}

/* The phonetic code of t[n] as a key part, or the token itself when it has no ASCII letter to code. */
static uint64_t code_hash(const char *t, size_t n)
{
    char code[RG_PHONETIC_SIZE];
    int len = rg_phonetic(t, n, code);

    return len > 0 ? key_hash(KEY_NAME, code, (size_t)len) : key_hash(KEY_NAME, t, n);
}

/* A name key: a family-name code paired with an initial of the given name. */
static uint64_t pair_key(uint64_t code, char letter)
{
    uint64_t h = (code ^ (unsigned char)letter) * 0x9e3779b97f4a7c15ull;

    h ^= h >> 29;
    return h ? h : 1;
}

/*
 * Appends the name keys of family name f (the code of each token but initials and particles, and of
 * the joined form) paired with each of the given name's letters.  A name without a given name has
 * no name keys: a family name alone can never match.
 */
static int name_keys(const pname *f, const char *letters, int nletters, uint64_t *keys, int nk)
{
    uint64_t codes[MAX_TOK + 1];
    int nc = 0;

    for (int t = 0; t < f->ntok; t++)
        if (f->len[t] >= 2 && !is_particle(tok(f, t), f->len[t]))
            codes[nc++] = code_hash(tok(f, t), f->len[t]);
    if (f->ntok > 1 && f->catlen > 0)
        codes[nc++] = code_hash(f->cat, f->catlen);
    for (int c = 0; c < nc; c++)
        for (int l = 0; l < nletters; l++)
            keys[nk++] = pair_key(codes[c], letters[l]);
    return nk;
}

static int evidence_keys(int32_t dob, const char *email, uint64_t *keys, int nk)
{
    if (*email)
        keys[nk++] = key_hash(KEY_EMAIL, email, strlen(email));
    if (dob)
        keys[nk++] = key_hash(KEY_DOB, &dob, sizeof dob);
    return nk;
}

/* ---- the matcher ---- */

struct keyent {
    uint64_t key;
    uint32_t entry;
};

struct slot {
    uint64_t key;           /* 0: empty */
    uint32_t start, count;  /* into post[] */
};

struct rg_matcher {
    rg_nicknames *nick;
    struct entry *entries;
    size_t n, cap;
    char *pool;             /* ids and emails, NUL-terminated; offset 0 is "" */
    size_t pool_len, pool_cap;
    struct keyent *keys;    /* gathered by add, consumed by build */
    size_t nkeys, keys_cap;
    uint32_t *post;         /* entry indexes, grouped by key, ascending within a key */
    struct slot *slots;
    size_t mask;            /* slots has mask + 1 entries, a power of two */
    bool built;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 256;
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

static int pool_add(rg_matcher *m, const char *s, uint32_t *off)
{
    size_t n = strlen(s);

    *off = 0;
    if (n == 0)
        return 0;
    if (m->pool_len + n + 1 > UINT32_MAX || grow((void **)&m->pool, &m->pool_cap, m->pool_len + n + 1, 1) < 0)
        return -ENOMEM;
    memcpy(m->pool + m->pool_len, s, n + 1);
    *off = (uint32_t)m->pool_len;
    m->pool_len += n + 1;
    return 0;
}

rg_matcher *rg_matcher_new(void)
{
    rg_matcher *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    if (rg_nicknames_parse(rg_nicknames_tsv, &m->nick, NULL) < 0)
        goto out_free;
    if (grow((void **)&m->pool, &m->pool_cap, 1, 1) < 0)
        goto out_free;
    m->pool[0] = '\0';
    m->pool_len = 1;
    return m;

out_free:
    rg_matcher_free(m);
    return NULL;
}

void rg_matcher_free(rg_matcher *m)
{
    if (!m)
        return;
    rg_nicknames_free(m->nick);
    free(m->entries);
    free(m->pool);
    free(m->keys);
    free(m->post);
    free(m->slots);
    free(m);
}

size_t rg_matcher_size(const rg_matcher *m)
{
    return m->n;
}

int rg_matcher_add(rg_matcher *m, const rg_person *p)
{
    char email[EMAIL_BYTES], letters[MAX_LETTERS];
    uint64_t keys[MAX_KEYS];
    struct entry *e;
    size_t pool_mark = m->pool_len;
    int nk, nletters;

    if (m->built)
        return -EINVAL;
    if (m->n >= UINT32_MAX || grow((void **)&m->entries, &m->cap, m->n + 1, sizeof *m->entries) < 0 ||
        grow((void **)&m->keys, &m->keys_cap, m->nkeys + MAX_KEYS, sizeof *m->keys) < 0)
        return -ENOMEM;
    e = &m->entries[m->n];
    memset(e, 0, sizeof *e);
    prepare_name(m->nick, p->family_name, &e->family);
    prepare_name(m->nick, p->given_name, &e->given);
    e->dob = parse_dob(p->date_of_birth);
    fold_email(p->email, email);
    prepare_postcode(p->postcode, &e->pc);
    if (pool_add(m, p->id ? p->id : "", &e->id) < 0 || pool_add(m, email, &e->email) < 0) {
        m->pool_len = pool_mark;
        return -ENOMEM;
    }
    nletters = given_letters(m->nick, &e->given, letters);
    nk = evidence_keys(e->dob, email, keys, name_keys(&e->family, letters, nletters, keys, 0));
    for (int i = 0; i < nk; i++)
        m->keys[m->nkeys++] = (struct keyent){ keys[i], (uint32_t)m->n };
    m->n++;
    return 0;
}

static int keyent_cmp(const void *x, const void *y)
{
    const struct keyent *a = x, *b = y;

    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return (a->entry > b->entry) - (a->entry < b->entry);
}

int rg_matcher_build(rg_matcher *m)
{
    size_t distinct = 0, w = 0, size = 16;
    uint32_t *post;
    struct slot *slots;

    if (m->built)
        return 0;
    qsort(m->keys, m->nkeys, sizeof *m->keys, keyent_cmp);
    for (size_t r = 0; r < m->nkeys; r++) {   /* one entry once per key */
        if (w > 0 && m->keys[w - 1].key == m->keys[r].key && m->keys[w - 1].entry == m->keys[r].entry)
            continue;
        distinct += w == 0 || m->keys[w - 1].key != m->keys[r].key;
        m->keys[w++] = m->keys[r];
    }
    m->nkeys = w;
    while (size < 2 * distinct)
        size *= 2;
    post = malloc((m->nkeys ? m->nkeys : 1) * sizeof *post);
    slots = calloc(size, sizeof *slots);
    if (!post || !slots) {
        free(post);
        free(slots);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->nkeys;) {
        size_t j = i, h;
        while (j < m->nkeys && m->keys[j].key == m->keys[i].key) {
            post[j] = m->keys[j].entry;
            j++;
        }
        for (h = m->keys[i].key & (size - 1); slots[h].key; h = (h + 1) & (size - 1))
            ;
        slots[h] = (struct slot){ m->keys[i].key, (uint32_t)i, (uint32_t)(j - i) };
        i = j;
    }
    free(m->keys);
    m->keys = NULL;
    m->nkeys = m->keys_cap = 0;
    m->post = post;
    m->slots = slots;
    m->mask = size - 1;
    m->built = true;
    return 0;
}

struct span {
    const uint32_t *p;
    uint32_t n;
};

static struct span lookup(const rg_matcher *m, uint64_t key)
{
    for (size_t h = key & m->mask; m->slots[h].key; h = (h + 1) & m->mask)
        if (m->slots[h].key == key)
            return (struct span){ m->post + m->slots[h].start, m->slots[h].count };
    return (struct span){ NULL, 0 };
}

static bool span_has(struct span s, uint32_t v)
{
    uint32_t lo = 0, hi = s.n;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s.p[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < s.n && s.p[lo] == v;
}

/* ---- name similarity ---- */

enum given_kind { G_NONE, G_UNKNOWN, G_EXACT, G_JOINED, G_NICKNAME, G_NICKNAME_VARIANTS, G_TYPO,
                  G_INITIAL, G_MIDDLE };
enum family_kind { F_NONE, F_EXACT, F_JOINED, F_REORDERED, F_PART, F_TYPO };

/* Scores of the name comparisons; the numbers in match.h's rg_match_params_default() follow. */
#define SCORE_JOINED 0.98
#define SCORE_REORDERED 0.95
#define SCORE_PART 0.90
#define SCORE_NICKNAME 0.92
#define SCORE_NICKNAME_VARIANTS 0.88
#define SCORE_INITIAL 0.80
#define SCORE_MIDDLE 0.85
#define FACTOR_MIDDLE_DIFFERS 0.80
#define FACTOR_SWAPPED 0.97
#define JW_GIVEN_TYPO 0.88     /* and both at least 3 letters */
#define JW_FAMILY_TYPO 0.92    /* or 0.85 with the same phonetic code; lengths within 2 */
#define JW_FAMILY_SOUND 0.85
#define JW_MIDDLE 0.90

enum { MIDDLE_ONE_SIDE = 1, MIDDLE_DIFFERS = 2 };

struct part {
    double score;
    uint8_t kind;
    uint8_t ai, ei;          /* the tokens that matched (given: first or middle) */
    uint16_t group;          /* G_NICKNAME*: the shared group */
};

struct name_res {
    double score;
    struct part fam, giv;
    bool swapped;
    uint8_t middle;          /* MIDDLE_* */
};

static bool tok_eq(const pname *a, int i, const pname *b, int j)
{
    return a->len[i] == b->len[j] && memcmp(tok(a, i), tok(b, j), a->len[i]) == 0;
}

/* One given-name token against another: equal, initial, nickname (first names only), typo. */
static struct part token_sim(const pname *a, int i, const pname *e, int j)
{
    struct part r = { 0.0, G_NONE, (uint8_t)i, (uint8_t)j, 0 };
    unsigned group = 0;
    int rel;
    double jw;

    if (tok_eq(a, i, e, j)) {
        r.score = 1.0, r.kind = G_EXACT;
    } else if (a->len[i] == 1 || e->len[j] == 1) {
        if (tok(a, i)[0] == tok(e, j)[0])
            r.score = SCORE_INITIAL, r.kind = G_INITIAL;
    } else if (i == 0 && j == 0 && (rel = rg_nicknames_relate(a->nick, a->nnick, e->nick, e->nnick, &group))) {
        r.score = rel == 2 ? SCORE_NICKNAME : SCORE_NICKNAME_VARIANTS;
        r.kind = rel == 2 ? G_NICKNAME : G_NICKNAME_VARIANTS;
        r.group = (uint16_t)group;
    } else if (a->len[i] >= 3 && e->len[j] >= 3 &&
               (jw = rg_jaro_winkler(tok(a, i), a->len[i], tok(e, j), e->len[j])) >= JW_GIVEN_TYPO) {
        r.score = jw, r.kind = G_TYPO;
    }
    return r;
}

/* Middle names (tokens after the first) that both sides have must not contradict each other. */
static uint8_t middle_check(const pname *a, const pname *e)
{
    const pname *few, *many;

    if (a->ntok <= 1 && e->ntok <= 1)
        return 0;
    if (a->ntok <= 1 || e->ntok <= 1)
        return MIDDLE_ONE_SIDE;
    few = a->ntok <= e->ntok ? a : e;
    many = few == a ? e : a;
    for (int i = 1; i < few->ntok; i++) {
        bool ok = false;
        for (int j = 1; j < many->ntok && !ok; j++)
            ok = tok_eq(few, i, many, j) ||
                 ((few->len[i] == 1 || many->len[j] == 1) && tok(few, i)[0] == tok(many, j)[0]) ||
                 rg_jaro_winkler(tok(few, i), few->len[i], tok(many, j), many->len[j]) >= JW_MIDDLE;
        if (!ok)
            return MIDDLE_DIFFERS;
    }
    return 0;
}

static struct part given_sim(const pname *a, const pname *e, uint8_t *middle)
{
    struct part best = { 0.0, G_UNKNOWN, 0, 0, 0 };

    *middle = 0;
    if (!a->ntok || !e->ntok)
        return best;
    /* Mary-Anne is Maryanne (before the typo test, which would call it a weak Mary). */
    if (a->ntok != e->ntok && a->catlen == e->catlen && memcmp(a->cat, e->cat, a->catlen) == 0)
        return (struct part){ SCORE_JOINED, G_JOINED, 0, 0, 0 };
    best = token_sim(a, 0, e, 0);
    if (best.score >= SCORE_NICKNAME_VARIANTS) {
        *middle = middle_check(a, e);
        if (*middle == MIDDLE_DIFFERS)
            best.score *= FACTOR_MIDDLE_DIFFERS;
        return best;
    }
    /* Goes by a middle name: Mary Anne Smith is Anne Smith.  Whole names only, not initials. */
    for (int j = 1; j < e->ntok; j++)
        if (a->len[0] > 1 && tok_eq(a, 0, e, j))
            return (struct part){ SCORE_MIDDLE, G_MIDDLE, 0, (uint8_t)j, 0 };
    for (int i = 1; i < a->ntok; i++)
        if (e->len[0] > 1 && tok_eq(a, i, e, 0))
            return (struct part){ SCORE_MIDDLE, G_MIDDLE, (uint8_t)i, 0, 0 };
    if (best.kind == G_NONE)
        best.score = 0.0;
    else
        *middle = middle_check(a, e);
    return best;
}

static struct part family_sim(const pname *a, const pname *e)
{
    struct part r = { 0.0, F_NONE, 0, 0, 0 };
    int dlen;
    double jw;

    if (!a->ntok || !e->ntok)
        return r;
    if (a->slen == e->slen && memcmp(a->s, e->s, a->slen) == 0)
        return (struct part){ 1.0, F_EXACT, 0, 0, 0 };
    if (a->catlen == e->catlen && memcmp(a->cat, e->cat, a->catlen) == 0)
        return (struct part){ SCORE_JOINED, F_JOINED, 0, 0, 0 };
    if (a->ntok > 1 || e->ntok > 1) {
        /* Double-barrelled: every word of the shorter name is in the longer one. */
        const pname *few = a->ntok <= e->ntok ? a : e, *many = few == a ? e : a;
        int found = 0, content = -1;
        unsigned used = 0;   /* words of the longer name already paired */
        for (int i = 0; i < few->ntok; i++) {
            for (int j = 0; j < many->ntok; j++) {
                if (!(used & 1u << j) && tok_eq(few, i, many, j)) {
                    used |= 1u << j;
                    found++;
                    if (content < 0 && !is_particle(tok(few, i), few->len[i]))
                        content = i;
                    break;
                }
            }
        }
        if (found == few->ntok && content >= 0) {
            if (a->ntok == e->ntok)
                return (struct part){ SCORE_REORDERED, F_REORDERED, 0, 0, 0 };
            return (struct part){ SCORE_PART, F_PART, 0, 0, 0 };
        }
    }
    dlen = (int)a->catlen - (int)e->catlen;
    if (dlen < -2 || dlen > 2)
        return r;
    jw = rg_jaro_winkler(a->cat, a->catlen, e->cat, e->catlen);
    if (jw >= JW_FAMILY_TYPO)
        return (struct part){ jw, F_TYPO, 0, 0, 0 };
    if (jw >= JW_FAMILY_SOUND) {
        char ca[RG_PHONETIC_SIZE], ce[RG_PHONETIC_SIZE];
        if (rg_phonetic(a->cat, a->catlen, ca) > 0 && rg_phonetic(e->cat, e->catlen, ce) > 0 &&
            strcmp(ca, ce) == 0)
            return (struct part){ jw, F_TYPO, 0, 0, 0 };
    }
    return r;
}

/* Compares the applicant's names with an entry's, straight and swapped; the better wins. */
static void name_sim(const struct applicant *ap, const struct entry *e, struct name_res *r)
{
    struct part fam, giv;
    uint8_t middle;

    memset(r, 0, sizeof *r);
    r->fam = family_sim(&ap->family, &e->family);
    if (r->fam.kind != F_NONE) {
        r->giv = given_sim(&ap->given, &e->given, &r->middle);
        r->score = (r->fam.score + r->giv.score) / 2.0;
    }
    if (!ap->given.ntok || !ap->family.ntok || r->score >= FACTOR_SWAPPED)
        return;   /* nothing to swap, or swapping cannot do better */
    fam = family_sim(&ap->given, &e->family);
    if (fam.kind == F_NONE)
        return;
    giv = given_sim(&ap->family, &e->given, &middle);
    if (FACTOR_SWAPPED * (fam.score + giv.score) / 2.0 > r->score) {
        r->score = FACTOR_SWAPPED * (fam.score + giv.score) / 2.0;
        r->fam = fam, r->giv = giv, r->middle = middle;
        r->swapped = true;
    }
}

/* ---- corroboration ---- */

enum feature { FEAT_DOB, FEAT_EMAIL, FEAT_POSTCODE, NFEATURES, FEAT_ANY = NFEATURES };

struct evidence {
    enum rg_evidence ev[NFEATURES];
};

static enum rg_evidence compare_dob(int32_t a, int32_t b)
{
    if (!a || !b)
        return RG_EV_UNKNOWN;
    return a == b ? RG_EV_MATCH : RG_EV_CONTRADICTS;
}

static enum rg_evidence compare_email(const char *a, const char *b)
{
    if (!*a || !*b)
        return RG_EV_UNKNOWN;
    return strcmp(a, b) == 0 ? RG_EV_MATCH : RG_EV_CONTRADICTS;
}

/* Postcodes in a valid format compare by district too; others only as a whole. */
static enum rg_evidence compare_postcode(const struct postcode *a, const struct postcode *b)
{
    if (!a->full[0] || !b->full[0])
        return RG_EV_UNKNOWN;
    if (strcmp(a->full, b->full) == 0)
        return RG_EV_MATCH;
    if (!a->valid || !b->valid)
        return RG_EV_UNKNOWN;
    return strcmp(a->district, b->district) == 0 ? RG_EV_PARTIAL : RG_EV_CONTRADICTS;
}

/* The decision table of match.h, in order: the first rule that fits decides. */
static const struct rule {
    bool name_matches;
    enum feature feature;        /* FEAT_ANY: no condition on evidence */
    enum rg_evidence ev;
    enum rg_match_outcome outcome;
    const char *reason;
} rules[] = {
    { true, FEAT_EMAIL, RG_EV_MATCH, RG_MATCH_EXCLUDE, "name and email match" },
    { true, FEAT_DOB, RG_EV_CONTRADICTS, RG_MATCH_CLEARED, "date of birth differs: a namesake" },
    { true, FEAT_DOB, RG_EV_MATCH, RG_MATCH_EXCLUDE, "name and date of birth match" },
    { true, FEAT_POSTCODE, RG_EV_MATCH, RG_MATCH_EXCLUDE, "name and postcode match" },
    { true, FEAT_POSTCODE, RG_EV_PARTIAL, RG_MATCH_REVIEW, "name matches in the same postcode district" },
    { true, FEAT_POSTCODE, RG_EV_CONTRADICTS, RG_MATCH_CLEARED,
      "postcode in another district: a namesake elsewhere" },
    { true, FEAT_ANY, RG_EV_UNKNOWN, RG_MATCH_REVIEW, "name matches, nothing confirms or contradicts it" },
    { false, FEAT_EMAIL, RG_EV_MATCH, RG_MATCH_REVIEW, "email matches under another name" },
};

static const char *const reason_none = "no watch-list entry matches";

static int decide(bool name_matches, const struct evidence *ev)
{
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (rules[i].name_matches == name_matches &&
            (rules[i].feature == FEAT_ANY || ev->ev[rules[i].feature] == rules[i].ev))
            return (int)i;
    return -1;
}

/* Each feature's part in the score (logit), and how explain[] words it; indexed by evidence + 1. */
#define EV_INDEX(e) ((int)(e) + 1)
static const struct {
    double weight[4];
    const char *words[4];
} features[NFEATURES] = {
    [FEAT_DOB] = { { -4.0, 0.0, 4.0, 0.0 },
                   { "date of birth differs", "date of birth not known on both sides",
                     "date of birth matches", "" } },
    [FEAT_EMAIL] = { { 0.0, 0.0, 5.0, 0.0 },
                     { "emails differ (not evidence: people have several)", "email not known on both sides",
                       "email matches", "" } },
    [FEAT_POSTCODE] = { { -2.0, 0.0, 2.5, 1.0 },
                        { NULL, NULL, NULL, NULL } },   /* worded by describe_postcode() */
};
#define NAME_WEIGHT 10.0   /* the name's part is NAME_WEIGHT x (name_score - 1), */
#define NAME_FLOOR (-5.0)  /* but a different name counts against no more than an email counts for */

static double name_logit(double name_score)
{
    double l = NAME_WEIGHT * (name_score - 1.0);

    return l < NAME_FLOOR ? NAME_FLOOR : l;
}

struct candidate {
    uint32_t entry;
    struct name_res name;
    struct evidence ev;
    int rule;
    enum rg_match_outcome outcome;
    double score;
};

static void consider(const rg_matcher *m, const struct applicant *ap, uint32_t idx,
                     const rg_match_params *p, struct candidate *best, bool *have_best)
{
    const struct entry *e = &m->entries[idx];
    struct candidate c = { .entry = idx };
    double logit;
    bool name_matches;

    name_sim(ap, e, &c.name);
    c.ev.ev[FEAT_EMAIL] = compare_email(ap->email, m->pool + e->email);
    name_matches = c.name.score >= p->name_threshold;
    if (!name_matches && c.ev.ev[FEAT_EMAIL] != RG_EV_MATCH)
        return;
    c.ev.ev[FEAT_DOB] = compare_dob(ap->dob, e->dob);
    c.ev.ev[FEAT_POSTCODE] = compare_postcode(&ap->pc, &e->pc);
    c.rule = decide(name_matches, &c.ev);
    if (c.rule < 0)
        return;
    c.outcome = rules[c.rule].outcome;
    logit = name_logit(c.name.score);
    for (int f = 0; f < NFEATURES; f++)
        logit += features[f].weight[EV_INDEX(c.ev.ev[f])];
    c.score = 1.0 / (1.0 + exp(-logit));
    if (!*have_best || c.outcome > best->outcome ||
        (c.outcome == best->outcome && (c.score > best->score ||
                                        (c.score == best->score && c.entry < best->entry)))) {
        *best = c;
        *have_best = true;
    }
}

/* ---- explanation ---- */

static size_t append(char *buf, size_t size, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* snprintf at buf + len, cut at a character boundary if it must be cut; returns the new length. */
static size_t append(char *buf, size_t size, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (len + 1 >= size)
        return len;
    va_start(ap, fmt);
    n = rg_vsnprintf_utf8(buf + len, size - len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return len;
    return len + (size_t)n < size ? len + (size_t)n : len + strlen(buf + len);
}

/* A token's length as printf's "%.*s" wants it. */
static int tokw(const pname *n, int i)
{
    return (int)n->len[i];
}

static void describe_name(const rg_matcher *m, const struct applicant *ap, const struct entry *e,
                          const struct name_res *r, char *out, size_t size)
{
    const pname *ag = r->swapped ? &ap->family : &ap->given, *af = r->swapped ? &ap->given : &ap->family;
    const pname *eg = &e->given, *ef = &e->family;
    const struct part *g = &r->giv, *f = &r->fam;
    size_t len = 0;

    out[0] = '\0';
    if (f->kind == F_NONE) {   /* given names were not compared */
        append(out, size, len, "names differ");
        return;
    }
    if (r->swapped)
        len = append(out, size, len, "given and family names swapped, ");
    switch (g->kind) {
    case G_UNKNOWN:
        len = append(out, size, len, "given name not known on both sides, ");
        break;
    case G_NONE:
        len = append(out, size, len, "given names differ %.*s~%.*s, ", tokw(ag, 0), tok(ag, 0), tokw(eg, 0), tok(eg, 0));
        break;
    case G_JOINED:
        len = append(out, size, len, "given names joined %s~%s, ", ag->s, eg->s);
        break;
    case G_NICKNAME:
    case G_NICKNAME_VARIANTS:
        len = append(out, size, len, "nickname %.*s~%.*s", tokw(ag, 0), tok(ag, 0), tokw(eg, 0), tok(eg, 0));
        if (g->kind == G_NICKNAME_VARIANTS)
            len = append(out, size, len, " (both %s)", rg_nicknames_canonical(m->nick, g->group));
        len = append(out, size, len, ", ");
        break;
    case G_TYPO:
        len = append(out, size, len, "typo %.*s~%.*s, ", tokw(ag, 0), tok(ag, 0), tokw(eg, 0), tok(eg, 0));
        break;
    case G_INITIAL:
        len = append(out, size, len, "initial %.*s~%.*s, ", tokw(ag, 0), tok(ag, 0), tokw(eg, 0), tok(eg, 0));
        break;
    case G_MIDDLE:
        len = append(out, size, len, "goes by middle name %.*s, ", tokw(ag, g->ai), tok(ag, g->ai));
        break;
    default:
        break;
    }
    if (r->middle == MIDDLE_ONE_SIDE)
        len = append(out, size, len, "middle name on one side only, ");
    else if (r->middle == MIDDLE_DIFFERS)
        len = append(out, size, len, "middle names differ, ");
    switch (f->kind) {
    case F_JOINED:
        len = append(out, size, len, "family name joined %s~%s, ", af->s, ef->s);
        break;
    case F_REORDERED:
        len = append(out, size, len, "family name reordered %s~%s, ", af->s, ef->s);
        break;
    case F_PART:
        len = append(out, size, len, "double-barrelled %s~%s, ", af->s, ef->s);
        break;
    case F_TYPO:
        len = append(out, size, len, "family typo %s~%s, ", af->s, ef->s);
        break;
    default:
        break;
    }
    if (len == 0)
        append(out, size, len, "exact");
    else if (len >= 2 && out[len - 2] == ',')
        out[len - 2] = '\0';
}

/* A district as people write it: "SW1A". */
static void district_upper(const char *d, char out[8])
{
    size_t i;

    for (i = 0; i < 7 && d[i]; i++)
        out[i] = (char)(d[i] >= 'a' && d[i] <= 'z' ? d[i] - 'a' + 'A' : d[i]);
    out[i] = '\0';
}

static void describe_postcode(const struct applicant *ap, const struct entry *e, enum rg_evidence ev,
                              char *out, size_t size)
{
    char a[8], b[8];

    district_upper(ap->pc.district, a);
    district_upper(e->pc.district, b);
    switch (ev) {
    case RG_EV_MATCH:
        snprintf(out, size, "postcode matches");
        break;
    case RG_EV_PARTIAL:
        snprintf(out, size, "postcode district %s matches", a);
        break;
    case RG_EV_CONTRADICTS:
        snprintf(out, size, "postcode district %s differs from %s", a, b);
        break;
    default:
        snprintf(out, size, "postcode not known on both sides");
        break;
    }
}

static void render(const rg_matcher *m, const struct applicant *ap, const struct candidate *c, rg_match *out)
{
    const struct entry *e = &m->entries[c->entry];
    char pc[96];
    size_t len = 0;

    out->outcome = c->outcome;
    rg_snprintf_utf8(out->watch_id, sizeof out->watch_id, "%s", m->pool + e->id);
    out->score = c->score;
    out->name_score = c->name.score;
    out->dob = c->ev.ev[FEAT_DOB];
    out->email = c->ev.ev[FEAT_EMAIL];
    out->postcode = c->ev.ev[FEAT_POSTCODE];
    out->reason = rules[c->rule].reason;
    describe_name(m, ap, e, &c->name, out->name_how, sizeof out->name_how);
    describe_postcode(ap, e, out->postcode, pc, sizeof pc);

    len = append(out->explain, sizeof out->explain, len, "watch-list %s: name %.2f (%s) [%+.1f]",
                 out->watch_id, c->name.score, out->name_how, name_logit(c->name.score));
    for (int f = 0; f < NFEATURES; f++) {
        int i = EV_INDEX(c->ev.ev[f]);
        len = append(out->explain, sizeof out->explain, len, "; %s [%+.1f]",
                     f == FEAT_POSTCODE ? pc : features[f].words[i], features[f].weight[i]);
    }
    append(out->explain, sizeof out->explain, len, " => %.2f %s: %s", c->score,
           rg_match_outcome_name(c->outcome), out->reason);
}

/* ---- matching ---- */

void rg_match_params_default(rg_match_params *p)
{
    p->name_threshold = 0.88;
}

const char *rg_match_outcome_name(enum rg_match_outcome o)
{
    static const char *const names[] = {
        [RG_MATCH_NONE] = "none", [RG_MATCH_CLEARED] = "cleared",
        [RG_MATCH_REVIEW] = "review", [RG_MATCH_EXCLUDE] = "exclude",
    };

    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "unknown";
}

static void prepare_applicant(const rg_matcher *m, const rg_person *a, struct applicant *ap)
{
    prepare_name(m->nick, a->family_name, &ap->family);
    prepare_name(m->nick, a->given_name, &ap->given);
    ap->dob = parse_dob(a->date_of_birth);
    fold_email(a->email, ap->email);
    prepare_postcode(a->postcode, &ap->pc);
}

enum rg_match_outcome rg_matcher_match(const rg_matcher *m, const rg_person *applicant,
                                       const rg_match_params *p, rg_match *out)
{
    rg_match_params defaults;
    struct applicant ap;
    uint64_t keys[MAX_KEYS];
    struct span seen[MAX_KEYS];
    struct candidate best = { 0 };
    char letters[MAX_LETTERS];
    bool have_best = false;
    int nk, nletters, ns = 0;

    memset(out, 0, sizeof *out);
    out->reason = reason_none;
    if (!p) {
        rg_match_params_default(&defaults);
        p = &defaults;
    }
    if (!m->built || !applicant) {
        snprintf(out->explain, sizeof out->explain, "%s (no watch list to match against)", reason_none);
        return RG_MATCH_NONE;
    }
    prepare_applicant(m, applicant, &ap);
    /* Straight: its family name under its given initials; swapped: the other way round. */
    nletters = given_letters(m->nick, &ap.given, letters);
    nk = name_keys(&ap.family, letters, nletters, keys, 0);
    nletters = given_letters(m->nick, &ap.family, letters);
    nk = name_keys(&ap.given, letters, nletters, keys, nk);
    nk = evidence_keys(ap.dob, ap.email, keys, nk);

    for (int k = 0; k < nk; k++) {
        struct span s;
        bool repeat = false;
        for (int j = 0; j < k && !repeat; j++)
            repeat = keys[j] == keys[k];
        if (repeat || (s = lookup(m, keys[k])).n == 0)
            continue;
        for (uint32_t i = 0; i < s.n; i++) {
            bool dup = false;
            for (int j = 0; j < ns && !dup; j++)
                dup = span_has(seen[j], s.p[i]);
            if (dup)
                continue;
            out->candidates++;
            consider(m, &ap, s.p[i], p, &best, &have_best);
        }
        seen[ns++] = s;
    }
    if (!have_best) {
        snprintf(out->explain, sizeof out->explain, "%s (%u compared)", reason_none, out->candidates);
        return RG_MATCH_NONE;
    }
    render(m, &ap, &best, out);
    return out->outcome;
}
