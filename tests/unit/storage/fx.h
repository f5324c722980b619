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

/*
 * Appends a span made from numbers (fx_tid/fx_sid) to bd's current scope:
 * parent 0 means a root span. Returns 0 or the builder's sticky error.
 */
static inline int fx_span(struct otlp_builder *bd, uint64_t trace, uint64_t span,
			  uint64_t parent, const char *name, enum otlp_span_kind kind,
			  uint64_t start, uint64_t dur)
{
	uint8_t tid[16], sid[8], pid[8];
	fx_tid(tid, trace);
	fx_sid(sid, span);
	if (parent)
		fx_sid(pid, parent);
	return otlp_build_span(bd, tid, sid, parent ? pid : NULL, name, kind, start, start + dur);
}

/*
 * A batch of one resource (service.name svc) and one scope "s" holding
 * the spans t = from..to-1: trace t, span t, "op", SERVER, starting at
 * t0 + t * step, lasting dur. Aborts when out of memory (a test fixture).
 */
static inline struct otlp_batch *fx_batch(const char *svc, int from, int to, uint64_t t0,
					  uint64_t step, uint64_t dur)
{
	struct otlp_builder bd;
	otlp_builder_init(&bd);
	otlp_build_resource(&bd, svc);
	otlp_build_scope(&bd, "s", NULL);
	for (int t = from; t < to; t++)
		fx_span(&bd, (uint64_t)t, (uint64_t)t, 0, "op", OTLP_SPAN_KIND_SERVER,
			t0 + (uint64_t)t * step, dur);
	struct otlp_batch *b = otlp_builder_take(&bd);
	if (b == NULL)
		abort();
	return b;
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
