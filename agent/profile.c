/*
 * profile.c: libtern-profile, the -finstrument-functions hooks (see
 * tern_profile.h). Built as its own library so ordinary users of libtern
 * do not get the hooks. Nothing here may be instrumented itself.
 */
#include "tern.h"
#include "tern_profile.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#define NOINST __attribute__((no_instrument_function))
#define SLOTS 4096
#define DEPTH 512

struct slot {
	const void *fn;
	_Atomic uint64_t calls, cum, self; /* ticks; single writer */
};

struct frame {
	struct slot *s;
	uint64_t start;
	uint64_t child; /* ticks spent in callees */
};

struct pthr {
	struct slot slots[SLOTS];
	struct frame stack[DEPTH];
	int depth;
	int lost_depth; /* frames beyond DEPTH still open */
	bool busy;
	struct pthr *next;
};

static __thread struct pthr *me;
static __thread bool exited; /* after the thread's state was folded */
static struct pthr *all;
static struct pthr *dead; /* counters of exited threads, folded together */
static pthread_key_t exit_key;
static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t overflow;
static _Atomic uint64_t span_ticks; /* 0: no spans */
static double ns_per_tick = 1.0;
static bool use_tsc;
static pthread_once_t once = PTHREAD_ONCE_INIT;

NOINST static inline uint64_t ticks(void)
{
#ifdef HAVE_TSC
	if (use_tsc)
		return __rdtsc();
#endif
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

NOINST static void calibrate(void)
{
#ifdef HAVE_TSC
	FILE *f = fopen("/proc/cpuinfo", "r");
	bool c = false, n = false;
	if (f != NULL) {
		char line[4096];
		while (fgets(line, sizeof line, f) != NULL)
			if (strncmp(line, "flags", 5) == 0) {
				c = strstr(line, " constant_tsc") != NULL;
				n = strstr(line, " nonstop_tsc") != NULL;
				break;
			}
		fclose(f);
	}
	if (c && n) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		uint64_t t0 = __rdtsc();
		do
			clock_gettime(CLOCK_MONOTONIC, &b);
		while ((b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec) < 5000000);
		uint64_t t1 = __rdtsc();
		ns_per_tick = (double)((b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec)) /
			      (double)(t1 - t0);
		use_tsc = true;
	}
#endif
	const char *ms = getenv("TERN_PROFILE_SPAN_MS");
	if (ms != NULL && atoi(ms) > 0)
		atomic_store(&span_ticks, (uint64_t)((double)atoi(ms) * 1e6 / ns_per_tick));
}

NOINST static struct slot *lookup(struct pthr *p, const void *fn);

/* Thread exit: fold the thread's counters into `dead` and free its state,
 * so short-lived threads do not pile up tables. */
NOINST static void thread_exit(void *arg)
{
	struct pthr *p = arg;
	pthread_mutex_lock(&all_mu);
	if (dead == NULL)
		dead = calloc(1, sizeof *dead);
	for (size_t i = 0; i < SLOTS && dead != NULL; i++) {
		struct slot *s = &p->slots[i];
		uint64_t calls = atomic_load(&s->calls);
		if (s->fn == NULL || calls == 0)
			continue;
		struct slot *d = lookup(dead, s->fn);
		if (d == NULL) {
			atomic_fetch_add(&overflow, calls);
			continue;
		}
		atomic_fetch_add(&d->calls, calls);
		atomic_fetch_add(&d->cum, atomic_load(&s->cum));
		atomic_fetch_add(&d->self, atomic_load(&s->self));
	}
	struct pthr **pp = &all;
	while (*pp != NULL && *pp != p)
		pp = &(*pp)->next;
	if (*pp == p)
		*pp = p->next;
	pthread_mutex_unlock(&all_mu);
	free(p);
	me = NULL;
	exited = true;
}

NOINST static void make_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

NOINST static struct pthr *thread_state(void)
{
	static pthread_once_t key_once = PTHREAD_ONCE_INIT;
	pthread_once(&once, calibrate);
	pthread_once(&key_once, make_key);
	struct pthr *p = calloc(1, sizeof *p);
	if (p == NULL)
		return NULL;
	pthread_mutex_lock(&all_mu);
	p->next = all;
	all = p;
	pthread_mutex_unlock(&all_mu);
	pthread_setspecific(exit_key, p);
	return p;
}

NOINST static struct slot *lookup(struct pthr *p, const void *fn)
{
	size_t i = ((uintptr_t)fn >> 4) * 0x9e3779b97f4a7c15ull >> 52; /* 12 bits */
	for (size_t k = 0; k < SLOTS; k++, i = (i + 1) & (SLOTS - 1)) {
		struct slot *s = &p->slots[i];
		if (s->fn == fn)
			return s;
		if (s->fn == NULL) {
			s->fn = fn;
			return s;
		}
	}
	return NULL;
}

void __cyg_profile_func_enter(void *fn, void *site) NOINST;
void __cyg_profile_func_exit(void *fn, void *site) NOINST;

void __cyg_profile_func_enter(void *fn, void *site)
{
	struct pthr *p = me;
	if (__builtin_expect(p == NULL, 0)) {
		static __thread bool registering;
		if (registering || exited)
			return;
		registering = true;
		p = me = thread_state();
		registering = false;
		if (p == NULL)
			return;
	}
	if (p->depth >= DEPTH) {
		p->lost_depth++;
		atomic_fetch_add(&overflow, 1);
		return;
	}
	struct frame *f = &p->stack[p->depth++];
	f->s = lookup(p, fn);
	if (f->s == NULL)
		atomic_fetch_add(&overflow, 1);
	f->child = 0;
	f->start = ticks();
}

void __cyg_profile_func_exit(void *fn, void *site)
{
	uint64_t now = ticks();
	struct pthr *p = me;
	if (p == NULL)
		return;
	if (p->lost_depth > 0) {
		p->lost_depth--;
		return;
	}
	if (p->depth == 0)
		return; /* an exit whose enter ran before this thread registered */
	struct frame *f = &p->stack[--p->depth];
	uint64_t dur = now - f->start;
	if (p->depth > 0)
		p->stack[p->depth - 1].child += dur;
	struct slot *s = f->s;
	if (s != NULL) {
		atomic_store_explicit(&s->calls, atomic_load_explicit(&s->calls, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		atomic_store_explicit(&s->cum, atomic_load_explicit(&s->cum, memory_order_relaxed) + dur,
				      memory_order_relaxed);
		atomic_store_explicit(&s->self,
				      atomic_load_explicit(&s->self, memory_order_relaxed) + dur - f->child,
				      memory_order_relaxed);
	}
	uint64_t th = atomic_load_explicit(&span_ticks, memory_order_relaxed);
	if (th != 0 && dur > th && !p->busy && tern_enabled()) {
		/* A span after the fact, with the function's own start time.
		 * dladdr may take a lock: this is the slow-call path only. */
		p->busy = true;
		Dl_info di;
		const char *name = dladdr(fn, &di) && di.dli_sname ? di.dli_sname : "function";
		struct tern_span sp;
		tern_span_begin(&sp, name, TERN_KIND_INTERNAL);
		tern_span_backdate(&sp, (uint64_t)((double)dur * ns_per_tick));
		tern_span_set_str(&sp, "code.function", name);
		tern_span_end(&sp);
		p->busy = false;
	}
}

struct agg {
	struct tern_profile_row *v;
	size_t n, cap;
};

NOINST static int add_row(struct agg *a, const struct slot *s)
{
	uint64_t calls = atomic_load_explicit(&s->calls, memory_order_relaxed);
	if (calls == 0)
		return 0;
	for (size_t i = 0; i < a->n; i++) {
		if (a->v[i].fn == s->fn) {
			a->v[i].calls += calls;
			a->v[i].cum_ns += atomic_load_explicit(&s->cum, memory_order_relaxed);
			a->v[i].self_ns += atomic_load_explicit(&s->self, memory_order_relaxed);
			return 0;
		}
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 256;
		struct tern_profile_row *v = realloc(a->v, cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	struct tern_profile_row *r = &a->v[a->n++];
	memset(r, 0, sizeof *r);
	r->fn = s->fn;
	r->calls = calls;
	r->cum_ns = atomic_load_explicit(&s->cum, memory_order_relaxed);
	r->self_ns = atomic_load_explicit(&s->self, memory_order_relaxed);
	return 0;
}

static enum tern_profile_order sort_by;

NOINST static int cmp_rows(const void *x, const void *y)
{
	const struct tern_profile_row *a = x, *b = y;
	uint64_t ka = sort_by == TERN_PROFILE_BY_SELF ? a->self_ns
		      : sort_by == TERN_PROFILE_BY_CALLS ? a->calls : a->cum_ns;
	uint64_t kb = sort_by == TERN_PROFILE_BY_SELF ? b->self_ns
		      : sort_by == TERN_PROFILE_BY_CALLS ? b->calls : b->cum_ns;
	return ka == kb ? 0 : ka < kb ? 1 : -1;
}

/* Merged, sorted, named rows; caller frees a->v. */
NOINST static int collect(enum tern_profile_order order, struct agg *a)
{
	memset(a, 0, sizeof *a);
	int rc = 0;
	pthread_mutex_lock(&all_mu);
	for (struct pthr *p = all; p != NULL && rc == 0; p = p->next)
		for (size_t i = 0; i < SLOTS && rc == 0; i++)
			if (p->slots[i].fn != NULL)
				rc = add_row(a, &p->slots[i]);
	for (size_t i = 0; dead != NULL && i < SLOTS && rc == 0; i++)
		if (dead->slots[i].fn != NULL)
			rc = add_row(a, &dead->slots[i]);
	sort_by = order;
	qsort(a->v, a->n, sizeof *a->v, cmp_rows);
	pthread_mutex_unlock(&all_mu);
	for (size_t i = 0; i < a->n; i++) {
		struct tern_profile_row *r = &a->v[i];
		r->cum_ns = (uint64_t)((double)r->cum_ns * ns_per_tick);
		r->self_ns = (uint64_t)((double)r->self_ns * ns_per_tick);
		Dl_info di;
		if (dladdr(r->fn, &di) && di.dli_sname != NULL)
			snprintf(r->name, sizeof r->name, "%s", di.dli_sname);
		else
			snprintf(r->name, sizeof r->name, "%p", r->fn);
	}
	return rc;
}

size_t tern_profile_top(enum tern_profile_order order, struct tern_profile_row *rows, size_t n)
{
	struct agg a;
	if (collect(order, &a) != 0) {
		free(a.v);
		return 0;
	}
	size_t k = a.n < n ? a.n : n;
	memcpy(rows, a.v, k * sizeof *rows);
	free(a.v);
	return k;
}

int tern_profile_fprint(FILE *f, enum tern_profile_order order, size_t limit)
{
	struct agg a;
	int rc = collect(order, &a);
	if (rc != 0) {
		free(a.v);
		return rc;
	}
	size_t n = limit && limit < a.n ? limit : a.n;
	bool bad = fprintf(f, "%12s %12s %12s %12s %12s  %s\n", "ncalls", "tottime_ms",
			   "percall_us", "cumtime_ms", "percall_us", "function") < 0;
	for (size_t i = 0; i < n && !bad; i++) {
		const struct tern_profile_row *r = &a.v[i];
		bad = fprintf(f, "%12llu %12.3f %12.3f %12.3f %12.3f  %s\n",
			      (unsigned long long)r->calls, (double)r->self_ns / 1e6,
			      (double)r->self_ns / 1e3 / (double)r->calls, (double)r->cum_ns / 1e6,
			      (double)r->cum_ns / 1e3 / (double)r->calls, r->name) < 0;
	}
	free(a.v);
	return bad ? -EIO : 0;
}

void tern_profile_reset(void)
{
	pthread_mutex_lock(&all_mu);
	for (struct pthr *p = all; p != NULL; p = p->next)
		for (size_t i = 0; i < SLOTS; i++) {
			atomic_store(&p->slots[i].calls, 0);
			atomic_store(&p->slots[i].cum, 0);
			atomic_store(&p->slots[i].self, 0);
		}
	free(dead);
	dead = NULL;
	pthread_mutex_unlock(&all_mu);
	atomic_store(&overflow, 0);
}

void tern_profile_span_threshold_set(uint64_t ns)
{
	pthread_once(&once, calibrate);
	atomic_store(&span_ticks, (uint64_t)((double)ns / ns_per_tick));
}

uint64_t tern_profile_overflow(void)
{
	return atomic_load(&overflow);
}

NOINST __attribute__((destructor)) static void at_exit_report(void)
{
	const char *e = getenv("TERN_PROFILE");
	if (e == NULL || strcmp(e, "1") != 0)
		return;
	const char *s = getenv("TERN_PROFILE_SORT");
	enum tern_profile_order o = TERN_PROFILE_BY_CUMULATIVE;
	if (s != NULL && strcmp(s, "self") == 0)
		o = TERN_PROFILE_BY_SELF;
	else if (s != NULL && strcmp(s, "calls") == 0)
		o = TERN_PROFILE_BY_CALLS;
	tern_profile_fprint(stderr, o, 50);
}
