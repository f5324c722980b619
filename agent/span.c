/*
 * span.c: the hot path. Span begin/end, attributes, events, the per-thread
 * rings, ids and the clock.
 *
 * Nothing here takes a lock, allocates or makes a syscall once the thread
 * is registered; registration (first span of a thread, or of a new agent
 * generation) is the allowed slow path.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

__thread struct tern__tls tern__tls __attribute__((tls_model("initial-exec")));
struct tern__agent tern__g = {
	.list_mu = PTHREAD_MUTEX_INITIALIZER,
	.enabled = true,
};

/* ---- clock -------------------------------------------------------------- */

int64_t tern__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t tern__real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#ifdef TERN__HAVE_TSC
static bool tsc_invariant(void)
{
	/* constant_tsc: fixed rate; nonstop_tsc: keeps ticking in C-states. */
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (f == NULL)
		return false;
	char line[4096];
	bool c = false, n = false;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		c = strstr(line, " constant_tsc") != NULL;
		n = strstr(line, " nonstop_tsc") != NULL;
		break;
	}
	fclose(f);
	return c && n;
}

/* Reads (tsc, mono) as a tight pair: the tsc midpoint of the best of a few
 * tries around one clock_gettime. */
static void pair(uint64_t *tsc, int64_t *mono)
{
	uint64_t best = UINT64_MAX;
	*tsc = 0;
	*mono = 0;
	for (int i = 0; i < 5; i++) {
		uint64_t a = __rdtsc();
		int64_t m = tern__mono_ns();
		uint64_t b = __rdtsc();
		if (b - a < best) {
			best = b - a;
			*tsc = a + (b - a) / 2;
			*mono = m;
		}
	}
}
#endif

void tern__clock_init(void)
{
	tern__g.mono0 = tern__mono_ns();
	tern__g.real0 = tern__real_ns();
	tern__g.use_tsc = false;
	tern__g.tick0 = (uint64_t)tern__g.mono0;
	atomic_store(&tern__g.ns_per_tick, 1.0);
#ifdef TERN__HAVE_TSC
	if (getenv("TERN_NO_TSC") != NULL || !tsc_invariant())
		return;
	uint64_t t0 = 0, t1 = 0;
	int64_t m0 = 0, m1 = 0;
	pair(&t0, &m0);
	/* A 2 ms spin gives a first rate within ~1e-5; the exporter thread
	 * refines it as the baseline grows. */
	do
		pair(&t1, &m1);
	while (m1 - m0 < 2000000);
	if (t1 <= t0)
		return;
	tern__g.tick0 = t0;
	tern__g.real0 += m0 - tern__g.mono0;
	tern__g.mono0 = m0;
	atomic_store(&tern__g.ns_per_tick, (double)(m1 - m0) / (double)(t1 - t0));
	tern__g.use_tsc = true;
#endif
}

void tern__clock_refine(void)
{
#ifdef TERN__HAVE_TSC
	if (!tern__g.use_tsc)
		return;
	uint64_t t = 0;
	int64_t m = 0;
	pair(&t, &m);
	if (m - tern__g.mono0 < 100000000 || t <= tern__g.tick0)
		return;
	atomic_store(&tern__g.ns_per_tick,
		     (double)(m - tern__g.mono0) / (double)(t - tern__g.tick0));
#endif
}

uint64_t tern__ticks_to_ns(uint64_t dt)
{
	return (uint64_t)((double)dt * atomic_load_explicit(&tern__g.ns_per_tick,
							    memory_order_relaxed) + 0.5);
}

uint64_t tern__ticks_to_unix_ns(uint64_t t)
{
	int64_t d = (int64_t)(t - tern__g.tick0);
	double ns = (double)d * atomic_load_explicit(&tern__g.ns_per_tick, memory_order_relaxed);
	return (uint64_t)(tern__g.real0 + (int64_t)ns);
}

/* ---- ids ----------------------------------------------------------------- */

void tern__random_bytes(void *p, size_t n)
{
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r <= 0) {
			/* no getrandom: mix the clock and the address */
			uint64_t x = (uint64_t)tern__real_ns() ^ (uintptr_t)p ^ (uint64_t)n;
			size_t k = n < 8 ? n : 8;
			memcpy(b, &x, k);
			r = (ssize_t)k;
		}
		b += r;
		n -= (size_t)r;
	}
}

/* xorshift128+: fast, per thread, seeded from getrandom at registration. */
static inline uint64_t rng_next(uint64_t s[2])
{
	uint64_t x = s[0];
	const uint64_t y = s[1];
	s[0] = y;
	x ^= x << 23;
	s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return s[1] + y;
}

uint64_t tern__rand64(void)
{
	return rng_next(tern__tls.rng);
}

/* ---- rings ---------------------------------------------------------------- */

static pthread_once_t key_once = PTHREAD_ONCE_INIT;

void tern__ring_free(struct tern__ring *r)
{
	free(r->buf);
	free(r);
}

void tern__ring_fold_counters(struct tern__ring *r)
{
	atomic_fetch_add(&tern__g.c_started, atomic_load(&r->started));
	atomic_fetch_add(&tern__g.c_ended, atomic_load(&r->ended));
	atomic_fetch_add(&tern__g.c_sampled, atomic_load(&r->sampled));
	atomic_fetch_add(&tern__g.c_dropped, atomic_load(&r->dropped));
	atomic_fetch_add(&tern__g.c_truncated, atomic_load(&r->truncated));
	atomic_fetch_add(&tern__g.c_attrs_dropped, atomic_load(&r->attrs_dropped));
}

/* Thread exit: hand the ring to the exporter, which drains then frees it.
 * Without an exporter there is nothing to drain: free it now. */
static void thread_exit(void *arg)
{
	struct tern__ring *r = arg;
	pthread_mutex_lock(&tern__g.list_mu);
	if (atomic_load(&tern__g.started) && r->gen == atomic_load(&tern__g.gen)) {
		atomic_store(&r->dead, true);
	} else {
		struct tern__ring **pp = &tern__g.rings;
		while (*pp != NULL && *pp != r)
			pp = &(*pp)->next;
		if (*pp == r)
			*pp = r->next;
		tern__ring_fold_counters(r);
		tern__ring_free(r);
	}
	pthread_mutex_unlock(&tern__g.list_mu);
	if (tern__tls.ring == r)
		tern__tls.ring = NULL;
	tern__tls.gen = 0;
}

static void make_key(void)
{
	pthread_key_create(&tern__g.key, thread_exit);
}

void tern__rings_init_once(void)
{
	pthread_once(&key_once, make_key);
}

/* The slow path: first span of this thread in this agent generation. */
static __attribute__((noinline)) bool thread_register(void)
{
	uint32_t gen = atomic_load(&tern__g.gen);
	tern__random_bytes(tern__tls.rng, sizeof tern__tls.rng);
	if (tern__tls.rng[0] == 0 && tern__tls.rng[1] == 0)
		tern__tls.rng[0] = 1;
	struct tern__ring *r = tern__tls.ring;
	if (r != NULL && r->gen == gen) {
		tern__tls.gen = gen;
		return true;
	}
	/* A ring of an older generation stays on the list (the old exporter
	 * drained it, or the fork child reset it); it is reused after reset. */
	if (r == NULL || r->size != tern__g.ring_bytes) {
		if (r != NULL) {
			pthread_mutex_lock(&tern__g.list_mu);
			struct tern__ring **pp = &tern__g.rings;
			while (*pp != NULL && *pp != r)
				pp = &(*pp)->next;
			if (*pp == r)
				*pp = r->next;
			tern__ring_fold_counters(r);
			pthread_mutex_unlock(&tern__g.list_mu);
			tern__ring_free(r);
			tern__tls.ring = NULL;
		}
		r = calloc(1, sizeof *r);
		if (r == NULL)
			return false;
		r->size = tern__g.ring_bytes;
		r->buf = malloc(r->size + TERN__RING_SLACK);
		if (r->buf == NULL) {
			free(r);
			return false;
		}
		pthread_mutex_lock(&tern__g.list_mu);
		r->gen = gen;
		r->next = tern__g.rings;
		tern__g.rings = r;
		atomic_fetch_add(&tern__g.c_threads, 1);
		pthread_mutex_unlock(&tern__g.list_mu);
		tern__tls.ring = r;
		pthread_setspecific(tern__g.key, r);
	} else {
		pthread_mutex_lock(&tern__g.list_mu);
		r->gen = gen;
		pthread_mutex_unlock(&tern__g.list_mu);
	}
	tern__tls.gen = gen;
	return true;
}

static inline bool thread_ready(void)
{
	if (__builtin_expect(tern__tls.gen == atomic_load_explicit(&tern__g.gen,
								   memory_order_relaxed), 1))
		return true;
	return thread_register();
}

/* Copies round8(n) bytes in 8-byte words. The compiler's inline memcpy
 * for a variable size is `rep movsq`, whose start-up alone costs more than
 * a whole small record. Callers make sure both sides have the slack. */
static inline __attribute__((always_inline)) void
copy8(uint8_t *dst, const uint8_t *src, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t w;
		__builtin_memcpy(&w, src + i, 8);
		__builtin_memcpy(dst + i, &w, 8);
	}
}

/* Reserves len bytes (multiple of 8) in the ring, plus TERN__RING_SLACK
 * free bytes after them for copy8's overshoot; NULL when full. */
static inline uint8_t *ring_reserve(struct tern__ring *r, uint32_t len, uint64_t *newhead)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t pos = head & (r->size - 1);
	uint64_t need = len;
	if (pos + len > r->size)
		need += r->size - pos; /* skip the tail end of the buffer */
	if (head + need + TERN__RING_SLACK - r->tail_cache > r->size) {
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (head + need + TERN__RING_SLACK - r->tail_cache > r->size)
			return NULL;
	}
	if (pos + len > r->size) {
		((struct tern__rec *)(r->buf + pos))->len = 0; /* wrap marker */
		head += r->size - pos;
		pos = 0;
	}
	*newhead = head + len;
	return r->buf + pos;
}

/* ---- begin / end ---------------------------------------------------------- */

void tern__mem_sample(int64_t out[2]);

static inline void copy_name(struct tern_span *s, const char *name)
{
	size_t n = 0;
	if (name != NULL) {
		while (n < TERN_NAME_MAX && name[n] != '\0') {
			s->_name[n] = name[n];
			n++;
		}
	}
	s->_name_len = (uint8_t)n;
}

/* parent: a context, or (pspan) the current span of this thread. */
static inline __attribute__((always_inline)) void
begin_common(struct tern_span *s, const char *name, enum tern_span_kind kind,
	     const struct tern_context *parent, const struct tern_span *pspan)
{
	s->_state = 0;
	if (__builtin_expect(!atomic_load_explicit(&tern__g.on, memory_order_relaxed), 0))
		return;
	if (__builtin_expect(!thread_ready(), 0))
		return;
	struct tern__ring *r = tern__tls.ring;
	tern__cnt_inc(&r->started);
	s->_kind = (uint8_t)kind;
	s->_status = 0;
	s->_used = 0;
	s->_dropped = 0;
	s->_ts_len = 0;
	uint8_t st = TERN__ACTIVE;
	uint8_t pflags = 0;
	if (pspan != NULL) {
		memcpy(s->_trace_id, pspan->_trace_id, 16);
		memcpy(s->_parent_id, pspan->_span_id, 8);
		pflags = pspan->_flags;
		st |= TERN__HAS_PARENT;
		if (pspan->_ts_len) {
			memcpy(s->_data, pspan->_data, pspan->_ts_len);
			s->_ts_len = pspan->_ts_len;
			s->_used = pspan->_ts_len;
		}
	} else if (parent != NULL && parent->valid) {
		memcpy(s->_trace_id, parent->trace_id, 16);
		memcpy(s->_parent_id, parent->span_id, 8);
		pflags = parent->flags;
		st |= TERN__HAS_PARENT;
		if (parent->remote)
			st |= TERN__REMOTE_PARENT;
		if (parent->tracestate_len && parent->tracestate_len <= 255) {
			/* a longer tracestate is not carried into the span */
			size_t n = parent->tracestate_len;
			memcpy(s->_data, parent->tracestate, n);
			s->_ts_len = (uint8_t)n;
			s->_used = (uint16_t)n;
		}
	} else {
		uint64_t a = rng_next(tern__tls.rng), b = rng_next(tern__tls.rng);
		if (a == 0 && b == 0)
			b = 1;
		memcpy(s->_trace_id, &a, 8);
		memcpy(s->_trace_id + 8, &b, 8);
	}
	uint64_t id = rng_next(tern__tls.rng);
	if (id == 0)
		id = 1;
	memcpy(s->_span_id, &id, 8);
	bool sampled;
	bool has_parent = (st & TERN__HAS_PARENT) != 0;
	switch (tern__g.opt.sampler) {
	case TERN_SAMPLER_ALWAYS_ON:
		sampled = true;
		break;
	case TERN_SAMPLER_ALWAYS_OFF:
		sampled = false;
		break;
	case TERN_SAMPLER_TRACEIDRATIO:
		sampled = tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, tern__g.opt.sampler_arg,
						     s->_trace_id, NULL);
		break;
	default:
		/* parent based: the parent decides; a root asks the root sampler */
		if (has_parent) {
			sampled = (pflags & TERN_FLAG_SAMPLED) != 0;
		} else {
			sampled = tern_sampler_should_sample(tern__g.opt.sampler,
							     tern__g.opt.sampler_arg,
							     s->_trace_id, NULL);
		}
	}
	s->_flags = sampled ? TERN_FLAG_SAMPLED : 0;
	if (sampled)
		st |= TERN__RECORDING;
	s->_state = st;
	copy_name(s, name);
	if (__builtin_expect(tern__g.opt.memory_delta, 0))
		tern__mem_sample(s->_mem0);
	s->_start = tern__ticks();
}

void tern_span_begin(struct tern_span *s, const char *name, enum tern_span_kind kind)
{
	struct tern_span *cur = tern__tls.cur;
	begin_common(s, name, kind, NULL, (cur != NULL && (cur->_state & TERN__ACTIVE)) ? cur : NULL);
	if (s->_state & TERN__ACTIVE) {
		s->_prev = cur;
		s->_state |= TERN__CURRENT;
		tern__tls.cur = s;
	}
}

void tern_span_begin_ctx(struct tern_span *s, const char *name, enum tern_span_kind kind,
			 const struct tern_context *parent)
{
	begin_common(s, name, kind, parent, NULL);
	s->_prev = NULL;
}

void tern__mem_sample(int64_t out[2]);

void tern_span_end(struct tern_span *s)
{
	if (!(s->_state & TERN__ACTIVE))
		return;
	uint64_t end = tern__ticks();
	uint8_t st = s->_state;
	s->_state = 0;
	if (st & TERN__CURRENT) {
		if (tern__tls.cur == s)
			tern__tls.cur = s->_prev;
	}
	/* A span ended on a thread that never recorded (async hand-off) or
	 * after a re-init needs this thread's ring. */
	if (__builtin_expect(!atomic_load_explicit(&tern__g.on, memory_order_relaxed), 0) ||
	    __builtin_expect(!thread_ready(), 0))
		return;
	struct tern__ring *r = tern__tls.ring;
	if (__builtin_expect((st & TERN__RECORDING) && tern__g.opt.memory_delta, 0)) {
		int64_t m1[2];
		tern__mem_sample(m1);
		if (s->_used + 17u <= TERN_SPAN_DATA) {
			uint8_t *p = s->_data + s->_used;
			*p++ = TERN__T_MEM;
			int64_t d[2] = { m1[0] - s->_mem0[0], m1[1] - s->_mem0[1] };
			memcpy(p, d, 16);
			s->_used += 17;
		}
	}
	uint32_t data = (st & TERN__RECORDING) ? s->_used : s->_ts_len;
	uint32_t len = (uint32_t)(sizeof(struct tern__rec) + s->_name_len + data + 7) & ~7u;
	uint64_t nh;
	uint8_t *p = ring_reserve(r, len, &nh);
	tern__cnt_inc(&r->ended);
	if (st & TERN__RECORDING)
		tern__cnt_inc(&r->sampled);
	if (__builtin_expect(p == NULL, 0)) {
		tern__cnt_inc(&r->dropped);
		return;
	}
	struct tern__rec *rec = (struct tern__rec *)p;
	rec->len = len;
	rec->kind = s->_kind;
	rec->status = s->_status;
	rec->flags = s->_flags;
	rec->state = st;
	memcpy(rec->trace_id, s->_trace_id, 16);
	memcpy(rec->span_id, s->_span_id, 8);
	memcpy(rec->parent_id, s->_parent_id, 8);
	rec->start = s->_start;
	rec->end = end;
	rec->name_len = s->_name_len;
	rec->ts_len = s->_ts_len;
	rec->data_len = (uint16_t)data;
	rec->dropped = s->_dropped;
	uint8_t *q = p + sizeof *rec;
	/* _name is 64 bytes and _data a multiple of 8: rounding the reads up
	 * stays inside the span; the writes may overshoot the record by up to
	 * 7 bytes, into the reserved slack. Name first: data overwrites its
	 * overshoot. */
	copy8(q, (const uint8_t *)s->_name, s->_name_len);
	copy8(q + s->_name_len, s->_data, data);
	atomic_store_explicit(&r->head, nh, memory_order_release);
	/* Ask for the ring lines the next spans will write: the miss is then
	 * paid in the background, not on the next tern_span_end(). */
	__builtin_prefetch(r->buf + ((nh + 256) & (r->size - 1)), 1, 3);
	__builtin_prefetch(r->buf + ((nh + 320) & (r->size - 1)), 1, 3);
}

void tern_span_backdate(struct tern_span *s, uint64_t ns)
{
	if (!(s->_state & TERN__ACTIVE))
		return;
	double npt = atomic_load_explicit(&tern__g.ns_per_tick, memory_order_relaxed);
	s->_start = tern__ticks() - (uint64_t)((double)ns / npt);
}

bool tern_span_is_recording(const struct tern_span *s)
{
	return (s->_state & (TERN__ACTIVE | TERN__RECORDING)) == (TERN__ACTIVE | TERN__RECORDING);
}

void tern_span_context(const struct tern_span *s, struct tern_context *out)
{
	out->valid = (s->_state & TERN__ACTIVE) != 0;
	out->remote = false;
	out->tracestate_len = 0;
	out->tracestate[0] = '\0';
	if (!out->valid) {
		memset(out->trace_id, 0, 16);
		memset(out->span_id, 0, 8);
		out->flags = 0;
		return;
	}
	memcpy(out->trace_id, s->_trace_id, 16);
	memcpy(out->span_id, s->_span_id, 8);
	out->flags = s->_flags;
	if (s->_ts_len) {
		memcpy(out->tracestate, s->_data, s->_ts_len);
		out->tracestate[s->_ts_len] = '\0';
		out->tracestate_len = s->_ts_len;
	}
}

void tern_current_context(struct tern_context *out)
{
	struct tern_span *cur = tern__tls.cur;
	if (cur == NULL) {
		memset(out, 0, sizeof *out - sizeof out->tracestate);
		out->tracestate[0] = '\0';
		return;
	}
	tern_span_context(cur, out);
}

struct tern_span *tern_span_make_current(struct tern_span *s)
{
	struct tern_span *prev = tern__tls.cur;
	tern__tls.cur = s;
	return prev;
}

void tern_span_restore_current(struct tern_span *prev)
{
	tern__tls.cur = prev;
}

/* ---- attributes, events, links --------------------------------------------- */

static inline void count_trunc(void)
{
	struct tern__ring *r = tern__tls.ring;
	if (r != NULL)
		tern__cnt_inc(&r->truncated);
}

static inline void count_drop(struct tern_span *s)
{
	struct tern__ring *r = tern__tls.ring;
	s->_dropped++;
	if (r != NULL)
		tern__cnt_inc(&r->attrs_dropped);
}

static size_t bounded_len(const char *str, size_t max, bool *trunc)
{
	size_t n = 0;
	if (str == NULL)
		return 0;
	while (n < max && str[n] != '\0')
		n++;
	*trunc = n == max && str[n] != '\0';
	return n;
}

/* Encoded size of one attribute (key and value), with truncation. */
static size_t attr_size(const struct tern_attr *a)
{
	bool t;
	size_t n = 1 + bounded_len(a->key, TERN_KEY_MAX, &t) + 1;
	switch (a->type) {
	case TERN_ATTR_STRING:
		return n + 1 + bounded_len(a->v.s, TERN_STR_MAX, &t);
	case TERN_ATTR_BYTES:
		return n + 1 + (a->v.bytes.len > TERN_STR_MAX ? TERN_STR_MAX : a->v.bytes.len);
	case TERN_ATTR_BOOL:
		return n + 1;
	case TERN_ATTR_INT:
	case TERN_ATTR_DOUBLE:
		return n + 8;
	case TERN_ATTR_STRING_ARRAY: {
		size_t k = a->v.array.n > 255 ? 255 : a->v.array.n;
		const char *const *sv = a->v.array.ptr;
		n += 1;
		for (size_t i = 0; i < k; i++)
			n += 1 + bounded_len(sv[i], TERN_STR_MAX, &t);
		return n;
	}
	case TERN_ATTR_BOOL_ARRAY:
		return n + 1 + (a->v.array.n > 255 ? 255 : a->v.array.n);
	case TERN_ATTR_INT_ARRAY:
	case TERN_ATTR_DOUBLE_ARRAY:
		return n + 1 + 8 * (a->v.array.n > 255 ? 255 : a->v.array.n);
	}
	return 0;
}

static uint8_t *put_str(uint8_t *p, const char *str, size_t max)
{
	bool t = false;
	size_t n = bounded_len(str, max, &t);
	if (t)
		count_trunc();
	*p++ = (uint8_t)n;
	memcpy(p, str, n);
	return p + n;
}

/* Writes one attribute; the caller checked attr_size() fits. */
static uint8_t *put_attr(uint8_t *p, const struct tern_attr *a)
{
	p = put_str(p, a->key, TERN_KEY_MAX);
	*p++ = (uint8_t)a->type;
	switch (a->type) {
	case TERN_ATTR_STRING:
		return put_str(p, a->v.s, TERN_STR_MAX);
	case TERN_ATTR_BYTES: {
		size_t n = a->v.bytes.len;
		if (n > TERN_STR_MAX) {
			n = TERN_STR_MAX;
			count_trunc();
		}
		*p++ = (uint8_t)n;
		memcpy(p, a->v.bytes.ptr, n);
		return p + n;
	}
	case TERN_ATTR_BOOL:
		*p++ = a->v.b ? 1 : 0;
		return p;
	case TERN_ATTR_INT:
		memcpy(p, &a->v.i, 8);
		return p + 8;
	case TERN_ATTR_DOUBLE:
		memcpy(p, &a->v.d, 8);
		return p + 8;
	default:
		break;
	}
	size_t k = a->v.array.n;
	if (k > 255) {
		k = 255;
		count_trunc();
	}
	*p++ = (uint8_t)k;
	switch (a->type) {
	case TERN_ATTR_STRING_ARRAY: {
		const char *const *sv = a->v.array.ptr;
		for (size_t i = 0; i < k; i++)
			p = put_str(p, sv[i], TERN_STR_MAX);
		return p;
	}
	case TERN_ATTR_BOOL_ARRAY: {
		const bool *bv = a->v.array.ptr;
		for (size_t i = 0; i < k; i++)
			*p++ = bv[i] ? 1 : 0;
		return p;
	}
	default:
		memcpy(p, a->v.array.ptr, 8 * k);
		return p + 8 * k;
	}
}

static bool attr_valid(const struct tern_attr *a)
{
	if (a->key == NULL || a->type < TERN_ATTR_STRING || a->type > TERN_ATTR_DOUBLE_ARRAY)
		return false;
	if (a->type == TERN_ATTR_STRING && a->v.s == NULL)
		return false;
	if (a->type == TERN_ATTR_BYTES && a->v.bytes.ptr == NULL && a->v.bytes.len)
		return false;
	if (a->type >= TERN_ATTR_STRING_ARRAY && a->v.array.ptr == NULL && a->v.array.n)
		return false;
	if (a->type == TERN_ATTR_STRING_ARRAY) {
		const char *const *sv = a->v.array.ptr;
		for (size_t i = 0; i < a->v.array.n && i < 255; i++)
			if (sv[i] == NULL)
				return false;
	}
	return true;
}

void tern_span_set_attr(struct tern_span *s, const struct tern_attr *a)
{
	if (!tern_span_is_recording(s) || !attr_valid(a))
		return;
	size_t need = 1 + attr_size(a);
	if (s->_used + need > TERN_SPAN_DATA) {
		count_drop(s);
		return;
	}
	uint8_t *p = s->_data + s->_used;
	*p++ = TERN__T_ATTR;
	p = put_attr(p, a);
	s->_used = (uint16_t)(p - s->_data);
}

/* The common scalar setters, written out so the hot ones stay small. */
static inline uint8_t *scalar_begin(struct tern_span *s, const char *key, size_t vlen,
				    uint8_t type)
{
	if (!tern_span_is_recording(s) || key == NULL)
		return NULL;
	bool t;
	size_t kl = bounded_len(key, TERN_KEY_MAX, &t);
	if (s->_used + 3 + kl + vlen > TERN_SPAN_DATA) {
		count_drop(s);
		return NULL;
	}
	if (t)
		count_trunc();
	uint8_t *p = s->_data + s->_used;
	*p++ = TERN__T_ATTR;
	*p++ = (uint8_t)kl;
	memcpy(p, key, kl);
	p += kl;
	*p++ = type;
	return p;
}

void tern_span_set_int(struct tern_span *s, const char *key, int64_t val)
{
	uint8_t *p = scalar_begin(s, key, 8, TERN_ATTR_INT);
	if (p == NULL)
		return;
	memcpy(p, &val, 8);
	s->_used = (uint16_t)(p + 8 - s->_data);
}

void tern_span_set_double(struct tern_span *s, const char *key, double val)
{
	uint8_t *p = scalar_begin(s, key, 8, TERN_ATTR_DOUBLE);
	if (p == NULL)
		return;
	memcpy(p, &val, 8);
	s->_used = (uint16_t)(p + 8 - s->_data);
}

void tern_span_set_bool(struct tern_span *s, const char *key, bool val)
{
	uint8_t *p = scalar_begin(s, key, 1, TERN_ATTR_BOOL);
	if (p == NULL)
		return;
	*p = val ? 1 : 0;
	s->_used = (uint16_t)(p + 1 - s->_data);
}

void tern_span_set_str(struct tern_span *s, const char *key, const char *val)
{
	if (val == NULL)
		return;
	struct tern_attr a = TERN_ATTR_STR(key, val);
	tern_span_set_attr(s, &a);
}

void tern_span_set_bytes(struct tern_span *s, const char *key, const void *p, size_t len)
{
	struct tern_attr a = { .key = key, .type = TERN_ATTR_BYTES };
	a.v.bytes.ptr = p;
	a.v.bytes.len = len;
	tern_span_set_attr(s, &a);
}

void tern_span_add_event(struct tern_span *s, const char *name, const struct tern_attr *a,
			 size_t n)
{
	if (!tern_span_is_recording(s))
		return;
	uint64_t t = tern__ticks();
	bool tr = false;
	if (name == NULL)
		name = "";
	size_t nl = bounded_len(name, TERN_NAME_MAX, &tr);
	if (n > 255)
		n = 255;
	size_t need = 1 + 8 + 1 + nl + 1;
	for (size_t i = 0; i < n; i++)
		need += attr_valid(&a[i]) ? attr_size(&a[i]) : 0;
	if (s->_used + need > TERN_SPAN_DATA) {
		count_drop(s);
		return;
	}
	if (__builtin_expect(tr, 0))
		count_trunc();
	uint8_t *p = s->_data + s->_used;
	*p++ = TERN__T_EVENT;
	memcpy(p, &t, 8);
	p += 8;
	*p++ = (uint8_t)nl;
	for (size_t i = 0; i < nl; i++)
		p[i] = (uint8_t)name[i];
	p += nl;
	if (n == 0) {
		*p++ = 0;
		s->_used = (uint16_t)(p - s->_data);
		return;
	}
	uint8_t *np = p++;
	uint8_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!attr_valid(&a[i]))
			continue;
		p = put_attr(p, &a[i]);
		k++;
	}
	*np = k;
	s->_used = (uint16_t)(p - s->_data);
}

void tern_span_add_link(struct tern_span *s, const struct tern_context *ctx,
			const struct tern_attr *a, size_t n)
{
	if (!tern_span_is_recording(s) || ctx == NULL || !ctx->valid)
		return;
	if (n > 255)
		n = 255;
	size_t tl = ctx->tracestate_len > 255 ? 0 : ctx->tracestate_len;
	size_t need = 1 + 16 + 8 + 1 + 1 + tl + 1;
	for (size_t i = 0; i < n; i++)
		need += attr_valid(&a[i]) ? attr_size(&a[i]) : 0;
	if (s->_used + need > TERN_SPAN_DATA) {
		count_drop(s);
		return;
	}
	uint8_t *p = s->_data + s->_used;
	*p++ = TERN__T_LINK;
	memcpy(p, ctx->trace_id, 16);
	p += 16;
	memcpy(p, ctx->span_id, 8);
	p += 8;
	*p++ = ctx->flags;
	*p++ = (uint8_t)tl;
	memcpy(p, ctx->tracestate, tl);
	p += tl;
	uint8_t *np = p++;
	uint8_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!attr_valid(&a[i]))
			continue;
		p = put_attr(p, &a[i]);
		k++;
	}
	*np = k;
	s->_used = (uint16_t)(p - s->_data);
}

void tern_span_set_status(struct tern_span *s, enum tern_status st, const char *msg)
{
	if (!(s->_state & TERN__ACTIVE))
		return;
	/* OK is final: later calls cannot change it (OpenTelemetry). */
	if (s->_status == TERN_STATUS_OK && st != TERN_STATUS_OK)
		return;
	s->_status = (uint8_t)st;
	if (st != TERN_STATUS_ERROR || msg == NULL || !tern_span_is_recording(s))
		return;
	bool t;
	size_t ml = bounded_len(msg, TERN_STR_MAX, &t);
	if (s->_used + 2 + ml > TERN_SPAN_DATA) {
		count_drop(s);
		return;
	}
	uint8_t *p = s->_data + s->_used;
	*p++ = TERN__T_STATUS_MSG;
	p = put_str(p, msg, TERN_STR_MAX);
	s->_used = (uint16_t)(p - s->_data);
}

void tern_span_record_error(struct tern_span *s, const char *type, const char *msg)
{
	struct tern_attr a[2];
	size_t n = 0;
	if (type != NULL)
		a[n++] = TERN_ATTR_STR("exception.type", type);
	if (msg != NULL)
		a[n++] = TERN_ATTR_STR("exception.message", msg);
	tern_span_add_event(s, "exception", a, n);
	tern_span_set_status(s, TERN_STATUS_ERROR, msg);
}

void tern_span_set_name(struct tern_span *s, const char *name)
{
	if (s->_state & TERN__ACTIVE)
		copy_name(s, name);
}

/* ---- switch and counters ------------------------------------------------------ */

void tern_enable(bool on)
{
	atomic_store(&tern__g.enabled, on);
	atomic_store(&tern__g.on, on && atomic_load(&tern__g.started));
}

bool tern_enabled(void)
{
	return atomic_load(&tern__g.on);
}

void tern_counters_get(struct tern_counters *out)
{
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&tern__g.list_mu);
	out->started = atomic_load(&tern__g.c_started);
	out->ended = atomic_load(&tern__g.c_ended);
	out->sampled = atomic_load(&tern__g.c_sampled);
	out->dropped_ring_full = atomic_load(&tern__g.c_dropped);
	out->truncated = atomic_load(&tern__g.c_truncated);
	out->attrs_dropped = atomic_load(&tern__g.c_attrs_dropped);
	for (struct tern__ring *r = tern__g.rings; r != NULL; r = r->next) {
		out->started += atomic_load_explicit(&r->started, memory_order_relaxed);
		out->ended += atomic_load_explicit(&r->ended, memory_order_relaxed);
		out->sampled += atomic_load_explicit(&r->sampled, memory_order_relaxed);
		out->dropped_ring_full += atomic_load_explicit(&r->dropped, memory_order_relaxed);
		out->truncated += atomic_load_explicit(&r->truncated, memory_order_relaxed);
		out->attrs_dropped += atomic_load_explicit(&r->attrs_dropped, memory_order_relaxed);
	}
	pthread_mutex_unlock(&tern__g.list_mu);
	out->threads = atomic_load(&tern__g.c_threads);
	out->exported = atomic_load(&tern__g.c_exported);
	out->rejected = atomic_load(&tern__g.c_rejected);
	out->export_errors = atomic_load(&tern__g.c_export_errors);
	out->export_retries = atomic_load(&tern__g.c_export_retries);
	out->export_calls = atomic_load(&tern__g.c_export_calls);
	out->dropped = out->dropped_ring_full + atomic_load(&tern__g.c_dropped_export);
}
