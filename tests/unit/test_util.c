/*
 * test_util.c: the clock, actors, rg_buf and the register's text formats (backend/util.h).
 *
 * The format checks are what import refuses or accepts, so each case here is a row a user could put
 * in a CSV: real calendar dates and leap years, ISO 8601 times, UK postcodes as people write them,
 * constituency names with accents and punctuation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "util.h"

static void test_date_valid(void **state)
{
    static const char *const good[] = {
        "2016-02-29",   /* leap year */
        "2000-02-29",   /* divisible by 400: leap */
        "2026-07-14", "1999-12-31", "2024-01-01", "2023-04-30", "2023-01-31",
    };
    static const char *const bad[] = {
        "2016-02-30", "2015-02-29",
        "1900-02-29",   /* divisible by 100 but not 400: not leap */
        "2023-04-31", "2023-13-01", "2023-00-10", "2023-01-00", "2023-01-32",
        "", "garbage", "2023-1-01", "2023/01/01", "20230101", "2023-01-0", "2023-01-01x",
        "2023-01-01 ", " 2023-01-01", "2023-01-01T10:00:00Z",   /* a time is not a date */
        "2023-01-01T", "abcd-ef-gh", "1066-10-14",               /* before any living member */
    };

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!rg_date_valid(good[i]))
            fail_msg("rg_date_valid(\"%s\") refused a real date", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rg_date_valid(bad[i]))
            fail_msg("rg_date_valid(\"%s\") accepted it", bad[i]);
}

static void test_timestamp_valid(void **state)
{
    static const char *const good[] = {
        "2026-07-14", "2026-07-14T09:31:02Z", "2026-07-14T00:00:00Z", "2026-07-14T23:59:59Z",
        "2026-07-14T09:31:02.5Z", "2026-07-14T09:31:02.123456789Z",
        "2016-12-31T23:59:60Z",   /* a leap second */
        "2016-02-29T12:00:00Z",
    };
    static const char *const bad[] = {
        "2026-07-14T09:31:02",        /* no Z: local time is ambiguous */
        "2026-07-14T24:00:00Z", "2026-07-14T09:60:00Z", "2026-07-14T09:31:61Z",
        "2026-07-14T9:31:02Z", "2026-07-14 09:31:02Z", "2026-07-14T09:31Z",
        "2026-07-14T09:31:02.Z", "2026-07-14T09:31:02+01:00", "2026-07-14T09:31:02Zjunk",
        "2026-02-30T09:31:02Z", "2015-02-29", "", "now", "2026-07-14T",
    };

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!rg_timestamp_valid(good[i]))
            fail_msg("rg_timestamp_valid(\"%s\") refused it", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rg_timestamp_valid(bad[i]))
            fail_msg("rg_timestamp_valid(\"%s\") accepted it", bad[i]);
}

static void test_postcode_valid(void **state)
{
    /* Every outward-code shape (A9, A99, AA9, AA99, A9A, AA9A) and the one exception. */
    static const char *const good[] = {
        "SW1A 1AA", "M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "EC1A 1BB", "W1A 0AX", "GIR 0AA",
        "sw1a 1aa", "SW1A1AA", "m11ae", "gir0aa", "LS1 4DY", "BT1 5GS", "CF10 1EP",
    };
    static const char *const bad[] = {
        "12345", "SW1A1A", "D02 X285" /* an Irish Eircode */, "", " ", "SW1A 1A", "SW1A 1AAA",
        "1SW 1AA", "SW1A  1AA", " SW1A 1AA", "SW 1AA", "SWAA 1AA", "S1AAA 1AA", "SW1A 11A",
        "SW1A 1A1", "SW1 A1AA", "A1BC 1AA", "SW1A-1AA", "GIR 0AB", "SW1A 1AA, London",
    };

    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!rg_postcode_valid(good[i]))
            fail_msg("rg_postcode_valid(\"%s\") refused a real postcode", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rg_postcode_valid(bad[i]))
            fail_msg("rg_postcode_valid(\"%s\") accepted it", bad[i]);
}

static void test_postcode_fold_and_district(void **state)
{
    static const struct { const char *in, *folded, *district; } cases[] = {
        { "SW1A 1AA", "sw1a1aa", "sw1a" }, { "M1 1AE", "m11ae", "m1" }, { "B33 8TH", "b338th", "b33" },
        { "CR2 6XH", "cr26xh", "cr2" }, { "DN55 1PT", "dn551pt", "dn55" }, { "W1A 0AX", "w1a0ax", "w1a" },
        { "GIR 0AA", "gir0aa", "gir" }, { " ec1a  1bb ", "ec1a1bb", "ec1a" },
    };
    char folded[16], district[8];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(rg_postcode_fold(cases[i].in, folded), strlen(cases[i].folded));
        assert_string_equal(folded, cases[i].folded);
        assert_int_equal(rg_postcode_district(folded, district), strlen(cases[i].district));
        assert_string_equal(district, cases[i].district);
    }
    /* Empty and over-long input stay inside the documented buffers. */
    assert_int_equal(rg_postcode_fold("", folded), 0);
    assert_string_equal(folded, "");
    assert_int_equal(rg_postcode_district("", district), 0);
    assert_string_equal(district, "");
    assert_true(rg_postcode_fold("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", folded) <= 15);
    assert_true(strlen(folded) <= 15);
    assert_true(rg_postcode_district("abcdefghijklmno", district) <= 7);
    assert_true(strlen(district) <= 7);
}

static void test_slug(void **state)
{
    static const struct { const char *in, *out; } cases[] = {
        { "Bristol West", "bristol-west" },
        { "Ynys Môn", "ynys-mon" },
        { "Brighton, Kemptown", "brighton-kemptown" },
        { "Islington North", "islington-north" },
        { "Ealing, Southall", "ealing-southall" },
        { "Dwyfor Meirionnydd", "dwyfor-meirionnydd" },
        { "Na h-Eileanan an Iar", "na-h-eileanan-an-iar" },
        { "Weston-super-Mare", "weston-super-mare" },
        { "  St Albans (North)  ", "st-albans-north" },   /* no leading or trailing dash */
        { "Bradford   East", "bradford-east" },          /* one dash per run */
        { "Rhondda and Ogmore 2024", "rhondda-and-ogmore-2024" },
        { "CAERFYRDDIN", "caerfyrddin" },
        { "Siân's Ward", "sian-s-ward" },
    };
    char out[128];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rg_slug(cases[i].in, out, sizeof out);
        if (strcmp(out, cases[i].out) != 0)
            fail_msg("rg_slug(\"%s\") = \"%s\", want \"%s\"", cases[i].in, out, cases[i].out);
    }
    /* A short buffer truncates at a word, still NUL-terminated and never ending in a dash. */
    rg_slug("Bristol West", out, 8);
    assert_string_equal(out, "bristol");
    rg_slug("Bristol West", out, 9);   /* room for "bristol-" but not "bristol-w": not "bristolw" */
    assert_string_equal(out, "bristol");
    rg_slug("Bristol West", out, 10);
    assert_string_equal(out, "bristol-w");
    rg_slug("Bristol West", out, 3);
    assert_string_equal(out, "br");
    /* A slug is a directory name: never empty. */
    rg_slug("", out, sizeof out);
    assert_true(strlen(out) > 0);
    assert_string_not_equal(out, ".");
    assert_string_not_equal(out, "..");
    rg_slug("!!!", out, sizeof out);
    assert_true(strlen(out) > 0);
    assert_null(strchr(out, '/'));
}

static void test_buf(void **state)
{
    rg_buf b = RG_BUF_INIT;
    char *s;

    rg_buf_adds(&b, "SW1A");
    rg_buf_add(&b, " 1AA!", 4);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "SW1A 1AA");
    rg_buf_addf(&b, "\t%d\t%s", 42, "Siân");
    assert_string_equal(b.data, "SW1A 1AA\t42\tSiân");
    assert_int_equal(b.len, strlen(b.data));

    /* Growth far past the first allocation, byte for byte. */
    rg_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    for (int i = 0; i < 10000; i++)
        rg_buf_addf(&b, "%04d,", i);
    assert_false(rg_buf_failed(&b));
    assert_int_equal(b.len, 50000);
    assert_int_equal(strlen(b.data), 50000);
    assert_memory_equal(b.data + 5 * 9999, "9999,", 5);
    assert_memory_equal(b.data + 5 * 1234, "1234,", 5);

    /* Embedded NULs are kept by rg_buf_add. */
    rg_buf_reset(&b);
    rg_buf_add(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);

    /* steal hands the bytes over and leaves an empty buffer that can be reused. */
    rg_buf_reset(&b);
    rg_buf_adds(&b, "mine");
    s = rg_buf_steal(&b);
    assert_string_equal(s, "mine");
    free(s);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    s = rg_buf_steal(&b);   /* an empty buffer steals as "" */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    rg_buf_adds(&b, "again");
    assert_string_equal(b.data, "again");
    rg_buf_free(&b);
    assert_null(b.data);
    rg_buf_free(&b);   /* twice is harmless */
}

static void test_utf8_valid(void **state)
{
#define C(lit, ok, what) { lit, sizeof lit - 1, ok, what }   /* n counts every byte, NULs too */
    static const struct { const char *s; size_t n; int ok; const char *what; } cases[] = {
        C("Bill Smith", 1, "ASCII"),
        C("Siân", 1, "two-byte"),
        C("Zoë Ó Súilleabháin", 1, "Irish"),
        C("\xe2\x82\xac", 1, "euro sign"),
        C("\xf0\x9f\x98\x80", 1, "four-byte emoji"),
        C("", 1, "empty"),
        C("\xc3", 0, "truncated sequence"),
        C("\x80", 0, "lone continuation byte"),
        C("\xc0\xaf", 0, "overlong '/'"),
        C("\xe0\x80\xaf", 0, "three-byte overlong"),
        C("\xed\xa0\x80", 0, "UTF-16 surrogate"),
        C("\xf4\x90\x80\x80", 0, "above U+10FFFF"),
        C("\xff", 0, "0xff"),
        C("Sian\xe9", 0, "Latin-1 e-acute"),
        C("a\0b", 0, "embedded NUL"),
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (rg_utf8_valid(cases[i].s, cases[i].n) != cases[i].ok)
            fail_msg("rg_utf8_valid(%s) should be %d", cases[i].what, cases[i].ok);
#undef C
}

/* A cut of text at a byte count never splits a character: the prefix ends before it. */
static void test_utf8_prefix(void **state)
{
    static const struct { const char *s; size_t max, want; const char *what; } cases[] = {
        { "Siân", 10, 5, "shorter than max: all of it" },
        { "Siân", 5, 5, "exactly max" },
        { "Siân", 3, 2, "max falls inside the a-circumflex: cut before it" },
        { "Siân", 4, 4, "max falls after it" },
        { "\xe2\x82\xac\xe2\x82\xac", 4, 3, "inside the second euro sign" },
        { "\xe2\x82\xac\xe2\x82\xac", 2, 0, "inside the first" },
        { "\xf0\x9f\x98\x80x", 3, 0, "inside a four-byte emoji" },
        { "\xf0\x9f\x98\x80x", 4, 4, "just after it" },
        { "abc", 0, 0, "max 0" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (rg_utf8_prefix(cases[i].s, cases[i].max) != cases[i].want)
            fail_msg("rg_utf8_prefix, %s: %zu, want %zu", cases[i].what,
                     rg_utf8_prefix(cases[i].s, cases[i].max), cases[i].want);
}

/* snprintf's truncation keeps whole characters, and says how long the whole output would be. */
static void test_snprintf_utf8(void **state)
{
    char buf[6];

    (void)state;
    /* "ab" + "ééé": 8 bytes; 5 fit, and the fifth is the first byte of the second e-acute. */
    assert_int_equal(rg_snprintf_utf8(buf, sizeof buf, "ab%s", "\xc3\xa9\xc3\xa9\xc3\xa9"), 8);
    assert_string_equal(buf, "ab\xc3\xa9");
    assert_true(rg_utf8_valid(buf, strlen(buf)));
    /* a euro sign cut after one of its three bytes */
    assert_int_equal(rg_snprintf_utf8(buf, sizeof buf, "abcd\xe2\x82\xac"), 7);
    assert_string_equal(buf, "abcd");
    /* cut after two of its three bytes */
    assert_int_equal(rg_snprintf_utf8(buf, sizeof buf, "abc\xe2\x82\xac"), 6);
    assert_string_equal(buf, "abc");
    /* fits: untouched */
    assert_int_equal(rg_snprintf_utf8(buf, sizeof buf, "a\xe2\x82\xac"), 4);
    assert_string_equal(buf, "a\xe2\x82\xac");
    /* ASCII cut as snprintf cuts it */
    assert_int_equal(rg_snprintf_utf8(buf, sizeof buf, "%s", "abcdefgh"), 8);
    assert_string_equal(buf, "abcde");
    /* a four-byte character that exactly fills the buffer, then one cut inside */
    assert_int_equal(rg_snprintf_utf8(buf, sizeof buf, "a\xf0\x9f\x98\x80"), 5);
    assert_string_equal(buf, "a\xf0\x9f\x98\x80");
    assert_int_equal(rg_snprintf_utf8(buf, sizeof buf, "ab\xf0\x9f\x98\x80"), 6);
    assert_string_equal(buf, "ab");
}

/* A setting from the environment (REGFS_BUSY_TIMEOUT, REGFS_PIN_MAX) is taken only when it is a
 * whole number in range; anything else leaves the default. */
static void test_env_long(void **state)
{
    static const struct { const char *value; long want; } cases[] = {
        { "12", 12 }, { "0", 0 }, { "3600", 3600 }, { "3601", 30 }, { "-1", 30 }, { "", 30 },
        { "12s", 30 }, { " 12", 12 }, { "1e3", 30 }, { "99999999999999999999999", 30 },
    };
    (void)state;

    unsetenv("RG_TEST_ENV");
    assert_int_equal(rg_env_long("RG_TEST_ENV", 0, 3600, 30), 30);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        setenv("RG_TEST_ENV", cases[i].value, 1);
        if (rg_env_long("RG_TEST_ENV", 0, 3600, 30) != cases[i].want)
            fail_msg("RG_TEST_ENV=\"%s\" gave %ld, not %ld", cases[i].value,
                     rg_env_long("RG_TEST_ENV", 0, 3600, 30), cases[i].want);
    }
    unsetenv("RG_TEST_ENV");
}

static void test_clock(void **state)
{
    char utc[RG_UTC_LEN], day[11];

    assert_string_equal(rg_fmt_utc(0, utc), "1970-01-01T00:00:00Z");
    assert_string_equal(rg_fmt_utc(1784021462, utc), "2026-07-14T09:31:02Z");
    assert_string_equal(rg_fmt_utc(1456790399, utc), "2016-02-29T23:59:59Z");

    setenv("REGFS_NOW", "1784021462", 1);
    assert_int_equal(rg_now_ns(), INT64_C(1784021462) * 1000000000);
    assert_string_equal(rg_today(day), "2026-07-14");
    setenv("REGFS_NOW", "not-a-number", 1);   /* ignored: the real clock */
    assert_true(rg_now_ns() > INT64_C(1700000000) * 1000000000);
    unsetenv("REGFS_NOW");
    assert_true(rg_now_ns() > INT64_C(1700000000) * 1000000000);
}

static void test_actor(void **state)
{
    rg_actor a;
    char s[RG_ACTOR_STR_LEN];

    rg_actor_daemon(&a);
    assert_string_equal(rg_actor_str(&a, s), "regfs");
    rg_actor_for_uid(0, &a);
    assert_string_equal(rg_actor_str(&a, s), "root:0");
    rg_actor_for_uid(4000321, &a);   /* no such user: the number stands in for the name */
    assert_string_equal(rg_actor_str(&a, s), "uid4000321:4000321");
}

/* Audit events hand-written by rg_buf_add_json_str() must hash as jansson's text would: the same
 * bytes for every byte a value can hold, and for names and free text people write. */
static void test_json_str_like_jansson(void **state)
{
    static const char *const samples[] = {
        "", "plain", "O'Brien", "say \"no\"", "back\\slash", "a/b", "tab\there", "line\nbreak\r\n",
        "\b\f\x01\x1f\x7f", "Zo\xc3\xab M\xc3\xbcller", "\xe2\x80\xa8 \xf0\x9f\x98\x80",
        "{\"json\":[1,2]}",
    };
    char all[127];
    (void)state;

    for (int c = 1; c < 128; c++)
        all[c - 1] = (char)c;
    for (size_t i = 0; i <= sizeof samples / sizeof samples[0]; i++) {
        const char *s = i < sizeof samples / sizeof samples[0] ? samples[i] : all;
        size_t n = i < sizeof samples / sizeof samples[0] ? strlen(s) : sizeof all;
        json_t *o = json_pack("{s:s%}", "k", s, n);
        char *want = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        rg_buf got = RG_BUF_INIT;

        assert_non_null(want);
        rg_buf_adds(&got, "{\"k\":");
        rg_buf_add_json_str(&got, s, n);
        rg_buf_adds(&got, "}");
        assert_string_equal(got.data, want);
        free(want);
        json_decref(o);
        rg_buf_free(&got);
    }
}

/* Text that is not strict UTF-8 is refused, as jansson refuses it, and leaves the buffer as it was. */
static void test_json_str_refuses_bad_utf8(void **state)
{
    static const char *const bad[] = {
        "\xc3", "\x80", "a\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf8\x88\x80\x80\x80", "ok \xc3\x28",
    };
    (void)state;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rg_buf got = RG_BUF_INIT;
        rg_buf_adds(&got, "{\"k\":");
        if (rg_buf_add_json_str(&got, bad[i], strlen(bad[i])) != -1)
            fail_msg("sample %zu was taken as UTF-8", i);
        assert_string_equal(got.data, "{\"k\":");
        assert_null(json_stringn(bad[i], strlen(bad[i])));   /* jansson agrees */
        rg_buf_free(&got);
    }
}

static void test_buf_add_int(void **state)
{
    static const int64_t v[] = { 0, 7, -7, 1000378, INT64_MAX, INT64_MIN };
    char want[32];
    (void)state;

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        rg_buf b = RG_BUF_INIT;
        rg_buf_add_int(&b, v[i]);
        snprintf(want, sizeof want, "%" PRId64, v[i]);
        assert_string_equal(b.data, want);
        rg_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_valid),
        cmocka_unit_test(test_timestamp_valid),
        cmocka_unit_test(test_postcode_valid),
        cmocka_unit_test(test_postcode_fold_and_district),
        cmocka_unit_test(test_slug),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_json_str_like_jansson),
        cmocka_unit_test(test_json_str_refuses_bad_utf8),
        cmocka_unit_test(test_buf_add_int),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_utf8_prefix),
        cmocka_unit_test(test_snprintf_utf8),
        cmocka_unit_test(test_env_long),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_actor),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
