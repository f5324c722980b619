/*
 * load.h: client-side helpers shared by `tern load`, bench/ and the
 * integration tests: realistic OTLP requests (load/request.c) and an
 * OTLP/gRPC load generator on the gRPC C core (load/run.c).
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

#endif /* TERN_COLLECTOR_LOAD_H */
