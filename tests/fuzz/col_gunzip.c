/*
 * Fuzz target: ternd's bounded gzip inflate (collector/ingest/inflate.c), which
 * faces untrusted Content-Encoding: gzip bodies. The first input byte picks
 * the output bound and the memory budget; the rest is the gzip stream.
 * Checks: the bound and the budget are never passed, errors leave no
 * buffer, and what was reserved is reported exactly.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest/inflate.h"

struct budget {
	size_t used, limit;
};

static bool take(void *arg, size_t n)
{
	struct budget *b = arg;
	if (b->used + n > b->limit)
		return false;
	b->used += n;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t max_out = (size_t)1 << (8 + (data[0] & 15));        /* 256 B .. 8 MiB */
	struct budget b = { 0, (size_t)1 << (10 + (data[0] >> 4)) }; /* 1 KiB .. 32 MiB */
	uint8_t *out;
	size_t outlen, reserved;
	int r = col_gunzip_reserve(data + 1, size - 1, max_out, &out, &outlen, take, &b,
				   &reserved);
	if (reserved != b.used || b.used > b.limit)
		abort();
	if (r == 0) {
		if (out == NULL || outlen > max_out || outlen > reserved)
			abort();
		free(out);
	} else if (out != NULL) {
		abort();
	}
	r = col_gunzip(data + 1, size - 1, max_out, &out, &outlen);
	if (r == 0) {
		if (outlen > max_out)
			abort();
		free(out);
	}
	return 0;
}
