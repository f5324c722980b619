/*
 * analytics.h: per-service and per-operation latency, call and error
 * statistics in ternd (docs/architecture.md, design decision 6).
 *
 * For every (service, service.version, operation, span kind, entry) and
 * every minute, ternd keeps one mergeable quantile sketch of span
 * durations (tern_sketch.h, <= 1% relative error) plus counts of calls and
 * errors. "entry" says whether the spans count for the service's own
 * latency: kind SERVER or CONSUMER, a root span, a span whose parent is in
 * another service, or one whose parent never came. Caller -> callee edges
 * between services (one call per parent -> child pair whose services
 * differ, whatever the kinds) are counted per minute too. Both are decided
 * from the trace: a child whose parent has not arrived yet waits for it.
 * Any window merges its minutes (and, for whole hours, an hourly roll-up),
 * so percentiles are never averaged.
 *
 * Persistence: each hour's minutes are written as one blob with
 * store_meta_put() together with the log position they cover; on start-up
 * col_an_load() reads them and replays the log tail after that position,
 * so a crash loses nothing and counts nothing twice (docs/analytics.md).
 * The spans waiting for a parent at a checkpoint are saved with it.
 *
 * Threads: a struct col_analytics belongs to ternd's loop thread; no
 * function here may be called from another thread at the same time.
 *
 * Errors: 0 or a negative errno.
 */
#ifndef TERN_COLLECTOR_ANALYTICS_H
#define TERN_COLLECTOR_ANALYTICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "otlp.h"
#include "store.h"
#include "tern_sketch.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The operation that collects a service's operations past the cap. */
#define COL_AN_OTHER "__other__"

struct col_an_options {
	uint32_t max_ops_per_service; /* distinct operation names; default 2000 */
	uint32_t mem_hours;           /* hours of minutes kept in memory; default 24 */
	uint32_t parent_slots;        /* recently seen spans (parents, duplicates); default 131072 */
	uint32_t checkpoint_ms;       /* how often finished data is persisted; default 10000 */
	uint32_t max_services;        /* distinct service names; past it: __other__; default 1000 */
	uint32_t settle_ms;           /* how long a child waits for its parent; default 15000 */
	uint32_t max_pending;         /* spans waiting at most; past it the oldest stops; default 100000 */
};

/** Fills *o with the defaults. */
void col_an_options_default(struct col_an_options *o);

struct col_analytics;

/** Figures for /metrics and the summary. */
struct col_an_stats {
	uint64_t spans;            /* observed */
	uint64_t overflow_spans;   /* put in __other__ by the operation cap */
	uint64_t overflow_ops;     /* distinct operation names refused by the cap */
	uint64_t unknown_parent;   /* children classified without their parent (settle or overflow) */
	uint64_t series;           /* (key, hour) series in memory */
	uint64_t hours_in_memory;
	uint64_t checkpoints;      /* completed */
	uint64_t checkpoint_errors;
	uint64_t replayed_spans;   /* counted from the log tail at start-up */
	uint64_t loaded_hours;     /* hour blobs read from disk (start-up + queries) */
	uint64_t future_spans;     /* starting over a day from now: not counted */
	uint64_t checkpoint_waits; /* ticks that found batches in flight and waited */
	uint64_t overflow_service_spans; /* resources (of spans) put in service __other__ */
	uint64_t pending;          /* spans waiting for their parent now */
	uint64_t pending_overflow; /* stopped waiting because max_pending was reached */
	uint64_t duplicate_spans;  /* seen before (trace, span id, content): not counted */
};

/** Makes empty analytics. o may be NULL (defaults). NULL when out of memory. */
struct col_analytics *col_an_new(const struct col_an_options *o);

/**
 * Frees everything. Accepts NULL. The timer must have been stopped with
 * col_an_stop() and its close callback run (i.e. call it after uv_run).
 */
void col_an_free(struct col_analytics *a);

/**
 * Counts every span of b (a batch that is now durable), once: a span seen
 * recently with the same trace id, span id and content is a duplicate and
 * not counted. A span whose parent has not been seen waits for it (at most
 * settle_ms, at most max_pending spans) and is counted when the parent
 * comes or when its wait ends (docs/analytics.md). Copies what it keeps:
 * b may be freed right after. Out of memory: the span is counted in
 * nothing (and not retried).
 */
void col_an_observe(struct col_analytics *a, const struct otlp_batch *b);

/**
 * Counts the waiting spans whose settle time has ended by now_ms (wall
 * clock, ms; 0: now; UINT64_MAX: all of them) as spans whose parent never
 * came. col_an_start() runs it on a timer. Returns how many.
 */
size_t col_an_expire(struct col_analytics *a, uint64_t now_ms);

/**
 * Binds a to its store: reads the persisted hours and replays the log
 * after the persisted position, then keeps using st for checkpoints and for
 * hours older than the in-memory window. Call once, before any
 * col_an_observe(), before ingest starts. msg receives a one-line summary.
 * Returns 0, or a negative errno (a corrupt blob is skipped and reported in
 * msg, not an error; its hour is then rebuilt only from the log tail).
 */
int col_an_load(struct col_analytics *a, struct store *st, char *msg, size_t msglen);

/**
 * Persists every hour changed since the last checkpoint, with the current
 * store_end_pos(), synchronously. The caller guarantees that every batch in
 * the log has been observed (nothing submitted and not yet acked).
 * Returns 0, -ENOTCONN without a store, or the store's I/O error.
 */
int col_an_checkpoint(struct col_analytics *a);

/**
 * Starts the periodic checkpoint on loop: every checkpoint_ms, when
 * quiescent(arg) says no batch is between submit and ack, the changed hours
 * are snapshotted on the loop and written on the thread pool. Also evicts
 * hours older than mem_hours that are persisted. 0 or a libuv error.
 */
int col_an_start(struct col_analytics *a, uv_loop_t *loop, bool (*quiescent)(void *arg),
		 void *arg);

/**
 * Stops the timer, waits for a checkpoint being written, then writes a
 * last one if quiescent(arg) holds, and calls done(arg2) on the loop
 * (possibly from inside this call). The store must stay open until done
 * runs.
 */
void col_an_stop(struct col_analytics *a, void (*done)(void *arg), void *arg);

/**
 * Parses one hour blob (the bytes store_meta_get returns for an-h-*) into
 * throwaway state and frees it: for fuzzing and tests. The bytes are
 * untrusted. Returns 0, -EINVAL (malformed) or -ENOMEM. Any thread.
 */
int col_an_parse_blob(const uint8_t *p, size_t n);

/** Copies the current figures. */
void col_an_get_stats(const struct col_analytics *a, struct col_an_stats *st);

/**
 * Prometheus text of the figures (works like snprintf; buf may be NULL
 * when len is 0). For col_metrics_add_extra(); arg is the analytics.
 * Reads counters the loop thread writes: call it on the loop thread.
 */
size_t col_an_render_metrics(void *arg, char *buf, size_t len);

/* ---- queries ---- */

/* Which spans a query takes. NULL / -1 fields match everything. */
struct col_an_filter {
	const char *service;
	const char *operation;
	const char *version;
	int kind;        /* enum otlp_span_kind, or -1 */
	bool entry_only; /* only the spans that count for service latency */
	unsigned kinds;  /* if not 0: bit (1 << kind) per accepted kind (OR) */
};

/* How rows are grouped: OR of these (0: one row for everything). */
#define COL_AN_G_SERVICE 1u
#define COL_AN_G_OPERATION 2u
#define COL_AN_G_KIND 4u
#define COL_AN_G_VERSION 8u
#define COL_AN_G_ENTRY 16u /* entry spans apart from the others */

struct col_an_row {
	const char *service;   /* NULL when not grouped by it; valid while a lives */
	const char *operation;
	const char *version;
	int kind;              /* -1 when not grouped by it */
	int entry;             /* 0/1 with COL_AN_G_ENTRY, else -1 */
	uint64_t calls;
	uint64_t errors;
	struct tern_sketch *sk; /* durations in ns; owned by the result */
};

struct col_an_result {
	struct col_an_row *rows;
	size_t n;
};

/**
 * Merges every minute whose start lies in [start_ns, end_ns) for the spans
 * f selects, grouped by group. Hours outside the memory window are read
 * from the store. Rows are in no particular order. out is freed with
 * col_an_result_free(). Returns 0, -ENOMEM, or -EIO when a persisted hour
 * could not be read (its data is then missing from the answer).
 */
int col_an_query(struct col_analytics *a, const struct col_an_filter *f, uint64_t start_ns,
		 uint64_t end_ns, unsigned group, struct col_an_result *out);

/**
 * Merges the rows of in (from col_an_query) into coarser rows: group must
 * be a subset of in's grouping; entry_only keeps only rows with entry 1
 * (in must be grouped with COL_AN_G_ENTRY then). Cheaper than a second
 * query. out is freed with col_an_result_free(). 0 or -ENOMEM.
 */
int col_an_regroup(const struct col_an_result *in, unsigned group, bool entry_only,
		   struct col_an_result *out);

/** Frees a result. Accepts a zeroed one. */
void col_an_result_free(struct col_an_result *r);

struct col_an_edge {
	const char *parent; /* valid while a lives */
	const char *child;
	uint64_t calls;
	uint64_t errors; /* of calls, those whose child span had status ERROR */
};

/**
 * Caller -> callee service edges with call and error counts over the
 * minutes in [start_ns, end_ns). *edges malloc'ed (caller frees), *n its length.
 * 0, -ENOMEM or -EIO as col_an_query().
 */
int col_an_deps(struct col_analytics *a, uint64_t start_ns, uint64_t end_ns,
		struct col_an_edge **edges, size_t *n);

/**
 * Service names with data in [start_ns, end_ns) (any minute), sorted,
 * as pointers valid while a lives; *out malloc'ed. 0 or -ENOMEM.
 */
int col_an_services(struct col_analytics *a, uint64_t start_ns, uint64_t end_ns,
		    const char ***out, size_t *n);

/** "server", "client", ... for a span kind ("unspecified" for others). */
const char *col_an_kind_name(int kind);

/** Parses a kind name as col_an_kind_name() writes it. -1 if unknown. */
int col_an_kind_parse(const char *s);

#ifdef __cplusplus
}
#endif

#endif /* TERN_COLLECTOR_ANALYTICS_H */
