/*
 * index.c: the in-memory indexes (per segment: span summaries, a trace-id
 * hash, per-operation lists) and the queries that use them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io.h"
#include "record.h"
#include "store_int.h"
#include "util/hash.h"

uint64_t store__now_ns(const struct store *s)
{
	if (s->o.now_ns != NULL)
		return s->o.now_ns(s->o.now_arg);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t trace_hash(const uint8_t id[16])
{
	uint64_t a, b;
	memcpy(&a, id, 8);
	memcpy(&b, id + 8, 8);
	return util_mix64(a ^ util_mix64(b));
}

static uint64_t str_hash(const uint8_t *p, size_t n, uint64_t seed)
{
	/* In-memory tables only: nothing on disk depends on these values. */
	return util_mix64(util_fnv1a64(UTIL_FNV1A64_INIT ^ seed, p, n));
}

struct otlp_bytes store__service_of(const struct otlp_resource_spans *rs)
{
	for (const struct otlp_kv *kv = rs->resource_attrs.head; kv; kv = kv->next)
		if (kv->key.len == 12 && memcmp(kv->key.ptr, "service.name", 12) == 0 &&
		    kv->value.type == OTLP_VALUE_STRING)
			return kv->value.u.str;
	return (struct otlp_bytes){ NULL, 0 };
}

/* ---- dictionary ---- */

static int svc_id(struct store *s, const uint8_t *p, size_t n, uint32_t *id)
{
	for (uint32_t i = 0; i < s->nsvcs; i++)
		if (s->svc_len[i] == n && (n == 0 || memcmp(s->svcs[i], p, n) == 0)) {
			*id = i;
			return 0;
		}
	if (s->nsvcs == s->capsvcs) {
		uint32_t cap = s->capsvcs ? s->capsvcs * 2 : 16;
		char **v = realloc(s->svcs, cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		s->svcs = v;
		size_t *l = realloc(s->svc_len, cap * sizeof *l);
		if (l == NULL)
			return -ENOMEM;
		s->svc_len = l;
		s->capsvcs = cap;
	}
	char *c = malloc(n + 1);
	if (c == NULL)
		return -ENOMEM;
	if (n)
		memcpy(c, p, n);
	c[n] = 0;
	s->svcs[s->nsvcs] = c;
	s->svc_len[s->nsvcs] = n;
	*id = s->nsvcs++;
	return 0;
}

static uint64_t op_hash(uint32_t svc, const uint8_t *name, size_t n, int kind)
{
	return str_hash(name, n, ((uint64_t)svc << 8) ^ (uint64_t)(unsigned)kind);
}

static int ophash_grow(struct store *s)
{
	uint32_t cap = s->ophcap ? s->ophcap * 2 : 256;
	uint32_t *h = calloc(cap, sizeof *h);
	if (h == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nops; i++) {
		struct op *o = &s->ops[i];
		uint64_t k = op_hash(o->svc, (const uint8_t *)o->name, o->name_len, o->kind);
		uint32_t j = (uint32_t)k & (cap - 1);
		while (h[j])
			j = (j + 1) & (cap - 1);
		h[j] = i + 1;
	}
	free(s->ophash);
	s->ophash = h;
	s->ophcap = cap;
	return 0;
}

static int op_id(struct store *s, const uint8_t *svc, size_t svc_len,
		 const uint8_t *name, size_t name_len, int kind, uint32_t *id);

int store__op_id(struct store *s, const uint8_t *svc, size_t svc_len,
		 const uint8_t *name, size_t name_len, int kind, uint32_t *id)
{
	if (s->dict_mu == NULL)
		return op_id(s, svc, svc_len, name, name_len, kind, id);
	pthread_mutex_lock(s->dict_mu);
	int rc = op_id(s, svc, svc_len, name, name_len, kind, id);
	pthread_mutex_unlock(s->dict_mu);
	return rc;
}

static int op_id(struct store *s, const uint8_t *svc, size_t svc_len,
		 const uint8_t *name, size_t name_len, int kind, uint32_t *id)
{
	uint32_t sv;
	int rc = svc_id(s, svc, svc_len, &sv);
	if (rc < 0)
		return rc;
	if ((s->nops + 1) * 2 > s->ophcap && (rc = ophash_grow(s)) < 0)
		return rc;
	uint64_t k = op_hash(sv, name, name_len, kind);
	uint32_t j = (uint32_t)k & (s->ophcap - 1);
	while (s->ophash[j]) {
		struct op *o = &s->ops[s->ophash[j] - 1];
		if (o->svc == sv && o->kind == kind && o->name_len == name_len &&
		    (name_len == 0 || memcmp(o->name, name, name_len) == 0)) {
			*id = s->ophash[j] - 1;
			return 0;
		}
		j = (j + 1) & (s->ophcap - 1);
	}
	if (s->nops >= (1u << 31) - 1)
		return -EOVERFLOW; /* ent.op is 31 bits */
	if (s->nops == s->capops) {
		uint32_t cap = s->capops ? s->capops * 2 : 64;
		struct op *v = realloc(s->ops, cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		s->ops = v;
		s->capops = cap;
	}
	char *c = malloc(name_len + 1);
	if (c == NULL)
		return -ENOMEM;
	if (name_len)
		memcpy(c, name, name_len);
	c[name_len] = 0;
	s->ops[s->nops] = (struct op){ sv, kind, c, name_len };
	s->ophash[j] = s->nops + 1;
	*id = s->nops++;
	return 0;
}

void store__dict_free(struct store *s)
{
	for (uint32_t i = 0; i < s->nsvcs; i++)
		free(s->svcs[i]);
	free(s->svcs);
	free(s->svc_len);
	for (uint32_t i = 0; i < s->nops; i++)
		free(s->ops[i].name);
	free(s->ops);
	free(s->ophash);
}

/* ---- per-segment index ---- */

void store__seg_index_free(struct seg *g)
{
	free(g->ents);
	free(g->thash);
	for (uint32_t i = 0; i < g->nbyop; i++)
		free(g->byop[i].v);
	free(g->byop);
	g->ents = NULL;
	g->thash = NULL;
	g->byop = NULL;
	g->n = g->cap = g->tcap = g->tused = g->nbyop = 0;
}

static uint32_t *thash_slot(struct seg *g, const uint8_t id[16])
{
	uint32_t j = (uint32_t)trace_hash(id) & (g->tcap - 1);
	while (g->thash[j] != NO_ENT && memcmp(g->ents[g->thash[j]].trace_id, id, 16) != 0)
		j = (j + 1) & (g->tcap - 1);
	return &g->thash[j];
}

static int thash_grow(struct seg *g)
{
	uint32_t cap = g->tcap ? g->tcap * 2 : 1024;
	uint32_t *old = g->thash, ocap = g->tcap;
	g->thash = malloc((size_t)cap * sizeof *g->thash);
	if (g->thash == NULL) {
		g->thash = old;
		return -ENOMEM;
	}
	memset(g->thash, 0xff, (size_t)cap * sizeof *g->thash);
	g->tcap = cap;
	for (uint32_t i = 0; i < ocap; i++)
		if (old[i] != NO_ENT)
			*thash_slot(g, g->ents[old[i]].trace_id) = old[i];
	free(old);
	return 0;
}

int store__seg_reserve(struct seg *g, uint32_t n)
{
	if (n <= g->cap)
		return 0;
	struct ent *v = realloc(g->ents, (size_t)n * sizeof *v);
	if (v == NULL)
		return -ENOMEM;
	g->ents = v;
	g->cap = n;
	/* one slot per span at most half full: no rehash while loading */
	uint32_t want = 1024;
	while (want < 2 * (uint64_t)n && want < (1u << 31))
		want *= 2;
	while (g->tcap < want)
		if (thash_grow(g) < 0)
			return -ENOMEM;
	return 0;
}

int store__seg_push(struct seg *g, const struct ent *e)
{
	if (g->n == NO_ENT - 1)
		return -EFBIG;
	if (g->n == g->cap) {
		uint32_t cap = g->cap ? g->cap * 2 : 1024;
		struct ent *v = realloc(g->ents, (size_t)cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		g->ents = v;
		g->cap = cap;
	}
	if ((g->tused + 1) * 2 > g->tcap && thash_grow(g) < 0)
		return -ENOMEM;
	if (e->op >= g->nbyop) {
		uint32_t n = e->op + 16;
		struct opvec *v = realloc(g->byop, (size_t)n * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		memset(v + g->nbyop, 0, (size_t)(n - g->nbyop) * sizeof *v);
		g->byop = v;
		g->nbyop = n;
	}
	struct opvec *ov = &g->byop[e->op];
	if (ov->n == ov->cap) {
		uint32_t cap = ov->cap ? ov->cap * 2 : 16;
		uint32_t *v = realloc(ov->v, (size_t)cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		ov->v = v;
		ov->cap = cap;
	}
	uint32_t i = g->n++;
	g->ents[i] = *e;
	uint32_t *slot = thash_slot(g, e->trace_id);
	if (*slot == NO_ENT)
		g->tused++;
	g->ents[i].prev_trace = *slot;
	*slot = i;
	ov->v[ov->n++] = i;
	if (g->n == 1 || e->start < g->min_start)
		g->min_start = e->start;
	if (g->n == 1 || e->start > g->max_start)
		g->max_start = e->start;
	return 0;
}

int store__seg_add(struct store *s, struct seg *g, const struct otlp_span *sp,
		   const struct otlp_bytes *svc, uint32_t rec_off, uint32_t span_no)
{
	struct ent e;
	memcpy(e.trace_id, sp->trace_id, 16);
	e.start = sp->start_time_unix_nano;
	e.dur = sp->end_time_unix_nano > sp->start_time_unix_nano ?
			sp->end_time_unix_nano - sp->start_time_unix_nano : 0;
	e.rec_off = rec_off;
	e.span_no = span_no;
	e.err = sp->status.code == OTLP_STATUS_ERROR;
	e.prev_trace = NO_ENT;
	uint32_t op;
	int rc = store__op_id(s, svc->ptr, svc->len, sp->name.ptr, sp->name.len,
			      (int)sp->kind, &op);
	if (rc < 0)
		return rc;
	e.op = op;
	return store__seg_push(g, &e);
}

int store__seg_add_batch(struct store *s, struct seg *g, const struct otlp_batch *b,
			 uint32_t rec_off)
{
	uint32_t no = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		struct otlp_bytes svc = store__service_of(rs);
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
				int rc = store__seg_add(s, g, sp, &svc, rec_off, no++);
				if (rc < 0)
					return rc;
			}
	}
	return 0;
}

int store__read_record(struct seg *g, uint64_t off, struct otlp_batch *b, uint64_t *next)
{
	return store__read_record_trace(g, off, b, next, NULL);
}

int store__read_record_trace(struct seg *g, uint64_t off, struct otlp_batch *b, uint64_t *next,
			     const uint8_t *only_trace)
{
	uint8_t hb[STORE__REC_HDR];
	struct store__rec_hdr h;
	if (off + STORE__REC_HDR > g->end)
		return -EBADMSG;
	ssize_t r = store__io_pread(g->fd, hb, sizeof hb, off);
	if (r < 0)
		return (int)r;
	if (r != (ssize_t)sizeof hb || store__rec_hdr_parse(hb, &h) < 0)
		return -EBADMSG;
	if (off + STORE__REC_HDR + h.stored_len > g->end)
		return -EBADMSG;
	uint8_t *payload = malloc(h.stored_len ? h.stored_len : 1);
	if (payload == NULL)
		return -ENOMEM;
	r = store__io_pread(g->fd, payload, h.stored_len, off + STORE__REC_HDR);
	int rc;
	if (r < 0)
		rc = (int)r;
	else if ((size_t)r != h.stored_len)
		rc = -EBADMSG;
	else
		rc = store__rec_decode_trace(hb, &h, payload, b, only_trace);
	free(payload);
	if (rc == 0 && next)
		*next = off + STORE__REC_HDR + h.stored_len;
	return rc;
}

/* ---- trace by id ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Keeps only the spans of trace id among resource_spans from *first on. */
static void keep_trace(struct otlp_batch *b, struct otlp_resource_spans **first,
		       const uint8_t id[16])
{
	struct otlp_resource_spans **rp = first;
	while (*rp) {
		struct otlp_resource_spans *rs = *rp;
		struct otlp_scope_spans **sp = &rs->scope_spans;
		rs->n_scope_spans = 0;
		while (*sp) {
			struct otlp_scope_spans *ss = *sp;
			struct otlp_span **pp = &ss->spans;
			uint32_t kept = 0;
			while (*pp) {
				if (memcmp((*pp)->trace_id, id, 16) == 0) {
					pp = &(*pp)->next;
					kept++;
				} else {
					*pp = (*pp)->next;
				}
			}
			b->n_spans -= ss->n_spans - kept;
			ss->n_spans = kept;
			if (kept == 0) {
				*sp = ss->next;
			} else {
				sp = &ss->next;
				rs->n_scope_spans++;
			}
		}
		if (rs->n_scope_spans == 0) {
			*rp = rs->next;
			b->n_resource_spans--;
		} else {
			rp = &rs->next;
		}
	}
}

int store_get_trace(struct store *s, const uint8_t trace_id[16], struct otlp_batch **out)
{
	struct otlp_batch *b = otlp_batch_new();
	if (b == NULL)
		return -ENOMEM;
	uint32_t *offs = NULL;
	size_t cap = 0;
	int rc = 0;
	bool found = false;
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < s->nsegs && rc == 0; i++) {
		struct seg *g = s->segs[i];
		if (g->tcap == 0)
			continue;
		uint32_t e = *thash_slot(g, trace_id);
		size_t n = 0;
		for (; e != NO_ENT; e = g->ents[e].prev_trace) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				uint32_t *v = realloc(offs, cap * sizeof *v);
				if (v == NULL) {
					rc = -ENOMEM;
					break;
				}
				offs = v;
			}
			offs[n++] = g->ents[e].rec_off;
		}
		if (rc < 0 || n == 0)
			continue;
		qsort(offs, n, sizeof *offs, cmp_u32);
		for (size_t k = 0; k < n && rc == 0; k++) {
			if (k > 0 && offs[k] == offs[k - 1])
				continue;
			struct otlp_resource_spans **tail = &b->resource_spans;
			while (*tail)
				tail = &(*tail)->next;
			rc = store__read_record_trace(g, offs[k], b, NULL, trace_id);
			if (rc == 0) {
				keep_trace(b, tail, trace_id);
				found = true;
			}
		}
	}
	pthread_rwlock_unlock(&s->lock);
	free(offs);
	if (rc == 0 && (!found || b->n_spans == 0))
		rc = -ENOENT;
	if (rc < 0) {
		otlp_batch_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

/* ---- search ---- */

struct topk {
	struct store_hit *v;
	size_t n, k;
	size_t min_i; /* index of the oldest hit when n == k */
};

static void topk_min(struct topk *t)
{
	t->min_i = 0;
	for (size_t i = 1; i < t->n; i++)
		if (t->v[i].start_ns < t->v[t->min_i].start_ns)
			t->min_i = i;
}

/* Whether a hit starting at start could enter the list. */
static bool topk_wants(const struct topk *t, uint64_t start)
{
	return t->n < t->k || start > t->v[t->min_i].start_ns;
}

static void topk_add(struct topk *t, const uint8_t id[16], uint64_t start)
{
	for (size_t i = 0; i < t->n; i++)
		if (memcmp(t->v[i].trace_id, id, 16) == 0) {
			if (start > t->v[i].start_ns) {
				t->v[i].start_ns = start;
				if (i == t->min_i && t->n == t->k)
					topk_min(t);
			}
			return;
		}
	if (t->n < t->k) {
		memcpy(t->v[t->n].trace_id, id, 16);
		t->v[t->n++].start_ns = start;
		if (t->n == t->k)
			topk_min(t);
		return;
	}
	memcpy(t->v[t->min_i].trace_id, id, 16);
	t->v[t->min_i].start_ns = start;
	topk_min(t);
}

/* Text form of a scalar attribute value, for tag equality. */
static bool any_equals(const struct otlp_any *a, const char *want)
{
	char buf[64];
	switch (a->type) {
	case OTLP_VALUE_STRING:
		return a->u.str.len == strlen(want) &&
		       (a->u.str.len == 0 || memcmp(a->u.str.ptr, want, a->u.str.len) == 0);
	case OTLP_VALUE_BOOL:
		return strcmp(want, a->u.b ? "true" : "false") == 0;
	case OTLP_VALUE_INT:
		snprintf(buf, sizeof buf, "%" PRId64, a->u.i);
		return strcmp(buf, want) == 0;
	case OTLP_VALUE_DOUBLE: {
		char *end;
		double d = strtod(want, &end);
		return *want && *end == 0 && d == a->u.d;
	}
	default:
		return false;
	}
}

static bool attrs_have(const struct otlp_attrs *a, const struct store_tag *t)
{
	size_t kl = strlen(t->key);
	for (const struct otlp_kv *kv = a->head; kv; kv = kv->next)
		if (kv->key.len == kl && memcmp(kv->key.ptr, t->key, kl) == 0 &&
		    any_equals(&kv->value, t->value))
			return true;
	return false;
}

/* A decoded record with its spans by ordinal, for tag checks. */
struct rec_cache {
	uint64_t seg, off;
	bool valid;
	struct otlp_batch *b;
	const struct otlp_span **spans;
	const struct otlp_resource_spans **res;
	uint32_t n;
};

static void rec_cache_clear(struct rec_cache *c)
{
	otlp_batch_free(c->b);
	free(c->spans);
	free(c->res);
	memset(c, 0, sizeof *c);
}

static int rec_cache_load(struct rec_cache *c, struct seg *g, uint32_t off)
{
	if (c->valid && c->seg == g->id && c->off == off)
		return 0;
	rec_cache_clear(c);
	c->b = otlp_batch_new();
	if (c->b == NULL)
		return -ENOMEM;
	int rc = store__read_record(g, off, c->b, NULL);
	if (rc < 0)
		return rc;
	size_t n = c->b->n_spans;
	c->spans = malloc((n ? n : 1) * sizeof *c->spans);
	c->res = malloc((n ? n : 1) * sizeof *c->res);
	if (c->spans == NULL || c->res == NULL)
		return -ENOMEM;
	uint32_t i = 0;
	for (const struct otlp_resource_spans *rs = c->b->resource_spans; rs; rs = rs->next)
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp && i < n; sp = sp->next) {
				c->spans[i] = sp;
				c->res[i++] = rs;
			}
	c->n = i;
	c->seg = g->id;
	c->off = off;
	c->valid = true;
	return 0;
}

struct search_ctx {
	const struct store_query *q;
	struct topk top;
	struct rec_cache cache;
	int err;
};

static void consider(struct search_ctx *x, struct seg *g, const struct ent *e)
{
	const struct store_query *q = x->q;
	if (e->start < q->start_min_ns || (q->start_max_ns && e->start > q->start_max_ns))
		return;
	if (e->dur < q->min_duration_ns || (q->max_duration_ns && e->dur > q->max_duration_ns))
		return;
	if (q->error_only && !e->err)
		return;
	if (!topk_wants(&x->top, e->start))
		return;
	if (q->n_tags) {
		int rc = rec_cache_load(&x->cache, g, e->rec_off);
		if (rc < 0) {
			/* A record we cannot read matches nothing; report
			 * only resource exhaustion. */
			if (rc == -ENOMEM)
				x->err = rc;
			rec_cache_clear(&x->cache);
			return;
		}
		if (e->span_no >= x->cache.n)
			return;
		const struct otlp_span *sp = x->cache.spans[e->span_no];
		const struct otlp_resource_spans *rs = x->cache.res[e->span_no];
		for (uint32_t i = 0; i < q->n_tags; i++)
			if (!attrs_have(&sp->attrs, &q->tags[i]) &&
			    !attrs_have(&rs->resource_attrs, &q->tags[i]))
				return;
	}
	topk_add(&x->top, e->trace_id, e->start);
}

static bool op_matches(const struct store *s, uint32_t op, int64_t svc, const char *name)
{
	const struct op *o = &s->ops[op];
	if (svc >= 0 && o->svc != (uint32_t)svc)
		return false;
	return name == NULL || strcmp(o->name, name) == 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct store_hit *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns > y->start_ns ? -1 : 1;
	return memcmp(x->trace_id, y->trace_id, 16);
}

int store_search(struct store *s, const struct store_query *q, struct store_hit **hits,
		 size_t *n)
{
	if (q->n_tags > STORE_MAX_TAGS)
		return -EINVAL;
	for (uint32_t i = 0; i < q->n_tags; i++)
		if (q->tags[i].key == NULL || q->tags[i].value == NULL)
			return -EINVAL;
	struct search_ctx x = { .q = q };
	/* The hit list is deduplicated by a linear scan: fine for the
	 * hundreds a UI asks for, bounded for anything larger. */
	x.top.k = q->limit ? q->limit : 20;
	if (x.top.k > STORE_MAX_LIMIT)
		x.top.k = STORE_MAX_LIMIT;
	x.top.v = calloc(x.top.k, sizeof *x.top.v);
	if (x.top.v == NULL)
		return -ENOMEM;
	pthread_rwlock_rdlock(&s->lock);
	int64_t svc = -1;
	bool none = false;
	if (q->service) {
		size_t l = strlen(q->service);
		none = true;
		for (uint32_t i = 0; i < s->nsvcs; i++)
			if (s->svc_len[i] == l && memcmp(s->svcs[i], q->service, l) == 0) {
				svc = i;
				none = false;
			}
	}
	bool by_op = q->service || q->operation;
	for (size_t si = s->nsegs; si-- > 0 && !none && x.err == 0;) {
		struct seg *g = s->segs[si];
		if (g->n == 0)
			continue;
		if (g->max_start < q->start_min_ns ||
		    (q->start_max_ns && g->min_start > q->start_max_ns))
			continue;
		if (!topk_wants(&x.top, g->max_start))
			continue;
		if (by_op) {
			for (uint32_t op = 0; op < g->nbyop && op < s->nops; op++) {
				const struct opvec *ov = &g->byop[op];
				if (ov->n == 0 || !op_matches(s, op, svc, q->operation))
					continue;
				for (uint32_t k = ov->n; k-- > 0;)
					consider(&x, g, &g->ents[ov->v[k]]);
			}
		} else {
			for (uint32_t k = g->n; k-- > 0;)
				consider(&x, g, &g->ents[k]);
		}
	}
	pthread_rwlock_unlock(&s->lock);
	rec_cache_clear(&x.cache);
	if (x.err < 0) {
		free(x.top.v);
		return x.err;
	}
	qsort(x.top.v, x.top.n, sizeof *x.top.v, cmp_hit);
	*hits = x.top.v;
	*n = x.top.n;
	return 0;
}

/* ---- services and operations ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void store_strings_free(struct store_strings *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->kind);
	memset(l, 0, sizeof *l);
}

/* Whether any retained segment holds a span of op. */
static bool op_live(const struct store *s, uint32_t op)
{
	for (size_t i = 0; i < s->nsegs; i++)
		if (op < s->segs[i]->nbyop && s->segs[i]->byop[op].n)
			return true;
	return false;
}

int store_services(struct store *s, struct store_strings *out)
{
	memset(out, 0, sizeof *out);
	pthread_rwlock_rdlock(&s->lock);
	bool *live = calloc(s->nsvcs ? s->nsvcs : 1, 1);
	int rc = live ? 0 : -ENOMEM;
	if (live) {
		for (uint32_t op = 0; op < s->nops; op++)
			if (!live[s->ops[op].svc] && op_live(s, op))
				live[s->ops[op].svc] = true;
		out->v = calloc(s->nsvcs ? s->nsvcs : 1, sizeof *out->v);
		if (out->v == NULL)
			rc = -ENOMEM;
		for (uint32_t i = 0; i < s->nsvcs && rc == 0; i++) {
			if (!live[i])
				continue;
			if ((out->v[out->n] = strdup(s->svcs[i])) == NULL)
				rc = -ENOMEM;
			else
				out->n++;
		}
	}
	pthread_rwlock_unlock(&s->lock);
	free(live);
	if (rc < 0) {
		store_strings_free(out);
		return rc;
	}
	qsort(out->v, out->n, sizeof *out->v, cmp_str);
	return 0;
}

struct opsort {
	char *name;
	int kind;
};

static int cmp_opsort(const void *a, const void *b)
{
	const struct opsort *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->kind > y->kind) - (x->kind < y->kind);
}

int store_operations(struct store *s, const char *service, struct store_strings *out)
{
	memset(out, 0, sizeof *out);
	size_t l = strlen(service);
	struct opsort *v = NULL;
	size_t n = 0;
	int rc = 0;
	pthread_rwlock_rdlock(&s->lock);
	v = calloc(s->nops ? s->nops : 1, sizeof *v);
	if (v == NULL)
		rc = -ENOMEM;
	for (uint32_t op = 0; op < s->nops && rc == 0; op++) {
		const struct op *o = &s->ops[op];
		if (s->svc_len[o->svc] != l || memcmp(s->svcs[o->svc], service, l) != 0 ||
		    !op_live(s, op))
			continue;
		if ((v[n].name = strdup(o->name)) == NULL)
			rc = -ENOMEM;
		else
			v[n++].kind = o->kind;
	}
	pthread_rwlock_unlock(&s->lock);
	if (rc == 0) {
		qsort(v, n, sizeof *v, cmp_opsort);
		out->v = calloc(n ? n : 1, sizeof *out->v);
		out->kind = calloc(n ? n : 1, sizeof *out->kind);
		if (out->v == NULL || out->kind == NULL)
			rc = -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (rc == 0) {
			out->v[i] = v[i].name;
			out->kind[i] = v[i].kind;
			out->n++;
		} else {
			free(v[i].name);
		}
	}
	free(v);
	if (rc < 0)
		store_strings_free(out);
	return rc;
}
