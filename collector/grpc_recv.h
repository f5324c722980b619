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

/** Stops taking new calls; calls already taken still get answers. Loop thread. */
void col_grpc_stop_accepting(struct col_grpc *g);

/** Cancels every call still open (after the drain timeout). Loop thread. */
void col_grpc_cancel_all(struct col_grpc *g);

/**
 * Waits (on the loop) until the server has shut down and the thread has
 * exited, frees everything, then calls done(arg). Call after
 * col_grpc_stop_accepting(). Loop thread.
 */
void col_grpc_close(struct col_grpc *g, void (*done)(void *arg), void *arg);

#endif /* TERN_COLLECTOR_GRPC_RECV_H */
