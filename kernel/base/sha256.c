/* sha256.c — SHA-256 through OpenSSL's EVP interface (sha256.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/sha256.h"

struct lb_sha256 {
    EVP_MD_CTX *ctx;
    bool ok;
};

static void to_hex(const unsigned char md[32], char out[65])
{
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

void lb_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = 0;
    if (EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) == 1 && n == 32)
        to_hex(md, out);
}

lb_sha256 *lb_sha256_begin(void)
{
    lb_sha256 *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    h->ok = h->ctx && EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) == 1;
    return h;
}

void lb_sha256_add(lb_sha256 *h, const void *data, size_t len)
{
    if (h && h->ok && len)
        h->ok = EVP_DigestUpdate(h->ctx, data, len) == 1;
}

bool lb_sha256_end(lb_sha256 *h, unsigned char md[32], char out[65])
{
    unsigned char buf[32];
    unsigned int n = 0;
    bool ok = h && h->ok && EVP_DigestFinal_ex(h->ctx, buf, &n) == 1 && n == 32;
    if (out)
        out[0] = 0;
    if (ok) {
        if (md)
            memcpy(md, buf, 32);
        if (out)
            to_hex(buf, out);
    }
    if (h)
        EVP_MD_CTX_free(h->ctx);
    free(h);
    return ok;
}
