/*
 * internal.h: libtern's internals shared between its .c files (tern__).
 */
#ifndef TERN_INTERNAL_H
#define TERN_INTERNAL_H

#include "tern.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TERN__HAVE_TSC 1
#endif

/* _state bits of struct tern_span */
#define TERN__ACTIVE 0x01    /* begun, not ended */
#define TERN__RECORDING 0x02 /* sampled: attributes/events are kept */
#define TERN__CURRENT 0x04   /* was made current by tern_span_begin */
#define TERN__HAS_PARENT 0x08
#define TERN__REMOTE_PARENT 0x10 /* the parent came from tern_extract() */

/* Item tags in a span's data area. */
enum {
	TERN__T_ATTR = 1,
	TERN__T_EVENT = 2,
	TERN__T_LINK = 3,
	TERN__T_STATUS_MSG = 4,
	TERN__T_MEM = 5, /* heap and RSS deltas: two int64 */
};

/* A finished span in a thread ring. Followed by name, then data. */
struct tern__rec {
	uint32_t len; /* whole record, multiple of 8; 0: wrap to ring start */
	uint8_t kind, status, flags, state;
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8];
	uint64_t start, end; /* clock ticks */
	uint8_t name_len, ts_len;
	uint16_t data_len;
	uint16_t dropped;
	uint16_t _pad;
};

/* Bytes past a record that copy8() may write (kept free, and allocated
 * past the end of the buffer). */
#define TERN__RING_SLACK 8

/* One thread's single-producer single-consumer ring. */
struct tern__ring {
	/* producer side */
	_Atomic uint64_t head;
	uint64_t tail_cache;
	_Atomic uint64_t started, ended, sampled, dropped, truncated, attrs_dropped;
	char _pad1[64];
	/* consumer side */
	_Atomic uint64_t tail;
	char _pad2[56];
	uint8_t *buf;
	uint64_t size; /* power of two */
	_Atomic bool dead;
	uint32_t gen;
	struct tern__ring *next;
};

/* Per-thread state, in initial-exec TLS. */
struct tern__tls {
	struct tern__ring *ring;
	uint64_t rng[2];
	uint32_t gen;
	struct tern_span *cur;
};

extern __thread struct tern__tls tern__tls __attribute__((tls_model("initial-exec")));

/* Global state. */
struct tern__agent {
	_Atomic bool on;        /* started && enabled: the hot-path check */
	_Atomic bool started;
	_Atomic bool enabled;
	_Atomic uint32_t gen;   /* bumped by init, and in a fork child */
	struct tern_options opt;
	uint64_t ring_bytes;
	/* the clock */
	bool use_tsc;
	uint64_t tick0;
	int64_t mono0, real0;
	_Atomic double ns_per_tick;
	/* ring list */
	pthread_mutex_t list_mu;
	struct tern__ring *rings;
	pthread_key_t key;
	/* counters of freed rings and the exporter */
	_Atomic uint64_t c_started, c_ended, c_sampled, c_dropped, c_truncated,
		c_attrs_dropped, c_threads;
	_Atomic uint64_t c_exported, c_rejected, c_export_errors, c_export_retries,
		c_export_calls, c_dropped_export;
};

extern struct tern__agent tern__g;

static inline uint64_t tern__ticks(void)
{
#ifdef TERN__HAVE_TSC
	if (__builtin_expect(tern__g.use_tsc, 1))
		return __rdtsc();
#endif
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void tern__cnt_inc(_Atomic uint64_t *c)
{
	/* single writer: a plain load + store, no locked instruction */
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/* clock.c-ish helpers (span.c) */
int64_t tern__mono_ns(void);
int64_t tern__real_ns(void);
void tern__clock_init(void);
void tern__clock_refine(void);
uint64_t tern__ticks_to_unix_ns(uint64_t t);
uint64_t tern__ticks_to_ns(uint64_t dt);

/* span.c */
void tern__rings_init_once(void);
/* Adds a ring's counters to the global ones before it goes away (call
 * with tern__g.list_mu held, the ring off the list); then free it. */
void tern__ring_fold_counters(struct tern__ring *r);
void tern__ring_free(struct tern__ring *r);
uint64_t tern__rand64(void);
void tern__random_bytes(void *p, size_t n);

/* stats.c: called by the exporter thread for every drained span */
void tern__stats_record(const struct tern__rec *r, const char *name, uint64_t dur_ns,
			uint64_t end_unix_ns);
void tern__stats_init(void);
void tern__stats_lock(void);
void tern__stats_unlock(void);
void tern__stats_record_locked(const struct tern__rec *r, const char *name, uint64_t dur_ns,
			       uint64_t end_unix_ns);
void tern__stats_fork_child(void);

/* exporter.c */
int tern__exporter_start(void);
int tern__exporter_stop(uint32_t timeout_ms);
int tern__exporter_flush(uint32_t timeout_ms);
void tern__exporter_fork_child(void);

/* options.c */
int tern__parse_endpoint(const char *ep, char *out, size_t outsz, bool *tls);

#endif /* TERN_INTERNAL_H */
