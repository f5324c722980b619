/*
 * tern.h: libtern, tern's in-process span agent.
 *
 *   tern_init(NULL);                       // options from OTEL_* variables
 *   ...
 *   struct tern_span s;
 *   tern_span_begin(&s, "handle_request", TERN_KIND_SERVER);
 *   tern_span_set_int(&s, "http.status_code", 200);
 *   tern_span_end(&s);
 *   ...
 *   tern_shutdown(5000);
 *
 * Spans live in memory the caller owns (a struct tern_span on the stack, or
 * embedded in a request struct for asynchronous code). Recording a span
 * takes no lock, makes no malloc and no syscall: the finished span is
 * copied in a compact form into a per-thread ring buffer, and one
 * background thread turns rings into OTLP batches, keeps the local
 * statistics and exports over OTLP/gRPC. When a ring is full the span is
 * dropped and counted; the application never blocks.
 *
 * Threads: every function may be called from any thread. A struct
 * tern_span is used by one thread at a time (it may be begun on one thread
 * and ended on another, with a hand-off the caller synchronises).
 *
 * fork(): the child starts disabled (every call a no-op, nothing is
 * exported) because the exporter thread and the gRPC channel do not
 * survive fork. Call tern_init() after fork() in pre-forking servers.
 */
#ifndef TERN_H
#define TERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libtern is built with -fvisibility=hidden: what this header declares is
 * its API, and all it exports. */
#pragma GCC visibility push(default)

/* ---- options ---------------------------------------------------------- */

enum tern_sampler {
	TERN_SAMPLER_ALWAYS_ON = 0,
	TERN_SAMPLER_ALWAYS_OFF,
	TERN_SAMPLER_TRACEIDRATIO,
	TERN_SAMPLER_PARENTBASED_ALWAYS_ON, /* the OpenTelemetry default */
	TERN_SAMPLER_PARENTBASED_ALWAYS_OFF,
	TERN_SAMPLER_PARENTBASED_TRACEIDRATIO,
};

/* Called (from the exporter thread) once per span over its slow
 * threshold. The line has no trailing newline. */
typedef void (*tern_log_fn)(void *arg, const char *line);

struct tern_options {
	const char *service_name;        /* OTEL_SERVICE_NAME; "unknown_service" */
	const char *resource_attributes; /* OTEL_RESOURCE_ATTRIBUTES "k=v,k2=v2" */
	const char *endpoint;            /* OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT; http://localhost:4317
					    (https:// = TLS, see certificate) */
	const char *headers;             /* OTEL_EXPORTER_OTLP_(TRACES_)HEADERS "k=v,k2=v2" */
	bool gzip;                       /* OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION=gzip */
	uint32_t export_timeout_ms;      /* OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT; 10000: one call */
	uint32_t bsp_export_timeout_ms;  /* OTEL_BSP_EXPORT_TIMEOUT; 30000: one batch, retries included */
	enum tern_sampler sampler;       /* OTEL_TRACES_SAMPLER; parentbased_always_on */
	double sampler_arg;              /* OTEL_TRACES_SAMPLER_ARG; 1.0 */
	uint32_t schedule_delay_ms;      /* OTEL_BSP_SCHEDULE_DELAY; 5000 */
	uint32_t max_queue_size;         /* OTEL_BSP_MAX_QUEUE_SIZE; 2048 spans per thread ring
					    (ring bytes: next power of two of 128 x this) */
	uint32_t max_export_batch_size;  /* OTEL_BSP_MAX_EXPORT_BATCH_SIZE; 512 */
	bool disabled;                   /* OTEL_SDK_DISABLED=true: start disabled */
	uint64_t slow_threshold_ns;      /* TERN_SLOW_THRESHOLD_MS; 0 = off */
	tern_log_fn log;                 /* slow-call reports; NULL = one line on stderr */
	void *log_arg;
	bool memory_delta;               /* TERN_MEMORY_DELTA=1: heap/RSS delta attributes */
	bool export_enabled;             /* false: local stats only, no exporter */
	uint32_t poll_interval_ms;       /* how often the exporter drains rings; 10 */
	const char *certificate;         /* OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE: PEM file of
					    the root certificates for an https:// endpoint;
					    NULL = gRPC's default roots */
};

/**
 * Fills *o with the defaults, taken from the OpenTelemetry environment
 * variables where they are set (strings point into the environment).
 * Invalid values are ignored (the built-in default is kept).
 * Thread-safe as long as nobody modifies the environment meanwhile.
 */
void tern_options_default(struct tern_options *o);

/**
 * Starts the agent: copies the options (o == NULL: tern_options_default())
 * and starts the exporter thread. Returns 0, -EALREADY if already started,
 * -EINVAL for a bad option (endpoint, sampler argument), -ENOMEM, or
 * another negative errno when the thread could not start.
 * Before tern_init(), spans are no-ops.
 */
int tern_init(const struct tern_options *o);

/**
 * Stops the agent: flushes every span recorded so far (waiting at most
 * timeout_ms for the export), stops the exporter thread and frees its
 * resources. Afterwards spans are no-ops until tern_init() again. May be
 * called from any thread, once all spans being recorded have ended.
 * Returns 0, -ETIMEDOUT when the time ran out before every span was
 * exported (those left are counted as dropped; spans the collector refused
 * are counted too, as always), or -EINVAL when not started (or already stopped by
 * a concurrent call). Not from the log callback (it runs on the exporter
 * thread, which shutdown joins).
 */
int tern_shutdown(uint32_t timeout_ms);

/**
 * Exports everything recorded before the call and updates the local
 * statistics; waits at most timeout_ms. Returns 0, -ETIMEDOUT, or -EINVAL
 * when not started. Do not call it from the log callback.
 */
int tern_flush(uint32_t timeout_ms);

/** Runtime switch: false makes every span call a near-free no-op (a span
 * begun before and ended while disabled is discarded, and so not counted
 * as ended). Thread-safe; any thread. */
void tern_enable(bool on);
/** Whether spans are being recorded now (started and enabled). */
bool tern_enabled(void);

/* ---- spans ------------------------------------------------------------- */

enum tern_span_kind {
	TERN_KIND_INTERNAL = 1,
	TERN_KIND_SERVER = 2,
	TERN_KIND_CLIENT = 3,
	TERN_KIND_PRODUCER = 4,
	TERN_KIND_CONSUMER = 5,
};

enum tern_status {
	TERN_STATUS_UNSET = 0,
	TERN_STATUS_OK = 1,
	TERN_STATUS_ERROR = 2,
};

#define TERN_FLAG_SAMPLED 0x01

/* A span context: what crosses threads and processes. */
struct tern_context {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t flags;   /* W3C trace-flags; TERN_FLAG_SAMPLED */
	bool valid;      /* non-zero ids */
	bool remote;     /* came from tern_extract() */
	uint16_t tracestate_len;
	char tracestate[512]; /* validated W3C tracestate, NUL-terminated */
};

enum tern_attr_type {
	TERN_ATTR_STRING = 1,
	TERN_ATTR_BOOL,
	TERN_ATTR_INT,
	TERN_ATTR_DOUBLE,
	TERN_ATTR_BYTES,
	TERN_ATTR_STRING_ARRAY,
	TERN_ATTR_BOOL_ARRAY,
	TERN_ATTR_INT_ARRAY,
	TERN_ATTR_DOUBLE_ARRAY,
};

/* One attribute, for events, links and tern_span_set_attr(). */
struct tern_attr {
	const char *key;
	enum tern_attr_type type;
	union {
		const char *s; /* STRING: NUL-terminated */
		bool b;
		int64_t i;
		double d;
		struct {
			const void *ptr;
			size_t len;
		} bytes;
		struct {
			const void *ptr; /* const char *const[], bool[], int64_t[], double[] */
			size_t n;
		} array;
	} v;
};

#define TERN_ATTR_STR(k, x) ((struct tern_attr){ .key = (k), .type = TERN_ATTR_STRING, .v.s = (x) })
#define TERN_ATTR_INT(k, x) ((struct tern_attr){ .key = (k), .type = TERN_ATTR_INT, .v.i = (x) })
#define TERN_ATTR_DBL(k, x) ((struct tern_attr){ .key = (k), .type = TERN_ATTR_DOUBLE, .v.d = (x) })
#define TERN_ATTR_BOOL(k, x) ((struct tern_attr){ .key = (k), .type = TERN_ATTR_BOOL, .v.b = (x) })

/* Limits of the compact in-span form. Longer strings are truncated and a
 * span whose data area is full drops further attributes/events/links; both
 * are counted (tern_counters). */
#define TERN_SPAN_DATA 448
#define TERN_NAME_MAX 63
#define TERN_STR_MAX 127
#define TERN_KEY_MAX 63

/*
 * A span being recorded. The caller owns the memory; the fields are
 * private. A span whose recording was declined (agent stopped or
 * disabled, sampler said drop and stats need nothing, ...) is still safe
 * to pass to every function.
 */
struct tern_span {
	uint8_t _trace_id[16];
	uint8_t _span_id[8];
	uint8_t _parent_id[8];
	uint8_t _flags;    /* W3C flags */
	uint8_t _state;    /* 0 inactive, else TERN__ACTIVE | ... */
	uint8_t _kind;
	uint8_t _status;
	uint8_t _name_len;
	uint8_t _ts_len;   /* tracestate bytes at the start of _data */
	uint16_t _used;    /* bytes used in _data */
	uint16_t _dropped; /* attributes/events/links that did not fit */
	uint64_t _start;   /* raw clock ticks */
	struct tern_span *_prev; /* the current span before this one */
	int64_t _mem0[2];  /* heap/RSS at begin when memory_delta is on */
	char _name[TERN_NAME_MAX + 1];
	uint8_t _data[TERN_SPAN_DATA];
};

/**
 * Begins a span whose parent is the thread's current span (or a new trace
 * when there is none) and makes it the current span. No lock, no malloc,
 * no syscall. name is copied (up to TERN_NAME_MAX bytes).
 */
void tern_span_begin(struct tern_span *s, const char *name, enum tern_span_kind kind);

/**
 * Begins a span with an explicit parent (parent == NULL or !parent->valid:
 * a new trace). It does NOT become the thread's current span: this is the
 * form for asynchronous code (callbacks, thread pools), which carries a
 * struct tern_context from the place the work was started.
 */
void tern_span_begin_ctx(struct tern_span *s, const char *name, enum tern_span_kind kind,
			 const struct tern_context *parent);

/**
 * Ends the span: takes the end time, copies it into the thread's ring and,
 * if it was current, makes its parent current again. Ending twice is a
 * no-op.
 */
void tern_span_end(struct tern_span *s);

/** Whether the span is recording (begun, sampled: attributes etc. are kept). */
bool tern_span_is_recording(const struct tern_span *s);

/** Copies the span's context into *out (invalid when the span is not
 * active): for children on other threads, or for tern_inject(). */
void tern_span_context(const struct tern_span *s, struct tern_context *out);

/** Copies the calling thread's current span context into *out (invalid
 * when there is none). */
void tern_current_context(struct tern_context *out);

/** Makes s the calling thread's current span (implicit parent of
 * tern_span_begin) and returns the previous one; s must stay valid until
 * tern_span_restore_current(). */
struct tern_span *tern_span_make_current(struct tern_span *s);
/** Restores the current span tern_span_make_current() returned. */
void tern_span_restore_current(struct tern_span *prev);

/**
 * Attribute setters. key and val are copied (keys up to TERN_KEY_MAX,
 * strings/bytes up to TERN_STR_MAX bytes: longer ones are truncated and
 * counted). No-ops when the span is not recording; an attribute that does
 * not fit the span's data area is dropped and counted. No lock, no malloc.
 * The span must not be used by two threads at once.
 */
void tern_span_set_str(struct tern_span *s, const char *key, const char *val);
/** As tern_span_set_str(), for an int64 value. */
void tern_span_set_int(struct tern_span *s, const char *key, int64_t val);
/** As tern_span_set_str(), for a double value. */
void tern_span_set_double(struct tern_span *s, const char *key, double val);
/** As tern_span_set_str(), for a bool value. */
void tern_span_set_bool(struct tern_span *s, const char *key, bool val);
/** As tern_span_set_str(), for bytes (p may be NULL when len is 0). */
void tern_span_set_bytes(struct tern_span *s, const char *key, const void *p, size_t len);
/** Any attribute type, arrays included (at most 255 elements kept); a
 * malformed attribute (NULL key or value) is ignored. */
void tern_span_set_attr(struct tern_span *s, const struct tern_attr *a);

/** Adds an event timestamped now, with n attributes (a may be NULL when
 * n == 0; at most 255). Everything is copied; an event that does not fit
 * is dropped whole and counted. */
void tern_span_add_event(struct tern_span *s, const char *name, const struct tern_attr *a,
			 size_t n);

/** Adds a link to another span context (ignored when ctx is invalid),
 * with n attributes; copied like events. */
void tern_span_add_link(struct tern_span *s, const struct tern_context *ctx,
			const struct tern_attr *a, size_t n);

/** Sets the status; msg (may be NULL, copied) is kept only for
 * TERN_STATUS_ERROR. Once OK, the status no longer changes. */
void tern_span_set_status(struct tern_span *s, enum tern_status st, const char *msg);

/**
 * Records an error: an "exception" event with exception.type and
 * exception.message, and status ERROR with msg.
 */
void tern_span_record_error(struct tern_span *s, const char *type, const char *msg);

/** Renames the span (e.g. once the route is known); name is copied. */
void tern_span_set_name(struct tern_span *s, const char *name);

/**
 * Moves the start of an active span to ns nanoseconds before now, for work
 * that began before tern_span_begin() could run: a profiler hook that
 * learns a call was slow only when it returns, a request found late in a
 * queue. No-op when the span is not active. No lock, no syscall; the span
 * must not be used by two threads at once.
 */
void tern_span_backdate(struct tern_span *s, uint64_t ns);

/* Scoped span: ends when the enclosing block is left, return included.
 *   TERN_SPAN_SCOPE(sp, "parse", TERN_KIND_INTERNAL);
 *   tern_span_set_int(&sp, "bytes", n);
 */
/* Used by TERN_SPAN_SCOPE: ends the span. Not for direct use (inline, so
 * that libtern exports nothing but its API). */
static inline void tern__span_cleanup(struct tern_span *s)
{
	tern_span_end(s);
}
#define TERN_SPAN_SCOPE(var, name, kind)                                          \
	struct tern_span var __attribute__((cleanup(tern__span_cleanup)));        \
	tern_span_begin(&var, (name), (kind))
/* A span named after the function, for the whole function body. */
#define TERN_FUNC_SPAN() TERN_SPAN_SCOPE(tern__fn_span_, __func__, TERN_KIND_INTERNAL)

/* ---- propagation (W3C trace context) ----------------------------------- */

/* Looks up a header (case-insensitive name); returns NULL when absent.
 * The string must stay valid until tern_extract() returns. */
typedef const char *(*tern_getter_fn)(void *carrier, const char *name);
/* Sets a header on the carrier. */
typedef void (*tern_setter_fn)(void *carrier, const char *name, const char *value);

/**
 * Writes `traceparent` (and `tracestate` when not empty) for ctx through
 * set. Does nothing when ctx is invalid.
 */
void tern_inject(const struct tern_context *ctx, tern_setter_fn set, void *carrier);

/**
 * Reads `traceparent` and `tracestate` through get into *out. Returns 0
 * (out->valid, out->remote set), or -EINVAL when traceparent is absent or
 * invalid per W3C (then *out is invalid and tracestate is ignored). An
 * invalid tracestate alone is dropped (out->tracestate_len == 0).
 */
int tern_extract(tern_getter_fn get, void *carrier, struct tern_context *out);

/** Parses one traceparent value (len bytes, optional whitespace around)
 * into *out. Returns 0, or -EINVAL with *out invalid. Pure function. */
int tern_traceparent_parse(const char *s, size_t len, struct tern_context *out);
/** Formats ctx as a version-00 traceparent (55 chars + NUL into out). */
void tern_traceparent_format(const struct tern_context *ctx, char out[56]);
/**
 * Validates a tracestate value (W3C: at most 32 list-members, keys and
 * values of the allowed characters and lengths, no duplicate keys) and
 * copies it, without optional whitespace, into out (NUL-terminated).
 * Returns the length, or -EINVAL (invalid, or longer than outsz - 1).
 */
int tern_tracestate_parse(const char *s, size_t len, char *out, size_t outsz);

/**
 * The OpenTelemetry sampling decision for a new span: whether a span with
 * this trace id and parent would be sampled by sampler with arg. Pure
 * function, exposed for tests and for services that decide upstream.
 */
bool tern_sampler_should_sample(enum tern_sampler sampler, double arg,
				const uint8_t trace_id[16], const struct tern_context *parent);

/* ---- counters ------------------------------------------------------------ */

struct tern_counters {
	uint64_t started;         /* spans begun while enabled */
	uint64_t ended;           /* spans ended (sampled or not) */
	uint64_t sampled;         /* ended spans the sampler kept */
	uint64_t exported;        /* spans the collector accepted */
	uint64_t dropped;         /* spans lost: ring full, export failed, shutdown timeout */
	uint64_t dropped_ring_full;
	uint64_t rejected;        /* spans the collector reported in partial_success */
	uint64_t export_errors;   /* export calls that failed after retries */
	uint64_t export_retries;
	uint64_t export_calls;
	uint64_t truncated;       /* strings cut to the limits */
	uint64_t attrs_dropped;   /* attributes/events/links that did not fit a span */
	uint64_t threads;         /* thread rings registered so far */
};

/** Reads the counters (they count since the process started; each field
 * is consistent on its own, not all together). Thread-safe. */
void tern_counters_get(struct tern_counters *out);

/* ---- local statistics ----------------------------------------------------- */

struct tern_stats {
	char name[TERN_NAME_MAX + 1];
	uint64_t count;
	uint64_t errors;
	uint64_t total_ns, min_ns, max_ns, avg_ns;
	uint64_t p50_ns, p75_ns, p90_ns, p95_ns, p99_ns; /* within 1% */
};

enum tern_stats_order {
	TERN_BY_AVG = 0,
	TERN_BY_P99,
	TERN_BY_MAX,
	TERN_BY_TOTAL,
	TERN_BY_COUNT, /* most called */
};

/**
 * Statistics of every ended span (sampled or not) named name, as of the
 * last time the exporter thread drained the rings (tern_flush() forces
 * that). Returns 0, or -ENOENT when no span of that name was seen.
 */
int tern_stats_get(const char *name, struct tern_stats *out);

/**
 * Calls fn once per span name (in no particular order) with a snapshot;
 * stops early when fn returns non-zero, and returns that value. fn must
 * not call other tern_stats_* functions.
 */
int tern_stats_foreach(int (*fn)(const struct tern_stats *st, void *arg), void *arg);

/**
 * Fills out[0..n) with the top span names by order (descending); returns
 * how many were written.
 */
size_t tern_stats_top(enum tern_stats_order order, struct tern_stats *out, size_t n);

/** Forgets every statistic and the slow-call list (not the thresholds). */
void tern_stats_reset(void);

/** Prints a table of every span name sorted by order to f. Returns 0,
 * -EIO when writing failed, or -ENOMEM. */
int tern_stats_fprint(FILE *f, enum tern_stats_order order);

/** Spans whose name did not fit the table (4096 names): not tracked. */
uint64_t tern_stats_overflow(void);

/* ---- slow calls -------------------------------------------------------- */

/** Sets the global slow threshold (0: off). Thread-safe. */
void tern_slow_threshold_set(uint64_t ns);
/** Per-name override (0: never slow for that name); name is copied.
 * Returns 0, or -ENOMEM when 256 overrides exist. Thread-safe. */
int tern_slow_threshold_set_for(const char *name, uint64_t ns);
/** Replaces the slow-call log callback (NULL: one line on stderr). The
 * callback runs on the exporter thread, without the stats lock held. */
void tern_set_log(tern_log_fn fn, void *arg);

struct tern_slow_call {
	char name[TERN_NAME_MAX + 1];
	uint64_t duration_ns;
	uint64_t threshold_ns;
	uint64_t end_unix_ns;
	uint8_t trace_id[16];
	uint8_t span_id[8];
};

#define TERN_SLOW_KEEP 64

/**
 * Copies the most recent slow calls (newest first, at most TERN_SLOW_KEEP)
 * into out[0..n); returns how many were written.
 */
size_t tern_slow_calls(struct tern_slow_call *out, size_t n);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif /* TERN_H */
