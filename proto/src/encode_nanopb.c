/*
 * encode_nanopb.c: the same encoding as encode_proto.c, done the plain
 * nanopb way (pb_encode with callback fields). Not used by the codec: it
 * is the reference that test_proto.c compares the hand-written writer
 * with byte for byte, and that bench/codec measures it against (nanopb
 * sizes each callback submessage by encoding it once more, per level).
 */
#include <errno.h>
#include <stdlib.h>

#include <pb_encode.h>

#include "internal.h"
#include "trace_service.pb.h"

static bool enc_bytes_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const struct otlp_bytes *s = *arg;
	if (s->len == 0)
		return true;
	return pb_encode_tag_for_field(st, f) && pb_encode_string(st, s->ptr, s->len);
}

/* Fixed ids: arg points at 16 or 8 bytes; the length is in the tag. */
struct fixed_id {
	const uint8_t *p;
	size_t n;
};

static bool enc_id_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const struct fixed_id *id = *arg;
	return pb_encode_tag_for_field(st, f) && pb_encode_string(st, id->p, id->n);
}

#define SET_BYTES(cb, ptr_)                                                \
	do {                                                               \
		(cb).funcs.encode = enc_bytes_cb;                          \
		(cb).arg = (void *)(ptr_);                                 \
	} while (0)

static bool enc_any_msg(pb_ostream_t *st, const struct otlp_any *v);
static bool enc_kv_list_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg);

static bool enc_any_field_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const struct otlp_any *v = *arg;
	switch (f->tag) {
	case opentelemetry_proto_common_v1_AnyValue_string_value_tag:
		if (v->type != OTLP_VALUE_STRING)
			return true;
		return pb_encode_tag_for_field(st, f) &&
		       pb_encode_string(st, v->u.str.ptr, v->u.str.len);
	case opentelemetry_proto_common_v1_AnyValue_bytes_value_tag:
		if (v->type != OTLP_VALUE_BYTES)
			return true;
		return pb_encode_tag_for_field(st, f) &&
		       pb_encode_string(st, v->u.str.ptr, v->u.str.len);
	case opentelemetry_proto_common_v1_AnyValue_bool_value_tag:
		if (v->type != OTLP_VALUE_BOOL)
			return true;
		return pb_encode_tag_for_field(st, f) && pb_encode_varint(st, v->u.b);
	case opentelemetry_proto_common_v1_AnyValue_int_value_tag:
		if (v->type != OTLP_VALUE_INT)
			return true;
		return pb_encode_tag_for_field(st, f) && pb_encode_varint(st, (uint64_t)v->u.i);
	case opentelemetry_proto_common_v1_AnyValue_double_value_tag:
		if (v->type != OTLP_VALUE_DOUBLE)
			return true;
		return pb_encode_tag_for_field(st, f) && pb_encode_fixed64(st, &v->u.d);
	case opentelemetry_proto_common_v1_AnyValue_array_value_tag: {
		if (v->type != OTLP_VALUE_ARRAY)
			return true;
		if (!pb_encode_tag_for_field(st, f))
			return false;
		/* The ArrayValue submessage: sized through nanopb's sizing
		 * stream, then written, as pb_encode_submessage does. */
		pb_ostream_t sz = PB_OSTREAM_SIZING;
		for (int pass = 0; pass < 2; pass++) {
			pb_ostream_t *o = pass == 0 ? &sz : st;
			if (pass == 1 && !pb_encode_varint(st, sz.bytes_written))
				return false;
			for (const struct otlp_any_item *i = v->u.array.head; i; i = i->next)
				if (!pb_encode_tag(o, PB_WT_STRING,
						   opentelemetry_proto_common_v1_ArrayValue_values_tag) ||
				    !enc_any_msg(o, &i->value))
					return false;
		}
		return true;
	}
	case opentelemetry_proto_common_v1_AnyValue_kvlist_value_tag: {
		if (v->type != OTLP_VALUE_KVLIST)
			return true;
		opentelemetry_proto_common_v1_KeyValueList m = { 0 };
		m.values.funcs.encode = enc_kv_list_cb;
		m.values.arg = v->u.kvlist.head;
		return pb_encode_tag_for_field(st, f) &&
		       pb_encode_submessage(st, opentelemetry_proto_common_v1_KeyValueList_fields, &m);
	}
	}
	return true;
}

/* An AnyValue as a length-delimited submessage (tag already written). */
static bool enc_any_msg(pb_ostream_t *st, const struct otlp_any *v)
{
	opentelemetry_proto_common_v1_AnyValue m;
	m.string_value.funcs.encode = m.bool_value.funcs.encode = m.int_value.funcs.encode =
		m.double_value.funcs.encode = m.array_value.funcs.encode =
			m.kvlist_value.funcs.encode = m.bytes_value.funcs.encode = enc_any_field_cb;
	m.string_value.arg = m.bool_value.arg = m.int_value.arg = m.double_value.arg =
		m.array_value.arg = m.kvlist_value.arg = m.bytes_value.arg = (void *)v;
	return pb_encode_submessage(st, opentelemetry_proto_common_v1_AnyValue_fields, &m);
}

static bool enc_kv_value_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	return pb_encode_tag_for_field(st, f) && enc_any_msg(st, *arg);
}

static bool enc_kv_list_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	for (const struct otlp_kv *kv = *arg; kv; kv = kv->next) {
		opentelemetry_proto_common_v1_KeyValue m;
		SET_BYTES(m.key, &kv->key);
		m.value.funcs.encode = enc_kv_value_cb;
		m.value.arg = (void *)&kv->value;
		if (!pb_encode_tag_for_field(st, f) ||
		    !pb_encode_submessage(st, opentelemetry_proto_common_v1_KeyValue_fields, &m))
			return false;
	}
	return true;
}

#define SET_ATTRS(cb, head_)                                               \
	do {                                                               \
		(cb).funcs.encode = enc_kv_list_cb;                        \
		(cb).arg = (void *)(head_);                                \
	} while (0)

static bool enc_events_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	for (const struct otlp_event *e = *arg; e; e = e->next) {
		opentelemetry_proto_trace_v1_Span_Event m = { 0 };
		m.time_unix_nano = e->time_unix_nano;
		SET_BYTES(m.name, &e->name);
		SET_ATTRS(m.attributes, e->attrs.head);
		m.dropped_attributes_count = e->attrs.dropped;
		if (!pb_encode_tag_for_field(st, f) ||
		    !pb_encode_submessage(st, opentelemetry_proto_trace_v1_Span_Event_fields, &m))
			return false;
	}
	return true;
}

static bool enc_links_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	for (const struct otlp_link *l = *arg; l; l = l->next) {
		opentelemetry_proto_trace_v1_Span_Link m = { 0 };
		struct fixed_id tid = { l->trace_id, 16 }, sid = { l->span_id, 8 };
		m.trace_id.funcs.encode = enc_id_cb;
		m.trace_id.arg = &tid;
		m.span_id.funcs.encode = enc_id_cb;
		m.span_id.arg = &sid;
		SET_BYTES(m.trace_state, &l->trace_state);
		SET_ATTRS(m.attributes, l->attrs.head);
		m.dropped_attributes_count = l->attrs.dropped;
		m.flags = l->flags;
		if (!pb_encode_tag_for_field(st, f) ||
		    !pb_encode_submessage(st, opentelemetry_proto_trace_v1_Span_Link_fields, &m))
			return false;
	}
	return true;
}

/* Enums are callbacks (see trace.options): arg points at the int. */
static bool enc_enum_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const int *v = *arg;
	if (*v == 0)
		return true;
	return pb_encode_tag_for_field(st, f) && pb_encode_varint(st, (uint64_t)(int64_t)*v);
}

static bool enc_status_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const struct otlp_span *s = *arg;
	if (s->status.code == OTLP_STATUS_UNSET && s->status.message.len == 0)
		return true;
	opentelemetry_proto_trace_v1_Status m = { 0 };
	SET_BYTES(m.message, &s->status.message);
	int code = (int)s->status.code;
	m.code.funcs.encode = enc_enum_cb;
	m.code.arg = &code;
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_submessage(st, opentelemetry_proto_trace_v1_Status_fields, &m);
}

static bool enc_spans_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	for (const struct otlp_span *s = *arg; s; s = s->next) {
		opentelemetry_proto_trace_v1_Span m = { 0 };
		struct fixed_id tid = { s->trace_id, 16 }, sid = { s->span_id, 8 },
				pid = { s->parent_span_id, 8 };
		m.trace_id.funcs.encode = enc_id_cb;
		m.trace_id.arg = &tid;
		m.span_id.funcs.encode = enc_id_cb;
		m.span_id.arg = &sid;
		if (s->has_parent) {
			m.parent_span_id.funcs.encode = enc_id_cb;
			m.parent_span_id.arg = &pid;
		}
		SET_BYTES(m.trace_state, &s->trace_state);
		SET_BYTES(m.name, &s->name);
		int kind = (int)s->kind;
		m.kind.funcs.encode = enc_enum_cb;
		m.kind.arg = &kind;
		m.start_time_unix_nano = s->start_time_unix_nano;
		m.end_time_unix_nano = s->end_time_unix_nano;
		SET_ATTRS(m.attributes, s->attrs.head);
		m.dropped_attributes_count = s->attrs.dropped;
		m.events.funcs.encode = enc_events_cb;
		m.events.arg = s->events.head;
		m.dropped_events_count = s->events.dropped;
		m.links.funcs.encode = enc_links_cb;
		m.links.arg = s->links.head;
		m.dropped_links_count = s->links.dropped;
		m.status.funcs.encode = enc_status_cb;
		m.status.arg = (void *)s;
		m.flags = s->flags;
		if (!pb_encode_tag_for_field(st, f) ||
		    !pb_encode_submessage(st, opentelemetry_proto_trace_v1_Span_fields, &m))
			return false;
	}
	return true;
}

static bool enc_scope_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const struct otlp_scope_spans *ss = *arg;
	if (!(ss->scope_name.len || ss->scope_version.len || ss->scope_attrs.head ||
	      ss->scope_attrs.dropped))
		return true;
	opentelemetry_proto_common_v1_InstrumentationScope m = { 0 };
	SET_BYTES(m.name, &ss->scope_name);
	SET_BYTES(m.version, &ss->scope_version);
	SET_ATTRS(m.attributes, ss->scope_attrs.head);
	m.dropped_attributes_count = ss->scope_attrs.dropped;
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_submessage(st, opentelemetry_proto_common_v1_InstrumentationScope_fields,
				    &m);
}

static bool enc_scope_spans_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	for (const struct otlp_scope_spans *ss = *arg; ss; ss = ss->next) {
		opentelemetry_proto_trace_v1_ScopeSpans m;
		m.scope.funcs.encode = enc_scope_cb;
		m.scope.arg = (void *)ss;
		m.spans.funcs.encode = enc_spans_cb;
		m.spans.arg = ss->spans;
		SET_BYTES(m.schema_url, &ss->schema_url);
		if (!pb_encode_tag_for_field(st, f) ||
		    !pb_encode_submessage(st, opentelemetry_proto_trace_v1_ScopeSpans_fields, &m))
			return false;
	}
	return true;
}

static bool enc_resource_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const struct otlp_resource_spans *rs = *arg;
	if (!(rs->resource_attrs.head || rs->resource_attrs.dropped))
		return true;
	opentelemetry_proto_resource_v1_Resource m;
	SET_ATTRS(m.attributes, rs->resource_attrs.head);
	m.dropped_attributes_count = rs->resource_attrs.dropped;
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_submessage(st, opentelemetry_proto_resource_v1_Resource_fields, &m);
}

static bool enc_rs_cb(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	for (const struct otlp_resource_spans *rs = *arg; rs; rs = rs->next) {
		opentelemetry_proto_trace_v1_ResourceSpans m;
		m.resource.funcs.encode = enc_resource_cb;
		m.resource.arg = (void *)rs;
		m.scope_spans.funcs.encode = enc_scope_spans_cb;
		m.scope_spans.arg = rs->scope_spans;
		SET_BYTES(m.schema_url, &rs->schema_url);
		if (!pb_encode_tag_for_field(st, f) ||
		    !pb_encode_submessage(st, opentelemetry_proto_trace_v1_ResourceSpans_fields, &m))
			return false;
	}
	return true;
}

int otlp__encode_proto_nanopb(const struct otlp_batch *b, uint8_t **out, size_t *out_len)
{
	opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest m;
	m.resource_spans.funcs.encode = enc_rs_cb;
	m.resource_spans.arg = b->resource_spans;
	size_t len;
	if (!pb_get_encoded_size(&len,
				 opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_fields,
				 &m))
		return -EINVAL;
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return -ENOMEM;
	pb_ostream_t st = pb_ostream_from_buffer(buf, len);
	if (!pb_encode(&st, opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_fields,
		       &m)) {
		free(buf);
		return -EINVAL;
	}
	*out = buf;
	*out_len = st.bytes_written;
	return 0;
}
