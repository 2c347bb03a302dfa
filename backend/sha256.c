/*
 * sha256.c: SHA-256 through libcrypto, or libsodium (see sha256.h).
 */
#include <pthread.h>

#include "sha256.h"

/* Fetched once: an implicit fetch (EVP_sha256() at every init) looks the algorithm up each time. */
static EVP_MD *md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;

static void fetch_md(void)
{
    md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void rg_sha256_init(rg_sha256 *c)
{
    pthread_once(&md_once, fetch_md);
    c->ctx = md ? EVP_MD_CTX_new() : NULL;
    if (c->ctx && EVP_DigestInit_ex2(c->ctx, md, NULL) == 1)
        return;
    EVP_MD_CTX_free(c->ctx);
    c->ctx = NULL;
    crypto_hash_sha256_init(&c->sod);
}

void rg_sha256_update(rg_sha256 *c, const void *p, size_t n)
{
    /* libcrypto fails an update only on a context it did not initialise. */
    if (c->ctx)
        EVP_DigestUpdate(c->ctx, p, n);
    else
        crypto_hash_sha256_update(&c->sod, p, n);
}

void rg_sha256_final(rg_sha256 *c, unsigned char out[RG_SHA256_BYTES])
{
    if (!c->ctx) {
        crypto_hash_sha256_final(&c->sod, out);
        return;
    }
    EVP_DigestFinal_ex(c->ctx, out, NULL);
    EVP_MD_CTX_free(c->ctx);
    c->ctx = NULL;
}
