/*
 * otlp_grpc_client.h: a one-call OTLP/gRPC client for tests, on the gRPC C
 * core (grpc_channel_create + grpc_insecure_credentials_create).
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
};

/**
 * Sends one Export with req[0..len) to target ("HOST:PORT"), gzip-compressed
 * if gzip, and waits up to timeout_s. Returns 0 (see *res) or a negative
 * errno if the call could not be made. Thread-safe.
 */
int otlp_grpc_export(const char *target, const void *req, size_t len, bool gzip,
		     double timeout_s, struct otlp_grpc_result *res);

#endif /* TERN_TESTS_OTLP_GRPC_CLIENT_H */
