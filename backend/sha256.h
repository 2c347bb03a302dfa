/*
 * sha256.h: SHA-256 for the audit chain, with the processor's SHA instructions where it has them
 * (x86-64 SHA-NI: several times faster than libsodium's portable code, which hashing every event of
 * a bulk import notices), and libsodium's otherwise.  Both give the same digest; the choice is made
 * per hash from the CPU's flags, so a machine (or valgrind) without them takes libsodium's path.
 *
 * The state is a plain value on the caller's stack: nothing to free.
 */
#ifndef RG_SHA256_H
#define RG_SHA256_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define RG_SHA256_BYTES 32

typedef struct rg_sha256 {
    int ni;                            /* the SHA instructions' path; else sod */
    uint32_t h[8];
    uint64_t bytes;                    /* hashed so far */
    unsigned char block[64];           /* the part of a block not hashed yet: bytes % 64 of them */
    crypto_hash_sha256_state sod;
} rg_sha256;

void rg_sha256_init(rg_sha256 *c);
void rg_sha256_update(rg_sha256 *c, const void *p, size_t n);
void rg_sha256_final(rg_sha256 *c, unsigned char out[RG_SHA256_BYTES]);

/* Whether this process hashes with the SHA instructions (for tests). */
int rg_sha256_hardware(void);

#endif
