/*
 * reqs.h: the OTLP requests the storage integration tests send: request
 * seq of client c in run r holds TRACES_PER_REQ traces of SPANS_PER_TRACE
 * spans, with ids derived from (r, c, seq, trace, span) so a test can ask
 * the store for exactly what was acked.
 */
#ifndef TERN_TESTS_STORE_REQS_H
#define TERN_TESTS_STORE_REQS_H

#include "../../unit/storage/fx.h"
#include "otlp_grpc_client.h"

#define TRACES_PER_REQ 10
#define SPANS_PER_TRACE 5

static inline void ids(uint8_t tid[16], uint8_t sid[8], int run, int client, uint32_t seq, int k, int j)
{
	memset(tid, 0, 16);
	tid[0] = 0xc7;
	tid[1] = (uint8_t)run;
	tid[2] = (uint8_t)client;
	tid[3] = (uint8_t)(seq >> 24);
	tid[4] = (uint8_t)(seq >> 16);
	tid[5] = (uint8_t)(seq >> 8);
	tid[6] = (uint8_t)seq;
	tid[7] = (uint8_t)k;
	memcpy(sid, tid + 1, 7);
	sid[7] = (uint8_t)j;
	sid[0] |= 0x80; /* an all-zero span id is invalid OTLP */
}

static inline int build_request(int run, int client, uint32_t seq, uint8_t **out, size_t *len)
{
	struct otlp_builder bd;
	otlp_builder_init(&bd);
	char svc[32];
	snprintf(svc, sizeof svc, "crash-%d", client);
	otlp_build_resource(&bd, svc);
	otlp_build_scope(&bd, "crash", NULL);
	for (int k = 0; k < TRACES_PER_REQ; k++)
		for (int j = 0; j < SPANS_PER_TRACE; j++) {
			uint8_t tid[16], sid[8];
			ids(tid, sid, run, client, seq, k, j);
			uint64_t start = 1700000000000000000ull + seq * 1000u;
			otlp_build_span(&bd, tid, sid, NULL, j ? "child" : "root",
					OTLP_SPAN_KIND_SERVER, start, start + 100u * (unsigned)j);
			otlp_build_int(&bd, OTLP_TO_SPAN, "seq", seq);
		}
	struct otlp_batch *b = otlp_builder_take(&bd);
	if (b == NULL)
		return -ENOMEM;
	int rc = otlp_encode_proto(b, out, len);
	otlp_batch_free(b);
	return rc;
}

/* One Export on c: the gRPC status (0: acked), or -1 if the call failed. */
static inline int export_status(struct otlp_grpc_conn *c, const uint8_t *req, size_t len,
				double timeout_s)
{
	struct otlp_grpc_result res;
	if (otlp_grpc_call(c, req, len, timeout_s, &res) != 0)
		return -1;
	return res.status;
}

#endif
