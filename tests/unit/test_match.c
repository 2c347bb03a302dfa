/*
 * test_match.c: the matcher finds watch-listed people however their names are written, and never
 * excludes on a name alone (match.h); with its parts: Jaro-Winkler, the phonetic code and the
 * nickname table (names.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "match.h"
#include "names.h"

#define assert_contains(haystack, needle)                                                          \
    do {                                                                                           \
        if (!strstr((haystack), (needle)))                                                         \
            fail_msg("\"%s\" does not contain \"%s\"", (haystack), (needle));                      \
    } while (0)

/* An applicant or entry written inline: P(given, family, dob, email, postcode). */
#define P(g, f, d, e, pc) (&(rg_person){ "A1", (g), (f), (d), (e), (pc) })

static const rg_person william_smith = { "W01234", "William", "Smith", "1970-03-02", "", "SW1A 1AA" };

/* Matches one applicant against a watch list of the given entries. */
static enum rg_match_outcome match_in(const rg_person *const *entries, size_t n, const rg_person *ap,
                                      const rg_match_params *params, rg_match *out)
{
    rg_matcher *m = rg_matcher_new();
    enum rg_match_outcome o;

    assert_non_null(m);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rg_matcher_add(m, entries[i]), 0);
    assert_int_equal(rg_matcher_build(m), 0);
    o = rg_matcher_match(m, ap, params, out);
    assert_int_equal(o, out->outcome);
    rg_matcher_free(m);
    return o;
}

static enum rg_match_outcome match_one(const rg_person *entry, const rg_person *ap, rg_match *out)
{
    return match_in(&entry, 1, ap, NULL, out);
}

/* ---- names.h ---- */

static void test_jaro_winkler(void **state)
{
    (void)state;
    assert_true(rg_jaro_winkler("smith", 5, "smith", 5) == 1.0);
    assert_true(rg_jaro_winkler("", 0, "", 0) == 1.0);
    assert_true(rg_jaro_winkler("smith", 5, "", 0) == 0.0);
    assert_true(rg_jaro_winkler("abc", 3, "xyz", 3) == 0.0);
    /* The textbook values (Winkler 1990). */
    assert_float_equal(rg_jaro_winkler("martha", 6, "marhta", 6), 0.961, 0.001);
    assert_float_equal(rg_jaro_winkler("dwayne", 6, "duane", 5), 0.840, 0.001);
    assert_float_equal(rg_jaro_winkler("dixon", 5, "dicksonx", 8), 0.813, 0.001);
    /* Symmetric, and a transposition costs less than a different name. */
    assert_float_equal(rg_jaro_winkler("jonh", 4, "john", 4), rg_jaro_winkler("john", 4, "jonh", 4), 1e-12);
    assert_true(rg_jaro_winkler("jonh", 4, "john", 4) > rg_jaro_winkler("joan", 4, "john", 4));
}

static void test_phonetic_blocks_spellings_together(void **state)
{
    static const char *const same[][2] = {
        { "smith", "smyth" },     { "smith", "smithe" },      { "macdonald", "mcdonald" },
        { "thompson", "thomson" }, { "phillips", "philips" }, { "williams", "william" },
        { "davies", "davis" },    { "knight", "night" },      { "leighton", "layton" },
        { "cohen", "kohen" },     { "ellis", "allis" },       { "stephens", "stevens" },
    };
    static const char *const differ[][2] = {
        { "smith", "jones" }, { "jones", "john" }, { "brown", "green" }, { "taylor", "baker" }, { "knight", "wright" },
    };
    char a[RG_PHONETIC_SIZE], b[RG_PHONETIC_SIZE];

    (void)state;
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        assert_int_equal(rg_phonetic(same[i][0], strlen(same[i][0]), a), 4);
        assert_int_equal(rg_phonetic(same[i][1], strlen(same[i][1]), b), 4);
        if (strcmp(a, b) != 0)
            fail_msg("%s=%s but %s=%s", same[i][0], a, same[i][1], b);
    }
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++) {
        rg_phonetic(differ[i][0], strlen(differ[i][0]), a);
        rg_phonetic(differ[i][1], strlen(differ[i][1]), b);
        if (strcmp(a, b) == 0)
            fail_msg("%s and %s both %s", differ[i][0], differ[i][1], a);
    }
    assert_int_equal(rg_phonetic("smith", 5, a), 4);
    assert_string_equal(a, "S530");
    assert_int_equal(rg_phonetic("ελενη", strlen("ελενη"), a), 0);
    assert_string_equal(a, "");
}

static int groups_of(const rg_nicknames *t, const char *name, rg_nickref *refs)
{
    return rg_nicknames_groups(t, name, strlen(name), refs, 8);
}

static int related(const rg_nicknames *t, const char *x, const char *y)
{
    rg_nickref a[8], b[8];
    int na = groups_of(t, x, a), nb = groups_of(t, y, b);

    return rg_nicknames_relate(a, na, b, nb, NULL);
}

static void test_nickname_table(void **state)
{
    rg_nicknames *t;
    rg_nickref refs[8];
    unsigned g = 0;
    int bad = 0;

    (void)state;
    assert_int_equal(rg_nicknames_parse(rg_nicknames_tsv, &t, &bad), 0);
    assert_true(rg_nicknames_ngroups(t) > 150);
    assert_int_equal(related(t, "bill", "william"), 2);
    assert_int_equal(related(t, "william", "liam"), 2);
    assert_int_equal(related(t, "bill", "liam"), 1);       /* both William, neither its full form */
    assert_int_equal(related(t, "peggy", "margaret"), 2);
    assert_int_equal(related(t, "dafydd", "david"), 2);
    assert_int_equal(related(t, "sean", "john"), 2);       /* Seán in the file, folded */
    assert_int_equal(related(t, "bill", "robert"), 0);
    assert_int_equal(related(t, "siobhan", "joan"), 0);    /* left out on purpose */
    assert_int_equal(related(t, "kathleen", "catherine"), 0);
    assert_int_equal(related(t, "kath", "catherine"), 2);
    assert_int_equal(related(t, "zebedee", "william"), 0); /* unknown names relate to nothing */
    /* Alex is two names. */
    assert_int_equal(groups_of(t, "alex", refs), 2);
    assert_int_equal(related(t, "alex", "alexandra"), 2);
    assert_int_equal(related(t, "alex", "alexander"), 2);
    rg_nickref a[8], b[8];
    int na = groups_of(t, "bill", a), nb = groups_of(t, "will", b);
    assert_int_equal(rg_nicknames_relate(a, na, b, nb, &g), 1);
    assert_string_equal(rg_nicknames_canonical(t, g), "william");
    assert_null(rg_nicknames_canonical(t, 60000));
    rg_nicknames_free(t);
}

static void test_nickname_table_rejects_bad_lines(void **state)
{
    rg_nicknames *t = (rg_nicknames *)&t;
    int bad = 0;

    (void)state;
    assert_int_equal(rg_nicknames_parse("William Bill\n", &t, &bad), -EINVAL);
    assert_null(t);
    assert_int_equal(bad, 1);
    assert_int_equal(rg_nicknames_parse("# names\n\nWilliam\tBill\nRobert\tBob Smith\n", &t, &bad), -EINVAL);
    assert_int_equal(bad, 4);
    assert_int_equal(rg_nicknames_parse("William\tBill,,Will\n", &t, &bad), -EINVAL);
    assert_int_equal(rg_nicknames_parse("William\t\n", &t, &bad), -EINVAL);
    assert_int_equal(rg_nicknames_parse("William\tBill  # a comment\r\n", &t, &bad), 0);
    assert_int_equal(rg_nicknames_ngroups(t), 1);
    rg_nicknames_free(t);
    assert_int_equal(rg_nicknames_parse("", &t, NULL), 0);
    assert_int_equal(rg_nicknames_ngroups(t), 0);
    rg_nicknames_free(t);
}

/* ---- names as people write them ---- */

static void test_accents_fold(void **state)
{
    static const struct {
        rg_person entry, applicant;
    } t[] = {
        { { "W1", "Siân", "Jones", "1980-05-06", "", "" }, { "A", "Sian", "JONES", "1980-05-06", "", "" } },
        { { "W2", "Zoë", "Brown", "1990-01-02", "", "" }, { "A", "Zoe", "brown", "1990-01-02", "", "" } },
        { { "W3", "José", "Martínez", "1975-07-08", "", "" }, { "A", "Jose", "Martinez", "1975-07-08", "", "" } },
        { { "W4", "Łukasz", "Kowalski", "1985-09-10", "", "" }, { "A", "Lukasz", "Kowalski", "1985-09-10", "", "" } },
    };
    rg_match r;

    (void)state;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_int_equal(match_one(&t[i].entry, &t[i].applicant, &r), RG_MATCH_EXCLUDE);
        assert_string_equal(r.watch_id, t[i].entry.id);
        assert_float_equal(r.name_score, 1.0, 1e-9);
        assert_string_equal(r.name_how, "exact");
    }
}

static void test_apostrophes_and_prefixes(void **state)
{
    const rg_person entry = { "W9", "Siobhan", "O'Brien", "1966-06-06", "", "" };
    const rg_person mc = { "W10", "Angus", "McDonald", "1950-01-01", "", "" };
    static const char *const written[] = { "O Brien", "OBrien", "O’Brien", "o'brien" };
    rg_match r;

    (void)state;
    for (size_t i = 0; i < sizeof written / sizeof written[0]; i++) {
        assert_int_equal(match_one(&entry, P("Siobhan", written[i], "1966-06-06", "", ""), &r), RG_MATCH_EXCLUDE);
        assert_true(r.name_score >= 0.98);
    }
    assert_int_equal(match_one(&mc, P("Angus", "Macdonald", "1950-01-01", "", ""), &r), RG_MATCH_EXCLUDE);
    assert_int_equal(match_one(&mc, P("Angus", "Mac Donald", "1950-01-01", "", ""), &r), RG_MATCH_EXCLUDE);
    assert_contains(r.name_how, "joined");
}

static void test_nickname_with_dob_excludes(void **state)
{
    rg_match r;

    (void)state;
    assert_int_equal(match_one(&william_smith, P("Bill", "Smith", "1970-03-02", "", ""), &r), RG_MATCH_EXCLUDE);
    assert_string_equal(r.watch_id, "W01234");
    assert_float_equal(r.name_score, 0.96, 0.005);
    assert_string_equal(r.name_how, "nickname bill~william");
    assert_int_equal(r.dob, RG_EV_MATCH);
    assert_true(r.score > 0.9);
    /* Two variants of one name are a little weaker than a variant and its full form. */
    assert_int_equal(match_one(P("Liam", "Smith", "", "", ""), P("Bill", "Smith", "", "", ""), &r), RG_MATCH_REVIEW);
    assert_string_equal(r.name_how, "nickname bill~liam (both william)");
    assert_true(r.name_score < 0.96);
    /* Not a nickname: Robert. */
    assert_int_equal(match_one(&william_smith, P("Robert", "Smith", "1970-03-02", "", ""), &r), RG_MATCH_NONE);
}

static void test_typos(void **state)
{
    const rg_person john = { "W2", "John", "Smith", "1961-11-12", "", "" };
    rg_match r;

    (void)state;
    assert_int_equal(match_one(&john, P("Jonh", "Smith", "1961-11-12", "", ""), &r), RG_MATCH_EXCLUDE);
    assert_string_equal(r.name_how, "typo jonh~john");
    assert_true(r.name_score > 0.9 && r.name_score < 1.0);
    assert_int_equal(match_one(&john, P("John", "Smyth", "1961-11-12", "", ""), &r), RG_MATCH_EXCLUDE);
    assert_string_equal(r.name_how, "family typo smyth~smith");
    assert_int_equal(match_one(&john, P("John", "Smiht", "", "", ""), &r), RG_MATCH_REVIEW);
    /* A different name is not a typo. */
    assert_int_equal(match_one(&john, P("Joan", "Smith", "1961-11-12", "", ""), &r), RG_MATCH_NONE);
    assert_int_equal(match_one(&john, P("John", "Smithson", "1961-11-12", "", ""), &r), RG_MATCH_NONE);
}

static void test_initials_are_weaker(void **state)
{
    const rg_person john = { "W2", "John", "Smith", "", "", "" };
    rg_match exact, r;

    (void)state;
    assert_int_equal(match_one(&john, P("John", "Smith", "", "", ""), &exact), RG_MATCH_REVIEW);
    assert_int_equal(match_one(&john, P("J", "Smith", "", "", ""), &r), RG_MATCH_REVIEW);
    assert_string_equal(r.name_how, "initial j~john");
    assert_true(r.name_score < exact.name_score);
    assert_true(r.score < exact.score);
    assert_int_equal(match_one(&john, P("J.", "Smith", "", "", ""), &r), RG_MATCH_REVIEW);
    /* An initial and anything else inexact is too little. */
    assert_int_equal(match_one(&john, P("J", "Smyth", "", "", ""), &r), RG_MATCH_NONE);
    assert_int_equal(match_one(&john, P("M", "Smith", "", "", ""), &r), RG_MATCH_NONE);
    /* An initial with a matching date of birth is the same person. */
    assert_int_equal(match_one(P("John", "Smith", "1961-11-12", "", ""), P("J", "Smith", "1961-11-12", "", ""), &r),
                     RG_MATCH_EXCLUDE);
}

static void test_middle_names(void **state)
{
    const rg_person jrs = { "W3", "John Robert", "Smith", "1961-11-12", "", "" };
    rg_match r;

    (void)state;
    assert_int_equal(match_one(P("John", "Smith", "1961-11-12", "", ""), P("John Robert", "Smith", "1961-11-12", "", ""), &r),
                     RG_MATCH_EXCLUDE);
    assert_string_equal(r.name_how, "middle name on one side only");
    assert_float_equal(r.name_score, 1.0, 1e-9);
    assert_int_equal(match_one(&jrs, P("John R.", "Smith", "", "", ""), &r), RG_MATCH_REVIEW);
    assert_float_equal(r.name_score, 1.0, 1e-9);
    assert_string_equal(r.name_how, "exact");
    /* Middle names that disagree weaken the match but do not break it. */
    assert_int_equal(match_one(&jrs, P("John David", "Smith", "", "", ""), &r), RG_MATCH_REVIEW);
    assert_string_equal(r.name_how, "middle names differ");
    assert_true(r.name_score < 0.95);
    /* Going by a middle name. */
    assert_int_equal(match_one(P("Mary Anne", "Jones", "1980-01-01", "", ""), P("Anne", "Jones", "1980-01-01", "", ""), &r),
                     RG_MATCH_EXCLUDE);
    assert_string_equal(r.name_how, "goes by middle name anne");
    assert_int_equal(match_one(P("Anne", "Jones", "", "", ""), P("Mary Anne", "Jones", "", "", ""), &r), RG_MATCH_REVIEW);
    assert_int_equal(match_one(P("Mary-Anne", "Jones", "", "", ""), P("Maryanne", "Jones", "", "", ""), &r),
                     RG_MATCH_REVIEW);
    assert_contains(r.name_how, "given names joined");
}

static void test_double_barrelled(void **state)
{
    const rg_person sj = { "W4", "Emma", "Smith-Jones", "1988-08-08", "", "" };
    static const char *const written[] = { "Smith", "Jones", "Smith Jones", "Smith-Jones", "Jones-Smith", "SmithJones" };
    rg_match r;

    (void)state;
    for (size_t i = 0; i < sizeof written / sizeof written[0]; i++) {
        if (match_one(&sj, P("Emma", written[i], "1988-08-08", "", ""), &r) != RG_MATCH_EXCLUDE)
            fail_msg("Emma %s: %s", written[i], r.explain);
    }
    assert_int_equal(match_one(&sj, P("Emma", "Smith", "", "", ""), &r), RG_MATCH_REVIEW);
    assert_string_equal(r.name_how, "double-barrelled smith~smith jones");
    /* The other way round: the watch list has one part, the applicant both. */
    assert_int_equal(match_one(P("Emma", "Jones", "1988-08-08", "", ""), P("Emma", "Smith-Jones", "1988-08-08", "", ""), &r),
                     RG_MATCH_EXCLUDE);
    assert_int_equal(match_one(&sj, P("Emma", "Smith-Brown", "1988-08-08", "", ""), &r), RG_MATCH_NONE);
    /* A particle alone is not a part: de la Cruz is not "de". */
    assert_int_equal(match_one(P("Ana", "de la Cruz", "1977-07-07", "", ""), P("Ana", "de", "1977-07-07", "", ""), &r),
                     RG_MATCH_NONE);
}

static void test_swapped_names(void **state)
{
    rg_match r;

    (void)state;
    assert_int_equal(match_one(&william_smith, P("Smith", "William", "1970-03-02", "", ""), &r), RG_MATCH_EXCLUDE);
    assert_string_equal(r.name_how, "given and family names swapped");
    assert_float_equal(r.name_score, 0.97, 1e-9);
    assert_int_equal(match_one(&william_smith, P("Smith", "Bill", "1970-03-02", "", ""), &r), RG_MATCH_EXCLUDE);
    assert_string_equal(r.name_how, "given and family names swapped, nickname bill~william");
}

/* ---- corroboration: the rules of match.h ---- */

static void test_namesakes(void **state)
{
    const rg_person js = { "W5", "John", "Smith", "1961-11-12", "john.smith@example.org", "LS1 4AP" };
    rg_match r;

    (void)state;
    /* Same name, different date of birth: a namesake. */
    assert_int_equal(match_one(&js, P("John", "Smith", "1990-01-01", "", ""), &r), RG_MATCH_CLEARED);
    assert_int_equal(r.dob, RG_EV_CONTRADICTS);
    assert_contains(r.reason, "namesake");
    /* Same name, date of birth unknown, same district: a person must look. */
    assert_int_equal(match_one(&js, P("John", "Smith", "", "", "LS1 6XY"), &r), RG_MATCH_REVIEW);
    assert_int_equal(r.postcode, RG_EV_PARTIAL);
    assert_contains(r.explain, "postcode district LS1 matches");
    /* Same name, nothing else. */
    assert_int_equal(match_one(&js, P("John", "Smith", "", "", ""), &r), RG_MATCH_REVIEW);
    assert_contains(r.reason, "nothing confirms or contradicts");
    /* Same name, different date of birth, same email: the email ties them. */
    assert_int_equal(match_one(&js, P("John", "Smith", "1990-01-01", "John.Smith@Example.org ", ""), &r),
                     RG_MATCH_EXCLUDE);
    assert_int_equal(r.email, RG_EV_MATCH);
    /* Same name, another district, nothing else: a namesake elsewhere. */
    assert_int_equal(match_one(&js, P("John", "Smith", "", "", "SW1A 1AA"), &r), RG_MATCH_CLEARED);
    assert_int_equal(r.postcode, RG_EV_CONTRADICTS);
    /* Same name, same full postcode however written. */
    assert_int_equal(match_one(&js, P("John", "Smith", "", "", "ls14ap"), &r), RG_MATCH_EXCLUDE);
    assert_int_equal(r.postcode, RG_EV_MATCH);
    /* Father and son of one name at one address: the date of birth wins. */
    assert_int_equal(match_one(&js, P("John", "Smith", "1990-01-01", "", "LS1 4AP"), &r), RG_MATCH_CLEARED);
    /* He moved: the date of birth wins over the postcode. */
    assert_int_equal(match_one(&js, P("John", "Smith", "1961-11-12", "", "SW1A 1AA"), &r), RG_MATCH_EXCLUDE);
    /* A different email is not evidence against. */
    assert_int_equal(match_one(&js, P("John", "Smith", "1961-11-12", "jsmith@example.com", ""), &r), RG_MATCH_EXCLUDE);
    assert_int_equal(r.email, RG_EV_CONTRADICTS);
    assert_int_equal(match_one(&js, P("John", "Smith", "", "jsmith@example.com", ""), &r), RG_MATCH_REVIEW);
    /* An invalid date of birth is unknown, not a contradiction. */
    assert_int_equal(match_one(&js, P("John", "Smith", "1961-02-30", "", ""), &r), RG_MATCH_REVIEW);
    assert_int_equal(r.dob, RG_EV_UNKNOWN);
}

/* A common name with nothing to go on never excludes, however many namesakes are listed. */
static void test_name_alone_never_excludes(void **state)
{
    rg_person entries[12];
    const rg_person *ptrs[12];
    char ids[12][8], dobs[12][11];
    static const char *const postcodes[] = { "", "LS1 4AP", "M1 1AE" };
    rg_match r;

    (void)state;
    for (int i = 0; i < 12; i++) {
        snprintf(ids[i], sizeof ids[i], "W%d", i);
        snprintf(dobs[i], sizeof dobs[i], "19%02d-01-01", 50 + i);
        entries[i] = (rg_person){ ids[i], "John", "Smith", i % 2 ? dobs[i] : "", "", postcodes[i % 3] };
        ptrs[i] = &entries[i];
    }
    assert_int_equal(match_in(ptrs, 12, P("John", "Smith", "", "", ""), NULL, &r), RG_MATCH_REVIEW);
    assert_int_equal(r.candidates, 12);
    assert_int_equal(match_in(ptrs, 12, P("Smith", "John", "", "", ""), NULL, &r), RG_MATCH_REVIEW);
    assert_int_equal(match_in(ptrs, 12, P("Johnny", "Smith", "", "", ""), NULL, &r), RG_MATCH_REVIEW);
    assert_int_equal(match_in(ptrs, 12, P("J", "Smith", "", "", "LS1 9ZZ"), NULL, &r), RG_MATCH_REVIEW);
}

static void test_unrelated_names(void **state)
{
    rg_match r;

    (void)state;
    assert_int_equal(match_one(&william_smith, P("Priya", "Patel", "1970-03-02", "", "SW1A 1AA"), &r), RG_MATCH_NONE);
    assert_string_equal(r.watch_id, "");
    assert_float_equal(r.score, 0.0, 0.0);
    assert_contains(r.explain, "no watch-list entry matches");
    assert_non_null(r.reason);
    /* A family name alone is not a name match, even with the date of birth. */
    assert_int_equal(match_one(&william_smith, P("", "Smith", "1970-03-02", "", ""), &r), RG_MATCH_NONE);
}

static void test_email_under_another_name(void **state)
{
    const rg_person e = { "W6", "Jeremy", "Hunt", "", "jh@example.org", "" };
    rg_match r;

    (void)state;
    assert_int_equal(match_one(&e, P("Mickey", "Mouse", "2001-01-01", "JH@example.org", ""), &r), RG_MATCH_REVIEW);
    assert_string_equal(r.watch_id, "W6");
    assert_string_equal(r.reason, "email matches under another name");
    assert_int_equal(r.email, RG_EV_MATCH);
    assert_true(r.name_score < 0.5);
}

static void test_strongest_candidate_wins(void **state)
{
    const rg_person a = { "WA", "John", "Smith", "1950-01-01", "", "" };
    const rg_person b = { "WB", "John", "Smith", "1961-11-12", "", "" };
    const rg_person c = { "WC", "John", "Smith", "", "", "" };
    const rg_person *list[] = { &a, &b, &c };
    rg_match r;

    (void)state;
    assert_int_equal(match_in(list, 3, P("John", "Smith", "1961-11-12", "", ""), NULL, &r), RG_MATCH_EXCLUDE);
    assert_string_equal(r.watch_id, "WB");
    /* A and B are cleared by the date of birth, C stays in review: review outranks cleared. */
    assert_int_equal(match_in(list, 3, P("John", "Smith", "1999-09-09", "", ""), NULL, &r), RG_MATCH_REVIEW);
    assert_string_equal(r.watch_id, "WC");
    assert_int_equal(r.candidates, 3);
}

static void test_explain_shows_each_part(void **state)
{
    rg_match r;

    (void)state;
    assert_int_equal(match_one(&william_smith, P("Bill", "Smith", "1970-03-02", "", "SW1A 2AA"), &r), RG_MATCH_EXCLUDE);
    assert_contains(r.explain, "watch-list W01234");
    assert_contains(r.explain, "name 0.96 (nickname bill~william) [-0.4]");
    assert_contains(r.explain, "date of birth matches [+4.0]");
    assert_contains(r.explain, "email not known on both sides [+0.0]");
    assert_contains(r.explain, "postcode district SW1A matches [+1.0]");
    assert_contains(r.explain, "exclude: name and date of birth match");
    assert_int_equal(r.postcode, RG_EV_PARTIAL);
    assert_string_equal(rg_match_outcome_name(r.outcome), "exclude");
}

static void test_threshold_parameter(void **state)
{
    rg_match_params strict, dflt;
    const rg_person *list[] = { &william_smith };
    rg_match r;

    (void)state;
    rg_match_params_default(&dflt);
    assert_float_equal(dflt.name_threshold, 0.88, 1e-9);
    strict.name_threshold = 0.99;
    assert_int_equal(match_in(list, 1, P("Bill", "Smith", "1970-03-02", "", ""), &dflt, &r), RG_MATCH_EXCLUDE);
    assert_int_equal(match_in(list, 1, P("Bill", "Smith", "1970-03-02", "", ""), &strict, &r), RG_MATCH_NONE);
    assert_int_equal(match_in(list, 1, P("William", "Smith", "1970-03-02", "", ""), &strict, &r), RG_MATCH_EXCLUDE);
}

static void test_lifecycle(void **state)
{
    rg_matcher *m = rg_matcher_new();
    const rg_person sparse = { NULL, NULL, "Nobody", NULL, NULL, NULL };
    rg_match r;

    (void)state;
    assert_non_null(m);
    assert_int_equal(rg_matcher_add(m, &william_smith), 0);
    assert_int_equal(rg_matcher_add(m, &sparse), 0);
    assert_int_equal(rg_matcher_size(m), 2);
    /* Not built yet: nothing is found. */
    assert_int_equal(rg_matcher_match(m, P("William", "Smith", "1970-03-02", "", ""), NULL, &r), RG_MATCH_NONE);
    assert_int_equal(rg_matcher_build(m), 0);
    assert_int_equal(rg_matcher_build(m), 0);
    assert_int_equal(rg_matcher_add(m, &william_smith), -EINVAL);
    assert_int_equal(rg_matcher_match(m, P("William", "Smith", "1970-03-02", "", ""), NULL, &r), RG_MATCH_EXCLUDE);
    assert_int_equal(rg_matcher_match(m, &sparse, NULL, &r), RG_MATCH_NONE);
    rg_matcher_free(m);
    rg_matcher_free(NULL);
}

/* ---- the index ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static unsigned next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng >> 17);
}

/* A family name: a third of them from a skewed list of common ones (Smith most), the rest made up. */
static void random_family(char *out, size_t size)
{
    static const char *const common[] = {
        "Smith", "Smith", "Smith", "Smith", "Jones", "Jones", "Jones", "Williams", "Williams", "Taylor",
        "Brown", "Davies", "Evans", "Wilson", "Thomas", "Johnson", "Roberts", "Robinson", "Thompson",
        "Wright", "Walker", "White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke",
        "Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore",
    };
    static const char *const syl[] = { "ber", "ton", "ley", "ford", "ham", "wick", "mor", "dal", "fen",
                                       "gar", "hol", "kin", "lan", "mer", "nor", "pen", "ros", "sel",
                                       "tam", "ver", "win", "yar", "ash", "bro", "cra", "dun", "eld" };
    const size_t ns = sizeof syl / sizeof syl[0];

    if (next_rand() % 3 == 0) {
        snprintf(out, size, "%s", common[next_rand() % (sizeof common / sizeof common[0])]);
        return;
    }
    snprintf(out, size, "%s%s%s", syl[next_rand() % ns], syl[next_rand() % ns], next_rand() % 2 ? syl[next_rand() % ns] : "");
}

static const char *random_given(void)
{
    static const char *const given[] = {
        "David", "John", "Paul", "Mark", "James", "Andrew", "Michael", "Peter", "Robert", "Richard",
        "Susan", "Sarah", "Margaret", "Elizabeth", "Mary", "Helen", "Karen", "Julie", "Emma", "Claire",
        "Gary", "Kevin", "Alan", "Brian", "Neil", "Ruth", "Anne", "Hannah", "Priya", "Mohammed",
    };
    return given[next_rand() % (sizeof given / sizeof given[0])];
}

/* A distinct valid date for each day number (28-day months keep every one real). */
static void day_to_date(unsigned day, char out[11])
{
    snprintf(out, 11, "%04u-%02u-%02u", 1900 + day / 336 % 120, 1 + day / 28 % 12, 1 + day % 28);
}

/*
 * 20,000 entries, 50,000 applicants: every tenth is a copy of an entry (and must be found), the rest
 * are made up.  The index must bring up a handful of entries per applicant, not the watch list.
 */
static void test_index_keeps_candidate_lists_short(void **state)
{
    enum { NENTRIES = 20000, NLOOKUPS = 50000 };
    static char family[NENTRIES][32], ids[NENTRIES][8], dobs[NENTRIES][11];
    static rg_person entries[NENTRIES];
    rg_matcher *m = rg_matcher_new();
    unsigned long long total = 0;
    unsigned most = 0, found = 0, planted = 0;

    (void)state;
    assert_non_null(m);
    for (unsigned i = 0; i < NENTRIES; i++) {
        random_family(family[i], sizeof family[i]);
        snprintf(ids[i], sizeof ids[i], "W%05u", i);
        day_to_date(i, dobs[i]);   /* unique: a copy can only be this entry */
        entries[i] = (rg_person){ ids[i], random_given(), family[i], dobs[i], "", "" };
        assert_int_equal(rg_matcher_add(m, &entries[i]), 0);
    }
    assert_int_equal(rg_matcher_build(m), 0);
    assert_int_equal(rg_matcher_size(m), NENTRIES);

    for (unsigned i = 0; i < NLOOKUPS; i++) {
        char fam[32], dob[11];
        rg_match r;
        if (i % 10 == 0) {
            const rg_person *e = &entries[next_rand() % NENTRIES];
            planted++;
            if (rg_matcher_match(m, e, NULL, &r) == RG_MATCH_EXCLUDE && strcmp(r.watch_id, e->id) == 0)
                found++;
            else
                fail_msg("%s %s %s not found: %s", e->given_name, e->family_name, e->date_of_birth, r.explain);
        } else {
            random_family(fam, sizeof fam);
            day_to_date(NENTRIES + next_rand() % 10000, dob);   /* no entry has this date */
            rg_matcher_match(m, P(random_given(), fam, dob, "", ""), NULL, &r);
            assert_int_not_equal(r.outcome, RG_MATCH_EXCLUDE);
        }
        total += r.candidates;
        if (r.candidates > most)
            most = r.candidates;
    }
    assert_int_equal(found, planted);
    /* A scan would compare 20,000 each time; the index a few dozen at most. */
    print_message("mean candidates %.1f, most %u\n", (double)total / NLOOKUPS, most);
    assert_true(total / NLOOKUPS < 50);
    assert_true(most < 1000);
    rg_matcher_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jaro_winkler),
        cmocka_unit_test(test_phonetic_blocks_spellings_together),
        cmocka_unit_test(test_nickname_table),
        cmocka_unit_test(test_nickname_table_rejects_bad_lines),
        cmocka_unit_test(test_accents_fold),
        cmocka_unit_test(test_apostrophes_and_prefixes),
        cmocka_unit_test(test_nickname_with_dob_excludes),
        cmocka_unit_test(test_typos),
        cmocka_unit_test(test_initials_are_weaker),
        cmocka_unit_test(test_middle_names),
        cmocka_unit_test(test_double_barrelled),
        cmocka_unit_test(test_swapped_names),
        cmocka_unit_test(test_namesakes),
        cmocka_unit_test(test_name_alone_never_excludes),
        cmocka_unit_test(test_unrelated_names),
        cmocka_unit_test(test_email_under_another_name),
        cmocka_unit_test(test_strongest_candidate_wins),
        cmocka_unit_test(test_explain_shows_each_part),
        cmocka_unit_test(test_threshold_parameter),
        cmocka_unit_test(test_lifecycle),
        cmocka_unit_test(test_index_keeps_candidate_lists_short),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
