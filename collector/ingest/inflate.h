/* inflate.h: bounded gzip decompression for request bodies. */
#ifndef TERN_COLLECTOR_INFLATE_H
#define TERN_COLLECTOR_INFLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Inflates the gzip stream in[0..inlen) into a malloc'ed buffer *out of
 * *outlen bytes (caller frees). Several gzip members one after the other
 * are inflated one after the other (as gzip -d does); a zlib stream (gRPC's
 * "deflate") is taken too. Never allocates more than max_out bytes for the
 * output, all members together: a body that inflates past max_out fails with
 * -EMSGSIZE (gzip bombs stop there). -EINVAL: not a complete gzip stream.
 * -ENOMEM. On error *out is NULL. Thread-safe.
 */
int col_gunzip(const uint8_t *in, size_t inlen, size_t max_out, uint8_t **out,
	       size_t *outlen);

/**
 * As col_gunzip(), and before every allocation of output space calls
 * reserve(arg, n) for the n more bytes it is about to allocate; if that
 * returns false, stops with -ENOBUFS (a memory limit), unless the stream
 * inflates past max_out anyway: then -EMSGSIZE, found by inflating the rest
 * into a fixed scratch buffer (so a bomb is refused as final, not as
 * "retry later"). *reserved (if not NULL) gets the total reserved, even on
 * error, so the caller can give it back. On success the output buffer is at most *reserved bytes.
 */
int col_gunzip_reserve(const uint8_t *in, size_t inlen, size_t max_out, uint8_t **out,
		       size_t *outlen, bool (*reserve)(void *arg, size_t n), void *arg,
		       size_t *reserved);

#endif /* TERN_COLLECTOR_INFLATE_H */
