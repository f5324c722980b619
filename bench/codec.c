/*
 * bench/codec.c: OTLP codec throughput on a typical span.
 *
 * A request holds 512 spans of one service; each span has 8 attributes
 * (strings, ints, a bool, a double), one event with an attribute, a parent
 * and a status: about 300 bytes of protobuf. Each figure is the median of
 * 5 runs of at least 0.3 s. One thread.
 *
 *   ./build-codec/bench/codec            prints `name value unit` lines
 *   ./build-codec/bench/codec decode     only the figures whose name
 *                                        starts with "decode" (for perf)
 */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "otlp.h"

/* proto/src/internal.h: the plain nanopb encoder, for comparison. */
int otlp__encode_proto_nanopb(const struct otlp_batch *b, uint8_t **out, size_t *out_len);

#define SPANS_PER_REQUEST 512
#define RUNS 5
#define MIN_RUN_S 0.3

static struct otlp_batch *typical_request(void)
{
	struct otlp_builder bd;
	if (otlp_builder_init(&bd) != 0)
		return NULL;
	otlp_build_resource(&bd, "checkout");
	otlp_build_str(&bd, OTLP_TO_RESOURCE, "service.version", "1.4.2");
	otlp_build_str(&bd, OTLP_TO_RESOURCE, "host.name", "web-7f9c");
	otlp_build_str(&bd, OTLP_TO_RESOURCE, "telemetry.sdk.name", "tern");
	otlp_build_scope(&bd, "tern", "0.1.0");
	uint64_t t0 = 1700000000000000000ull;
	for (int i = 0; i < SPANS_PER_REQUEST; i++) {
		uint8_t tid[16], sid[8], pid[8];
		for (int k = 0; k < 16; k++)
			tid[k] = (uint8_t)(i * 31 + k * 7 + 1);
		for (int k = 0; k < 8; k++) {
			sid[k] = (uint8_t)(i * 13 + k + 1);
			pid[k] = (uint8_t)(i * 17 + k + 2);
		}
		uint64_t start = t0 + (uint64_t)i * 1000003;
		if (otlp_build_span(&bd, tid, sid, pid, "GET /api/v1/orders/{id}",
				    OTLP_SPAN_KIND_SERVER, start, start + 2345678) != 0)
			break;
		bd.sp->flags = 0x101;
		otlp_build_str(&bd, OTLP_TO_SPAN, "http.request.method", "GET");
		otlp_build_str(&bd, OTLP_TO_SPAN, "url.path", "/api/v1/orders/8812");
		otlp_build_str(&bd, OTLP_TO_SPAN, "http.route", "/api/v1/orders/{id}");
		otlp_build_int(&bd, OTLP_TO_SPAN, "http.response.status_code", 200);
		otlp_build_str(&bd, OTLP_TO_SPAN, "server.address", "orders.internal");
		otlp_build_int(&bd, OTLP_TO_SPAN, "server.port", 8080);
		otlp_build_bool(&bd, OTLP_TO_SPAN, "cache.hit", i % 3 == 0);
		otlp_build_double(&bd, OTLP_TO_SPAN, "db.duration_ms", 1.25 + i);
		otlp_build_event(&bd, start + 1000, "cache.lookup");
		otlp_build_str(&bd, OTLP_TO_EVENT, "cache.key", "order:8812");
		otlp_build_status(&bd, OTLP_STATUS_OK, NULL);
	}
	return otlp_builder_take(&bd);
}

enum op { DECODE, ENCODE, ENCODE_NANOPB, DECODE_JSON, ENCODE_JSON };

static const struct otlp_batch *g_batch;
static const uint8_t *g_pb;
static size_t g_pb_len;
static const char *g_js;
static size_t g_js_len;

/*
 * Every operation must give the request back: decoding the protobuf or the
 * JSON and encoding the result, with either encoder, gives g_pb again.
 * Returns the number of operations that did not.
 */
static int check_round_trips(void)
{
	int wrong = 0;
	for (int k = 0; k < 3; k++) {
		struct otlp_batch *b = otlp_batch_new();
		int rc = k == 0 ? otlp_decode_proto(b, g_pb, g_pb_len, NULL, NULL, 0)
		       : k == 1 ? otlp_decode_json(b, g_js, g_js_len, NULL, NULL, 0)
				: 0;
		uint8_t *out = NULL;
		size_t len = 0;
		if (rc == 0)
			rc = k == 2 ? otlp__encode_proto_nanopb(g_batch, &out, &len)
				    : otlp_encode_proto(b, &out, &len);
		if (rc != 0 || len != g_pb_len || memcmp(out, g_pb, len) != 0) {
			static const char *const what[] = { "protobuf decode + encode",
							    "JSON decode + protobuf encode",
							    "nanopb encode" };
			fprintf(stderr, "codec bench: wrong: %s does not give the request back\n",
				what[k]);
			wrong++;
		}
		free(out);
		otlp_batch_free(b);
	}
	return wrong;
}

/* One operation on one request; returns nonzero on error (a failure, or
 * an answer of the wrong size). */
static int run_once(enum op op)
{
	int rc = 0;
	if (op == DECODE || op == DECODE_JSON) {
		struct otlp_batch *b = otlp_batch_new();
		if (op == DECODE)
			rc = otlp_decode_proto(b, g_pb, g_pb_len, NULL, NULL, 0);
		else
			rc = otlp_decode_json(b, g_js, g_js_len, NULL, NULL, 0);
		if (rc == 0 && b->n_spans != SPANS_PER_REQUEST)
			rc = -1;
		otlp_batch_free(b);
	} else if (op == ENCODE_JSON) {
		char *out;
		size_t len;
		rc = otlp_encode_json(g_batch, &out, &len);
		if (rc == 0 && len != g_js_len)
			rc = -1;
		if (rc == 0)
			free(out);
	} else {
		uint8_t *out;
		size_t len;
		rc = op == ENCODE ? otlp_encode_proto(g_batch, &out, &len)
				  : otlp__encode_proto_nanopb(g_batch, &out, &len);
		if (rc == 0 && len != g_pb_len)
			rc = -1;
		if (rc == 0)
			free(out);
	}
	return rc;
}

/* Median over RUNS of requests per second. */
static double measure(enum op op)
{
	double rates[RUNS];
	for (int r = 0; r < RUNS; r++) {
		long n = 0;
		double t0 = now_s(), t;
		do {
			for (int k = 0; k < 16; k++, n++)
				if (run_once(op) != 0) {
					fprintf(stderr, "codec bench: operation %d failed\n", op);
					exit(1);
				}
			t = now_s();
		} while (t - t0 < MIN_RUN_S);
		rates[r] = (double)n / (t - t0);
	}
	return median(rates, RUNS);
}

static const char *only;

static bool want(const char *name)
{
	return only == NULL || strncmp(name, only, strlen(only)) == 0;
}

int main(int argc, char **argv)
{
	only = argc > 1 ? argv[1] : NULL;
	print_machine();
	printf("# request: %d spans, 8 attributes + 1 event each, median of %d runs\n",
	       SPANS_PER_REQUEST, RUNS);
	struct otlp_batch *b = typical_request();
	uint8_t *pb;
	size_t pb_len;
	char *js;
	size_t js_len;
	if (otlp_encode_proto(b, &pb, &pb_len) != 0 || otlp_encode_json(b, &js, &js_len) != 0) {
		fprintf(stderr, "codec bench: cannot encode the request\n");
		return 1;
	}
	g_batch = b;
	g_pb = pb;
	g_pb_len = pb_len;
	g_js = js;
	g_js_len = js_len;
	if (check_round_trips() != 0)
		return 1;
	printf("span_proto_bytes %.1f bytes\n", (double)pb_len / SPANS_PER_REQUEST);
	printf("span_json_bytes %.1f bytes\n", (double)js_len / SPANS_PER_REQUEST);

	double r;
	if (want("decode_")) {
		r = measure(DECODE);
		printf("decode_spans_per_s %.0f spans/s\n", r * SPANS_PER_REQUEST);
		printf("decode_mb_per_s %.1f MB/s\n", r * (double)pb_len / 1e6);
	}
	if (want("encode_")) {
		r = measure(ENCODE);
		printf("encode_spans_per_s %.0f spans/s\n", r * SPANS_PER_REQUEST);
		printf("encode_mb_per_s %.1f MB/s\n", r * (double)pb_len / 1e6);
	}
	if (want("encode_nanopb_")) {
		r = measure(ENCODE_NANOPB);
		printf("encode_nanopb_spans_per_s %.0f spans/s\n", r * SPANS_PER_REQUEST);
	}
	if (want("json_decode_")) {
		r = measure(DECODE_JSON);
		printf("json_decode_spans_per_s %.0f spans/s\n", r * SPANS_PER_REQUEST);
		printf("json_decode_mb_per_s %.1f MB/s\n", r * (double)js_len / 1e6);
	}
	if (want("json_encode_")) {
		r = measure(ENCODE_JSON);
		printf("json_encode_spans_per_s %.0f spans/s\n", r * SPANS_PER_REQUEST);
		printf("json_encode_mb_per_s %.1f MB/s\n", r * (double)js_len / 1e6);
	}

	free(pb);
	free(js);
	otlp_batch_free(b);
	return 0;
}
