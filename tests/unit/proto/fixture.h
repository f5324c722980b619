/*
 * fixture.h: builds test batches with the otlp_build_* builder and
 * compares batches field by field. Shared by the proto unit tests (header-only, static functions).
 */
#ifndef TERN_TESTS_PROTO_FIXTURE_H
#define TERN_TESTS_PROTO_FIXTURE_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "otlp.h"

/* The ids of fixture span i: a trace id that is never all zero, a span id
 * with i in its low bytes. */
static inline void fx_ids(uint64_t i, uint8_t trace_id[16], uint8_t span_id[8])
{
	for (int k = 0; k < 16; k++)
		trace_id[k] = (uint8_t)(0xa0 + k + i * 7);
	trace_id[0] = 0x4b;
	for (int k = 0; k < 8; k++)
		span_id[k] = (uint8_t)(i >> (8 * k));
	span_id[7] |= 0x80;
}

/* Appends fixture span i (a SERVER "GET /api/items" of 12345 ns) to the
 * builder's current scope. */
static inline int fx_span(struct otlp_builder *bd, uint64_t i)
{
	uint8_t tid[16], sid[8];
	fx_ids(i, tid, sid);
	uint64_t start = 1700000000000000000ull + i * 1000;
	return otlp_build_span(bd, tid, sid, NULL, "GET /api/items", OTLP_SPAN_KIND_SERVER, start,
			       start + 12345);
}

/* A batch that uses every field and every value type. */
static inline struct otlp_batch *fx_full_batch(void)
{
	struct otlp_builder bd;
	if (otlp_builder_init(&bd) != 0)
		return NULL;
	otlp_build_resource(&bd, "checkout");
	otlp_build_str(&bd, OTLP_TO_RESOURCE, "host.name", "web-1");
	if (bd.rs != NULL) {
		bd.rs->resource_attrs.dropped = 2;
		bd.rs->schema_url = otlp_batch_strdup(bd.batch, "https://opentelemetry.io/schemas/1.21.0", 39);
	}
	otlp_build_scope(&bd, "tern.test", "1.2.3");
	otlp_build_str(&bd, OTLP_TO_SCOPE, "scope.attr", "x");
	if (bd.ss != NULL) {
		bd.ss->scope_attrs.dropped = 1;
		bd.ss->schema_url = otlp_batch_strdup(bd.batch, "https://example.com/scope", 25);
	}

	uint8_t tid[16], sid[8];
	fx_ids(1, tid, sid);
	uint64_t t0 = 1700000000000000000ull + 1000;
	otlp_build_span(&bd, tid, sid, (const uint8_t *)"\x01\x02\x03\x04\x05\x06\x07\x08",
			"GET /api/items", OTLP_SPAN_KIND_CLIENT, t0, t0 + 12345);
	if (bd.sp != NULL) {
		bd.sp->trace_state = otlp_batch_strdup(bd.batch, "rojo=00f067aa0ba902b7", 21);
		bd.sp->flags = 0x301;
	}
	otlp_build_str(&bd, OTLP_TO_SPAN, "http.method", "GET");
	otlp_build_str(&bd, OTLP_TO_SPAN, "empty.string", "");
	otlp_build_int(&bd, OTLP_TO_SPAN, "http.status_code", 200);
	otlp_build_int(&bd, OTLP_TO_SPAN, "negative", -5);
	otlp_build_int(&bd, OTLP_TO_SPAN, "zero", 0);
	otlp_build_bool(&bd, OTLP_TO_SPAN, "ok", true);
	otlp_build_bool(&bd, OTLP_TO_SPAN, "notok", false);
	otlp_build_double(&bd, OTLP_TO_SPAN, "ratio", 0.25);
	otlp_build_double(&bd, OTLP_TO_SPAN, "neg.double", -1e300);
	otlp_build_bytes(&bd, OTLP_TO_SPAN, "blob", "\x00\xff\x10", 3);
	otlp_build_attr(&bd, OTLP_TO_SPAN, "nothing", 7);
	struct otlp_any *list = otlp_build_attr(&bd, OTLP_TO_SPAN, "list", 4);
	if (list != NULL) {
		struct otlp_any *v = otlp_build_item(&bd, list);
		if (v != NULL) {
			v->type = OTLP_VALUE_STRING;
			v->u.str = otlp_batch_strdup(bd.batch, "a", 1);
		}
		if ((v = otlp_build_item(&bd, list)) != NULL) {
			v->type = OTLP_VALUE_INT;
			v->u.i = 7;
		}
		struct otlp_any *map = otlp_build_item(&bd, list);
		if (map != NULL) {
			if ((v = otlp_build_entry(&bd, map, "inner", 5)) != NULL) {
				v->type = OTLP_VALUE_STRING;
				v->u.str = otlp_batch_strdup(bd.batch, "v", 1);
			}
			struct otlp_any *deeper = otlp_build_entry(&bd, map, "deeper", 6);
			if (deeper != NULL && (v = otlp_build_item(&bd, deeper)) != NULL) {
				v->type = OTLP_VALUE_DOUBLE;
				v->u.d = 3.5;
			}
		}
	}
	struct otlp_any *v = otlp_build_attr(&bd, OTLP_TO_SPAN, "empty.list", 10);
	if (v != NULL)
		v->type = OTLP_VALUE_ARRAY;
	if ((v = otlp_build_attr(&bd, OTLP_TO_SPAN, "empty.map", 9)) != NULL)
		v->type = OTLP_VALUE_KVLIST;
	if (bd.sp != NULL)
		bd.sp->attrs.dropped = 3;

	otlp_build_event(&bd, t0 + 5, "exception");
	otlp_build_str(&bd, OTLP_TO_EVENT, "exception.message", "boom");
	if (bd.ev != NULL)
		bd.ev->attrs.dropped = 4;
	otlp_build_event(&bd, 0, "second");
	if (bd.sp != NULL)
		bd.sp->events.dropped = 5;

	uint8_t ltid[16], lsid[8];
	memset(ltid, 0x11, 16);
	memset(lsid, 0x22, 8);
	otlp_build_link(&bd, ltid, lsid);
	if (bd.ln != NULL) {
		bd.ln->trace_state = otlp_batch_strdup(bd.batch, "k=v", 3);
		bd.ln->flags = 1;
	}
	otlp_build_int(&bd, OTLP_TO_LINK, "link.n", 1);
	if (bd.ln != NULL)
		bd.ln->attrs.dropped = 6;
	if (bd.sp != NULL)
		bd.sp->links.dropped = 7;
	otlp_build_status(&bd, OTLP_STATUS_ERROR, "upstream failed");

	/* A minimal root span and one with status OK, no message. */
	fx_span(&bd, 2);
	otlp_build_status(&bd, OTLP_STATUS_OK, NULL);
	fx_ids(3, tid, sid);
	otlp_build_span(&bd, tid, sid, NULL, NULL, OTLP_SPAN_KIND_UNSPECIFIED,
			1700000000000000000ull + 3000, 1700000000000000000ull + 3000 + 12345);

	/* A second scope without a scope message, a second resource. */
	otlp_build_scope(&bd, NULL, NULL);
	fx_span(&bd, 4);
	otlp_build_resource(&bd, "payments");
	otlp_build_scope(&bd, "other", NULL);
	fx_span(&bd, 5);
	return otlp_builder_take(&bd);
}

/* ---- comparison: returns false and fills why on the first difference ---- */

static inline bool fx_bytes_eq(struct otlp_bytes a, struct otlp_bytes b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

#define FX_CHECK(cond, ...)                                                \
	do {                                                               \
		if (!(cond)) {                                             \
			snprintf(why, whylen, __VA_ARGS__);                \
			return false;                                      \
		}                                                          \
	} while (0)

static bool fx_attrs_eq(const struct otlp_kv *a, const struct otlp_kv *b, char *why, size_t whylen);

static bool fx_any_eq(const struct otlp_any *a, const struct otlp_any *b, char *why, size_t whylen)
{
	FX_CHECK(a->type == b->type, "value type %d vs %d", a->type, b->type);
	switch (a->type) {
	case OTLP_VALUE_EMPTY:
		return true;
	case OTLP_VALUE_STRING:
	case OTLP_VALUE_BYTES:
		FX_CHECK(fx_bytes_eq(a->u.str, b->u.str), "string value %.*s vs %.*s",
			 (int)a->u.str.len, (const char *)a->u.str.ptr, (int)b->u.str.len,
			 (const char *)b->u.str.ptr);
		return true;
	case OTLP_VALUE_BOOL:
		FX_CHECK(a->u.b == b->u.b, "bool value");
		return true;
	case OTLP_VALUE_INT:
		FX_CHECK(a->u.i == b->u.i, "int value %lld vs %lld", (long long)a->u.i,
			 (long long)b->u.i);
		return true;
	case OTLP_VALUE_DOUBLE:
		FX_CHECK(memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0 ||
				 (isnan(a->u.d) && isnan(b->u.d)),
			 "double value %g vs %g", a->u.d, b->u.d);
		return true;
	case OTLP_VALUE_ARRAY: {
		FX_CHECK(a->u.array.n == b->u.array.n, "array n %u vs %u", a->u.array.n,
			 b->u.array.n);
		const struct otlp_any_item *x = a->u.array.head, *y = b->u.array.head;
		for (; x && y; x = x->next, y = y->next)
			if (!fx_any_eq(&x->value, &y->value, why, whylen))
				return false;
		FX_CHECK(!x && !y, "array length");
		return true;
	}
	case OTLP_VALUE_KVLIST:
		FX_CHECK(a->u.kvlist.n == b->u.kvlist.n, "kvlist n");
		return fx_attrs_eq(a->u.kvlist.head, b->u.kvlist.head, why, whylen);
	}
	return false;
}

static bool fx_attrs_eq(const struct otlp_kv *a, const struct otlp_kv *b, char *why, size_t whylen)
{
	for (; a && b; a = a->next, b = b->next) {
		FX_CHECK(fx_bytes_eq(a->key, b->key), "key %.*s vs %.*s", (int)a->key.len,
			 (const char *)a->key.ptr, (int)b->key.len, (const char *)b->key.ptr);
		if (!fx_any_eq(&a->value, &b->value, why, whylen))
			return false;
	}
	FX_CHECK(!a && !b, "attribute list length");
	return true;
}

static bool fx_attrlist_eq(const struct otlp_attrs *a, const struct otlp_attrs *b, char *why,
			   size_t whylen)
{
	FX_CHECK(a->n == b->n, "attrs n %u vs %u", a->n, b->n);
	FX_CHECK(a->dropped == b->dropped, "attrs dropped %u vs %u", a->dropped, b->dropped);
	return fx_attrs_eq(a->head, b->head, why, whylen);
}

static bool fx_span_eq(const struct otlp_span *a, const struct otlp_span *b, char *why, size_t whylen)
{
	FX_CHECK(memcmp(a->trace_id, b->trace_id, 16) == 0, "trace_id");
	FX_CHECK(memcmp(a->span_id, b->span_id, 8) == 0, "span_id");
	FX_CHECK(a->has_parent == b->has_parent, "has_parent");
	FX_CHECK(memcmp(a->parent_span_id, b->parent_span_id, 8) == 0, "parent_span_id");
	FX_CHECK(fx_bytes_eq(a->trace_state, b->trace_state), "trace_state");
	FX_CHECK(a->flags == b->flags, "flags %u vs %u", a->flags, b->flags);
	FX_CHECK(fx_bytes_eq(a->name, b->name), "name");
	FX_CHECK(a->kind == b->kind, "kind %d vs %d", a->kind, b->kind);
	FX_CHECK(a->start_time_unix_nano == b->start_time_unix_nano, "start");
	FX_CHECK(a->end_time_unix_nano == b->end_time_unix_nano, "end");
	if (!fx_attrlist_eq(&a->attrs, &b->attrs, why, whylen))
		return false;
	FX_CHECK(a->events.n == b->events.n && a->events.dropped == b->events.dropped, "events n");
	const struct otlp_event *e = a->events.head, *f = b->events.head;
	for (; e && f; e = e->next, f = f->next) {
		FX_CHECK(e->time_unix_nano == f->time_unix_nano, "event time");
		FX_CHECK(fx_bytes_eq(e->name, f->name), "event name");
		if (!fx_attrlist_eq(&e->attrs, &f->attrs, why, whylen))
			return false;
	}
	FX_CHECK(!e && !f, "events length");
	FX_CHECK(a->links.n == b->links.n && a->links.dropped == b->links.dropped, "links n");
	const struct otlp_link *l = a->links.head, *m = b->links.head;
	for (; l && m; l = l->next, m = m->next) {
		FX_CHECK(memcmp(l->trace_id, m->trace_id, 16) == 0, "link trace_id");
		FX_CHECK(memcmp(l->span_id, m->span_id, 8) == 0, "link span_id");
		FX_CHECK(fx_bytes_eq(l->trace_state, m->trace_state), "link trace_state");
		FX_CHECK(l->flags == m->flags, "link flags");
		if (!fx_attrlist_eq(&l->attrs, &m->attrs, why, whylen))
			return false;
	}
	FX_CHECK(!l && !m, "links length");
	FX_CHECK(a->status.code == b->status.code, "status code");
	FX_CHECK(fx_bytes_eq(a->status.message, b->status.message), "status message");
	return true;
}

static inline bool fx_batch_eq(const struct otlp_batch *a, const struct otlp_batch *b, char *why,
			       size_t whylen)
{
	FX_CHECK(a->n_resource_spans == b->n_resource_spans, "n_resource_spans %u vs %u",
		 a->n_resource_spans, b->n_resource_spans);
	FX_CHECK(a->n_spans == b->n_spans, "n_spans %llu vs %llu",
		 (unsigned long long)a->n_spans, (unsigned long long)b->n_spans);
	const struct otlp_resource_spans *r = a->resource_spans, *q = b->resource_spans;
	for (; r && q; r = r->next, q = q->next) {
		if (!fx_attrlist_eq(&r->resource_attrs, &q->resource_attrs, why, whylen))
			return false;
		FX_CHECK(fx_bytes_eq(r->schema_url, q->schema_url), "resource schema_url");
		FX_CHECK(r->n_scope_spans == q->n_scope_spans, "n_scope_spans");
		const struct otlp_scope_spans *s = r->scope_spans, *t = q->scope_spans;
		for (; s && t; s = s->next, t = t->next) {
			FX_CHECK(fx_bytes_eq(s->scope_name, t->scope_name), "scope name");
			FX_CHECK(fx_bytes_eq(s->scope_version, t->scope_version), "scope version");
			FX_CHECK(fx_bytes_eq(s->schema_url, t->schema_url), "scope schema_url");
			if (!fx_attrlist_eq(&s->scope_attrs, &t->scope_attrs, why, whylen))
				return false;
			FX_CHECK(s->n_spans == t->n_spans, "n_spans of scope");
			const struct otlp_span *x = s->spans, *y = t->spans;
			for (; x && y; x = x->next, y = y->next)
				if (!fx_span_eq(x, y, why, whylen))
					return false;
			FX_CHECK(!x && !y, "span list length");
		}
		FX_CHECK(!s && !t, "scope list length");
	}
	FX_CHECK(!r && !q, "resource list length");
	return true;
}

#endif /* TERN_TESTS_PROTO_FIXTURE_H */
