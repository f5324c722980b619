/*
 * otlp_json.c: fuzz target for otlp_decode_json().
 *
 * Decodes the input with tight limits. When it decodes, the batch must
 * re-encode as OTLP/JSON and as protobuf, and both must decode again to
 * the same number of spans with nothing rejected. Any other outcome aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct otlp_limits lim = {
		.max_request_bytes = 1 << 20,
		.max_attrs_per_span = 32,
		.max_attr_value_bytes = 4096,
		.max_value_depth = 8,
		.max_events_per_span = 64,
		.max_links_per_span = 64,
		.max_attrs_per_event = 16,
		.max_name_bytes = 256,
		.max_decoded_bytes = 16 << 20,
	};
	struct otlp_limits again = lim;
	/* JSON output turns each stray non-UTF-8 byte into 3-byte U+FFFD. */
	again.max_request_bytes = (size_t)64 << 20;
	again.max_attr_value_bytes = 3 * lim.max_attr_value_bytes;
	again.max_decoded_bytes = 0;

	struct otlp_batch *b = otlp_batch_new();
	if (b == NULL)
		return 0;
	char err[256];
	int rc = otlp_decode_json(b, (const char *)data, size, &lim, err, sizeof err);
	if (rc != 0) {
		if (rc != -EINVAL && rc != -EMSGSIZE)
			abort();
		goto out;
	}
	char *js;
	size_t jslen;
	if (otlp_encode_json(b, &js, &jslen) != 0)
		abort();
	struct otlp_batch *c = otlp_batch_new();
	if (otlp_decode_json(c, js, jslen, &again, NULL, 0) != 0 || c->n_spans != b->n_spans ||
	    c->n_rejected != 0)
		abort();
	otlp_batch_free(c);
	free(js);

	uint8_t *pb;
	size_t pblen;
	if (otlp_encode_proto(b, &pb, &pblen) != 0)
		abort();
	c = otlp_batch_new();
	if (otlp_decode_proto(c, pb, pblen, &again, NULL, 0) != 0 || c->n_spans != b->n_spans ||
	    c->n_rejected != 0)
		abort();
	otlp_batch_free(c);
	free(pb);
out:
	otlp_batch_free(b);
	return 0;
}
