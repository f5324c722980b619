/*
 * otlp_grpc_client.h: the tests' OTLP/gRPC Export client, on the gRPC C
 * core (grpc_channel_create + grpc_insecure_credentials_create).
 *
 *   struct otlp_grpc_result res;
 *   ASSERT_OK(otlp_grpc_export("127.0.0.1:4317", req, len, false, 10, &res));
 *   ASSERT_EQ(res.status, 0);        // GRPC_STATUS_OK: the spans are acked
 *
 * otlp_grpc_export() makes one channel per call. A test that sends many
 * calls (a load, one stream per thread) keeps a channel open instead:
 * otlp_grpc_connect(), otlp_grpc_call() ..., otlp_grpc_close().
 * Each holds a grpc_init() reference, so no test calls grpc_init() itself
 * (and the harness can fork each test before gRPC starts its threads).
 */
#ifndef TERN_TESTS_OTLP_GRPC_CLIENT_H
#define TERN_TESTS_OTLP_GRPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp.h"

struct otlp_grpc_result {
	int status;              /* grpc_status_code */
	char details[512];
	bool got_message;        /* a response message arrived */
	size_t message_len;      /* its encoded length (0: partial_success unset) */
	struct otlp_response resp; /* decoded when got_message */
	int64_t retry_ms;        /* google.rpc.RetryInfo in the trailers; -1: none */
};

struct otlp_grpc_conn;

/**
 * Opens a channel to target ("HOST:PORT"; it connects lazily), sending
 * gzip-compressed messages if gzip. NULL when out of memory. Free with
 * otlp_grpc_close(). One thread at a time per connection.
 */
struct otlp_grpc_conn *otlp_grpc_connect(const char *target, bool gzip);

/**
 * One Export call with req[0..len) on c; waits up to timeout_s. Returns 0
 * (the answer is in *res: status, details, decoded response) or a negative
 * errno if the call could not be made or its response did not decode.
 */
int otlp_grpc_call(struct otlp_grpc_conn *c, const void *req, size_t len, double timeout_s,
		   struct otlp_grpc_result *res);

/** Sends "authorization: Bearer token" with every call on c (NULL or "": none). */
void otlp_grpc_set_bearer(struct otlp_grpc_conn *c, const char *token);

/**
 * As otlp_grpc_call() with a message the caller already gzip'ed (gz[0..len),
 * sent as is with the compressed flag): c must come from
 * otlp_grpc_connect(target, true) so the call says grpc-encoding: gzip.
 * For sending what a real client could not build in memory (a gzip bomb).
 */
int otlp_grpc_call_gzipped(struct otlp_grpc_conn *c, const void *gz, size_t len,
			   double timeout_s, struct otlp_grpc_result *res);

/** Closes the channel and frees c. Accepts NULL. */
void otlp_grpc_close(struct otlp_grpc_conn *c);

/**
 * Sends one Export with req[0..len) to target ("HOST:PORT"), gzip-compressed
 * if gzip, on a channel of its own, and waits up to timeout_s. Returns 0
 * (see *res) or a negative errno if the call could not be made. Thread-safe.
 */
int otlp_grpc_export(const char *target, const void *req, size_t len, bool gzip,
		     double timeout_s, struct otlp_grpc_result *res);

struct otlp_batch;

/**
 * Encodes b (which it frees; NULL, from a failed builder, is an error) and
 * sends it as otlp_grpc_export() does, without gzip. Returns the call's
 * gRPC status (0: OK), or a negative number if b was NULL, could not be
 * encoded, or the call could not be made.
 */
int otlp_grpc_export_batch(const char *target, struct otlp_batch *b, double timeout_s);

#endif /* TERN_TESTS_OTLP_GRPC_CLIENT_H */
