/* run.c: OTLP/gRPC load generation on the gRPC C core (col_load_run). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "load/load.h"
#include "util/hash.h"

#define EXPORT_METHOD "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct stream {
	grpc_call *call;
	grpc_metadata_array imd, tmd;
	grpc_byte_buffer *req, *resp;
	grpc_status_code status;
	grpc_slice details;
	unsigned conn;
};

struct run {
	const struct col_load_opts *o;
	struct col_load_result *res;
	grpc_channel **ch;
	grpc_completion_queue *cq;
	grpc_slice payload;
	size_t *tid_off; /* where each span's trace id sits in payload */
	size_t n_tid;
	uint64_t seq;    /* requests started: each gets its own trace ids */
	double deadline;
	unsigned inflight;
};

/*
 * Finds every span's trace id in the encoded request. Trace ids are 16
 * random bytes, so a byte search finds exactly the span fields (and link
 * fields) that carry them. Returns 0 or -ENOMEM.
 */
static int find_trace_ids(struct run *r, const struct otlp_batch *b, const uint8_t *buf,
			  size_t len)
{
	r->tid_off = malloc((b->n_spans ? b->n_spans : 1) * sizeof(*r->tid_off));
	if (r->tid_off == NULL)
		return -ENOMEM;
	const struct otlp_span *sp = b->resource_spans->scope_spans->spans;
	for (const struct otlp_span *prev = NULL; sp != NULL; prev = sp, sp = sp->next) {
		if (prev != NULL && memcmp(prev->trace_id, sp->trace_id, 16) == 0)
			continue; /* the spans of a trace are adjacent: search each once */
		const uint8_t *p = buf;
		while (r->n_tid < b->n_spans &&
		       (p = memmem(p, len - (size_t)(p - buf), sp->trace_id, 16)) != NULL) {
			r->tid_off[r->n_tid++] = (size_t)(p - buf);
			p += 16;
		}
	}
	return 0;
}

/*
 * The payload with this request's own trace ids: every trace id XOR one
 * mask per request, so the spans of a trace still share theirs and no two
 * requests send the same trace. Costs one copy of the request.
 */
static grpc_byte_buffer *next_request(struct run *r)
{
	size_t len = GRPC_SLICE_LENGTH(r->payload);
	grpc_slice sl = grpc_slice_malloc(len);
	uint8_t *p = GRPC_SLICE_START_PTR(sl);
	memcpy(p, GRPC_SLICE_START_PTR(r->payload), len);
	/* Not splitmix(seq) alone: the payload's ids come from splitmix(42...),
	 * and request 42's mask would equal (and so zero) its first trace id. */
	uint64_t st = ++r->seq * 0xd1b54a32d192ed03ull + 0x8bb84b93962eacc9ull;
	uint64_t m[2] = { util_splitmix64(&st), util_splitmix64(&st) };
	for (size_t i = 0; i < r->n_tid; i++) {
		uint8_t *t = p + r->tid_off[i];
		for (int k = 0; k < 16; k++)
			t[k] ^= ((const uint8_t *)m)[k];
	}
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	return bb;
}

static bool may_start(struct run *r)
{
	if (r->o->requests && r->res->sent >= r->o->requests)
		return false;
	if (r->o->seconds > 0 && mono_s() >= r->deadline)
		return false;
	return true;
}

static int start_call(struct run *r, struct stream *s)
{
	memset(s, 0, offsetof(struct stream, conn));
	grpc_metadata_array_init(&s->imd);
	grpc_metadata_array_init(&s->tmd);
	grpc_slice method = grpc_slice_from_static_string(EXPORT_METHOD);
	gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
				       gpr_time_from_millis((int64_t)(r->o->call_timeout_s * 1000),
							    GPR_TIMESPAN));
	s->call = grpc_channel_create_call(r->ch[s->conn], NULL, GRPC_PROPAGATE_DEFAULTS, r->cq,
					   method, NULL, dl, NULL);
	if (s->call == NULL)
		return -ENOMEM;
	s->req = next_request(r);
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = s->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &s->imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &s->resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &s->tmd;
	ops[5].data.recv_status_on_client.status = &s->status;
	ops[5].data.recv_status_on_client.status_details = &s->details;
	if (grpc_call_start_batch(s->call, ops, 6, s, NULL) != GRPC_CALL_OK) {
		grpc_call_unref(s->call);
		grpc_byte_buffer_destroy(s->req);
		grpc_metadata_array_destroy(&s->imd);
		grpc_metadata_array_destroy(&s->tmd);
		return -EIO;
	}
	r->res->sent++;
	r->res->spans_sent += r->o->spans_per_req;
	r->inflight++;
	return 0;
}

static void finish_call(struct run *r, struct stream *s)
{
	struct col_load_result *res = r->res;
	r->inflight--;
	if (s->status == GRPC_STATUS_OK) {
		res->acked++;
		uint64_t rejected = 0;
		if (s->resp != NULL) {
			grpc_byte_buffer_reader rd;
			if (grpc_byte_buffer_reader_init(&rd, s->resp)) {
				grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
				struct otlp_response resp;
				if (otlp_decode_response_proto(&resp, GRPC_SLICE_START_PTR(sl),
							       GRPC_SLICE_LENGTH(sl)) == 0 &&
				    resp.rejected_spans > 0)
					rejected = (uint64_t)resp.rejected_spans;
				grpc_slice_unref(sl);
				grpc_byte_buffer_reader_destroy(&rd);
			}
		}
		res->rejected_spans += rejected;
		res->spans_acked += r->o->spans_per_req - rejected;
	} else {
		/* The codes OTLP lists as retryable. */
		bool refused = s->status == GRPC_STATUS_UNAVAILABLE ||
			       s->status == GRPC_STATUS_RESOURCE_EXHAUSTED ||
			       s->status == GRPC_STATUS_CANCELLED ||
			       s->status == GRPC_STATUS_DEADLINE_EXCEEDED ||
			       s->status == GRPC_STATUS_ABORTED ||
			       s->status == GRPC_STATUS_OUT_OF_RANGE ||
			       s->status == GRPC_STATUS_DATA_LOSS;
		if (refused)
			res->refused++;
		else
			res->failed++;
		/* Keep the first real failure rather than later refusals. */
		if ((!refused && res->failed == 1) || (refused && res->failed == 0))
			res->last_status = (int)s->status;
		else
			goto out_free;
		size_t n = GRPC_SLICE_LENGTH(s->details);
		if (n >= sizeof(res->last_error))
			n = sizeof(res->last_error) - 1;
		memcpy(res->last_error, GRPC_SLICE_START_PTR(s->details), n);
		res->last_error[n] = '\0';
	}
out_free:
	grpc_slice_unref(s->details);
	if (s->resp)
		grpc_byte_buffer_destroy(s->resp);
	grpc_byte_buffer_destroy(s->req);
	grpc_metadata_array_destroy(&s->imd);
	grpc_metadata_array_destroy(&s->tmd);
	grpc_call_unref(s->call);
	s->call = NULL;
}

int col_load_run(const struct col_load_opts *opts, struct col_load_result *res)
{
	struct col_load_opts o = *opts;
	struct run r = { 0 };
	int ret = 0;
	if (o.streams == 0)
		o.streams = 4;
	if (o.connections == 0)
		o.connections = 1;
	if (o.connections > o.streams)
		o.connections = o.streams;
	if (o.spans_per_req == 0)
		o.spans_per_req = 512;
	if (o.call_timeout_s <= 0)
		o.call_timeout_s = 30;
	if (o.seconds <= 0 && o.requests == 0)
		o.requests = 1;
	memset(res, 0, sizeof(*res));
	r.o = &o;
	r.res = res;

	uint8_t *buf;
	size_t len;
	struct otlp_batch *b = col_load_batch(o.spans_per_req, o.service, 42);
	if (b == NULL)
		return -ENOMEM;
	ret = otlp_encode_proto(b, &buf, &len);
	if (ret == 0) {
		ret = find_trace_ids(&r, b, buf, len);
		if (ret != 0)
			free(buf);
	}
	otlp_batch_free(b);
	if (ret != 0)
		return ret;
	grpc_init();
	r.payload = grpc_slice_from_copied_buffer((const char *)buf, len);
	free(buf);

	struct stream *streams = calloc(o.streams, sizeof(*streams));
	r.ch = calloc(o.connections, sizeof(*r.ch));
	if (streams == NULL || r.ch == NULL) {
		ret = -ENOMEM;
		goto out_free;
	}
	grpc_arg args[3];
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
	args[0].value.integer = o.gzip ? GRPC_COMPRESS_GZIP : GRPC_COMPRESS_NONE;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
	args[1].value.integer = 1;
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[2].value.integer = 64 << 20;
	grpc_channel_args chargs = { 3, args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	for (unsigned i = 0; i < o.connections; i++)
		r.ch[i] = grpc_channel_create(o.target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	r.cq = grpc_completion_queue_create_for_next(NULL);

	double t0 = mono_s();
	r.deadline = t0 + o.seconds;
	for (unsigned i = 0; i < o.streams && may_start(&r); i++) {
		streams[i].conn = i % o.connections;
		if (start_call(&r, &streams[i]) != 0) {
			ret = -EIO;
			break;
		}
	}
	while (r.inflight > 0) {
		grpc_event ev = grpc_completion_queue_next(
			r.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		struct stream *s = ev.tag;
		finish_call(&r, s);
		if (ret == 0 && may_start(&r) && start_call(&r, s) != 0)
			ret = -EIO;
	}
	res->elapsed_s = mono_s() - t0;

	grpc_completion_queue_shutdown(r.cq);
	while (grpc_completion_queue_next(r.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(r.cq);
	for (unsigned i = 0; i < o.connections; i++)
		grpc_channel_destroy(r.ch[i]);
out_free:
	free(r.ch);
	free(streams);
	free(r.tid_off);
	grpc_slice_unref(r.payload);
	grpc_shutdown();
	return ret;
}
