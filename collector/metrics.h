/*
 * metrics.h: ternd's counters and the memory limit. Every field is atomic:
 * receivers update them from the gRPC completion-queue thread and the loop.
 */
#ifndef TERN_COLLECTOR_METRICS_H
#define TERN_COLLECTOR_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum col_metric_proto { COL_M_GRPC = 0, COL_M_HTTP, COL_M_NPROTO };

enum col_outcome {
	COL_OUT_OK = 0,   /* every span accepted */
	COL_OUT_PARTIAL,  /* accepted, some spans rejected by limits */
	COL_OUT_INVALID,  /* undecodable, bad media type, too large */
	COL_OUT_REFUSED,  /* memory limit, queue full, pipeline refused */
	COL_OUT_N,
};

/* Why a request was refused (retryable) or turned down (not retryable). */
enum col_reason {
	COL_WHY_MEMORY = 0, /* --memory-limit reached: retry */
	COL_WHY_QUEUE,      /* --max-queued-batches reached: retry */
	COL_WHY_SHUTDOWN,   /* draining: retry elsewhere or later */
	COL_WHY_UNAVAILABLE, /* out of memory, the store failing: retry */
	COL_WHY_INVALID,    /* undecodable, bad media type: do not retry */
	COL_WHY_TOO_LARGE,  /* too big or too many (inflated size, events...): do not retry */
	COL_WHY_UNAUTHENTICATED, /* no or wrong bearer token: do not retry */
	COL_WHY_N,
};

/* At most one event a second passes (for log lines); any thread. */
struct col_ratelimit {
	_Atomic uint64_t last_ms;
	_Atomic uint64_t skipped;
};

/**
 * True at most once a second per rl; *skipped gets how many calls returned
 * false since the last true. Zero-initialise rl. Any thread.
 */
bool col_ratelimit_ok(struct col_ratelimit *rl, uint64_t *skipped);

struct col_metrics {
	_Atomic uint64_t spans_received;  /* spans in decoded requests */
	_Atomic uint64_t spans_accepted;  /* acked by the pipeline */
	_Atomic uint64_t spans_rejected;  /* left out by limits (partial_success) */
	_Atomic uint64_t spans_refused;   /* decoded but refused (retryable) */
	_Atomic uint64_t bytes_received;  /* request bytes as received on the wire */
	_Atomic uint64_t requests[COL_M_NPROTO][COL_OUT_N];
	_Atomic uint64_t reasons[COL_M_NPROTO][COL_WHY_N]; /* refused or turned down, by why */
	_Atomic uint64_t conns_refused;   /* connections closed at once by a listener */
	_Atomic uint64_t conns_evicted;   /* HTTP connections closed for what they held */
	struct col_ratelimit log_rl[COL_WHY_N]; /* col_metrics_should_log() */
	_Atomic uint64_t queue_depth;     /* batches submitted and not yet acked */
	_Atomic uint64_t mem_used;        /* accounted bytes in flight */
	uint64_t mem_limit;               /* set once at start */
	struct {                          /* more text from other components */
		size_t (*fn)(void *arg, char *buf, size_t len);
		void *arg;
	} extra[4];
	unsigned n_extra;
};

/*
 * A bounded text writer for metric renderers: put() writes what fits and
 * counts everything, so a renderer can return the size it needed (the
 * caller retries with a bigger buffer).
 */
struct col_text {
	char *buf;
	size_t len, off;
};

/** Appends printf-style text to o (see struct col_text). */
void col_text_put(struct col_text *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Adds a function whose Prometheus text col_metrics_render() appends (fn
 * works like snprintf: returns the length it needed). Call before serving
 * /metrics (not thread-safe); fn itself must be safe on any thread.
 * Returns 0 or -ENOSPC (4 at most).
 */
int col_metrics_add_extra(struct col_metrics *m, size_t (*fn)(void *arg, char *buf, size_t len),
			  void *arg);

/** Zeroes m and sets the memory limit. */
void col_metrics_init(struct col_metrics *m, uint64_t mem_limit);

/**
 * Reserves n bytes against the memory limit. Returns false (nothing
 * reserved) when used + n would exceed the limit. Any thread.
 */
bool col_mem_reserve(struct col_metrics *m, uint64_t n);

/** Returns n bytes reserved earlier. Any thread. */
void col_mem_release(struct col_metrics *m, uint64_t n);

/** Counts one finished request. Any thread. */
void col_metrics_request(struct col_metrics *m, enum col_metric_proto p,
			 enum col_outcome o);

/**
 * Counts one request refused or turned down for why (and its outcome:
 * COL_OUT_REFUSED for load, COL_OUT_INVALID for what the request is). Any
 * thread.
 */
void col_metrics_reason(struct col_metrics *m, enum col_metric_proto p, enum col_reason why);

/**
 * Rate limit for the log line about a refusal: true at most once a second
 * per why (any thread); *suppressed gets how many were not logged since the
 * last true.
 */
bool col_metrics_should_log(struct col_metrics *m, enum col_reason why, uint64_t *suppressed);

/** The label of why in /metrics ("memory", "too_large", ...). */
const char *col_reason_name(enum col_reason why);

/**
 * Writes the Prometheus text exposition of m into buf (NUL-terminated,
 * truncated to len). Returns the length it needed, like snprintf; call
 * again with a larger buffer if that is >= len. Any thread.
 */
size_t col_metrics_render(const struct col_metrics *m, char *buf, size_t len);

#endif /* TERN_COLLECTOR_METRICS_H */
