/*
 * fold.c: folding names and free text for comparison (see fold.h).
 *
 * One pass over the input, one code point at a time, writing straight into the caller's buffer so
 * that folding allocates nothing (the matcher folds every applicant's name on every vetting run).
 * ASCII takes a short path; anything else goes through utf8proc_decompose_char(), which applies the
 * compatibility decomposition, case folding and mark stripping to one code point at a time into a
 * small stack array.  Whether a character is a letter, a joiner or a separator is decided after
 * that, on what it decomposed to; joiners are recognised before, because some of them decompose to
 * a space (U+00B4 ACUTE ACCENT is compatibility-equivalent to SPACE + COMBINING ACUTE).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <utf8proc.h>

#include "fold.h"

#define FOLD_OPTIONS (UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | \
                      UTF8PROC_IGNORE | UTF8PROC_LUMP)
#define DECOMP_MAX 32   /* utf8proc's longest expansion (U+FDFA) is 18 code points */

/*
 * Characters that join the letters either side of them instead of separating them.  In names they
 * are apostrophes: O'Brien, D'Arcy, N'Dour, Hawai'i, written with whatever quote the keyboard gave.
 */
static const int32_t joiners[] = {
    0x0027, /* ' APOSTROPHE */
    0x0060, /* ` GRAVE ACCENT, typed for an apostrophe */
    0x00B4, /* ´ ACUTE ACCENT, likewise */
    0x00B7, /* · MIDDLE DOT: Catalan l·l ("Gal·la"); Ŀ decomposes to L + this */
    0x02B9, /* ʹ MODIFIER LETTER PRIME */
    0x02BB, /* ʻ MODIFIER LETTER TURNED COMMA (ʻokina) */
    0x02BC, /* ʼ MODIFIER LETTER APOSTROPHE */
    0x02BD, /* ʽ MODIFIER LETTER REVERSED COMMA */
    0x2018, /* ‘ LEFT SINGLE QUOTATION MARK */
    0x2019, /* ’ RIGHT SINGLE QUOTATION MARK: the usual typographic apostrophe */
    0x201B, /* ‛ SINGLE HIGH-REVERSED-9 QUOTATION MARK */
    0x2032, /* ′ PRIME */
    0xFF07, /* ＇ FULLWIDTH APOSTROPHE */
};

/*
 * Latin letters with no Unicode decomposition, so that no normalisation removes their stroke, bar
 * or ligature.  Listed in lower case only: case folding has already run when this table is asked.
 * ß and ẞ need no entry (case folding gives "ss"), nor İ (it folds to i + combining dot above).
 */
static const struct {
    int32_t cp;
    const char *ascii;
} undecomposable[] = {
    { 0x00E6, "ae" }, /* æ */
    { 0x00F0, "d" },  /* ð eth */
    { 0x00F8, "o" },  /* ø */
    { 0x00FE, "th" }, /* þ thorn */
    { 0x0111, "d" },  /* đ */
    { 0x0127, "h" },  /* ħ */
    { 0x0131, "i" },  /* ı dotless i */
    { 0x0142, "l" },  /* ł */
    { 0x014B, "ng" }, /* ŋ eng */
    { 0x0153, "oe" }, /* œ */
    { 0x0167, "t" },  /* ŧ */
    { 0x0180, "b" },  /* ƀ */
    { 0x0249, "j" },  /* ɉ */
    { 0x0268, "i" },  /* ɨ */
};

/* Where the fold is being written; tokens are separated lazily so that none ends with a space. */
struct sink {
    char *out;
    size_t size, len;
    bool sep_pending;   /* a separator was seen since the last token byte */
    bool full;          /* out was too small: nothing more is written */
    bool ilseq;         /* an invalid UTF-8 byte was skipped */
};

static void emit(struct sink *s, const char *bytes, size_t n)
{
    size_t sep = s->sep_pending && s->len > 0;

    if (s->full)
        return;
    if (s->len + sep + n + 1 > s->size) {
        s->full = true;
        return;
    }
    if (sep)
        s->out[s->len++] = ' ';
    s->sep_pending = false;
    memcpy(s->out + s->len, bytes, n);
    s->len += n;
}

static void separate(struct sink *s)
{
    s->sep_pending = true;
}

static bool is_joiner(int32_t cp)
{
    for (size_t i = 0; i < sizeof joiners / sizeof joiners[0]; i++)
        if (joiners[i] == cp)
            return true;
    return false;
}

static const char *undecomposable_ascii(int32_t cp)
{
    for (size_t i = 0; i < sizeof undecomposable / sizeof undecomposable[0]; i++)
        if (undecomposable[i].cp == cp)
            return undecomposable[i].ascii;
    return NULL;
}

/* One ASCII character (after decomposition, so already lower case unless it came in raw). */
static void fold_ascii(struct sink *s, unsigned char c, bool text)
{
    char ch;

    if (c >= 'A' && c <= 'Z')
        c = (unsigned char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        ch = (char)c;
        emit(s, &ch, 1);
    } else if (c == '&' && text) {
        separate(s);
        emit(s, "and", 3);
        separate(s);
    } else if (!is_joiner(c)) {
        separate(s);
    }
}

/* One code point that decomposition left standing. */
static void fold_decomposed(struct sink *s, int32_t cp, bool text)
{
    const char *ascii;
    utf8proc_uint8_t enc[4];
    utf8proc_ssize_t n;

    if (cp < 0x80) {
        fold_ascii(s, (unsigned char)cp, text);
        return;
    }
    if ((ascii = undecomposable_ascii(cp)) != NULL) {
        emit(s, ascii, strlen(ascii));
        return;
    }
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        n = utf8proc_encode_char(cp, enc);
        emit(s, (const char *)enc, (size_t)n);
        break;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
        break;   /* a mark utf8proc kept (none should survive STRIPMARK): part of its letter */
    default:
        if (!is_joiner(cp))
            separate(s);
        break;
    }
}

static int fold(const char *in, char *out, size_t outsz, bool text)
{
    struct sink s = { .out = out, .size = outsz };
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)(in ? in : "");
    utf8proc_int32_t dec[DECOMP_MAX];

    if (!out || outsz == 0)
        return -EINVAL;
    while (*p && !s.full) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t used, n;
        int boundclass = 0;

        if (*p < 0x80) {
            fold_ascii(&s, *p++, text);
            continue;
        }
        used = utf8proc_iterate(p, -1, &cp);
        if (used < 0) {
            s.ilseq = true;
            separate(&s);
            p++;
            continue;
        }
        p += used;
        if (is_joiner(cp))
            continue;
        n = utf8proc_decompose_char(cp, dec, DECOMP_MAX, FOLD_OPTIONS, &boundclass);
        if (n < 0 || n > DECOMP_MAX) {
            separate(&s);
            continue;
        }
        for (utf8proc_ssize_t i = 0; i < n; i++)
            fold_decomposed(&s, dec[i], text);
    }
    out[s.len] = '\0';
    if (s.full)
        return -ENOBUFS;
    if (s.ilseq)
        return -EILSEQ;
    return (int)s.len;
}

int rg_fold_name(const char *in, char *out, size_t outsz)
{
    return fold(in, out, outsz, false);
}

int rg_fold_text(const char *in, char *out, size_t outsz)
{
    return fold(in, out, outsz, true);
}
