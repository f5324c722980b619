/*
 * test_record.c: the record encoding keeps every field of the model, the
 * framing checks its checksum, and the decoder refuses bad bytes.
 */
#include <errno.h>

#include <zlib.h>

#include "fx.h"
#include "harness.h"
#include "record.h"

/* A batch that sets every field the model has. */
static struct otlp_batch *rich_batch(void)
{
	struct otlp_builder bd;
	if (otlp_builder_init(&bd) != 0)
		return NULL;
	otlp_build_resource(&bd, "checkout");
	otlp_build_int(&bd, OTLP_TO_RESOURCE, "host.cpus", -8);
	otlp_build_scope(&bd, "tern.test", "1.2.3");
	otlp_build_str(&bd, OTLP_TO_SCOPE, "lib", "x");
	uint8_t tid[16], sid[8], parent[8];
	fx_tid(tid, 42);
	fx_sid(sid, 7);
	fx_sid(parent, 6);
	uint64_t t0 = 1700000000000000000ull;
	otlp_build_span(&bd, tid, sid, parent, "GET /cart", OTLP_SPAN_KIND_CLIENT, t0,
			t0 + 1234567);
	otlp_build_status(&bd, OTLP_STATUS_ERROR, "boom");
	otlp_build_str(&bd, OTLP_TO_SPAN, "http.method", "GET");
	otlp_build_int(&bd, OTLP_TO_SPAN, "http.status_code", 503);
	otlp_build_double(&bd, OTLP_TO_SPAN, "ratio", -0.125);
	otlp_build_bool(&bd, OTLP_TO_SPAN, "ok", true);
	otlp_build_bytes(&bd, OTLP_TO_SPAN, "blob", "\0\1\2\377", 4);
	otlp_build_attr(&bd, OTLP_TO_SPAN, "empty", 5);
	struct otlp_any *list = otlp_build_attr(&bd, OTLP_TO_SPAN, "list", 4);
	struct otlp_any *v = list ? otlp_build_item(&bd, list) : NULL;
	if (v != NULL) {
		v->type = OTLP_VALUE_INT;
		v->u.i = INT64_MIN;
	}
	struct otlp_any *map = list ? otlp_build_item(&bd, list) : NULL;
	v = map ? otlp_build_entry(&bd, map, "nested", 6) : NULL;
	if (v != NULL) {
		v->type = OTLP_VALUE_STRING;
		v->u.str = fx_str(bd.batch, "deep");
	}
	otlp_build_event(&bd, t0 + 500, "exception");
	otlp_build_str(&bd, OTLP_TO_EVENT, "exception.message", "x");
	otlp_build_event(&bd, t0 - 10, "early"); /* before start: kept */
	uint8_t ltid[16], lsid[8];
	fx_tid(ltid, 99);
	fx_sid(lsid, 98);
	otlp_build_link(&bd, ltid, lsid);
	otlp_build_int(&bd, OTLP_TO_LINK, "link.n", 1);
	if (bd.err == 0) {
		/* What the builder has no call for. */
		bd.rs->resource_attrs.dropped = 3;
		bd.rs->schema_url = fx_str(bd.batch, "https://opentelemetry.io/schemas/1.21.0");
		bd.ss->scope_attrs.dropped = 1;
		bd.ss->schema_url = fx_str(bd.batch, "https://example.com/s");
		bd.sp->trace_state = fx_str(bd.batch, "vendor=abc");
		bd.sp->flags = 0x301;
		bd.sp->attrs.dropped = 2;
		bd.sp->events.dropped = 4;
		bd.sp->links.dropped = 5;
		bd.ln->trace_state = fx_str(bd.batch, "k=v");
		bd.ln->flags = 1;
	}
	/* end before start, a kind outside 0..5, no parent */
	fx_tid(tid, 43);
	fx_sid(sid, 8);
	otlp_build_span(&bd, tid, sid, NULL, "", (enum otlp_span_kind)9, 5000, 4000);
	/* a second resource without service.name and an empty scope */
	otlp_build_resource(&bd, NULL);
	otlp_build_scope(&bd, "", NULL);
	return otlp_builder_take(&bd);
}

static void check_rich(const struct otlp_batch *b)
{
	ASSERT_EQ(b->n_resource_spans, 2);
	ASSERT_EQ(b->n_spans, 2);
	const struct otlp_resource_spans *rs = b->resource_spans;
	ASSERT_EQ(rs->resource_attrs.n, 2);
	ASSERT_EQ(rs->resource_attrs.dropped, 3);
	ASSERT_MEM_STR(rs->schema_url.ptr, rs->schema_url.len, "https://opentelemetry.io/schemas/1.21.0");
	const struct otlp_scope_spans *ss = rs->scope_spans;
	ASSERT_MEM_STR(ss->scope_version.ptr, ss->scope_version.len, "1.2.3");
	ASSERT_EQ(ss->scope_attrs.dropped, 1);
	const struct otlp_span *sp = ss->spans;
	ASSERT(sp->has_parent);
	ASSERT_EQ(sp->flags, 0x301);
	ASSERT_EQ(sp->kind, OTLP_SPAN_KIND_CLIENT);
	ASSERT_EQ(sp->end_time_unix_nano - sp->start_time_unix_nano, 1234567);
	ASSERT_EQ(sp->status.code, OTLP_STATUS_ERROR);
	ASSERT_MEM_STR(sp->status.message.ptr, sp->status.message.len, "boom");
	ASSERT_EQ(sp->attrs.n, 7);
	ASSERT_EQ(sp->attrs.dropped, 2);
	ASSERT_EQ(sp->events.n, 2);
	ASSERT_EQ(sp->events.dropped, 4);
	ASSERT_EQ(sp->events.head->next->time_unix_nano, sp->start_time_unix_nano - 10);
	ASSERT_EQ(sp->links.n, 1);
	ASSERT_EQ(sp->links.dropped, 5);
	ASSERT_MEM_STR(sp->links.head->trace_state.ptr, sp->links.head->trace_state.len, "k=v");
	const struct otlp_kv *list = sp->attrs.head;
	while (list && !(list->key.len == 4 && memcmp(list->key.ptr, "list", 4) == 0))
		list = list->next;
	ASSERT(list != NULL);
	ASSERT_EQ(list->value.u.array.head->value.u.i, INT64_MIN);
	const struct otlp_kv *in = list->value.u.array.head->next->value.u.kvlist.head;
	ASSERT_MEM_STR(in->value.u.str.ptr, in->value.u.str.len, "deep");
	const struct otlp_span *sp2 = sp->next;
	ASSERT_EQ(sp2->end_time_unix_nano, 4000);
	ASSERT_EQ((int)sp2->kind, 9);
	ASSERT_FALSE(sp2->has_parent);
}

TEST(raw_round_trip_every_field)
{
	struct otlp_batch *a = rich_batch();
	uint8_t *raw;
	size_t len;
	ASSERT_OK(store__rec_encode_raw(a, &raw, &len));
	struct otlp_batch *b = otlp_batch_new();
	int rc = store__rec_decode_raw(raw, len, b);
	if (rc == 0) {
		check_rich(b);
		if (!TEST_FAILED() && !fx_same_otlp(a, b))
			TEST__FAIL("re-encoded OTLP differs");
	}
	otlp_batch_free(b);
	free(raw);
	otlp_batch_free(a);
	ASSERT_OK(rc);
}

TEST(record_build_decode_and_checksum)
{
	struct otlp_batch *a = rich_batch();
	for (int level = 0; level <= 3; level += 3) {
		uint8_t *rec;
		size_t len;
		ASSERT_OK(store__rec_build(a, level, 77, &rec, &len));
		struct store__rec_hdr h;
		ASSERT_OK(store__rec_hdr_parse(rec, &h));
		ASSERT_EQ(h.n_spans, 2);
		ASSERT_EQ(h.time_ns, 77);
		ASSERT_EQ(h.stored_len + STORE__REC_HDR, len);
		struct otlp_batch *b = otlp_batch_new();
		int rc = store__rec_decode(rec, &h, rec + STORE__REC_HDR, b);
		bool same = rc == 0 && fx_same_otlp(a, b);
		otlp_batch_free(b);
		/* every single flipped byte of the payload is caught */
		int caught = 0, tried = 0;
		for (size_t i = STORE__REC_HDR; i < len; i += 7, tried++) {
			rec[i] ^= 0x10;
			b = otlp_batch_new();
			if (store__rec_decode(rec, &h, rec + STORE__REC_HDR, b) == -EBADMSG)
				caught++;
			otlp_batch_free(b);
			rec[i] ^= 0x10;
		}
		free(rec);
		ASSERT_OK(rc);
		ASSERT(same);
		ASSERT_EQ(caught, tried);
	}
	otlp_batch_free(a);
}

TEST(decoder_refuses_truncations)
{
	struct otlp_batch *a = rich_batch();
	uint8_t *raw;
	size_t len;
	ASSERT_OK(store__rec_encode_raw(a, &raw, &len));
	otlp_batch_free(a);
	int refused = 0;
	for (size_t cut = 0; cut < len; cut++) {
		struct otlp_batch *b = otlp_batch_new();
		if (store__rec_decode_raw(raw, cut, b) == -EBADMSG)
			refused++;
		otlp_batch_free(b);
	}
	free(raw);
	ASSERT_EQ(refused, (int64_t)len);
}

TEST(header_bounds)
{
	uint8_t h[32] = { 0 };
	struct store__rec_hdr rh;
	ASSERT_EQ(store__rec_hdr_parse(h, &rh), -EBADMSG);
	store__put32(h, STORE__REC_MAGIC);
	store__put32(h + 4, 0xffffffffu);
	ASSERT_EQ(store__rec_hdr_parse(h, &rh), -EBADMSG);
	store__put32(h + 4, 10);
	store__put32(h + 8, 11); /* uncompressed but lengths differ */
	ASSERT_EQ(store__rec_hdr_parse(h, &rh), -EBADMSG);
	store__put32(h + 24, 8); /* unknown flag */
	ASSERT_EQ(store__rec_hdr_parse(h, &rh), -EBADMSG);
	uint8_t sh[32];
	uint64_t id;
	store__seg_hdr_write(sh, 5, 6);
	ASSERT_OK(store__seg_hdr_parse(sh, &id));
	ASSERT_EQ(id, 5);
	sh[3] ^= 1;
	ASSERT_EQ(store__seg_hdr_parse(sh, &id), -EBADMSG);
}

TEST(decode_one_trace_skips_the_rest)
{
	struct otlp_batch *a = rich_batch();
	uint8_t *rec;
	size_t len;
	ASSERT_OK(store__rec_build(a, 1, 1, &rec, &len));
	struct store__rec_hdr h;
	ASSERT_OK(store__rec_hdr_parse(rec, &h));
	uint8_t t42[16], t43[16], t7[16];
	fx_tid(t42, 42);
	fx_tid(t43, 43);
	fx_tid(t7, 7);
	struct otlp_batch *b = otlp_batch_new();
	int rc1 = store__rec_decode_trace(rec, &h, rec + STORE__REC_HDR, b, t42);
	uint64_t n1 = b->n_spans, c1 = fx_count_spans(b);
	bool attrs_ok = c1 == 1 && b->resource_spans->scope_spans->spans->attrs.n == 7;
	otlp_batch_free(b);
	b = otlp_batch_new();
	int rc2 = store__rec_decode_trace(rec, &h, rec + STORE__REC_HDR, b, t43);
	uint64_t n2 = fx_count_spans(b);
	otlp_batch_free(b);
	b = otlp_batch_new();
	int rc3 = store__rec_decode_trace(rec, &h, rec + STORE__REC_HDR, b, t7);
	uint64_t n3 = fx_count_spans(b), n3b = b->n_spans;
	otlp_batch_free(b);
	free(rec);
	/* the skipping path refuses every truncation too */
	uint8_t *raw;
	size_t rl;
	ASSERT_OK(store__rec_encode_raw(a, &raw, &rl));
	otlp_batch_free(a);
	int refused = 0;
	for (size_t cut = 0; cut < rl; cut++) {
		uint8_t *copy = malloc(cut + 1);
		memcpy(copy, raw, cut);
		struct store__rec_hdr hh = { (uint32_t)cut, (uint32_t)cut, 0, 0, 0, 0 };
		/* frame the truncated payload as an uncompressed record */
		uint8_t *fr = malloc(32 + cut + 1);
		store__put32(fr, STORE__REC_MAGIC);
		store__put32(fr + 4, (uint32_t)cut);
		store__put32(fr + 8, (uint32_t)cut);
		memset(fr + 12, 0, 16);
		memcpy(fr + 32, copy, cut);
		uLong c = crc32(crc32(0L, Z_NULL, 0), fr, 28);
		c = crc32(c, fr + 32, (uInt)cut);
		hh.crc = (uint32_t)c;
		b = otlp_batch_new();
		if (store__rec_decode_trace(fr, &hh, fr + 32, b, t7) == -EBADMSG)
			refused++;
		otlp_batch_free(b);
		free(fr);
		free(copy);
	}
	free(raw);
	ASSERT_OK(rc1);
	ASSERT_OK(rc2);
	ASSERT_OK(rc3);
	ASSERT_EQ(n1, 1);
	ASSERT(attrs_ok);
	ASSERT_EQ(n2, 1);
	ASSERT_EQ(n3, 0);
	ASSERT_EQ(n3b, 0);
	ASSERT_EQ(refused, (int64_t)rl);
}

TEST_MAIN(TEST_ENTRY(raw_round_trip_every_field), TEST_ENTRY(record_build_decode_and_checksum),
	  TEST_ENTRY(decoder_refuses_truncations), TEST_ENTRY(header_bounds),
	  TEST_ENTRY(decode_one_trace_skips_the_rest))
