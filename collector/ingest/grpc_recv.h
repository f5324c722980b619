/*
 * grpc_recv.h: the OTLP/gRPC receiver (gRPC C core). A completion-queue
 * thread takes Export calls and decodes them; the loop submits the batches
 * and replies when the pipeline acks.
 */
#ifndef TERN_COLLECTOR_GRPC_RECV_H
#define TERN_COLLECTOR_GRPC_RECV_H

#include <stddef.h>

struct col_server;
struct col_grpc;

/**
 * Binds cfg.otlp_grpc, starts the server and its thread. On success *out
 * is set and bound holds "HOST:PORT" as bound. Loop thread. Returns 0 or a
 * negative errno with a message in err.
 */
int col_grpc_start(struct col_server *srv, struct col_grpc **out, char *bound,
		   size_t boundlen, char *err, size_t errlen);

/**
 * Drain mode: calls arriving from now on are answered UNAVAILABLE (retry
 * later) without decoding; calls already taken still get their answers.
 * Loop thread.
 */
void col_grpc_stop_accepting(struct col_grpc *g);

/** The listener, for /healthz. Loop thread. */
const struct col_listener *col_grpc_listener(const struct col_grpc *g);

/** Cancels every call still open. Only after col_grpc_close(). Loop thread. */
void col_grpc_cancel_all(struct col_grpc *g);

/**
 * Shuts the server down (GOAWAY; calls still open after
 * cfg.shutdown_timeout_ms are cancelled), waits on the loop until the
 * thread has exited, frees everything, then calls done(arg). Call once
 * every taken call has been answered (after the stage closed). Loop thread.
 */
void col_grpc_close(struct col_grpc *g, void (*done)(void *arg), void *arg);

#endif /* TERN_COLLECTOR_GRPC_RECV_H */
