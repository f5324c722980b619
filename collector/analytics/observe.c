/*
 * observe.c: observation: every durable span is counted once, classified
 * from its trace rather than from arrival order. A span recently seen with
 * the same (trace id, span id, content) is a duplicate. A child whose
 * parent is neither recently seen nor in its own batch waits for it (a
 * bounded set keyed by trace id and parent span id) and is classified
 * when the parent comes or when its settle time ends. docs/analytics.md
 * gives the rules and their limits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics_int.h"
#include "util/hash.h"

/* Spans starting further in the future than this are not counted: their
 * hours would stay in memory until that time comes. */
#define MAX_FUTURE_NS (24ull * 3600 * 1000000000ull)

/* The recently-seen map is 4-way set associative: a span goes to one set
 * of 4 slots; a new one takes a free slot or evicts the oldest of the set,
 * so a span stays until 4 later spans have fallen in its set (about
 * parent_slots spans later on average). */
#define SWAYS 4

/* The table of one batch's spans (batch_svc) is kept for the next batch
 * up to this many slots (256 KiB), freed after a larger one. */
#define BSPANS_KEEP 8192u

static uint64_t id64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* Trace ids are mixed whole: two traces may share either half. */
static uint64_t tid64(const uint8_t *trace)
{
	return util_mix64(id64(trace)) ^ id64(trace + 8);
}

int an_obs_init(struct col_analytics *a)
{
	uint32_t ps = 1024;
	while (ps < a->o.parent_slots && ps < (1u << 26))
		ps <<= 1;
	a->o.parent_slots = ps;
	a->seen = calloc(ps, sizeof(*a->seen));
	uint32_t nb = 1024;
	while (nb < a->o.max_pending && nb < (1u << 28))
		nb <<= 1;
	a->pend.max = a->o.max_pending;
	a->pend.nbuckets = nb;
	a->pend.buckets = calloc(nb, sizeof(*a->pend.buckets));
	return a->seen == NULL || a->pend.buckets == NULL ? -ENOMEM : 0;
}

void an_obs_done(struct col_analytics *a)
{
	free(a->seen);
	free(a->pend.e);
	free(a->pend.buckets);
	free(a->bspans);
	a->bspans = NULL;
	a->bspans_cap = 0;
}

/* ---- recently seen spans ---- */

static struct an_seen *seen_set(struct col_analytics *a, uint64_t tid, uint64_t sid, uint64_t *h)
{
	*h = util_mix64(sid ^ util_mix64(tid));
	return &a->seen[(*h & (a->o.parent_slots / SWAYS - 1)) * SWAYS];
}

/* Remembers (tid, sid, chash) -> svc. false if it was there already: the
 * span is a duplicate. */
static bool seen_put(struct col_analytics *a, uint64_t tid, uint64_t sid, uint64_t chash,
		     uint32_t svc)
{
	uint64_t h;
	struct an_seen *set = seen_set(a, tid, sid, &h);
	struct an_seen *p = NULL;
	for (int w = 0; w < SWAYS; w++) {
		if (set[w].svc != 0 && set[w].sid == sid && set[w].tid == tid &&
		    set[w].chash == chash)
			return false;
		if (set[w].svc == 0 && p == NULL)
			p = &set[w];
	}
	if (p == NULL) {
		p = &set[0];
		for (int w = 1; w < SWAYS; w++)
			if ((uint32_t)(a->seen_clock - set[w].stamp) > (uint32_t)(a->seen_clock - p->stamp))
				p = &set[w];
	}
	*p = (struct an_seen){ tid, sid, chash, svc + 1, a->seen_clock++ };
	return true;
}

/* The service of span (tid, sid) if it was seen recently. */
static bool seen_svc(struct col_analytics *a, uint64_t tid, uint64_t sid, uint32_t *svc)
{
	uint64_t h;
	struct an_seen *set = seen_set(a, tid, sid, &h);
	for (int w = 0; w < SWAYS; w++)
		if (set[w].svc != 0 && set[w].sid == sid && set[w].tid == tid) {
			*svc = set[w].svc - 1;
			return true;
		}
	return false;
}

/* What makes two copies of a span the same span: everything the wire
 * carries about it but its resource (the ids are compared apart). */
static uint64_t content_hash(const struct otlp_span *sp)
{
	uint64_t h = util_fnv1a64(UTIL_FNV1A64_INIT, sp->name.ptr, sp->name.len);
	h = util_fnv1a64(h, sp->status.message.ptr, sp->status.message.len);
	h = util_fnv1a64(h, sp->trace_state.ptr, sp->trace_state.len);
	uint64_t f[8] = { sp->start_time_unix_nano,
			  sp->end_time_unix_nano,
			  (uint64_t)sp->kind << 32 | (uint64_t)sp->status.code,
			  sp->has_parent ? id64(sp->parent_span_id) : 0,
			  (uint64_t)sp->attrs.n << 32 | sp->attrs.dropped,
			  (uint64_t)sp->events.n << 32 | sp->events.dropped,
			  (uint64_t)sp->links.n << 32 | sp->links.dropped,
			  sp->flags };
	return util_fnv1a64(h, f, sizeof(f));
}

/* ---- counting ---- */

/* Counts p: with its parent's service (has_psvc), or as a root / a span
 * whose parent never came. at: the record of a replayed span (hours whose
 * blob already holds it skip it), or NULL. */
static void count(struct col_analytics *a, const struct an_pend *p, bool has_psvc, uint32_t psvc,
		  const struct store_pos *at)
{
	int64_t minute = (int64_t)(p->start_ns / NS_PER_MIN);
	struct an_hour *h = an_hour_get(a, minute / MIN_PER_HOUR, true);
	if (h == NULL)
		return;
	if (at != NULL && h->has_pos && store_pos_cmp(*at, h->pos) < 0)
		return; /* already in the hour's blob */
	bool entry = !has_psvc || psvc != p->svc || p->kind == OTLP_SPAN_KIND_SERVER ||
		     p->kind == OTLP_SPAN_KIND_CONSUMER;
	struct an_key k = { p->svc, p->ver, p->op, p->kind, entry };
	int64_t key = an_key_intern(a, &k);
	struct an_series *s = key < 0 ? NULL : an_hour_series(h, (uint32_t)key, true);
	if (s == NULL)
		return;
	int m = (int)(minute % MIN_PER_HOUR);
	double dur = (double)p->dur_ns;
	if (an_cell_add(&s->m[m], dur, 1, p->err) != 0 || an_cell_add(&s->roll, dur, 1, p->err) != 0 ||
	    an_cell_add(&s->blk[m / BLK], dur, 1, p->err) != 0)
		return;
	if (p->op == a->other_id)
		a->st.overflow_spans++;
	if (has_psvc && psvc != p->svc) {
		struct an_edges *e = an_hour_edge(h, psvc, p->svc);
		if (e)
			an_edge_add(e, m, 1, p->err);
	}
	h->dirty = true;
	h->compact = false;
	a->st.spans++;
	if (at != NULL)
		a->st.replayed_spans++;
}

/* Whether a replayed span is in its hour's blob already: only for hours
 * an older ternd wrote after its last complete index (docs/analytics.md). */
static bool in_blob(struct col_analytics *a, const struct an_pend *p, const struct store_pos *at)
{
	if (at == NULL)
		return false;
	struct an_hour *h = an_hour_get(a, (int64_t)(p->start_ns / NS_PER_MIN) / MIN_PER_HOUR, true);
	return h != NULL && h->has_pos && store_pos_cmp(*at, h->pos) < 0;
}

/* ---- spans waiting for their parent ---- */

static uint32_t pend_bucket(const struct an_pending *q, const uint8_t *trace, const uint8_t *parent)
{
	return (uint32_t)(util_mix64(id64(parent) ^ tid64(trace)) & (q->nbuckets - 1));
}

/* Unlinks entry i (index, not + 1) from its bucket and the arrival list,
 * and frees it. */
static void pend_remove(struct an_pending *q, uint32_t i)
{
	struct an_pend *e = &q->e[i];
	uint32_t *pp = &q->buckets[pend_bucket(q, e->trace, e->parent)];
	while (*pp != i + 1)
		pp = &q->e[*pp - 1].hnext;
	*pp = e->hnext;
	if (e->prev)
		q->e[e->prev - 1].next = e->next;
	else
		q->head = e->next;
	if (e->next)
		q->e[e->next - 1].prev = e->prev;
	else
		q->tail = e->prev;
	e->hnext = q->free_head;
	q->free_head = i + 1;
	q->n--;
}

/* Stops the wait of the oldest waiting span: counted without its parent. */
static void pend_expire_oldest(struct col_analytics *a)
{
	uint32_t i = a->pend.head - 1;
	struct an_pend p = a->pend.e[i];
	pend_remove(&a->pend, i);
	a->pend_dirty = true;
	a->st.unknown_parent++;
	count(a, &p, false, 0, NULL);
}

/* p waits for its parent. When the set is full the oldest stops waiting.
 * Out of memory: p is counted at once, without its parent, and -ENOMEM. */
static int pend_add(struct col_analytics *a, const struct an_pend *p)
{
	struct an_pending *q = &a->pend;
	if (q->n >= q->max) {
		a->st.pending_overflow++;
		pend_expire_oldest(a);
	}
	if (q->free_head == 0) {
		if (q->cap >= q->max || q->cap >= UINT32_MAX / 2) {
			a->st.unknown_parent++;
			count(a, p, false, 0, NULL);
			return -ENOMEM;
		}
		uint32_t nc = q->cap ? q->cap * 2 : 256;
		if (nc > q->max)
			nc = q->max;
		struct an_pend *ne = realloc(q->e, (size_t)nc * sizeof(*ne));
		if (ne == NULL) {
			a->st.unknown_parent++;
			count(a, p, false, 0, NULL);
			return -ENOMEM;
		}
		q->e = ne;
		for (uint32_t i = nc; i > q->cap; i--) {
			q->e[i - 1].hnext = q->free_head;
			q->free_head = i;
		}
		q->cap = nc;
	}
	uint32_t i = q->free_head - 1;
	q->free_head = q->e[i].hnext;
	struct an_pend *e = &q->e[i];
	*e = *p;
	uint32_t *b = &q->buckets[pend_bucket(q, p->trace, p->parent)];
	e->hnext = *b;
	*b = i + 1;
	e->prev = q->tail;
	e->next = 0;
	if (q->tail)
		q->e[q->tail - 1].next = i + 1;
	else
		q->head = i + 1;
	q->tail = i + 1;
	q->n++;
	a->pend_dirty = true;
	return 0;
}

/* The span (trace, span id) of service svc has come: its waiting children
 * are counted with it as their parent. */
static void pend_resolve(struct col_analytics *a, const uint8_t *trace, const uint8_t *span,
			 uint32_t svc)
{
	struct an_pending *q = &a->pend;
	if (q->n == 0)
		return;
	uint32_t i = q->buckets[pend_bucket(q, trace, span)];
	while (i) {
		struct an_pend *e = &q->e[i - 1];
		uint32_t next = e->hnext;
		if (memcmp(e->parent, span, 8) == 0 && memcmp(e->trace, trace, 16) == 0) {
			struct an_pend p = *e;
			pend_remove(q, i - 1);
			a->pend_dirty = true;
			count(a, &p, true, svc, NULL);
		}
		i = next;
	}
}

int an_pend_restore(struct col_analytics *a, const struct an_pend *p)
{
	seen_put(a, tid64(p->trace), id64(p->span), p->chash, p->svc);
	return pend_add(a, p);
}

size_t col_an_expire(struct col_analytics *a, uint64_t now_ms)
{
	if (now_ms == 0)
		now_ms = an_now_ms();
	size_t n = 0;
	while (a->pend.head) {
		const struct an_pend *e = &a->pend.e[a->pend.head - 1];
		if (now_ms != UINT64_MAX && e->arrive_ms + a->o.settle_ms > now_ms)
			break;
		pend_expire_oldest(a);
		n++;
	}
	return n;
}

/* ---- batches ---- */

static uint32_t resource_str(struct col_analytics *a, const struct otlp_resource_spans *rs,
			     const char *key, uint32_t dflt)
{
	const struct otlp_any *v = otlp_attrs_find(&rs->resource_attrs, key);
	if (v == NULL || v->type != OTLP_VALUE_STRING || v->u.str.len == 0 ||
	    v->u.str.len > MAX_STRING_LEN)
		return dflt;
	int64_t id = an_str_find(&a->str, v->u.str.ptr, v->u.str.len, true);
	return id < 0 ? dflt : (uint32_t)id;
}

/* The service id of a resource: its service.name while fewer than
 * max_services are known, else __other__ (count: counts the span). */
static uint32_t service_of(struct col_analytics *a, const struct otlp_resource_spans *rs,
			   bool count)
{
	const struct otlp_any *v = otlp_attrs_find(&rs->resource_attrs, "service.name");
	if (v == NULL || v->type != OTLP_VALUE_STRING || v->u.str.len == 0 ||
	    v->u.str.len > MAX_STRING_LEN)
		return a->unknown_svc_id;
	int64_t id = an_str_find(&a->str, v->u.str.ptr, v->u.str.len, false);
	if (id >= 0 && an_map_get(&a->svc_admit, (uint64_t)id) >= 0)
		return (uint32_t)id;
	if (a->svc_admit.n >= a->o.max_services) {
		if (count)
			a->st.overflow_service_spans++;
		return a->other_id;
	}
	if (id < 0)
		id = an_str_find(&a->str, v->u.str.ptr, v->u.str.len, true);
	if (id < 0 || an_map_put(&a->svc_admit, (uint64_t)id, 1) != 0)
		return a->unknown_svc_id;
	return (uint32_t)id;
}

/* The spans of the batch being observed. */

/* A parent earlier in the same batch may have been pushed out of the
 * recently-seen map by the spans between them (a set of 4 is full after
 * as few as 4 of them), yet it is surely there: the batch is looked up
 * too. Its spans go into a table by (trace, span id) -> service, made at
 * the first child of the batch the map does not know a parent of. */
enum bspans_state { BS_NONE, BS_MADE, BS_FAILED };

static uint32_t bspans_slot(const struct col_analytics *a, uint64_t tid, uint64_t sid)
{
	return (uint32_t)(util_mix64(sid ^ util_mix64(tid)) & a->bspans_mask);
}

/* Fills a->bspans with the spans of b. false when out of memory. */
static bool bspans_make(struct col_analytics *a, const struct otlp_batch *b)
{
	uint64_t n = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next)
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next)
				n++;
	uint64_t want = 64;
	while (want < 2 * n && want < (1u << 30))
		want <<= 1;
	if (want < 2 * n)
		return false;
	if (a->bspans_cap < want) {
		free(a->bspans);
		a->bspans_cap = 0;
		a->bspans = malloc((size_t)want * sizeof(*a->bspans));
		if (a->bspans == NULL)
			return false;
		a->bspans_cap = (uint32_t)want;
	}
	a->bspans_mask = (uint32_t)want - 1;
	memset(a->bspans, 0, (size_t)want * sizeof(*a->bspans));
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		uint32_t svc = service_of(a, rs, false);
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
				uint64_t tid = tid64(sp->trace_id), sid = id64(sp->span_id);
				uint32_t i = bspans_slot(a, tid, sid);
				while (a->bspans[i].svc != 0 &&
				       (a->bspans[i].tid != tid || a->bspans[i].sid != sid))
					i = (i + 1) & a->bspans_mask;
				if (a->bspans[i].svc == 0) /* the first of equal ids wins */
					a->bspans[i] = (struct an_seen){ tid, sid, 0, svc + 1, 0 };
			}
		}
	}
	return true;
}

/* The service of span (tid, sid) if it is in batch b (*st: whether the
 * table of b is made yet). */
static bool batch_svc(struct col_analytics *a, const struct otlp_batch *b, enum bspans_state *st,
		      uint64_t tid, uint64_t sid, uint32_t *svc)
{
	if (*st == BS_NONE)
		*st = bspans_make(a, b) ? BS_MADE : BS_FAILED;
	if (*st != BS_MADE)
		return false;
	for (uint32_t i = bspans_slot(a, tid, sid); a->bspans[i].svc != 0;
	     i = (i + 1) & a->bspans_mask)
		if (a->bspans[i].tid == tid && a->bspans[i].sid == sid) {
			*svc = a->bspans[i].svc - 1;
			return true;
		}
	return false;
}

void an_observe(struct col_analytics *a, const struct otlp_batch *b, enum an_mode mode,
		const struct store_pos *at)
{
	uint64_t horizon = (uint64_t)time(NULL) * 1000000000ull + MAX_FUTURE_NS;
	uint64_t now = an_now_ms();
	enum bspans_state bst = BS_NONE;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		uint32_t svc = service_of(a, rs, mode != AN_WARM);
		uint32_t ver = resource_str(a, rs, "service.version", a->empty_id);
		const uint8_t *last_name = NULL; /* one name lookup per run of equal names */
		size_t last_len = 0;
		int64_t last_op = -1;
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
				uint64_t tid = tid64(sp->trace_id);
				uint64_t chash = content_hash(sp);
				if (!seen_put(a, tid, id64(sp->span_id), chash, svc)) {
					if (mode != AN_WARM)
						a->st.duplicate_spans++;
					continue;
				}
				if (mode == AN_WARM) {
					/* A span that waited at the checkpoint
					 * for this one, pushed out of the map
					 * before the child came. */
					pend_resolve(a, sp->trace_id, sp->span_id, svc);
					continue;
				}
				/* Children that came first are counted now. */
				pend_resolve(a, sp->trace_id, sp->span_id, svc);
				uint64_t t0 = sp->start_time_unix_nano;
				if (t0 > horizon) {
					a->st.future_spans++;
					continue;
				}
				if (last_op < 0 || sp->name.len != last_len ||
				    (last_len && memcmp(sp->name.ptr, last_name, last_len) != 0)) {
					size_t nl = sp->name.len > MAX_STRING_LEN ? MAX_STRING_LEN : sp->name.len;
					last_op = an_op_resolve(a, svc, sp->name.ptr, nl, false);
					if (last_op < 0)
						continue;
					last_name = sp->name.ptr;
					last_len = sp->name.len;
				}
				struct an_pend p = { 0 };
				memcpy(p.trace, sp->trace_id, 16);
				memcpy(p.span, sp->span_id, 8);
				memcpy(p.parent, sp->parent_span_id, 8);
				p.start_ns = t0;
				p.dur_ns = sp->end_time_unix_nano > t0 ? sp->end_time_unix_nano - t0 : 0;
				p.chash = chash;
				p.arrive_ms = now;
				p.svc = svc;
				p.ver = ver;
				p.op = (uint32_t)last_op;
				p.kind = (int)sp->kind < 0 || sp->kind > 255 ? 0 : (uint8_t)sp->kind;
				p.err = sp->status.code == OTLP_STATUS_ERROR;
				uint32_t psvc;
				/* An all-zero span id is invalid (W3C): no parent. */
				if (!sp->has_parent || id64(sp->parent_span_id) == 0)
					count(a, &p, false, 0, at);
				else if (seen_svc(a, tid, id64(sp->parent_span_id), &psvc) ||
					 batch_svc(a, b, &bst, tid, id64(sp->parent_span_id), &psvc))
					count(a, &p, true, psvc, at);
				else if (in_blob(a, &p, at))
					continue; /* counted before the crash */
				else if (a->o.settle_ms == 0) {
					a->st.unknown_parent++;
					count(a, &p, false, 0, at);
				} else {
					pend_add(a, &p); /* out of memory: counted parentless */
				}
			}
		}
	}
	if (a->bspans_cap > BSPANS_KEEP) {
		free(a->bspans);
		a->bspans = NULL;
		a->bspans_cap = 0;
	}
}

void col_an_observe(struct col_analytics *a, const struct otlp_batch *b)
{
	an_observe(a, b, AN_LIVE, NULL);
}
