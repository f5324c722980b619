/*
 * analytics.c: the in-memory model of analytics: interned strings, keys
 * (service, version, operation, kind, entry), hours of per-minute cells
 * with their roll-ups and edges, the caps on services and operations, and
 * the figures for /metrics. Observation, blobs, persistence and queries
 * are in files of their own (analytics_int.h lists them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics_int.h"
#include "util/hash.h"

/* ---- interned strings ---- */

static int str_grow(struct strtab *t)
{
	uint32_t ns = t->nslots ? t->nslots * 2 : 256;
	uint32_t *sl = calloc(ns, sizeof(*sl));
	if (sl == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->n; i++) {
		uint64_t h = util_fnv1a64(UTIL_FNV1A64_INIT, t->s[i], t->len[i]);
		uint32_t j = (uint32_t)h & (ns - 1);
		while (sl[j])
			j = (j + 1) & (ns - 1);
		sl[j] = i + 1;
	}
	free(t->slots);
	t->slots = sl;
	t->nslots = ns;
	return 0;
}

/* Id of the string, or -1 if absent (intern false) / out of memory. */
int64_t an_str_find(struct strtab *t, const void *p, size_t len, bool intern)
{
	if (t->nslots == 0 && str_grow(t) != 0)
		return -1;
	uint64_t h = util_fnv1a64(UTIL_FNV1A64_INIT, p, len);
	uint32_t j = (uint32_t)h & (t->nslots - 1);
	while (t->slots[j]) {
		uint32_t id = t->slots[j] - 1;
		if (t->len[id] == len && memcmp(t->s[id], p, len) == 0)
			return id;
		j = (j + 1) & (t->nslots - 1);
	}
	if (!intern)
		return -1;
	if (t->n == t->cap) {
		uint32_t nc = t->cap ? t->cap * 2 : 64;
		char **ns = realloc(t->s, nc * sizeof(*ns));
		if (ns == NULL)
			return -1;
		t->s = ns;
		uint32_t *nl = realloc(t->len, nc * sizeof(*nl));
		if (nl == NULL)
			return -1;
		t->len = nl;
		t->cap = nc;
	}
	char *c = malloc(len + 1);
	if (c == NULL)
		return -1;
	memcpy(c, p, len);
	c[len] = '\0';
	uint32_t id = t->n;
	t->s[id] = c;
	t->len[id] = (uint32_t)len;
	t->n++;
	t->slots[j] = id + 1;
	if (t->n * 2 > t->nslots && str_grow(t) != 0) {
		/* The table stays valid; the next insert retries the growth. */
	}
	return id;
}

void an_str_free(struct strtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->len);
	free(t->slots);
}

/* ---- u64 -> u32 open-addressing map ---- */

static int map_grow(struct map64 *m)
{
	uint32_t ns = m->nslots ? m->nslots * 2 : 64;
	uint64_t *k = calloc(ns, sizeof(*k));
	uint32_t *v = calloc(ns, sizeof(*v));
	if (k == NULL || v == NULL) {
		free(k);
		free(v);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < m->nslots; i++) {
		if (!m->v[i])
			continue;
		uint32_t j = (uint32_t)util_mix64(m->k[i]) & (ns - 1);
		while (v[j])
			j = (j + 1) & (ns - 1);
		k[j] = m->k[i];
		v[j] = m->v[i];
	}
	free(m->k);
	free(m->v);
	m->k = k;
	m->v = v;
	m->nslots = ns;
	return 0;
}

/* Value for key, or -1. */
int64_t an_map_get(const struct map64 *m, uint64_t key)
{
	if (m->nslots == 0)
		return -1;
	uint32_t j = (uint32_t)util_mix64(key) & (m->nslots - 1);
	while (m->v[j]) {
		if (m->k[j] == key)
			return (int64_t)m->v[j] - 1;
		j = (j + 1) & (m->nslots - 1);
	}
	return -1;
}

int an_map_put(struct map64 *m, uint64_t key, uint32_t val)
{
	if ((m->n + 1) * 2 > m->nslots && map_grow(m) != 0)
		return -ENOMEM;
	uint32_t j = (uint32_t)util_mix64(key) & (m->nslots - 1);
	while (m->v[j]) {
		if (m->k[j] == key) {
			m->v[j] = val + 1;
			return 0;
		}
		j = (j + 1) & (m->nslots - 1);
	}
	m->k[j] = key;
	m->v[j] = val + 1;
	m->n++;
	return 0;
}

void an_map_free(struct map64 *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- keys, hours, cells ---- */

static uint64_t key_hash(const struct an_key *k)
{
	uint64_t h = util_mix64(((uint64_t)k->svc << 32) | k->op);
	return util_mix64(h ^ ((uint64_t)k->ver << 16) ^ ((uint64_t)k->kind << 8) ^ k->entry);
}

void col_an_options_default(struct col_an_options *o)
{
	o->max_ops_per_service = 2000;
	o->mem_hours = 24;
	o->parent_slots = 131072;
	o->checkpoint_ms = 10000;
	o->max_services = 1000;
	o->settle_ms = 15000;
	o->max_pending = 100000;
}

uint64_t an_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct col_analytics *col_an_new(const struct col_an_options *o)
{
	struct col_analytics *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	if (o)
		a->o = *o;
	else
		col_an_options_default(&a->o);
	if (a->o.max_ops_per_service == 0)
		a->o.max_ops_per_service = 2000;
	if (a->o.mem_hours == 0)
		a->o.mem_hours = 24;
	if (a->o.max_services == 0)
		a->o.max_services = 1000;
	if (a->o.max_pending == 0)
		a->o.max_pending = 100000;
	int64_t e = an_str_find(&a->str, "", 0, true);
	int64_t ot = an_str_find(&a->str, COL_AN_OTHER, strlen(COL_AN_OTHER), true);
	int64_t un = an_str_find(&a->str, "unknown_service", strlen("unknown_service"), true);
	if (an_obs_init(a) != 0 || e < 0 || ot < 0 || un < 0) {
		col_an_free(a);
		return NULL;
	}
	a->empty_id = (uint32_t)e;
	a->other_id = (uint32_t)ot;
	a->unknown_svc_id = (uint32_t)un;
	return a;
}

void an_cell_done(struct an_cell *c)
{
	tern_sketch_free(c->sk);
	free(c->ser);
}

void an_hour_free(struct an_hour *h)
{
	if (h == NULL)
		return;
	for (uint32_t i = 0; i < h->nseries; i++) {
		for (int m = 0; m < MIN_PER_HOUR; m++)
			an_cell_done(&h->series[i]->m[m]);
		an_cell_done(&h->series[i]->roll);
		for (int k = 0; k < MIN_PER_HOUR / BLK; k++)
			an_cell_done(&h->series[i]->blk[k]);
		free(h->series[i]);
	}
	free(h->series);
	an_map_free(&h->by_key);
	for (uint32_t i = 0; i < h->nedges; i++)
		free(h->edges[i].err);
	free(h->edges);
	free(h);
}

void col_an_free(struct col_analytics *a)
{
	if (a == NULL)
		return;
	for (uint32_t i = 0; i < a->nhours; i++)
		an_hour_free(a->hours[i]);
	free(a->hours);
	an_str_free(&a->str);
	free(a->keys);
	an_map_free(&a->key_by_hash);
	an_map_free(&a->op_admit);
	an_map_free(&a->svc_admit);
	free(a->ops_per_svc);
	an_obs_done(a);
	free(a->phours);
	free(a->pslot);
	free(a);
}

/* Key id, interning. -1 when out of memory. The map holds the hash of the
 * key; collisions probe on (hash + i). */
int64_t an_key_intern(struct col_analytics *a, const struct an_key *k)
{
	uint64_t slot = key_hash(k);
	for (;;) {
		int64_t id = an_map_get(&a->key_by_hash, slot);
		if (id < 0)
			break;
		const struct an_key *x = &a->keys[id];
		if (x->svc == k->svc && x->op == k->op && x->ver == k->ver && x->kind == k->kind &&
		    x->entry == k->entry)
			return id;
		slot++; /* hash collision: the chain goes on at the next value */
	}
	if (a->nkeys == a->capkeys) {
		uint32_t nc = a->capkeys ? a->capkeys * 2 : 256;
		struct an_key *nk = realloc(a->keys, nc * sizeof(*nk));
		if (nk == NULL)
			return -1;
		a->keys = nk;
		a->capkeys = nc;
	}
	if (an_map_put(&a->key_by_hash, slot, a->nkeys) != 0)
		return -1;
	a->keys[a->nkeys] = *k;
	return a->nkeys++;
}

int an_svc_ops_reserve(struct col_analytics *a, uint32_t svc)
{
	if (svc < a->ops_per_svc_n)
		return 0;
	uint32_t nn = a->ops_per_svc_n ? a->ops_per_svc_n : 64;
	while (nn <= svc)
		nn *= 2;
	uint32_t *np = realloc(a->ops_per_svc, nn * sizeof(*np));
	if (np == NULL)
		return -ENOMEM;
	memset(np + a->ops_per_svc_n, 0, (nn - a->ops_per_svc_n) * sizeof(*np));
	a->ops_per_svc = np;
	a->ops_per_svc_n = nn;
	return 0;
}

/* The operation id a span named name of service svc is counted under:
 * itself while the service is under the cap, else __other__. force admits
 * past the cap (data read back from disk). -1 when out of memory. */
int64_t an_op_resolve(struct col_analytics *a, uint32_t svc, const void *name, size_t len,
			  bool force)
{
	if (an_svc_ops_reserve(a, svc) != 0)
		return -1;
	int64_t op = an_str_find(&a->str, name, len, false);
	if (op >= 0 && an_map_get(&a->op_admit, (uint64_t)svc << 32 | (uint64_t)op) >= 0)
		return op;
	if ((uint32_t)op == a->other_id && op >= 0)
		return op;
	if (!force && a->ops_per_svc[svc] >= a->o.max_ops_per_service) {
		a->st.overflow_ops++;
		return a->other_id;
	}
	if (op < 0)
		op = an_str_find(&a->str, name, len, true);
	if (op < 0)
		return -1;
	if (an_map_put(&a->op_admit, (uint64_t)svc << 32 | (uint64_t)op, 1) != 0)
		return -1;
	a->ops_per_svc[svc]++;
	return op;
}

/* Whether hour has a blob named in the index; *slot (may be NULL): which. */
bool an_hour_persisted(const struct col_analytics *a, int64_t hour, uint8_t *slot)
{
	uint32_t lo = 0, hi = a->nphours;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (a->phours[mid] < hour)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < a->nphours && a->phours[lo] == hour) {
		if (slot)
			*slot = a->pslot[lo];
		return true;
	}
	return false;
}

/* Names hour's blob in slot as the current one. */
int an_phours_add(struct col_analytics *a, int64_t hour, uint8_t slot)
{
	for (uint32_t i = 0; i < a->nphours; i++)
		if (a->phours[i] == hour) {
			a->pslot[i] = slot;
			return 0;
		}
	if (a->nphours == a->capphours) {
		uint32_t nc = a->capphours ? a->capphours * 2 : 64;
		int64_t *np = realloc(a->phours, nc * sizeof(*np));
		if (np == NULL)
			return -ENOMEM;
		a->phours = np;
		uint8_t *ns = realloc(a->pslot, nc * sizeof(*ns));
		if (ns == NULL)
			return -ENOMEM;
		a->pslot = ns;
		a->capphours = nc;
	}
	uint32_t i = a->nphours;
	while (i > 0 && a->phours[i - 1] > hour) {
		a->phours[i] = a->phours[i - 1];
		a->pslot[i] = a->pslot[i - 1];
		i--;
	}
	a->phours[i] = hour;
	a->pslot[i] = slot;
	a->nphours++;
	return 0;
}

int an_svc_admit(struct col_analytics *a, uint32_t svc)
{
	if (svc == a->other_id || svc == a->unknown_svc_id || an_map_get(&a->svc_admit, svc) >= 0)
		return 0;
	return an_map_put(&a->svc_admit, svc, 1);
}

struct an_hour *an_hour_new(int64_t hour)
{
	struct an_hour *h = calloc(1, sizeof(*h));
	if (h)
		h->hour = hour;
	return h;
}

struct an_hour *an_hour_resident(struct col_analytics *a, int64_t hour)
{
	for (uint32_t i = a->nhours; i > 0; i--) {
		if (a->hours[i - 1]->hour == hour)
			return a->hours[i - 1];
		if (a->hours[i - 1]->hour < hour)
			break;
	}
	return NULL;
}

int an_hour_link(struct col_analytics *a, struct an_hour *h)
{
	if (a->nhours == a->caphours) {
		uint32_t nc = a->caphours ? a->caphours * 2 : 32;
		struct an_hour **np = realloc(a->hours, nc * sizeof(*np));
		if (np == NULL)
			return -ENOMEM;
		a->hours = np;
		a->caphours = nc;
	}
	uint32_t i = a->nhours;
	while (i > 0 && a->hours[i - 1]->hour > h->hour) {
		a->hours[i] = a->hours[i - 1];
		i--;
	}
	a->hours[i] = h;
	a->nhours++;
	return 0;
}

struct an_series *an_hour_series(struct an_hour *h, uint32_t key, bool create)
{
	int64_t i = an_map_get(&h->by_key, key);
	if (i >= 0)
		return h->series[i];
	if (!create)
		return NULL;
	if (h->nseries == h->cap) {
		uint32_t nc = h->cap ? h->cap * 2 : 16;
		struct an_series **np = realloc(h->series, nc * sizeof(*np));
		if (np == NULL)
			return NULL;
		h->series = np;
		h->cap = nc;
	}
	struct an_series *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return NULL;
	if (an_map_put(&h->by_key, key, h->nseries) != 0) {
		free(s);
		return NULL;
	}
	s->key = key;
	h->series[h->nseries++] = s;
	return s;
}

struct an_edges *an_hour_edge(struct an_hour *h, uint32_t parent, uint32_t child)
{
	for (uint32_t i = 0; i < h->nedges; i++)
		if (h->edges[i].parent == parent && h->edges[i].child == child)
			return &h->edges[i];
	if (h->nedges == h->capedges) {
		uint32_t nc = h->capedges ? h->capedges * 2 : 8;
		struct an_edges *np = realloc(h->edges, nc * sizeof(*np));
		if (np == NULL)
			return NULL;
		h->edges = np;
		h->capedges = nc;
	}
	struct an_edges *e = &h->edges[h->nedges++];
	memset(e, 0, sizeof(*e));
	e->parent = parent;
	e->child = child;
	return e;
}

int an_edge_add(struct an_edges *e, int m, uint64_t calls, uint64_t errors)
{
	if (errors > 0 && e->err == NULL) {
		e->err = calloc(MIN_PER_HOUR, sizeof(*e->err));
		if (e->err == NULL)
			return -ENOMEM;
	}
	e->m[m] += calls;
	if (errors > 0)
		e->err[m] += errors;
	return 0;
}

/* Makes a serialised cell live again. */
int an_cell_live(struct an_cell *c)
{
	if (c->ser == NULL)
		return 0;
	int rc = tern_sketch_deserialize(c->ser, c->ser_len, &c->sk);
	if (rc != 0)
		return rc;
	free(c->ser);
	c->ser = NULL;
	c->ser_len = 0;
	return 0;
}

int an_cell_compact(struct an_cell *c)
{
	if (c->sk == NULL)
		return 0;
	uint8_t *b;
	size_t n;
	int rc = tern_sketch_serialize(c->sk, &b, &n);
	if (rc != 0)
		return rc;
	tern_sketch_free(c->sk);
	c->sk = NULL;
	c->ser = b;
	c->ser_len = (uint32_t)n;
	return 0;
}

int an_cell_add(struct an_cell *c, double v, uint64_t calls, uint64_t errors)
{
	int rc = an_cell_live(c);
	if (rc != 0)
		return rc;
	if (c->sk == NULL) {
		c->sk = tern_sketch_new(0, 0);
		if (c->sk == NULL)
			return -ENOMEM;
	}
	int r = tern_sketch_add_n(c->sk, v, calls);
	if (r != 0)
		return r;
	c->calls += calls;
	c->errors += errors;
	return 0;
}

int an_cell_merge(struct an_cell *dst, const struct an_cell *src)
{
	if (src->ser != NULL) {
		struct an_cell tmp = *src;
		tmp.ser = NULL;
		int rc = tern_sketch_deserialize(src->ser, src->ser_len, &tmp.sk);
		if (rc != 0)
			return rc;
		rc = an_cell_merge(dst, &tmp);
		tern_sketch_free(tmp.sk);
		return rc;
	}
	if (src->sk == NULL)
		return 0;
	if (dst->sk == NULL) {
		dst->sk = tern_sketch_new(0, 0);
		if (dst->sk == NULL)
			return -ENOMEM;
	}
	int r = tern_sketch_merge(dst->sk, src->sk);
	if (r != 0)
		return r;
	dst->calls += src->calls;
	dst->errors += src->errors;
	return 0;
}

/* ---- hour blobs ---- */

void col_an_get_stats(const struct col_analytics *a, struct col_an_stats *st)
{
	*st = a->st;
	st->hours_in_memory = a->nhours;
	st->pending = a->pend.n;
	uint64_t s = 0;
	for (uint32_t i = 0; i < a->nhours; i++)
		s += a->hours[i]->nseries;
	st->series = s;
}

size_t col_an_render_metrics(void *arg, char *buf, size_t len)
{
	struct col_an_stats st;
	col_an_get_stats(arg, &st);
	int n = snprintf(buf, len,
			 "# TYPE ternd_analytics_spans_total counter\n"
			 "ternd_analytics_spans_total %llu\n"
			 "# HELP ternd_analytics_overflow_spans_total spans counted as __other__ (operation cap)\n"
			 "# TYPE ternd_analytics_overflow_spans_total counter\n"
			 "ternd_analytics_overflow_spans_total %llu\n"
			 "# TYPE ternd_analytics_overflow_operations_total counter\n"
			 "ternd_analytics_overflow_operations_total %llu\n"
			 "# HELP ternd_analytics_unknown_parent_total spans classified without their parent (it never came within the settle time, or the waiting set was full)\n"
			 "# TYPE ternd_analytics_unknown_parent_total counter\n"
			 "ternd_analytics_unknown_parent_total %llu\n"
			 "# TYPE ternd_analytics_series gauge\n"
			 "ternd_analytics_series %llu\n"
			 "# TYPE ternd_analytics_hours_in_memory gauge\n"
			 "ternd_analytics_hours_in_memory %llu\n"
			 "# TYPE ternd_analytics_checkpoints_total counter\n"
			 "ternd_analytics_checkpoints_total %llu\n"
			 "# TYPE ternd_analytics_checkpoint_errors_total counter\n"
			 "ternd_analytics_checkpoint_errors_total %llu\n"
			 "# TYPE ternd_analytics_replayed_spans_total counter\n"
			 "ternd_analytics_replayed_spans_total %llu\n"
			 "# HELP ternd_analytics_future_spans_total spans starting over a day ahead, not counted\n"
			 "# TYPE ternd_analytics_future_spans_total counter\n"
			 "ternd_analytics_future_spans_total %llu\n"
			 "# HELP ternd_analytics_checkpoint_waits_total checkpoints that waited for no batch in flight\n"
			 "# TYPE ternd_analytics_checkpoint_waits_total counter\n"
			 "ternd_analytics_checkpoint_waits_total %llu\n"
			 "# HELP ternd_analytics_overflow_service_resources_total resources counted as service __other__ (service cap)\n"
			 "# TYPE ternd_analytics_overflow_service_resources_total counter\n"
			 "ternd_analytics_overflow_service_resources_total %llu\n"
			 "# HELP ternd_analytics_pending spans waiting for their parent (not counted yet)\n"
			 "# TYPE ternd_analytics_pending gauge\n"
			 "ternd_analytics_pending %llu\n"
			 "# HELP ternd_analytics_pending_overflow_total spans that stopped waiting because the waiting set was full\n"
			 "# TYPE ternd_analytics_pending_overflow_total counter\n"
			 "ternd_analytics_pending_overflow_total %llu\n"
			 "# HELP ternd_analytics_duplicate_spans_total spans seen before (same trace id, span id and content), not counted again\n"
			 "# TYPE ternd_analytics_duplicate_spans_total counter\n"
			 "ternd_analytics_duplicate_spans_total %llu\n",
			 (unsigned long long)st.spans, (unsigned long long)st.overflow_spans,
			 (unsigned long long)st.overflow_ops, (unsigned long long)st.unknown_parent,
			 (unsigned long long)st.series, (unsigned long long)st.hours_in_memory,
			 (unsigned long long)st.checkpoints, (unsigned long long)st.checkpoint_errors,
			 (unsigned long long)st.replayed_spans, (unsigned long long)st.future_spans,
			 (unsigned long long)st.checkpoint_waits,
			 (unsigned long long)st.overflow_service_spans, (unsigned long long)st.pending,
			 (unsigned long long)st.pending_overflow, (unsigned long long)st.duplicate_spans);
	return n < 0 ? 0 : (size_t)n;
}

/* ---- queries ---- */
