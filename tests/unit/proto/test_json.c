/*
 * test_json.c: otlp_decode_json / otlp_encode_json and the JSON response.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixture.h"
#include "otlp.h"

/* Under valgrind the biggest loops run smaller (see test_proto.c). */
static bool under_valgrind(void)
{
	const char *v = getenv("TERN_UNDER_VALGRIND");
	return v != NULL && strcmp(v, "1") == 0;
}

static struct otlp_batch *decode_json(const char *js, const struct otlp_limits *lim, int *rc,
				      char *err, size_t errlen)
{
	struct otlp_batch *b = otlp_batch_new();
	*rc = otlp_decode_json(b, js, strlen(js), lim, err, errlen);
	return b;
}

TEST(json_roundtrip_every_field)
{
	struct otlp_batch *a = fx_full_batch();
	char *js = NULL;
	size_t len = 0;
	ASSERT_OK(otlp_encode_json(a, &js, &len));
	ASSERT_EQ_U(strlen(js), len);
	struct otlp_batch *b = otlp_batch_new();
	char err[256] = "";
	int rc = otlp_decode_json(b, js, len, NULL, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s\n", err);
	ASSERT_OK(rc);
	char why[256] = "";
	bool eq = fx_batch_eq(a, b, why, sizeof why);
	if (!eq)
		fprintf(stderr, "differs: %s\n%s\n", why, js);
	ASSERT_TRUE(eq);
	/* JSON -> model -> JSON is identical. */
	char *js2 = NULL;
	size_t len2 = 0;
	ASSERT_OK(otlp_encode_json(b, &js2, &len2));
	ASSERT_STR_EQ(js2, js);
	free(js2);
	free(js);
	otlp_batch_free(a);
	otlp_batch_free(b);
}

TEST(json_proto_equivalence)
{
	struct otlp_batch *a = fx_full_batch();
	uint8_t *pb;
	size_t pblen;
	ASSERT_OK(otlp_encode_proto(a, &pb, &pblen));
	char *js;
	size_t jslen;
	ASSERT_OK(otlp_encode_json(a, &js, &jslen));
	/* JSON -> model -> protobuf gives the same bytes as the model. */
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_json(b, js, jslen, NULL, NULL, 0));
	uint8_t *pb2;
	size_t pblen2;
	ASSERT_OK(otlp_encode_proto(b, &pb2, &pblen2));
	ASSERT_EQ_U(pblen2, pblen);
	ASSERT_MEM_EQ(pb2, pb, pblen);
	/* protobuf -> model -> JSON gives the same text. */
	struct otlp_batch *c = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(c, pb, pblen, NULL, NULL, 0));
	char *js2;
	size_t jslen2;
	ASSERT_OK(otlp_encode_json(c, &js2, &jslen2));
	ASSERT_STR_EQ(js2, js);
	free(js2);
	free(pb2);
	free(pb);
	free(js);
	otlp_batch_free(a);
	otlp_batch_free(b);
	otlp_batch_free(c);
}

/* One span in the common envelope. */
#define ENVELOPE(span) "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[" span "]}]}]}"
#define IDS "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"EEE19B7EC3C1B174\""

TEST(json_input_forms)
{
	const char *js = ENVELOPE(
		"{" IDS ",\"parentSpanId\":\"eee19b7ec3c1b173\",\"name\":\"a\\u00e9\\n\","
		"\"kind\":\"SPAN_KIND_CONSUMER\",\"startTimeUnixNano\":1544712660000000000,"
		"\"end_time_unix_nano\":\"18446744073709551615\",\"flags\":257,"
		"\"unknownKey\":{\"deep\":[1,2,3]},\"traceState\":null,"
		"\"attributes\":["
		"{\"key\":\"i1\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
		"{\"key\":\"i2\",\"value\":{\"intValue\":42}},"
		"{\"key\":\"i3\",\"value\":{\"int_value\":\"7\"}},"
		"{\"key\":\"d1\",\"value\":{\"doubleValue\":\"NaN\"}},"
		"{\"key\":\"d2\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
		"{\"key\":\"d3\",\"value\":{\"doubleValue\":3}},"
		"{\"key\":\"d4\",\"value\":{\"doubleValue\":\"2.5\"}},"
		"{\"key\":\"b1\",\"value\":{\"bytesValue\":\"AP8Q\"}},"
		"{\"key\":\"b2\",\"value\":{\"bytesValue\":\"_-8\"}},"
		"{\"key\":\"b3\",\"value\":{\"bytesValue\":\"YQ==\"}},"
		"{\"key\":\"s\",\"value\":{\"stringValue\":\"\\\"q\\\\\"}},"
		"{\"key\":\"e\",\"value\":{}},"
		"{\"key\":\"n\"}"
		"],\"status\":{\"code\":\"STATUS_CODE_ERROR\",\"message\":\"m\"},"
		"\"events\":[{\"time_unix_nano\":\"5\",\"name\":\"ev\"}],"
		"\"links\":[{\"trace_id\":\"0102030405060708090a0b0c0d0e0f10\","
		"\"span_id\":\"0102030405060708\",\"flags\":1}]}");
	char err[256] = "";
	int rc;
	struct otlp_batch *b = decode_json(js, NULL, &rc, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s\n", err);
	ASSERT_OK(rc);
	ASSERT_EQ_U(b->n_spans, 1);
	ASSERT_EQ_U(b->n_rejected, 0);
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	ASSERT_EQ(s->trace_id[0], 0x5b);
	ASSERT_EQ(s->trace_id[15], 0x0c);
	ASSERT_EQ(s->span_id[7], 0x74);
	ASSERT_TRUE(s->has_parent);
	ASSERT_EQ(s->parent_span_id[7], 0x73);
	ASSERT_MEM_STR(s->name.ptr, s->name.len, "a\xc3\xa9\n");
	ASSERT_EQ(s->kind, OTLP_SPAN_KIND_CONSUMER);
	ASSERT_EQ_U(s->start_time_unix_nano, 1544712660000000000ull);
	ASSERT_EQ_U(s->end_time_unix_nano, UINT64_MAX);
	ASSERT_EQ(s->flags, 257);
	ASSERT_EQ(s->trace_state.len, 0);
	const struct otlp_kv *kv = s->attrs.head;
	ASSERT_EQ(kv->value.u.i, INT64_MIN);
	kv = kv->next;
	ASSERT_EQ(kv->value.u.i, 42);
	kv = kv->next;
	ASSERT_EQ(kv->value.u.i, 7);
	kv = kv->next;
	ASSERT_TRUE(kv->value.type == OTLP_VALUE_DOUBLE && isnan(kv->value.u.d));
	kv = kv->next;
	ASSERT_TRUE(isinf(kv->value.u.d) && kv->value.u.d < 0);
	kv = kv->next;
	ASSERT_NEAR(kv->value.u.d, 3.0, 0);
	kv = kv->next;
	ASSERT_NEAR(kv->value.u.d, 2.5, 0);
	kv = kv->next;
	ASSERT_EQ(kv->value.type, OTLP_VALUE_BYTES);
	ASSERT_EQ(kv->value.u.str.len, 3);
	ASSERT_MEM_EQ(kv->value.u.str.ptr, "\x00\xff\x10", 3);
	kv = kv->next;
	ASSERT_EQ(kv->value.u.str.len, 2); /* url-safe, unpadded */
	ASSERT_MEM_EQ(kv->value.u.str.ptr, "\xff\xef", 2);
	kv = kv->next;
	ASSERT_MEM_STR(kv->value.u.str.ptr, kv->value.u.str.len, "a");
	kv = kv->next;
	ASSERT_MEM_STR(kv->value.u.str.ptr, kv->value.u.str.len, "\"q\\");
	kv = kv->next;
	ASSERT_EQ(kv->value.type, OTLP_VALUE_EMPTY);
	kv = kv->next;
	ASSERT_EQ(kv->value.type, OTLP_VALUE_EMPTY);
	ASSERT_EQ(s->status.code, OTLP_STATUS_ERROR);
	ASSERT_EQ_U(s->events.head->time_unix_nano, 5);
	ASSERT_EQ(s->links.head->trace_id[15], 0x10);
	ASSERT_EQ(s->links.head->flags, 1);

	/* The output uses the canonical forms. */
	char *out;
	size_t len;
	ASSERT_OK(otlp_encode_json(b, &out, &len));
	ASSERT_TRUE(strstr(out, "\"traceId\":\"5b8efff798038103d269b633813fc60c\"") != NULL);
	ASSERT_TRUE(strstr(out, "\"kind\":5") != NULL);
	ASSERT_TRUE(strstr(out, "\"endTimeUnixNano\":\"18446744073709551615\"") != NULL);
	ASSERT_TRUE(strstr(out, "{\"intValue\":\"-9223372036854775808\"}") != NULL);
	ASSERT_TRUE(strstr(out, "{\"doubleValue\":\"NaN\"}") != NULL);
	ASSERT_TRUE(strstr(out, "{\"doubleValue\":\"-Infinity\"}") != NULL);
	ASSERT_TRUE(strstr(out, "{\"doubleValue\":3.0}") != NULL);
	ASSERT_TRUE(strstr(out, "{\"bytesValue\":\"AP8Q\"}") != NULL);
	ASSERT_TRUE(strstr(out, "{\"bytesValue\":\"/+8=\"}") != NULL);
	ASSERT_TRUE(strstr(out, "\"name\":\"a\xc3\xa9\\n\"") != NULL);
	ASSERT_TRUE(strstr(out, "\"code\":2") != NULL);
	free(out);
	otlp_batch_free(b);
}

TEST(json_invalid_input_is_an_error)
{
	const char *bad[] = {
		"",
		"{",
		"[]",
		"{\"resourceSpans\":{}}",
		"{\"resourceSpans\":[1]}",
		"{\"resourceSpans\":[]} x",
		"{\"resourceSpans\":[]}{}",
		ENVELOPE("{" IDS ",\"name\":5}"),
		ENVELOPE("{" IDS ",\"kind\":\"SPAN_KIND_BOGUS\"}"),
		ENVELOPE("{" IDS ",\"startTimeUnixNano\":\"-1\"}"),
		ENVELOPE("{" IDS ",\"startTimeUnixNano\":\"12x\"}"),
		/* (A JSON number above UINT64_MAX is saturated by json-c's
		 * tokener before we see it, so it is not in this list.) */
		ENVELOPE("{" IDS ",\"startTimeUnixNano\":\"18446744073709551616\"}"),
		ENVELOPE("{" IDS ",\"flags\":4294967296}"),
		ENVELOPE("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"9223372036854775808\"}}]}"),
		ENVELOPE("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"doubleValue\":\"fast\"}}]}"),
		ENVELOPE("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"a\"}}]}"),
		ENVELOPE("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"a*==\"}}]}"),
		ENVELOPE("{" IDS ",\"attributes\":[{\"key\":\"k\",\"value\":{\"boolValue\":\"yes\"}}]}"),
		ENVELOPE("{" IDS ",\"attributes\":{}}"),
		ENVELOPE("{" IDS ",\"attributes\":[{\"key\":1}]}"),
		ENVELOPE("{" IDS ",\"events\":[5]}"),
		ENVELOPE("{" IDS ",\"status\":[]}"),
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":{}}}}]}}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":\"x\"}]}]}",
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"name\":\"\\ud800\"}]}]}]} ]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char err[256] = "";
		int rc;
		struct otlp_batch *b = decode_json(bad[i], NULL, &rc, err, sizeof err);
		if (rc != -EINVAL)
			fprintf(stderr, "case %zu: rc %d: %s\n", i, rc, bad[i]);
		ASSERT_EQ(rc, -EINVAL);
		ASSERT_TRUE(err[0] != '\0');
		otlp_batch_free(b);
	}
}

static void expect_rejected(const char *js, const struct otlp_limits *lim, uint64_t kept,
			    const char *why)
{
	char err[256] = "";
	int rc;
	struct otlp_batch *b = decode_json(js, lim, &rc, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s\n", err);
	ASSERT_OK(rc);
	ASSERT_EQ_U(b->n_spans, kept);
	ASSERT_EQ_U(b->n_rejected, 1);
	if (strstr(b->reject_msg, why) == NULL)
		fprintf(stderr, "reject_msg: %s\n", b->reject_msg);
	ASSERT_TRUE(strstr(b->reject_msg, why) != NULL);
	otlp_batch_free(b);
}

TEST(json_bad_ids_reject_the_span)
{
	const char *cases[][2] = {
		{ "\"traceId\":\"5b8efff798038103d269b633813fc6\",\"spanId\":\"eee19b7ec3c1b174\"",
		  "traceId must be 32 hex digits" },
		{ "\"traceId\":\"5b8efff798038103d269b633813fc60z\",\"spanId\":\"eee19b7ec3c1b174\"",
		  "traceId must be 32 hex digits" },
		{ "\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"eee19b7ec3c1b174\"",
		  "trace_id is all zero" },
		{ "\"spanId\":\"eee19b7ec3c1b174\"", "traceId is missing" },
		{ "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"\"",
		  "spanId is missing" },
		{ "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"0000000000000000\"",
		  "span_id is all zero" },
		{ IDS ",\"parentSpanId\":\"01\"", "parentSpanId must be 16 hex digits" },
		{ IDS ",\"links\":[{\"traceId\":\"01\",\"spanId\":\"0102030405060708\"}]",
		  "link: traceId must be 32 hex digits" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char js[1024];
		snprintf(js, sizeof js, ENVELOPE("{" IDS ",\"name\":\"a\"},{%s},{" IDS "}"),
			 cases[i][0]);
		expect_rejected(js, NULL, 2, cases[i][1]);
		if (TEST_FAILED()) {
			fprintf(stderr, "case %zu\n", i);
			return;
		}
	}
}

TEST(json_limits)
{
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_attrs_per_span = 2;
	expect_rejected(ENVELOPE("{" IDS "},{" IDS ",\"attributes\":[{\"key\":\"a\"},{\"key\":\"b\"},"
				 "{\"key\":\"c\"}]},{" IDS ",\"attributes\":[{\"key\":\"a\"},{\"key\":\"b\"}]}"),
			&lim, 2, "more than 2 attributes");
	if (TEST_FAILED())
		return;
	otlp_limits_default(&lim);
	lim.max_attr_value_bytes = 3;
	expect_rejected(ENVELOPE("{" IDS ",\"attributes\":[{\"key\":\"a\",\"value\":{\"stringValue\":\"abcd\"}}]},{"
				 IDS ",\"attributes\":[{\"key\":\"a\",\"value\":{\"stringValue\":\"abc\"}}]}"),
			&lim, 1, "string value of 4 bytes exceeds the limit of 3");
	if (TEST_FAILED())
		return;
	otlp_limits_default(&lim);
	lim.max_value_depth = 2;
	expect_rejected(ENVELOPE("{" IDS ",\"attributes\":[{\"key\":\"a\",\"value\":{\"arrayValue\":{\"values\":["
				 "{\"arrayValue\":{\"values\":[{\"kvlistValue\":{}}]}}]}}}]},{" IDS "}"),
			&lim, 1, "nesting deeper than the limit of 2");
	if (TEST_FAILED())
		return;
	/* A resource attribute breaking a limit rejects its spans. */
	otlp_limits_default(&lim);
	lim.max_attr_value_bytes = 3;
	{
		int rc;
		struct otlp_batch *b = decode_json(
			"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":"
			"{\"stringValue\":\"long\"}}]},\"scopeSpans\":[{\"spans\":[{" IDS "},{" IDS
			"}]}]},{\"scopeSpans\":[{\"spans\":[{" IDS "}]}]}]}",
			&lim, &rc, NULL, 0);
		ASSERT_OK(rc);
		ASSERT_EQ_U(b->n_spans, 1);
		ASSERT_EQ_U(b->n_rejected, 2);
		ASSERT_EQ(b->n_resource_spans, 1);
		ASSERT_TRUE(strncmp(b->reject_msg, "resource: ", 10) == 0);
		otlp_batch_free(b);
	}
	/* Request size. */
	otlp_limits_default(&lim);
	lim.max_request_bytes = 10;
	int rc;
	struct otlp_batch *b = decode_json("{\"resourceSpans\":[]}", &lim, &rc, NULL, 0);
	ASSERT_EQ(rc, -EMSGSIZE);
	otlp_batch_free(b);
}

TEST(json_deep_nesting_is_refused)
{
	/* 100,000 nested arrays: json-c stops at its depth bound. */
	size_t n = under_valgrind() ? 10000 : 100000;
	char *js = malloc(2 * n + 1);
	memset(js, '[', n);
	memset(js + n, ']', n);
	js[2 * n] = '\0';
	int rc;
	char err[256];
	struct otlp_batch *b = decode_json(js, NULL, &rc, err, sizeof err);
	ASSERT_EQ(rc, -EINVAL);
	ASSERT_TRUE(strstr(err, "depth") != NULL || strstr(err, "nest") != NULL);
	otlp_batch_free(b);
	/* Even with an absurd depth limit (capped at 256). */
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_value_depth = UINT32_MAX;
	b = decode_json(js, &lim, &rc, err, sizeof err);
	ASSERT_EQ(rc, -EINVAL);
	otlp_batch_free(b);
	free(js);
}

TEST(json_truncated_at_every_length)
{
	struct otlp_batch *a = fx_full_batch();
	char *js;
	size_t len;
	ASSERT_OK(otlp_encode_json(a, &js, &len));
	otlp_batch_free(a);
	for (size_t n = 0; n < len; n++) {
		char *cut = malloc(n ? n : 1);
		memcpy(cut, js, n);
		struct otlp_batch *b = otlp_batch_new();
		int rc = otlp_decode_json(b, cut, n, NULL, NULL, 0);
		ASSERT_EQ(rc, -EINVAL); /* every proper prefix of an object */
		otlp_batch_free(b);
		free(cut);
	}
	free(js);
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

TEST(json_mutations_never_crash)
{
	struct otlp_batch *a = fx_full_batch();
	char *js;
	size_t len;
	ASSERT_OK(otlp_encode_json(a, &js, &len));
	otlp_batch_free(a);
	const char alphabet[] = "{}[]\":,0123456789aeE-+.\\ntrufalsNI";
	int rounds = under_valgrind() ? 200 : 5000;
	size_t decoded = 0;
	for (int r = 0; r < rounds; r++) {
		char *m = malloc(len);
		memcpy(m, js, len);
		for (int k = 0; k < 1 + r % 3; k++)
			m[rng() % len] = alphabet[rng() % (sizeof alphabet - 1)];
		struct otlp_batch *b = otlp_batch_new();
		int rc = otlp_decode_json(b, m, len, NULL, NULL, 0);
		ASSERT_TRUE(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			decoded++;
			char *out;
			size_t olen;
			ASSERT_OK(otlp_encode_json(b, &out, &olen));
			struct otlp_batch *c = otlp_batch_new();
			ASSERT_OK(otlp_decode_json(c, out, olen, NULL, NULL, 0));
			ASSERT_EQ_U(c->n_spans, b->n_spans);
			otlp_batch_free(c);
			free(out);
		}
		otlp_batch_free(b);
		free(m);
	}
	ASSERT_GT(decoded, 0);
	free(js);
}

TEST(json_output_escapes_and_stays_valid)
{
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(fx_span(&bd, 1));
	/* Control bytes, quotes, a NUL, invalid UTF-8, a 4-byte sequence. */
	bd.sp->name = otlp_batch_strdup(bd.batch, "a\"b\\c\x01\x00\xff\xf0\x9f\x98\x80", 12);
	struct otlp_batch *b = otlp_builder_take(&bd);
	ASSERT(b != NULL);
	char *out;
	size_t len;
	ASSERT_OK(otlp_encode_json(b, &out, &len));
	ASSERT_TRUE(strstr(out, "\"name\":\"a\\\"b\\\\c\\u0001\\u0000\\ufffd\xf0\x9f\x98\x80\"") !=
		    NULL);
	struct otlp_batch *c = otlp_batch_new();
	ASSERT_OK(otlp_decode_json(c, out, len, NULL, NULL, 0));
	const struct otlp_span *t = c->resource_spans->scope_spans->spans;
	/* The decoder turns the NUL into U+FFFD too (3 bytes each). */
	ASSERT_EQ(t->name.len, 16);
	ASSERT_MEM_EQ(t->name.ptr, "a\"b\\c\x01\xef\xbf\xbd\xef\xbf\xbd\xf0\x9f\x98\x80", 16);
	ASSERT_EQ_U(c->n_replaced, 1);
	free(out);
	otlp_batch_free(b);
	otlp_batch_free(c);
}

TEST(json_response)
{
	struct otlp_response r = { 0 };
	char *out;
	size_t len;
	ASSERT_OK(otlp_encode_response_json(&r, &out, &len));
	ASSERT_STR_EQ(out, "{}");
	free(out);
	r.rejected_spans = 2;
	snprintf(r.error_message, sizeof r.error_message, "span 0: \"bad\"");
	ASSERT_OK(otlp_encode_response_json(&r, &out, &len));
	ASSERT_STR_EQ(out, "{\"partialSuccess\":{\"rejectedSpans\":\"2\",\"errorMessage\":"
			   "\"span 0: \\\"bad\\\"\"}}");
	ASSERT_EQ_U(len, strlen(out));
	free(out);
}


/* ---- issue 15: hostile shapes ---- */

/* Three spans; the middle one (named "b") with n copies of elem in its
 * list key ("events" or "links"). malloc'ed. */
static char *json_flood(const char *key, const char *elem, size_t n)
{
	size_t el = strlen(elem);
	size_t cap = 1024 + n * (el + 1);
	char *js = malloc(cap);
	if (js == NULL)
		abort();
	int o = snprintf(js, cap, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
			 "{" IDS ",\"name\":\"a\"},{" IDS ",\"name\":\"b\",\"%s\":[", key);
	size_t w = (size_t)o;
	for (size_t i = 0; i < n; i++) {
		if (i)
			js[w++] = ',';
		memcpy(js + w, elem, el);
		w += el;
	}
	snprintf(js + w, cap - w, "]},{" IDS ",\"name\":\"c\"}]}]}]}");
	return js;
}

/* Finding 1: a million empty events are refused by counting, before
 * json-c builds a tree of them (800 MB), as poison (-EMSGSIZE). */
TEST(json_event_flood_refused_before_parsing)
{
	size_t n = 1000000;
	char *js = json_flood("events", "{}", n);
	size_t cost = otlp_json_parse_cost(js, strlen(js));
	ASSERT_GE_U(cost, 800 * n);
	struct otlp_batch *b = otlp_batch_new();
	char err[256] = "";
	ASSERT_EQ(otlp_decode_json(b, js, strlen(js), NULL, err, sizeof err), -EMSGSIZE);
	ASSERT_TRUE(strstr(err, "over the limit of 268435456") != NULL);
	ASSERT_EQ_U(b->n_spans, 0);
	otlp_batch_free(b);
	free(js);
}

/* Under the budget, a span over the event or link limit is rejected and
 * its neighbours kept. */
TEST(json_events_and_links_per_span)
{
	char *js = json_flood("events", "{\"name\":\"e\"}", 1025);
	expect_rejected(js, NULL, 2, "more than 1024 events");
	free(js);
	if (TEST_FAILED())
		return;
	js = json_flood("links", "{\"traceId\":\"5B8EFFF798038103D269B633813FC60C\","
				 "\"spanId\":\"EEE19B7EC3C1B174\"}", 1025);
	expect_rejected(js, NULL, 2, "more than 1024 links");
	free(js);
	if (TEST_FAILED())
		return;
	js = json_flood("events", "{\"name\":\"e\"}", 1024);
	int rc;
	struct otlp_batch *b = decode_json(js, NULL, &rc, NULL, 0);
	ASSERT_OK(rc);
	ASSERT_EQ_U(b->n_spans, 3);
	ASSERT_EQ_U(b->resource_spans->scope_spans->spans->next->events.n, 1024);
	otlp_batch_free(b);
	free(js);
}

/* The count is lexical: strings (with escapes, brackets inside) are one
 * value each. */
TEST(json_parse_cost_counts_tokens)
{
	const char *js = "{\"a\":[{},{\"k\":\"x[{\\\"\"}, 12, true]}";
	/* 3 objects, 1 array, 4 strings ("a" "k" "x.." and none else),
	 * 2 words (12, true) */
	ASSERT_EQ_U(otlp_json_parse_cost(js, strlen(js)),
		    strlen(js) + 3 * 800 + 160 + (3 + 2) * 112);
	ASSERT_EQ_U(otlp_json_parse_cost("", 0), 0);
}

/* Finding 9 in JSON: raw invalid bytes and \u0000 come out as U+FFFD,
 * keys kept whole. */
TEST(json_invalid_utf8_and_nul)
{
	const char *js = ENVELOPE("{" IDS ",\"name\":\"a\xff\\u0000z\","
				  "\"attributes\":[{\"key\":\"k\\u0000ey\","
				  "\"value\":{\"stringValue\":\"\xed\xa0\x80\"}}]}");
	int rc;
	char err[256] = "";
	struct otlp_batch *b = decode_json(js, NULL, &rc, err, sizeof err);
	if (rc)
		fprintf(stderr, "%s\n", err);
	ASSERT_OK(rc);
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	ASSERT_EQ_U(s->name.len, 8);
	ASSERT_MEM_EQ(s->name.ptr, "a\xef\xbf\xbd\xef\xbf\xbdz", 8);
	ASSERT_EQ_U(s->attrs.head->key.len, 6);
	ASSERT_MEM_EQ(s->attrs.head->key.ptr, "k\xef\xbf\xbd" "ey", 6);
	ASSERT_EQ_U(s->attrs.head->value.u.str.len, 9);
	ASSERT_EQ_U(b->n_replaced, 6);
	otlp_batch_free(b);
}

/* Finding 11 in JSON: long names are cut, the span kept. */
TEST(json_long_name_is_cut)
{
	size_t n = 5000;
	char *js = malloc(n + 512);
	ASSERT(js != NULL);
	int o = snprintf(js, 512, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{" IDS
			 ",\"name\":\"");
	memset(js + o, 'n', n);
	snprintf(js + o + n, 512, "\"}]}]}]}");
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_name_bytes = 100;
	int rc;
	struct otlp_batch *b = decode_json(js, &lim, &rc, NULL, 0);
	free(js);
	ASSERT_OK(rc);
	ASSERT_EQ_U(b->n_spans, 1);
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	ASSERT_EQ_U(s->name.len, 100);
	ASSERT_MEM_EQ(s->name.ptr + 96, "n\xe2\x80\xa6", 4);
	ASSERT_EQ_U(b->n_truncated, 1);
	otlp_batch_free(b);
}

TEST_MAIN(TEST_ENTRY(json_roundtrip_every_field), TEST_ENTRY(json_proto_equivalence),
	  TEST_ENTRY(json_input_forms), TEST_ENTRY(json_invalid_input_is_an_error),
	  TEST_ENTRY(json_bad_ids_reject_the_span), TEST_ENTRY(json_limits),
	  TEST_ENTRY(json_deep_nesting_is_refused), TEST_ENTRY(json_truncated_at_every_length),
	  TEST_ENTRY(json_mutations_never_crash), TEST_ENTRY(json_output_escapes_and_stays_valid),
	  TEST_ENTRY(json_response), TEST_ENTRY(json_event_flood_refused_before_parsing),
	  TEST_ENTRY(json_events_and_links_per_span), TEST_ENTRY(json_parse_cost_counts_tokens),
	  TEST_ENTRY(json_invalid_utf8_and_nul), TEST_ENTRY(json_long_name_is_cut))
