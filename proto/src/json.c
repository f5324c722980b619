/*
 * json.c: OTLP/JSON. Parsing is json-c's (json_tokener with a bounded
 * depth); the model is then walked and copied into the batch arena.
 * Writing is a small string builder here: the output needs OTLP/JSON's
 * rules (hex ids, int64 as strings, NaN/Infinity as strings) that a json-c
 * tree would need custom serialisers for, and it is several times faster.
 *
 * Mapping (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
 * traceId/spanId/parentSpanId are hex (any case on input); keys are
 * lowerCamelCase, and the proto field names are accepted on input too;
 * enums are written as integers and accepted as integers or names; int64
 * and fixed64 are written as decimal strings and accepted as strings or
 * numbers; bytesValue is base64; doubles are numbers, or "NaN",
 * "Infinity", "-Infinity". Unknown keys and null values are ignored.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "internal.h"
#include "util/hex.h"

/* ------------------------------------------------------------------ */
/* decoding                                                            */


struct jctx {
	struct otlp_batch *b;
	const struct otlp_limits *lim;
	char *err;
	size_t errlen;
	int rc;            /* first hard error */
	char *reject;      /* reason buffer of the enclosing span/scope/resource */
	uint32_t depth;
	uint64_t span_index;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct jctx *c, int rc, const char *fmt, ...)
{
	if (c->rc == 0) {
		c->rc = rc;
		if (c->err != NULL && c->errlen > 0) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(c->err, c->errlen, fmt, ap);
			va_end(ap);
		}
	}
	return c->rc;
}

#define reject(c, ...) otlp__reject((c)->reject, __VA_ARGS__)

/* An allocation failed: on the decode budget (-EMSGSIZE) or malloc's. */
static int nomem(struct jctx *c)
{
	if (c->b->_priv->over_budget)
		return fail(c, -EMSGSIZE, "OTLP/JSON: decoding needs more than the limit of %zu bytes",
			    c->lim->max_decoded_bytes);
	return fail(c, -ENOMEM, "out of memory decoding OTLP/JSON");
}

static void *jalloc(struct jctx *c, size_t n)
{
	void *p = otlp_batch_alloc(c->b, n);
	if (p == NULL)
		nomem(c);
	return p;
}

/* The value of key camel, or of its proto name snake; NULL when absent or
 * null. */
static json_object *field(json_object *o, const char *camel, const char *snake)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(o, camel, &v) && snake != NULL)
		json_object_object_get_ex(o, snake, &v);
	return v; /* a JSON null is a NULL json_object */
}

static int want(struct jctx *c, json_object *v, json_type t, const char *what)
{
	if (v != NULL && !json_object_is_type(v, t))
		return fail(c, -EINVAL, "OTLP/JSON: %s must be a%s %s", what,
			    t == json_type_array || t == json_type_object ? "n" : "",
			    json_type_to_name(t));
	return 0;
}

static int get_str(struct jctx *c, json_object *o, const char *camel, const char *snake,
		   struct otlp_bytes *out)
{
	json_object *v = field(o, camel, snake);
	if (v == NULL)
		return 0;
	if (want(c, v, json_type_string, camel))
		return c->rc;
	int n = json_object_get_string_len(v);
	if (n == 0) {
		out->ptr = NULL;
		out->len = 0;
		return 0;
	}
	*out = otlp_batch_strdup(c->b, json_object_get_string(v), (size_t)n);
	if (out->ptr == NULL || otlp__text_clean(c->b, out) != 0)
		return nomem(c);
	return 0;
}

/* An unsigned integer: a JSON number or a decimal string. */
static int to_u64(struct jctx *c, json_object *v, uint64_t max, uint64_t *out, const char *what)
{
	errno = 0;
	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			goto bad;
		uint64_t x = json_object_get_uint64(v);
		if (errno != 0 || x > max)
			goto bad;
		*out = x;
		return 0;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (!(d >= 0) || d != floor(d) || d >= 18446744073709551616.0 || (uint64_t)d > max)
			goto bad;
		*out = (uint64_t)d;
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		int n = json_object_get_string_len(v);
		if (n < 1 || n > 20 || (int)strspn(s, "0123456789") != n)
			goto bad;
		char *end;
		unsigned long long x = strtoull(s, &end, 10);
		if (errno != 0 || x > max)
			goto bad;
		*out = x;
		return 0;
	}
bad:
	return fail(c, -EINVAL, "OTLP/JSON: %s is not an unsigned integer in range", what);
}

static int get_u64(struct jctx *c, json_object *o, const char *camel, const char *snake,
		   uint64_t max, uint64_t *out)
{
	json_object *v = field(o, camel, snake);
	if (v == NULL)
		return 0;
	return to_u64(c, v, max, out, camel);
}

static int get_u32(struct jctx *c, json_object *o, const char *camel, const char *snake,
		   uint32_t *out)
{
	uint64_t x = *out;
	int rc = get_u64(c, o, camel, snake, UINT32_MAX, &x);
	*out = (uint32_t)x;
	return rc;
}

static int to_i64(struct jctx *c, json_object *v, int64_t *out)
{
	errno = 0;
	if (json_object_is_type(v, json_type_int)) {
		int64_t x = json_object_get_int64(v);
		if (x == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
			goto bad;
		*out = x;
		return 0;
	}
	if (json_object_is_type(v, json_type_double)) {
		double d = json_object_get_double(v);
		if (d != floor(d) || !(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
			goto bad;
		*out = (int64_t)d;
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		int n = json_object_get_string_len(v);
		int neg = n > 0 && s[0] == '-';
		if (n - neg < 1 || n > 20 || (int)strspn(s + neg, "0123456789") != n - neg)
			goto bad;
		char *end;
		long long x = strtoll(s, &end, 10);
		if (errno != 0)
			goto bad;
		*out = x;
		return 0;
	}
bad:
	return fail(c, -EINVAL, "OTLP/JSON: intValue is not a 64-bit integer");
}

static int to_double(struct jctx *c, json_object *v, double *out)
{
	if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) {
		*out = json_object_get_double(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		if (strcmp(s, "NaN") == 0)
			*out = NAN;
		else if (strcmp(s, "Infinity") == 0)
			*out = INFINITY;
		else if (strcmp(s, "-Infinity") == 0)
			*out = -INFINITY;
		else {
			char *end;
			errno = 0;
			*out = strtod(s, &end);
			if (end == s || *end != '\0' || errno != 0)
				goto bad;
		}
		return 0;
	}
bad:
	return fail(c, -EINVAL, "OTLP/JSON: doubleValue is not a number");
}

/* An enum: an integer or one of names[] (index = value). */
static int get_enum(struct jctx *c, json_object *o, const char *camel, const char *names[],
		    size_t n_names, int *out)
{
	json_object *v = field(o, camel, NULL);
	if (v == NULL)
		return 0;
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);
		for (size_t i = 0; i < n_names; i++)
			if (strcmp(s, names[i]) == 0) {
				*out = (int)i;
				return 0;
			}
		/* protobuf JSON parsers also take a number as a string */
	}
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_string)) {
		int64_t x;
		if (to_i64(c, v, &x) == 0 && x >= INT32_MIN && x <= INT32_MAX) {
			*out = (int)x;
			return 0;
		}
		c->rc = 0; /* to_i64's message is not the useful one */
	}
	return fail(c, -EINVAL, "OTLP/JSON: %s is not a known enum value", camel);
}

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Standard or URL-safe base64, padding optional. */
static int unbase64(struct jctx *c, const char *s, size_t n, struct otlp_bytes *out)
{
	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return fail(c, -EINVAL, "OTLP/JSON: bytesValue is not base64");
	size_t cap = n / 4 * 3 + 3;
	uint8_t *d = cap ? otlp_batch_alloc(c->b, cap) : NULL;
	if (cap && d == NULL)
		return nomem(c);
	size_t o = 0;
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val((unsigned char)s[i]);
		if (v < 0)
			return fail(c, -EINVAL, "OTLP/JSON: bytesValue is not base64");
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			d[o++] = (uint8_t)(acc >> bits);
		}
	}
	out->ptr = o ? d : NULL;
	out->len = o;
	return 0;
}

static int dec_attrs(struct jctx *c, json_object *arr, struct otlp_attrs *a, uint32_t max,
		     const char *what);

static bool value_len_ok(struct jctx *c, size_t n, const char *what)
{
	if (n <= c->lim->max_attr_value_bytes)
		return true;
	reject(c, "%s value of %zu bytes exceeds the limit of %zu", what, n,
	       c->lim->max_attr_value_bytes);
	return false;
}

static int dec_any(struct jctx *c, json_object *o, struct otlp_any *v)
{
	if (o == NULL)
		return 0;
	if (want(c, o, json_type_object, "value"))
		return c->rc;
	json_object *x;
	if ((x = field(o, "stringValue", "string_value")) != NULL) {
		if (want(c, x, json_type_string, "stringValue"))
			return c->rc;
		size_t n = (size_t)json_object_get_string_len(x);
		if (!value_len_ok(c, n, "string"))
			return 0;
		v->type = OTLP_VALUE_STRING;
		if (n) {
			v->u.str = otlp_batch_strdup(c->b, json_object_get_string(x), n);
			if (v->u.str.ptr == NULL || otlp__text_clean(c->b, &v->u.str) != 0)
				return nomem(c);
		}
	} else if ((x = field(o, "boolValue", "bool_value")) != NULL) {
		if (want(c, x, json_type_boolean, "boolValue"))
			return c->rc;
		v->type = OTLP_VALUE_BOOL;
		v->u.b = json_object_get_boolean(x);
	} else if ((x = field(o, "intValue", "int_value")) != NULL) {
		v->type = OTLP_VALUE_INT;
		return to_i64(c, x, &v->u.i);
	} else if ((x = field(o, "doubleValue", "double_value")) != NULL) {
		v->type = OTLP_VALUE_DOUBLE;
		return to_double(c, x, &v->u.d);
	} else if ((x = field(o, "bytesValue", "bytes_value")) != NULL) {
		if (want(c, x, json_type_string, "bytesValue"))
			return c->rc;
		size_t n = (size_t)json_object_get_string_len(x);
		if (!value_len_ok(c, n / 4 * 3, "bytes"))
			return 0;
		v->type = OTLP_VALUE_BYTES;
		return unbase64(c, json_object_get_string(x), n, &v->u.str);
	} else if ((x = field(o, "arrayValue", "array_value")) != NULL ||
		   (x = field(o, "kvlistValue", "kvlist_value")) != NULL) {
		bool is_array = field(o, "arrayValue", "array_value") != NULL;
		if (want(c, x, json_type_object, is_array ? "arrayValue" : "kvlistValue"))
			return c->rc;
		if (c->depth >= c->lim->max_value_depth) {
			reject(c, "value nesting deeper than the limit of %u",
			       c->lim->max_value_depth);
			return 0;
		}
		json_object *vals = field(x, "values", NULL);
		if (want(c, vals, json_type_array, "values"))
			return c->rc;
		v->type = is_array ? OTLP_VALUE_ARRAY : OTLP_VALUE_KVLIST;
		if (vals == NULL)
			return 0;
		c->depth++;
		if (is_array) {
			struct otlp_any_item **tail = &v->u.array.head;
			size_t n = json_object_array_length(vals);
			for (size_t i = 0; i < n && c->rc == 0; i++) {
				struct otlp_any_item *it = jalloc(c, sizeof *it);
				if (it == NULL)
					break;
				if (dec_any(c, json_object_array_get_idx(vals, i), &it->value))
					break;
				*tail = it;
				tail = &it->next;
				v->u.array.n++;
			}
		} else {
			struct otlp_attrs tmp = { 0 };
			dec_attrs(c, vals, &tmp, 0, "kvlistValue");
			v->u.kvlist.head = tmp.head;
			v->u.kvlist.n = tmp.n;
		}
		c->depth--;
	}
	return c->rc;
}

static int dec_attrs(struct jctx *c, json_object *arr, struct otlp_attrs *a, uint32_t max,
		     const char *what)
{
	if (arr == NULL)
		return 0;
	if (want(c, arr, json_type_array, what))
		return c->rc;
	struct otlp_kv **tail = &a->head;
	while (*tail)
		tail = &(*tail)->next;
	size_t n = json_object_array_length(arr);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		if (o == NULL)
			continue;
		if (want(c, o, json_type_object, "an attribute"))
			return c->rc;
		if (max != 0 && a->n >= max) {
			reject(c, "more than %u attributes", max);
			return 0;
		}
		struct otlp_kv *kv = jalloc(c, sizeof *kv);
		if (kv == NULL || get_str(c, o, "key", NULL, &kv->key) ||
		    dec_any(c, field(o, "value", NULL), &kv->value))
			return c->rc;
		*tail = kv;
		tail = &kv->next;
		a->n++;
	}
	return 0;
}

/* A hex id of exactly n bytes; anything else is noted in *why. */
static void get_id(json_object *o, const char *camel, const char *snake, uint8_t *id, size_t n,
		   bool *present, char *why, size_t whylen)
{
	json_object *v = field(o, camel, snake);
	*present = false;
	if (v == NULL)
		return;
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, whylen, "%s is not a string", camel);
		return;
	}
	size_t len = (size_t)json_object_get_string_len(v);
	if (len == 0)
		return;
	if (util_hex_decode(id, n, json_object_get_string(v), len) != 0) {
		snprintf(why, whylen, "%s must be %zu hex digits, got \"%.40s\"", camel, 2 * n,
			 json_object_get_string(v));
		return;
	}
	*present = true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static const char *kind_names[] = {
	"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
	"SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
static const char *code_names[] = {
	"STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR",
};

static int dec_span(struct jctx *c, json_object *o, struct otlp_span *s, char *reason)
{
	bool has_tid, has_sid;
	char idwhy[128] = "";
	get_id(o, "traceId", "trace_id", s->trace_id, 16, &has_tid, idwhy, sizeof idwhy);
	if (idwhy[0] == '\0')
		get_id(o, "spanId", "span_id", s->span_id, 8, &has_sid, idwhy, sizeof idwhy);
	if (idwhy[0] == '\0')
		get_id(o, "parentSpanId", "parent_span_id", s->parent_span_id, 8, &s->has_parent,
		       idwhy, sizeof idwhy);
	if (idwhy[0] == '\0') {
		if (!has_tid)
			snprintf(idwhy, sizeof idwhy, "traceId is missing");
		else if (all_zero(s->trace_id, 16))
			snprintf(idwhy, sizeof idwhy, "trace_id is all zero");
		else if (!has_sid)
			snprintf(idwhy, sizeof idwhy, "spanId is missing");
		else if (all_zero(s->span_id, 8))
			snprintf(idwhy, sizeof idwhy, "span_id is all zero");
	}
	if (idwhy[0] != '\0')
		reject(c, "%s", idwhy);

	int kind = 0, code = 0;
	if (get_str(c, o, "traceState", "trace_state", &s->trace_state) ||
	    get_u32(c, o, "flags", NULL, &s->flags) ||
	    get_str(c, o, "name", NULL, &s->name) ||
	    get_enum(c, o, "kind", kind_names, 6, &kind) ||
	    get_u64(c, o, "startTimeUnixNano", "start_time_unix_nano", UINT64_MAX,
		    &s->start_time_unix_nano) ||
	    get_u64(c, o, "endTimeUnixNano", "end_time_unix_nano", UINT64_MAX,
		    &s->end_time_unix_nano) ||
	    (otlp__name_cut(c->b, &s->name, c->lim->max_name_bytes) != 0 && nomem(c)) ||
	    dec_attrs(c, field(o, "attributes", NULL), &s->attrs, c->lim->max_attrs_per_span,
		      "attributes") ||
	    get_u32(c, o, "droppedAttributesCount", "dropped_attributes_count", &s->attrs.dropped) ||
	    get_u32(c, o, "droppedEventsCount", "dropped_events_count", &s->events.dropped) ||
	    get_u32(c, o, "droppedLinksCount", "dropped_links_count", &s->links.dropped))
		return c->rc;
	s->kind = (enum otlp_span_kind)kind;

	json_object *arr = field(o, "events", NULL);
	if (want(c, arr, json_type_array, "events"))
		return c->rc;
	size_t n = arr ? json_object_array_length(arr) : 0;
	if (c->lim->max_events_per_span != 0 && n > c->lim->max_events_per_span) {
		reject(c, "more than %u events", c->lim->max_events_per_span);
		n = 0; /* the span is rejected: build none of them */
	}
	struct otlp_event **etail = &s->events.head;
	for (size_t i = 0; i < n; i++) {
		json_object *eo = json_object_array_get_idx(arr, i);
		if (eo == NULL)
			continue;
		if (want(c, eo, json_type_object, "an event"))
			return c->rc;
		struct otlp_event *e = jalloc(c, sizeof *e);
		if (e == NULL ||
		    get_u64(c, eo, "timeUnixNano", "time_unix_nano", UINT64_MAX, &e->time_unix_nano) ||
		    get_str(c, eo, "name", NULL, &e->name) ||
		    (otlp__name_cut(c->b, &e->name, c->lim->max_name_bytes) != 0 && nomem(c)) ||
		    dec_attrs(c, field(eo, "attributes", NULL), &e->attrs,
			      c->lim->max_attrs_per_event, "attributes") ||
		    get_u32(c, eo, "droppedAttributesCount", "dropped_attributes_count",
			    &e->attrs.dropped))
			return c->rc;
		*etail = e;
		etail = &e->next;
		s->events.n++;
	}

	arr = field(o, "links", NULL);
	if (want(c, arr, json_type_array, "links"))
		return c->rc;
	n = arr ? json_object_array_length(arr) : 0;
	if (c->lim->max_links_per_span != 0 && n > c->lim->max_links_per_span) {
		reject(c, "more than %u links", c->lim->max_links_per_span);
		n = 0;
	}
	struct otlp_link **ltail = &s->links.head;
	for (size_t i = 0; i < n; i++) {
		json_object *lo = json_object_array_get_idx(arr, i);
		if (lo == NULL)
			continue;
		if (want(c, lo, json_type_object, "a link"))
			return c->rc;
		struct otlp_link *l = jalloc(c, sizeof *l);
		if (l == NULL)
			return c->rc;
		bool t_ok, s_ok;
		char why[128] = "";
		get_id(lo, "traceId", "trace_id", l->trace_id, 16, &t_ok, why, sizeof why);
		if (why[0] == '\0')
			get_id(lo, "spanId", "span_id", l->span_id, 8, &s_ok, why, sizeof why);
		if (why[0] == '\0' && (!t_ok || !s_ok))
			snprintf(why, sizeof why, "link ids must be 16 and 8 bytes");
		if (why[0] != '\0')
			reject(c, "link: %s", why);
		if (get_str(c, lo, "traceState", "trace_state", &l->trace_state) ||
		    dec_attrs(c, field(lo, "attributes", NULL), &l->attrs,
			      c->lim->max_attrs_per_event, "attributes") ||
		    get_u32(c, lo, "droppedAttributesCount", "dropped_attributes_count",
			    &l->attrs.dropped) ||
		    get_u32(c, lo, "flags", NULL, &l->flags))
			return c->rc;
		*ltail = l;
		ltail = &l->next;
		s->links.n++;
	}

	json_object *st = field(o, "status", NULL);
	if (want(c, st, json_type_object, "status"))
		return c->rc;
	if (st != NULL) {
		if (get_str(c, st, "message", NULL, &s->status.message) ||
		    get_enum(c, st, "code", code_names, 3, &code))
			return c->rc;
		s->status.code = (enum otlp_status_code)code;
	}
	(void)reason;
	return 0;
}

static int dec_scope_spans(struct jctx *c, json_object *o, struct otlp_resource_spans *rs,
			   struct otlp_scope_spans ***tail)
{
	if (want(c, o, json_type_object, "a scopeSpans element"))
		return c->rc;
	struct otlp_scope_spans *ss = jalloc(c, sizeof *ss);
	if (ss == NULL)
		return c->rc;
	char reason[REJECT_LEN] = "";
	char *outer = c->reject;
	c->reject = reason;
	json_object *sc = field(o, "scope", NULL);
	if (want(c, sc, json_type_object, "scope"))
		goto out_restore_reject;
	if (sc != NULL &&
	    (get_str(c, sc, "name", NULL, &ss->scope_name) ||
	     get_str(c, sc, "version", NULL, &ss->scope_version) ||
	     dec_attrs(c, field(sc, "attributes", NULL), &ss->scope_attrs, 0, "attributes") ||
	     get_u32(c, sc, "droppedAttributesCount", "dropped_attributes_count",
		     &ss->scope_attrs.dropped)))
		goto out_restore_reject;
	if (get_str(c, o, "schemaUrl", "schema_url", &ss->schema_url))
		goto out_restore_reject;
	json_object *spans = field(o, "spans", NULL);
	if (want(c, spans, json_type_array, "spans"))
		goto out_restore_reject;
	size_t n = spans ? json_object_array_length(spans) : 0;
	struct otlp_span **stail = &ss->spans;
	for (size_t i = 0; i < n; i++) {
		json_object *so = json_object_array_get_idx(spans, i);
		if (so == NULL)
			continue;
		if (want(c, so, json_type_object, "a span"))
			goto out_restore_reject;
		struct otlp__mark mark = otlp__arena_mark(c->b);
		struct otlp_span *s = jalloc(c, sizeof *s);
		if (s == NULL)
			goto out_restore_reject;
		char sreason[REJECT_LEN] = "";
		c->reject = sreason;
		int rc = dec_span(c, so, s, sreason);
		c->reject = reason;
		if (rc != 0)
			goto out_restore_reject;
		uint64_t index = c->span_index++;
		if (sreason[0] != '\0') {
			c->b->n_rejected++;
			if (c->b->reject_msg[0] == '\0')
				snprintf(c->b->reject_msg, sizeof c->b->reject_msg,
					 "span %" PRIu64 ": %s", index, sreason);
			otlp__arena_rewind(c->b, mark);
			continue;
		}
		*stail = s;
		stail = &s->next;
		ss->n_spans++;
		c->b->n_spans++;
	}
	if (reason[0] != '\0') {
		c->b->n_spans -= ss->n_spans;
		c->b->n_rejected += ss->n_spans;
		if (c->b->reject_msg[0] == '\0')
			snprintf(c->b->reject_msg, sizeof c->b->reject_msg, "scope: %s", reason);
		goto out_restore_reject;
	}
	**tail = ss;
	*tail = &ss->next;
	rs->n_scope_spans++;
out_restore_reject:
	c->reject = outer;
	return c->rc;
}

static int dec_resource_spans(struct jctx *c, json_object *o, struct otlp_resource_spans ***tail)
{
	if (want(c, o, json_type_object, "a resourceSpans element"))
		return c->rc;
	struct otlp_resource_spans *rs = jalloc(c, sizeof *rs);
	if (rs == NULL)
		return c->rc;
	char reason[REJECT_LEN] = "";
	c->reject = reason;
	json_object *res = field(o, "resource", NULL);
	if (want(c, res, json_type_object, "resource"))
		goto out_clear_reject;
	if (res != NULL &&
	    (dec_attrs(c, field(res, "attributes", NULL), &rs->resource_attrs, 0, "attributes") ||
	     get_u32(c, res, "droppedAttributesCount", "dropped_attributes_count",
		     &rs->resource_attrs.dropped)))
		goto out_clear_reject;
	if (get_str(c, o, "schemaUrl", "schema_url", &rs->schema_url))
		goto out_clear_reject;
	json_object *arr = field(o, "scopeSpans", "scope_spans");
	if (want(c, arr, json_type_array, "scopeSpans"))
		goto out_clear_reject;
	size_t n = arr ? json_object_array_length(arr) : 0;
	struct otlp_scope_spans **stail = &rs->scope_spans;
	for (size_t i = 0; i < n; i++) {
		json_object *so = json_object_array_get_idx(arr, i);
		if (so != NULL && dec_scope_spans(c, so, rs, &stail))
			goto out_clear_reject;
	}
	if (reason[0] != '\0') {
		uint64_t k = 0;
		for (struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			k += ss->n_spans;
		c->b->n_spans -= k;
		c->b->n_rejected += k;
		if (c->b->reject_msg[0] == '\0')
			snprintf(c->b->reject_msg, sizeof c->b->reject_msg, "resource: %s", reason);
		goto out_clear_reject;
	}
	**tail = rs;
	*tail = &rs->next;
	c->b->n_resource_spans++;
out_clear_reject:
	c->reject = NULL;
	return c->rc;
}

/* What json-c 0.16 allocates per value, measured with mallinfo2() on
 * 200,000-element arrays (x86-64 glibc), rounded up: an object is a
 * json_object plus a 16-entry hash table; an array a json_object plus 32
 * slots; the rest a json_object each, and array slots grow by doubling. */
#define JCOST_OBJECT 800
#define JCOST_ARRAY 160
#define JCOST_VALUE 112

static size_t add_sat(size_t a, size_t b)
{
	return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

size_t otlp_json_parse_cost(const char *buf, size_t len)
{
	/* Counts tokens outside strings: each { and [, each string (keys
	 * too: an object member costs about one value), and each run of
	 * other value characters (numbers, true, false, null). Malformed
	 * input only makes it count more. */
	size_t objects = 0, arrays = 0, values = 0;
	bool in_word = false;
	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (ch == '"') {
			values++;
			in_word = false;
			/* skip the string, escapes included */
			for (i++; i < len && buf[i] != '"'; i++)
				if (buf[i] == '\\')
					i++;
			continue;
		}
		bool word = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
			    (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '+' || ch == '.';
		if (word && !in_word)
			values++;
		in_word = word;
		if (ch == '{')
			objects++;
		else if (ch == '[')
			arrays++;
	}
	/* Each count is at most len, so no product overflows a 64-bit size;
	 * add_sat() covers 32-bit ones. */
	size_t cost = len;
	cost = add_sat(cost, objects > SIZE_MAX / JCOST_OBJECT ? SIZE_MAX : objects * JCOST_OBJECT);
	cost = add_sat(cost, arrays > SIZE_MAX / JCOST_ARRAY ? SIZE_MAX : arrays * JCOST_ARRAY);
	cost = add_sat(cost, values > SIZE_MAX / JCOST_VALUE ? SIZE_MAX : values * JCOST_VALUE);
	return cost;
}

int otlp_decode_json(struct otlp_batch *b, const char *buf, size_t len,
		     const struct otlp_limits *lim, char *err, size_t errlen)
{
	struct otlp_limits capped;
	otlp__limits_resolve(&capped, lim);
	lim = &capped;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > lim->max_request_bytes || len > INT_MAX)
		return otlp__err(err, errlen, -EMSGSIZE,
				 "request of %zu bytes exceeds the limit of %zu", len,
				 lim->max_request_bytes < INT_MAX ? lim->max_request_bytes
								  : (size_t)INT_MAX);
	/* json-c builds its whole tree before anything here sees it, and an
	 * empty object costs it about 800 bytes for 3 of input: count first. */
	size_t tree = otlp_json_parse_cost(buf, len);
	if (lim->max_decoded_bytes != 0 && tree > lim->max_decoded_bytes)
		return otlp__err(err, errlen, -EMSGSIZE,
				 "OTLP/JSON request of %zu bytes would take about %zu bytes to "
				 "parse, over the limit of %zu",
				 len, tree, lim->max_decoded_bytes);
	/* Deep enough for values nested max_value_depth deep (each level is
	 * three JSON levels: value object, arrayValue object, values array)
	 * below the ten levels down to a span attribute; deeper JSON is
	 * refused by json-c before it allocates. */
	uint64_t depth = 16 + 3 * ((uint64_t)lim->max_value_depth + 1);
	if (depth > 4096)
		depth = 4096;
	struct json_tokener *tok = json_tokener_new_ex((int)depth);
	if (tok == NULL)
		return otlp__err(err, errlen, -ENOMEM, "out of memory decoding OTLP/JSON");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *root = json_tokener_parse_ex(tok, buf ? buf : "", (int)len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	int rc = 0;
	if (root == NULL || jerr != json_tokener_success) {
		if (len == 0 || jerr == json_tokener_continue)
			rc = otlp__err(err, errlen, -EINVAL, "invalid OTLP/JSON: unexpected end of input");
		else
			rc = otlp__err(err, errlen, -EINVAL, "invalid OTLP/JSON at byte %zu: %s", end,
				       json_tokener_error_desc(jerr));
		goto out_free_tok;
	}
	for (; end < len; end++)
		if (buf[end] != ' ' && buf[end] != '\n' && buf[end] != '\r' && buf[end] != '\t') {
			rc = otlp__err(err, errlen, -EINVAL,
				       "invalid OTLP/JSON: trailing data at byte %zu", end);
			goto out_put_root;
		}
	struct jctx c = { .b = b, .lim = lim, .err = err, .errlen = errlen };
	/* The tree is alive while the arena grows: they share the budget. */
	size_t left = lim->max_decoded_bytes - tree; /* tree <= max, checked above */
	if (lim->max_decoded_bytes != 0)
		otlp__budget_begin(b, left != 0 ? left : 1);
	if (want(&c, root, json_type_object, "the request"))
		goto out_take_rc;
	json_object *arr = field(root, "resourceSpans", "resource_spans");
	if (want(&c, arr, json_type_array, "resourceSpans"))
		goto out_take_rc;
	struct otlp_resource_spans **tail = &b->resource_spans;
	while (*tail)
		tail = &(*tail)->next;
	size_t n = arr ? json_object_array_length(arr) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		if (o != NULL && dec_resource_spans(&c, o, &tail))
			break;
	}
out_take_rc:
	otlp__budget_end(b);
	rc = c.rc;
out_put_root:
	json_object_put(root);
out_free_tok:
	json_tokener_free(tok);
	return rc;
}

/* ------------------------------------------------------------------ */
/* encoding                                                            */

struct sb {
	char *p;
	size_t n, cap;
	bool oom;
};

static bool sb_grow(struct sb *s, size_t more)
{
	if (s->oom)
		return false;
	if (s->n + more + 1 <= s->cap)
		return true;
	size_t cap = s->cap ? s->cap : 4096;
	while (cap < s->n + more + 1) {
		if (cap > SIZE_MAX / 2) {
			s->oom = true;
			return false;
		}
		cap *= 2;
	}
	char *np = realloc(s->p, cap);
	if (np == NULL) {
		s->oom = true;
		return false;
	}
	s->p = np;
	s->cap = cap;
	return true;
}

static void sb_mem(struct sb *s, const void *p, size_t n)
{
	if (!sb_grow(s, n))
		return;
	memcpy(s->p + s->n, p, n);
	s->n += n;
}

#define sb_lit(s, lit) sb_mem((s), (lit), sizeof(lit) - 1)

static void sb_fmt(struct sb *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_fmt(struct sb *s, const char *fmt, ...)
{
	if (!sb_grow(s, 64))
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->p + s->n, s->cap - s->n, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < s->cap - s->n)
		s->n += (size_t)n;
}

/* Length of a valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
	uint8_t c0 = p[0];
	size_t len;
	uint32_t min;
	if (c0 < 0x80)
		return 1;
	if (c0 >= 0xc2 && c0 <= 0xdf)
		len = 2, min = 0x80;
	else if (c0 >= 0xe0 && c0 <= 0xef)
		len = 3, min = 0x800;
	else if (c0 >= 0xf0 && c0 <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	uint32_t cp = c0 & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string. Bytes that are not UTF-8 become U+FFFD: protobuf strings
 * must be UTF-8, and the output must stay valid JSON whatever came in. */
static void sb_str(struct sb *s, const uint8_t *p, size_t n)
{
	if (!sb_grow(s, n + 2))
		return;
	s->p[s->n++] = '"';
	size_t i = 0;
	while (i < n) {
		size_t run = i;
		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
			run++;
		sb_mem(s, p + i, run - i);
		i = run;
		if (i >= n)
			break;
		uint8_t ch = p[i];
		if (ch == '"') {
			sb_lit(s, "\\\"");
			i++;
		} else if (ch == '\\') {
			sb_lit(s, "\\\\");
			i++;
		} else if (ch < 0x20) {
			char e[7] = { '\\', 'u', '0', '0' };
			util_hex_encode(e + 4, &ch, 1);
			if (ch == '\n')
				sb_lit(s, "\\n");
			else if (ch == '\t')
				sb_lit(s, "\\t");
			else if (ch == '\r')
				sb_lit(s, "\\r");
			else
				sb_mem(s, e, 6);
			i++;
		} else {
			size_t l = utf8_len(p + i, n - i);
			if (l == 0) {
				sb_lit(s, "\\ufffd");
				i++;
			} else {
				sb_mem(s, p + i, l);
				i += l;
			}
		}
	}
	sb_lit(s, "\"");
}

/* Hands the NUL-terminated text to the caller (who frees it), or frees it
 * and returns -ENOMEM if any append ran out of memory. */
static int sb_finish(struct sb *s, char **out, size_t *out_len)
{
	if (s->oom) {
		free(s->p);
		return -ENOMEM;
	}
	s->p[s->n] = '\0';
	*out = s->p;
	*out_len = s->n;
	return 0;
}

static void sb_key(struct sb *s, bool *first, const char *k)
{
	if (!*first)
		sb_lit(s, ",");
	*first = false;
	sb_fmt(s, "\"%s\":", k);
}

static void sb_hex(struct sb *s, const uint8_t *id, size_t n)
{
	char h[33];
	util_hex_encode(h, id, n);
	sb_lit(s, "\"");
	sb_mem(s, h, 2 * n);
	sb_lit(s, "\"");
}

static void sb_double(struct sb *s, double d)
{
	if (isnan(d)) {
		sb_lit(s, "\"NaN\"");
	} else if (isinf(d)) {
		if (d > 0)
			sb_lit(s, "\"Infinity\"");
		else
			sb_lit(s, "\"-Infinity\"");
	} else {
		char t[40];
		int n = snprintf(t, sizeof t, "%.17g", d);
		/* The shortest form that reads back the same. */
		for (int prec = 1; prec < 17; prec++) {
			char u[40];
			int m = snprintf(u, sizeof u, "%.*g", prec, d);
			if (strtod(u, NULL) == d) {
				memcpy(t, u, (size_t)m + 1);
				n = m;
				break;
			}
		}
		sb_mem(s, t, (size_t)n);
		if (strpbrk(t, ".eEn") == NULL)
			sb_lit(s, ".0");
	}
}

static void sb_base64(struct sb *s, const uint8_t *p, size_t n)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (!sb_grow(s, (n + 2) / 3 * 4 + 2))
		return;
	char *o = s->p + s->n;
	*o++ = '"';
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = tbl[(v >> 6) & 63];
		*o++ = tbl[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = '=';
		*o++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*o++ = tbl[v >> 18];
		*o++ = tbl[(v >> 12) & 63];
		*o++ = tbl[(v >> 6) & 63];
		*o++ = '=';
	}
	*o++ = '"';
	s->n = (size_t)(o - s->p);
}

static void enc_attrs(struct sb *s, bool *first, const char *key, const struct otlp_kv *kv);

static void enc_any(struct sb *s, const struct otlp_any *v)
{
	switch (v->type) {
	case OTLP_VALUE_EMPTY:
		sb_lit(s, "{}");
		break;
	case OTLP_VALUE_STRING:
		sb_lit(s, "{\"stringValue\":");
		sb_str(s, v->u.str.ptr, v->u.str.len);
		sb_lit(s, "}");
		break;
	case OTLP_VALUE_BYTES:
		sb_lit(s, "{\"bytesValue\":");
		sb_base64(s, v->u.str.ptr, v->u.str.len);
		sb_lit(s, "}");
		break;
	case OTLP_VALUE_BOOL:
		if (v->u.b)
			sb_lit(s, "{\"boolValue\":true}");
		else
			sb_lit(s, "{\"boolValue\":false}");
		break;
	case OTLP_VALUE_INT:
		sb_fmt(s, "{\"intValue\":\"%" PRId64 "\"}", v->u.i);
		break;
	case OTLP_VALUE_DOUBLE:
		sb_lit(s, "{\"doubleValue\":");
		sb_double(s, v->u.d);
		sb_lit(s, "}");
		break;
	case OTLP_VALUE_ARRAY: {
		sb_lit(s, "{\"arrayValue\":{");
		if (v->u.array.head != NULL) {
			sb_lit(s, "\"values\":[");
			for (const struct otlp_any_item *it = v->u.array.head; it; it = it->next) {
				if (it != v->u.array.head)
					sb_lit(s, ",");
				enc_any(s, &it->value);
			}
			sb_lit(s, "]");
		}
		sb_lit(s, "}}");
		break;
	}
	case OTLP_VALUE_KVLIST: {
		bool first = true;
		sb_lit(s, "{\"kvlistValue\":{");
		enc_attrs(s, &first, "values", v->u.kvlist.head);
		sb_lit(s, "}}");
		break;
	}
	}
}

static void enc_attrs(struct sb *s, bool *first, const char *key, const struct otlp_kv *kv)
{
	if (kv == NULL)
		return;
	sb_key(s, first, key);
	sb_lit(s, "[");
	for (const struct otlp_kv *k = kv; k; k = k->next) {
		if (k != kv)
			sb_lit(s, ",");
		sb_lit(s, "{\"key\":");
		sb_str(s, k->key.ptr, k->key.len);
		sb_lit(s, ",\"value\":");
		enc_any(s, &k->value);
		sb_lit(s, "}");
	}
	sb_lit(s, "]");
}

static void enc_opt_str(struct sb *s, bool *first, const char *key, struct otlp_bytes v)
{
	if (v.len == 0)
		return;
	sb_key(s, first, key);
	sb_str(s, v.ptr, v.len);
}

static void enc_opt_u64str(struct sb *s, bool *first, const char *key, uint64_t v)
{
	if (v == 0)
		return;
	sb_key(s, first, key);
	sb_fmt(s, "\"%" PRIu64 "\"", v);
}

static void enc_opt_u32(struct sb *s, bool *first, const char *key, uint64_t v)
{
	if (v == 0)
		return;
	sb_key(s, first, key);
	sb_fmt(s, "%" PRIu64, v);
}

static void enc_span(struct sb *s, const struct otlp_span *sp)
{
	bool f = true;
	sb_lit(s, "{");
	sb_key(s, &f, "traceId");
	sb_hex(s, sp->trace_id, 16);
	sb_key(s, &f, "spanId");
	sb_hex(s, sp->span_id, 8);
	enc_opt_str(s, &f, "traceState", sp->trace_state);
	if (sp->has_parent) {
		sb_key(s, &f, "parentSpanId");
		sb_hex(s, sp->parent_span_id, 8);
	}
	if (sp->flags) {
		sb_key(s, &f, "flags");
		sb_fmt(s, "%" PRIu32, sp->flags);
	}
	enc_opt_str(s, &f, "name", sp->name);
	if (sp->kind != 0) {
		sb_key(s, &f, "kind");
		sb_fmt(s, "%d", (int)sp->kind);
	}
	enc_opt_u64str(s, &f, "startTimeUnixNano", sp->start_time_unix_nano);
	enc_opt_u64str(s, &f, "endTimeUnixNano", sp->end_time_unix_nano);
	enc_attrs(s, &f, "attributes", sp->attrs.head);
	enc_opt_u32(s, &f, "droppedAttributesCount", sp->attrs.dropped);
	if (sp->events.head) {
		sb_key(s, &f, "events");
		sb_lit(s, "[");
		for (const struct otlp_event *e = sp->events.head; e; e = e->next) {
			bool g = true;
			if (e != sp->events.head)
				sb_lit(s, ",");
			sb_lit(s, "{");
			enc_opt_u64str(s, &g, "timeUnixNano", e->time_unix_nano);
			enc_opt_str(s, &g, "name", e->name);
			enc_attrs(s, &g, "attributes", e->attrs.head);
			enc_opt_u32(s, &g, "droppedAttributesCount", e->attrs.dropped);
			sb_lit(s, "}");
		}
		sb_lit(s, "]");
	}
	enc_opt_u32(s, &f, "droppedEventsCount", sp->events.dropped);
	if (sp->links.head) {
		sb_key(s, &f, "links");
		sb_lit(s, "[");
		for (const struct otlp_link *l = sp->links.head; l; l = l->next) {
			bool g = true;
			if (l != sp->links.head)
				sb_lit(s, ",");
			sb_lit(s, "{");
			sb_key(s, &g, "traceId");
			sb_hex(s, l->trace_id, 16);
			sb_key(s, &g, "spanId");
			sb_hex(s, l->span_id, 8);
			enc_opt_str(s, &g, "traceState", l->trace_state);
			enc_attrs(s, &g, "attributes", l->attrs.head);
			enc_opt_u32(s, &g, "droppedAttributesCount", l->attrs.dropped);
			enc_opt_u32(s, &g, "flags", l->flags);
			sb_lit(s, "}");
		}
		sb_lit(s, "]");
	}
	enc_opt_u32(s, &f, "droppedLinksCount", sp->links.dropped);
	if (sp->status.code != 0 || sp->status.message.len) {
		bool g = true;
		sb_key(s, &f, "status");
		sb_lit(s, "{");
		enc_opt_str(s, &g, "message", sp->status.message);
		if (sp->status.code != 0) {
			sb_key(s, &g, "code");
			sb_fmt(s, "%d", (int)sp->status.code);
		}
		sb_lit(s, "}");
	}
	sb_lit(s, "}");
}

int otlp_encode_json(const struct otlp_batch *b, char **out, size_t *out_len)
{
	struct sb s = { 0 };
	bool f = true;
	sb_lit(&s, "{");
	if (b->resource_spans != NULL) {
		sb_key(&s, &f, "resourceSpans");
		sb_lit(&s, "[");
	}
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		bool g = true;
		if (rs != b->resource_spans)
			sb_lit(&s, ",");
		sb_lit(&s, "{");
		if (rs->resource_attrs.head || rs->resource_attrs.dropped) {
			bool h = true;
			sb_key(&s, &g, "resource");
			sb_lit(&s, "{");
			enc_attrs(&s, &h, "attributes", rs->resource_attrs.head);
			enc_opt_u32(&s, &h, "droppedAttributesCount", rs->resource_attrs.dropped);
			sb_lit(&s, "}");
		}
		if (rs->scope_spans) {
			sb_key(&s, &g, "scopeSpans");
			sb_lit(&s, "[");
		}
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			bool h = true;
			if (ss != rs->scope_spans)
				sb_lit(&s, ",");
			sb_lit(&s, "{");
			if (ss->scope_name.len || ss->scope_version.len || ss->scope_attrs.head ||
			    ss->scope_attrs.dropped) {
				bool k = true;
				sb_key(&s, &h, "scope");
				sb_lit(&s, "{");
				enc_opt_str(&s, &k, "name", ss->scope_name);
				enc_opt_str(&s, &k, "version", ss->scope_version);
				enc_attrs(&s, &k, "attributes", ss->scope_attrs.head);
				enc_opt_u32(&s, &k, "droppedAttributesCount", ss->scope_attrs.dropped);
				sb_lit(&s, "}");
			}
			if (ss->spans) {
				sb_key(&s, &h, "spans");
				sb_lit(&s, "[");
				for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
					if (sp != ss->spans)
						sb_lit(&s, ",");
					enc_span(&s, sp);
				}
				sb_lit(&s, "]");
			}
			enc_opt_str(&s, &h, "schemaUrl", ss->schema_url);
			sb_lit(&s, "}");
		}
		if (rs->scope_spans)
			sb_lit(&s, "]");
		enc_opt_str(&s, &g, "schemaUrl", rs->schema_url);
		sb_lit(&s, "}");
	}
	if (b->resource_spans != NULL)
		sb_lit(&s, "]");
	sb_lit(&s, "}");
	return sb_finish(&s, out, out_len);
}

int otlp_encode_response_json(const struct otlp_response *r, char **out, size_t *out_len)
{
	struct sb s = { 0 };
	if (r->rejected_spans != 0 || r->error_message[0] != '\0') {
		bool f = true;
		sb_lit(&s, "{\"partialSuccess\":{");
		if (r->rejected_spans != 0) {
			sb_key(&s, &f, "rejectedSpans");
			sb_fmt(&s, "\"%" PRId64 "\"", r->rejected_spans);
		}
		size_t n = strnlen(r->error_message, sizeof r->error_message);
		if (n) {
			sb_key(&s, &f, "errorMessage");
			sb_str(&s, (const uint8_t *)r->error_message, n);
		}
		sb_lit(&s, "}}");
	} else {
		sb_lit(&s, "{}");
	}
	return sb_finish(&s, out, out_len);
}

int otlp_encode_status_json(int32_t code, const char *msg, size_t msg_len, char **out,
			    size_t *out_len)
{
	struct sb s = { 0 };
	sb_fmt(&s, "{\"code\":%" PRId32 ",\"message\":", code);
	sb_str(&s, (const uint8_t *)msg, msg_len);
	sb_lit(&s, "}");
	return sb_finish(&s, out, out_len);
}
