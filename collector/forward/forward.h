/*
 * forward.h: ternd's forwarders. Each forwarder is a cursor over the
 * store's segment log (decision 5: the log is the queue) and a thread that
 * reads durable records from it, filters them, splits them by destination
 * and sends them as OTLP Export requests (gRPC or HTTP/protobuf) to one or
 * more endpoints. The cursor moves, and is saved durably with
 * store_meta_put(), only once every span of a read unit was acknowledged
 * (or given up on, counted). Details and guarantees: docs/forwarding.md.
 *
 * This header is light on purpose (config.h includes it): no gRPC, no uv.
 */
#ifndef TERN_COLLECTOR_FORWARD_H
#define TERN_COLLECTOR_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COL_FWD_MAX 8            /* forwarders per ternd */
#define COL_FWD_MAX_ENDPOINTS 8  /* gateways one forwarder routes over */
#define COL_FWD_MAX_HEADERS 8
#define COL_FWD_MAX_SERVICES 16

enum col_fwd_protocol {
	COL_FWD_GRPC = 0,  /* OTLP/gRPC, unary Export */
	COL_FWD_HTTP,      /* OTLP/HTTP, application/x-protobuf, POST path */
};

struct col_fwd_header {
	char name[64];     /* lowercase for gRPC metadata */
	char value[448];
};

/* One forwarder, as configured. Plain data: copyable. */
struct col_fwd_config {
	char name[48];     /* [A-Za-z0-9._-]; cursor key "fwd-NAME" */
	enum col_fwd_protocol protocol;
	char endpoints[COL_FWD_MAX_ENDPOINTS][256]; /* HOST:PORT each */
	uint32_t n_endpoints;  /* > 1: route by trace id (col_fwd_route) */
	bool per_endpoint_cursors; /* > 1 endpoints: one cursor (and thread) per
				      endpoint, "NAME.K", so one endpoint down
				      does not hold back the others; each reads
				      the whole log */
	char path[128];        /* HTTP only; default /v1/traces */
	struct col_fwd_header headers[COL_FWD_MAX_HEADERS];
	uint32_t n_headers;
	bool gzip;
	bool tls;              /* TLS (grpcs://, https://); server certificate verified */
	char ca_file[256];     /* TLS: PEM roots; "" = the system's (gRPC's, libcurl's) */
	char cert_file[256];   /* TLS: PEM client certificate; needs key_file */
	char key_file[256];    /* TLS: PEM private key of cert_file */
	uint32_t timeout_ms;   /* per call, whole call; default 10000 */
	uint32_t connect_timeout_ms; /* HTTP: TCP + TLS handshake; default 5000 (<= timeout_ms) */
	uint32_t batch_spans;  /* at most this many spans per request; default 4096 */
	uint32_t max_request_bytes; /* larger requests are split; default 4000000 */
	uint32_t concurrency;  /* read units in flight; default 4 (HTTP: also connections per endpoint) */
	uint32_t max_backoff_ms; /* default 30000; the first retry waits 100 ms */
	char services[COL_FWD_MAX_SERVICES][128]; /* forward only these service.name (none: all) */
	uint32_t n_services;
	double sample_ratio;   /* 0..1, by trace id (col_fwd_sampled); default 1 */
};

/** Fills c with the defaults (no endpoint, name "forward"). */
void col_fwd_config_default(struct col_fwd_config *c);

/**
 * Parses a forwarder URL into c (after defaults): "grpc://HOST:PORT",
 * "grpcs://HOST:PORT" (gRPC over TLS),
 * "http://HOST:PORT[/path]" (OTLP/HTTP protobuf, default path /v1/traces),
 * "https://HOST:PORT[/path]" (the same over TLS),
 * or a bare "HOST:PORT" (gRPC). Several gateways: comma-separated
 * "grpc://a:4317,b:4317". Query parameters set the other fields:
 * "?gzip=1&timeout_ms=5000&connect_timeout_ms=1000&batch_spans=2048&max_request_bytes=1000000&
 * concurrency=2&sample=0.5&
 * service=a&service=b&name=jaeger&header=key:value". c may be NULL to only
 * validate. Returns 0 or -EINVAL with a message in err.
 */
int col_fwd_config_parse_url(struct col_fwd_config *c, const char *url, char *err,
			     size_t errlen);

/**
 * Sets one field of c by its YAML key ("endpoint", "endpoints" entries,
 * "protocol", "headers" entries as "name: value", "gzip", "tls", "ca_file", "cert_file",
 * "key_file", "timeout_ms", "connect_timeout_ms",
 * "batch_spans", "max_request_bytes", "concurrency", "max_backoff_ms", "service", "sample",
 * "name", "path", "url"). Returns 0, -ENOENT (unknown key) or -EINVAL
 * (message in err). For lists, each call appends one item.
 */
int col_fwd_config_set(struct col_fwd_config *c, const char *key, const char *value,
		       char *err, size_t errlen);

/** Checks a finished config (endpoint present, name valid). 0 or -EINVAL + err. */
int col_fwd_config_check(const struct col_fwd_config *c, char *err, size_t errlen);

struct col_ydoc;
struct yaml_node_s;

/**
 * Reads the value of the YAML key "forwarders" (node value of document d,
 * yaml_tree.h): a sequence of mappings, one per forwarder, whose keys are
 * col_fwd_config_set()'s ("endpoints" and "services" may be sequences,
 * "headers" a mapping; "url" may set everything at once). Appends to
 * cfg[*n] (at most COL_FWD_MAX). Returns 0 or -EINVAL with "FILE:LINE:
 * forwarders: what" in err.
 */
int col_fwd_config_yaml(struct col_ydoc *d, struct yaml_node_s *value,
			struct col_fwd_config *cfg, uint32_t *n, char *err, size_t errlen);

/*
 * The routing and sampling functions: the same on every ternd, documented
 * in docs/forwarding.md so other tools can reproduce them.
 *   hi, lo = the trace id's first and last 8 bytes, big-endian.
 *   route:  splitmix64 finaliser of (hi ^ lo), modulo n.
 *   sample: lo & (2^56 - 1) (the W3C "random" low 7 bytes) < ratio * 2^56.
 */

/** Destination index in [0, n) for a trace id. n >= 1. */
unsigned col_fwd_route(const uint8_t trace_id[16], unsigned n);

/** Whether a trace is kept by sampling at ratio (>= 1: always; <= 0: never). */
bool col_fwd_sampled(const uint8_t trace_id[16], double ratio);

/**
 * Retry delay after `attempt` failed attempts (1 = first retry): uniform in
 * [d/2, d] with d = min(100 ms * 2^(attempt-1), max_ms), and never less
 * than hint_ms (a server's RetryInfo / Retry-After; < 0 none) capped at
 * max_ms. rnd is any 64-bit random value. Pure function.
 */
uint64_t col_fwd_backoff_ms(unsigned attempt, uint64_t max_ms, int64_t hint_ms, uint64_t rnd);

/**
 * Whether a gRPC status is retried (OTLP spec): UNAVAILABLE, CANCELLED,
 * DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS, and
 * RESOURCE_EXHAUSTED only when the server sent RetryInfo.
 */
bool col_fwd_grpc_retryable(int status, bool has_retry_info);

/** Whether an HTTP status is retried: 429, 502, 503, 504. */
bool col_fwd_http_retryable(int status);

/* ---- running forwarders (ternd) ---- */

struct store;
struct col_fwd_set;

/**
 * Starts one thread per config (per endpoint with per_endpoint_cursors,
 * named "NAME.K") over store s: each loads its saved cursor ("fwd-NAME" in
 * store meta; none: starts at the oldest retained record; unreadable:
 * -EBADMSG) and forwards from there (gRPC through a completion queue,
 * OTLP/HTTP through a libcurl multi handle, both on that thread; a
 * ca_file or cert_file that cannot be read fails here). n <= COL_FWD_MAX. Returns 0 and *out (NULL when n == 0),
 * or a negative errno with a message in err (nothing left running). s must
 * outlive col_fwd_stop(). Calls grpc_init() (col_fwd_stop() shuts it down).
 * Call from one thread (the loop).
 */
int col_fwd_start(struct store *s, const struct col_fwd_config *cfg, unsigned n,
		  struct col_fwd_set **out, char *err, size_t errlen);

/**
 * Stops and frees every forwarder: no new reads; waits up to wait_ms for
 * the calls in flight to be answered (their acks still move and save the
 * cursor, so a clean stop resends nothing), cancels what is left (gRPC
 * calls and HTTP transfers alike, even toward a destination that never
 * answers), joins the threads. Blocks the caller for at most about wait_ms
 * plus 50 ms. Accepts NULL.
 */
void col_fwd_stop(struct col_fwd_set *set, unsigned wait_ms);

/**
 * Appends each forwarder's Prometheus metrics to buf (like snprintf:
 * returns the length needed). Reads atomics only: any thread.
 * arg is the struct col_fwd_set * (signature of a metrics render hook).
 */
size_t col_fwd_render_metrics(void *set, char *buf, size_t len);

/* Counters of one forwarder (for tests and the bench). */
struct col_fwd_stats {
	uint64_t spans_sent;      /* acknowledged by every destination, minus rejected */
	uint64_t spans_failed;    /* spans in failed attempts (retryable or not) */
	uint64_t spans_retried;   /* spans sent again after a retryable failure */
	uint64_t spans_rejected;  /* partial_success rejected_spans */
	uint64_t spans_dropped;   /* permanently refused batches */
	uint64_t spans_lost;      /* dropped by retention before being read */
	uint64_t spans_filtered;  /* left out by service filter or sampling */
	uint64_t lag_spans;
	uint64_t lag_ms;
	uint64_t cursor_saves;
};

/**
 * Counters of running forwarder i (0-based, in start order, each
 * per-endpoint forwarder counting as one). -ENOENT if no such forwarder.
 * Any thread, while the set is running.
 */
int col_fwd_get_stats(struct col_fwd_set *set, unsigned i, struct col_fwd_stats *st);

#endif /* TERN_COLLECTOR_FORWARD_H */
