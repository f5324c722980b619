/*
 * server.h: ternd's state (owned by the loop thread) and the ingest path
 * that both receivers share: memory accounting, the queue bound, submitting
 * to the pipeline stage and routing the ack back to the receiver's reply.
 */
#ifndef TERN_COLLECTOR_SERVER_H
#define TERN_COLLECTOR_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "metrics.h"
#include "otlp.h"
#include "pipeline/pipeline.h"
#include "util/container_of.h"
#include "xqueue.h"


struct col_grpc;
struct col_http;

struct col_server {
	uv_loop_t *loop;
	struct col_config cfg;
	struct otlp_limits limits;
	struct col_metrics metrics;
	struct col_stage *stage;   /* NULL once closed */
	bool draining;             /* SIGTERM seen: no new connections/calls */
	_Atomic uint64_t inflight; /* gRPC calls taken and not yet answered */
	unsigned http_jobs;        /* OTLP/HTTP requests being decoded or acked (loop) */
	struct col_grpc *grpc;
	struct col_http *otlp_http;
	struct col_http *query;
	struct col_analytics *an;  /* analytics.h; NULL when not running */
};

/*
 * One export request between decode and reply. Embedded by the receivers.
 * Fields are set by the receiver before col_ingest_submit().
 */
struct col_ingest_req {
	struct col_xq_node node;   /* for the gRPC thread's hand-off */
	struct col_server *srv;
	struct col_batch *batch;   /* owned until the stage takes it */
	enum col_metric_proto mproto;
	uint64_t n_spans;          /* kept in the batch */
	uint64_t n_rejected;       /* left out by limits */
	uint64_t mem;              /* bytes reserved with col_mem_reserve */
	char reject_msg[256];
	/* Sends the answer: status 0 = accepted, else a negative errno
	 * (refused, retryable). Called once, on the loop thread; the request's
	 * memory is released and metrics counted right after it returns. */
	void (*reply)(struct col_ingest_req *r, int status);
};

/**
 * Submits r->batch to the stage (or refuses it when the queue bound is hit
 * or the stage is closed) and later calls r->reply exactly once. Loop
 * thread. r must stay valid until r->reply has returned.
 */
void col_ingest_submit(struct col_ingest_req *r);

/**
 * Decodes an OTLP request body (bytes, len) into a new batch in r->batch,
 * with the server's limits, and counts received/rejected spans. For
 * protobuf the decode is zero-copy: on success the batch takes owner and
 * frees it with free_fn when it is freed (owner keeps bytes alive). For
 * JSON, or when owner is NULL, nothing is taken. Memory: r->mem holds what
 * the caller reserved before decoding; on return (success or not) r->mem is
 * what is reserved now (the caller releases it when done). Returns 0;
 * -EINVAL (bad request), -EMSGSIZE or -E2BIG (too big, too many: final,
 * see col_reason_of()), each with a message in err; -ENOMEM; -ENOBUFS
 * (memory limit). On error owner is not taken. Any thread.
 */
int col_ingest_decode(struct col_ingest_req *r, enum col_proto proto, const void *bytes,
		      size_t len, void *owner, void (*free_fn)(void *), uint64_t recv_ns,
		      char *err, size_t errlen);

/**
 * Counts a request refused (load: retryable) or turned down (what it is:
 * not retryable) for why, and logs one line about it at most once a second
 * per why ("grpc: 3 requests refused (memory limit reached); answering
 * RESOURCE_EXHAUSTED with RetryInfo"). detail and answer may be NULL. Any
 * thread.
 */
void col_ingest_refused(struct col_server *srv, enum col_metric_proto p, enum col_reason why,
			const char *detail, const char *answer);

/**
 * Why, for an error of the ingest path: -EAGAIN queue, -ESHUTDOWN,
 * -ENOBUFS memory, -EINVAL invalid, -EMSGSIZE/-E2BIG too large (the decoder's
 * "too big, too many"), anything else unavailable (out of memory, the store).
 */
enum col_reason col_reason_of(int err);

/** The answer each receiver gives for why ("429", "INVALID_ARGUMENT"), for logs. */
const char *col_answer_name(enum col_metric_proto p, enum col_reason why);

/**
 * False (with the reason in why) when a listener could not take a
 * connection in the last 2 s (descriptor limit): for /healthz. Loop thread.
 */
bool col_ingest_listeners_ok(struct col_server *srv, char *why, size_t whylen);

/** CLOCK_REALTIME in ns. */
uint64_t col_now_ns(void);

#endif /* TERN_COLLECTOR_SERVER_H */
