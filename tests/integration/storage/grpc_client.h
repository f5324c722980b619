/*
 * grpc_client.h: a minimal blocking OTLP/gRPC Export client on the gRPC C
 * core, for the storage integration tests (one channel per thread).
 */
#ifndef TERN_TESTS_STORE_GRPC_CLIENT_H
#define TERN_TESTS_STORE_GRPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct gc_conn;

/** Connects lazily to "HOST:PORT". NULL when out of memory. */
struct gc_conn *gc_connect(const char *addr);

/**
 * One Export call with the encoded request; waits for the answer. Returns
 * the gRPC status code (0 = OK, the spans are acked) or -1 when the call
 * could not start.
 */
int gc_export(struct gc_conn *c, const uint8_t *req, size_t len, double timeout_s);

/** Closes the channel and frees c. Accepts NULL. */
void gc_close(struct gc_conn *c);

#endif
