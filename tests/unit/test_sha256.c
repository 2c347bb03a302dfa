/*
 * test_sha256.c: the audit chain's SHA-256 (backend/sha256.h: libcrypto's) against libsodium's, for
 * every length around the block and padding boundaries and fed in pieces of every size: every
 * register hashed before libcrypto did it must still verify.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "sha256.h"

static void digest_of(const unsigned char *p, size_t n, size_t piece, unsigned char out[32])
{
    rg_sha256 c;

    rg_sha256_init(&c);
    for (size_t off = 0; off < n; off += piece)
        rg_sha256_update(&c, p + off, n - off < piece ? n - off : piece);
    rg_sha256_final(&c, out);
}

static void test_like_libsodium(void **state)
{
    unsigned char data[1100], want[32], got[32];
    (void)state;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    for (size_t n = 0; n < sizeof data; n += n < 200 ? 1 : 37) {
        crypto_hash_sha256(want, data, n);
        for (size_t piece = 1; piece <= 130; piece += piece < 8 ? 1 : 29) {
            digest_of(data, n, piece, got);
            if (memcmp(got, want, sizeof want) != 0)
                fail_msg("length %zu in pieces of %zu: digests differ", n, piece);
        }
        digest_of(data, n, n ? n : 1, got);
        assert_memory_equal(got, want, sizeof want);
    }
}

/* FIPS 180-2's examples, so that a fault shared with libsodium cannot hide. */
static void test_known_answers(void **state)
{
    static const struct { const char *in, *hex; } v[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    unsigned char d[32];
    char hex[65];
    (void)state;

    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        digest_of((const unsigned char *)v[i].in, strlen(v[i].in), 64, d);
        sodium_bin2hex(hex, sizeof hex, d, sizeof d);
        assert_string_equal(hex, v[i].hex);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_like_libsodium),
        cmocka_unit_test(test_known_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
