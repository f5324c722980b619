/*
 * test_proto.c: otlp_decode_proto / otlp_encode_proto / responses, the
 * arena and the helpers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixture.h"
#include "otlp.h"
#include "util/hash.h"
#include "util/hex.h"

/* proto/src/internal.h: the plain nanopb encoder, exported for this
 * comparison and for bench/codec. */
int otlp__encode_proto_nanopb(const struct otlp_batch *b, uint8_t **out, size_t *out_len);

/* Under valgrind (about 30x slower) the biggest loops run smaller, so
 * the suite stays within a couple of minutes; the plain and ASan runs do
 * the full sizes. */
static bool under_valgrind(void)
{
	const char *v = getenv("TERN_UNDER_VALGRIND");
	return v != NULL && strcmp(v, "1") == 0;
}

/* Encodes b; returns the malloc'ed bytes (test fails on error). */
static uint8_t *encode(const struct otlp_batch *b, size_t *len)
{
	uint8_t *out = NULL;
	if (otlp_encode_proto(b, &out, len) != 0)
		return NULL;
	return out;
}

TEST(arena_alignment_zero_and_mem)
{
	struct otlp_batch *b = otlp_batch_new();
	ASSERT((b) != NULL);
	size_t m0 = otlp_batch_mem(b);
	for (int i = 1; i < 5000; i++) {
		unsigned char *p = otlp_batch_alloc(b, (size_t)(i % 97) + 1);
		ASSERT((p) != NULL);
		ASSERT_EQ((uintptr_t)p % _Alignof(max_align_t), 0);
		for (int k = 0; k < i % 97 + 1; k++)
			ASSERT_EQ(p[k], 0);
		memset(p, 0xee, (size_t)(i % 97) + 1);
	}
	/* A big allocation gets its own chunk and is zeroed too. */
	unsigned char *big = otlp_batch_alloc(b, 3 << 20);
	ASSERT((big) != NULL);
	ASSERT_EQ(big[0] | big[(3 << 20) - 1], 0);
	ASSERT_GE_U(otlp_batch_mem(b), m0 + (3u << 20));
	struct otlp_bytes s = otlp_batch_strdup(b, "abc", 3);
	ASSERT_MEM_STR(s.ptr, s.len, "abc");
	s = otlp_batch_strdup(b, "", 0);
	ASSERT((s.ptr) == NULL);
	void *ext = malloc(100);
	size_t m1 = otlp_batch_mem(b);
	ASSERT_OK(otlp_batch_attach_sized(b, ext, 100, free));
	ASSERT_EQ_U(otlp_batch_mem(b), m1 + 100 + 0 * 0);
	ASSERT_OK(otlp_batch_attach(b, malloc(10), free));
	otlp_batch_free(b); /* valgrind: the attached buffers are freed */
	otlp_batch_free(NULL);
}

TEST(arena_edge_sizes)
{
	struct otlp_batch *b = otlp_batch_new();
	ASSERT(otlp_batch_alloc(b, 0) != NULL);
	ASSERT(otlp_batch_alloc(b, SIZE_MAX) == NULL);
	ASSERT(otlp_batch_alloc(b, SIZE_MAX - 8) == NULL);
	ASSERT(otlp_batch_alloc(b, 16) != NULL); /* still usable */
	otlp_batch_free(b);
}

TEST(hex_helpers)
{
	uint8_t id[4] = { 0x00, 0xab, 0x7f, 0xff }, back[4];
	char hex[9];
	util_hex_encode(hex, id, 4);
	ASSERT_STR_EQ(hex, "00ab7fff");
	ASSERT_OK(util_hex_decode(back, 4, "00AB7fFf", 8));
	ASSERT_MEM_EQ(back, id, 4);
	ASSERT_EQ(util_hex_decode(back, 4, "00ab7ff", 7), -EINVAL);
	ASSERT_EQ(util_hex_decode(back, 4, "00ab7ffg", 8), -EINVAL);
	ASSERT_EQ(util_hex_decode(back, 4, "00ab7fff00", 10), -EINVAL);
}

TEST(attrs_find)
{
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(otlp_build_resource(&bd, NULL));
	ASSERT_OK(otlp_build_int(&bd, OTLP_TO_RESOURCE, "n", 1));
	ASSERT_OK(otlp_build_str(&bd, OTLP_TO_RESOURCE, "service.name", "svc"));
	struct otlp_batch *b = otlp_builder_take(&bd);
	ASSERT(b != NULL);
	const struct otlp_attrs a = b->resource_spans->resource_attrs;
	const struct otlp_any *v = otlp_attrs_find(&a, "service.name");
	ASSERT((v) != NULL);
	ASSERT_MEM_STR(v->u.str.ptr, v->u.str.len, "svc");
	ASSERT((otlp_attrs_find(&a, "n")) == NULL);       /* not a string */
	ASSERT((otlp_attrs_find(&a, "missing")) == NULL);
	ASSERT((otlp_attrs_find(&a, "service.nam")) == NULL);
	otlp_batch_free(b);
}

TEST(roundtrip_every_field)
{
	struct otlp_batch *a = fx_full_batch();
	size_t len = 0;
	uint8_t *buf = encode(a, &len);
	ASSERT((buf) != NULL);
	ASSERT_EQ_U(len, otlp_encoded_size(a));

	struct otlp_batch *b = otlp_batch_new();
	char err[256] = "";
	int rc = otlp_decode_proto(b, buf, len, NULL, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "decode: %s\n", err);
	ASSERT_OK(rc);
	ASSERT_EQ_U(b->n_rejected, 0);
	ASSERT_STR_EQ(b->reject_msg, "");
	char why[256] = "";
	bool eq = fx_batch_eq(a, b, why, sizeof why);
	if (!eq)
		fprintf(stderr, "model differs: %s\n", why);
	ASSERT_TRUE(eq);

	/* proto -> model -> proto is byte-identical for canonical input. */
	size_t len2 = 0;
	uint8_t *buf2 = encode(b, &len2);
	ASSERT((buf2) != NULL);
	ASSERT_EQ_U(len2, len);
	ASSERT_MEM_EQ(buf2, buf, len);
	free(buf2);
	otlp_batch_free(b);
	otlp_batch_free(a);
	free(buf);
}

TEST(zero_copy_points_into_input)
{
	struct otlp_batch *a = fx_full_batch();
	size_t len;
	uint8_t *buf = encode(a, &len);
	otlp_batch_free(a);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, NULL, 0));
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	const uint8_t *end = buf + len;
	ASSERT_TRUE(s->name.ptr >= buf && s->name.ptr + s->name.len <= end);
	ASSERT_TRUE(s->attrs.head->key.ptr >= buf && s->attrs.head->key.ptr < end);
	ASSERT_TRUE(s->attrs.head->value.u.str.ptr >= buf &&
		    s->attrs.head->value.u.str.ptr < end);
	ASSERT_TRUE(s->status.message.ptr >= buf && s->status.message.ptr < end);
	ASSERT_TRUE(b->resource_spans->schema_url.ptr >= buf);
	/* Attached, the input lives as long as the batch (valgrind checks). */
	ASSERT_OK(otlp_batch_attach_sized(b, buf, len, free));
	ASSERT_GE_U(otlp_batch_mem(b), len);
	otlp_batch_free(b);
}

TEST(decode_appends_to_batch)
{
	struct otlp_batch *a = fx_full_batch();
	size_t len;
	uint8_t *buf = encode(a, &len);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, NULL, 0));
	ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, NULL, 0));
	ASSERT_EQ_U(b->n_spans, 2 * a->n_spans);
	ASSERT_EQ(b->n_resource_spans, 2 * a->n_resource_spans);
	size_t len2 = 0;
	uint8_t *buf2 = encode(b, &len2);
	ASSERT_EQ_U(len2, 2 * len);
	ASSERT_MEM_EQ(buf2, buf, len);
	ASSERT_MEM_EQ(buf2 + len, buf, len);
	free(buf2);
	free(buf);
	otlp_batch_free(a);
	otlp_batch_free(b);
}

TEST(empty_request)
{
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, NULL, 0, NULL, NULL, 0));
	ASSERT_EQ_U(b->n_spans, 0);
	uint8_t *out = NULL;
	size_t len = 99;
	ASSERT_OK(otlp_encode_proto(b, &out, &len));
	ASSERT_EQ_U(len, 0);
	free(out);
	otlp_batch_free(b);
}

/* Appends span i of a bulk request: the fixture's span, two attributes. */
static void bulk_span(struct otlp_builder *bd, uint64_t i)
{
	fx_span(bd, i);
	otlp_build_str(bd, OTLP_TO_SPAN, "http.route", "/items/{id}");
	otlp_build_int(bd, OTLP_TO_SPAN, "i", (int64_t)i);
}

/* Starts a bulk request of service "bulk" with spans 0 .. n-1. */
static void bulk_start(struct otlp_builder *bd, uint64_t n)
{
	ASSERT_OK(otlp_builder_init(bd));
	otlp_build_resource(bd, "bulk");
	otlp_build_scope(bd, NULL, NULL);
	for (uint64_t i = 0; i < n; i++)
		bulk_span(bd, i);
}

/* A request of n spans, each with a few attributes. */
static struct otlp_batch *many_spans(uint64_t n)
{
	struct otlp_builder bd;
	bulk_start(&bd, n);
	struct otlp_batch *b = otlp_builder_take(&bd);
	if (b == NULL)
		abort(); /* out of memory: nothing to test */
	return b;
}

/* Ends a three-span request begun with bulk_start(bd, 2) (the caller has
 * added to span 1) and encodes it. */
static uint8_t *bulk_end3(struct otlp_builder *bd, size_t *len)
{
	bulk_span(bd, 2);
	struct otlp_batch *a = otlp_builder_take(bd);
	if (a == NULL)
		abort(); /* a builder call failed: the request is not the one wanted */
	uint8_t *buf = encode(a, len);
	otlp_batch_free(a);
	return buf;
}

TEST(hundred_thousand_spans)
{
	uint64_t n = under_valgrind() ? 20000 : 100000;
	struct otlp_batch *a = many_spans(n);
	size_t len;
	uint8_t *buf = encode(a, &len);
	ASSERT((buf) != NULL);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, NULL, 0));
	ASSERT_EQ_U(b->n_spans, n);
	ASSERT_EQ_U(b->resource_spans->scope_spans->n_spans, n);
	char why[256];
	ASSERT_TRUE(fx_batch_eq(a, b, why, sizeof why));
	/* The last span is the last one sent. */
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	while (s->next)
		s = s->next;
	ASSERT_EQ(s->attrs.head->next->value.u.i, (int64_t)(n - 1));
	free(buf);
	otlp_batch_free(a);
	otlp_batch_free(b);
}

/* Three spans; the middle one carries a string attribute of vlen bytes. */
static uint8_t *three_spans_big_value(size_t vlen, size_t *len)
{
	struct otlp_builder bd;
	bulk_start(&bd, 2);
	char *v = malloc(vlen + 1);
	memset(v, 'x', vlen);
	v[vlen] = '\0';
	otlp_build_str(&bd, OTLP_TO_SPAN, "big", v);
	free(v);
	return bulk_end3(&bd, len);
}

TEST(one_mib_attribute_value)
{
	size_t len;
	uint8_t *buf = three_spans_big_value(1 << 20, &len);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, NULL, 0));
	ASSERT_EQ_U(b->n_spans, 3);
	ASSERT_EQ_U(b->n_rejected, 0);
	otlp_batch_free(b);

	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_attr_value_bytes = (1 << 20) - 1;
	b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, &lim, NULL, 0));
	ASSERT_EQ_U(b->n_spans, 2);
	ASSERT_EQ_U(b->n_rejected, 1);
	ASSERT_TRUE(strstr(b->reject_msg, "span 1:") == b->reject_msg);
	ASSERT_TRUE(strstr(b->reject_msg, "1048576 bytes") != NULL);
	/* The neighbours are spans 0 and 2. */
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	ASSERT_EQ(s->attrs.head->next->value.u.i, 0);
	ASSERT_EQ(s->next->attrs.head->next->value.u.i, 2);
	ASSERT((s->next->next) == NULL);
	otlp_batch_free(b);
	free(buf);
}

/* Decodes buf with lim; expects exactly span `bad` of 3 to be rejected. */
static void expect_middle_rejected(const uint8_t *buf, size_t len, const struct otlp_limits *lim,
				   const char *why)
{
	struct otlp_batch *b = otlp_batch_new();
	char err[256] = "";
	int rc = otlp_decode_proto(b, buf, len, lim, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "decode: %s\n", err);
	ASSERT_OK(rc);
	ASSERT_EQ_U(b->n_spans, 2);
	ASSERT_EQ_U(b->n_rejected, 1);
	if (strstr(b->reject_msg, why) == NULL)
		fprintf(stderr, "reject_msg: %s\n", b->reject_msg);
	ASSERT_TRUE(strstr(b->reject_msg, why) != NULL);
	ASSERT_TRUE(strncmp(b->reject_msg, "span 1: ", 8) == 0);
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	ASSERT_EQ(s->attrs.head->next->value.u.i, 0);
	ASSERT_EQ(s->next->attrs.head->next->value.u.i, 2);
	otlp_batch_free(b);
}

TEST(limit_attrs_per_span)
{
	struct otlp_builder bd;
	bulk_start(&bd, 2);
	for (int i = 0; i < 5; i++)
		otlp_build_int(&bd, OTLP_TO_SPAN, "extra", i); /* 7 in all */
	size_t len;
	uint8_t *buf = bulk_end3(&bd, &len);
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_attrs_per_span = 6;
	expect_middle_rejected(buf, len, &lim, "more than 6 attributes");
	if (TEST_FAILED())
		goto out;
	lim.max_attrs_per_span = 7;
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, &lim, NULL, 0));
	ASSERT_EQ_U(b->n_rejected, 0);
	otlp_batch_free(b);
out:
	free(buf);
}

/* Nests an array `depth` levels deep in the middle span. */
static uint8_t *nested(unsigned depth, bool kvlist, size_t *len)
{
	struct otlp_builder bd;
	bulk_start(&bd, 2);
	struct otlp_any *v = otlp_build_attr(&bd, OTLP_TO_SPAN, "deep", 4);
	for (unsigned i = 0; i < depth && v != NULL; i++)
		v = kvlist ? otlp_build_entry(&bd, v, "k", 1) : otlp_build_item(&bd, v);
	if (v == NULL)
		abort();
	v->type = OTLP_VALUE_INT;
	v->u.i = 42;
	return bulk_end3(&bd, len);
}

TEST(limit_value_depth)
{
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	for (int kv = 0; kv < 2; kv++) {
		size_t len;
		uint8_t *buf = nested(16, kv, &len);
		struct otlp_batch *b = otlp_batch_new();
		ASSERT_OK(otlp_decode_proto(b, buf, len, &lim, NULL, 0));
		ASSERT_EQ_U(b->n_rejected, 0); /* 16 is allowed */
		otlp_batch_free(b);
		free(buf);
		buf = nested(17, kv, &len);
		expect_middle_rejected(buf, len, &lim, "nesting deeper than the limit of 16");
		free(buf);
		if (TEST_FAILED())
			return;
	}
}

TEST(deep_nesting_does_not_recurse)
{
	/* 100,000 nested arrays by hand: 0x2a 0x?? (array_value) inside an
	 * AnyValue... Build from the inside out: AnyValue{array_value:
	 * ArrayValue{values: AnyValue{...}}}. */
	size_t depth = under_valgrind() ? 5000 : 100000;
	size_t cap = depth * 16 + 256;
	uint8_t *tmp = malloc(cap), *buf = malloc(cap);
	size_t n = 0; /* tmp holds the current AnyValue encoding at the end */
	uint8_t *end = tmp + cap, *p = end;
	for (size_t i = 0; i < depth; i++) {
		size_t inner = n;
		/* ArrayValue.values (field 1) = inner AnyValue */
		uint8_t hdr[12];
		size_t h = 0;
		hdr[h++] = 0x0a;
		size_t x = inner;
		do {
			hdr[h++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
			x >>= 7;
		} while (x);
		p -= h;
		memcpy(p, hdr, h);
		n += h;
		/* AnyValue.array_value (field 5) = ArrayValue */
		h = 0;
		hdr[h++] = 0x2a;
		x = n;
		do {
			hdr[h++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
			x >>= 7;
		} while (x);
		p -= h;
		memcpy(p, hdr, h);
		n += h;
	}
	/* Wrap: KeyValue{key:"k", value} in Span{ids, attributes} in
	 * ScopeSpans in ResourceSpans in the request. */
	struct otlp_batch *a = many_spans(1);
	uint8_t *pre;
	size_t prelen;
	pre = encode(a, &prelen);
	otlp_batch_free(a);
	/* Simpler: append a second ResourceSpans by hand. */
	size_t o = 0;
	memcpy(buf, pre, prelen);
	o = prelen;
	free(pre);
	/* Sizes from the inside out. */
	size_t kv_len = 3 + 1 + (n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4) + n;
	uint8_t ids[] = { 0x0a, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
			  0x12, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
#define PUT_VARINT(v)                                                      \
	do {                                                               \
		size_t v_ = (v);                                           \
		do {                                                       \
			buf[o++] = (uint8_t)((v_ & 0x7f) | (v_ > 0x7f ? 0x80 : 0)); \
			v_ >>= 7;                                          \
		} while (v_);                                              \
	} while (0)
	size_t vs = kv_len < 128 ? 1 : kv_len < 16384 ? 2 : kv_len < 2097152 ? 3 : 4;
	size_t span_len = sizeof ids + 1 + vs + kv_len;
	size_t vsp = span_len < 128 ? 1 : span_len < 16384 ? 2 : span_len < 2097152 ? 3 : 4;
	size_t ss_len = 1 + vsp + span_len;
	size_t vss = ss_len < 128 ? 1 : ss_len < 16384 ? 2 : ss_len < 2097152 ? 3 : 4;
	size_t rs_len = 1 + vss + ss_len;
	buf[o++] = 0x0a;
	PUT_VARINT(rs_len);
	buf[o++] = 0x12; /* scope_spans */
	PUT_VARINT(ss_len);
	buf[o++] = 0x12; /* spans */
	PUT_VARINT(span_len);
	memcpy(buf + o, ids, sizeof ids);
	o += sizeof ids;
	buf[o++] = 0x4a; /* attributes */
	PUT_VARINT(kv_len);
	buf[o++] = 0x0a;
	buf[o++] = 1;
	buf[o++] = 'k';
	buf[o++] = 0x12; /* value */
	PUT_VARINT(n);
	memcpy(buf + o, p, n);
	o += n;
	free(tmp);

	struct otlp_batch *b = otlp_batch_new();
	char err[256] = "";
	int rc = otlp_decode_proto(b, buf, o, NULL, err, sizeof err);
	if (rc != 0)
		fprintf(stderr, "decode: %s\n", err);
	ASSERT_OK(rc);
	ASSERT_EQ_U(b->n_spans, 1);
	ASSERT_EQ_U(b->n_rejected, 1);
	ASSERT_TRUE(strstr(b->reject_msg, "nesting") != NULL);
	otlp_batch_free(b);
	/* A limit set absurdly high is capped (256), not trusted. */
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_value_depth = UINT32_MAX;
	b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, o, &lim, err, sizeof err));
	ASSERT_EQ_U(b->n_rejected, 1);
	ASSERT_TRUE(strstr(b->reject_msg, "limit of 256") != NULL);
	otlp_batch_free(b);
	free(buf);
}

TEST(request_size_limit)
{
	struct otlp_batch *a = many_spans(10);
	size_t len;
	uint8_t *buf = encode(a, &len);
	otlp_batch_free(a);
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_request_bytes = len - 1;
	struct otlp_batch *b = otlp_batch_new();
	char err[128];
	ASSERT_EQ(otlp_decode_proto(b, buf, len, &lim, err, sizeof err), -EMSGSIZE);
	ASSERT_TRUE(strstr(err, "exceeds") != NULL);
	otlp_batch_free(b);
	lim.max_request_bytes = len;
	b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, &lim, err, sizeof err));
	otlp_batch_free(b);
	free(buf);
}

/* A tiny protobuf writer, independent of the codec, for hand-made input. */
struct wb {
	uint8_t b[1024];
	size_t n;
};

static void wb_varint(struct wb *w, uint64_t v)
{
	do {
		w->b[w->n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
}

static void wb_bytes(struct wb *w, unsigned field, const void *p, size_t len)
{
	wb_varint(w, field << 3 | 2);
	wb_varint(w, len);
	memcpy(w->b + w->n, p, len);
	w->n += len;
}

/* A span like many_spans() makes, with ids of the given lengths
 * (parent_len < 0: no parent field) and fill byte. */
static void wb_span(struct wb *out, size_t tid_len, size_t sid_len, int parent_len,
		    uint8_t fill, int64_t i)
{
	struct wb s = { .n = 0 }, kv = { .n = 0 }, any = { .n = 0 };
	uint8_t id[32];
	memset(id, fill, sizeof id);
	wb_bytes(&s, 1, id, tid_len);
	wb_bytes(&s, 2, id, sid_len);
	if (parent_len >= 0)
		wb_bytes(&s, 4, id, (size_t)parent_len);
	wb_bytes(&any, 1, "/items/{id}", 11);
	wb_bytes(&kv, 1, "http.route", 10);
	wb_bytes(&kv, 2, any.b, any.n);
	wb_bytes(&s, 9, kv.b, kv.n);
	kv.n = any.n = 0;
	any.b[any.n++] = 0x18; /* int_value */
	wb_varint(&any, (uint64_t)i);
	wb_bytes(&kv, 1, "i", 1);
	wb_bytes(&kv, 2, any.b, any.n);
	wb_bytes(&s, 9, kv.b, kv.n);
	wb_bytes(out, 2, s.b, s.n);
}

TEST(invalid_ids_reject_one_span)
{
	struct {
		size_t tid, sid;
		int parent;
		uint8_t fill;
		const char *why;
	} cases[] = {
		{ 15, 8, -1, 1, "trace_id must be 16 bytes, got 15" },
		{ 17, 8, -1, 1, "trace_id must be 16 bytes, got 17" },
		{ 0, 8, -1, 1, "trace_id must be 16 bytes, got 0" },
		{ 16, 8, -1, 0, "trace_id is all zero" },
		{ 16, 7, -1, 1, "span_id must be 8 bytes, got 7" },
		{ 16, 0, -1, 1, "span_id must be 8 bytes, got 0" },
		{ 16, 9, -1, 1, "span_id must be 8 bytes, got 9" },
		{ 16, 8, 4, 1, "parent_span_id must be empty or 8 bytes, got 4" },
		{ 16, 8, 16, 1, "parent_span_id must be empty or 8 bytes, got 16" },
	};
	for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		struct wb ss = { .n = 0 }, rs = { .n = 0 }, req = { .n = 0 };
		wb_span(&ss, 16, 8, -1, 0x5a, 0);
		wb_span(&ss, cases[c].tid, cases[c].sid, cases[c].parent, cases[c].fill, 1);
		wb_span(&ss, 16, 8, 8, 0x5b, 2);
		wb_bytes(&rs, 2, ss.b, ss.n);
		wb_bytes(&req, 1, rs.b, rs.n);
		expect_middle_rejected(req.b, req.n, NULL, cases[c].why);
		if (TEST_FAILED()) {
			fprintf(stderr, "case %zu\n", c);
			return;
		}
	}
	/* An empty parent_span_id is a root span, and valid. */
	struct wb ss = { .n = 0 }, rs = { .n = 0 }, req = { .n = 0 };
	wb_span(&ss, 16, 8, 0, 0x5a, 0);
	wb_bytes(&rs, 2, ss.b, ss.n);
	wb_bytes(&req, 1, rs.b, rs.n);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, req.b, req.n, NULL, NULL, 0));
	ASSERT_EQ_U(b->n_spans, 1);
	ASSERT_FALSE(b->resource_spans->scope_spans->spans->has_parent);
	otlp_batch_free(b);
}

TEST(truncated_at_every_length)
{
	struct otlp_batch *a = fx_full_batch();
	size_t len;
	uint8_t *buf = encode(a, &len);
	otlp_batch_free(a);
	size_t ok = 0, bad = 0;
	for (size_t n = 0; n < len; n++) {
		/* An exact-size copy so valgrind/ASan catch over-reads. */
		uint8_t *cut = malloc(n ? n : 1);
		memcpy(cut, buf, n);
		struct otlp_batch *b = otlp_batch_new();
		char err[256];
		int rc = otlp_decode_proto(b, cut, n, NULL, err, sizeof err);
		ASSERT_TRUE(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			ok++;
			/* A valid prefix re-encodes and decodes again. */
			uint8_t *re;
			size_t relen;
			ASSERT_OK(otlp_encode_proto(b, &re, &relen));
			struct otlp_batch *c = otlp_batch_new();
			ASSERT_OK(otlp_decode_proto(c, re, relen, NULL, NULL, 0));
			ASSERT_EQ_U(c->n_spans, b->n_spans);
			otlp_batch_free(c);
			free(re);
		} else {
			bad++;
			ASSERT_TRUE(strstr(err, "invalid protobuf request") != NULL);
		}
		otlp_batch_free(b);
		free(cut);
	}
	ASSERT_GT(bad, len / 2); /* most prefixes cut a length-delimited field */
	ASSERT_GE_U(ok, 1);      /* the empty prefix is a valid empty request */
	free(buf);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	return util_splitmix64(&rng_state);
}

TEST(random_garbage_and_bitflips)
{
	struct otlp_batch *a = fx_full_batch();
	size_t len;
	uint8_t *valid = encode(a, &len);
	otlp_batch_free(a);
	int rounds = under_valgrind() ? 300 : 5000;
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_value_depth = 4;
	for (int r = 0; r < rounds; r++) {
		size_t n;
		uint8_t *buf;
		if (r % 2 == 0) {
			n = rng() % 512;
			buf = malloc(n ? n : 1);
			for (size_t i = 0; i < n; i++)
				buf[i] = (uint8_t)rng();
		} else {
			n = len;
			buf = malloc(n);
			memcpy(buf, valid, n);
			for (int k = 0; k < 1 + r % 4; k++)
				buf[rng() % n] ^= (uint8_t)(1u << (rng() % 8));
		}
		struct otlp_batch *b = otlp_batch_new();
		int rc = otlp_decode_proto(b, buf, n, &lim, NULL, 0);
		ASSERT_TRUE(rc == 0 || rc == -EINVAL);
		if (rc == 0) {
			uint8_t *re;
			size_t relen;
			ASSERT_OK(otlp_encode_proto(b, &re, &relen));
			struct otlp_batch *c = otlp_batch_new();
			ASSERT_OK(otlp_decode_proto(c, re, relen, &lim, NULL, 0));
			ASSERT_EQ_U(c->n_spans, b->n_spans);
			ASSERT_EQ_U(c->n_rejected, 0);
			otlp_batch_free(c);
			free(re);
		}
		otlp_batch_free(b);
		free(buf);
	}
	free(valid);
}

TEST(wrong_wire_type_is_an_error)
{
	/* ResourceSpans{ scope_spans{ spans{ name as a varint } } }:
	 * field 5 with wire type 0. */
	const uint8_t bad[] = { 0x0a, 0x06, 0x12, 0x04, 0x12, 0x02, 0x28, 0x01 };
	struct otlp_batch *b = otlp_batch_new();
	char err[256];
	ASSERT_EQ(otlp_decode_proto(b, bad, sizeof bad, NULL, err, sizeof err), -EINVAL);
	ASSERT_TRUE(strstr(err, "wire type") != NULL);
	otlp_batch_free(b);
	/* A message field (scope_spans) as a varint. */
	const uint8_t bad2[] = { 0x0a, 0x02, 0x10, 0x01 };
	b = otlp_batch_new();
	ASSERT_EQ(otlp_decode_proto(b, bad2, sizeof bad2, NULL, err, sizeof err), -EINVAL);
	otlp_batch_free(b);
}

TEST(unknown_fields_are_skipped)
{
	/* Request with an unknown field 9 (varint) and a ResourceSpans with
	 * an unknown field 1000 (the retired one), then a valid span. */
	struct otlp_batch *a = many_spans(1);
	size_t len;
	uint8_t *buf = encode(a, &len);
	uint8_t *nb = malloc(len + 8);
	nb[0] = 0x48; /* field 9, varint */
	nb[1] = 0x05;
	memcpy(nb + 2, buf, len);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, nb, len + 2, NULL, NULL, 0));
	char why[128];
	ASSERT_TRUE(fx_batch_eq(a, b, why, sizeof why));
	otlp_batch_free(b);
	otlp_batch_free(a);
	free(nb);
	free(buf);
}

/* The hand-written writer and nanopb's own encoder agree byte for byte. */
static void same_as_nanopb(const struct otlp_batch *b)
{
	uint8_t *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;
	ASSERT_OK(otlp_encode_proto(b, &x, &xl));
	ASSERT_OK(otlp__encode_proto_nanopb(b, &y, &yl));
	ASSERT_EQ_U(xl, yl);
	ASSERT_MEM_EQ(x, y, xl);
	free(x);
	free(y);
}

TEST(writer_matches_nanopb_encoder)
{
	struct otlp_batch *a = fx_full_batch();
	same_as_nanopb(a);
	otlp_batch_free(a);
	if (TEST_FAILED())
		return;
	a = many_spans(1000);
	same_as_nanopb(a);
	otlp_batch_free(a);
	if (TEST_FAILED())
		return;
	/* Odd values: unknown and negative enums, huge ints, nesting, long
	 * strings. */
	struct otlp_builder bd;
	bulk_start(&bd, 1);
	char big[301];
	memset(big, 'q', 300);
	big[300] = '\0';
	uint8_t tid[16], sid[8];
	fx_ids(1, tid, sid);
	ASSERT_OK(otlp_build_span(&bd, tid, sid, NULL, big, (enum otlp_span_kind)-3, 1, 2));
	ASSERT_OK(otlp_build_status(&bd, (enum otlp_status_code)7, NULL));
	ASSERT_OK(otlp_build_int(&bd, OTLP_TO_SPAN, "min", INT64_MIN));
	struct otlp_any *v = otlp_build_attr(&bd, OTLP_TO_SPAN, "deep", 4);
	for (int i = 0; i < 10 && v != NULL; i++) {
		if (i % 2) {
			v = otlp_build_item(&bd, v);
		} else {
			struct otlp_any *map = v;
			v = otlp_build_entry(&bd, map, "k", 1);
			struct otlp_any *k2 = otlp_build_entry(&bd, map, "k2", 2);
			ASSERT(k2 != NULL);
			k2->type = OTLP_VALUE_STRING;
			k2->u.str = otlp_batch_strdup(bd.batch, "v2", 2);
		}
	}
	ASSERT(v != NULL);
	fx_ids(2, tid, sid);
	ASSERT_OK(otlp_build_span(&bd, tid, sid, NULL, "odd kind", (enum otlp_span_kind)9, 3, 4));
	struct otlp_batch *b = otlp_builder_take(&bd);
	ASSERT(b != NULL);
	same_as_nanopb(b);
	otlp_batch_free(b);
}

TEST(negative_enum_is_ten_bytes_and_decodes)
{
	struct otlp_batch *a = many_spans(1);
	a->resource_spans->scope_spans->spans->kind = (enum otlp_span_kind)-3;
	size_t len;
	uint8_t *buf = encode(a, &len);
	const uint8_t want[] = { 0x30, 0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };
	bool found = false;
	for (size_t i = 0; i + sizeof want <= len; i++)
		found |= memcmp(buf + i, want, sizeof want) == 0;
	ASSERT_TRUE(found);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, NULL, 0));
	ASSERT_EQ((int)b->resource_spans->scope_spans->spans->kind, -3);
	otlp_batch_free(a);
	otlp_batch_free(b);
	free(buf);
}

TEST(response_roundtrip)
{
	struct otlp_response r = { 0 }, back;
	uint8_t *out;
	size_t len;
	ASSERT_OK(otlp_encode_response_proto(&r, &out, &len));
	ASSERT_EQ_U(len, 0); /* full success: partial_success unset */
	ASSERT_OK(otlp_decode_response_proto(&back, out, len));
	ASSERT_EQ(back.rejected_spans, 0);
	free(out);

	r.rejected_spans = 3;
	snprintf(r.error_message, sizeof r.error_message, "span 1: trace_id is all zero");
	ASSERT_OK(otlp_encode_response_proto(&r, &out, &len));
	const uint8_t expect_head[] = { 0x0a, 0x20, 0x08, 0x03, 0x12, 0x1c };
	ASSERT_EQ_U(len, 34);
	ASSERT_MEM_EQ(out, expect_head, sizeof expect_head);
	ASSERT_OK(otlp_decode_response_proto(&back, out, len));
	ASSERT_EQ(back.rejected_spans, 3);
	ASSERT_STR_EQ(back.error_message, r.error_message);
	/* Truncated responses are errors. */
	ASSERT_EQ(otlp_decode_response_proto(&back, out, len - 1), -EINVAL);
	free(out);

	/* Only a message is a partial success too. */
	struct otlp_response w = { 0 };
	snprintf(w.error_message, sizeof w.error_message, "warning");
	ASSERT_OK(otlp_encode_response_proto(&w, &out, &len));
	ASSERT_GT(len, 0);
	free(out);
}

/* The builder's batch encodes to what Google's protobuf for Python writes
 * for the same message (bytes made once with pycheck's generated module:
 * two resources, two scopes, a span with parent, status, an int and a bool
 * attribute, an event with a double, a link with bytes, then a bare span). */
TEST(builder_matches_python_protobuf)
{
	static const uint8_t want[] = {
		0x0a, 0xea, 0x01, 0x0a, 0x17, 0x0a, 0x15, 0x0a, 0x0c, 0x73, 0x65, 0x72, 0x76, 0x69,
		0x63, 0x65, 0x2e, 0x6e, 0x61, 0x6d, 0x65, 0x12, 0x05, 0x0a, 0x03, 0x73, 0x76, 0x63,
		0x12, 0xab, 0x01, 0x0a, 0x06, 0x0a, 0x01, 0x73, 0x12, 0x01, 0x31, 0x12, 0xa0, 0x01,
		0x0a, 0x10, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
		0x01, 0x01, 0x01, 0x01, 0x12, 0x08, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
		0x22, 0x08, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x2a, 0x02, 0x6f, 0x70,
		0x30, 0x02, 0x39, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x02, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4a, 0x07, 0x0a, 0x01, 0x6e, 0x12, 0x02, 0x18,
		0x05, 0x4a, 0x07, 0x0a, 0x01, 0x62, 0x12, 0x02, 0x10, 0x01, 0x5a, 0x1c, 0x09, 0x03,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x01, 0x65, 0x1a, 0x0e, 0x0a, 0x01,
		0x64, 0x12, 0x09, 0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xe0, 0x3f, 0x6a, 0x27,
		0x0a, 0x10, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04,
		0x04, 0x04, 0x04, 0x04, 0x12, 0x08, 0x05, 0x05, 0x05, 0x05, 0x05, 0x05, 0x05, 0x05,
		0x22, 0x09, 0x0a, 0x01, 0x78, 0x12, 0x04, 0x3a, 0x02, 0x00, 0x01, 0x7a, 0x07, 0x12,
		0x03, 0x62, 0x61, 0x64, 0x18, 0x02, 0x12, 0x21, 0x12, 0x1f, 0x0a, 0x10, 0x01, 0x01,
		0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,
		0x12, 0x08, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x06, 0x2a, 0x01, 0x7a, 0x0a,
		0x19, 0x0a, 0x17, 0x0a, 0x15, 0x0a, 0x0c, 0x73, 0x65, 0x72, 0x76, 0x69, 0x63, 0x65,
		0x2e, 0x6e, 0x61, 0x6d, 0x65, 0x12, 0x05, 0x0a, 0x03, 0x74, 0x77, 0x6f,
	};
	uint8_t tid[16], sid[8], parent[8], ltid[16], lsid[8];
	memset(tid, 1, 16);
	memset(sid, 2, 8);
	memset(parent, 3, 8);
	memset(ltid, 4, 16);
	memset(lsid, 5, 8);
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(otlp_build_resource(&bd, "svc"));
	ASSERT_OK(otlp_build_scope(&bd, "s", "1"));
	ASSERT_OK(otlp_build_span(&bd, tid, sid, parent, "op", OTLP_SPAN_KIND_SERVER, 1, 2));
	ASSERT_OK(otlp_build_int(&bd, OTLP_TO_SPAN, "n", 5));
	ASSERT_OK(otlp_build_event(&bd, 3, "e"));
	ASSERT_OK(otlp_build_double(&bd, OTLP_TO_EVENT, "d", 0.5));
	ASSERT_OK(otlp_build_link(&bd, ltid, lsid));
	ASSERT_OK(otlp_build_bytes(&bd, OTLP_TO_LINK, "x", "\x00\x01", 2));
	/* Back to the span's own list after an event and a link: order kept. */
	ASSERT_OK(otlp_build_bool(&bd, OTLP_TO_SPAN, "b", true));
	ASSERT_OK(otlp_build_status(&bd, OTLP_STATUS_ERROR, "bad"));
	ASSERT_OK(otlp_build_scope(&bd, NULL, NULL));
	memset(sid, 6, 8);
	ASSERT_OK(otlp_build_span(&bd, tid, sid, NULL, "z", OTLP_SPAN_KIND_UNSPECIFIED, 0, 0));
	ASSERT_OK(otlp_build_resource(&bd, "two"));
	struct otlp_batch *b = otlp_builder_take(&bd);
	ASSERT(b != NULL);
	ASSERT_EQ_U(b->n_resource_spans, 2);
	ASSERT_EQ_U(b->n_spans, 2);
	ASSERT_EQ_U(b->resource_spans->n_scope_spans, 2);
	ASSERT_EQ_U(b->resource_spans->scope_spans->spans->attrs.n, 2);
	size_t len;
	uint8_t *got = encode(b, &len);
	ASSERT_EQ_U(len, sizeof want);
	ASSERT_MEM_EQ(got, want, sizeof want);
	free(got);
	otlp_batch_free(b);
}

/* A span with no scope or resource gets empty ones; 100,000 spans append
 * in order (the tails are kept, so this is linear). */
TEST(builder_fills_in_and_keeps_order)
{
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(fx_span(&bd, 0));
	ASSERT(bd.rs != NULL && bd.ss != NULL);
	for (uint64_t i = 1; i < 100000; i++)
		ASSERT_OK(fx_span(&bd, i));
	struct otlp_batch *b = otlp_builder_take(&bd);
	ASSERT(b != NULL);
	ASSERT_EQ_U(b->n_resource_spans, 1);
	ASSERT_EQ_U(b->resource_spans->n_scope_spans, 1);
	ASSERT_EQ_U(b->resource_spans->scope_spans->n_spans, 100000);
	ASSERT_EQ_U(b->n_spans, 100000);
	uint64_t i = 0;
	for (const struct otlp_span *s = b->resource_spans->scope_spans->spans; s; s = s->next, i++) {
		uint8_t tid[16], sid[8];
		fx_ids(i, tid, sid);
		ASSERT_MEM_EQ(s->span_id, sid, 8);
	}
	ASSERT_EQ_U(i, 100000);
	otlp_batch_free(b);
}

/* Misuse fails with -EINVAL, and the error sticks: nothing more is
 * appended and take() gives NULL (freeing the batch: valgrind checks). */
TEST(builder_errors_are_sticky)
{
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_EQ(otlp_build_event(&bd, 1, "no span yet"), -EINVAL);
	ASSERT_EQ(bd.err, -EINVAL);
	ASSERT_EQ(otlp_build_resource(&bd, "late"), -EINVAL);
	ASSERT(bd.rs == NULL);
	ASSERT((otlp_builder_take(&bd)) == NULL);
	otlp_builder_done(&bd); /* harmless after take */

	/* An attribute for an object that does not exist yet. */
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(otlp_build_resource(&bd, NULL));
	ASSERT_EQ(otlp_build_str(&bd, OTLP_TO_SPAN, "k", "v"), -EINVAL);
	otlp_builder_done(&bd);

	/* A builder that was zeroed but never set up. */
	memset(&bd, 0, sizeof bd);
	ASSERT_EQ(otlp_build_resource(&bd, "x"), -EINVAL);
	otlp_builder_done(&bd);

	/* An item on a value that is not an array. */
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(fx_span(&bd, 1));
	struct otlp_any *v = otlp_build_attr(&bd, OTLP_TO_SPAN, "k", 1);
	ASSERT(v != NULL);
	v->type = OTLP_VALUE_INT;
	ASSERT((otlp_build_item(&bd, v)) == NULL);
	ASSERT_EQ(bd.err, -EINVAL);
	otlp_builder_done(&bd);
}

/* A copied span shares its source's lists; the builder refuses to grow
 * them, so the source never changes. */
TEST(builder_span_copy_is_shallow_and_read_only)
{
	struct otlp_batch *src = many_spans(2);
	const struct otlp_span *s0 = src->resource_spans->scope_spans->spans;
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(otlp_build_span_copy(&bd, s0->next));
	ASSERT_OK(otlp_build_span_copy(&bd, s0));
	ASSERT(bd.sp->attrs.head == s0->attrs.head);
	ASSERT(bd.sp->next == NULL);
	ASSERT(s0->next != NULL); /* the source's list is untouched */
	ASSERT_EQ(otlp_build_int(&bd, OTLP_TO_SPAN, "more", 1), -EINVAL);
	ASSERT_EQ_U(s0->attrs.n, 2);
	ASSERT(s0->attrs.head->next->next == NULL);
	otlp_builder_done(&bd);

	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(otlp_build_span_copy(&bd, s0->next));
	ASSERT_OK(otlp_build_span_copy(&bd, s0));
	struct otlp_batch *b = otlp_builder_take(&bd);
	ASSERT(b != NULL);
	ASSERT_EQ_U(b->n_spans, 2);
	const struct otlp_span *c = b->resource_spans->scope_spans->spans;
	ASSERT_EQ(c->attrs.head->next->value.u.i, 1); /* span 1 first, as appended */
	ASSERT_EQ(c->next->attrs.head->next->value.u.i, 0);
	otlp_batch_free(b);
	otlp_batch_free(src);
}

/* google.rpc.Status: protobuf leaves zero fields out; JSON escapes. */
TEST(status_body)
{
	uint8_t *p;
	size_t n;
	ASSERT_OK(otlp_encode_status_proto(3, "bad", 3, &p, &n));
	const uint8_t want[] = { 0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd' };
	ASSERT_EQ_U(n, sizeof want);
	ASSERT_MEM_EQ(p, want, sizeof want);
	free(p);
	ASSERT_OK(otlp_encode_status_proto(0, "", 0, &p, &n));
	ASSERT_EQ_U(n, 0);
	free(p);
	char *j;
	ASSERT_OK(otlp_encode_status_json(14, "a\"b\n\x01", 5, &j, &n));
	ASSERT_STR_EQ(j, "{\"code\":14,\"message\":\"a\\\"b\\n\\u0001\"}");
	ASSERT_EQ_U(n, strlen(j));
	free(j);
}


/* ---- issue 15: hostile shapes ---- */

/* A growable byte buffer for hand-written protobuf. */
struct wbuf {
	uint8_t *p;
	size_t n, cap;
};

static void w_bytes(struct wbuf *w, const void *src, size_t n)
{
	if (w->n + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->n + n)
			cap *= 2;
		w->p = realloc(w->p, cap);
		if (w->p == NULL)
			abort();
		w->cap = cap;
	}
	memcpy(w->p + w->n, src, n);
	w->n += n;
}

static void w_varint(struct wbuf *w, uint64_t x)
{
	uint8_t b[10];
	size_t n = 0;
	do {
		b[n++] = (uint8_t)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
		x >>= 7;
	} while (x != 0);
	w_bytes(w, b, n);
}

/* A length-delimited field: tag, length, body. */
static void w_field(struct wbuf *w, uint32_t field, const void *body, size_t n)
{
	w_varint(w, (uint64_t)field << 3 | 2);
	w_varint(w, n);
	w_bytes(w, body, n);
}

/*
 * One ExportTraceServiceRequest with one resource (service.name svc, svc_len
 * bytes) and one scope holding the given encoded spans.
 */
static uint8_t *wrap_spans(const struct wbuf *spans, const char *svc, size_t svc_len, size_t *len)
{
	struct wbuf any = { 0 }, kv = { 0 }, res = { 0 }, ss = { 0 }, rs = { 0 }, req = { 0 };
	w_field(&any, 1, svc, svc_len);                       /* AnyValue.string_value */
	w_field(&kv, 1, "service.name", 12);                  /* KeyValue.key */
	w_field(&kv, 2, any.p, any.n);                        /* KeyValue.value */
	w_field(&res, 1, kv.p, kv.n);                         /* Resource.attributes */
	w_bytes(&ss, spans->p, spans->n);                     /* ScopeSpans.spans (2) */
	w_field(&rs, 1, res.p, res.n);                        /* ResourceSpans.resource */
	w_field(&rs, 2, ss.p, ss.n);                          /* ResourceSpans.scope_spans */
	w_field(&req, 1, rs.p, rs.n);                         /* request.resource_spans */
	free(any.p);
	free(kv.p);
	free(res.p);
	free(ss.p);
	free(rs.p);
	*len = req.n;
	return req.p;
}

/* Appends span i (fixture ids) named name, with `extra` appended to its
 * body (more fields), as a ScopeSpans.spans field. */
static void w_span(struct wbuf *spans, uint64_t i, const char *name, size_t name_len,
		   const struct wbuf *extra)
{
	uint8_t tid[16], sid[8];
	fx_ids(i, tid, sid);
	struct wbuf sp = { 0 };
	w_field(&sp, 1, tid, 16);
	w_field(&sp, 2, sid, 8);
	w_field(&sp, 5, name, name_len);
	if (extra != NULL)
		w_bytes(&sp, extra->p, extra->n);
	w_field(spans, 2, sp.p, sp.n);
	free(sp.p);
}

/* Three spans, the middle one with n empty events (field 11) or links
 * (field 13): 2 bytes each on the wire. */
static uint8_t *flood(uint32_t field, size_t n, size_t *len)
{
	struct wbuf extra = { 0 }, spans = { 0 };
	for (size_t i = 0; i < n; i++)
		w_bytes(&extra, (uint8_t[]){ (uint8_t)(field << 3 | 2), 0 }, 2);
	w_span(&spans, 0, "a", 1, NULL);
	w_span(&spans, 1, "b", 1, &extra);
	w_span(&spans, 2, "c", 1, NULL);
	uint8_t *buf = wrap_spans(&spans, "svc", 3, len);
	free(extra.p);
	free(spans.p);
	return buf;
}

/* Finding 2: a million empty links or events cost a walk, not 70 MB: the
 * span is rejected when its list passes the limit, before allocating. */
TEST(events_and_links_flood_rejects_the_span)
{
	size_t n = under_valgrind() ? 100000 : 1000000;
	for (int k = 0; k < 2; k++) {
		uint32_t field = k == 0 ? 11 : 13;
		size_t len;
		uint8_t *buf = flood(field, n, &len);
		struct otlp_batch *b = otlp_batch_new();
		char err[256] = "";
		ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, err, sizeof err));
		ASSERT_EQ_U(b->n_spans, 2);
		ASSERT_EQ_U(b->n_rejected, 1);
		/* an empty link has no ids: that is the first reason */
		ASSERT_TRUE(strstr(b->reject_msg, k == 0 ? "more than 1024 events" :
							  "link ids must be") != NULL);
		/* the neighbours, in order */
		const struct otlp_span *s = b->resource_spans->scope_spans->spans;
		ASSERT_MEM_EQ(s->name.ptr, "a", 1);
		ASSERT_MEM_EQ(s->next->name.ptr, "c", 1);
		/* Nothing is built past the first reason: well under 1 MiB. */
		ASSERT_LT(otlp_batch_mem(b), (size_t)1 << 20);
		otlp_batch_free(b);
		free(buf);
	}
}

TEST(events_and_links_at_the_limit_are_kept)
{
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_events_per_span = 3;
	lim.max_links_per_span = 3;
	struct otlp_builder bd;
	bulk_start(&bd, 2);
	uint8_t tid[16], sid[8];
	fx_ids(9, tid, sid);
	for (int i = 0; i < 4; i++)
		otlp_build_event(&bd, 1, "e");
	size_t len;
	uint8_t *buf = bulk_end3(&bd, &len);
	expect_middle_rejected(buf, len, &lim, "more than 3 events");
	free(buf);
	if (TEST_FAILED())
		return;

	bulk_start(&bd, 2);
	for (int i = 0; i < 4; i++)
		otlp_build_link(&bd, tid, sid);
	buf = bulk_end3(&bd, &len);
	expect_middle_rejected(buf, len, &lim, "more than 3 links");
	if (TEST_FAILED())
		goto out;
	lim.max_links_per_span = 4;
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, &lim, NULL, 0));
	ASSERT_EQ_U(b->n_rejected, 0);
	ASSERT_EQ_U(b->resource_spans->scope_spans->spans->next->links.n, 4);
	otlp_batch_free(b);
out:
	free(buf);
}

TEST(attrs_per_event_limit)
{
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_attrs_per_event = 2;
	struct otlp_builder bd;
	bulk_start(&bd, 2);
	otlp_build_event(&bd, 1, "e");
	for (int i = 0; i < 3; i++)
		otlp_build_int(&bd, OTLP_TO_EVENT, "k", i);
	size_t len;
	uint8_t *buf = bulk_end3(&bd, &len);
	expect_middle_rejected(buf, len, &lim, "more than 2 attributes");
	free(buf);
}

/* Finding 2's other half: with no count limit, the budget stops the
 * decoder before it allocates past it, and says so with -EMSGSIZE (poison),
 * not -ENOMEM (load). */
TEST(decode_budget_is_emsgsize)
{
	size_t len;
	uint8_t *buf = flood(11, 200000, &len); /* about 13 MB decoded */
	struct otlp_limits lim;
	otlp_limits_default(&lim);
	lim.max_events_per_span = 0;
	lim.max_decoded_bytes = 4 << 20;
	struct otlp_batch *b = otlp_batch_new();
	char err[256] = "";
	ASSERT_EQ(otlp_decode_proto(b, buf, len, &lim, err, sizeof err), -EMSGSIZE);
	ASSERT_TRUE(strstr(err, "4194304") != NULL);
	ASSERT_LE_U(otlp_batch_mem(b), (4 << 20) + 4096);
	otlp_batch_free(b);
	/* Without the budget it decodes (and shows what the budget saved). */
	lim.max_decoded_bytes = 0;
	b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, &lim, err, sizeof err));
	ASSERT_EQ_U(b->n_rejected, 0);
	ASSERT_GT(otlp_batch_mem(b), (size_t)8 << 20);
	otlp_batch_free(b);
	free(buf);
}

/* Decodes one span named name (n bytes) under service svc; returns the batch. */
static struct otlp_batch *one_named(const char *svc, size_t svc_len, const char *name, size_t n,
				    uint8_t **bufp)
{
	struct wbuf spans = { 0 };
	w_span(&spans, 0, name, n, NULL);
	size_t len;
	*bufp = wrap_spans(&spans, svc, svc_len, &len);
	free(spans.p);
	struct otlp_batch *b = otlp_batch_new();
	char err[256] = "";
	if (otlp_decode_proto(b, *bufp, len, NULL, err, sizeof err) != 0 || b->n_spans != 1) {
		fprintf(stderr, "decode: %s\n", err);
		otlp_batch_free(b);
		return NULL;
	}
	return b;
}

/* Finding 9: invalid UTF-8 and NUL become U+FFFD, one per maximal
 * subpart (Unicode 3.9), in names, keys and string values. */
TEST(invalid_utf8_and_nul_become_fffd)
{
#define R "\xef\xbf\xbd"
	static const struct {
		const char *in;
		size_t n;
		const char *out;
		uint64_t fixes;
	} cases[] = {
		{ "plain", 5, "plain", 0 },
		{ "caf\xc3\xa9 \xf0\x9f\x98\x80", 10, "caf\xc3\xa9 \xf0\x9f\x98\x80", 0 },
		{ "a\0b", 3, "a" R "b", 1 },
		{ "\xff", 1, R, 1 },
		{ "x\xc3", 2, "x" R, 1 },                   /* truncated 2-byte */
		{ "\xf0\x9f\x98z", 4, R "z", 1 },           /* truncated 4-byte: one */
		{ "\xe0\x80\xaf", 3, R R R, 3 },            /* overlong */
		{ "\xed\xa0\x80", 3, R R R, 3 },            /* a surrogate */
		{ "\xf4\x90\x80\x80", 4, R R R R, 4 },      /* past U+10FFFF */
		{ "\xc0\xaf", 2, R R, 2 },
		{ "\x80\xbf", 2, R R, 2 },                  /* lone continuations */
		/* past the 8-byte ASCII fast path */
		{ "abcdefghijklmn\0p", 16, "abcdefghijklmn" R "p", 1 },
		{ "abcdefgh\xffjklmnop", 16, "abcdefgh" R "jklmnop", 1 },
		{ "abcdefg\xc3\xa9ijklmnop", 17, "abcdefg\xc3\xa9ijklmnop", 0 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint8_t *buf;
		struct otlp_batch *b = one_named(cases[i].in, cases[i].n, cases[i].in, cases[i].n,
						 &buf);
		ASSERT(b != NULL);
		const struct otlp_span *s = b->resource_spans->scope_spans->spans;
		const struct otlp_any *svc =
			otlp_attrs_find(&b->resource_spans->resource_attrs, "service.name");
		ASSERT(svc != NULL);
		size_t want = strlen(cases[i].out);
		if (s->name.len != want || memcmp(s->name.ptr, cases[i].out, want) != 0)
			fprintf(stderr, "case %zu\n", i);
		ASSERT_EQ_U(s->name.len, want);
		ASSERT_MEM_EQ(s->name.ptr, cases[i].out, want);
		ASSERT_EQ_U(svc->u.str.len, want);
		ASSERT_MEM_EQ(svc->u.str.ptr, cases[i].out, want);
		ASSERT_EQ_U(b->n_replaced, 2 * cases[i].fixes);
		/* valid text stays zero-copy */
		if (cases[i].fixes == 0)
			ASSERT_TRUE(s->name.ptr > buf && s->name.ptr < buf + 200);
		otlp_batch_free(b);
		free(buf);
	}
#undef R
}

/* A key with a NUL is kept whole (the NUL replaced), never cut at it. */
TEST(nul_in_key_is_kept_whole)
{
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	otlp_build_resource(&bd, "s");
	ASSERT_OK(fx_span(&bd, 1));
	struct otlp_any *v = otlp_build_attr(&bd, OTLP_TO_SPAN, "ab\0cd", 5);
	ASSERT(v != NULL);
	v->type = OTLP_VALUE_BYTES; /* bytes values are taken as sent */
	v->u.str = otlp_batch_strdup(bd.batch, "\0\xff", 2);
	struct otlp_batch *a = otlp_builder_take(&bd);
	size_t len;
	uint8_t *buf = encode(a, &len);
	otlp_batch_free(a);
	struct otlp_batch *b = otlp_batch_new();
	ASSERT_OK(otlp_decode_proto(b, buf, len, NULL, NULL, 0));
	const struct otlp_kv *kv = b->resource_spans->scope_spans->spans->attrs.head;
	ASSERT_EQ_U(kv->key.len, 7);
	ASSERT_MEM_EQ(kv->key.ptr, "ab\xef\xbf\xbd" "cd", 7);
	ASSERT_EQ_U(kv->value.u.str.len, 2);
	ASSERT_MEM_EQ(kv->value.u.str.ptr, "\0\xff", 2);
	ASSERT_EQ_U(b->n_replaced, 1);
	otlp_batch_free(b);
	free(buf);
}

/* Finding 11: a name past max_name_bytes is cut at a character boundary
 * and ends in U+2026, within the limit; the span is kept. */
TEST(long_name_is_cut_with_a_marker)
{
	size_t n = 1 << 20;
	char *name = malloc(n);
	ASSERT(name != NULL);
	memset(name, 'x', n);
	/* a 3-byte character across the cut at 1021 */
	memcpy(name + 1020, "\xe2\x82\xac", 3);
	uint8_t *buf;
	struct otlp_batch *b = one_named("s", 1, name, n, &buf);
	free(name);
	ASSERT(b != NULL);
	const struct otlp_span *s = b->resource_spans->scope_spans->spans;
	ASSERT_EQ_U(s->name.len, 1023); /* 1020 x, then the marker */
	ASSERT_MEM_EQ(s->name.ptr + 1017, "xxx\xe2\x80\xa6", 6);
	ASSERT_EQ_U(b->n_truncated, 1);
	ASSERT_LT(otlp_batch_mem(b), (size_t)256 << 10);
	otlp_batch_free(b);
	free(buf);
}

TEST_MAIN(TEST_ENTRY(arena_alignment_zero_and_mem), TEST_ENTRY(arena_edge_sizes),
	  TEST_ENTRY(hex_helpers),
	  TEST_ENTRY(attrs_find), TEST_ENTRY(roundtrip_every_field),
	  TEST_ENTRY(zero_copy_points_into_input), TEST_ENTRY(decode_appends_to_batch),
	  TEST_ENTRY(empty_request), TEST_ENTRY(hundred_thousand_spans),
	  TEST_ENTRY(one_mib_attribute_value), TEST_ENTRY(limit_attrs_per_span),
	  TEST_ENTRY(limit_value_depth), TEST_ENTRY(deep_nesting_does_not_recurse),
	  TEST_ENTRY(request_size_limit), TEST_ENTRY(invalid_ids_reject_one_span),
	  TEST_ENTRY(truncated_at_every_length), TEST_ENTRY(random_garbage_and_bitflips),
	  TEST_ENTRY(wrong_wire_type_is_an_error), TEST_ENTRY(unknown_fields_are_skipped),
	  TEST_ENTRY(writer_matches_nanopb_encoder),
	  TEST_ENTRY(negative_enum_is_ten_bytes_and_decodes), TEST_ENTRY(response_roundtrip),
	  TEST_ENTRY(builder_matches_python_protobuf), TEST_ENTRY(builder_fills_in_and_keeps_order),
	  TEST_ENTRY(builder_errors_are_sticky), TEST_ENTRY(builder_span_copy_is_shallow_and_read_only),
	  TEST_ENTRY(status_body), TEST_ENTRY(events_and_links_flood_rejects_the_span),
	  TEST_ENTRY(events_and_links_at_the_limit_are_kept), TEST_ENTRY(attrs_per_event_limit),
	  TEST_ENTRY(decode_budget_is_emsgsize), TEST_ENTRY(invalid_utf8_and_nul_become_fffd),
	  TEST_ENTRY(nul_in_key_is_kept_whole), TEST_ENTRY(long_name_is_cut_with_a_marker))
