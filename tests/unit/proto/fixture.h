/*
 * fixture.h: builds test batches by hand and compares batches field by
 * field. Shared by the proto unit tests (header-only, static functions).
 */
#ifndef TERN_TESTS_PROTO_FIXTURE_H
#define TERN_TESTS_PROTO_FIXTURE_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "otlp.h"

static inline struct otlp_bytes fx_str(struct otlp_batch *b, const char *s)
{
	return otlp_batch_strdup(b, s, strlen(s));
}

static inline struct otlp_kv *fx_kv(struct otlp_batch *b, struct otlp_attrs *a, const char *key)
{
	struct otlp_kv *kv = otlp_batch_alloc(b, sizeof *kv);
	kv->key = fx_str(b, key);
	struct otlp_kv **t = &a->head;
	while (*t)
		t = &(*t)->next;
	*t = kv;
	a->n++;
	return kv;
}

static inline void fx_kv_str(struct otlp_batch *b, struct otlp_attrs *a, const char *k, const char *v)
{
	struct otlp_kv *kv = fx_kv(b, a, k);
	kv->value.type = OTLP_VALUE_STRING;
	kv->value.u.str = fx_str(b, v);
}

static inline void fx_kv_int(struct otlp_batch *b, struct otlp_attrs *a, const char *k, int64_t v)
{
	struct otlp_kv *kv = fx_kv(b, a, k);
	kv->value.type = OTLP_VALUE_INT;
	kv->value.u.i = v;
}

static inline struct otlp_any_item *fx_item(struct otlp_batch *b, struct otlp_any *arr)
{
	struct otlp_any_item *it = otlp_batch_alloc(b, sizeof *it);
	struct otlp_any_item **t = &arr->u.array.head;
	while (*t)
		t = &(*t)->next;
	*t = it;
	arr->u.array.n++;
	return it;
}

static inline struct otlp_resource_spans *fx_rs(struct otlp_batch *b)
{
	struct otlp_resource_spans *rs = otlp_batch_alloc(b, sizeof *rs);
	struct otlp_resource_spans **t = &b->resource_spans;
	while (*t)
		t = &(*t)->next;
	*t = rs;
	b->n_resource_spans++;
	return rs;
}

static inline struct otlp_scope_spans *fx_ss(struct otlp_batch *b, struct otlp_resource_spans *rs)
{
	struct otlp_scope_spans *ss = otlp_batch_alloc(b, sizeof *ss);
	struct otlp_scope_spans **t = &rs->scope_spans;
	while (*t)
		t = &(*t)->next;
	*t = ss;
	rs->n_scope_spans++;
	return ss;
}

/* Appends a span with ids derived from i. tail caches the list end. */
static inline struct otlp_span *fx_span(struct otlp_batch *b, struct otlp_scope_spans *ss,
					struct otlp_span ***tail, uint64_t i)
{
	struct otlp_span *s = otlp_batch_alloc(b, sizeof *s);
	for (int k = 0; k < 16; k++)
		s->trace_id[k] = (uint8_t)(0xa0 + k + i * 7);
	s->trace_id[0] = 0x4b; /* never all zero */
	for (int k = 0; k < 8; k++)
		s->span_id[k] = (uint8_t)(i >> (8 * k));
	s->span_id[7] |= 0x80;
	s->start_time_unix_nano = 1700000000000000000ull + i * 1000;
	s->end_time_unix_nano = s->start_time_unix_nano + 12345;
	s->kind = OTLP_SPAN_KIND_SERVER;
	s->name = fx_str(b, "GET /api/items");
	struct otlp_span **t;
	if (tail && *tail) {
		t = *tail;
	} else {
		t = &ss->spans;
		while (*t)
			t = &(*t)->next;
	}
	*t = s;
	if (tail)
		*tail = &s->next;
	ss->n_spans++;
	b->n_spans++;
	return s;
}

/* A batch that uses every field and every value type. */
static inline struct otlp_batch *fx_full_batch(void)
{
	struct otlp_batch *b = otlp_batch_new();
	struct otlp_resource_spans *rs = fx_rs(b);
	fx_kv_str(b, &rs->resource_attrs, "service.name", "checkout");
	fx_kv_str(b, &rs->resource_attrs, "host.name", "web-1");
	rs->resource_attrs.dropped = 2;
	rs->schema_url = fx_str(b, "https://opentelemetry.io/schemas/1.21.0");
	struct otlp_scope_spans *ss = fx_ss(b, rs);
	ss->scope_name = fx_str(b, "tern.test");
	ss->scope_version = fx_str(b, "1.2.3");
	fx_kv_str(b, &ss->scope_attrs, "scope.attr", "x");
	ss->scope_attrs.dropped = 1;
	ss->schema_url = fx_str(b, "https://example.com/scope");

	struct otlp_span *s = fx_span(b, ss, NULL, 1);
	s->trace_state = fx_str(b, "rojo=00f067aa0ba902b7");
	memcpy(s->parent_span_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	s->has_parent = true;
	s->flags = 0x301;
	s->kind = OTLP_SPAN_KIND_CLIENT;
	fx_kv_str(b, &s->attrs, "http.method", "GET");
	fx_kv_str(b, &s->attrs, "empty.string", "");
	fx_kv_int(b, &s->attrs, "http.status_code", 200);
	fx_kv_int(b, &s->attrs, "negative", -5);
	fx_kv_int(b, &s->attrs, "zero", 0);
	struct otlp_kv *kv = fx_kv(b, &s->attrs, "ok");
	kv->value.type = OTLP_VALUE_BOOL;
	kv->value.u.b = true;
	kv = fx_kv(b, &s->attrs, "notok");
	kv->value.type = OTLP_VALUE_BOOL;
	kv = fx_kv(b, &s->attrs, "ratio");
	kv->value.type = OTLP_VALUE_DOUBLE;
	kv->value.u.d = 0.25;
	kv = fx_kv(b, &s->attrs, "neg.double");
	kv->value.type = OTLP_VALUE_DOUBLE;
	kv->value.u.d = -1e300;
	kv = fx_kv(b, &s->attrs, "blob");
	kv->value.type = OTLP_VALUE_BYTES;
	kv->value.u.str = otlp_batch_strdup(b, "\x00\xff\x10", 3);
	kv = fx_kv(b, &s->attrs, "nothing");
	kv->value.type = OTLP_VALUE_EMPTY;
	kv = fx_kv(b, &s->attrs, "list");
	kv->value.type = OTLP_VALUE_ARRAY;
	struct otlp_any_item *it = fx_item(b, &kv->value);
	it->value.type = OTLP_VALUE_STRING;
	it->value.u.str = fx_str(b, "a");
	it = fx_item(b, &kv->value);
	it->value.type = OTLP_VALUE_INT;
	it->value.u.i = 7;
	it = fx_item(b, &kv->value);
	it->value.type = OTLP_VALUE_KVLIST;
	{
		struct otlp_attrs tmp = { 0 };
		fx_kv_str(b, &tmp, "inner", "v");
		struct otlp_kv *in = fx_kv(b, &tmp, "deeper");
		in->value.type = OTLP_VALUE_ARRAY;
		struct otlp_any_item *it2 = fx_item(b, &in->value);
		it2->value.type = OTLP_VALUE_DOUBLE;
		it2->value.u.d = 3.5;
		it->value.u.kvlist.head = tmp.head;
		it->value.u.kvlist.n = tmp.n;
	}
	kv = fx_kv(b, &s->attrs, "empty.list");
	kv->value.type = OTLP_VALUE_ARRAY;
	kv = fx_kv(b, &s->attrs, "empty.map");
	kv->value.type = OTLP_VALUE_KVLIST;
	s->attrs.dropped = 3;

	struct otlp_event *e = otlp_batch_alloc(b, sizeof *e);
	e->time_unix_nano = s->start_time_unix_nano + 5;
	e->name = fx_str(b, "exception");
	fx_kv_str(b, &e->attrs, "exception.message", "boom");
	e->attrs.dropped = 4;
	s->events.head = e;
	e = otlp_batch_alloc(b, sizeof *e);
	e->name = fx_str(b, "second");
	s->events.head->next = e;
	s->events.n = 2;
	s->events.dropped = 5;

	struct otlp_link *l = otlp_batch_alloc(b, sizeof *l);
	memset(l->trace_id, 0x11, 16);
	memset(l->span_id, 0x22, 8);
	l->trace_state = fx_str(b, "k=v");
	fx_kv_int(b, &l->attrs, "link.n", 1);
	l->attrs.dropped = 6;
	l->flags = 1;
	s->links.head = l;
	s->links.n = 1;
	s->links.dropped = 7;
	s->status.code = OTLP_STATUS_ERROR;
	s->status.message = fx_str(b, "upstream failed");
	s->attrs.n = s->attrs.n; /* counted by fx_kv */

	/* A minimal root span and one with status OK, no message. */
	struct otlp_span *s2 = fx_span(b, ss, NULL, 2);
	s2->status.code = OTLP_STATUS_OK;
	struct otlp_span *s3 = fx_span(b, ss, NULL, 3);
	s3->name.ptr = NULL;
	s3->name.len = 0;
	s3->kind = OTLP_SPAN_KIND_UNSPECIFIED;

	/* A second scope without a scope message, a second resource. */
	struct otlp_scope_spans *ss2 = fx_ss(b, rs);
	fx_span(b, ss2, NULL, 4);
	struct otlp_resource_spans *rs2 = fx_rs(b);
	fx_kv_str(b, &rs2->resource_attrs, "service.name", "payments");
	struct otlp_scope_spans *ss3 = fx_ss(b, rs2);
	ss3->scope_name = fx_str(b, "other");
	fx_span(b, ss3, NULL, 5);
	return b;
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
