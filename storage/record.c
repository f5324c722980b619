/*
 * record.c: tern's record encoding of a batch, and the record framing.
 *
 * Encoding (all integers unsigned LEB128 varints unless said otherwise;
 * "bytes" is a varint length then the bytes; ids are raw):
 *
 *   batch    := n_resource resource*
 *   resource := attrs bytes(schema_url) n_scope scope*
 *   scope    := bytes(name) bytes(version) attrs bytes(schema_url) n_span span*
 *   span     := id16 id8 u8(has_parent) [id8 parent] bytes(trace_state)
 *               flags bytes(name) kind u64le(start) zigzag(end - start)
 *               attrs n_event dropped event* n_link dropped link*
 *               status_code bytes(status_message)
 *   event    := zigzag(time - span start) bytes(name) attrs
 *   link     := id16 id8 bytes(trace_state) attrs flags
 *   attrs    := n dropped kv*
 *   kv       := bytes(key) any
 *   any      := u8 type, then STRING/BYTES: bytes | BOOL: u8 | INT: zigzag |
 *               DOUBLE: u64le bits | ARRAY: n any* | KVLIST: n kv* | EMPTY: -
 *
 * The decoder trusts nothing: every length is checked against what is
 * left, every count is bounded by the bytes left (each element takes at
 * least one byte), and nesting is limited.
 */
#include "record.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#define MAX_DEPTH 32

/* ---- writing ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	bool oom;
};

static bool wb_reserve(struct wbuf *w, size_t n)
{
	if (w->oom)
		return false;
	if (w->len + n <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 4096;
	while (cap < w->len + n)
		cap *= 2;
	uint8_t *p = realloc(w->p, cap);
	if (p == NULL) {
		w->oom = true;
		return false;
	}
	w->p = p;
	w->cap = cap;
	return true;
}

static void wb_raw(struct wbuf *w, const void *p, size_t n)
{
	if (n == 0 || !wb_reserve(w, n))
		return;
	memcpy(w->p + w->len, p, n);
	w->len += n;
}

static void wb_u8(struct wbuf *w, uint8_t v)
{
	wb_raw(w, &v, 1);
}

static void wb_var(struct wbuf *w, uint64_t v)
{
	if (!wb_reserve(w, 10))
		return;
	while (v >= 0x80) {
		w->p[w->len++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	w->p[w->len++] = (uint8_t)v;
}

static void wb_zz(struct wbuf *w, int64_t v)
{
	wb_var(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void wb_u64(struct wbuf *w, uint64_t v)
{
	uint8_t b[8];
	store__put64(b, v);
	wb_raw(w, b, 8);
}

static void wb_bytes(struct wbuf *w, struct otlp_bytes b)
{
	wb_var(w, b.len);
	wb_raw(w, b.ptr, b.len);
}

static void wb_kv(struct wbuf *w, const struct otlp_kv *kv, int depth);

static void wb_any(struct wbuf *w, const struct otlp_any *a, int depth)
{
	if (depth > MAX_DEPTH) {
		/* Deeper than we can read back: store it as empty rather
		 * than write a record we would refuse. The codec's limit
		 * (16) keeps real input far from this. */
		wb_u8(w, OTLP_VALUE_EMPTY);
		return;
	}
	wb_u8(w, (uint8_t)a->type);
	switch (a->type) {
	case OTLP_VALUE_STRING:
	case OTLP_VALUE_BYTES:
		wb_bytes(w, a->u.str);
		break;
	case OTLP_VALUE_BOOL:
		wb_u8(w, a->u.b ? 1 : 0);
		break;
	case OTLP_VALUE_INT:
		wb_zz(w, a->u.i);
		break;
	case OTLP_VALUE_DOUBLE: {
		uint64_t bits;
		memcpy(&bits, &a->u.d, 8);
		wb_u64(w, bits);
		break;
	}
	case OTLP_VALUE_ARRAY: {
		uint32_t n = 0;
		for (const struct otlp_any_item *it = a->u.array.head; it; it = it->next)
			n++;
		wb_var(w, n);
		for (const struct otlp_any_item *it = a->u.array.head; it; it = it->next)
			wb_any(w, &it->value, depth + 1);
		break;
	}
	case OTLP_VALUE_KVLIST: {
		uint32_t n = 0;
		for (const struct otlp_kv *kv = a->u.kvlist.head; kv; kv = kv->next)
			n++;
		wb_var(w, n);
		for (const struct otlp_kv *kv = a->u.kvlist.head; kv; kv = kv->next)
			wb_kv(w, kv, depth + 1);
		break;
	}
	default:
		break;
	}
}

static void wb_kv(struct wbuf *w, const struct otlp_kv *kv, int depth)
{
	wb_bytes(w, kv->key);
	wb_any(w, &kv->value, depth);
}

static void wb_attrs(struct wbuf *w, const struct otlp_attrs *a)
{
	uint32_t n = 0;
	for (const struct otlp_kv *kv = a->head; kv; kv = kv->next)
		n++;
	wb_var(w, n);
	wb_var(w, a->dropped);
	for (const struct otlp_kv *kv = a->head; kv; kv = kv->next)
		wb_kv(w, kv, 0);
}

static void wb_span(struct wbuf *w, const struct otlp_span *s)
{
	wb_raw(w, s->trace_id, 16);
	wb_raw(w, s->span_id, 8);
	wb_u8(w, s->has_parent ? 1 : 0);
	if (s->has_parent)
		wb_raw(w, s->parent_span_id, 8);
	wb_bytes(w, s->trace_state);
	wb_var(w, s->flags);
	wb_bytes(w, s->name);
	wb_var(w, (uint32_t)s->kind);
	wb_u64(w, s->start_time_unix_nano);
	wb_zz(w, (int64_t)(s->end_time_unix_nano - s->start_time_unix_nano));
	wb_attrs(w, &s->attrs);
	uint32_t n = 0;
	for (const struct otlp_event *e = s->events.head; e; e = e->next)
		n++;
	wb_var(w, n);
	wb_var(w, s->events.dropped);
	for (const struct otlp_event *e = s->events.head; e; e = e->next) {
		wb_zz(w, (int64_t)(e->time_unix_nano - s->start_time_unix_nano));
		wb_bytes(w, e->name);
		wb_attrs(w, &e->attrs);
	}
	n = 0;
	for (const struct otlp_link *l = s->links.head; l; l = l->next)
		n++;
	wb_var(w, n);
	wb_var(w, s->links.dropped);
	for (const struct otlp_link *l = s->links.head; l; l = l->next) {
		wb_raw(w, l->trace_id, 16);
		wb_raw(w, l->span_id, 8);
		wb_bytes(w, l->trace_state);
		wb_attrs(w, &l->attrs);
		wb_var(w, l->flags);
	}
	wb_var(w, (uint32_t)s->status.code);
	wb_bytes(w, s->status.message);
}

static void wb_batch(struct wbuf *w, const struct otlp_batch *b)
{
	uint32_t n = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next)
		n++;
	wb_var(w, n);
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		wb_attrs(w, &rs->resource_attrs);
		wb_bytes(w, rs->schema_url);
		uint32_t ns = 0;
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			ns++;
		wb_var(w, ns);
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			wb_bytes(w, ss->scope_name);
			wb_bytes(w, ss->scope_version);
			wb_attrs(w, &ss->scope_attrs);
			wb_bytes(w, ss->schema_url);
			uint32_t nsp = 0;
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next)
				nsp++;
			wb_var(w, nsp);
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next)
				wb_span(w, sp);
		}
	}
}

int store__rec_encode_raw(const struct otlp_batch *b, uint8_t **out, size_t *out_len)
{
	struct wbuf w = { 0 };
	wb_batch(&w, b);
	if (w.oom || w.p == NULL) {
		free(w.p);
		return -ENOMEM;
	}
	*out = w.p;
	*out_len = w.len;
	return 0;
}

static uint32_t count_spans(const struct otlp_batch *b)
{
	uint64_t n = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next)
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next)
				n++;
	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static uint32_t rec_crc(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, hdr, 28);
	/* zlib's crc32 takes uInt lengths: feed large payloads in pieces. */
	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, payload, n);
		payload += n;
		len -= n;
	}
	return (uint32_t)c;
}

int store__rec_build(const struct otlp_batch *b, int level, uint64_t time_ns,
		     uint8_t **out, size_t *out_len)
{
	return store__rec_build_ctx(b, level, time_ns, NULL, out, out_len);
}

int store__rec_build_ctx(const struct otlp_batch *b, int level, uint64_t time_ns, void *cctx,
			 uint8_t **out, size_t *out_len)
{
	uint8_t *raw;
	size_t raw_len;
	int rc = store__rec_encode_raw(b, &raw, &raw_len);
	if (rc < 0)
		return rc;
	if (raw_len > STORE__REC_MAX_RAW) {
		free(raw);
		return -EMSGSIZE;
	}
	size_t bound = level > 0 ? ZSTD_compressBound(raw_len) : raw_len;
	uint8_t *rec = malloc(STORE__REC_HDR + bound);
	if (rec == NULL) {
		free(raw);
		return -ENOMEM;
	}
	size_t stored = raw_len;
	uint32_t flags = 0;
	if (level > 0) {
		size_t z = cctx ? ZSTD_compressCCtx(cctx, rec + STORE__REC_HDR, bound, raw, raw_len,
						    level)
				: ZSTD_compress(rec + STORE__REC_HDR, bound, raw, raw_len, level);
		if (ZSTD_isError(z)) {
			free(raw);
			free(rec);
			return -ENOMEM;
		}
		stored = z;
		flags = STORE__REC_ZSTD;
	} else {
		memcpy(rec + STORE__REC_HDR, raw, raw_len);
	}
	free(raw);
	store__put32(rec, STORE__REC_MAGIC);
	store__put32(rec + 4, (uint32_t)stored);
	store__put32(rec + 8, (uint32_t)raw_len);
	store__put32(rec + 12, count_spans(b));
	store__put64(rec + 16, time_ns);
	store__put32(rec + 24, flags);
	store__put32(rec + 28, rec_crc(rec, rec + STORE__REC_HDR, stored));
	*out = rec;
	*out_len = STORE__REC_HDR + stored;
	return 0;
}

void store__seg_hdr_write(uint8_t out[32], uint64_t seg_id, uint64_t created_ns)
{
	memcpy(out, "TERNSEG1", 8);
	store__put32(out + 8, STORE__SEG_VERSION);
	store__put32(out + 12, 0);
	store__put64(out + 16, seg_id);
	store__put64(out + 24, created_ns);
}

int store__seg_hdr_parse(const uint8_t in[32], uint64_t *seg_id)
{
	if (memcmp(in, "TERNSEG1", 8) != 0 || store__get32(in + 8) != STORE__SEG_VERSION)
		return -EBADMSG;
	*seg_id = store__get64(in + 16);
	return 0;
}

int store__rec_hdr_parse(const uint8_t in[32], struct store__rec_hdr *h)
{
	if (store__get32(in) != STORE__REC_MAGIC)
		return -EBADMSG;
	h->stored_len = store__get32(in + 4);
	h->raw_len = store__get32(in + 8);
	h->n_spans = store__get32(in + 12);
	h->time_ns = store__get64(in + 16);
	h->flags = store__get32(in + 24);
	h->crc = store__get32(in + 28);
	if (h->stored_len > STORE__REC_MAX_STORED || h->raw_len > STORE__REC_MAX_RAW ||
	    (h->flags & ~STORE__REC_ZSTD) != 0)
		return -EBADMSG;
	if (!(h->flags & STORE__REC_ZSTD) && h->stored_len != h->raw_len)
		return -EBADMSG;
	return 0;
}

/* ---- reading ---- */

struct rbuf {
	const uint8_t *p, *end;
	struct otlp_batch *b;
	int err;
};

static bool rb_fail(struct rbuf *r, int err)
{
	if (r->err == 0)
		r->err = err;
	return false;
}

static bool rb_var(struct rbuf *r, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return rb_fail(r, -EBADMSG);
		uint8_t c = *r->p++;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return true;
		}
	}
	return rb_fail(r, -EBADMSG);
}

static bool rb_u32(struct rbuf *r, uint32_t *v)
{
	uint64_t x;
	if (!rb_var(r, &x))
		return false;
	if (x > UINT32_MAX)
		return rb_fail(r, -EBADMSG);
	*v = (uint32_t)x;
	return true;
}

/* A count of elements that each take at least one byte. */
static bool rb_count(struct rbuf *r, uint32_t *n)
{
	if (!rb_u32(r, n))
		return false;
	if (*n > (size_t)(r->end - r->p))
		return rb_fail(r, -EBADMSG);
	return true;
}

static bool rb_zz(struct rbuf *r, int64_t *v)
{
	uint64_t x;
	if (!rb_var(r, &x))
		return false;
	*v = (int64_t)(x >> 1) ^ -(int64_t)(x & 1);
	return true;
}

static bool rb_raw(struct rbuf *r, void *out, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return rb_fail(r, -EBADMSG);
	memcpy(out, r->p, n);
	r->p += n;
	return true;
}

static bool rb_u8(struct rbuf *r, uint8_t *v)
{
	return rb_raw(r, v, 1);
}

static bool rb_u64(struct rbuf *r, uint64_t *v)
{
	uint8_t b[8];
	if (!rb_raw(r, b, 8))
		return false;
	*v = store__get64(b);
	return true;
}

static bool rb_bytes(struct rbuf *r, struct otlp_bytes *out)
{
	uint64_t n;
	if (!rb_var(r, &n))
		return false;
	if (n > (uint64_t)(r->end - r->p))
		return rb_fail(r, -EBADMSG);
	out->ptr = n ? r->p : NULL;
	out->len = (size_t)n;
	r->p += n;
	return true;
}

static void *rb_alloc(struct rbuf *r, size_t n)
{
	void *p = otlp_batch_alloc(r->b, n);
	if (p == NULL)
		rb_fail(r, -ENOMEM);
	return p;
}

static bool rb_kv(struct rbuf *r, struct otlp_kv *kv, int depth);

static bool rb_any(struct rbuf *r, struct otlp_any *a, int depth)
{
	uint8_t t;
	if (depth > MAX_DEPTH)
		return rb_fail(r, -EBADMSG);
	if (!rb_u8(r, &t))
		return false;
	a->type = (enum otlp_value_type)t;
	switch (t) {
	case OTLP_VALUE_EMPTY:
		return true;
	case OTLP_VALUE_STRING:
	case OTLP_VALUE_BYTES:
		return rb_bytes(r, &a->u.str);
	case OTLP_VALUE_BOOL: {
		uint8_t v;
		if (!rb_u8(r, &v) || v > 1)
			return rb_fail(r, -EBADMSG);
		a->u.b = v != 0;
		return true;
	}
	case OTLP_VALUE_INT:
		return rb_zz(r, &a->u.i);
	case OTLP_VALUE_DOUBLE: {
		uint64_t bits;
		if (!rb_u64(r, &bits))
			return false;
		memcpy(&a->u.d, &bits, 8);
		return true;
	}
	case OTLP_VALUE_ARRAY: {
		uint32_t n;
		if (!rb_count(r, &n))
			return false;
		struct otlp_any_item **tail = &a->u.array.head;
		a->u.array.n = n;
		for (uint32_t i = 0; i < n; i++) {
			struct otlp_any_item *it = rb_alloc(r, sizeof *it);
			if (it == NULL || !rb_any(r, &it->value, depth + 1))
				return false;
			*tail = it;
			tail = &it->next;
		}
		return true;
	}
	case OTLP_VALUE_KVLIST: {
		uint32_t n;
		if (!rb_count(r, &n))
			return false;
		struct otlp_kv **tail = &a->u.kvlist.head;
		a->u.kvlist.n = n;
		for (uint32_t i = 0; i < n; i++) {
			struct otlp_kv *kv = rb_alloc(r, sizeof *kv);
			if (kv == NULL || !rb_kv(r, kv, depth + 1))
				return false;
			*tail = kv;
			tail = &kv->next;
		}
		return true;
	}
	default:
		return rb_fail(r, -EBADMSG);
	}
}

static bool rb_kv(struct rbuf *r, struct otlp_kv *kv, int depth)
{
	return rb_bytes(r, &kv->key) && rb_any(r, &kv->value, depth);
}

static bool rb_attrs(struct rbuf *r, struct otlp_attrs *a)
{
	uint32_t n;
	if (!rb_count(r, &n) || !rb_u32(r, &a->dropped))
		return false;
	a->n = n;
	struct otlp_kv **tail = &a->head;
	for (uint32_t i = 0; i < n; i++) {
		struct otlp_kv *kv = rb_alloc(r, sizeof *kv);
		if (kv == NULL || !rb_kv(r, kv, 0))
			return false;
		*tail = kv;
		tail = &kv->next;
	}
	return true;
}

static bool rb_span(struct rbuf *r, struct otlp_span *s)
{
	uint8_t hp;
	uint32_t kind, code, n;
	int64_t d;
	if (!rb_raw(r, s->trace_id, 16) || !rb_raw(r, s->span_id, 8) || !rb_u8(r, &hp))
		return false;
	if (hp > 1)
		return rb_fail(r, -EBADMSG);
	s->has_parent = hp;
	if (hp && !rb_raw(r, s->parent_span_id, 8))
		return false;
	if (!rb_bytes(r, &s->trace_state) || !rb_u32(r, &s->flags) ||
	    !rb_bytes(r, &s->name) || !rb_u32(r, &kind) ||
	    !rb_u64(r, &s->start_time_unix_nano) || !rb_zz(r, &d))
		return false;
	s->kind = (enum otlp_span_kind)kind;
	s->end_time_unix_nano = s->start_time_unix_nano + (uint64_t)d;
	if (!rb_attrs(r, &s->attrs))
		return false;
	if (!rb_count(r, &n) || !rb_u32(r, &s->events.dropped))
		return false;
	s->events.n = n;
	struct otlp_event **etail = &s->events.head;
	for (uint32_t i = 0; i < n; i++) {
		struct otlp_event *e = rb_alloc(r, sizeof *e);
		if (e == NULL || !rb_zz(r, &d) || !rb_bytes(r, &e->name) || !rb_attrs(r, &e->attrs))
			return false;
		e->time_unix_nano = s->start_time_unix_nano + (uint64_t)d;
		*etail = e;
		etail = &e->next;
	}
	if (!rb_count(r, &n) || !rb_u32(r, &s->links.dropped))
		return false;
	s->links.n = n;
	struct otlp_link **ltail = &s->links.head;
	for (uint32_t i = 0; i < n; i++) {
		struct otlp_link *l = rb_alloc(r, sizeof *l);
		if (l == NULL || !rb_raw(r, l->trace_id, 16) || !rb_raw(r, l->span_id, 8) ||
		    !rb_bytes(r, &l->trace_state) || !rb_attrs(r, &l->attrs) ||
		    !rb_u32(r, &l->flags))
			return false;
		*ltail = l;
		ltail = &l->next;
	}
	if (!rb_u32(r, &code) || !rb_bytes(r, &s->status.message))
		return false;
	s->status.code = (enum otlp_status_code)code;
	return true;
}

/* ---- skipping a span without building it (trace-by-id reads) ---- */

static bool sk_n(struct rbuf *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return rb_fail(r, -EBADMSG);
	r->p += n;
	return true;
}

static bool sk_var(struct rbuf *r)
{
	uint64_t v;
	return rb_var(r, &v);
}

static bool sk_bytes(struct rbuf *r)
{
	struct otlp_bytes b;
	return rb_bytes(r, &b);
}

static bool sk_kv(struct rbuf *r, int depth);

static bool sk_any(struct rbuf *r, int depth)
{
	uint8_t t;
	uint32_t n;
	if (depth > MAX_DEPTH)
		return rb_fail(r, -EBADMSG);
	if (!rb_u8(r, &t))
		return false;
	switch (t) {
	case OTLP_VALUE_EMPTY:
		return true;
	case OTLP_VALUE_STRING:
	case OTLP_VALUE_BYTES:
		return sk_bytes(r);
	case OTLP_VALUE_BOOL: {
		uint8_t v;
		if (!rb_u8(r, &v) || v > 1)
			return rb_fail(r, -EBADMSG);
		return true;
	}
	case OTLP_VALUE_INT:
		return sk_var(r);
	case OTLP_VALUE_DOUBLE:
		return sk_n(r, 8);
	case OTLP_VALUE_ARRAY:
		if (!rb_count(r, &n))
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (!sk_any(r, depth + 1))
				return false;
		return true;
	case OTLP_VALUE_KVLIST:
		if (!rb_count(r, &n))
			return false;
		for (uint32_t i = 0; i < n; i++)
			if (!sk_kv(r, depth + 1))
				return false;
		return true;
	default:
		return rb_fail(r, -EBADMSG);
	}
}

static bool sk_kv(struct rbuf *r, int depth)
{
	return sk_bytes(r) && sk_any(r, depth);
}

static bool sk_attrs(struct rbuf *r)
{
	uint32_t n, dropped;
	if (!rb_count(r, &n) || !rb_u32(r, &dropped))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!sk_kv(r, 0))
			return false;
	return true;
}

/* Consumes one span as rb_span() would, checking the same things. */
static bool sk_span(struct rbuf *r)
{
	uint8_t hp;
	uint32_t n, u;
	if (!sk_n(r, 24) || !rb_u8(r, &hp))
		return false;
	if (hp > 1)
		return rb_fail(r, -EBADMSG);
	if ((hp && !sk_n(r, 8)) || !sk_bytes(r) || !rb_u32(r, &u) || !sk_bytes(r) ||
	    !rb_u32(r, &u) || !sk_n(r, 8) || !sk_var(r) || !sk_attrs(r))
		return false;
	if (!rb_count(r, &n) || !rb_u32(r, &u))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!sk_var(r) || !sk_bytes(r) || !sk_attrs(r))
			return false;
	if (!rb_count(r, &n) || !rb_u32(r, &u))
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!sk_n(r, 24) || !sk_bytes(r) || !sk_attrs(r) || !rb_u32(r, &u))
			return false;
	return rb_u32(r, &u) && sk_bytes(r);
}

static int decode_raw(const uint8_t *p, size_t len, struct otlp_batch *b,
		      const uint8_t *only_trace);

int store__rec_decode_raw(const uint8_t *p, size_t len, struct otlp_batch *b)
{
	return decode_raw(p, len, b, NULL);
}

static int decode_raw(const uint8_t *p, size_t len, struct otlp_batch *b,
		      const uint8_t *only_trace)
{
	struct rbuf r = { p, p + len, b, 0 };
	uint32_t nrs;
	if (!rb_count(&r, &nrs))
		return r.err;
	struct otlp_resource_spans **rtail = &b->resource_spans;
	while (*rtail)
		rtail = &(*rtail)->next;
	for (uint32_t i = 0; i < nrs; i++) {
		struct otlp_resource_spans *rs = rb_alloc(&r, sizeof *rs);
		uint32_t nss;
		if (rs == NULL || !rb_attrs(&r, &rs->resource_attrs) ||
		    !rb_bytes(&r, &rs->schema_url) || !rb_count(&r, &nss))
			return r.err;
		rs->n_scope_spans = nss;
		struct otlp_scope_spans **stail = &rs->scope_spans;
		for (uint32_t j = 0; j < nss; j++) {
			struct otlp_scope_spans *ss = rb_alloc(&r, sizeof *ss);
			uint32_t nsp;
			if (ss == NULL || !rb_bytes(&r, &ss->scope_name) ||
			    !rb_bytes(&r, &ss->scope_version) || !rb_attrs(&r, &ss->scope_attrs) ||
			    !rb_bytes(&r, &ss->schema_url) || !rb_count(&r, &nsp))
				return r.err;
			ss->n_spans = 0;
			struct otlp_span **ptail = &ss->spans;
			for (uint32_t k = 0; k < nsp; k++) {
				if (only_trace && (size_t)(r.end - r.p) >= 16 &&
				    memcmp(r.p, only_trace, 16) != 0) {
					if (!sk_span(&r))
						return r.err;
					continue;
				}
				struct otlp_span *sp = rb_alloc(&r, sizeof *sp);
				if (sp == NULL || !rb_span(&r, sp))
					return r.err;
				*ptail = sp;
				ptail = &sp->next;
				ss->n_spans++;
			}
			*stail = ss;
			stail = &ss->next;
		}
		/* Linked only once complete, so a failed decode leaves b with
		 * nothing half-built in its lists. */
		for (struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			b->n_spans += ss->n_spans;
		*rtail = rs;
		rtail = &rs->next;
		b->n_resource_spans++;
	}
	if (r.p != r.end)
		return -EBADMSG;
	return 0;
}

/* One decompression context per thread that reads records: a fresh one
 * per call costs an allocation larger than glibc's mmap threshold. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;
static bool dctx_key_ok;

static void dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void dctx_key_init(void)
{
	dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

static ZSTD_DCtx *thread_dctx(void)
{
	pthread_once(&dctx_once, dctx_key_init);
	if (!dctx_key_ok)
		return NULL;
	ZSTD_DCtx *d = pthread_getspecific(dctx_key);
	if (d == NULL && (d = ZSTD_createDCtx()) != NULL &&
	    pthread_setspecific(dctx_key, d) != 0) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

int store__rec_decode(const uint8_t hdr_bytes[32], const struct store__rec_hdr *h,
		      const uint8_t *payload, struct otlp_batch *b)
{
	return store__rec_decode_trace(hdr_bytes, h, payload, b, NULL);
}

int store__rec_decode_trace(const uint8_t hdr_bytes[32], const struct store__rec_hdr *h,
			    const uint8_t *payload, struct otlp_batch *b,
			    const uint8_t *only_trace)
{
	if (rec_crc(hdr_bytes, payload, h->stored_len) != h->crc)
		return -EBADMSG;
	if (h->flags & STORE__REC_ZSTD) {
		/* Refuse a frame that says it holds another size before
		 * allocating what the header claims. */
		unsigned long long fs = ZSTD_getFrameContentSize(payload, h->stored_len);
		if (fs != ZSTD_CONTENTSIZE_UNKNOWN && fs != h->raw_len)
			return -EBADMSG;
	}
	uint8_t *raw = malloc(h->raw_len ? h->raw_len : 1);
	if (raw == NULL)
		return -ENOMEM;
	if (h->flags & STORE__REC_ZSTD) {
		ZSTD_DCtx *d = thread_dctx();
		size_t z = d ? ZSTD_decompressDCtx(d, raw, h->raw_len, payload, h->stored_len)
			     : ZSTD_decompress(raw, h->raw_len, payload, h->stored_len);
		if (ZSTD_isError(z) || z != h->raw_len) {
			free(raw);
			return -EBADMSG;
		}
	} else {
		memcpy(raw, payload, h->raw_len);
	}
	int rc = otlp_batch_attach_sized(b, raw, h->raw_len, free);
	if (rc < 0) {
		free(raw);
		return rc;
	}
	return decode_raw(raw, h->raw_len, b, only_trace);
}
