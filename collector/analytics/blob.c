/*
 * blob.c: the blob format of analytics: an hour blob (its strings, every
 * series with its minute sketches, counts, errors and roll-ups, the edges,
 * and the log position it covers) and the index (the persisted hours, the
 * checkpoint's base and warm-up positions, the spans waiting for a
 * parent). Written on the loop, read back as untrusted bytes (fuzz target
 * tests/fuzz/analytics_blob.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics_int.h"

#define INDEX_MAGIC 0x31584e49u  /* "INX1": base and hours, from older ternds */
#define INDEX2_MAGIC 0x32584e49u /* "INX2": + warm position, slots, waiting spans */
#define HOUR1_MAGIC 0x31484154u  /* "TAH1": edges without errors, from older ternds */
#define HOUR_MAGIC 0x32484154u   /* "TAH2": + each edge's failed calls */

/* ---- small growable buffer for blobs ---- */

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

void an_blob_key(char *out, size_t len, int64_t hour, uint8_t slot)
{
	/* Slot 0 keeps the name older ternds wrote. */
	if (slot == 0)
		snprintf(out, len, "an-h-%" PRId64, hour);
	else
		snprintf(out, len, "an-h-%" PRId64 ".%u", hour, slot);
}

/* Serialises h with pos. Returns 0 or -ENOMEM. */
/* A sketch as its length (u32) and serialised bytes. 0 or -ENOMEM. */
static int put_sketch(struct abuf *b, const struct tern_sketch *sk)
{
	uint8_t *sb;
	size_t sl;
	if (tern_sketch_serialize(sk, &sb, &sl) != 0)
		return -ENOMEM;
	ab_u32(b, (uint32_t)sl);
	ab_put(b, sb, sl);
	free(sb);
	return 0;
}

int an_hour_serialize(struct col_analytics *a, const struct an_hour *h, struct store_pos pos,
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
		for (int m = 0; m < MIN_PER_HOUR && rc == 0; m++) {
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
			rc = put_sketch(b, c->sk);
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
			rc = put_sketch(b, c->sk);
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
		uint64_t emask = 0;
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (e->err != NULL && e->err[m])
				emask |= 1ull << m;
		ab_u64(b, emask);
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (emask & (1ull << m))
				ab_u64(b, e->err[m]);
	}
	free(local);
	free(order);
	if (rc == 0 && b->oom)
		rc = -ENOMEM;
	return rc;
}

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
struct an_hour *an_hour_parse(struct col_analytics *a, const uint8_t *p, size_t n,
				  int64_t want_hour, enum parse_mode mode, int *err)
{
	struct rd r = { p, n, 0, false };
	uint32_t *ids = NULL;
	struct an_hour *h = NULL;
	int rc;
	*err = -EINVAL;
	uint32_t magic = rd_u32(&r);
	if (magic != HOUR_MAGIC && magic != HOUR1_MAGIC)
		return NULL;
	bool v1 = magic == HOUR1_MAGIC; /* its edges have no errors */
	struct store_pos pos;
	pos.seg = rd_u64(&r);
	pos.off = rd_u64(&r);
	int64_t hour = (int64_t)rd_u64(&r);
	uint32_t nstr = rd_u32(&r);
	if (r.bad || hour != want_hour || nstr > MAX_BLOB_STRINGS || nstr > (n - r.off) / 4)
		return NULL;
	h = an_hour_new(hour);
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
		int64_t id = an_str_find(&a->str, r.p + r.off, len, true);
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
		if (an_svc_admit(a, k.svc) != 0) {
			*err = -ENOMEM;
			goto out_bad;
		}
		if (an_svc_ops_reserve(a, k.svc) != 0 ||
		    an_op_resolve(a, k.svc, a->str.s[k.op], a->str.len[k.op], true) < 0) {
			*err = -ENOMEM;
			goto out_bad;
		}
		int64_t kid = an_key_intern(a, &k);
		struct an_series *s = kid < 0 ? NULL : an_hour_series(h, (uint32_t)kid, true);
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
		uint64_t calls[MIN_PER_HOUR] = { 0 }, errs[MIN_PER_HOUR] = { 0 };
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (mask & (1ull << m))
				calls[m] = rd_u64(&r);
		uint64_t emask = v1 ? 0 : rd_u64(&r);
		if (r.bad || (emask & ~mask) != 0)
			goto out_bad;
		for (int m = 0; m < MIN_PER_HOUR; m++) {
			if (!(emask & (1ull << m)))
				continue;
			errs[m] = rd_u64(&r);
			if (errs[m] == 0 || errs[m] > calls[m])
				goto out_bad;
		}
		if (r.bad)
			goto out_bad;
		struct an_edges *e = an_hour_edge(h, ids[pi], ids[ci]);
		if (e == NULL) {
			*err = -ENOMEM;
			goto out_bad;
		}
		/* An edge listed twice adds up, but must not wrap. */
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (e->m[m] + calls[m] < e->m[m])
				goto out_bad;
		for (int m = 0; m < MIN_PER_HOUR; m++) {
			if (an_edge_add(e, m, calls[m], errs[m]) != 0) {
				*err = -ENOMEM;
				goto out_bad;
			}
		}
	}
	if (r.bad || r.off != n)
		goto out_bad;
	free(ids);
	*err = 0;
	return h;

out_bad:
	free(ids);
	an_hour_free(h);
	return NULL;
}


/* ---- the index ---- */

/* A string of the index's table: its local id, added when new. */
static uint32_t idx_str(uint32_t id, uint32_t *local, uint32_t *order,
			uint32_t *nloc)
{
	if (local[id] == UINT32_MAX) {
		local[id] = *nloc;
		order[(*nloc)++] = id;
	}
	return local[id];
}

int an_index_serialize(struct col_analytics *a, struct store_pos base, struct store_pos warm,
		       const int64_t *extra, const uint8_t *xslot, uint32_t nextra,
		       struct abuf *b)
{
	/* The index names every persisted hour plus the ones being written;
	 * the oldest are dropped past MAX_INDEX_HOURS. */
	size_t cap = (size_t)a->nphours + nextra + 1;
	int64_t *all = malloc(cap * sizeof(*all));
	uint8_t *slot = malloc(cap);
	uint32_t *local = malloc((size_t)(a->str.n ? a->str.n : 1) * sizeof(*local));
	uint32_t *order = malloc((size_t)(a->str.n ? a->str.n : 1) * sizeof(*order));
	int rc = -ENOMEM;
	if (all == NULL || slot == NULL || local == NULL || order == NULL)
		goto out_free;
	uint32_t n = 0;
	for (uint32_t i = 0; i < a->nphours; i++) {
		all[n] = a->phours[i];
		slot[n++] = a->pslot[i];
	}
	for (uint32_t i = 0; i < nextra; i++) {
		uint32_t j;
		for (j = 0; j < a->nphours; j++)
			if (a->phours[j] == extra[i])
				break;
		if (j < a->nphours) {
			slot[j] = xslot[i];
		} else {
			all[n] = extra[i];
			slot[n++] = xslot[i];
		}
	}
	uint32_t skip = n > MAX_INDEX_HOURS ? n - MAX_INDEX_HOURS : 0;
	ab_u32(b, INDEX2_MAGIC);
	ab_u64(b, base.seg);
	ab_u64(b, base.off);
	ab_u64(b, warm.seg);
	ab_u64(b, warm.off);
	/* not sorted when extra is: the reader sorts */
	ab_u32(b, n - skip);
	for (uint32_t i = skip; i < n; i++) {
		ab_u64(b, (uint64_t)all[i]);
		ab_u8(b, slot[i]);
	}
	/* The waiting spans, oldest first, with their strings. */
	memset(local, 0xff, (size_t)a->str.n * sizeof(*local));
	uint32_t nloc = 0;
	for (uint32_t i = a->pend.head; i; i = a->pend.e[i - 1].next) {
		const struct an_pend *p = &a->pend.e[i - 1];
		idx_str(p->svc, local, order, &nloc);
		idx_str(p->ver, local, order, &nloc);
		idx_str(p->op, local, order, &nloc);
	}
	ab_u32(b, nloc);
	for (uint32_t i = 0; i < nloc; i++) {
		ab_u32(b, a->str.len[order[i]]);
		ab_put(b, a->str.s[order[i]], a->str.len[order[i]]);
	}
	ab_u32(b, a->pend.n);
	for (uint32_t i = a->pend.head; i; i = a->pend.e[i - 1].next) {
		const struct an_pend *p = &a->pend.e[i - 1];
		ab_put(b, p->trace, 16);
		ab_put(b, p->span, 8);
		ab_put(b, p->parent, 8);
		ab_u64(b, p->start_ns);
		ab_u64(b, p->dur_ns);
		ab_u64(b, p->chash);
		ab_u64(b, p->arrive_ms);
		ab_u32(b, local[p->svc]);
		ab_u32(b, local[p->ver]);
		ab_u32(b, local[p->op]);
		ab_u8(b, p->kind);
		ab_u8(b, p->err);
	}
	rc = b->oom ? -ENOMEM : 0;
out_free:
	free(all);
	free(slot);
	free(local);
	free(order);
	return rc;
}

#define PEND_BYTES (16 + 8 + 8 + 4 * 8 + 3 * 4 + 2)

int an_index_parse(struct col_analytics *a, const uint8_t *p, size_t len)
{
	struct rd r = { p, len, 0, false };
	uint32_t magic = rd_u32(&r);
	if (magic != INDEX_MAGIC && magic != INDEX2_MAGIC)
		return -EINVAL;
	bool v2 = magic == INDEX2_MAGIC;
	struct store_pos base, warm;
	base.seg = rd_u64(&r);
	base.off = rd_u64(&r);
	warm = base;
	if (v2) {
		warm.seg = rd_u64(&r);
		warm.off = rd_u64(&r);
	}
	uint32_t n = rd_u32(&r);
	size_t per = v2 ? 9 : 8;
	if (r.bad || n > MAX_INDEX_HOURS || (size_t)n * per > len - r.off ||
	    (!v2 && (size_t)n * per != len - r.off) || store_pos_cmp(warm, base) > 0)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		int64_t hour = (int64_t)rd_u64(&r);
		uint8_t slot = v2 ? rd_u8(&r) : 0;
		if (slot > 1)
			return -EINVAL;
		if (an_phours_add(a, hour, slot) != 0)
			return -ENOMEM;
	}
	a->base = base;
	a->warm = warm;
	if (!v2)
		return 0;
	uint32_t nstr = rd_u32(&r);
	if (r.bad || nstr > MAX_BLOB_STRINGS || nstr > (len - r.off) / 4)
		return -EINVAL;
	uint32_t *ids = malloc((size_t)(nstr ? nstr : 1) * sizeof(*ids));
	if (ids == NULL)
		return -ENOMEM;
	int rc = -EINVAL;
	for (uint32_t i = 0; i < nstr; i++) {
		uint32_t sl = rd_u32(&r);
		if (sl > MAX_STRING_LEN || !rd_need(&r, sl))
			goto out_free;
		int64_t id = an_str_find(&a->str, r.p + r.off, sl, true);
		if (id < 0) {
			rc = -ENOMEM;
			goto out_free;
		}
		ids[i] = (uint32_t)id;
		r.off += sl;
	}
	uint32_t np = rd_u32(&r);
	if (r.bad || (size_t)np * PEND_BYTES != len - r.off)
		goto out_free;
	for (uint32_t i = 0; i < np; i++) {
		struct an_pend e = { 0 };
		memcpy(e.trace, r.p + r.off, 16);
		memcpy(e.span, r.p + r.off + 16, 8);
		memcpy(e.parent, r.p + r.off + 24, 8);
		r.off += 32;
		e.start_ns = rd_u64(&r);
		e.dur_ns = rd_u64(&r);
		e.chash = rd_u64(&r);
		e.arrive_ms = rd_u64(&r);
		uint32_t si = rd_u32(&r), vi = rd_u32(&r), oi = rd_u32(&r);
		e.kind = rd_u8(&r);
		e.err = rd_u8(&r);
		if (r.bad || si >= nstr || vi >= nstr || oi >= nstr || e.err > 1)
			goto out_free;
		e.svc = ids[si];
		e.ver = ids[vi];
		if (an_svc_admit(a, e.svc) != 0 || an_svc_ops_reserve(a, e.svc) != 0) {
			rc = -ENOMEM;
			goto out_free;
		}
		int64_t op = an_op_resolve(a, e.svc, a->str.s[ids[oi]], a->str.len[ids[oi]], true);
		if (op < 0) {
			rc = -ENOMEM;
			goto out_free;
		}
		e.op = (uint32_t)op;
		if (an_pend_restore(a, &e) != 0) {
			rc = -ENOMEM;
			goto out_free;
		}
	}
	rc = r.bad || r.off != len ? -EINVAL : 0;
out_free:
	free(ids);
	return rc;
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
		struct an_hour *h = an_hour_parse(a, p, n, hour, (enum parse_mode)mode, &res[mode]);
		an_hour_free(h);
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
