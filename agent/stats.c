/*
 * stats.c: local statistics per span name (the in-process profiler) and
 * slow-call reporting. Fed by the exporter thread for every drained span;
 * read by any thread. One mutex guards it all: it is off the hot path.
 */
#include "internal.h"
#include "tern_sketch.h"
#include "util/hash.h"
#include "util/hex.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATS_MAX 4096
#define STATS_SLOTS 8192 /* open addressing, load <= 0.5 */
#define SLOW_NAMES 256

struct entry {
	char name[TERN_NAME_MAX + 1];
	uint8_t name_len;
	uint64_t count, errors, total, min, max;
	struct tern_sketch *sk;
};

struct slow_name {
	char name[TERN_NAME_MAX + 1];
	uint64_t ns;
};

static struct {
	pthread_mutex_t mu;
	struct entry *slots[STATS_SLOTS];
	size_t n;
	uint64_t overflow;
	uint64_t slow_ns;
	struct slow_name slow_names[SLOW_NAMES];
	size_t n_slow_names;
	struct tern_slow_call slow[TERN_SLOW_KEEP];
	size_t slow_next, slow_n;
	tern_log_fn log;
	void *log_arg;
} st = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct entry *last; /* spans of one name tend to come in runs */

static struct entry **find_slot(const char *name, size_t n)
{
	size_t i = util_fnv1a64(UTIL_FNV1A64_INIT, name, n) & (STATS_SLOTS - 1);
	for (;;) {
		struct entry *e = st.slots[i];
		if (e == NULL || (e->name_len == n && memcmp(e->name, name, n) == 0))
			return &st.slots[i];
		i = (i + 1) & (STATS_SLOTS - 1);
	}
}

static void default_log(void *arg, const char *line)
{
	fprintf(stderr, "%s\n", line);
}

void tern__stats_init(void)
{
	pthread_mutex_lock(&st.mu);
	st.slow_ns = tern__g.opt.slow_threshold_ns;
	st.log = tern__g.opt.log;
	st.log_arg = tern__g.opt.log_arg;
	pthread_mutex_unlock(&st.mu);
}

void tern__stats_fork_child(void)
{
	pthread_mutex_init(&st.mu, NULL);
}

static uint64_t threshold_for(const char *name, size_t n)
{
	for (size_t i = 0; i < st.n_slow_names; i++)
		if (strlen(st.slow_names[i].name) == n && memcmp(st.slow_names[i].name, name, n) == 0)
			return st.slow_names[i].ns;
	return st.slow_ns;
}

void tern__stats_lock(void)
{
	pthread_mutex_lock(&st.mu);
}

void tern__stats_unlock(void)
{
	pthread_mutex_unlock(&st.mu);
}

/* Called with st.mu held (tern__stats_lock), by the exporter thread, for
 * a whole drained run of spans. A slow call drops the lock around the log
 * callback, so the callback may read the stats. */
void tern__stats_record_locked(const struct tern__rec *r, const char *name, uint64_t dur_ns,
			       uint64_t end_unix_ns)
{
	size_t n = r->name_len;
	struct entry *e = last;
	if (e == NULL || e->name_len != n || memcmp(e->name, name, n) != 0) {
		struct entry **slot = find_slot(name, n);
		e = *slot;
		if (e == NULL) {
			if (st.n >= STATS_MAX || (e = calloc(1, sizeof *e)) == NULL) {
				st.overflow++;
				goto slow_check;
			}
			e->sk = tern_sketch_new(0, 0);
			if (e->sk == NULL) {
				free(e);
				e = NULL;
				st.overflow++;
				goto slow_check;
			}
			memcpy(e->name, name, n);
			e->name[n] = '\0';
			e->name_len = (uint8_t)n;
			*slot = e;
			st.n++;
		}
		last = e;
	}
	if (e->count == 0 || dur_ns < e->min)
		e->min = dur_ns;
	if (dur_ns > e->max)
		e->max = dur_ns;
	e->count++;
	e->total += dur_ns;
	if (r->status == TERN_STATUS_ERROR)
		e->errors++;
	tern_sketch_add(e->sk, (double)dur_ns);
slow_check:;
	uint64_t th = st.n_slow_names ? threshold_for(name, n) : st.slow_ns;
	if (th == 0 || dur_ns <= th)
		return;
	struct tern_slow_call *sc = &st.slow[st.slow_next];
	st.slow_next = (st.slow_next + 1) % TERN_SLOW_KEEP;
	if (st.slow_n < TERN_SLOW_KEEP)
		st.slow_n++;
	memcpy(sc->name, name, n);
	sc->name[n] = '\0';
	sc->duration_ns = dur_ns;
	sc->threshold_ns = th;
	sc->end_unix_ns = end_unix_ns;
	memcpy(sc->trace_id, r->trace_id, 16);
	memcpy(sc->span_id, r->span_id, 8);
	char tid[33], sid[17], line[256];
	util_hex_encode(tid, r->trace_id, 16);
	util_hex_encode(sid, r->span_id, 8);
	snprintf(line, sizeof line,
		 "tern: slow call %s took %.3f ms (threshold %.3f ms) trace_id=%s span_id=%s",
		 sc->name, (double)dur_ns / 1e6, (double)th / 1e6, tid, sid);
	tern_log_fn log = st.log ? st.log : default_log;
	void *log_arg = st.log_arg;
	pthread_mutex_unlock(&st.mu);
	log(log_arg, line);
	pthread_mutex_lock(&st.mu);
}

void tern__stats_record(const struct tern__rec *r, const char *name, uint64_t dur_ns,
			uint64_t end_unix_ns)
{
	pthread_mutex_lock(&st.mu);
	tern__stats_record_locked(r, name, dur_ns, end_unix_ns);
	pthread_mutex_unlock(&st.mu);
}

static void snapshot(const struct entry *e, struct tern_stats *o)
{
	memcpy(o->name, e->name, sizeof o->name);
	o->count = e->count;
	o->errors = e->errors;
	o->total_ns = e->total;
	o->min_ns = e->min;
	o->max_ns = e->max;
	o->avg_ns = e->count ? e->total / e->count : 0;
	double q[5] = { 0.5, 0.75, 0.9, 0.95, 0.99 };
	uint64_t *dst[5] = { &o->p50_ns, &o->p75_ns, &o->p90_ns, &o->p95_ns, &o->p99_ns };
	for (int i = 0; i < 5; i++) {
		double v = tern_sketch_quantile(e->sk, q[i]);
		*dst[i] = isnan(v) ? 0 : (uint64_t)llround(v);
	}
}

int tern_stats_get(const char *name, struct tern_stats *out)
{
	bool t = false;
	size_t n = strnlen(name, TERN_NAME_MAX + 1);
	if (n > TERN_NAME_MAX)
		n = TERN_NAME_MAX, t = true; /* names were truncated when recorded */
	(void)t;
	int rc = -ENOENT;
	pthread_mutex_lock(&st.mu);
	struct entry *e = *find_slot(name, n);
	if (e != NULL && e->count > 0) {
		snapshot(e, out);
		rc = 0;
	}
	pthread_mutex_unlock(&st.mu);
	return rc;
}

int tern_stats_foreach(int (*fn)(const struct tern_stats *s, void *arg), void *arg)
{
	int rc = 0;
	pthread_mutex_lock(&st.mu);
	for (size_t i = 0; i < STATS_SLOTS && rc == 0; i++) {
		struct entry *e = st.slots[i];
		if (e == NULL || e->count == 0)
			continue;
		struct tern_stats s;
		snapshot(e, &s);
		rc = fn(&s, arg);
	}
	pthread_mutex_unlock(&st.mu);
	return rc;
}

static uint64_t key_of(const struct tern_stats *s, enum tern_stats_order o)
{
	switch (o) {
	case TERN_BY_AVG:
		return s->avg_ns;
	case TERN_BY_P99:
		return s->p99_ns;
	case TERN_BY_MAX:
		return s->max_ns;
	case TERN_BY_TOTAL:
		return s->total_ns;
	case TERN_BY_COUNT:
		return s->count;
	}
	return 0;
}

struct collect {
	struct tern_stats *v;
	size_t n, cap;
};

static int collect_one(const struct tern_stats *s, void *arg)
{
	struct collect *c = arg;
	if (c->n == c->cap)
		return 0; /* cannot happen: cap is the table size */
	c->v[c->n++] = *s;
	return 0;
}

static enum tern_stats_order sort_order;

static int cmp_stats(const void *a, const void *b)
{
	uint64_t x = key_of(a, sort_order), y = key_of(b, sort_order);
	if (x != y)
		return x < y ? 1 : -1;
	return strcmp(((const struct tern_stats *)a)->name, ((const struct tern_stats *)b)->name);
}

/* Sorted snapshot of every entry; caller frees c->v. */
static int collect_sorted(enum tern_stats_order order, struct collect *c)
{
	c->n = 0;
	c->cap = STATS_MAX;
	c->v = malloc(STATS_MAX * sizeof *c->v);
	if (c->v == NULL)
		return -ENOMEM;
	tern_stats_foreach(collect_one, c);
	static pthread_mutex_t sort_mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&sort_mu);
	sort_order = order;
	qsort(c->v, c->n, sizeof *c->v, cmp_stats);
	pthread_mutex_unlock(&sort_mu);
	return 0;
}

size_t tern_stats_top(enum tern_stats_order order, struct tern_stats *out, size_t n)
{
	struct collect c;
	if (collect_sorted(order, &c) != 0)
		return 0;
	size_t k = c.n < n ? c.n : n;
	memcpy(out, c.v, k * sizeof *out);
	free(c.v);
	return k;
}

static void fmt_ns(char *buf, size_t sz, uint64_t ns)
{
	if (ns < 10000)
		snprintf(buf, sz, "%" PRIu64 "ns", ns);
	else if (ns < 10000000)
		snprintf(buf, sz, "%.1fus", (double)ns / 1e3);
	else if (ns < 10000000000ull)
		snprintf(buf, sz, "%.1fms", (double)ns / 1e6);
	else
		snprintf(buf, sz, "%.2fs", (double)ns / 1e9);
}

int tern_stats_fprint(FILE *f, enum tern_stats_order order)
{
	struct collect c;
	if (collect_sorted(order, &c) != 0)
		return -ENOMEM;
	int bad = fprintf(f, "%-32s %10s %7s %10s %10s %10s %10s %10s %10s %10s\n", "name", "calls",
			  "errors", "total", "avg", "min", "p50", "p95", "p99", "max") < 0;
	for (size_t i = 0; i < c.n && !bad; i++) {
		const struct tern_stats *s = &c.v[i];
		char t[7][24];
		fmt_ns(t[0], sizeof t[0], s->total_ns);
		fmt_ns(t[1], sizeof t[1], s->avg_ns);
		fmt_ns(t[2], sizeof t[2], s->min_ns);
		fmt_ns(t[3], sizeof t[3], s->p50_ns);
		fmt_ns(t[4], sizeof t[4], s->p95_ns);
		fmt_ns(t[5], sizeof t[5], s->p99_ns);
		fmt_ns(t[6], sizeof t[6], s->max_ns);
		bad = fprintf(f, "%-32.64s %10" PRIu64 " %7" PRIu64 " %10s %10s %10s %10s %10s %10s %10s\n",
			      s->name, s->count, s->errors, t[0], t[1], t[2], t[3], t[4], t[5],
			      t[6]) < 0;
	}
	free(c.v);
	return bad ? -EIO : 0;
}

uint64_t tern_stats_overflow(void)
{
	pthread_mutex_lock(&st.mu);
	uint64_t o = st.overflow;
	pthread_mutex_unlock(&st.mu);
	return o;
}

void tern_stats_reset(void)
{
	pthread_mutex_lock(&st.mu);
	for (size_t i = 0; i < STATS_SLOTS; i++) {
		if (st.slots[i] != NULL) {
			tern_sketch_free(st.slots[i]->sk);
			free(st.slots[i]);
			st.slots[i] = NULL;
		}
	}
	st.n = 0;
	last = NULL;
	st.overflow = 0;
	st.slow_n = st.slow_next = 0;
	pthread_mutex_unlock(&st.mu);
}

void tern_slow_threshold_set(uint64_t ns)
{
	pthread_mutex_lock(&st.mu);
	st.slow_ns = ns;
	pthread_mutex_unlock(&st.mu);
}

int tern_slow_threshold_set_for(const char *name, uint64_t ns)
{
	int rc = 0;
	size_t n = strnlen(name, TERN_NAME_MAX);
	pthread_mutex_lock(&st.mu);
	size_t i;
	for (i = 0; i < st.n_slow_names; i++)
		if (strlen(st.slow_names[i].name) == n && memcmp(st.slow_names[i].name, name, n) == 0)
			break;
	if (i == st.n_slow_names) {
		if (i == SLOW_NAMES) {
			rc = -ENOMEM;
			goto out_unlock;
		}
		memcpy(st.slow_names[i].name, name, n);
		st.slow_names[i].name[n] = '\0';
		st.n_slow_names++;
	}
	st.slow_names[i].ns = ns;
out_unlock:
	pthread_mutex_unlock(&st.mu);
	return rc;
}

void tern_set_log(tern_log_fn fn, void *arg)
{
	pthread_mutex_lock(&st.mu);
	st.log = fn;
	st.log_arg = arg;
	pthread_mutex_unlock(&st.mu);
}

size_t tern_slow_calls(struct tern_slow_call *out, size_t n)
{
	pthread_mutex_lock(&st.mu);
	size_t k = st.slow_n < n ? st.slow_n : n;
	for (size_t i = 0; i < k; i++) {
		size_t idx = (st.slow_next + TERN_SLOW_KEEP - 1 - i) % TERN_SLOW_KEEP;
		out[i] = st.slow[idx];
	}
	pthread_mutex_unlock(&st.mu);
	return k;
}

/* Heap in use (mallinfo2) and resident set (statm), for memory_delta. */
void tern__mem_sample(int64_t out[2]);
void tern__mem_sample(int64_t out[2])
{
	struct mallinfo2 mi = mallinfo2();
	out[0] = (int64_t)(mi.uordblks + mi.hblkhd);
	out[1] = 0;
	int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[128];
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			char *sp = strchr(buf, ' ');
			if (sp != NULL)
				out[1] = strtoll(sp + 1, NULL, 10) * sysconf(_SC_PAGESIZE);
		}
	}
}
