/*
 * gzip.h: gzip for tests that send compressed bodies or bombs (zlib, one
 * gzip member). Header-only, like harness.h; link zlib.
 */
#ifndef TERN_TESTS_GZIP_H
#define TERN_TESTS_GZIP_H

#include <stdint.h>
#include <stdlib.h>

#include <zlib.h>

/** in[0..len) gzip'ed at level 9, malloc'ed (caller frees); aborts when out of memory. */
static inline uint8_t *test_gzip(const void *in, size_t len, size_t *outlen)
{
	z_stream z = { 0 };
	deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 9, Z_DEFAULT_STRATEGY);
	size_t cap = deflateBound(&z, len) + 64;
	uint8_t *out = malloc(cap);
	if (out == NULL)
		abort();
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	deflate(&z, Z_FINISH);
	*outlen = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

/** n zero bytes gzip'ed: a gzip bomb of about n / 1000 bytes. */
static inline uint8_t *test_gzip_zeros(size_t n, size_t *outlen)
{
	uint8_t *zeros = calloc(1, n);
	if (zeros == NULL)
		abort();
	uint8_t *g = test_gzip(zeros, n, outlen);
	free(zeros);
	return g;
}

#endif /* TERN_TESTS_GZIP_H */
