/*
 * encode_proto.c: struct otlp_batch -> ExportTraceServiceRequest (protobuf).
 *
 * A small hand-written writer, not nanopb's pb_encode. nanopb encodes a
 * callback submessage by running its encoder once to size it and once to
 * write it, at every nesting level, so a value at depth d is encoded 2^d
 * times (a span attribute sits at depth 5: request > ResourceSpans >
 * ScopeSpans > Span > KeyValue > AnyValue). Here pass 1 walks the model once
 * and records every message's length in pre-order; pass 2 walks it again
 * and writes, taking the lengths in the same order. Each byte is computed
 * once. docs/proto.md has the measured difference.
 *
 * Field numbers come from the generated nanopb header, the wire contract.
 * Output is canonical: fields in field-number order, proto3 defaults left
 * out, oneof members written even when zero (they have presence).
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "trace_service.pb.h"

#define F_REQ_RS opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_resource_spans_tag
#define F_RS_RESOURCE opentelemetry_proto_trace_v1_ResourceSpans_resource_tag
#define F_RS_SCOPE_SPANS opentelemetry_proto_trace_v1_ResourceSpans_scope_spans_tag
#define F_RS_SCHEMA opentelemetry_proto_trace_v1_ResourceSpans_schema_url_tag
#define F_RES_ATTRS opentelemetry_proto_resource_v1_Resource_attributes_tag
#define F_RES_DROPPED opentelemetry_proto_resource_v1_Resource_dropped_attributes_count_tag
#define F_SS_SCOPE opentelemetry_proto_trace_v1_ScopeSpans_scope_tag
#define F_SS_SPANS opentelemetry_proto_trace_v1_ScopeSpans_spans_tag
#define F_SS_SCHEMA opentelemetry_proto_trace_v1_ScopeSpans_schema_url_tag
#define F_SC_NAME opentelemetry_proto_common_v1_InstrumentationScope_name_tag
#define F_SC_VERSION opentelemetry_proto_common_v1_InstrumentationScope_version_tag
#define F_SC_ATTRS opentelemetry_proto_common_v1_InstrumentationScope_attributes_tag
#define F_SC_DROPPED opentelemetry_proto_common_v1_InstrumentationScope_dropped_attributes_count_tag
#define F_SP(x) opentelemetry_proto_trace_v1_Span_##x##_tag
#define F_EV(x) opentelemetry_proto_trace_v1_Span_Event_##x##_tag
#define F_LN(x) opentelemetry_proto_trace_v1_Span_Link_##x##_tag
#define F_ST(x) opentelemetry_proto_trace_v1_Status_##x##_tag
#define F_KV_KEY opentelemetry_proto_common_v1_KeyValue_key_tag
#define F_KV_VALUE opentelemetry_proto_common_v1_KeyValue_value_tag
#define F_AV(x) opentelemetry_proto_common_v1_AnyValue_##x##_tag
#define F_ARR_VALUES opentelemetry_proto_common_v1_ArrayValue_values_tag
#define F_KVL_VALUES opentelemetry_proto_common_v1_KeyValueList_values_tag

enum { WT_VARINT = 0, WT_64 = 1, WT_LEN = 2, WT_32 = 5 };
#define KEY(field, wt) ((uint32_t)(field) << 3 | (wt))

static inline size_t vsz(uint64_t v)
{
	/* bits / 7 rounded up, at least 1 */
	int bits = 64 - __builtin_clzll(v | 1);
	return (size_t)(bits * 9 + 64) / 64;
}

/* Pass 1 state: message lengths in pre-order. */
struct sizer {
	uint32_t *sz; /* NULL: only compute the total */
	size_t n, cap;
	bool oom;
};

static size_t slot(struct sizer *z)
{
	if (z->sz == NULL && z->cap == 0)
		return 0;
	if (z->n == z->cap) {
		size_t cap = z->cap * 2;
		uint32_t *n = realloc(z->sz, cap * sizeof *n);
		if (n == NULL) {
			z->oom = true;
			return 0;
		}
		z->sz = n;
		z->cap = cap;
	}
	return z->n++;
}

static void set_slot(struct sizer *z, size_t i, size_t len)
{
	if (z->cap == 0 || z->oom)
		return;
	if (len > UINT32_MAX)
		z->oom = true;
	else
		z->sz[i] = (uint32_t)len;
}

/* A length-delimited field of body length n, with its key. */
static inline size_t ld(uint32_t field, size_t n)
{
	return vsz(KEY(field, WT_LEN)) + vsz(n) + n;
}

static inline size_t opt_bytes(uint32_t field, struct otlp_bytes s)
{
	return s.len ? ld(field, s.len) : 0;
}

static inline size_t opt_varint(uint32_t field, uint64_t v)
{
	return v ? vsz(KEY(field, WT_VARINT)) + vsz(v) : 0;
}

static size_t sz_attrs(struct sizer *z, uint32_t field, const struct otlp_attrs *a);

static size_t sz_any(struct sizer *z, const struct otlp_any *v)
{
	size_t i = slot(z), n = 0;
	switch (v->type) {
	case OTLP_VALUE_EMPTY:
		break;
	case OTLP_VALUE_STRING:
		n = ld(F_AV(string_value), v->u.str.len);
		break;
	case OTLP_VALUE_BYTES:
		n = ld(F_AV(bytes_value), v->u.str.len);
		break;
	case OTLP_VALUE_BOOL:
		n = 2;
		break;
	case OTLP_VALUE_INT:
		n = 1 + vsz((uint64_t)v->u.i);
		break;
	case OTLP_VALUE_DOUBLE:
		n = 9;
		break;
	case OTLP_VALUE_ARRAY: {
		size_t j = slot(z), m = 0;
		for (const struct otlp_any_item *it = v->u.array.head; it; it = it->next)
			m += ld(F_ARR_VALUES, sz_any(z, &it->value));
		set_slot(z, j, m);
		n = ld(F_AV(array_value), m);
		break;
	}
	case OTLP_VALUE_KVLIST: {
		size_t j = slot(z);
		size_t m = sz_attrs(z, F_KVL_VALUES,
				    &(struct otlp_attrs){ v->u.kvlist.head, 0, 0 });
		set_slot(z, j, m);
		n = ld(F_AV(kvlist_value), m);
		break;
	}
	}
	set_slot(z, i, n);
	return n;
}

static size_t sz_attrs(struct sizer *z, uint32_t field, const struct otlp_attrs *a)
{
	size_t total = 0;
	for (const struct otlp_kv *kv = a->head; kv; kv = kv->next) {
		size_t i = slot(z);
		size_t n = opt_bytes(F_KV_KEY, kv->key) + ld(F_KV_VALUE, sz_any(z, &kv->value));
		set_slot(z, i, n);
		total += ld(field, n);
	}
	return total;
}

static size_t sz_span(struct sizer *z, const struct otlp_span *s)
{
	size_t i = slot(z);
	size_t n = ld(F_SP(trace_id), 16) + ld(F_SP(span_id), 8) +
		   opt_bytes(F_SP(trace_state), s->trace_state) +
		   (s->has_parent ? ld(F_SP(parent_span_id), 8) : 0) +
		   opt_bytes(F_SP(name), s->name) +
		   opt_varint(F_SP(kind), (uint64_t)(int64_t)(int32_t)s->kind) +
		   (s->start_time_unix_nano ? 9 : 0) + (s->end_time_unix_nano ? 9 : 0) +
		   sz_attrs(z, F_SP(attributes), &s->attrs) +
		   opt_varint(F_SP(dropped_attributes_count), s->attrs.dropped);
	for (const struct otlp_event *e = s->events.head; e; e = e->next) {
		size_t j = slot(z);
		size_t m = (e->time_unix_nano ? 9 : 0) + opt_bytes(F_EV(name), e->name) +
			   sz_attrs(z, F_EV(attributes), &e->attrs) +
			   opt_varint(F_EV(dropped_attributes_count), e->attrs.dropped);
		set_slot(z, j, m);
		n += ld(F_SP(events), m);
	}
	n += opt_varint(F_SP(dropped_events_count), s->events.dropped);
	for (const struct otlp_link *l = s->links.head; l; l = l->next) {
		size_t j = slot(z);
		size_t m = ld(F_LN(trace_id), 16) + ld(F_LN(span_id), 8) +
			   opt_bytes(F_LN(trace_state), l->trace_state) +
			   sz_attrs(z, F_LN(attributes), &l->attrs) +
			   opt_varint(F_LN(dropped_attributes_count), l->attrs.dropped) +
			   (l->flags ? 5 : 0);
		set_slot(z, j, m);
		n += ld(F_SP(links), m);
	}
	n += opt_varint(F_SP(dropped_links_count), s->links.dropped);
	if (s->status.code != OTLP_STATUS_UNSET || s->status.message.len) {
		size_t m = opt_bytes(F_ST(message), s->status.message) +
			   opt_varint(F_ST(code), (uint64_t)(int64_t)(int32_t)s->status.code);
		n += ld(F_SP(status), m);
	}
	if (s->flags)
		n += vsz(KEY(F_SP(flags), WT_32)) + 4;
	set_slot(z, i, n);
	return n;
}

static bool has_scope(const struct otlp_scope_spans *ss)
{
	return ss->scope_name.len || ss->scope_version.len || ss->scope_attrs.head ||
	       ss->scope_attrs.dropped;
}

static size_t sz_request(struct sizer *z, const struct otlp_batch *b)
{
	size_t total = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		size_t i = slot(z), n = 0;
		if (rs->resource_attrs.head || rs->resource_attrs.dropped) {
			size_t j = slot(z);
			size_t m = sz_attrs(z, F_RES_ATTRS, &rs->resource_attrs) +
				   opt_varint(F_RES_DROPPED, rs->resource_attrs.dropped);
			set_slot(z, j, m);
			n += ld(F_RS_RESOURCE, m);
		}
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			size_t j = slot(z), m = 0;
			if (has_scope(ss)) {
				size_t k = slot(z);
				size_t q = opt_bytes(F_SC_NAME, ss->scope_name) +
					   opt_bytes(F_SC_VERSION, ss->scope_version) +
					   sz_attrs(z, F_SC_ATTRS, &ss->scope_attrs) +
					   opt_varint(F_SC_DROPPED, ss->scope_attrs.dropped);
				set_slot(z, k, q);
				m += ld(F_SS_SCOPE, q);
			}
			for (const struct otlp_span *s = ss->spans; s; s = s->next)
				m += ld(F_SS_SPANS, sz_span(z, s));
			m += opt_bytes(F_SS_SCHEMA, ss->schema_url);
			set_slot(z, j, m);
			n += ld(F_RS_SCOPE_SPANS, m);
		}
		n += opt_bytes(F_RS_SCHEMA, rs->schema_url);
		set_slot(z, i, n);
		total += ld(F_REQ_RS, n);
	}
	return total;
}

size_t otlp_encoded_size(const struct otlp_batch *b)
{
	struct sizer z = { 0 };
	return sz_request(&z, b);
}

/* ---- pass 2 ---- */

struct writer {
	const uint32_t *sz;
	size_t i;
	uint8_t *p;
};

static inline void w_varint(struct writer *w, uint64_t v)
{
	uint8_t *p = w->p;
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	w->p = p;
}

static inline void w_key(struct writer *w, uint32_t field, int wt)
{
	w_varint(w, KEY(field, wt));
}

static inline void w_fixed64(struct writer *w, uint32_t field, uint64_t v)
{
	w_key(w, field, WT_64);
	for (int k = 0; k < 8; k++)
		w->p[k] = (uint8_t)(v >> (8 * k));
	w->p += 8;
}

static inline void w_fixed32(struct writer *w, uint32_t field, uint32_t v)
{
	w_key(w, field, WT_32);
	for (int k = 0; k < 4; k++)
		w->p[k] = (uint8_t)(v >> (8 * k));
	w->p += 4;
}

static inline void w_bytes(struct writer *w, uint32_t field, const void *p, size_t n)
{
	w_key(w, field, WT_LEN);
	w_varint(w, n);
	if (n)
		memcpy(w->p, p, n);
	w->p += n;
}

static inline void w_opt_bytes(struct writer *w, uint32_t field, struct otlp_bytes s)
{
	if (s.len)
		w_bytes(w, field, s.ptr, s.len);
}

static inline void w_opt_varint(struct writer *w, uint32_t field, uint64_t v)
{
	if (v) {
		w_key(w, field, WT_VARINT);
		w_varint(w, v);
	}
}

/* Key and length of a submessage whose length pass 1 recorded. */
static inline void w_msg(struct writer *w, uint32_t field)
{
	w_key(w, field, WT_LEN);
	w_varint(w, w->sz[w->i++]);
}

static void w_attrs(struct writer *w, uint32_t field, const struct otlp_kv *kv);

static void w_any(struct writer *w, uint32_t field, const struct otlp_any *v)
{
	w_msg(w, field);
	switch (v->type) {
	case OTLP_VALUE_EMPTY:
		break;
	case OTLP_VALUE_STRING:
		w_bytes(w, F_AV(string_value), v->u.str.ptr, v->u.str.len);
		break;
	case OTLP_VALUE_BYTES:
		w_bytes(w, F_AV(bytes_value), v->u.str.ptr, v->u.str.len);
		break;
	case OTLP_VALUE_BOOL:
		w_key(w, F_AV(bool_value), WT_VARINT);
		*w->p++ = v->u.b ? 1 : 0;
		break;
	case OTLP_VALUE_INT:
		w_key(w, F_AV(int_value), WT_VARINT);
		w_varint(w, (uint64_t)v->u.i);
		break;
	case OTLP_VALUE_DOUBLE: {
		uint64_t x;
		memcpy(&x, &v->u.d, sizeof x);
		w_fixed64(w, F_AV(double_value), x);
		break;
	}
	case OTLP_VALUE_ARRAY:
		w_msg(w, F_AV(array_value));
		for (const struct otlp_any_item *it = v->u.array.head; it; it = it->next)
			w_any(w, F_ARR_VALUES, &it->value);
		break;
	case OTLP_VALUE_KVLIST:
		w_msg(w, F_AV(kvlist_value));
		w_attrs(w, F_KVL_VALUES, v->u.kvlist.head);
		break;
	}
}

static void w_attrs(struct writer *w, uint32_t field, const struct otlp_kv *kv)
{
	for (; kv; kv = kv->next) {
		w_msg(w, field);
		w_opt_bytes(w, F_KV_KEY, kv->key);
		w_any(w, F_KV_VALUE, &kv->value);
	}
}

static void w_span(struct writer *w, const struct otlp_span *s)
{
	w_msg(w, F_SS_SPANS);
	w_bytes(w, F_SP(trace_id), s->trace_id, 16);
	w_bytes(w, F_SP(span_id), s->span_id, 8);
	w_opt_bytes(w, F_SP(trace_state), s->trace_state);
	if (s->has_parent)
		w_bytes(w, F_SP(parent_span_id), s->parent_span_id, 8);
	w_opt_bytes(w, F_SP(name), s->name);
	w_opt_varint(w, F_SP(kind), (uint64_t)(int64_t)(int32_t)s->kind);
	if (s->start_time_unix_nano)
		w_fixed64(w, F_SP(start_time_unix_nano), s->start_time_unix_nano);
	if (s->end_time_unix_nano)
		w_fixed64(w, F_SP(end_time_unix_nano), s->end_time_unix_nano);
	w_attrs(w, F_SP(attributes), s->attrs.head);
	w_opt_varint(w, F_SP(dropped_attributes_count), s->attrs.dropped);
	for (const struct otlp_event *e = s->events.head; e; e = e->next) {
		w_msg(w, F_SP(events));
		if (e->time_unix_nano)
			w_fixed64(w, F_EV(time_unix_nano), e->time_unix_nano);
		w_opt_bytes(w, F_EV(name), e->name);
		w_attrs(w, F_EV(attributes), e->attrs.head);
		w_opt_varint(w, F_EV(dropped_attributes_count), e->attrs.dropped);
	}
	w_opt_varint(w, F_SP(dropped_events_count), s->events.dropped);
	for (const struct otlp_link *l = s->links.head; l; l = l->next) {
		w_msg(w, F_SP(links));
		w_bytes(w, F_LN(trace_id), l->trace_id, 16);
		w_bytes(w, F_LN(span_id), l->span_id, 8);
		w_opt_bytes(w, F_LN(trace_state), l->trace_state);
		w_attrs(w, F_LN(attributes), l->attrs.head);
		w_opt_varint(w, F_LN(dropped_attributes_count), l->attrs.dropped);
		if (l->flags)
			w_fixed32(w, F_LN(flags), l->flags);
	}
	w_opt_varint(w, F_SP(dropped_links_count), s->links.dropped);
	if (s->status.code != OTLP_STATUS_UNSET || s->status.message.len) {
		/* Status has no slot: its length is cheap to recompute. */
		uint64_t code = (uint64_t)(int64_t)(int32_t)s->status.code;
		size_t m = opt_bytes(F_ST(message), s->status.message) +
			   opt_varint(F_ST(code), code);
		w_key(w, F_SP(status), WT_LEN);
		w_varint(w, m);
		w_opt_bytes(w, F_ST(message), s->status.message);
		w_opt_varint(w, F_ST(code), code);
	}
	if (s->flags)
		w_fixed32(w, F_SP(flags), s->flags);
}

static void w_request(struct writer *w, const struct otlp_batch *b)
{
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		w_msg(w, F_REQ_RS);
		if (rs->resource_attrs.head || rs->resource_attrs.dropped) {
			w_msg(w, F_RS_RESOURCE);
			w_attrs(w, F_RES_ATTRS, rs->resource_attrs.head);
			w_opt_varint(w, F_RES_DROPPED, rs->resource_attrs.dropped);
		}
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			w_msg(w, F_RS_SCOPE_SPANS);
			if (has_scope(ss)) {
				w_msg(w, F_SS_SCOPE);
				w_opt_bytes(w, F_SC_NAME, ss->scope_name);
				w_opt_bytes(w, F_SC_VERSION, ss->scope_version);
				w_attrs(w, F_SC_ATTRS, ss->scope_attrs.head);
				w_opt_varint(w, F_SC_DROPPED, ss->scope_attrs.dropped);
			}
			for (const struct otlp_span *s = ss->spans; s; s = s->next)
				w_span(w, s);
			w_opt_bytes(w, F_SS_SCHEMA, ss->schema_url);
		}
		w_opt_bytes(w, F_RS_SCHEMA, rs->schema_url);
	}
}

int otlp_encode_proto(const struct otlp_batch *b, uint8_t **out, size_t *out_len)
{
	struct sizer z = { 0 };
	z.cap = 64 + 16 * (size_t)b->n_spans;
	z.sz = malloc(z.cap * sizeof *z.sz);
	if (z.sz == NULL)
		return -ENOMEM;
	size_t len = sz_request(&z, b);
	if (z.oom) {
		free(z.sz);
		return -ENOMEM;
	}
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL) {
		free(z.sz);
		return -ENOMEM;
	}
	struct writer w = { z.sz, 0, buf };
	w_request(&w, b);
	/* Pass 2 writes exactly what pass 1 measured (tests check it). */
	assert((size_t)(w.p - buf) == len && w.i == z.n);
	free(z.sz);
	*out = buf;
	*out_len = len;
	return 0;
}
