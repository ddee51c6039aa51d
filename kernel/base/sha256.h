/* sha256.h — SHA-256 (OpenSSL's EVP) as lowercase hex: of a buffer at once, or streamed. Data
 * fingerprints, weight hashes, config hashes, plugin file hashes and checkpoint checksums all
 * use it. */
#ifndef LB_SHA256_H
#define LB_SHA256_H

#include <stdbool.h>
#include <stddef.h>

/* out receives 64 hex digits and a NUL; "" when OpenSSL fails (out of memory). */
void lb_sha256_hex(const void *data, size_t len, char out[65]);

/* Streaming: begin, add any number of times, end (which frees the state). NULL when out of
 * memory; add and end accept NULL (end then gives ""). */
typedef struct lb_sha256 lb_sha256;
lb_sha256 *lb_sha256_begin(void);
void lb_sha256_add(lb_sha256 *h, const void *data, size_t len);
/* Ends the hash: 32 raw bytes into md (may be NULL) and/or hex into out (may be NULL);
 * false when OpenSSL failed. */
bool lb_sha256_end(lb_sha256 *h, unsigned char md[32], char out[65]);

#endif
