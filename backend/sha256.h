/*
 * sha256.h: SHA-256 for the audit chain, through OpenSSL's libcrypto, which hashes with the
 * processor's SHA instructions where it has them (x86-64 SHA-NI, ARMv8): several times faster than
 * libsodium's portable code, which hashing every event of a bulk import notices.  Both give the
 * same digest; libsodium's is the fallback if libcrypto cannot make a context.
 *
 * rg_sha256_init() starts a hash that rg_sha256_final() ends and frees: every init must be
 * followed by one final.
 */
#ifndef RG_SHA256_H
#define RG_SHA256_H

#include <openssl/evp.h>
#include <sodium.h>
#include <stddef.h>

#define RG_SHA256_BYTES 32

typedef struct rg_sha256 {
    EVP_MD_CTX *ctx;                   /* libcrypto's; NULL: libsodium's, below */
    crypto_hash_sha256_state sod;
} rg_sha256;

void rg_sha256_init(rg_sha256 *c);
void rg_sha256_update(rg_sha256 *c, const void *p, size_t n);
void rg_sha256_final(rg_sha256 *c, unsigned char out[RG_SHA256_BYTES]);

#endif
