/*
 * test_fold.c: names and party names fold to one form however they are written (fold.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "fold.h"

struct fold_case {
    const char *in, *want;
};

static void check_table(const struct fold_case *t, size_t n, int (*fn)(const char *, char *, size_t))
{
    char out[128];

    for (size_t i = 0; i < n; i++) {
        int rc = fn(t[i].in, out, sizeof out);
        if (strcmp(out, t[i].want) != 0 || rc != (int)strlen(t[i].want))
            fail_msg("fold(\"%s\") = \"%s\" (rc %d), want \"%s\"", t[i].in, out, rc, t[i].want);
    }
}

static void test_accents_and_case(void **state)
{
    static const struct fold_case t[] = {
        { "Siân", "sian" },       { "SIÂN", "sian" },       { "Zoë", "zoe" },
        { "José", "jose" },       { "Seán", "sean" },       { "Dafydd", "dafydd" },
        { "Ffion Llŷr", "ffion llyr" },                      { "Ní Bhriain", "ni bhriain" },
        { "Bjørn", "bjorn" },     { "François", "francois" }, { "Müller", "muller" },
        { "ＳＭＩＴＨ", "smith" }, /* fullwidth forms: compatibility decomposition */
        { "İlkay", "ilkay" },     /* dotted capital I folds to i + a mark that is stripped */
        { "Ελένη", "ελενη" },     /* other scripts: case folded, accents stripped, kept */
    };

    (void)state;
    check_table(t, sizeof t / sizeof t[0], rg_fold_name);
}

/* The letters Unicode does not decompose come from fold.c's table, ß from case folding. */
static void test_undecomposable_letters(void **state)
{
    static const struct fold_case t[] = {
        { "Łukasz", "lukasz" },   { "ŁUKASZ", "lukasz" },   { "Wałęsa", "walesa" },
        { "Søren", "soren" },     { "ØSTERGAARD", "ostergaard" },
        { "Đorđević", "dordevic" }, { "Ħamrun", "hamrun" }, { "Yıldız", "yildiz" },
        { "Æthelred", "aethelred" }, { "Cœur", "coeur" },   { "Strauß", "strauss" },
        { "Þórr", "thorr" },      { "Guðrún", "gudrun" },
    };

    (void)state;
    check_table(t, sizeof t / sizeof t[0], rg_fold_name);
}

static void test_apostrophes_join(void **state)
{
    static const struct fold_case t[] = {
        { "O'Brien", "obrien" },  { "O’Brien", "obrien" }, { "Oʼbrien", "obrien" },
        { "O`Brien", "obrien" },  { "O´Brien", "obrien" }, { "D'Arcy", "darcy" },
        { "O Brien", "o brien" }, /* a space separates: the matcher compares joined forms */
        { "Gal·la", "galla" },
    };

    (void)state;
    check_table(t, sizeof t / sizeof t[0], rg_fold_name);
}

static void test_punctuation_separates(void **state)
{
    static const struct fold_case t[] = {
        { "Smith-Jones", "smith jones" },   { "Smith–Jones", "smith jones" }, /* en dash */
        { "Smith - Jones", "smith jones" }, { "J.R. Hartley", "j r hartley" },
        { "  Mary   Anne  ", "mary anne" },  { "Smith,John", "smith john" },
        { "Mary\tAnne\n", "mary anne" },    { "Smi\u00adth", "smith" },       /* soft hyphen */
        { "Anne\u00a0Marie", "anne marie" }, { "--", "" }, { "", "" },
    };

    (void)state;
    check_table(t, sizeof t / sizeof t[0], rg_fold_name);
}

static void test_text_for_party_names(void **state)
{
    static const struct fold_case t[] = {
        { "Trade Unionist & Socialist Coalition", "trade unionist and socialist coalition" },
        { "Alliance for Workers' Liberty", "alliance for workers liberty" },
        { "Green Party of England and Wales", "green party of england and wales" },
        { "Plaid Cymru – The Party of Wales", "plaid cymru the party of wales" },
        { "Sinn Féin", "sinn fein" },
        { "R&D", "r and d" },
    };
    char out[64];

    (void)state;
    check_table(t, sizeof t / sizeof t[0], rg_fold_text);
    /* Names keep "&" as a separator only. */
    assert_int_equal(rg_fold_name("Smith & Jones", out, sizeof out), 11);
    assert_string_equal(out, "smith jones");
}

/* A buffer too small is reported, and what was written is still a whole, terminated fold. */
static void test_truncation_reported(void **state)
{
    char out[8], big[64];

    (void)state;
    assert_int_equal(rg_fold_name("Bartholomew", out, sizeof out), -ENOBUFS);
    assert_string_equal(out, "barthol");
    assert_int_equal(rg_fold_name("Ab Cdefghij", out, sizeof out), -ENOBUFS);
    assert_string_equal(out, "ab cdef");
    /* Never cut inside a character: each Greek letter is two bytes. */
    assert_int_equal(rg_fold_name("Αλέξανδρος", out, sizeof out), -ENOBUFS);
    assert_int_equal(strlen(out), 6);
    assert_int_equal(rg_fold_name("Αλέξανδρος", big, sizeof big), 20);
    assert_memory_equal(out, big, 6);
    /* Exactly fitting is not truncation. */
    assert_int_equal(rg_fold_name("Bartho", out, 7), 6);
    assert_string_equal(out, "bartho");
    assert_int_equal(rg_fold_name("Barthol", out, 7), -ENOBUFS);
}

static void test_bad_input(void **state)
{
    char out[32];

    (void)state;
    assert_int_equal(rg_fold_name("Sm\xffith", out, sizeof out), -EILSEQ);
    assert_string_equal(out, "sm ith");
    assert_int_equal(rg_fold_name("Jos\xc3", out, sizeof out), -EILSEQ);   /* cut sequence */
    assert_string_equal(out, "jos");
    assert_int_equal(rg_fold_name(NULL, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(rg_fold_name("x", NULL, 10), -EINVAL);
    assert_int_equal(rg_fold_name("x", out, 0), -EINVAL);
    assert_int_equal(rg_fold_name("x", out, 1), -ENOBUFS);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accents_and_case),
        cmocka_unit_test(test_undecomposable_letters),
        cmocka_unit_test(test_apostrophes_join),
        cmocka_unit_test(test_punctuation_separates),
        cmocka_unit_test(test_text_for_party_names),
        cmocka_unit_test(test_truncation_reported),
        cmocka_unit_test(test_bad_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
