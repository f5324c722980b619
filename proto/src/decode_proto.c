/*
 * decode_proto.c: ExportTraceServiceRequest (protobuf) -> struct otlp_batch.
 *
 * The generated nanopb descriptors drive the decoding. Every string, bytes,
 * repeated and message field is a callback (see the .options files) that
 * writes straight into the batch arena. Strings and bytes are not copied:
 * for a buffer stream nanopb keeps the read position in stream->state, so
 * a callback takes that pointer and moves the position past the bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <pb_decode.h>

#include "internal.h"
#include "trace_service.pb.h"

typedef opentelemetry_proto_common_v1_AnyValue pb_any_t;
typedef opentelemetry_proto_common_v1_ArrayValue pb_array_t;
typedef opentelemetry_proto_common_v1_KeyValueList pb_kvlist_t;
typedef opentelemetry_proto_common_v1_KeyValue pb_kv_t;
typedef opentelemetry_proto_common_v1_InstrumentationScope pb_scope_t;
typedef opentelemetry_proto_resource_v1_Resource pb_resource_t;
typedef opentelemetry_proto_trace_v1_ResourceSpans pb_rs_t;
typedef opentelemetry_proto_trace_v1_ScopeSpans pb_ss_t;
typedef opentelemetry_proto_trace_v1_Span pb_span_t;
typedef opentelemetry_proto_trace_v1_Span_Event pb_event_t;
typedef opentelemetry_proto_trace_v1_Span_Link pb_link_t;
typedef opentelemetry_proto_trace_v1_Status pb_status_t;
typedef opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest pb_req_t;

/* The state of one decode call. */
struct dctx {
	struct otlp_batch *b;
	const struct otlp_limits *lim;
	uintptr_t in, in_end; /* the caller's buffer, for zero-copy checks */
	uint32_t depth;       /* array/kvlist nesting of the current value */
	bool nomem;
	const char *fail;     /* why a callback failed (malformed input) */
	/* The first limit the current span (or resource/scope) broke. */
	char *reject;         /* points at a buffer of REJECT_LEN, or NULL */
	uint64_t span_index;  /* index in the request of the current span */
};

/* A limit was broken: note the first reason for the enclosing span,
 * scope or resource. Decoding goes on. */
#define reject(c, ...) otlp__reject((c)->reject, __VA_ARGS__)

/* Whether the enclosing span (or scope, resource) is already rejected:
 * then the rest of its lists are skipped, not built, so a rejected span
 * holds no more memory however many elements it sends. */
static bool rejected(const struct dctx *c)
{
	return c->reject != NULL && c->reject[0] != '\0';
}

static void *dalloc(struct dctx *c, size_t n)
{
	void *p = otlp_batch_alloc(c->b, n);
	if (p == NULL)
		c->nomem = true;
	return p;
}

/*
 * The input stream. nanopb's own buffer stream reads every byte through
 * memcpy(); this one copies a single byte inline, which is most of
 * nanopb's reads (tags, lengths, small varints). Everything here skips
 * bytes by moving the position itself (advance()), never with
 * pb_read(NULL): nanopb skips through a non-buf_read stream in 16-byte
 * copies.
 */
static bool input_read(pb_istream_t *st, pb_byte_t *buf, size_t count)
{
	const pb_byte_t *p = st->state;
	st->state = (pb_byte_t *)p + count;
	if (buf != NULL) {
		if (count == 1)
			*buf = *p;
		else
			memcpy(buf, p, count);
	}
	return true;
}

static inline void advance(pb_istream_t *st, size_t n)
{
	st->state = (pb_byte_t *)st->state + n;
	st->bytes_left -= n;
}

/* Skips what is left of a substream (a field we drop). */
static bool skip_rest(pb_istream_t *st)
{
	advance(st, st->bytes_left);
	return true;
}

/*
 * Takes a length-delimited field without copying. nanopb hands a scalar
 * wire type to a callback as a substream over a copy on its stack; that
 * pointer is outside the input, which is how a wrong wire type shows.
 */
static bool take_bytes(pb_istream_t *st, struct dctx *c, struct otlp_bytes *out)
{
	uintptr_t p = (uintptr_t)st->state;
	size_t n = st->bytes_left;
	if (p < c->in || p > c->in_end || n > c->in_end - p) {
		c->fail = "wrong wire type for a string or bytes field";
		return false;
	}
	advance(st, n);
	out->ptr = n ? (const uint8_t *)p : NULL;
	out->len = n;
	return true;
}

/* The message of a submessage callback must come as length-delimited
 * bytes of the input too (not a scalar wire type). */
static bool check_submsg(pb_istream_t *st, struct dctx *c)
{
	uintptr_t p = (uintptr_t)st->state;
	if (p < c->in || p > c->in_end) {
		c->fail = "wrong wire type for a message field";
		return false;
	}
	return true;
}

/* Makes a text field valid UTF-8 without NUL (see otlp.h). */
static bool clean(struct dctx *c, struct otlp_bytes *s)
{
	if (otlp__text_clean(c->b, s) == 0)
		return true;
	c->nomem = true;
	return false;
}

/* Decoding into a struct otlp_bytes needs the context too. */
struct bytes_arg {
	struct dctx *c;
	struct otlp_bytes *out;
	bool text; /* a string field, not bytes: clean() it */
};

static bool cb_bytes(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct bytes_arg *a = *arg;
	return take_bytes(st, a->c, a->out) && (!a->text || clean(a->c, a->out));
}

#define FIELD_CB(pbfield, ctx, dst, argvar, is_text)                       \
	do {                                                               \
		(argvar).c = (ctx);                                        \
		(argvar).out = (dst);                                      \
		(argvar).text = (is_text);                                 \
		(pbfield).funcs.decode = cb_bytes;                         \
		(pbfield).arg = &(argvar);                                 \
	} while (0)
/* An id or other bytes field, taken as sent. */
#define BYTES_CB(pbfield, ctx, dst, argvar) FIELD_CB(pbfield, ctx, dst, argvar, false)
/* A string field. */
#define STR_CB(pbfield, ctx, dst, argvar) FIELD_CB(pbfield, ctx, dst, argvar, true)

static bool value_len_ok(struct dctx *c, size_t n, const char *what)
{
	if (n <= c->lim->max_attr_value_bytes)
		return true;
	reject(c, "%s value of %zu bytes exceeds the limit of %zu", what, n,
	       c->lim->max_attr_value_bytes);
	return false;
}

/* ---- attributes and values ----
 *
 * KeyValue and AnyValue are most of a span's bytes (8 attributes: 16 of
 * the ~20 messages of a typical span), and pb_decode()'s per-message cost
 * (descriptor iteration, field lookup) and nanopb's byte-at-a-time reads
 * through the stream callback dominated the profile. So these two
 * messages are walked here, on the same pb_istream_t: tags and varints
 * are read straight from the buffer (stream->state, as nanopb's own
 * buf_read does) against the generated tag numbers, with every length
 * checked against bytes_left and wire types checked explicitly. The
 * larger messages stay pb_decode() with callbacks. bench/codec and
 * docs/proto.md have the figures.
 */

/* Reads a varint from a buffer stream (max 10 bytes, like pb_decode_varint). */
static inline bool rd_varint(pb_istream_t *st, struct dctx *c, uint64_t *out)
{
	const uint8_t *p = st->state;
	size_t n = st->bytes_left < 10 ? st->bytes_left : 10;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t b = p[i];
		x |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			if (i == 9 && b > 1)
				break;
			st->state = (uint8_t *)p + i + 1;
			st->bytes_left -= i + 1;
			*out = x;
			return true;
		}
	}
	c->fail = st->bytes_left < 10 ? "truncated varint" : "varint overflow";
	return false;
}

/* A length-delimited field's body as a substream; the parent skips it.
 * The parent's position is then past it: no close call needed, because
 * this walker never reads the parent while a substream is open. */
static inline bool rd_sub(pb_istream_t *st, struct dctx *c, pb_istream_t *sub)
{
	uint64_t len;
	if (!rd_varint(st, c, &len))
		return false;
	if (len > st->bytes_left) {
		c->fail = "length-delimited field past the end of its message";
		return false;
	}
	/* Field by field: a whole-struct copy right after rd_varint()
	 * stored state and bytes_left is a 16-byte load that misses store
	 * forwarding, and it showed as half of decode_kv()'s time. */
	sub->callback = st->callback;
	sub->state = st->state;
	sub->bytes_left = (size_t)len;
#ifndef PB_NO_ERRMSG
	sub->errmsg = NULL;
#endif
	st->state = (uint8_t *)st->state + len;
	st->bytes_left -= (size_t)len;
	return true;
}

static bool rd_skip(pb_istream_t *st, struct dctx *c, uint32_t wt)
{
	uint64_t x;
	pb_istream_t sub;
	size_t n;
	switch (wt) {
	case PB_WT_VARINT:
		return rd_varint(st, c, &x);
	case PB_WT_STRING:
		return rd_sub(st, c, &sub);
	case PB_WT_64BIT:
		n = 8;
		break;
	case PB_WT_32BIT:
		n = 4;
		break;
	default:
		c->fail = "invalid wire type";
		return false;
	}
	if (st->bytes_left < n) {
		c->fail = "truncated fixed-size field";
		return false;
	}
	st->state = (uint8_t *)st->state + n;
	st->bytes_left -= n;
	return true;
}

#define AV(x) opentelemetry_proto_common_v1_AnyValue_##x##_tag

static bool wire_type_is(struct dctx *c, uint32_t got, uint32_t want)
{
	if (got == want)
		return true;
	c->fail = "wrong wire type in an AnyValue or KeyValue";
	return false;
}

/* Reads the next tag; false at the end of the message (*done) or on an
 * error (!*done). */
static inline bool next_tag(pb_istream_t *st, struct dctx *c, uint32_t *wt, uint32_t *tag,
			    bool *done)
{
	uint64_t key;
	*done = st->bytes_left == 0;
	if (*done || !rd_varint(st, c, &key))
		return false;
	if (key >> 3 == 0 || key >> 3 > UINT32_MAX) {
		c->fail = "invalid field number";
		return false;
	}
	*tag = (uint32_t)(key >> 3);
	*wt = (uint32_t)(key & 7);
	return true;
}

static bool decode_any(pb_istream_t *st, struct dctx *c, struct otlp_any *v);
static bool decode_kv(pb_istream_t *st, struct dctx *c, struct otlp_kv *kv);

/* array_value and kvlist_value: bounded nesting, so untrusted input cannot
 * make the recursion deep. */
static bool decode_nested(pb_istream_t *st, struct dctx *c, struct otlp_any *v, bool is_array)
{
	if (c->depth >= c->lim->max_value_depth) {
		reject(c, "value nesting deeper than the limit of %u", c->lim->max_value_depth);
		return skip_rest(st);
	}
	/* The whole nested value counts against the value size limit. */
	if (!value_len_ok(c, st->bytes_left, is_array ? "array" : "kvlist"))
		return skip_rest(st);
	v->type = is_array ? OTLP_VALUE_ARRAY : OTLP_VALUE_KVLIST;
	memset(&v->u, 0, sizeof v->u);
	struct otlp_any_item **itail = &v->u.array.head;
	struct otlp_kv **ktail = &v->u.kvlist.head;
	uint32_t wt;
	uint32_t tag;
	bool done;
	c->depth++;
	while (next_tag(st, c, &wt, &tag, &done)) {
		/* ArrayValue.values and KeyValueList.values are both field 1 */
		if (tag != opentelemetry_proto_common_v1_ArrayValue_values_tag) {
			if (!rd_skip(st, c, wt))
				goto out_pop_depth;
			continue;
		}
		if (!wire_type_is(c, wt, PB_WT_STRING))
			goto out_pop_depth;
		pb_istream_t sub;
		if (!rd_sub(st, c, &sub))
			goto out_pop_depth;
		bool ok;
		if (is_array) {
			struct otlp_any_item *it = dalloc(c, sizeof *it);
			ok = it != NULL && decode_any(&sub, c, &it->value);
			if (ok) {
				*itail = it;
				itail = &it->next;
				v->u.array.n++;
			}
		} else {
			struct otlp_kv *kv = dalloc(c, sizeof *kv);
			ok = kv != NULL && decode_kv(&sub, c, kv);
			if (ok) {
				*ktail = kv;
				ktail = &kv->next;
				v->u.kvlist.n++;
			}
		}
		if (!ok)
			goto out_pop_depth;
	}
out_pop_depth:
	c->depth--;
	return done;
}

static bool decode_any(pb_istream_t *st, struct dctx *c, struct otlp_any *v)
{
	uint32_t wt;
	uint32_t tag;
	bool done;
	while (next_tag(st, c, &wt, &tag, &done)) {
		uint64_t x;
		switch (tag) {
		case AV(string_value):
		case AV(bytes_value): {
			if (!wire_type_is(c, wt, PB_WT_STRING))
				return false;
			pb_istream_t sub;
			struct otlp_bytes b;
			if (!rd_sub(st, c, &sub))
				return false;
			b.ptr = sub.bytes_left ? sub.state : NULL;
			b.len = sub.bytes_left;
			bool is_bytes = tag == AV(bytes_value);
			if (value_len_ok(c, b.len, is_bytes ? "bytes" : "string")) {
				if (!is_bytes && !clean(c, &b))
					return false;
				v->type = is_bytes ? OTLP_VALUE_BYTES : OTLP_VALUE_STRING;
				v->u.str = b;
			}
			break;
		}
		case AV(bool_value):
		case AV(int_value):
			if (!wire_type_is(c, wt, PB_WT_VARINT) || !rd_varint(st, c, &x))
				return false;
			if (tag == AV(bool_value)) {
				v->type = OTLP_VALUE_BOOL;
				v->u.b = x != 0;
			} else {
				v->type = OTLP_VALUE_INT;
				v->u.i = (int64_t)x;
			}
			break;
		case AV(double_value):
			if (!wire_type_is(c, wt, PB_WT_64BIT))
				return false;
			if (st->bytes_left < 8) {
				c->fail = "truncated double";
				return false;
			}
			x = 0;
			for (int k = 7; k >= 0; k--)
				x = x << 8 | ((const uint8_t *)st->state)[k];
			st->state = (uint8_t *)st->state + 8;
			st->bytes_left -= 8;
			v->type = OTLP_VALUE_DOUBLE;
			memcpy(&v->u.d, &x, sizeof x);
			break;
		case AV(array_value):
		case AV(kvlist_value): {
			if (!wire_type_is(c, wt, PB_WT_STRING))
				return false;
			pb_istream_t sub;
			if (!rd_sub(st, c, &sub) || !decode_nested(&sub, c, v, tag == AV(array_value)))
				return false;
			break;
		}
		default:
			if (!rd_skip(st, c, wt))
				return false;
		}
	}
	return done;
}

static bool decode_kv(pb_istream_t *st, struct dctx *c, struct otlp_kv *kv)
{
	uint32_t wt;
	uint32_t tag;
	bool done;
	while (next_tag(st, c, &wt, &tag, &done)) {
		if (tag != opentelemetry_proto_common_v1_KeyValue_key_tag &&
		    tag != opentelemetry_proto_common_v1_KeyValue_value_tag) {
			if (!rd_skip(st, c, wt))
				return false;
			continue;
		}
		if (!wire_type_is(c, wt, PB_WT_STRING))
			return false;
		pb_istream_t sub;
		if (!rd_sub(st, c, &sub))
			return false;
		bool ok = true;
		if (tag == opentelemetry_proto_common_v1_KeyValue_key_tag) {
			kv->key.ptr = sub.bytes_left ? sub.state : NULL;
			kv->key.len = sub.bytes_left;
			ok = clean(c, &kv->key);
		} else {
			/* A repeated value field replaces the earlier one. */
			memset(&kv->value, 0, sizeof kv->value);
			ok = decode_any(&sub, c, &kv->value);
		}
		if (!ok)
			return false;
	}
	return done;
}

/* A repeated KeyValue field appended to a struct otlp_attrs. */
struct attrs_arg {
	struct dctx *c;
	struct otlp_attrs *a;
	struct otlp_kv **tail;
	uint32_t max; /* 0: no limit */
};

static void attrs_arg_init(struct attrs_arg *aa, struct dctx *c,
			   struct otlp_attrs *a, uint32_t max)
{
	aa->c = c;
	aa->a = a;
	aa->tail = &a->head;
	while (*aa->tail != NULL)
		aa->tail = &(*aa->tail)->next;
	aa->max = max;
}

static bool cb_attr(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct attrs_arg *aa = *arg;
	struct dctx *c = aa->c;
	if (!check_submsg(st, c))
		return false;
	if (aa->max != 0 && aa->a->n >= aa->max)
		reject(c, "more than %u attributes", aa->max);
	if (rejected(c))
		return skip_rest(st);
	struct otlp_kv *kv = dalloc(c, sizeof *kv);
	if (kv == NULL)
		return false;
	if (!decode_kv(st, c, kv))
		return false;
	*aa->tail = kv;
	aa->tail = &kv->next;
	aa->a->n++;
	return true;
}

#define ATTRS_CB(pbfield, aa)                                              \
	do {                                                               \
		(pbfield).funcs.decode = cb_attr;                          \
		(pbfield).arg = &(aa);                                     \
	} while (0)

/* ---- spans ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

struct event_arg {
	struct dctx *c;
	struct otlp_span *s;
	struct otlp_event **tail;
};

static bool cb_event(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct event_arg *ea = *arg;
	struct dctx *c = ea->c;
	if (!check_submsg(st, c))
		return false;
	/* Checked before allocating: the rest of an oversized list costs
	 * only the walk over its bytes. */
	uint32_t max = c->lim->max_events_per_span;
	if (max != 0 && ea->s->events.n >= max)
		reject(c, "more than %u events", max);
	if (rejected(c))
		return skip_rest(st);
	struct otlp_event *e = dalloc(c, sizeof *e);
	if (e == NULL)
		return false;
	struct bytes_arg na;
	struct attrs_arg aa;
	attrs_arg_init(&aa, c, &e->attrs, c->lim->max_attrs_per_event);
	pb_event_t m = { 0 };
	STR_CB(m.name, c, &e->name, na);
	ATTRS_CB(m.attributes, aa);
	if (!pb_decode_ex(st, opentelemetry_proto_trace_v1_Span_Event_fields, &m,
			  PB_DECODE_NOINIT))
		return false;
	if (otlp__name_cut(c->b, &e->name, c->lim->max_name_bytes) != 0) {
		c->nomem = true;
		return false;
	}
	e->time_unix_nano = m.time_unix_nano;
	e->attrs.dropped = m.dropped_attributes_count;
	*ea->tail = e;
	ea->tail = &e->next;
	ea->s->events.n++;
	return true;
}

struct link_arg {
	struct dctx *c;
	struct otlp_span *s;
	struct otlp_link **tail;
};

static bool cb_link(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct link_arg *la = *arg;
	struct dctx *c = la->c;
	if (!check_submsg(st, c))
		return false;
	uint32_t max = c->lim->max_links_per_span;
	if (max != 0 && la->s->links.n >= max)
		reject(c, "more than %u links", max);
	if (rejected(c))
		return skip_rest(st);
	struct otlp_link *l = dalloc(c, sizeof *l);
	if (l == NULL)
		return false;
	struct otlp_bytes tid = { 0 }, sid = { 0 };
	struct bytes_arg ta, sa, tsa;
	struct attrs_arg aa;
	attrs_arg_init(&aa, c, &l->attrs, c->lim->max_attrs_per_event);
	pb_link_t m = { 0 };
	BYTES_CB(m.trace_id, c, &tid, ta);
	BYTES_CB(m.span_id, c, &sid, sa);
	STR_CB(m.trace_state, c, &l->trace_state, tsa);
	ATTRS_CB(m.attributes, aa);
	if (!pb_decode_ex(st, opentelemetry_proto_trace_v1_Span_Link_fields, &m,
			  PB_DECODE_NOINIT))
		return false;
	if (tid.len != 16 || sid.len != 8) {
		reject(c, "link ids must be 16 and 8 bytes, got %zu and %zu",
		       tid.len, sid.len);
		return true;
	}
	memcpy(l->trace_id, tid.ptr, 16);
	memcpy(l->span_id, sid.ptr, 8);
	l->attrs.dropped = m.dropped_attributes_count;
	l->flags = m.flags;
	*la->tail = l;
	la->tail = &l->next;
	la->s->links.n++;
	return true;
}

/* An enum field kept as the int32 that was sent (see trace.options). */
static bool cb_enum(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	int *out = *arg;
	uint64_t x;
	if (!pb_decode_varint(st, &x))
		return false;
	*out = (int)(int32_t)(uint32_t)x;
	return true;
}

struct status_arg {
	struct dctx *c;
	struct otlp_span *s;
};

static bool cb_status(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct status_arg *sa = *arg;
	if (!check_submsg(st, sa->c))
		return false;
	struct bytes_arg ma;
	int code = 0;
	pb_status_t m = { 0 };
	STR_CB(m.message, sa->c, &sa->s->status.message, ma);
	m.code.funcs.decode = cb_enum;
	m.code.arg = &code;
	if (!pb_decode_ex(st, opentelemetry_proto_trace_v1_Status_fields, &m,
			  PB_DECODE_NOINIT))
		return false;
	sa->s->status.code = (enum otlp_status_code)code;
	return true;
}

/* Where the spans of one ScopeSpans go. */
struct spans_arg {
	struct dctx *c;
	struct otlp_scope_spans *ss;
	struct otlp_span **tail;
};

static bool cb_span(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct spans_arg *sp = *arg;
	struct dctx *c = sp->c;
	if (!check_submsg(st, c))
		return false;
	struct otlp__mark mark = otlp__arena_mark(c->b);
	struct otlp_span *s = dalloc(c, sizeof *s);
	if (s == NULL)
		return false;

	char reason[REJECT_LEN];
	reason[0] = '\0';
	char *outer_reason = c->reject;
	c->reject = reason;

	struct bytes_arg tid, sid, pid, tsa, na;
	struct otlp_bytes trace_id = { 0 }, span_id = { 0 }, parent = { 0 };
	struct attrs_arg aa;
	attrs_arg_init(&aa, c, &s->attrs, c->lim->max_attrs_per_span);
	struct event_arg ea = { c, s, &s->events.head };
	struct link_arg la = { c, s, &s->links.head };
	struct status_arg sta = { c, s };

	pb_span_t m = { 0 };
	BYTES_CB(m.trace_id, c, &trace_id, tid);
	BYTES_CB(m.span_id, c, &span_id, sid);
	BYTES_CB(m.parent_span_id, c, &parent, pid);
	STR_CB(m.trace_state, c, &s->trace_state, tsa);
	STR_CB(m.name, c, &s->name, na);
	ATTRS_CB(m.attributes, aa);
	m.events.funcs.decode = cb_event;
	m.events.arg = &ea;
	m.links.funcs.decode = cb_link;
	m.links.arg = &la;
	m.status.funcs.decode = cb_status;
	m.status.arg = &sta;
	int kind = 0;
	m.kind.funcs.decode = cb_enum;
	m.kind.arg = &kind;
	bool ok = pb_decode_ex(st, opentelemetry_proto_trace_v1_Span_fields, &m,
			       PB_DECODE_NOINIT);
	c->reject = outer_reason;
	if (!ok)
		return false;

	uint64_t index = c->span_index++;
	if (reason[0] != '\0')
		; /* a limit already rejected it */
	else if (trace_id.len != 16)
		snprintf(reason, sizeof reason, "trace_id must be 16 bytes, got %zu", trace_id.len);
	else if (all_zero(trace_id.ptr, 16))
		snprintf(reason, sizeof reason, "trace_id is all zero");
	else if (span_id.len != 8)
		snprintf(reason, sizeof reason, "span_id must be 8 bytes, got %zu", span_id.len);
	else if (all_zero(span_id.ptr, 8))
		snprintf(reason, sizeof reason, "span_id is all zero");
	else if (parent.len != 0 && parent.len != 8)
		snprintf(reason, sizeof reason, "parent_span_id must be empty or 8 bytes, got %zu",
			 parent.len);

	if (reason[0] != '\0') {
		c->b->n_rejected++;
		if (c->b->reject_msg[0] == '\0')
			snprintf(c->b->reject_msg, sizeof c->b->reject_msg,
				 "span %" PRIu64 ": %s", index, reason);
		otlp__arena_rewind(c->b, mark);
		return true;
	}
	if (otlp__name_cut(c->b, &s->name, c->lim->max_name_bytes) != 0) {
		c->nomem = true;
		return false;
	}
	memcpy(s->trace_id, trace_id.ptr, 16);
	memcpy(s->span_id, span_id.ptr, 8);
	if (parent.len == 8) {
		memcpy(s->parent_span_id, parent.ptr, 8);
		s->has_parent = true;
	}
	s->flags = m.flags;
	s->kind = (enum otlp_span_kind)kind;
	s->start_time_unix_nano = m.start_time_unix_nano;
	s->end_time_unix_nano = m.end_time_unix_nano;
	s->attrs.dropped = m.dropped_attributes_count;
	s->events.dropped = m.dropped_events_count;
	s->links.dropped = m.dropped_links_count;
	*sp->tail = s;
	sp->tail = &s->next;
	sp->ss->n_spans++;
	c->b->n_spans++;
	return true;
}

/* ---- scope and resource ---- */

struct scope_arg {
	struct dctx *c;
	struct otlp_scope_spans *ss;
	uint32_t dropped;
};

static bool cb_scope(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct scope_arg *sa = *arg;
	struct dctx *c = sa->c;
	if (!check_submsg(st, c))
		return false;
	struct bytes_arg na, va;
	struct attrs_arg aa;
	/* Scope attributes have no per-span limit; values still do. */
	attrs_arg_init(&aa, c, &sa->ss->scope_attrs, 0);
	pb_scope_t m = { 0 };
	STR_CB(m.name, c, &sa->ss->scope_name, na);
	STR_CB(m.version, c, &sa->ss->scope_version, va);
	ATTRS_CB(m.attributes, aa);
	if (!pb_decode_ex(st, opentelemetry_proto_common_v1_InstrumentationScope_fields,
			  &m, PB_DECODE_NOINIT))
		return false;
	sa->ss->scope_attrs.dropped = m.dropped_attributes_count;
	return true;
}

/* Spans under a resource or scope whose own attributes broke a limit are
 * all rejected: they would be stored without the context that names them. */
static void reject_all(struct dctx *c, uint32_t n, const char *where, const char *reason)
{
	c->b->n_spans -= n;
	c->b->n_rejected += n;
	if (c->b->reject_msg[0] == '\0')
		snprintf(c->b->reject_msg, sizeof c->b->reject_msg, "%s: %s", where, reason);
}

struct ss_arg {
	struct dctx *c;
	struct otlp_resource_spans *rs;
	struct otlp_scope_spans **tail;
};

static bool cb_scope_spans(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct ss_arg *sa = *arg;
	struct dctx *c = sa->c;
	if (!check_submsg(st, c))
		return false;
	struct otlp_scope_spans *ss = dalloc(c, sizeof *ss);
	if (ss == NULL)
		return false;
	char reason[REJECT_LEN];
	reason[0] = '\0';
	char *outer_reason = c->reject;
	c->reject = reason;

	struct scope_arg sca = { c, ss, 0 };
	struct spans_arg spa = { c, ss, &ss->spans };
	struct bytes_arg ua;
	pb_ss_t m;
	m.scope.funcs.decode = cb_scope;
	m.scope.arg = &sca;
	m.spans.funcs.decode = cb_span;
	m.spans.arg = &spa;
	STR_CB(m.schema_url, c, &ss->schema_url, ua);
	bool ok = pb_decode_ex(st, opentelemetry_proto_trace_v1_ScopeSpans_fields, &m,
			       PB_DECODE_NOINIT);
	c->reject = outer_reason;
	if (!ok)
		return false;
	if (reason[0] != '\0') {
		/* Spans set c->reject to their own buffer, so this reason
		 * comes from the scope's attributes. */
		reject_all(c, ss->n_spans, "scope", reason);
		return true;
	}
	*sa->tail = ss;
	sa->tail = &ss->next;
	sa->rs->n_scope_spans++;
	return true;
}

struct resource_arg {
	struct dctx *c;
	struct otlp_resource_spans *rs;
};

static bool cb_resource(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct resource_arg *ra = *arg;
	struct dctx *c = ra->c;
	if (!check_submsg(st, c))
		return false;
	struct attrs_arg aa;
	attrs_arg_init(&aa, c, &ra->rs->resource_attrs, 0);
	pb_resource_t m = { 0 };
	ATTRS_CB(m.attributes, aa);
	if (!pb_decode_ex(st, opentelemetry_proto_resource_v1_Resource_fields, &m,
			  PB_DECODE_NOINIT))
		return false;
	ra->rs->resource_attrs.dropped = m.dropped_attributes_count;
	return true;
}

struct rs_arg {
	struct dctx *c;
	struct otlp_resource_spans **tail;
};

static bool cb_resource_spans(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct rs_arg *ra = *arg;
	struct dctx *c = ra->c;
	if (!check_submsg(st, c))
		return false;
	struct otlp_resource_spans *rs = dalloc(c, sizeof *rs);
	if (rs == NULL)
		return false;
	char reason[REJECT_LEN];
	reason[0] = '\0';
	c->reject = reason;

	struct resource_arg rea = { c, rs };
	struct ss_arg ssa = { c, rs, &rs->scope_spans };
	struct bytes_arg ua;
	pb_rs_t m;
	m.resource.funcs.decode = cb_resource;
	m.resource.arg = &rea;
	m.scope_spans.funcs.decode = cb_scope_spans;
	m.scope_spans.arg = &ssa;
	STR_CB(m.schema_url, c, &rs->schema_url, ua);
	bool ok = pb_decode_ex(st, opentelemetry_proto_trace_v1_ResourceSpans_fields, &m,
			       PB_DECODE_NOINIT);
	c->reject = NULL;
	if (!ok)
		return false;
	if (reason[0] != '\0') {
		uint32_t n = 0;
		for (struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			n += ss->n_spans;
		reject_all(c, n, "resource", reason);
		return true;
	}
	*ra->tail = rs;
	ra->tail = &rs->next;
	c->b->n_resource_spans++;
	return true;
}

int otlp_decode_proto(struct otlp_batch *b, const uint8_t *buf, size_t len,
		      const struct otlp_limits *lim, char *err, size_t errlen)
{
	struct otlp_limits capped;
	otlp__limits_resolve(&capped, lim);
	lim = &capped;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > lim->max_request_bytes)
		return otlp__err(err, errlen, -EMSGSIZE,
				 "request of %zu bytes exceeds the limit of %zu",
				 len, lim->max_request_bytes);
	if (buf == NULL && len != 0)
		return otlp__err(err, errlen, -EINVAL, "no input");
	static const uint8_t empty[1];
	if (buf == NULL)
		buf = empty;

	struct dctx c = {
		.b = b,
		.lim = lim,
		.in = (uintptr_t)buf,
		.in_end = (uintptr_t)buf + len,
	};
	struct otlp_resource_spans **tail = &b->resource_spans;
	while (*tail != NULL)
		tail = &(*tail)->next;
	struct rs_arg ra = { &c, tail };
	pb_req_t m;
	m.resource_spans.funcs.decode = cb_resource_spans;
	m.resource_spans.arg = &ra;
	/* nanopb takes a non-const buffer but only reads it. */
	pb_istream_t st = pb_istream_from_buffer(buf, len);
	st.callback = input_read;
	otlp__budget_begin(b, lim->max_decoded_bytes);
	bool ok = pb_decode_ex(&st,
			       opentelemetry_proto_collector_trace_v1_ExportTraceServiceRequest_fields,
			       &m, PB_DECODE_NOINIT);
	bool over = otlp__budget_end(b);
	if (ok)
		return 0;
	if (c.nomem && over)
		return otlp__err(err, errlen, -EMSGSIZE,
				 "decoding the request needs more than the limit of %zu bytes",
				 lim->max_decoded_bytes);
	if (c.nomem)
		return otlp__err(err, errlen, -ENOMEM, "out of memory decoding a request");
	return otlp__err(err, errlen, -EINVAL, "invalid protobuf request at byte %zu: %s",
			 (size_t)((uintptr_t)st.state - c.in),
			 c.fail ? c.fail : PB_GET_ERROR(&st));
}
