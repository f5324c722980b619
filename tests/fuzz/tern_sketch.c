/*
 * Fuzz target: tern_sketch_deserialize() on untrusted bytes. What it
 * accepts must be usable (quantiles, merge) and serialise back to bytes
 * that deserialise to the same sketch.
 */
#include "tern_sketch.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tern_sketch *s = NULL;
	if (tern_sketch_deserialize(data, size, &s) != 0)
		return 0;
	for (double q = 0; q <= 1.0; q += 0.125)
		(void)tern_sketch_quantile(s, q);
	uint8_t *buf;
	size_t len;
	if (tern_sketch_serialize(s, &buf, &len) == 0) {
		struct tern_sketch *t = NULL;
		if (tern_sketch_deserialize(buf, len, &t) != 0 ||
		    tern_sketch_count(t) != tern_sketch_count(s))
			abort();
		for (double q = 0; q <= 1.0; q += 0.125) {
			double a = tern_sketch_quantile(s, q), b = tern_sketch_quantile(t, q);
			if (!(a == b || (isnan(a) && isnan(b))))
				abort();
		}
		struct tern_sketch *m = tern_sketch_new(tern_sketch_accuracy(s), 0);
		if (m != NULL) {
			tern_sketch_merge(m, s);
			tern_sketch_merge(m, t);
			tern_sketch_add(m, 1.0);
			tern_sketch_free(m);
		}
		tern_sketch_free(t);
		free(buf);
	}
	tern_sketch_free(s);
	return 0;
}
