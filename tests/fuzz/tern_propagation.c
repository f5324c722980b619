/*
 * Fuzz target: W3C traceparent / tracestate parsing (agent/propagation.c).
 * Input: traceparent bytes, a '\n', tracestate bytes. Checks the parser
 * never reads out of bounds, and that what it accepts round-trips.
 */
#include "tern.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t tp_len = nl ? (size_t)(nl - data) : size;
	/* exact-size heap copies so ASan sees any over-read */
	char *tp = malloc(tp_len + 1);
	memcpy(tp, data, tp_len);
	tp[tp_len] = '\0';
	struct tern_context c;
	if (tern_traceparent_parse(tp, tp_len, &c) == 0) {
		char out[56];
		struct tern_context c2;
		tern_traceparent_format(&c, out);
		if (tern_traceparent_parse(out, 55, &c2) != 0 ||
		    memcmp(c.trace_id, c2.trace_id, 16) != 0 || memcmp(c.span_id, c2.span_id, 8) != 0)
			abort();
	}
	free(tp);
	if (nl != NULL) {
		size_t ts_len = size - tp_len - 1;
		char *ts = malloc(ts_len + 1);
		memcpy(ts, nl + 1, ts_len);
		ts[ts_len] = '\0';
		char out[512], again[512];
		int n = tern_tracestate_parse(ts, ts_len, out, sizeof out);
		if (n >= 0) {
			/* the normalised form parses to itself */
			int m = tern_tracestate_parse(out, (size_t)n, again, sizeof again);
			if (m != n || strcmp(out, again) != 0)
				abort();
		}
		free(ts);
	}
	return 0;
}
