/*
 * fx.h: helpers for the storage tests: build batches by hand, make a
 * fresh data directory, compare batches through their OTLP encoding.
 */
#ifndef TERN_TESTS_STORE_FX_H
#define TERN_TESTS_STORE_FX_H

#include <dirent.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otlp.h"
#include "store.h"

static inline struct otlp_bytes fx_str(struct otlp_batch *b, const char *s)
{
	return otlp_batch_strdup(b, s, strlen(s));
}

static inline struct otlp_kv *fx_kv(struct otlp_batch *b, struct otlp_attrs *a, const char *key)
{
	struct otlp_kv *kv = otlp_batch_alloc(b, sizeof *kv);
	kv->key = fx_str(b, key);
	struct otlp_kv **t = &a->head;
	while (*t)
		t = &(*t)->next;
	*t = kv;
	a->n++;
	return kv;
}

static inline void fx_kv_str(struct otlp_batch *b, struct otlp_attrs *a, const char *k,
			     const char *v)
{
	struct otlp_kv *kv = fx_kv(b, a, k);
	kv->value.type = OTLP_VALUE_STRING;
	kv->value.u.str = fx_str(b, v);
}

static inline void fx_kv_int(struct otlp_batch *b, struct otlp_attrs *a, const char *k, int64_t v)
{
	struct otlp_kv *kv = fx_kv(b, a, k);
	kv->value.type = OTLP_VALUE_INT;
	kv->value.u.i = v;
}

static inline struct otlp_resource_spans *fx_rs(struct otlp_batch *b, const char *service)
{
	struct otlp_resource_spans *rs = otlp_batch_alloc(b, sizeof *rs);
	struct otlp_resource_spans **t = &b->resource_spans;
	while (*t)
		t = &(*t)->next;
	*t = rs;
	b->n_resource_spans++;
	if (service)
		fx_kv_str(b, &rs->resource_attrs, "service.name", service);
	return rs;
}

static inline struct otlp_scope_spans *fx_ss(struct otlp_batch *b, struct otlp_resource_spans *rs,
					     const char *name)
{
	struct otlp_scope_spans *ss = otlp_batch_alloc(b, sizeof *ss);
	struct otlp_scope_spans **t = &rs->scope_spans;
	while (*t)
		t = &(*t)->next;
	*t = ss;
	rs->n_scope_spans++;
	ss->scope_name = fx_str(b, name);
	return ss;
}

/* Trace id from a number (big endian in the last 8 bytes, tag in byte 0). */
static inline void fx_tid(uint8_t id[16], uint64_t n)
{
	memset(id, 0, 16);
	id[0] = 0x7e;
	for (int i = 0; i < 8; i++)
		id[15 - i] = (uint8_t)(n >> (8 * i));
}

static inline void fx_sid(uint8_t id[8], uint64_t n)
{
	for (int i = 0; i < 8; i++)
		id[7 - i] = (uint8_t)(n >> (8 * i));
	id[0] |= 0x80;
}

static inline struct otlp_span *fx_span(struct otlp_batch *b, struct otlp_scope_spans *ss,
					uint64_t trace, uint64_t span, const char *name,
					uint64_t start, uint64_t dur)
{
	struct otlp_span *sp = otlp_batch_alloc(b, sizeof *sp);
	struct otlp_span **t = &ss->spans;
	while (*t)
		t = &(*t)->next;
	*t = sp;
	ss->n_spans++;
	b->n_spans++;
	fx_tid(sp->trace_id, trace);
	fx_sid(sp->span_id, span);
	sp->name = fx_str(b, name);
	sp->kind = OTLP_SPAN_KIND_SERVER;
	sp->start_time_unix_nano = start;
	sp->end_time_unix_nano = start + dur;
	return sp;
}

/* A fresh empty directory under $TMPDIR (or /tmp). */
static inline void fx_tmpdir(char *out, size_t n, const char *tag)
{
	const char *t = getenv("TMPDIR");
	snprintf(out, n, "%s/tern-store-%s-XXXXXX", t && *t ? t : "/tmp", tag);
	if (mkdtemp(out) == NULL) {
		perror("mkdtemp");
		abort();
	}
}

static inline void fx_rmtree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char p[8192];
		snprintf(p, sizeof p, "%.4000s/%.255s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			fx_rmtree(p);
		else
			unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* Whether two batches encode to the same OTLP protobuf. */
static inline bool fx_same_otlp(const struct otlp_batch *a, const struct otlp_batch *b)
{
	uint8_t *pa = NULL, *pb = NULL;
	size_t la = 0, lb = 0;
	bool same = otlp_encode_proto(a, &pa, &la) == 0 && otlp_encode_proto(b, &pb, &lb) == 0 &&
		    la == lb && memcmp(pa, pb, la) == 0;
	free(pa);
	free(pb);
	return same;
}

static inline uint64_t fx_count_spans(const struct otlp_batch *b)
{
	uint64_t n = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next)
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next)
				n++;
	return n;
}

/*
 * A clock the test moves by hand (store_options.now_ns), so nothing waits
 * for time to pass: fx_clock_use(&o, &c, start) then fx_clock_add(&c, ns).
 */
struct fx_clock {
	_Atomic uint64_t ns;
};

static inline uint64_t fx_clock_now(void *arg)
{
	return atomic_load(&((struct fx_clock *)arg)->ns);
}

static inline void fx_clock_use(struct store_options *o, struct fx_clock *c, uint64_t start_ns)
{
	atomic_store(&c->ns, start_ns);
	o->now_ns = fx_clock_now;
	o->now_arg = c;
}

static inline void fx_clock_add(struct fx_clock *c, uint64_t ns)
{
	atomic_fetch_add(&c->ns, ns);
}

static inline int fx_open(const char *dir, struct store **s, struct store_recovery *rec)
{
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	return store_open(&o, s, rec);
}

#endif /* TERN_TESTS_STORE_FX_H */
