/*
 * sha256.c: SHA-256 with x86-64's SHA instructions, or libsodium's (see sha256.h).
 *
 * The block function is the usual SHA-NI one (Intel's "New Instructions Supporting the Secure Hash
 * Algorithm on Intel Architecture Processors", 2013): the state kept as ABEF and CDGH, each
 * sha256rnds2 doing two rounds, sha256msg1/msg2 extending the message schedule four words at a time.
 */
#include <pthread.h>
#include <string.h>

#include "sha256.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1

static const uint32_t K[64] __attribute__((aligned(16))) = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

__attribute__((target("sha,sse4.1")))
static void blocks_ni(uint32_t h[8], const unsigned char *p, size_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i s1 = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i s0, abef, cdgh, msg, w[4];

    tmp = _mm_shuffle_epi32(tmp, 0xB1);           /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);             /* EFGH */
    s0 = _mm_alignr_epi8(tmp, s1, 8);             /* ABEF */
    s1 = _mm_blend_epi16(s1, tmp, 0xF0);          /* CDGH */

    for (; n > 0; n--, p += 64) {
        abef = s0;
        cdgh = s1;
        for (int i = 0; i < 16; i++) {
            if (i < 4) {
                w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
            } else {
                /* w[t-16] + s0(w[t-15]), + w[t-7], + s1(w[t-2]): four words of the schedule */
                __m128i x = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
                x = _mm_add_epi32(x, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
                w[i & 3] = _mm_sha256msg2_epu32(x, w[(i + 3) & 3]);
            }
            msg = _mm_add_epi32(w[i & 3], _mm_load_si128((const __m128i *)&K[4 * i]));
            s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }

    tmp = _mm_shuffle_epi32(s0, 0x1B);            /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);             /* DCHG */
    s0 = _mm_blend_epi16(tmp, s1, 0xF0);          /* DCBA */
    s1 = _mm_alignr_epi8(s1, tmp, 8);             /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], s0);
    _mm_storeu_si128((__m128i *)&h[4], s1);
}
#endif

static int hardware;
static pthread_once_t hardware_once = PTHREAD_ONCE_INIT;

/* Asked once: CPUID is slow, a trap to the hypervisor in a virtual machine. */
static void probe(void)
{
#ifdef HAVE_SHA_NI
    unsigned a, b, c, d;
    int sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_1);
    hardware = sse41 && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & bit_SHA);
#endif
}

int rg_sha256_hardware(void)
{
    pthread_once(&hardware_once, probe);
    return hardware;
}

void rg_sha256_init(rg_sha256 *c)
{
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };

    c->ni = rg_sha256_hardware();
    c->bytes = 0;
    if (c->ni)
        memcpy(c->h, iv, sizeof iv);
    else
        crypto_hash_sha256_init(&c->sod);
}

void rg_sha256_update(rg_sha256 *c, const void *data, size_t n)
{
    const unsigned char *p = data;

    if (!c->ni) {
        crypto_hash_sha256_update(&c->sod, p, n);
        return;
    }
#ifdef HAVE_SHA_NI
    size_t have = (size_t)(c->bytes % 64);
    c->bytes += n;
    if (have > 0) {
        size_t take = n < 64 - have ? n : 64 - have;
        memcpy(c->block + have, p, take);
        p += take;
        n -= take;
        if (have + take < 64)
            return;
        blocks_ni(c->h, c->block, 1);
    }
    if (n >= 64) {
        blocks_ni(c->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    memcpy(c->block, p, n);
#endif
}

void rg_sha256_final(rg_sha256 *c, unsigned char out[RG_SHA256_BYTES])
{
    if (!c->ni) {
        crypto_hash_sha256_final(&c->sod, out);
        return;
    }
#ifdef HAVE_SHA_NI
    unsigned char pad[72] = { 0x80 };
    uint64_t bits = c->bytes * 8;
    size_t have = (size_t)(c->bytes % 64), npad = (have < 56 ? 56 : 120) - have;

    for (int i = 0; i < 8; i++)
        pad[npad + (size_t)i] = (unsigned char)(bits >> (56 - 8 * i));
    rg_sha256_update(c, pad, npad + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(c->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)c->h[i];
    }
#endif
}
