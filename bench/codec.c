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

static struct otlp_bytes str(struct otlp_batch *b, const char *s)
{
	return otlp_batch_strdup(b, s, strlen(s));
}

static struct otlp_kv *kv_new(struct otlp_batch *b, struct otlp_kv ***tail, uint32_t *n,
			      const char *key)
{
	struct otlp_kv *kv = otlp_batch_alloc(b, sizeof *kv);
	kv->key = str(b, key);
	**tail = kv;
	*tail = &kv->next;
	++*n;
	return kv;
}

static void kv_str(struct otlp_batch *b, struct otlp_kv ***t, uint32_t *n, const char *k,
		   const char *v)
{
	struct otlp_kv *kv = kv_new(b, t, n, k);
	kv->value.type = OTLP_VALUE_STRING;
	kv->value.u.str = str(b, v);
}

static void kv_int(struct otlp_batch *b, struct otlp_kv ***t, uint32_t *n, const char *k,
		   int64_t v)
{
	struct otlp_kv *kv = kv_new(b, t, n, k);
	kv->value.type = OTLP_VALUE_INT;
	kv->value.u.i = v;
}

static struct otlp_batch *typical_request(void)
{
	struct otlp_batch *b = otlp_batch_new();
	struct otlp_resource_spans *rs = otlp_batch_alloc(b, sizeof *rs);
	b->resource_spans = rs;
	b->n_resource_spans = 1;
	struct otlp_kv **rt = &rs->resource_attrs.head;
	kv_str(b, &rt, &rs->resource_attrs.n, "service.name", "checkout");
	kv_str(b, &rt, &rs->resource_attrs.n, "service.version", "1.4.2");
	kv_str(b, &rt, &rs->resource_attrs.n, "host.name", "web-7f9c");
	kv_str(b, &rt, &rs->resource_attrs.n, "telemetry.sdk.name", "tern");
	struct otlp_scope_spans *ss = otlp_batch_alloc(b, sizeof *ss);
	rs->scope_spans = ss;
	rs->n_scope_spans = 1;
	ss->scope_name = str(b, "tern");
	ss->scope_version = str(b, "0.1.0");
	struct otlp_span **tail = &ss->spans;
	uint64_t t0 = 1700000000000000000ull;
	for (int i = 0; i < SPANS_PER_REQUEST; i++) {
		struct otlp_span *s = otlp_batch_alloc(b, sizeof *s);
		for (int k = 0; k < 16; k++)
			s->trace_id[k] = (uint8_t)(i * 31 + k * 7 + 1);
		for (int k = 0; k < 8; k++) {
			s->span_id[k] = (uint8_t)(i * 13 + k + 1);
			s->parent_span_id[k] = (uint8_t)(i * 17 + k + 2);
		}
		s->has_parent = true;
		s->flags = 0x101;
		s->name = str(b, "GET /api/v1/orders/{id}");
		s->kind = OTLP_SPAN_KIND_SERVER;
		s->start_time_unix_nano = t0 + (uint64_t)i * 1000003;
		s->end_time_unix_nano = s->start_time_unix_nano + 2345678;
		struct otlp_kv **at = &s->attrs.head;
		kv_str(b, &at, &s->attrs.n, "http.request.method", "GET");
		kv_str(b, &at, &s->attrs.n, "url.path", "/api/v1/orders/8812");
		kv_str(b, &at, &s->attrs.n, "http.route", "/api/v1/orders/{id}");
		kv_int(b, &at, &s->attrs.n, "http.response.status_code", 200);
		kv_str(b, &at, &s->attrs.n, "server.address", "orders.internal");
		kv_int(b, &at, &s->attrs.n, "server.port", 8080);
		struct otlp_kv *kv = kv_new(b, &at, &s->attrs.n, "cache.hit");
		kv->value.type = OTLP_VALUE_BOOL;
		kv->value.u.b = i % 3 == 0;
		kv = kv_new(b, &at, &s->attrs.n, "db.duration_ms");
		kv->value.type = OTLP_VALUE_DOUBLE;
		kv->value.u.d = 1.25 + i;
		struct otlp_event *e = otlp_batch_alloc(b, sizeof *e);
		e->time_unix_nano = s->start_time_unix_nano + 1000;
		e->name = str(b, "cache.lookup");
		struct otlp_kv **et = &e->attrs.head;
		kv_str(b, &et, &e->attrs.n, "cache.key", "order:8812");
		s->events.head = e;
		s->events.n = 1;
		s->status.code = OTLP_STATUS_OK;
		*tail = s;
		tail = &s->next;
		ss->n_spans++;
		b->n_spans++;
	}
	return b;
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
