/* inflate.h: bounded gzip decompression for request bodies. */
#ifndef TERN_COLLECTOR_INFLATE_H
#define TERN_COLLECTOR_INFLATE_H

#include <stddef.h>
#include <stdint.h>

/**
 * Inflates the gzip stream in[0..inlen) into a malloc'ed buffer *out of
 * *outlen bytes (caller frees). Never allocates more than max_out bytes for
 * the output: a body that inflates past max_out fails with -EMSGSIZE (gzip
 * bombs stop there). -EINVAL: not a complete gzip stream, or trailing bytes.
 * -ENOMEM. On error *out is NULL. Thread-safe.
 */
int col_gunzip(const uint8_t *in, size_t inlen, size_t max_out, uint8_t **out,
	       size_t *outlen);

#endif /* TERN_COLLECTOR_INFLATE_H */
