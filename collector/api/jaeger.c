/*
 * api/jaeger.c: Jaeger's query API (the paths, parameters and JSON that
 * Jaeger UI and Grafana's Jaeger data source use) over the store and the
 * analytics: services, operations, trace search, one trace (copies of a
 * span shown once), dependencies. Times are microseconds since the epoch,
 * durations microseconds.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics.h"
#include "api/api.h"
#include "server.h"
#include "pipeline/sink_store.h"
#include "util/hex.h"
#include "util/text.h"

#define US 1000ull
#define DEFAULT_TRACE_LOOKBACK_NS (2ull * 24 * 3600 * 1000000000ull)
#define DEFAULT_DEPS_LOOKBACK_MS (24ll * 3600 * 1000)
#define MAX_SEARCH_LIMIT 1500

static struct store *srv_store(struct col_server *srv)
{
	return srv->stage ? col_sink_store_handle(srv->stage) : NULL;
}

int col_api_services(struct col_server *srv, h2o_req_t *req)
{
	json_object *arr = json_object_new_array();
	struct store *st = srv_store(srv);
	size_t n = 0;
	if (st != NULL) {
		struct store_strings l = { 0 };
		if (store_services(st, &l) != 0) {
			json_object_put(arr);
			col_api_send_error(req, 500, "out of memory");
			return 0;
		}
		for (size_t i = 0; i < l.n; i++)
			json_object_array_add(arr, json_object_new_string(l.v[i]));
		n = l.n;
		store_strings_free(&l);
	} else if (srv->an != NULL) {
		const char **v;
		if (col_an_services(srv->an, 0, UINT64_MAX / 2, &v, &n) == 0) {
			for (size_t i = 0; i < n; i++)
				json_object_array_add(arr, json_object_new_string(v[i]));
			free(v);
		}
	}
	col_api_send_data(req, arr, (int64_t)n);
	return 0;
}

/* Operations of service: names only (names_only) or {name, spanKind}. */
static void send_operations(struct col_server *srv, h2o_req_t *req, const char *service,
			    int kind, bool names_only)
{
	struct store *st = srv_store(srv);
	json_object *arr = json_object_new_array();
	int64_t n = 0;
	if (st != NULL) {
		struct store_strings l = { 0 };
		if (store_operations(st, service, &l) != 0) {
			json_object_put(arr);
			col_api_send_error(req, 500, "out of memory");
			return;
		}
		for (size_t i = 0; i < l.n; i++) {
			if (kind >= 0 && l.kind[i] != kind)
				continue;
			if (names_only) {
				if (i > 0 && strcmp(l.v[i], l.v[i - 1]) == 0)
					continue; /* sorted by name, then kind */
				json_object_array_add(arr, json_object_new_string(l.v[i]));
			} else {
				json_object *o = json_object_new_object();
				json_object_object_add(o, "name", json_object_new_string(l.v[i]));
				json_object_object_add(o, "spanKind",
						       json_object_new_string(l.kind[i] ?
							       col_an_kind_name(l.kind[i]) : ""));
				json_object_array_add(arr, o);
			}
			n++;
		}
		store_strings_free(&l);
	}
	col_api_send_data(req, arr, n);
}

int col_api_operations(struct col_server *srv, h2o_req_t *req)
{
	struct col_api_params p;
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "%s", p.why);
		goto out;
	}
	const char *service = col_api_param(&p, "service");
	const char *sk = col_api_param(&p, "spanKind");
	int kind = -1;
	if (service == NULL) {
		col_api_send_error(req, 400, "parameter 'service' is required");
		goto out;
	}
	if (sk != NULL && (kind = col_an_kind_parse(sk)) < 0) {
		col_api_send_error(req, 400, "unable to parse param 'spanKind': unsupported span kind: '%s'", sk);
		goto out;
	}
	send_operations(srv, req, service, kind, false);
out:
	col_api_params_done(&p);
	return 0;
}

/* ---- trace JSON (Jaeger's model/json) ---- */

static json_object *tag(const char *key, const struct otlp_any *v);

static json_object *any_text(const struct otlp_any *v)
{
	/* Arrays and maps as their OTLP/JSON-like text. */
	json_object *o;
	switch (v->type) {
	case OTLP_VALUE_STRING:
		return json_object_new_string_len((const char *)v->u.str.ptr, (int)v->u.str.len);
	case OTLP_VALUE_BOOL: return json_object_new_boolean(v->u.b);
	case OTLP_VALUE_INT: return json_object_new_int64(v->u.i);
	case OTLP_VALUE_DOUBLE: return json_object_new_double(v->u.d);
	case OTLP_VALUE_ARRAY:
		o = json_object_new_array();
		for (const struct otlp_any_item *it = v->u.array.head; it; it = it->next)
			json_object_array_add(o, any_text(&it->value));
		return o;
	case OTLP_VALUE_KVLIST:
		o = json_object_new_object();
		for (const struct otlp_kv *kv = v->u.kvlist.head; kv; kv = kv->next) {
			char k[256];
			snprintf(k, sizeof(k), "%.*s", (int)kv->key.len, (const char *)kv->key.ptr);
			json_object_object_add(o, k, any_text(&kv->value));
		}
		return o;
	case OTLP_VALUE_BYTES: {
		char *hex = malloc(v->u.str.len * 2 + 1);
		if (hex == NULL)
			return NULL;
		util_hex_encode(hex, v->u.str.ptr, v->u.str.len);
		o = json_object_new_string(hex);
		free(hex);
		return o;
	}
	default: return json_object_new_string("");
	}
}

static json_object *tag(const char *key, const struct otlp_any *v)
{
	json_object *t = json_object_new_object();
	json_object_object_add(t, "key", json_object_new_string(key));
	const char *type = "string";
	json_object *val;
	switch (v->type) {
	case OTLP_VALUE_BOOL: type = "bool"; val = any_text(v); break;
	case OTLP_VALUE_INT: type = "int64"; val = any_text(v); break;
	case OTLP_VALUE_DOUBLE: type = "float64"; val = any_text(v); break;
	case OTLP_VALUE_BYTES: type = "binary"; val = any_text(v); break;
	case OTLP_VALUE_STRING: val = any_text(v); break;
	default: {
		json_object *x = any_text(v);
		val = json_object_new_string(x ? json_object_to_json_string_ext(x, JSON_C_TO_STRING_PLAIN) : "");
		json_object_put(x);
	}
	}
	json_object_object_add(t, "type", json_object_new_string(type));
	json_object_object_add(t, "value", val);
	return t;
}

static json_object *str_tag(const char *key, const char *value, size_t len)
{
	struct otlp_any v = { .type = OTLP_VALUE_STRING };
	v.u.str.ptr = (const uint8_t *)value;
	v.u.str.len = len;
	return tag(key, &v);
}

static json_object *attrs_tags(const struct otlp_attrs *a, json_object *arr)
{
	for (const struct otlp_kv *kv = a->head; kv; kv = kv->next) {
		char k[256];
		snprintf(k, sizeof(k), "%.*s", (int)kv->key.len, (const char *)kv->key.ptr);
		json_object_array_add(arr, tag(k, &kv->value));
	}
	return arr;
}

/* CHILD_OF the parent, FOLLOWS_FROM each link. */
static json_object *span_refs(const struct otlp_span *sp, const char *tid)
{
	char hex[33];
	json_object *refs = json_object_new_array();
	if (sp->has_parent) {
		json_object *r = json_object_new_object();
		util_hex_encode(hex, sp->parent_span_id, 8);
		json_object_object_add(r, "refType", json_object_new_string("CHILD_OF"));
		json_object_object_add(r, "traceID", json_object_new_string(tid));
		json_object_object_add(r, "spanID", json_object_new_string(hex));
		json_object_array_add(refs, r);
	}
	for (const struct otlp_link *l = sp->links.head; l; l = l->next) {
		json_object *r = json_object_new_object();
		util_hex_encode(hex, l->trace_id, 16);
		json_object_object_add(r, "refType", json_object_new_string("FOLLOWS_FROM"));
		json_object_object_add(r, "traceID", json_object_new_string(hex));
		util_hex_encode(hex, l->span_id, 8);
		json_object_object_add(r, "spanID", json_object_new_string(hex));
		json_object_array_add(refs, r);
	}
	return refs;
}

/* The attributes, then what ternd adds: span.kind, otel.status_code,
 * error=true, otel.status_description, otel.scope.name. */
static json_object *span_tags(const struct otlp_span *sp, const struct otlp_scope_spans *ss)
{
	json_object *tags = attrs_tags(&sp->attrs, json_object_new_array());
	if (sp->kind >= OTLP_SPAN_KIND_INTERNAL && sp->kind <= OTLP_SPAN_KIND_CONSUMER) {
		const char *kn = col_an_kind_name(sp->kind);
		json_object_array_add(tags, str_tag("span.kind", kn, strlen(kn)));
	}
	if (sp->status.code == OTLP_STATUS_ERROR) {
		struct otlp_any t = { .type = OTLP_VALUE_BOOL, .u.b = true };
		json_object_array_add(tags, tag("error", &t));
		json_object_array_add(tags, str_tag("otel.status_code", "ERROR", 5));
	} else if (sp->status.code == OTLP_STATUS_OK) {
		json_object_array_add(tags, str_tag("otel.status_code", "OK", 2));
	}
	if (sp->status.message.len)
		json_object_array_add(tags, str_tag("otel.status_description",
						    (const char *)sp->status.message.ptr,
						    sp->status.message.len));
	if (ss->scope_name.len)
		json_object_array_add(tags, str_tag("otel.scope.name", (const char *)ss->scope_name.ptr,
						    ss->scope_name.len));
	return tags;
}

/* Span events as Jaeger logs: timestamp and fields, event = the name. */
static json_object *span_logs(const struct otlp_span *sp)
{
	json_object *logs = json_object_new_array();
	for (const struct otlp_event *e = sp->events.head; e; e = e->next) {
		json_object *lg = json_object_new_object();
		json_object_object_add(lg, "timestamp",
				       json_object_new_int64((int64_t)(e->time_unix_nano / US)));
		json_object *f = json_object_new_array();
		json_object_array_add(f, str_tag("event", (const char *)e->name.ptr, e->name.len));
		attrs_tags(&e->attrs, f);
		json_object_object_add(lg, "fields", f);
		json_object_array_add(logs, lg);
	}
	return logs;
}

/* One span of scope ss, in process pid; tid: its trace id in hex. */
static json_object *span_json(const struct otlp_span *sp, const struct otlp_scope_spans *ss,
			      const char *tid, const char *pid)
{
	char sid[17];
	util_hex_encode(sid, sp->span_id, 8);
	json_object *s = json_object_new_object();
	json_object_object_add(s, "traceID", json_object_new_string(tid));
	json_object_object_add(s, "spanID", json_object_new_string(sid));
	json_object_object_add(s, "operationName",
			       json_object_new_string_len((const char *)sp->name.ptr, (int)sp->name.len));
	json_object_object_add(s, "references", span_refs(sp, tid));
	json_object_object_add(s, "flags", json_object_new_int64(sp->flags & 0xff));
	uint64_t st = sp->start_time_unix_nano / US;
	uint64_t dur = sp->end_time_unix_nano > sp->start_time_unix_nano ?
			       (sp->end_time_unix_nano - sp->start_time_unix_nano) / US : 0;
	json_object_object_add(s, "startTime", json_object_new_int64((int64_t)st));
	json_object_object_add(s, "duration", json_object_new_int64((int64_t)dur));
	json_object_object_add(s, "tags", span_tags(sp, ss));
	json_object_object_add(s, "logs", span_logs(sp));
	json_object_object_add(s, "processID", json_object_new_string(pid));
	json_object_object_add(s, "warnings", NULL);
	return s;
}

/* The processes of a trace: one per distinct resource (service + attributes). */
struct procs {
	json_object *obj;   /* "p1": {serviceName, tags}, ... */
	const char **keys;  /* each process's tags as JSON text (owned by obj) */
	size_t n;
};

/* The id ("p1", ...) of rs's process into pid, adding it if new. -ENOMEM. */
static int process_id(struct procs *pr, const struct otlp_resource_spans *rs, char pid[24])
{
	json_object *ptags = attrs_tags(&rs->resource_attrs, json_object_new_array());
	const char *pk = json_object_to_json_string_ext(ptags, JSON_C_TO_STRING_PLAIN);
	size_t pi;
	for (pi = 0; pi < pr->n; pi++)
		if (strcmp(pr->keys[pi], pk) == 0)
			break;
	snprintf(pid, 24, "p%zu", pi + 1);
	if (pi < pr->n) {
		json_object_put(ptags);
		return 0;
	}
	const char **nk = realloc(pr->keys, (pr->n + 1) * sizeof(*nk));
	if (nk == NULL) {
		json_object_put(ptags);
		return -ENOMEM;
	}
	pr->keys = nk;
	json_object *proc = json_object_new_object();
	const struct otlp_any *sv = otlp_attrs_find(&rs->resource_attrs, "service.name");
	if (sv && sv->type == OTLP_VALUE_STRING)
		json_object_object_add(proc, "serviceName",
				       json_object_new_string_len((const char *)sv->u.str.ptr,
								  (int)sv->u.str.len));
	else
		json_object_object_add(proc, "serviceName", json_object_new_string("unknown_service"));
	json_object_object_add(proc, "tags", ptags);
	json_object_object_add(pr->obj, pid, proc);
	/* the key string belongs to ptags, now owned by obj */
	pr->keys[pr->n++] = json_object_to_json_string_ext(ptags, JSON_C_TO_STRING_PLAIN);
	return 0;
}

/* One span of a trace being built, with its JSON text to compare copies. */
struct tspan {
	const struct otlp_span *sp;
	json_object *js;
	const char *text; /* owned by js */
	size_t ix;        /* order in the batch */
	bool drop;        /* a copy of an earlier span */
};

static int tspan_cmp(const void *x, const void *y)
{
	const struct tspan *a = x, *b = y;
	int c = memcmp(a->sp->span_id, b->sp->span_id, 8);
	if (c == 0)
		c = strcmp(a->text, b->text);
	if (c == 0)
		c = a->ix < b->ix ? -1 : a->ix > b->ix;
	return c;
}

static int tspan_ix_cmp(const void *x, const void *y)
{
	const struct tspan *a = x, *b = y;
	return a->ix < b->ix ? -1 : a->ix > b->ix;
}

/* Marks the copies of a span (same span id, same content: a client's
 * retry, a forwarder's resend) to be left out, keeping the first; returns
 * the warnings for span ids shared by different spans (both kept), as
 * Jaeger's trace JSON says it, or NULL. v is sorted by tspan_cmp. */
static json_object *tspan_dedup(struct tspan *v, size_t n)
{
	json_object *warn = NULL;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1, distinct = 1;
		for (; j < n && memcmp(v[j].sp->span_id, v[i].sp->span_id, 8) == 0; j++) {
			if (strcmp(v[j].text, v[j - 1].text) == 0)
				v[j].drop = true;
			else
				distinct++;
		}
		if (distinct > 1) {
			char sid[17], msg[160];
			util_hex_encode(sid, v[i].sp->span_id, 8);
			snprintf(msg, sizeof(msg),
				 "duplicate span IDs: %zu different spans have span ID %s", distinct, sid);
			if (warn == NULL)
				warn = json_object_new_array();
			json_object_array_add(warn, json_object_new_string(msg));
		}
		i = j;
	}
	return warn;
}

/* Builds one Jaeger trace from every span of b (all of one trace). Copies
 * of a span are shown once (tspan_dedup). */
static json_object *trace_json(const struct otlp_batch *b)
{
	json_object *spans = json_object_new_array();
	struct procs pr = { json_object_new_object(), NULL, 0 };
	char tid[33] = "";
	size_t n = 0, cap = 0;
	struct tspan *v = NULL;
	bool oom = false;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs && !oom; rs = rs->next) {
		char pid[24];
		if (process_id(&pr, rs, pid) != 0)
			break;
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp && !oom; sp = sp->next) {
				util_hex_encode(tid, sp->trace_id, 16);
				json_object *js = span_json(sp, ss, tid, pid);
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 64;
					struct tspan *nv = realloc(v, nc * sizeof(*nv));
					if (nv == NULL) {
						json_object_put(js);
						oom = true;
						break;
					}
					v = nv;
					cap = nc;
				}
				const char *text = json_object_to_json_string_ext(js, JSON_C_TO_STRING_PLAIN);
				v[n] = (struct tspan){ sp, js, text, n, false };
				n++;
			}
	}
	json_object *warn = NULL;
	if (n > 1) {
		qsort(v, n, sizeof(*v), tspan_cmp);
		warn = tspan_dedup(v, n);
		qsort(v, n, sizeof(*v), tspan_ix_cmp);
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].drop)
			json_object_put(v[i].js);
		else
			json_object_array_add(spans, v[i].js);
	}
	free(v);
	free(pr.keys);
	json_object *trace = json_object_new_object();
	json_object_object_add(trace, "traceID", json_object_new_string(tid));
	json_object_object_add(trace, "spans", spans);
	json_object_object_add(trace, "processes", pr.obj);
	json_object_object_add(trace, "warnings", warn);
	return trace;
}

/* Parses a Jaeger trace id: 1..32 hex digits, left-padded with zeros. */
static int parse_trace_id(const char *s, size_t len, uint8_t id[16])
{
	char buf[33];
	if (len == 0 || len > 32)
		return -EINVAL;
	memset(buf, '0', 32);
	memcpy(buf + 32 - len, s, len);
	buf[32] = '\0';
	return util_hex_decode(id, 16, buf, 32);
}

static void get_trace(struct col_server *srv, h2o_req_t *req, const char *id, size_t idlen)
{
	uint8_t tid[16];
	if (parse_trace_id(id, idlen, tid) != 0) {
		col_api_send_error(req, 400, "unable to parse param 'traceID': '%.*s' is not a hex trace id",
				   (int)(idlen > 64 ? 64 : idlen), id);
		return;
	}
	struct store *st = srv_store(srv);
	if (st == NULL) {
		col_api_send_error(req, 503, "no trace store (ternd runs without --sink store)");
		return;
	}
	struct otlp_batch *b;
	int rc = store_get_trace(st, tid, &b);
	if (rc == -ENOENT) {
		col_api_send_error(req, 404, "trace not found");
		return;
	}
	if (rc != 0) {
		col_api_send_error(req, 500, "cannot read the trace: %s", strerror(-rc));
		return;
	}
	json_object *arr = json_object_new_array();
	json_object_array_add(arr, trace_json(b));
	otlp_batch_free(b);
	col_api_send_data(req, arr, 1);
}

/* The trace JSON shows status ERROR as the tags error=true and
 * otel.status_code=ERROR (as Jaeger's OTLP translator does), so a search
 * for either asks for the status, which the store filters directly. */
static bool status_tag(struct store_query *q, const char *k, const char *v)
{
	if ((strcmp(k, "error") == 0 && strcmp(v, "true") == 0) ||
	    (strcmp(k, "otel.status_code") == 0 && strcmp(v, "ERROR") == 0)) {
		q->error_only = true;
		return true;
	}
	return false;
}

/* Adds key:value tags from `tag` params and the JSON object of `tags`. */
static int parse_tags(const struct col_api_params *p, struct store_query *q, json_object **keep,
		      char *err, size_t errlen)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->k[i], "tag") == 0) {
			char *c = strchr(p->v[i], ':');
			if (c == NULL) {
				snprintf(err, errlen, "malformed 'tag' parameter, expecting key:value, received: %s",
					 p->v[i]);
				return -EINVAL;
			}
			*c = '\0';
			if (status_tag(q, p->v[i], c + 1))
				continue;
			if (q->n_tags == STORE_MAX_TAGS)
				goto too_many;
			q->tags[q->n_tags].key = p->v[i];
			q->tags[q->n_tags++].value = c + 1;
		} else if (strcmp(p->k[i], "tags") == 0 && p->v[i][0]) {
			json_object *o = json_tokener_parse(p->v[i]);
			if (o == NULL || !json_object_is_type(o, json_type_object)) {
				json_object_put(o);
				snprintf(err, errlen, "malformed 'tags' parameter, cannot unmarshal JSON");
				return -EINVAL;
			}
			json_object_object_foreach(o, k, v)
			{
				if (!json_object_is_type(v, json_type_string)) {
					/* k lives in o: write the message first */
					snprintf(err, errlen, "malformed 'tags' parameter: value of '%s' is not a string", k);
					json_object_put(o);
					return -EINVAL;
				}
				if (status_tag(q, k, json_object_get_string(v)))
					continue;
				if (q->n_tags == STORE_MAX_TAGS) {
					json_object_put(o);
					goto too_many;
				}
				q->tags[q->n_tags].key = k;
				q->tags[q->n_tags++].value = json_object_get_string(v);
			}
			/* keys and values live in o until the search is done */
			if (*keep == NULL)
				*keep = json_object_new_array();
			json_object_array_add(*keep, o);
		}
	}
	return 0;
too_many:
	snprintf(err, errlen, "too many tags in 'tag'/'tags' (at most %d)", STORE_MAX_TAGS);
	return -EINVAL;
}

/* start and end (µs; default the last 2 days), or lookback before end. */
static int traces_window(const struct col_api_params *p, int64_t *start_us, int64_t *end_us,
			 char *err, size_t errlen)
{
	const char *v;
	uint64_t now_us = col_now_ns() / US;
	*end_us = (int64_t)now_us;
	*start_us = (int64_t)(now_us - DEFAULT_TRACE_LOOKBACK_NS / US);
	if ((v = col_api_param(p, "start")) && col_api_parse_i64(v, start_us) != 0) {
		snprintf(err, errlen, "unable to parse param 'start': '%s' is not microseconds", v);
		return -EINVAL;
	}
	if ((v = col_api_param(p, "end")) && col_api_parse_i64(v, end_us) != 0) {
		snprintf(err, errlen, "unable to parse param 'end': '%s' is not microseconds", v);
		return -EINVAL;
	}
	if ((v = col_api_param(p, "lookback")) && strcmp(v, "custom") != 0 &&
	    col_api_param(p, "start") == NULL) {
		uint64_t lb;
		if (util_parse_duration(v, &lb) != 0) {
			snprintf(err, errlen, "unable to parse param 'lookback': '%s'", v);
			return -EINVAL;
		}
		int64_t lb_us = (int64_t)(lb / US);
		/* end may be any int64: saturate (send_search refuses start < 0) */
		*start_us = *end_us < INT64_MIN + lb_us ? INT64_MIN : *end_us - lb_us;
	}
	return 0;
}

/* limit: default 20, at most MAX_SEARCH_LIMIT. */
static int traces_limit(const struct col_api_params *p, uint32_t *limit, char *err,
			size_t errlen)
{
	const char *v = col_api_param(p, "limit");
	int64_t l = 20;
	if (v && (col_api_parse_i64(v, &l) != 0 || l < 0)) {
		snprintf(err, errlen, "unable to parse param 'limit': '%s'", v);
		return -EINVAL;
	}
	*limit = l == 0 ? 20 : l > MAX_SEARCH_LIMIT ? MAX_SEARCH_LIMIT : (uint32_t)l;
	return 0;
}

/* minDuration and maxDuration into q. */
static int traces_durations(const struct col_api_params *p, struct store_query *q, char *err,
			    size_t errlen)
{
	static const char *const names[2] = { "minDuration", "maxDuration" };
	uint64_t *dst[2] = { &q->min_duration_ns, &q->max_duration_ns };
	for (int i = 0; i < 2; i++) {
		const char *v = col_api_param(p, names[i]);
		if (v && util_parse_duration(v, dst[i]) != 0) {
			snprintf(err, errlen, "unable to parse param '%s': '%s' (e.g. 1.2ms)", names[i], v);
			return -EINVAL;
		}
	}
	if (q->max_duration_ns && q->max_duration_ns < q->min_duration_ns) {
		snprintf(err, errlen, "'maxDuration' should be greater than 'minDuration'");
		return -EINVAL;
	}
	return 0;
}

/* Adds the trace id's JSON to arr, if the store has it; counts it in *got. */
static void add_trace(struct store *st, const uint8_t id[16], json_object *arr, size_t *got)
{
	struct otlp_batch *b;
	if (store_get_trace(st, id, &b) != 0)
		return; /* gone since the search, or (traceID=) unknown: Jaeger leaves it out */
	json_object_array_add(arr, trace_json(b));
	otlp_batch_free(b);
	(*got)++;
}

/* traceID=... (repeatable): those traces, whatever else is asked. */
static void send_traces_by_id(struct col_server *srv, h2o_req_t *req,
			      const struct col_api_params *p, size_t nids)
{
	struct store *st = srv_store(srv);
	if (st == NULL) {
		col_api_send_error(req, 503, "no trace store (ternd runs without --sink store)");
		return;
	}
	uint8_t (*ids)[16] = calloc(nids, 16);
	if (ids == NULL) {
		col_api_send_error(req, 500, "out of memory");
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->k[i], "traceID") != 0)
			continue;
		if (parse_trace_id(p->v[i], strlen(p->v[i]), ids[k++]) != 0) {
			col_api_send_error(req, 400, "cannot parse traceID param: '%s'", p->v[i]);
			free(ids);
			return;
		}
	}
	json_object *arr = json_object_new_array();
	size_t got = 0;
	for (size_t i = 0; i < nids; i++)
		add_trace(st, ids[i], arr, &got);
	free(ids);
	col_api_send_data(req, arr, (int64_t)got);
}

/* The traces that q matches, newest first. */
static void send_search(struct col_server *srv, h2o_req_t *req, struct store_query *q,
			int64_t start_us, int64_t end_us)
{
	if (q->service == NULL) {
		col_api_send_error(req, 400, "parameter 'service' is required");
		return;
	}
	if (start_us < 0 || end_us < start_us || end_us > INT64_MAX / 1000) {
		col_api_send_error(req, 400, "parameter 'start' must be <= 'end'");
		return;
	}
	q->start_min_ns = (uint64_t)start_us * US;
	q->start_max_ns = (uint64_t)end_us * US;
	struct store *st = srv_store(srv);
	if (st == NULL) {
		col_api_send_error(req, 503, "no trace store (ternd runs without --sink store)");
		return;
	}
	struct store_hit *hits;
	size_t n;
	int rc = store_search(st, q, &hits, &n);
	if (rc != 0) {
		col_api_send_error(req, rc == -EINVAL ? 400 : 500, "search failed: %s", strerror(-rc));
		return;
	}
	json_object *arr = json_object_new_array();
	size_t got = 0;
	for (size_t i = 0; i < n; i++)
		add_trace(st, hits[i].trace_id, arr, &got);
	free(hits);
	col_api_send_data(req, arr, (int64_t)got);
}

int col_api_traces(struct col_server *srv, h2o_req_t *req)
{
	struct col_api_params p;
	json_object *keep = NULL; /* owns the strings of tags={...} in q */
	char err[300];
	struct store_query q;
	int64_t start_us, end_us;
	memset(&q, 0, sizeof(q));
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "%s", p.why);
		goto out;
	}
	q.service = col_api_param(&p, "service");
	q.operation = col_api_param(&p, "operation");
	if (traces_window(&p, &start_us, &end_us, err, sizeof(err)) != 0 ||
	    traces_limit(&p, &q.limit, err, sizeof(err)) != 0 ||
	    traces_durations(&p, &q, err, sizeof(err)) != 0 ||
	    parse_tags(&p, &q, &keep, err, sizeof(err)) != 0) {
		col_api_send_error(req, 400, "%s", err);
		goto out;
	}
	size_t nids = 0;
	for (size_t i = 0; i < p.n; i++)
		nids += strcmp(p.k[i], "traceID") == 0;
	if (nids > 0)
		send_traces_by_id(srv, req, &p, nids);
	else
		send_search(srv, req, &q, start_us, end_us);
out:
	json_object_put(keep);
	col_api_params_done(&p);
	return 0;
}

int col_api_dependencies(struct col_server *srv, h2o_req_t *req)
{
	struct col_api_params p;
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "%s", p.why);
		goto out;
	}
	int64_t end_ms = (int64_t)(col_now_ns() / 1000000), lookback = DEFAULT_DEPS_LOOKBACK_MS;
	const char *v;
	if ((v = col_api_param(&p, "endTs")) && col_api_parse_i64(v, &end_ms) != 0) {
		col_api_send_error(req, 400, "unable to parse param 'endTs': '%s' is not milliseconds", v);
		goto out;
	}
	if ((v = col_api_param(&p, "lookback")) &&
	    (col_api_parse_i64(v, &lookback) != 0 || lookback < 0)) {
		col_api_send_error(req, 400, "unable to parse param 'lookback': '%s' is not milliseconds", v);
		goto out;
	}
	if (end_ms < 0 || end_ms > INT64_MAX / 1000000 || lookback > INT64_MAX / 1000000) {
		col_api_send_error(req, 400, "unable to parse param 'endTs'/'lookback': out of range");
		goto out;
	}
	json_object *arr = json_object_new_array();
	size_t n = 0;
	if (srv->an != NULL) {
		struct col_an_edge *e;
		uint64_t end = (uint64_t)end_ms * 1000000ull;
		uint64_t lb = (uint64_t)lookback * 1000000ull;
		if (col_an_deps(srv->an, end > lb ? end - lb : 0, end, &e, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				json_object *o = json_object_new_object();
				json_object_object_add(o, "parent", json_object_new_string(e[i].parent));
				json_object_object_add(o, "child", json_object_new_string(e[i].child));
				json_object_object_add(o, "callCount", json_object_new_int64((int64_t)e[i].calls));
				/* Not in Jaeger's shape: Jaeger UI ignores it. */
				json_object_object_add(o, "errorCount", json_object_new_int64((int64_t)e[i].errors));
				json_object_array_add(arr, o);
			}
			free(e);
		}
	}
	col_api_send_data(req, arr, (int64_t)n);
out:
	col_api_params_done(&p);
	return 0;
}

int col_api_prefixed(struct col_server *srv, h2o_req_t *req)
{
	/* The raw path (before '?'), so an escaped '/' in a name stays in it. */
	size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
	const char *path = req->path.base;
	static const char svc[] = "/api/services/", ops[] = "/operations", tr[] = "/api/traces/";
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
		return 1;
	if (plen > sizeof(svc) - 1 + sizeof(ops) - 1 && memcmp(path, svc, sizeof(svc) - 1) == 0 &&
	    memcmp(path + plen - (sizeof(ops) - 1), ops, sizeof(ops) - 1) == 0) {
		size_t nlen = plen - (sizeof(svc) - 1) - (sizeof(ops) - 1);
		char *name = malloc(nlen + 1);
		if (name == NULL) {
			col_api_send_error(req, 500, "out of memory");
			return 0;
		}
		util_pct_decode(name, path + sizeof(svc) - 1, nlen, false);
		send_operations(srv, req, name, -1, true);
		free(name);
		return 0;
	}
	if (plen > sizeof(tr) - 1 && memcmp(path, tr, sizeof(tr) - 1) == 0) {
		get_trace(srv, req, path + sizeof(tr) - 1, plen - (sizeof(tr) - 1));
		return 0;
	}
	return 1;
}
