/*
 * query.c: the queries analytics answers: rows of calls, errors and
 * merged sketches for a window (whole hours from their roll-ups, then
 * 10-minute blocks, then minutes), regrouping, service edges, service
 * names, and span kind names. Hours outside memory are read from their
 * blobs for the query and freed after it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics_int.h"


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
		if (hr < h0 || hr > h1 || an_hour_resident(a, hr) != NULL)
			continue;
		int err;
		/* A window covering the hour needs only its roll-ups. */
		bool full = hr * MIN_PER_HOUR >= m0 && hr * MIN_PER_HOUR + MIN_PER_HOUR <= m1;
		struct an_hour *h = an_hour_read(a, hr, full ? P_ROLLUP : P_COMPACT, &err);
		if (h == NULL) {
			rc = err == -ENOMEM ? -ENOMEM : -EIO;
			break;
		}
		rc = fn(arg, h);
		an_hour_free(h);
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
			if ((rc = an_cell_merge(&q->cells[row], &s->roll)) != 0)
				return rc == -ENOMEM ? rc : -EIO;
			continue;
		}
		for (int k = 0; k < MIN_PER_HOUR / BLK; k++) {
			int b0 = k * BLK, b1 = b0 + BLK;
			if (b1 <= mlo || b0 >= mhi)
				continue;
			if (b0 >= mlo && b1 <= mhi) {
				if ((rc = an_cell_merge(&q->cells[row], &s->blk[k])) != 0)
					return rc == -ENOMEM ? rc : -EIO;
				continue;
			}
			for (int m = b0 > mlo ? b0 : mlo; m < (b1 < mhi ? b1 : mhi); m++)
				if ((rc = an_cell_merge(&q->cells[row], &s->m[m])) != 0)
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
		uint64_t sum = 0, errs = 0;
		for (int m = mlo; m < mhi; m++)
			sum += e->m[m];
		for (int m = mlo; m < mhi && e->err != NULL; m++)
			errs += e->err[m];
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
			c->e[j] = (struct col_an_edge){ c->a->str.s[e->parent], c->a->str.s[e->child], 0, 0 };
			c->n++;
		}
		c->e[j].calls += sum;
		c->e[j].errors += errs;
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
