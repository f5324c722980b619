/*
 * load.h: client-side helpers shared by `tern` and bench/ingest (and the
 * integration tests): an OTLP/gRPC load generator on the gRPC C core, a
 * realistic request builder, and a small blocking HTTP/1.1 client.
 * Library code: never prints.
 */
#ifndef TERN_COLLECTOR_LOAD_H
#define TERN_COLLECTOR_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp.h"

/**
 * Builds a batch of n realistic spans in one resource (service.name =
 * service) and one scope: each span has 8 attributes and 1 event, ids
 * derived from seed. Returns NULL when out of memory. Caller frees with
 * otlp_batch_free(). Thread-safe.
 */
struct otlp_batch *col_load_batch(unsigned n, const char *service, uint64_t seed);

/** As col_load_batch(), encoded as protobuf into *out (malloc'ed). 0 or -ENOMEM. */
int col_load_request(unsigned n, const char *service, uint64_t seed, uint8_t **out,
		     size_t *len);

struct col_load_opts {
	const char *target;        /* "HOST:PORT" */
	unsigned streams;          /* calls kept in flight (default 4) */
	unsigned connections;      /* HTTP/2 connections the streams spread over (default 1) */
	unsigned spans_per_req;    /* default 512 */
	double seconds;            /* stop after this long (0: no time limit) */
	uint64_t requests;         /* stop after this many (0: no count limit) */
	bool gzip;                 /* compress requests */
	const char *service;       /* service.name; default "tern-load" */
	double call_timeout_s;     /* per call deadline (default 30) */
};

struct col_load_result {
	uint64_t sent;          /* calls started */
	uint64_t acked;         /* answered OK */
	uint64_t refused;       /* a status OTLP calls retryable (UNAVAILABLE, CANCELLED, ...) */
	uint64_t failed;        /* any other status (not to be retried) */
	uint64_t spans_sent;
	uint64_t spans_acked;   /* spans in acked calls minus rejected_spans */
	uint64_t rejected_spans;
	double elapsed_s;
	int last_status;        /* non-OK grpc status: the first failure if any, else the last refusal; 0 if none */
	char last_error[256];   /* its details */
};

/**
 * Runs the load on the calling thread until the time or count limit, then
 * waits for the calls in flight. Returns 0 (see *res for outcomes) or a
 * negative errno if it could not start. Thread-safe (own channel, own
 * completion queue). Calls grpc_init()/grpc_shutdown() itself.
 */
int col_load_run(const struct col_load_opts *o, struct col_load_result *res);

/* A blocking HTTP/1.1 keep-alive client (one connection). */
struct col_hclient {
	int fd;           /* -1 when not connected */
	char host[128];
	int port;
};

/** Sets c up for "HOST:PORT" (IPv4 or name). 0 or -EINVAL. Connects lazily. */
int col_hclient_init(struct col_hclient *c, const char *addr);

/**
 * Sends one request and reads the whole response (Content-Length bodies
 * only, which is what h2o sends for complete answers). extra_headers is
 * "Name: value\r\n..." or NULL. On success *status is the HTTP status,
 * *body a malloc'ed NUL-terminated body (caller frees) of *body_len bytes,
 * and, if headers is not NULL, *headers the malloc'ed header block.
 * Reconnects once if the kept-alive connection was closed. Returns 0 or a
 * negative errno (-ETIMEDOUT after timeout_ms).
 */
int col_hclient_request(struct col_hclient *c, const char *method, const char *path,
			const char *extra_headers, const void *req_body, size_t req_len,
			int timeout_ms, int *status, char **headers, char **body,
			size_t *body_len);

/** Closes the connection. */
void col_hclient_close(struct col_hclient *c);

#endif /* TERN_COLLECTOR_LOAD_H */
