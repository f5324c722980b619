/*
 * pipeline.h: the boundary between ternd's receivers and what consumes
 * decoded spans (storage, the null sink used by benchmarks).
 *
 * A receiver (OTLP/gRPC, OTLP/HTTP) decodes one Export request into a
 * struct col_batch and submits it to the configured stage. The stage answers
 * with exactly one ack per accepted batch; only then does the receiver reply
 * to the client. "ack status 0" means the spans are durable (storage: in the
 * log and synced) or, for the null sink, accepted and dropped on purpose.
 *
 * Threads: every function here and every stage callback runs on ternd's
 * loop thread (the one running the uv_loop_t given at open). Stages never
 * block that thread: disk I/O goes to uv_queue_work or a thread of their own
 * that reports back to the loop.
 *
 * Adding a stage ("sink"): write collector/pipeline/sink_NAME.c defining
 * `const struct col_stage_ops col_sink_NAME_ops = {...}`, add the file to
 * collector/meson.build, and add one line `COL_SINK(NAME)` to
 * collector/sinks.def. `ternd --sink NAME` then selects it.
 */
#ifndef TERN_COLLECTOR_PIPELINE_H
#define TERN_COLLECTOR_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "otlp.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a batch came from. */
enum col_proto {
	COL_PROTO_GRPC = 0,      /* OTLP/gRPC Export */
	COL_PROTO_HTTP_PROTO,    /* OTLP/HTTP, application/x-protobuf */
	COL_PROTO_HTTP_JSON,     /* OTLP/HTTP, application/json */
};

/** Short name of a protocol ("grpc", "http-proto", "http-json"). */
const char *col_proto_name(enum col_proto p);

/*
 * One decoded Export request on its way through the pipeline.
 *
 * Ownership: the receiver allocates it with col_batch_new(). When
 * submit() returns 0, the col_batch (and the otlp batch inside it, and every
 * buffer attached to that) belongs to the stage, which frees it with
 * col_batch_free() when it no longer needs it, before or after acking.
 * The receiver keeps its own copy of what it needs for the reply (span
 * counts, memory accounting), so a stage may free the batch at any time.
 */
struct col_batch {
	struct otlp_batch *otlp;  /* decoded spans; never NULL */
	enum col_proto proto;
	size_t wire_bytes;        /* encoded request size as received (after gzip) */
	uint64_t recv_time_ns;    /* CLOCK_REALTIME when the request arrived */
};

/**
 * Makes a col_batch around otlp (taking ownership of otlp). Returns NULL
 * when out of memory; then otlp is NOT taken. Any thread.
 */
struct col_batch *col_batch_new(struct otlp_batch *otlp, enum col_proto proto,
				size_t wire_bytes, uint64_t recv_time_ns);

/** Frees b and its otlp batch. Accepts NULL. Any thread. */
void col_batch_free(struct col_batch *b);

/**
 * Called once per accepted batch, on the loop thread. status 0: the batch is
 * accepted (durable for a storage stage). Negative errno: refused after all;
 * the receiver answers with a retryable error (gRPC UNAVAILABLE / HTTP 503).
 */
typedef void (*col_ack_cb)(void *arg, int status);

/** Called on the loop thread when a stage has finished closing. */
typedef void (*col_closed_cb)(void *arg);

/* What a stage gets when it opens. Fields may be added (append-only). */
struct col_stage_env {
	uv_loop_t *loop;          /* the loop thread's loop */
	const char *data_dir;     /* --data: the stage's directory (may not exist yet) */
	size_t memory_limit;      /* ternd's whole memory limit, for sizing caches */
};

struct col_stage;

struct col_stage_ops {
	const char *name; /* what --sink selects */

	/**
	 * Opens a stage. Returns 0 and sets *out, or a negative errno (then
	 * err holds a one-line message; ternd exits 1 with it).
	 */
	int (*open)(const struct col_stage_env *env, struct col_stage **out,
		    char *err, size_t errlen);

	/**
	 * Submits a batch. Never blocks. Returns 0: the stage owns b and will
	 * call cb(arg, status) exactly once, later, on the loop thread — never
	 * from inside submit(). Returns a negative errno (-EAGAIN: queue full,
	 * -ENOMEM, -ESHUTDOWN: closing): refused, retryable; the caller still
	 * owns b and cb never runs.
	 */
	int (*submit)(struct col_stage *s, struct col_batch *b, col_ack_cb cb, void *arg);

	/**
	 * Starts closing: submit() now returns -ESHUTDOWN; every batch already
	 * accepted still gets its ack (0 if it became durable, else a negative
	 * errno); after the last ack the stage closes its handles, frees
	 * itself and calls cb(arg) on the loop thread. cb is always called
	 * (never from inside close()). The stage must not be used afterwards.
	 */
	void (*close)(struct col_stage *s, col_closed_cb cb, void *arg);

	/** Batches accepted and not yet acked (for /metrics). */
	size_t (*pending)(const struct col_stage *s);
};

/* Every stage struct starts with this. */
struct col_stage {
	const struct col_stage_ops *ops;
};

/** The stage registered under name, or NULL. Any thread. */
const struct col_stage_ops *col_stage_find(const char *name);

/**
 * Writes the registered names, separated by "|", into buf (for --help and
 * error messages). Returns buf.
 */
const char *col_stage_names(char *buf, size_t len);

/* Convenience wrappers; same contracts as the ops. */
static inline int col_stage_submit(struct col_stage *s, struct col_batch *b,
				   col_ack_cb cb, void *arg)
{
	return s->ops->submit(s, b, cb, arg);
}

static inline void col_stage_close(struct col_stage *s, col_closed_cb cb, void *arg)
{
	s->ops->close(s, cb, arg);
}

static inline size_t col_stage_pending(const struct col_stage *s)
{
	return s->ops->pending(s);
}

#ifdef __cplusplus
}
#endif

#endif /* TERN_COLLECTOR_PIPELINE_H */
