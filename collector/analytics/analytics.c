/*
 * analytics.c: per-minute sketches per (service, version, operation, kind,
 * entry), service edges, hourly blobs in the store, and the queries the
 * API asks. See analytics.h and docs/analytics.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics.h"
#include "util/container_of.h"
#include "util/hash.h"

#define NS_PER_MIN 60000000000ull
#define MIN_PER_HOUR 60
#define BLK 10 /* minutes per block roll-up */
#define INDEX_KEY "an-index"
#define INDEX_MAGIC 0x31584e49u /* "INX1" */
#define HOUR_MAGIC 0x31484154u  /* "TAH1" */
#define MAX_INDEX_HOURS (24u * 400u)
#define MAX_BLOB_STRINGS (1u << 20)
#define MAX_STRING_LEN 4096u

/* ---- small growable buffer for blobs ---- */

struct abuf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};

static void ab_put(struct abuf *b, const void *d, size_t len)
{
	if (b->oom)
		return;
	if (b->n + len > b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4096;
		while (nc < b->n + len)
			nc *= 2;
		uint8_t *np = realloc(b->p, nc);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, d, len);
	b->n += len;
}

static void ab_u8(struct abuf *b, uint8_t v)
{
	ab_put(b, &v, 1);
}

static void ab_u32(struct abuf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	ab_put(b, x, 4);
}

static void ab_u64(struct abuf *b, uint64_t v)
{
	ab_u32(b, (uint32_t)v);
	ab_u32(b, (uint32_t)(v >> 32));
}

/* Reader over untrusted bytes: every get checks the length first. */
struct rd {
	const uint8_t *p;
	size_t n, off;
	bool bad;
};

static bool rd_need(struct rd *r, size_t len)
{
	if (r->bad || r->off > r->n || r->n - r->off < len) {
		r->bad = true;
		return false;
	}
	return true;
}

static uint8_t rd_u8(struct rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return r->p[r->off++];
}

static uint32_t rd_u32(struct rd *r)
{
	if (!rd_need(r, 4))
		return 0;
	const uint8_t *x = r->p + r->off;
	r->off += 4;
	return (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24;
}

static uint64_t rd_u64(struct rd *r)
{
	uint64_t lo = rd_u32(r);
	return lo | (uint64_t)rd_u32(r) << 32;
}

/* ---- interned strings ---- */

struct strtab {
	char **s;
	uint32_t *len;
	uint32_t n, cap;
	uint32_t *slots; /* id + 1, 0 = empty */
	uint32_t nslots; /* power of two */
};

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

static int st_grow(struct strtab *t)
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
static int64_t st_find(struct strtab *t, const void *p, size_t len, bool intern)
{
	if (t->nslots == 0 && st_grow(t) != 0)
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
	if (t->n * 2 > t->nslots && st_grow(t) != 0) {
		/* The table stays valid; the next insert retries the growth. */
	}
	return id;
}

static void st_free(struct strtab *t)
{
	for (uint32_t i = 0; i < t->n; i++)
		free(t->s[i]);
	free(t->s);
	free(t->len);
	free(t->slots);
}

/* ---- u64 -> u32 open-addressing map ---- */

struct map64 {
	uint64_t *k;
	uint32_t *v; /* value + 1; 0 = empty */
	uint32_t n, nslots;
};

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
		uint32_t j = (uint32_t)mix64(m->k[i]) & (ns - 1);
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
static int64_t map_get(const struct map64 *m, uint64_t key)
{
	if (m->nslots == 0)
		return -1;
	uint32_t j = (uint32_t)mix64(key) & (m->nslots - 1);
	while (m->v[j]) {
		if (m->k[j] == key)
			return (int64_t)m->v[j] - 1;
		j = (j + 1) & (m->nslots - 1);
	}
	return -1;
}

static int map_put(struct map64 *m, uint64_t key, uint32_t val)
{
	if ((m->n + 1) * 2 > m->nslots && map_grow(m) != 0)
		return -ENOMEM;
	uint32_t j = (uint32_t)mix64(key) & (m->nslots - 1);
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

static void map_free(struct map64 *m)
{
	free(m->k);
	free(m->v);
	memset(m, 0, sizeof(*m));
}

/* ---- keys, series, hours ---- */

struct an_key {
	uint32_t svc, ver, op;
	uint8_t kind, entry;
};

static uint64_t key_hash(const struct an_key *k)
{
	uint64_t h = mix64(((uint64_t)k->svc << 32) | k->op);
	return mix64(h ^ ((uint64_t)k->ver << 16) ^ ((uint64_t)k->kind << 8) ^ k->entry);
}

/* A minute (or the hour's roll-up). Minutes of hours older than the
 * last two are kept serialised (ser) to save memory; the roll-up stays
 * live, so long windows merge hours, not minutes. */
struct an_cell {
	uint64_t calls, errors;
	struct tern_sketch *sk; /* NULL until the first value, or when ser */
	uint8_t *ser;           /* tern_sketch_serialize() form, or NULL */
	uint32_t ser_len;
};

struct an_series {
	uint32_t key;
	struct an_cell m[MIN_PER_HOUR];
	struct an_cell blk[MIN_PER_HOUR / BLK]; /* 10-minute roll-ups */
	struct an_cell roll; /* the whole hour */
};

struct an_edges {
	uint32_t parent, child;
	uint64_t m[MIN_PER_HOUR];
};

struct an_hour {
	int64_t hour; /* hours since the epoch */
	struct an_series **series;
	uint32_t nseries, cap;
	struct map64 by_key; /* key id -> series index */
	struct an_edges *edges;
	uint32_t nedges, capedges;
	bool dirty;               /* changed since written */
	bool compact;             /* every minute cell is serialised */
	bool has_pos;             /* replay: blob covers records before pos */
	struct store_pos pos;
};

struct col_analytics {
	struct col_an_options o;
	struct strtab str;
	struct an_key *keys;
	uint32_t nkeys, capkeys;
	struct map64 key_by_hash; /* key hash -> first key id (chained by linear probe on id) */
	struct map64 op_admit;    /* (svc << 32 | op) -> 1 */
	struct map64 svc_admit;   /* service ids counted under their own name */
	uint32_t *ops_per_svc;    /* by string id */
	uint32_t ops_per_svc_n;
	uint32_t other_id, empty_id, unknown_svc_id;

	struct an_hour **hours; /* resident, sorted by hour */
	uint32_t nhours, caphours;

	/* recent spans: (trace, span) -> service, direct-mapped */
	struct pslot {
		uint64_t sid, tid;
		uint32_t svc; /* + 1; 0 = empty */
	} *pmap;

	/* persistence */
	struct store *store;
	struct store_pos base; /* the index's position */
	int64_t *phours;       /* hours with a blob named in the index, sorted */
	uint32_t nphours, capphours;

	uv_loop_t *loop;
	uv_timer_t timer;
	bool timer_on;
	uv_check_t check; /* armed while a checkpoint waits for a quiet moment */
	bool check_on;
	bool (*quiescent)(void *arg);
	void *qarg;
	struct an_ckpt *inflight;
	bool stopping;
	void (*stop_done)(void *arg);
	void *stop_arg;

	struct col_an_stats st;
};

void col_an_options_default(struct col_an_options *o)
{
	o->max_ops_per_service = 2000;
	o->mem_hours = 24;
	o->parent_slots = 131072;
	o->checkpoint_ms = 10000;
	o->max_services = 1000;
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
	uint32_t ps = 1024;
	while (ps < a->o.parent_slots && ps < (1u << 26))
		ps <<= 1;
	a->o.parent_slots = ps;
	a->pmap = calloc(ps, sizeof(*a->pmap));
	int64_t e = st_find(&a->str, "", 0, true);
	int64_t ot = st_find(&a->str, COL_AN_OTHER, strlen(COL_AN_OTHER), true);
	int64_t un = st_find(&a->str, "unknown_service", strlen("unknown_service"), true);
	if (a->pmap == NULL || e < 0 || ot < 0 || un < 0) {
		col_an_free(a);
		return NULL;
	}
	a->empty_id = (uint32_t)e;
	a->other_id = (uint32_t)ot;
	a->unknown_svc_id = (uint32_t)un;
	return a;
}

static void cell_done(struct an_cell *c)
{
	tern_sketch_free(c->sk);
	free(c->ser);
}

static void hour_free(struct an_hour *h)
{
	if (h == NULL)
		return;
	for (uint32_t i = 0; i < h->nseries; i++) {
		for (int m = 0; m < MIN_PER_HOUR; m++)
			cell_done(&h->series[i]->m[m]);
		cell_done(&h->series[i]->roll);
		for (int k = 0; k < MIN_PER_HOUR / BLK; k++)
			cell_done(&h->series[i]->blk[k]);
		free(h->series[i]);
	}
	free(h->series);
	map_free(&h->by_key);
	free(h->edges);
	free(h);
}

void col_an_free(struct col_analytics *a)
{
	if (a == NULL)
		return;
	for (uint32_t i = 0; i < a->nhours; i++)
		hour_free(a->hours[i]);
	free(a->hours);
	st_free(&a->str);
	free(a->keys);
	map_free(&a->key_by_hash);
	map_free(&a->op_admit);
	map_free(&a->svc_admit);
	free(a->ops_per_svc);
	free(a->pmap);
	free(a->phours);
	free(a);
}

/* Key id, interning. -1 when out of memory. The map holds the hash of the
 * key; collisions probe on (hash + i). */
static int64_t key_intern(struct col_analytics *a, const struct an_key *k)
{
	uint64_t slot = key_hash(k);
	for (;;) {
		int64_t id = map_get(&a->key_by_hash, slot);
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
	if (map_put(&a->key_by_hash, slot, a->nkeys) != 0)
		return -1;
	a->keys[a->nkeys] = *k;
	return a->nkeys++;
}

static int svc_ops_reserve(struct col_analytics *a, uint32_t svc)
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
static int64_t op_resolve(struct col_analytics *a, uint32_t svc, const void *name, size_t len,
			  bool force)
{
	if (svc_ops_reserve(a, svc) != 0)
		return -1;
	int64_t op = st_find(&a->str, name, len, false);
	if (op >= 0 && map_get(&a->op_admit, (uint64_t)svc << 32 | (uint64_t)op) >= 0)
		return op;
	if ((uint32_t)op == a->other_id && op >= 0)
		return op;
	if (!force && a->ops_per_svc[svc] >= a->o.max_ops_per_service) {
		a->st.overflow_ops++;
		return a->other_id;
	}
	if (op < 0)
		op = st_find(&a->str, name, len, true);
	if (op < 0)
		return -1;
	if (map_put(&a->op_admit, (uint64_t)svc << 32 | (uint64_t)op, 1) != 0)
		return -1;
	a->ops_per_svc[svc]++;
	return op;
}

static bool hour_persisted(const struct col_analytics *a, int64_t hour)
{
	uint32_t lo = 0, hi = a->nphours;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (a->phours[mid] < hour)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < a->nphours && a->phours[lo] == hour;
}

static int phours_add(struct col_analytics *a, int64_t hour)
{
	if (hour_persisted(a, hour))
		return 0;
	if (a->nphours == a->capphours) {
		uint32_t nc = a->capphours ? a->capphours * 2 : 64;
		int64_t *np = realloc(a->phours, nc * sizeof(*np));
		if (np == NULL)
			return -ENOMEM;
		a->phours = np;
		a->capphours = nc;
	}
	uint32_t i = a->nphours;
	while (i > 0 && a->phours[i - 1] > hour) {
		a->phours[i] = a->phours[i - 1];
		i--;
	}
	a->phours[i] = hour;
	a->nphours++;
	return 0;
}

static struct an_hour *hour_new(int64_t hour)
{
	struct an_hour *h = calloc(1, sizeof(*h));
	if (h)
		h->hour = hour;
	return h;
}

static struct an_hour *hour_resident(struct col_analytics *a, int64_t hour)
{
	for (uint32_t i = a->nhours; i > 0; i--) {
		if (a->hours[i - 1]->hour == hour)
			return a->hours[i - 1];
		if (a->hours[i - 1]->hour < hour)
			break;
	}
	return NULL;
}

static int hour_link(struct col_analytics *a, struct an_hour *h)
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

static struct an_series *hour_series(struct an_hour *h, uint32_t key, bool create)
{
	int64_t i = map_get(&h->by_key, key);
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
	if (map_put(&h->by_key, key, h->nseries) != 0) {
		free(s);
		return NULL;
	}
	s->key = key;
	h->series[h->nseries++] = s;
	return s;
}

static uint64_t *hour_edge(struct an_hour *h, uint32_t parent, uint32_t child)
{
	for (uint32_t i = 0; i < h->nedges; i++)
		if (h->edges[i].parent == parent && h->edges[i].child == child)
			return h->edges[i].m;
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
	return e->m;
}

/* Makes a serialised cell live again. */
static int cell_live(struct an_cell *c)
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

static int cell_compact(struct an_cell *c)
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

static int cell_add(struct an_cell *c, double v, uint64_t calls, uint64_t errors)
{
	int rc = cell_live(c);
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

static int cell_merge(struct an_cell *dst, const struct an_cell *src)
{
	if (src->ser != NULL) {
		struct an_cell tmp = *src;
		tmp.ser = NULL;
		int rc = tern_sketch_deserialize(src->ser, src->ser_len, &tmp.sk);
		if (rc != 0)
			return rc;
		rc = cell_merge(dst, &tmp);
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

static void blob_key(char *out, size_t len, int64_t hour)
{
	snprintf(out, len, "an-h-%" PRId64, hour);
}

/* Serialises h with pos. Returns 0 or -ENOMEM. */
static int hour_serialize(struct col_analytics *a, const struct an_hour *h, struct store_pos pos,
			  struct abuf *b)
{
	uint32_t *local = malloc((size_t)(a->str.n ? a->str.n : 1) * sizeof(*local));
	if (local == NULL)
		return -ENOMEM;
	memset(local, 0xff, (size_t)a->str.n * sizeof(*local));
	uint32_t nloc = 0;
	uint32_t *order = malloc((size_t)(a->str.n ? a->str.n : 1) * sizeof(*order));
	if (order == NULL) {
		free(local);
		return -ENOMEM;
	}
#define USE(id)                                 \
	do {                                    \
		if (local[id] == UINT32_MAX) {  \
			local[id] = nloc;       \
			order[nloc++] = (id);   \
		}                               \
	} while (0)
	for (uint32_t i = 0; i < h->nseries; i++) {
		const struct an_key *k = &a->keys[h->series[i]->key];
		USE(k->svc);
		USE(k->ver);
		USE(k->op);
	}
	for (uint32_t i = 0; i < h->nedges; i++) {
		USE(h->edges[i].parent);
		USE(h->edges[i].child);
	}
#undef USE
	ab_u32(b, HOUR_MAGIC);
	ab_u64(b, pos.seg);
	ab_u64(b, pos.off);
	ab_u64(b, (uint64_t)h->hour);
	ab_u32(b, nloc);
	for (uint32_t i = 0; i < nloc; i++) {
		uint32_t id = order[i];
		ab_u32(b, a->str.len[id]);
		ab_put(b, a->str.s[id], a->str.len[id]);
	}
	ab_u32(b, h->nseries);
	int rc = 0;
	for (uint32_t i = 0; i < h->nseries && rc == 0; i++) {
		const struct an_series *s = h->series[i];
		const struct an_key *k = &a->keys[s->key];
		ab_u32(b, local[k->svc]);
		ab_u32(b, local[k->ver]);
		ab_u32(b, local[k->op]);
		ab_u8(b, k->kind);
		ab_u8(b, k->entry);
		uint64_t mask = 0;
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (s->m[m].sk != NULL || s->m[m].ser != NULL)
				mask |= 1ull << m;
		ab_u64(b, mask);
		for (int m = 0; m < MIN_PER_HOUR; m++) {
			const struct an_cell *c = &s->m[m];
			if (c->sk == NULL && c->ser == NULL)
				continue;
			ab_u64(b, c->calls);
			ab_u64(b, c->errors);
			if (c->ser != NULL) {
				ab_u32(b, c->ser_len);
				ab_put(b, c->ser, c->ser_len);
				continue;
			}
			uint8_t *sb;
			size_t sl;
			if (tern_sketch_serialize(c->sk, &sb, &sl) != 0) {
				rc = -ENOMEM;
				break;
			}
			ab_u32(b, (uint32_t)sl);
			ab_put(b, sb, sl);
			free(sb);
		}
		/* The roll-ups too, so a reader that covers the whole hour (or
		 * keeps minutes serialised) needs no minute sketch. */
		for (int kb = -1; kb < MIN_PER_HOUR / BLK && rc == 0; kb++) {
			const struct an_cell *c = kb < 0 ? &s->roll : &s->blk[kb];
			ab_u64(b, c->calls);
			ab_u64(b, c->errors);
			if (c->sk == NULL) {
				ab_u32(b, 0);
				continue;
			}
			uint8_t *sb;
			size_t sl;
			if (tern_sketch_serialize(c->sk, &sb, &sl) != 0) {
				rc = -ENOMEM;
				break;
			}
			ab_u32(b, (uint32_t)sl);
			ab_put(b, sb, sl);
			free(sb);
		}
	}
	ab_u32(b, h->nedges);
	for (uint32_t i = 0; i < h->nedges; i++) {
		const struct an_edges *e = &h->edges[i];
		ab_u32(b, local[e->parent]);
		ab_u32(b, local[e->child]);
		uint64_t mask = 0;
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (e->m[m])
				mask |= 1ull << m;
		ab_u64(b, mask);
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (e->m[m])
				ab_u64(b, e->m[m]);
	}
	free(local);
	free(order);
	if (rc == 0 && b->oom)
		rc = -ENOMEM;
	return rc;
}

/* How much of a blob to bring to life. */
enum parse_mode {
	P_LIVE,    /* minute sketches deserialised (recent hours) */
	P_COMPACT, /* minutes kept serialised, checked when used */
	P_ROLLUP,  /* minutes skipped: only for windows covering the hour */
};

/* Reads one stored cell (calls, errors, sketch bytes). live: deserialise
 * into c->sk (count checked); keep: copy the bytes into c->ser; neither:
 * skip them. Returns 0, -EINVAL, -ENOMEM. */
static int read_cell(struct rd *r, struct an_cell *c, bool live, bool keep)
{
	uint64_t calls = rd_u64(r), errors = rd_u64(r);
	uint32_t sl = rd_u32(r);
	if (!rd_need(r, sl) || errors > calls || (calls == 0) != (sl == 0))
		return -EINVAL;
	if (c->sk != NULL || c->ser != NULL) /* a series listed twice */
		return -EINVAL;
	c->calls = calls;
	c->errors = errors;
	if (sl == 0)
		return 0;
	if (live) {
		int rc = tern_sketch_deserialize(r->p + r->off, sl, &c->sk);
		if (rc != 0)
			return rc;
		if (tern_sketch_count(c->sk) != calls)
			return -EINVAL;
	} else if (keep) {
		c->ser = malloc(sl);
		if (c->ser == NULL)
			return -ENOMEM;
		memcpy(c->ser, r->p + r->off, sl);
		c->ser_len = sl;
	}
	r->off += sl;
	return 0;
}

/* Parses an hour blob (untrusted). Returns a new hour, with pos in
 * h->pos, or NULL with *err -EINVAL (malformed) / -ENOMEM. */
static struct an_hour *hour_parse(struct col_analytics *a, const uint8_t *p, size_t n,
				  int64_t want_hour, enum parse_mode mode, int *err)
{
	struct rd r = { p, n, 0, false };
	uint32_t *ids = NULL;
	struct an_hour *h = NULL;
	int rc;
	*err = -EINVAL;
	if (rd_u32(&r) != HOUR_MAGIC)
		return NULL;
	struct store_pos pos;
	pos.seg = rd_u64(&r);
	pos.off = rd_u64(&r);
	int64_t hour = (int64_t)rd_u64(&r);
	uint32_t nstr = rd_u32(&r);
	if (r.bad || hour != want_hour || nstr > MAX_BLOB_STRINGS || nstr > (n - r.off) / 4)
		return NULL;
	h = hour_new(hour);
	ids = malloc((size_t)(nstr ? nstr : 1) * sizeof(*ids));
	if (h == NULL || ids == NULL) {
		*err = -ENOMEM;
		goto out_bad;
	}
	h->pos = pos;
	h->compact = mode == P_COMPACT;
	for (uint32_t i = 0; i < nstr; i++) {
		uint32_t len = rd_u32(&r);
		if (len > MAX_STRING_LEN || !rd_need(&r, len))
			goto out_bad;
		int64_t id = st_find(&a->str, r.p + r.off, len, true);
		if (id < 0) {
			*err = -ENOMEM;
			goto out_bad;
		}
		ids[i] = (uint32_t)id;
		r.off += len;
	}
	uint32_t ns = rd_u32(&r);
	if (r.bad || ns > (n - r.off) / 22)
		goto out_bad;
	for (uint32_t i = 0; i < ns; i++) {
		uint32_t si = rd_u32(&r), vi = rd_u32(&r), oi = rd_u32(&r);
		uint8_t kind = rd_u8(&r), entry = rd_u8(&r);
		uint64_t mask = rd_u64(&r);
		if (r.bad || si >= nstr || vi >= nstr || oi >= nstr || entry > 1 ||
		    (mask >> MIN_PER_HOUR) != 0)
			goto out_bad;
		struct an_key k = { ids[si], ids[vi], ids[oi], kind, entry };
		if (k.svc != a->other_id && k.svc != a->unknown_svc_id &&
		    map_get(&a->svc_admit, k.svc) < 0 && map_put(&a->svc_admit, k.svc, 1) != 0) {
			*err = -ENOMEM;
			goto out_bad;
		}
		if (svc_ops_reserve(a, k.svc) != 0 ||
		    op_resolve(a, k.svc, a->str.s[k.op], a->str.len[k.op], true) < 0) {
			*err = -ENOMEM;
			goto out_bad;
		}
		int64_t kid = key_intern(a, &k);
		struct an_series *s = kid < 0 ? NULL : hour_series(h, (uint32_t)kid, true);
		if (s == NULL) {
			*err = -ENOMEM;
			goto out_bad;
		}
		uint64_t bcalls[MIN_PER_HOUR / BLK] = { 0 }, berr[MIN_PER_HOUR / BLK] = { 0 };
		for (int m = 0; m < MIN_PER_HOUR; m++) {
			if (!(mask & (1ull << m)))
				continue;
			struct an_cell c = { 0 };
			struct an_cell *dst = mode == P_ROLLUP ? &c : &s->m[m];
			rc = read_cell(&r, dst, mode == P_LIVE, mode == P_COMPACT);
			if (rc != 0) {
				*err = rc;
				goto out_bad;
			}
			if (dst->calls == 0)
				goto out_bad; /* the mask says there is a sketch */
			if (bcalls[m / BLK] + dst->calls < bcalls[m / BLK])
				goto out_bad;
			bcalls[m / BLK] += dst->calls;
			berr[m / BLK] += dst->errors;
		}
		uint64_t total = 0, terr = 0;
		for (int k2 = 0; k2 < MIN_PER_HOUR / BLK; k2++) {
			if (total + bcalls[k2] < total)
				goto out_bad;
			total += bcalls[k2];
			terr += berr[k2];
		}
		/* The roll-ups must add up to the minutes. */
		rc = read_cell(&r, &s->roll, true, false);
		if (rc != 0) {
			*err = rc;
			goto out_bad;
		}
		if (s->roll.calls != total || s->roll.errors != terr)
			goto out_bad;
		for (int k2 = 0; k2 < MIN_PER_HOUR / BLK; k2++) {
			struct an_cell c = { 0 };
			struct an_cell *dst = mode == P_ROLLUP ? &c : &s->blk[k2];
			rc = read_cell(&r, dst, mode != P_ROLLUP, false);
			if (rc != 0) {
				*err = rc;
				goto out_bad;
			}
			if (dst->calls != bcalls[k2] || dst->errors != berr[k2])
				goto out_bad;
		}
	}
	uint32_t ne = rd_u32(&r);
	if (r.bad || ne > (n - r.off) / 16)
		goto out_bad;
	for (uint32_t i = 0; i < ne; i++) {
		uint32_t pi = rd_u32(&r), ci = rd_u32(&r);
		uint64_t mask = rd_u64(&r);
		if (r.bad || pi >= nstr || ci >= nstr || (mask >> MIN_PER_HOUR) != 0)
			goto out_bad;
		uint64_t *em = hour_edge(h, ids[pi], ids[ci]);
		if (em == NULL) {
			*err = -ENOMEM;
			goto out_bad;
		}
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (mask & (1ull << m))
				em[m] += rd_u64(&r);
	}
	if (r.bad || r.off != n)
		goto out_bad;
	free(ids);
	*err = 0;
	return h;

out_bad:
	free(ids);
	hour_free(h);
	return NULL;
}

/* Reads the blob of a persisted hour. NULL with *err on failure. */
static struct an_hour *hour_read(struct col_analytics *a, int64_t hour, enum parse_mode mode,
				 int *err)
{
	char key[48];
	void *d;
	size_t len;
	blob_key(key, sizeof(key), hour);
	*err = store_meta_get(a->store, key, &d, &len);
	if (*err != 0)
		return NULL;
	struct an_hour *h = hour_parse(a, d, len, hour, mode, err);
	free(d);
	if (h)
		a->st.loaded_hours++;
	return h;
}

/* The resident hour, loading a persisted one or making an empty one when
 * create. NULL when out of memory, or absent and !create. */
static struct an_hour *hour_get(struct col_analytics *a, int64_t hour, bool create)
{
	struct an_hour *h = hour_resident(a, hour);
	if (h != NULL || !create)
		return h;
	if (a->store != NULL && hour_persisted(a, hour)) {
		int err;
		/* The last two hours live; older ones keep minutes serialised. */
		int64_t now_hour = (int64_t)(time(NULL) / 3600);
		h = hour_read(a, hour, hour >= now_hour - 1 ? P_LIVE : P_COMPACT, &err);
		if (h != NULL) {
			/* The blob also covers everything before the index's base. */
			h->has_pos = true;
			if (store_pos_cmp(h->pos, a->base) < 0)
				h->pos = a->base;
		}
	}
	if (h == NULL)
		h = hour_new(hour);
	if (h == NULL)
		return NULL;
	if (hour_link(a, h) != 0) {
		hour_free(h);
		return NULL;
	}
	return h;
}

/* ---- observing spans ---- */

static uint64_t id64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

/* The map is 4-way set associative: a span id goes to one set of 4
 * slots; a new one takes a free slot or evicts one chosen by its hash. */
#define PWAYS 4

static struct pslot *pmap_set(struct col_analytics *a, const uint8_t *trace, const uint8_t *span,
			      uint64_t *h)
{
	*h = mix64(id64(span) ^ mix64(id64(trace + 8)));
	return &a->pmap[(*h & (a->o.parent_slots / PWAYS - 1)) * PWAYS];
}

static void pmap_put(struct col_analytics *a, const uint8_t *trace, const uint8_t *span,
		     uint32_t svc)
{
	uint64_t h;
	struct pslot *set = pmap_set(a, trace, span, &h);
	uint64_t sid = id64(span), tid = id64(trace + 8);
	struct pslot *p = NULL;
	for (int w = 0; w < PWAYS && p == NULL; w++)
		if (set[w].svc == 0 || (set[w].sid == sid && set[w].tid == tid))
			p = &set[w];
	if (p == NULL)
		p = &set[(h >> 40) % PWAYS];
	p->sid = sid;
	p->tid = tid;
	p->svc = svc + 1;
}

static const struct pslot *pmap_get(struct col_analytics *a, const uint8_t *trace,
				    const uint8_t *span)
{
	uint64_t h;
	struct pslot *set = pmap_set(a, trace, span, &h);
	uint64_t sid = id64(span), tid = id64(trace + 8);
	for (int w = 0; w < PWAYS; w++)
		if (set[w].svc != 0 && set[w].sid == sid && set[w].tid == tid)
			return &set[w];
	return NULL;
}

static uint32_t resource_str(struct col_analytics *a, const struct otlp_resource_spans *rs,
			     const char *key, uint32_t dflt)
{
	const struct otlp_any *v = otlp_attrs_find(&rs->resource_attrs, key);
	if (v == NULL || v->type != OTLP_VALUE_STRING || v->u.str.len == 0 ||
	    v->u.str.len > MAX_STRING_LEN)
		return dflt;
	int64_t id = st_find(&a->str, v->u.str.ptr, v->u.str.len, true);
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
	int64_t id = st_find(&a->str, v->u.str.ptr, v->u.str.len, false);
	if (id >= 0 && map_get(&a->svc_admit, (uint64_t)id) >= 0)
		return (uint32_t)id;
	if (a->svc_admit.n >= a->o.max_services) {
		if (count)
			a->st.overflow_service_spans++;
		return a->other_id;
	}
	if (id < 0)
		id = st_find(&a->str, v->u.str.ptr, v->u.str.len, true);
	if (id < 0 || map_put(&a->svc_admit, (uint64_t)id, 1) != 0)
		return a->unknown_svc_id;
	return (uint32_t)id;
}

/* Spans starting further in the future than this are not counted: their
 * hours would stay in memory until that time comes. */
#define MAX_FUTURE_NS (24ull * 3600 * 1000000000ull)

static void observe(struct col_analytics *a, const struct otlp_batch *b, const struct store_pos *at)
{
	uint64_t horizon = (uint64_t)time(NULL) * 1000000000ull + MAX_FUTURE_NS;
	/* Pass 1: every span's service into the map, so a child that comes
	 * before its parent in the same batch finds it. */
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		uint32_t svc = service_of(a, rs, false);
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next)
				pmap_put(a, sp->trace_id, sp->span_id, svc);
	}
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		uint32_t svc = service_of(a, rs, true);
		uint32_t ver = resource_str(a, rs, "service.version", a->empty_id);
		/* One key lookup per run of spans with the same name/kind/entry. */
		const uint8_t *last_name = NULL;
		size_t last_len = 0;
		int last_kind = -1, last_entry = -1;
		int64_t last_key = -1;
		struct an_hour *h = NULL;
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
				uint64_t t0 = sp->start_time_unix_nano;
				if (t0 > horizon) {
					a->st.future_spans++;
					continue;
				}
				uint64_t dur = sp->end_time_unix_nano > t0 ? sp->end_time_unix_nano - t0 : 0;
				int64_t minute = (int64_t)(t0 / NS_PER_MIN);
				int64_t hour = minute / MIN_PER_HOUR;
				int entry;
				uint32_t psvc = 0;
				bool has_psvc = false;
				if (!sp->has_parent) {
					entry = 1;
				} else {
					const struct pslot *p = pmap_get(a, sp->trace_id, sp->parent_span_id);
					if (p != NULL) {
						psvc = p->svc - 1;
						has_psvc = true;
						entry = psvc != svc;
					} else {
						entry = 0;
						a->st.unknown_parent++;
					}
				}
				if (sp->kind == OTLP_SPAN_KIND_SERVER || sp->kind == OTLP_SPAN_KIND_CONSUMER)
					entry = 1;
				if (h == NULL || h->hour != hour) {
					h = hour_get(a, hour, true);
					if (h == NULL)
						continue;
				}
				if (at != NULL && h->has_pos && store_pos_cmp(*at, h->pos) < 0)
					continue; /* already in the hour's blob */
				int kind = (int)sp->kind < 0 || sp->kind > 255 ? 0 : (int)sp->kind;
				if (last_key < 0 || kind != last_kind || entry != last_entry ||
				    sp->name.len != last_len ||
				    (last_len && memcmp(sp->name.ptr, last_name, last_len) != 0)) {
					size_t nl = sp->name.len > MAX_STRING_LEN ? MAX_STRING_LEN : sp->name.len;
					int64_t op = op_resolve(a, svc, sp->name.ptr, nl, false);
					if (op < 0)
						continue;
					struct an_key k = { svc, ver, (uint32_t)op, (uint8_t)kind, (uint8_t)entry };
					last_key = key_intern(a, &k);
					if (last_key < 0)
						continue;
					last_name = sp->name.ptr;
					last_len = sp->name.len;
					last_kind = kind;
					last_entry = entry;
				}
				struct an_series *s = hour_series(h, (uint32_t)last_key, true);
				if (s == NULL)
					continue;
				bool err = sp->status.code == OTLP_STATUS_ERROR;
				int m = (int)(minute % MIN_PER_HOUR);
				if (cell_add(&s->m[m], (double)dur, 1, err) != 0 ||
				    cell_add(&s->roll, (double)dur, 1, err) != 0 ||
				    cell_add(&s->blk[m / BLK], (double)dur, 1, err) != 0)
					continue;
				if (a->keys[last_key].op == a->other_id)
					a->st.overflow_spans++;
				if (has_psvc && psvc != svc) {
					uint64_t *em = hour_edge(h, psvc, svc);
					if (em)
						em[m]++;
				}
				h->dirty = true;
				h->compact = false;
				a->st.spans++;
				if (at != NULL)
					a->st.replayed_spans++;
			}
		}
	}
}

void col_an_observe(struct col_analytics *a, const struct otlp_batch *b)
{
	observe(a, b, NULL);
}

/* ---- persistence ---- */

static int index_serialize(const struct col_analytics *a, struct store_pos base,
			   const int64_t *extra, uint32_t nextra, struct abuf *b)
{
	/* The index names every persisted hour plus the ones being written;
	 * the oldest are dropped past MAX_INDEX_HOURS. */
	int64_t *all = malloc(((size_t)a->nphours + nextra + 1) * sizeof(*all));
	if (all == NULL)
		return -ENOMEM;
	uint32_t n = 0;
	for (uint32_t i = 0; i < a->nphours; i++)
		all[n++] = a->phours[i];
	for (uint32_t i = 0; i < nextra; i++) {
		bool dup = false;
		for (uint32_t j = 0; j < a->nphours && !dup; j++)
			dup = a->phours[j] == extra[i];
		if (!dup)
			all[n++] = extra[i];
	}
	uint32_t skip = n > MAX_INDEX_HOURS ? n - MAX_INDEX_HOURS : 0;
	ab_u32(b, INDEX_MAGIC);
	ab_u64(b, base.seg);
	ab_u64(b, base.off);
	/* not sorted when extra is: the reader sorts */
	ab_u32(b, n - skip);
	for (uint32_t i = skip; i < n; i++)
		ab_u64(b, (uint64_t)all[i]);
	free(all);
	return b->oom ? -ENOMEM : 0;
}

static int index_load(struct col_analytics *a)
{
	void *d;
	size_t len;
	int rc = store_meta_get(a->store, INDEX_KEY, &d, &len);
	if (rc == -ENOENT)
		return 0;
	if (rc != 0)
		return rc;
	struct rd r = { d, len, 0, false };
	rc = -EINVAL;
	if (rd_u32(&r) != INDEX_MAGIC)
		goto out_free;
	struct store_pos base;
	base.seg = rd_u64(&r);
	base.off = rd_u64(&r);
	uint32_t n = rd_u32(&r);
	if (r.bad || n > MAX_INDEX_HOURS || (size_t)n * 8 != len - r.off)
		goto out_free;
	for (uint32_t i = 0; i < n; i++) {
		if (phours_add(a, (int64_t)rd_u64(&r)) != 0) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	a->base = base;
	rc = 0;
out_free:
	free(d);
	return rc;
}

int col_an_load(struct col_analytics *a, struct store *st, char *msg, size_t msglen)
{
	a->store = st;
	int rc = index_load(a);
	if (rc != 0) {
		snprintf(msg, msglen, "analytics: index unreadable (%s); rebuilding from the whole log",
			 strerror(-rc));
		a->nphours = 0;
		a->base = (struct store_pos){ 0, 0 };
	}
	/* Load the recent hours now (older ones on demand). */
	int64_t now_hour = (int64_t)(time(NULL) / 3600);
	uint32_t bad = 0;
	for (uint32_t i = 0; i < a->nphours; i++) {
		if (a->phours[i] < now_hour - (int64_t)a->o.mem_hours)
			continue;
		if (hour_get(a, a->phours[i], true) == NULL)
			return -ENOMEM;
	}
	struct store_reader *r;
	rc = store_reader_new(st, a->base, &r);
	if (rc != 0)
		return rc;
	uint64_t records = 0;
	for (;;) {
		struct otlp_batch *b;
		struct store_pos at, next;
		rc = store_reader_next(r, &b, &at, &next);
		if (rc == -EAGAIN)
			break;
		if (rc == -ERANGE || rc == -EBADMSG) {
			bad++;
			continue;
		}
		if (rc != 0)
			break;
		observe(a, b, &at);
		otlp_batch_free(b);
		records++;
	}
	store_reader_free(r);
	for (uint32_t i = 0; i < a->nhours; i++)
		a->hours[i]->has_pos = false;
	if (rc == -EAGAIN)
		rc = 0;
	snprintf(msg, msglen,
		 "analytics: %u persisted hours (%llu loaded), replayed %llu records / %llu spans "
		 "from the log after %llu:%llu%s",
		 a->nphours, (unsigned long long)a->st.loaded_hours, (unsigned long long)records,
		 (unsigned long long)a->st.replayed_spans, (unsigned long long)a->base.seg,
		 (unsigned long long)a->base.off, bad ? " (some records unreadable, skipped)" : "");
	return rc;
}

/* A checkpoint: blobs made on the loop, written on the thread pool. */
struct an_ckpt {
	uv_work_t work;
	struct col_analytics *a;
	struct store *store;
	uint32_t n;
	int64_t *hours;
	struct abuf *blobs;
	struct abuf index;
	struct store_pos pos;
	int status;
};

static void ckpt_free(struct an_ckpt *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		free(c->blobs[i].p);
	free(c->blobs);
	free(c->hours);
	free(c->index.p);
	free(c);
}

/* Snapshot on the loop. NULL with *err. Marks the hours clean. */
static struct an_ckpt *ckpt_make(struct col_analytics *a, int *err)
{
	struct an_ckpt *c = calloc(1, sizeof(*c));
	*err = -ENOMEM;
	if (c == NULL)
		return NULL;
	c->a = a;
	c->store = a->store;
	c->pos = store_end_pos(a->store);
	uint32_t nd = 0;
	for (uint32_t i = 0; i < a->nhours; i++)
		nd += a->hours[i]->dirty;
	c->hours = calloc(nd ? nd : 1, sizeof(*c->hours));
	c->blobs = calloc(nd ? nd : 1, sizeof(*c->blobs));
	if (c->hours == NULL || c->blobs == NULL)
		goto out_free;
	for (uint32_t i = 0; i < a->nhours; i++) {
		struct an_hour *h = a->hours[i];
		if (!h->dirty)
			continue;
		c->hours[c->n] = h->hour;
		*err = hour_serialize(a, h, c->pos, &c->blobs[c->n]);
		c->n++;
		if (*err != 0)
			goto out_free;
	}
	*err = index_serialize(a, c->pos, c->hours, c->n, &c->index);
	if (*err != 0)
		goto out_free;
	for (uint32_t i = 0; i < a->nhours; i++)
		a->hours[i]->dirty = false;
	return c;
out_free:
	ckpt_free(c);
	return NULL;
}

/* Any thread. */
static void ckpt_write(struct an_ckpt *c)
{
	char key[48];
	c->status = 0;
	for (uint32_t i = 0; i < c->n && c->status == 0; i++) {
		blob_key(key, sizeof(key), c->hours[i]);
		c->status = store_meta_put(c->store, key, c->blobs[i].p, c->blobs[i].n);
	}
	/* The index (with the new base) only once every hour is on disk. */
	if (c->status == 0)
		c->status = store_meta_put(c->store, INDEX_KEY, c->index.p, c->index.n);
}

/* Loop: applies the outcome and frees c. */
static int ckpt_finish(struct col_analytics *a, struct an_ckpt *c)
{
	int rc = c->status;
	if (rc == 0) {
		for (uint32_t i = 0; i < c->n; i++)
			if (phours_add(a, c->hours[i]) != 0)
				rc = -ENOMEM;
		a->base = c->pos;
		a->st.checkpoints++;
	} else {
		a->st.checkpoint_errors++;
		for (uint32_t i = 0; i < c->n; i++) {
			struct an_hour *h = hour_resident(a, c->hours[i]);
			if (h)
				h->dirty = true;
		}
	}
	ckpt_free(c);
	return rc;
}

static void hour_compact(struct an_hour *h)
{
	bool all = true;
	for (uint32_t i = 0; i < h->nseries; i++)
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (cell_compact(&h->series[i]->m[m]) != 0)
				all = false;
	h->compact = all;
}

/* Frees resident hours past the memory window that are on disk, and
 * serialises the minutes of hours older than the last two. */
static void evict(struct col_analytics *a)
{
	int64_t now_hour = (int64_t)(time(NULL) / 3600);
	int64_t oldest = now_hour - (int64_t)a->o.mem_hours;
	uint32_t j = 0;
	for (uint32_t i = 0; i < a->nhours; i++) {
		struct an_hour *h = a->hours[i];
		if (!h->compact && h->hour < now_hour - 1)
			hour_compact(h);
		if (h->hour < oldest && !h->dirty && hour_persisted(a, h->hour) && a->store)
			hour_free(h);
		else
			a->hours[j++] = h;
	}
	a->nhours = j;
}

int col_an_checkpoint(struct col_analytics *a)
{
	if (a->store == NULL)
		return -ENOTCONN;
	int err;
	struct an_ckpt *c = ckpt_make(a, &err);
	if (c == NULL)
		return err;
	ckpt_write(c);
	err = ckpt_finish(a, c);
	if (err == 0)
		evict(a);
	return err;
}

static void ckpt_work(uv_work_t *w)
{
	ckpt_write(container_of(w, struct an_ckpt, work));
}

static void stop_finish(struct col_analytics *a);

static void ckpt_after(uv_work_t *w, int status)
{
	struct an_ckpt *c = container_of(w, struct an_ckpt, work);
	struct col_analytics *a = c->a;
	if (status != 0)
		c->status = status;
	a->inflight = NULL;
	if (ckpt_finish(a, c) == 0)
		evict(a);
	if (a->stopping)
		stop_finish(a);
}

static bool any_dirty(const struct col_analytics *a)
{
	for (uint32_t i = 0; i < a->nhours; i++)
		if (a->hours[i]->dirty)
			return true;
	return false;
}

static void start_ckpt(struct col_analytics *a);

/* After each loop iteration's callbacks, while a checkpoint is due: the
 * moments between an ack and the next submit are the quiet ones. */
static void on_check(uv_check_t *ch)
{
	struct col_analytics *a = ch->data;
	if (a->quiescent && !a->quiescent(a->qarg))
		return;
	uv_check_stop(&a->check);
	start_ckpt(a);
}

static void on_timer(uv_timer_t *t)
{
	struct col_analytics *a = t->data;
	if (a->inflight || a->store == NULL || !any_dirty(a) || uv_is_active((uv_handle_t *)&a->check))
		return;
	if (a->quiescent && !a->quiescent(a->qarg)) {
		a->st.checkpoint_waits++;
		uv_check_start(&a->check, on_check);
		return;
	}
	start_ckpt(a);
}

static void start_ckpt(struct col_analytics *a)
{
	int err;
	struct an_ckpt *c = ckpt_make(a, &err);
	if (c == NULL) {
		a->st.checkpoint_errors++;
		return;
	}
	if (uv_queue_work(a->loop, &c->work, ckpt_work, ckpt_after) != 0) {
		ckpt_write(c);
		ckpt_finish(a, c);
		return;
	}
	a->inflight = c;
}

int col_an_start(struct col_analytics *a, uv_loop_t *loop, bool (*quiescent)(void *arg),
		 void *arg)
{
	a->loop = loop;
	a->quiescent = quiescent;
	a->qarg = arg;
	int rc = uv_timer_init(loop, &a->timer);
	if (rc != 0)
		return rc;
	a->timer.data = a;
	a->timer_on = true;
	rc = uv_check_init(loop, &a->check);
	if (rc != 0)
		return rc;
	a->check.data = a;
	a->check_on = true;
	/* Ticks are short so that a busy stream still finds a quiet moment. */
	uint64_t every = a->o.checkpoint_ms ? a->o.checkpoint_ms : 10000;
	return uv_timer_start(&a->timer, on_timer, every, every);
}

static void stop_finish(struct col_analytics *a)
{
	if (a->store != NULL && any_dirty(a) && (a->quiescent == NULL || a->quiescent(a->qarg)))
		col_an_checkpoint(a);
	a->stopping = false;
	void (*done)(void *) = a->stop_done;
	a->stop_done = NULL;
	if (done)
		done(a->stop_arg);
}

void col_an_stop(struct col_analytics *a, void (*done)(void *arg), void *arg)
{
	a->stop_done = done;
	a->stop_arg = arg;
	if (a->timer_on) {
		a->timer_on = false;
		uv_timer_stop(&a->timer);
		uv_close((uv_handle_t *)&a->timer, NULL);
	}
	if (a->check_on) {
		a->check_on = false;
		uv_check_stop(&a->check);
		uv_close((uv_handle_t *)&a->check, NULL);
	}
	if (a->inflight) {
		a->stopping = true;
		return;
	}
	stop_finish(a);
}

void col_an_get_stats(const struct col_analytics *a, struct col_an_stats *st)
{
	*st = a->st;
	st->hours_in_memory = a->nhours;
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
			 "# HELP ternd_analytics_unknown_parent_total spans whose parent was not seen recently\n"
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
			 "ternd_analytics_overflow_service_resources_total %llu\n",
			 (unsigned long long)st.spans, (unsigned long long)st.overflow_spans,
			 (unsigned long long)st.overflow_ops, (unsigned long long)st.unknown_parent,
			 (unsigned long long)st.series, (unsigned long long)st.hours_in_memory,
			 (unsigned long long)st.checkpoints, (unsigned long long)st.checkpoint_errors,
			 (unsigned long long)st.replayed_spans, (unsigned long long)st.future_spans,
			 (unsigned long long)st.checkpoint_waits,
			 (unsigned long long)st.overflow_service_spans);
	return n < 0 ? 0 : (size_t)n;
}

/* ---- queries ---- */

const char *col_an_kind_name(int kind)
{
	switch (kind) {
	case OTLP_SPAN_KIND_INTERNAL: return "internal";
	case OTLP_SPAN_KIND_SERVER: return "server";
	case OTLP_SPAN_KIND_CLIENT: return "client";
	case OTLP_SPAN_KIND_PRODUCER: return "producer";
	case OTLP_SPAN_KIND_CONSUMER: return "consumer";
	default: return "unspecified";
	}
}

int col_an_kind_parse(const char *s)
{
	static const char *const names[] = { "unspecified", "internal", "server",
					     "client",      "producer", "consumer" };
	for (int i = 0; i < 6; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

static bool str_is(const struct col_analytics *a, uint32_t id, const char *s)
{
	return s == NULL || strcmp(a->str.s[id], s) == 0;
}

static bool key_match(const struct col_analytics *a, const struct an_key *k,
		      const struct col_an_filter *f)
{
	if (f == NULL)
		return true;
	if (f->entry_only && !k->entry)
		return false;
	if (f->kind >= 0 && k->kind != f->kind)
		return false;
	if (f->kinds != 0 && (k->kind > 31 || !(f->kinds & (1u << k->kind))))
		return false;
	return str_is(a, k->svc, f->service) && str_is(a, k->op, f->operation) &&
	       str_is(a, k->ver, f->version);
}

struct qstate {
	struct col_analytics *a;
	const struct col_an_filter *f;
	unsigned group;
	int8_t *match;   /* per key: 0 unknown, 1 yes, 2 no */
	int32_t *rowof;  /* per key: row index or -1 */
	uint32_t nk;
	struct col_an_row *rows;
	struct an_cell *cells; /* beside rows */
	size_t n, cap;
};

static int q_row(struct qstate *q, uint32_t key)
{
	if (key >= q->nk) {
		/* Interned after the query started (an hour read from disk). */
		uint32_t nn = q->a->nkeys;
		int8_t *nm = realloc(q->match, nn);
		if (nm == NULL)
			return -2;
		q->match = nm;
		int32_t *nr = realloc(q->rowof, nn * sizeof(*nr));
		if (nr == NULL)
			return -2;
		q->rowof = nr;
		memset(nm + q->nk, 0, nn - q->nk);
		memset(nr + q->nk, 0xff, (nn - q->nk) * sizeof(*nr));
		q->nk = nn;
	}
	if (q->match[key] == 0)
		q->match[key] = key_match(q->a, &q->a->keys[key], q->f) ? 1 : 2;
	if (q->match[key] != 1)
		return -1;
	if (q->rowof[key] >= 0)
		return q->rowof[key];
	const struct an_key *k = &q->a->keys[key];
	const char *svc = q->group & COL_AN_G_SERVICE ? q->a->str.s[k->svc] : NULL;
	const char *op = q->group & COL_AN_G_OPERATION ? q->a->str.s[k->op] : NULL;
	const char *ver = q->group & COL_AN_G_VERSION ? q->a->str.s[k->ver] : NULL;
	int kind = q->group & COL_AN_G_KIND ? k->kind : -1;
	int entry = q->group & COL_AN_G_ENTRY ? k->entry : -1;
	for (size_t i = 0; i < q->n; i++) {
		struct col_an_row *r = &q->rows[i];
		if (r->service == svc && r->operation == op && r->version == ver && r->kind == kind &&
		    r->entry == entry)
			return q->rowof[key] = (int32_t)i;
	}
	if (q->n == q->cap) {
		size_t nc = q->cap ? q->cap * 2 : 16;
		struct col_an_row *nr = realloc(q->rows, nc * sizeof(*nr));
		if (nr == NULL)
			return -2;
		q->rows = nr;
		struct an_cell *ncl = realloc(q->cells, nc * sizeof(*ncl));
		if (ncl == NULL)
			return -2;
		q->cells = ncl;
		q->cap = nc;
	}
	q->rows[q->n] = (struct col_an_row){ svc, op, ver, kind, entry, 0, 0, NULL };
	memset(&q->cells[q->n], 0, sizeof(q->cells[q->n]));
	return q->rowof[key] = (int32_t)q->n++;
}

/* Hours [h0, h1] in turn: resident, or read (and freed after) if on disk. */
typedef int (*hour_fn)(void *arg, const struct an_hour *h);

static int for_hours(struct col_analytics *a, int64_t m0, int64_t m1, hour_fn fn, void *arg)
{
	int64_t h0 = m0 / MIN_PER_HOUR, h1 = (m1 - 1) / MIN_PER_HOUR;
	int rc = 0;
	/* Resident hours in range. */
	for (uint32_t i = 0; i < a->nhours && rc == 0; i++) {
		const struct an_hour *h = a->hours[i];
		if (h->hour >= h0 && h->hour <= h1)
			rc = fn(arg, h);
	}
	if (rc != 0 || a->store == NULL)
		return rc;
	/* Persisted hours not resident. */
	for (uint32_t i = 0; i < a->nphours && rc == 0; i++) {
		int64_t hr = a->phours[i];
		if (hr < h0 || hr > h1 || hour_resident(a, hr) != NULL)
			continue;
		int err;
		/* A window covering the hour needs only its roll-ups. */
		bool full = hr * MIN_PER_HOUR >= m0 && hr * MIN_PER_HOUR + MIN_PER_HOUR <= m1;
		struct an_hour *h = hour_read(a, hr, full ? P_ROLLUP : P_COMPACT, &err);
		if (h == NULL) {
			rc = err == -ENOMEM ? -ENOMEM : -EIO;
			break;
		}
		rc = fn(arg, h);
		hour_free(h);
	}
	return rc;
}

struct qrange {
	int64_t m0, m1; /* minutes [m0, m1) */
};

static void minute_range(uint64_t start_ns, uint64_t end_ns, struct qrange *r)
{
	r->m0 = (int64_t)((start_ns + NS_PER_MIN - 1) / NS_PER_MIN);
	r->m1 = (int64_t)((end_ns + NS_PER_MIN - 1) / NS_PER_MIN);
}

struct qctx {
	struct qstate *q;
	struct qrange r;
};

static int q_hour(void *arg, const struct an_hour *h)
{
	struct qctx *c = arg;
	struct qstate *q = c->q;
	int64_t first = h->hour * MIN_PER_HOUR;
	bool full = first >= c->r.m0 && first + MIN_PER_HOUR <= c->r.m1;
	int mlo = (int)(c->r.m0 > first ? c->r.m0 - first : 0);
	int mhi = (int)(c->r.m1 < first + MIN_PER_HOUR ? c->r.m1 - first : MIN_PER_HOUR);
	int rc;
	for (uint32_t i = 0; i < h->nseries; i++) {
		const struct an_series *s = h->series[i];
		int row = q_row(q, s->key);
		if (row == -2)
			return -ENOMEM;
		if (row < 0)
			continue;
		if (full) {
			if ((rc = cell_merge(&q->cells[row], &s->roll)) != 0)
				return rc == -ENOMEM ? rc : -EIO;
			continue;
		}
		for (int k = 0; k < MIN_PER_HOUR / BLK; k++) {
			int b0 = k * BLK, b1 = b0 + BLK;
			if (b1 <= mlo || b0 >= mhi)
				continue;
			if (b0 >= mlo && b1 <= mhi) {
				if ((rc = cell_merge(&q->cells[row], &s->blk[k])) != 0)
					return rc == -ENOMEM ? rc : -EIO;
				continue;
			}
			for (int m = b0 > mlo ? b0 : mlo; m < (b1 < mhi ? b1 : mhi); m++)
				if ((rc = cell_merge(&q->cells[row], &s->m[m])) != 0)
					return rc == -ENOMEM ? rc : -EIO;
		}
	}
	return 0;
}

int col_an_query(struct col_analytics *a, const struct col_an_filter *f, uint64_t start_ns,
		 uint64_t end_ns, unsigned group, struct col_an_result *out)
{
	struct qstate q = { .a = a, .f = f, .group = group, .nk = a->nkeys };
	memset(out, 0, sizeof(*out));
	int rc = -ENOMEM;
	q.match = calloc(q.nk ? q.nk : 1, 1);
	q.rowof = malloc((q.nk ? q.nk : 1) * sizeof(*q.rowof));
	if (q.match == NULL || q.rowof == NULL)
		goto out_free;
	memset(q.rowof, 0xff, q.nk * sizeof(*q.rowof));
	struct qctx c = { &q, { 0, 0 } };
	minute_range(start_ns, end_ns, &c.r);
	rc = 0;
	if (c.r.m1 > c.r.m0)
		rc = for_hours(a, c.r.m0, c.r.m1, q_hour, &c);
	if (rc != 0 && rc != -EIO)
		goto out_free;
	/* Keys matched but without a call in the window make no row. */
	size_t kept = 0;
	for (size_t i = 0; i < q.n; i++) {
		if (q.cells[i].calls == 0) {
			tern_sketch_free(q.cells[i].sk);
			continue;
		}
		q.rows[kept] = q.rows[i];
		q.rows[kept].calls = q.cells[i].calls;
		q.rows[kept].errors = q.cells[i].errors;
		q.rows[kept].sk = q.cells[i].sk;
		kept++;
	}
	out->rows = q.rows;
	out->n = kept;
	q.rows = NULL;
	q.n = 0;
out_free:
	for (size_t i = 0; i < q.n; i++)
		tern_sketch_free(q.cells[i].sk);
	free(q.rows);
	free(q.cells);
	free(q.match);
	free(q.rowof);
	return rc;
}

int col_an_regroup(const struct col_an_result *in, unsigned group, bool entry_only,
		   struct col_an_result *out)
{
	memset(out, 0, sizeof(*out));
	struct col_an_row *rows = calloc(in->n ? in->n : 1, sizeof(*rows));
	if (rows == NULL)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < in->n; i++) {
		const struct col_an_row *r = &in->rows[i];
		if (entry_only && r->entry != 1)
			continue;
		struct col_an_row k = {
			group & COL_AN_G_SERVICE ? r->service : NULL,
			group & COL_AN_G_OPERATION ? r->operation : NULL,
			group & COL_AN_G_VERSION ? r->version : NULL,
			group & COL_AN_G_KIND ? r->kind : -1,
			group & COL_AN_G_ENTRY ? r->entry : -1,
			0, 0, NULL,
		};
		size_t j;
		for (j = 0; j < n; j++)
			if (rows[j].service == k.service && rows[j].operation == k.operation &&
			    rows[j].version == k.version && rows[j].kind == k.kind &&
			    rows[j].entry == k.entry)
				break;
		if (j == n) {
			k.sk = tern_sketch_new(0, 0);
			if (k.sk == NULL)
				goto out_free;
			rows[n++] = k;
		}
		if (r->sk != NULL && tern_sketch_merge(rows[j].sk, r->sk) != 0)
			goto out_free;
		rows[j].calls += r->calls;
		rows[j].errors += r->errors;
	}
	out->rows = rows;
	out->n = n;
	return 0;
out_free:
	for (size_t j = 0; j < n; j++)
		tern_sketch_free(rows[j].sk);
	free(rows);
	return -ENOMEM;
}

void col_an_result_free(struct col_an_result *r)
{
	for (size_t i = 0; i < r->n; i++)
		tern_sketch_free(r->rows[i].sk);
	free(r->rows);
	memset(r, 0, sizeof(*r));
}

struct dctx {
	struct col_analytics *a;
	struct qrange r;
	struct col_an_edge *e;
	uint32_t *ids; /* parent, child per edge */
	size_t n, cap;
};

static int d_hour(void *arg, const struct an_hour *h)
{
	struct dctx *c = arg;
	int64_t first = h->hour * MIN_PER_HOUR;
	int mlo = (int)(c->r.m0 > first ? c->r.m0 - first : 0);
	int mhi = (int)(c->r.m1 < first + MIN_PER_HOUR ? c->r.m1 - first : MIN_PER_HOUR);
	for (uint32_t i = 0; i < h->nedges; i++) {
		const struct an_edges *e = &h->edges[i];
		uint64_t sum = 0;
		for (int m = mlo; m < mhi; m++)
			sum += e->m[m];
		if (sum == 0)
			continue;
		size_t j;
		for (j = 0; j < c->n; j++)
			if (c->ids[2 * j] == e->parent && c->ids[2 * j + 1] == e->child)
				break;
		if (j == c->n) {
			if (c->n == c->cap) {
				size_t nc = c->cap ? c->cap * 2 : 16;
				struct col_an_edge *ne = realloc(c->e, nc * sizeof(*ne));
				if (ne == NULL)
					return -ENOMEM;
				c->e = ne;
				uint32_t *ni = realloc(c->ids, nc * 2 * sizeof(*ni));
				if (ni == NULL)
					return -ENOMEM;
				c->ids = ni;
				c->cap = nc;
			}
			c->ids[2 * j] = e->parent;
			c->ids[2 * j + 1] = e->child;
			c->e[j] = (struct col_an_edge){ c->a->str.s[e->parent], c->a->str.s[e->child], 0 };
			c->n++;
		}
		c->e[j].calls += sum;
	}
	return 0;
}

int col_an_deps(struct col_analytics *a, uint64_t start_ns, uint64_t end_ns,
		struct col_an_edge **edges, size_t *n)
{
	struct dctx c = { .a = a };
	minute_range(start_ns, end_ns, &c.r);
	int rc = 0;
	if (c.r.m1 > c.r.m0)
		rc = for_hours(a, c.r.m0, c.r.m1, d_hour, &c);
	free(c.ids);
	if (rc != 0 && rc != -EIO) {
		free(c.e);
		return rc;
	}
	*edges = c.e;
	*n = c.n;
	return rc;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

int col_an_services(struct col_analytics *a, uint64_t start_ns, uint64_t end_ns,
		    const char ***out, size_t *n)
{
	struct col_an_result r;
	int rc = col_an_query(a, NULL, start_ns, end_ns, COL_AN_G_SERVICE, &r);
	if (rc != 0 && rc != -EIO)
		return rc;
	const char **v = malloc((r.n ? r.n : 1) * sizeof(*v));
	if (v == NULL) {
		col_an_result_free(&r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r.n; i++)
		v[i] = r.rows[i].service;
	qsort(v, r.n, sizeof(*v), cmp_str);
	*out = v;
	*n = r.n;
	col_an_result_free(&r);
	return 0;
}

int col_an_parse_blob(const uint8_t *p, size_t n)
{
	struct col_analytics *a = col_an_new(NULL);
	if (a == NULL)
		return -ENOMEM;
	/* The hour the blob claims (after magic and position), so only the
	 * content is judged. */
	struct rd r = { p, n, 20, false };
	int64_t hour = (int64_t)rd_u64(&r);
	int res[3] = { -EINVAL, -EINVAL, -EINVAL };
	for (int mode = P_LIVE; mode <= P_ROLLUP && !r.bad; mode++) {
		struct an_hour *h = hour_parse(a, p, n, hour, (enum parse_mode)mode, &res[mode]);
		hour_free(h);
	}
	col_an_free(a);
	/* Each lazier mode checks a subset of what the one before checks
	 * (ROLLUP skips minute and block sketches, COMPACT minute sketches):
	 * what a stricter mode accepts, a lazier one must accept. */
	if ((res[P_LIVE] == 0 && res[P_COMPACT] != 0) ||
	    (res[P_COMPACT] == 0 && res[P_ROLLUP] != 0))
		abort();
	return res[P_LIVE];
}
