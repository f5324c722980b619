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
	uint64_t seed;             /* trace and span ids; 0: a fresh seed each run */
	int retries;               /* retries of a refused request (default 5; < 0: none) */
	double connect_timeout_s;  /* to wait for the first connection (default 5) */
	unsigned streams;          /* calls kept in flight (default 4) */
	unsigned connections;      /* HTTP/2 connections the streams spread over (default 1) */
	unsigned spans_per_req;    /* default 512 */
	double seconds;            /* stop after this long (0: no time limit) */
	uint64_t requests;         /* stop after this many (0: no count limit) */
	bool gzip;                 /* compress requests */
	const char *service;       /* service.name; default "tern-load" */
	double call_timeout_s;     /* per call deadline (default 30) */
};

#define COL_LOAD_NCODES 17 /* gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED) */

struct col_load_result {
	uint64_t seed;          /* the seed the ids came from (--seed repeats them) */
	uint64_t sent;          /* requests started (a retry is not a new request) */
	uint64_t acked;         /* requests answered OK */
	uint64_t refused;       /* requests given up with a status OTLP calls retryable
				 * (UNAVAILABLE, ...) after their retries */
	uint64_t failed;        /* requests ended by any other status (never retried) */
	uint64_t retries;       /* calls that resent a refused request */
	uint64_t by_code[COL_LOAD_NCODES]; /* every answer (first tries and retries) by status */
	double max_backoff_s;   /* the longest wait before a retry */
	uint64_t spans_sent;
	uint64_t spans_acked;   /* spans in acked calls minus rejected_spans */
	uint64_t rejected_spans;
	double elapsed_s;
	int last_status;        /* non-OK grpc status: the first failure if any, else the last refusal; 0 if none */
	char last_error[256];   /* its details */
};

/**
 * Runs the load on the calling thread until the time or count limit, then
 * waits for the calls in flight. A request refused with a retryable status
 * (UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE,
 * DATA_LOSS, and RESOURCE_EXHAUSTED with RetryInfo, as OTLP says) is sent
 * again, with the same ids, after an exponential backoff (100 ms doubling
 * to 5 s, jittered; longer if RetryInfo asks), up to o->retries times and
 * never after the time limit. Returns 0 (see *res for outcomes), -ECONNREFUSED when no
 * connection to the target could be made, -ETIMEDOUT when none was made in
 * o->connect_timeout_s, -ENOMEM or -EIO. Thread-safe (own channel, own
 * completion queue). Calls grpc_init()/grpc_shutdown() itself.
 */
int col_load_run(const struct col_load_opts *o, struct col_load_result *res);

/** The name of gRPC status code (e.g. "UNAVAILABLE"); "?" outside 0..16. */
const char *col_load_status_name(int code);

/** A seed no other run is likely to have: getrandom(), the clock and the pid. */
uint64_t col_load_fresh_seed(void);

#endif /* TERN_COLLECTOR_LOAD_H */
