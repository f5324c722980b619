/*
 * api_jaeger.c: Jaeger's query API (the paths, parameters and JSON that
 * Jaeger UI and Grafana's Jaeger data source use) over the store and the
 * analytics: services, operations, trace search, one trace, dependencies.
 * Times are microseconds since the epoch, durations microseconds.
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
		col_api_send_error(req, 400, "too many or malformed query parameters");
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

/* Builds one Jaeger trace from every span of b (all of one trace). */
static json_object *trace_json(const struct otlp_batch *b)
{
	json_object *spans = json_object_new_array();
	json_object *procs = json_object_new_object();
	json_object *trace = json_object_new_object();
	char tid[33] = "";
	/* One process per distinct resource (service + attributes). */
	const char **pkeys = NULL;
	size_t np = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		json_object *ptags = attrs_tags(&rs->resource_attrs, json_object_new_array());
		const char *pk = json_object_to_json_string_ext(ptags, JSON_C_TO_STRING_PLAIN);
		size_t pi;
		for (pi = 0; pi < np; pi++)
			if (strcmp(pkeys[pi], pk) == 0)
				break;
		char pid[24];
		snprintf(pid, sizeof(pid), "p%zu", pi + 1);
		if (pi == np) {
			const char **nk = realloc(pkeys, (np + 1) * sizeof(*nk));
			if (nk == NULL) {
				json_object_put(ptags);
				break;
			}
			pkeys = nk;
			json_object *proc = json_object_new_object();
			const struct otlp_any *sv = otlp_attrs_find(&rs->resource_attrs, "service.name");
			if (sv && sv->type == OTLP_VALUE_STRING)
				json_object_object_add(proc, "serviceName",
						       json_object_new_string_len((const char *)sv->u.str.ptr,
										  (int)sv->u.str.len));
			else
				json_object_object_add(proc, "serviceName",
						       json_object_new_string("unknown_service"));
			json_object_object_add(proc, "tags", ptags);
			json_object_object_add(procs, pid, proc);
			/* the key string belongs to ptags, now owned by procs */
			pkeys[np++] = json_object_to_json_string_ext(ptags, JSON_C_TO_STRING_PLAIN);
		} else {
			json_object_put(ptags);
		}
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
				char sid[17], hex[33];
				util_hex_encode(tid, sp->trace_id, 16);
				util_hex_encode(sid, sp->span_id, 8);
				json_object *s = json_object_new_object();
				json_object_object_add(s, "traceID", json_object_new_string(tid));
				json_object_object_add(s, "spanID", json_object_new_string(sid));
				json_object_object_add(s, "operationName",
						       json_object_new_string_len((const char *)sp->name.ptr,
										  (int)sp->name.len));
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
				json_object_object_add(s, "references", refs);
				json_object_object_add(s, "flags", json_object_new_int64(sp->flags & 0xff));
				uint64_t st = sp->start_time_unix_nano / US;
				uint64_t dur = sp->end_time_unix_nano > sp->start_time_unix_nano ?
						       (sp->end_time_unix_nano - sp->start_time_unix_nano) / US : 0;
				json_object_object_add(s, "startTime", json_object_new_int64((int64_t)st));
				json_object_object_add(s, "duration", json_object_new_int64((int64_t)dur));
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
					json_object_array_add(tags, str_tag("otel.scope.name",
									    (const char *)ss->scope_name.ptr,
									    ss->scope_name.len));
				json_object_object_add(s, "tags", tags);
				json_object *logs = json_object_new_array();
				for (const struct otlp_event *e = sp->events.head; e; e = e->next) {
					json_object *lg = json_object_new_object();
					json_object_object_add(lg, "timestamp",
							       json_object_new_int64((int64_t)(e->time_unix_nano / US)));
					json_object *f = json_object_new_array();
					json_object_array_add(f, str_tag("event", (const char *)e->name.ptr,
									 e->name.len));
					attrs_tags(&e->attrs, f);
					json_object_object_add(lg, "fields", f);
					json_object_array_add(logs, lg);
				}
				json_object_object_add(s, "logs", logs);
				json_object_object_add(s, "processID", json_object_new_string(pid));
				json_object_object_add(s, "warnings", NULL);
				json_object_array_add(spans, s);
			}
		}
	}
	free(pkeys);
	json_object_object_add(trace, "traceID", json_object_new_string(tid));
	json_object_object_add(trace, "spans", spans);
	json_object_object_add(trace, "processes", procs);
	json_object_object_add(trace, "warnings", NULL);
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
					json_object_put(o);
					snprintf(err, errlen, "malformed 'tags' parameter: value of '%s' is not a string", k);
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

int col_api_traces(struct col_server *srv, h2o_req_t *req)
{
	struct col_api_params p;
	json_object *keep = NULL;
	char err[300];
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "too many or malformed query parameters");
		goto out;
	}
	struct store_query q;
	memset(&q, 0, sizeof(q));
	q.service = col_api_param(&p, "service");
	q.operation = col_api_param(&p, "operation");
	const char *v;
	uint64_t now_us = col_now_ns() / US;
	int64_t end_us = (int64_t)now_us, start_us = (int64_t)(now_us - DEFAULT_TRACE_LOOKBACK_NS / US);
	if ((v = col_api_param(&p, "start")) && col_api_parse_i64(v, &start_us) != 0) {
		col_api_send_error(req, 400, "unable to parse param 'start': '%s' is not microseconds", v);
		goto out;
	}
	if ((v = col_api_param(&p, "end")) && col_api_parse_i64(v, &end_us) != 0) {
		col_api_send_error(req, 400, "unable to parse param 'end': '%s' is not microseconds", v);
		goto out;
	}
	if ((v = col_api_param(&p, "lookback")) && strcmp(v, "custom") != 0 &&
	    col_api_param(&p, "start") == NULL) {
		uint64_t lb;
		if (col_api_parse_duration(v, &lb) != 0) {
			col_api_send_error(req, 400, "unable to parse param 'lookback': '%s'", v);
			goto out;
		}
		start_us = end_us - (int64_t)(lb / US);
	}
	int64_t limit = 20;
	if ((v = col_api_param(&p, "limit")) &&
	    (col_api_parse_i64(v, &limit) != 0 || limit < 0)) {
		col_api_send_error(req, 400, "unable to parse param 'limit': '%s'", v);
		goto out;
	}
	if (limit == 0 || limit > MAX_SEARCH_LIMIT)
		limit = limit == 0 ? 20 : MAX_SEARCH_LIMIT;
	uint64_t d;
	if ((v = col_api_param(&p, "minDuration"))) {
		if (col_api_parse_duration(v, &d) != 0) {
			col_api_send_error(req, 400, "unable to parse param 'minDuration': '%s' (e.g. 1.2ms)", v);
			goto out;
		}
		q.min_duration_ns = d;
	}
	if ((v = col_api_param(&p, "maxDuration"))) {
		if (col_api_parse_duration(v, &d) != 0) {
			col_api_send_error(req, 400, "unable to parse param 'maxDuration': '%s' (e.g. 1.2ms)", v);
			goto out;
		}
		q.max_duration_ns = d;
	}
	if (q.max_duration_ns && q.max_duration_ns < q.min_duration_ns) {
		col_api_send_error(req, 400, "'maxDuration' should be greater than 'minDuration'");
		goto out;
	}
	if (parse_tags(&p, &q, &keep, err, sizeof(err)) != 0) {
		col_api_send_error(req, 400, "%s", err);
		goto out;
	}
	/* traceID=... (repeatable): those traces, whatever else is asked. */
	size_t nids = 0;
	for (size_t i = 0; i < p.n; i++)
		nids += strcmp(p.k[i], "traceID") == 0;
	if (nids > 0) {
		struct store *st = srv_store(srv);
		if (st == NULL) {
			col_api_send_error(req, 503, "no trace store (ternd runs without --sink store)");
			goto out;
		}
		uint8_t (*ids)[16] = calloc(nids, 16);
		if (ids == NULL) {
			col_api_send_error(req, 500, "out of memory");
			goto out;
		}
		size_t k = 0;
		for (size_t i = 0; i < p.n; i++) {
			if (strcmp(p.k[i], "traceID") != 0)
				continue;
			if (parse_trace_id(p.v[i], strlen(p.v[i]), ids[k++]) != 0) {
				col_api_send_error(req, 400, "cannot parse traceID param: '%s'", p.v[i]);
				free(ids);
				goto out;
			}
		}
		json_object *arr = json_object_new_array();
		size_t got = 0;
		for (size_t i = 0; i < nids; i++) {
			struct otlp_batch *b;
			if (store_get_trace(st, ids[i], &b) != 0)
				continue; /* Jaeger leaves unknown ids out here */
			json_object_array_add(arr, trace_json(b));
			otlp_batch_free(b);
			got++;
		}
		free(ids);
		col_api_send_data(req, arr, (int64_t)got);
		goto out;
	}
	if (q.service == NULL) {
		col_api_send_error(req, 400, "parameter 'service' is required");
		goto out;
	}
	if (start_us < 0 || end_us < start_us || end_us > INT64_MAX / 1000) {
		col_api_send_error(req, 400, "parameter 'start' must be <= 'end'");
		goto out;
	}
	q.start_min_ns = (uint64_t)start_us * US;
	q.start_max_ns = (uint64_t)end_us * US;
	q.limit = (uint32_t)limit;
	struct store *st = srv_store(srv);
	if (st == NULL) {
		col_api_send_error(req, 503, "no trace store (ternd runs without --sink store)");
		goto out;
	}
	struct store_hit *hits;
	size_t n;
	int rc = store_search(st, &q, &hits, &n);
	if (rc != 0) {
		col_api_send_error(req, rc == -EINVAL ? 400 : 500, "search failed: %s", strerror(-rc));
		goto out;
	}
	json_object *arr = json_object_new_array();
	size_t got = 0;
	for (size_t i = 0; i < n; i++) {
		struct otlp_batch *b;
		if (store_get_trace(st, hits[i].trace_id, &b) != 0)
			continue;
		json_object_array_add(arr, trace_json(b));
		otlp_batch_free(b);
		got++;
	}
	free(hits);
	col_api_send_data(req, arr, (int64_t)got);
out:
	json_object_put(keep);
	col_api_params_done(&p);
	return 0;
}

int col_api_dependencies(struct col_server *srv, h2o_req_t *req)
{
	struct col_api_params p;
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "too many or malformed query parameters");
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
		/* percent-decoding */
		size_t w = 0;
		const char *s = path + sizeof(svc) - 1;
		for (size_t i = 0; i < nlen; i++) {
			int hi, lo;
			if (s[i] == '%' && i + 2 < nlen &&
			    sscanf((char[]){ s[i + 1], 0 }, "%1x", &hi) == 1 &&
			    sscanf((char[]){ s[i + 2], 0 }, "%1x", &lo) == 1) {
				name[w++] = (char)(hi << 4 | lo);
				i += 2;
			} else {
				name[w++] = s[i];
			}
		}
		name[w] = '\0';
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
