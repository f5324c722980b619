/*
 * build.c: the batch builder (otlp_builder_*, otlp_build_*): appends
 * resources, scopes, spans, events, links and attributes in wire order,
 * with the list tails kept here rather than in every caller.
 */
#include <errno.h>
#include <string.h>

#include "otlp.h"

/* Records the first error; every later call returns it. */
static int fail(struct otlp_builder *bd, int rc)
{
	if (bd->err == 0)
		bd->err = rc;
	return bd->err;
}

static void *alloc(struct otlp_builder *bd, size_t n)
{
	if (bd->batch == NULL) { /* a zeroed builder, never set up */
		fail(bd, -EINVAL);
		return NULL;
	}
	void *p = otlp_batch_alloc(bd->batch, n);
	if (p == NULL)
		fail(bd, -ENOMEM);
	return p;
}

/* Copies s (len bytes) into the arena; false (and the error set) when out
 * of memory. An empty string stays {NULL, 0}. */
static bool dup(struct otlp_builder *bd, struct otlp_bytes *out, const void *s, size_t len)
{
	*out = otlp_batch_strdup(bd->batch, s, len);
	if (len > 0 && out->ptr == NULL) {
		fail(bd, -ENOMEM);
		return false;
	}
	return true;
}

static bool dup_cstr(struct otlp_builder *bd, struct otlp_bytes *out, const char *s)
{
	return s == NULL || dup(bd, out, s, strlen(s));
}

int otlp_builder_init(struct otlp_builder *bd)
{
	memset(bd, 0, sizeof *bd);
	bd->batch = otlp_batch_new();
	return bd->batch == NULL ? fail(bd, -ENOMEM) : 0;
}

void otlp_builder_done(struct otlp_builder *bd)
{
	otlp_batch_free(bd->batch);
	memset(bd, 0, sizeof *bd);
}

struct otlp_batch *otlp_builder_take(struct otlp_builder *bd)
{
	struct otlp_batch *b = bd->err == 0 ? bd->batch : NULL;
	if (b != NULL)
		bd->batch = NULL;
	otlp_builder_done(bd);
	return b;
}

int otlp_build_resource(struct otlp_builder *bd, const char *service_name)
{
	if (bd->err)
		return bd->err;
	struct otlp_resource_spans *rs = alloc(bd, sizeof *rs);
	if (rs == NULL)
		return bd->err;
	if (bd->rs != NULL)
		bd->rs->next = rs;
	else
		bd->batch->resource_spans = rs;
	bd->batch->n_resource_spans++;
	bd->rs = rs;
	bd->ss = NULL;
	bd->sp = NULL;
	bd->ev = NULL;
	bd->ln = NULL;
	memset(bd->_kv_tail, 0, sizeof bd->_kv_tail);
	if (service_name != NULL)
		return otlp_build_str(bd, OTLP_TO_RESOURCE, "service.name", service_name);
	return 0;
}

int otlp_build_scope(struct otlp_builder *bd, const char *name, const char *version)
{
	if (bd->err)
		return bd->err;
	if (bd->rs == NULL && otlp_build_resource(bd, NULL) != 0)
		return bd->err;
	struct otlp_scope_spans *ss = alloc(bd, sizeof *ss);
	if (ss == NULL || !dup_cstr(bd, &ss->scope_name, name) ||
	    !dup_cstr(bd, &ss->scope_version, version))
		return bd->err;
	if (bd->ss != NULL)
		bd->ss->next = ss;
	else
		bd->rs->scope_spans = ss;
	bd->rs->n_scope_spans++;
	bd->ss = ss;
	bd->sp = NULL;
	bd->ev = NULL;
	bd->ln = NULL;
	for (int i = OTLP_TO_SCOPE; i <= OTLP_TO_LINK; i++)
		bd->_kv_tail[i] = NULL;
	return 0;
}

/* Links sp (zeroed or copied, next unset) at the end of the current scope. */
static void link_span(struct otlp_builder *bd, struct otlp_span *sp)
{
	sp->next = NULL;
	if (bd->sp != NULL)
		bd->sp->next = sp;
	else
		bd->ss->spans = sp;
	bd->ss->n_spans++;
	bd->batch->n_spans++;
	bd->sp = sp;
	bd->_shared = false;
	bd->ev = NULL;
	bd->ln = NULL;
	for (int i = OTLP_TO_SPAN; i <= OTLP_TO_LINK; i++)
		bd->_kv_tail[i] = NULL;
}

int otlp_build_span(struct otlp_builder *bd, const uint8_t trace_id[16],
		    const uint8_t span_id[8], const uint8_t *parent_id, const char *name,
		    enum otlp_span_kind kind, uint64_t start_ns, uint64_t end_ns)
{
	if (bd->err)
		return bd->err;
	if (bd->ss == NULL && otlp_build_scope(bd, NULL, NULL) != 0)
		return bd->err;
	struct otlp_span *sp = alloc(bd, sizeof *sp);
	if (sp == NULL || !dup_cstr(bd, &sp->name, name))
		return bd->err;
	memcpy(sp->trace_id, trace_id, 16);
	memcpy(sp->span_id, span_id, 8);
	if (parent_id != NULL) {
		memcpy(sp->parent_span_id, parent_id, 8);
		sp->has_parent = true;
	}
	sp->kind = kind;
	sp->start_time_unix_nano = start_ns;
	sp->end_time_unix_nano = end_ns;
	link_span(bd, sp);
	return 0;
}

int otlp_build_span_copy(struct otlp_builder *bd, const struct otlp_span *src)
{
	if (bd->err)
		return bd->err;
	if (bd->ss == NULL && otlp_build_scope(bd, NULL, NULL) != 0)
		return bd->err;
	struct otlp_span *sp = alloc(bd, sizeof *sp);
	if (sp == NULL)
		return bd->err;
	*sp = *src;
	link_span(bd, sp);
	bd->_shared = true;
	return 0;
}

int otlp_build_status(struct otlp_builder *bd, enum otlp_status_code code, const char *msg)
{
	if (bd->err)
		return bd->err;
	if (bd->sp == NULL)
		return fail(bd, -EINVAL);
	bd->sp->status.code = code;
	bd->sp->status.message = (struct otlp_bytes){ NULL, 0 };
	return dup_cstr(bd, &bd->sp->status.message, msg) ? 0 : bd->err;
}

int otlp_build_event(struct otlp_builder *bd, uint64_t time_ns, const char *name)
{
	if (bd->err)
		return bd->err;
	if (bd->sp == NULL || bd->_shared)
		return fail(bd, -EINVAL);
	struct otlp_event *ev = alloc(bd, sizeof *ev);
	if (ev == NULL || !dup_cstr(bd, &ev->name, name))
		return bd->err;
	ev->time_unix_nano = time_ns;
	if (bd->ev != NULL)
		bd->ev->next = ev;
	else
		bd->sp->events.head = ev;
	bd->sp->events.n++;
	bd->ev = ev;
	bd->_kv_tail[OTLP_TO_EVENT] = NULL;
	return 0;
}

int otlp_build_link(struct otlp_builder *bd, const uint8_t trace_id[16],
		    const uint8_t span_id[8])
{
	if (bd->err)
		return bd->err;
	if (bd->sp == NULL || bd->_shared)
		return fail(bd, -EINVAL);
	struct otlp_link *ln = alloc(bd, sizeof *ln);
	if (ln == NULL)
		return bd->err;
	memcpy(ln->trace_id, trace_id, 16);
	memcpy(ln->span_id, span_id, 8);
	if (bd->ln != NULL)
		bd->ln->next = ln;
	else
		bd->sp->links.head = ln;
	bd->sp->links.n++;
	bd->ln = ln;
	bd->_kv_tail[OTLP_TO_LINK] = NULL;
	return 0;
}

static struct otlp_attrs *target(struct otlp_builder *bd, enum otlp_build_to to)
{
	switch (to) {
	case OTLP_TO_RESOURCE:
		return bd->rs ? &bd->rs->resource_attrs : NULL;
	case OTLP_TO_SCOPE:
		return bd->ss ? &bd->ss->scope_attrs : NULL;
	case OTLP_TO_SPAN:
		return bd->sp ? &bd->sp->attrs : NULL;
	case OTLP_TO_EVENT:
		return bd->ev ? &bd->ev->attrs : NULL;
	case OTLP_TO_LINK:
		return bd->ln ? &bd->ln->attrs : NULL;
	}
	return NULL;
}

struct otlp_any *otlp_build_attr(struct otlp_builder *bd, enum otlp_build_to to,
				 const char *key, size_t klen)
{
	if (bd->err)
		return NULL;
	struct otlp_attrs *a = target(bd, to);
	if (a == NULL || (bd->_shared && to >= OTLP_TO_SPAN)) {
		fail(bd, -EINVAL);
		return NULL;
	}
	struct otlp_kv *kv = alloc(bd, sizeof *kv);
	if (kv == NULL || !dup(bd, &kv->key, key, klen))
		return NULL;
	/* The tail is unknown after a caller set the list itself (a copied
	 * span, borrowed resource attributes): find it once. */
	struct otlp_kv *tail = bd->_kv_tail[to];
	if (tail == NULL)
		for (tail = a->head; tail != NULL && tail->next != NULL; tail = tail->next)
			;
	if (tail != NULL)
		tail->next = kv;
	else
		a->head = kv;
	a->n++;
	bd->_kv_tail[to] = kv;
	return &kv->value;
}

int otlp_build_str(struct otlp_builder *bd, enum otlp_build_to to, const char *key,
		   const char *val)
{
	struct otlp_any *v = otlp_build_attr(bd, to, key, strlen(key));
	if (v == NULL)
		return bd->err;
	/* An empty string is still a string value, so only the type says so. */
	v->type = OTLP_VALUE_STRING;
	return dup_cstr(bd, &v->u.str, val) ? 0 : bd->err;
}

int otlp_build_int(struct otlp_builder *bd, enum otlp_build_to to, const char *key, int64_t val)
{
	struct otlp_any *v = otlp_build_attr(bd, to, key, strlen(key));
	if (v == NULL)
		return bd->err;
	v->type = OTLP_VALUE_INT;
	v->u.i = val;
	return 0;
}

int otlp_build_double(struct otlp_builder *bd, enum otlp_build_to to, const char *key,
		      double val)
{
	struct otlp_any *v = otlp_build_attr(bd, to, key, strlen(key));
	if (v == NULL)
		return bd->err;
	v->type = OTLP_VALUE_DOUBLE;
	v->u.d = val;
	return 0;
}

int otlp_build_bool(struct otlp_builder *bd, enum otlp_build_to to, const char *key, bool val)
{
	struct otlp_any *v = otlp_build_attr(bd, to, key, strlen(key));
	if (v == NULL)
		return bd->err;
	v->type = OTLP_VALUE_BOOL;
	v->u.b = val;
	return 0;
}

int otlp_build_bytes(struct otlp_builder *bd, enum otlp_build_to to, const char *key,
		     const void *p, size_t len)
{
	struct otlp_any *v = otlp_build_attr(bd, to, key, strlen(key));
	if (v == NULL)
		return bd->err;
	v->type = OTLP_VALUE_BYTES;
	return dup(bd, &v->u.str, p, len) ? 0 : bd->err;
}

struct otlp_any *otlp_build_item(struct otlp_builder *bd, struct otlp_any *arr)
{
	if (bd->err)
		return NULL;
	if (arr->type == OTLP_VALUE_EMPTY) {
		arr->type = OTLP_VALUE_ARRAY;
		arr->u.array.head = NULL;
		arr->u.array.n = 0;
	} else if (arr->type != OTLP_VALUE_ARRAY) {
		fail(bd, -EINVAL);
		return NULL;
	}
	struct otlp_any_item *it = alloc(bd, sizeof *it);
	if (it == NULL)
		return NULL;
	struct otlp_any_item *tail = bd->_list == arr ? bd->_list_tail : NULL;
	if (tail == NULL)
		for (tail = arr->u.array.head; tail != NULL && tail->next != NULL;
		     tail = tail->next)
			;
	if (tail != NULL)
		tail->next = it;
	else
		arr->u.array.head = it;
	arr->u.array.n++;
	bd->_list = arr;
	bd->_list_tail = it;
	return &it->value;
}

struct otlp_any *otlp_build_entry(struct otlp_builder *bd, struct otlp_any *map,
				  const char *key, size_t klen)
{
	if (bd->err)
		return NULL;
	if (map->type == OTLP_VALUE_EMPTY) {
		map->type = OTLP_VALUE_KVLIST;
		map->u.kvlist.head = NULL;
		map->u.kvlist.n = 0;
	} else if (map->type != OTLP_VALUE_KVLIST) {
		fail(bd, -EINVAL);
		return NULL;
	}
	struct otlp_kv *kv = alloc(bd, sizeof *kv);
	if (kv == NULL || !dup(bd, &kv->key, key, klen))
		return NULL;
	struct otlp_kv *tail = bd->_list == map ? bd->_list_tail : NULL;
	if (tail == NULL)
		for (tail = map->u.kvlist.head; tail != NULL && tail->next != NULL;
		     tail = tail->next)
			;
	if (tail != NULL)
		tail->next = kv;
	else
		map->u.kvlist.head = kv;
	map->u.kvlist.n++;
	bd->_list = map;
	bd->_list_tail = kv;
	return &kv->value;
}
