/* run.c: OTLP/gRPC load generation on the gRPC C core (col_load_run). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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
#define BACKOFF_FIRST_S 0.1
#define BACKOFF_MAX_S 5.0

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request slot: the request it is sending (its bytes, kept for
 * retries) and the call in flight, or the time its next try is due. */
struct stream {
	grpc_call *call;
	grpc_metadata_array imd, tmd;
	grpc_byte_buffer *req, *resp;
	grpc_status_code status;
	grpc_slice details;
	grpc_slice payload;  /* this request's bytes; empty when the slot is free */
	unsigned attempt;    /* tries made of this request */
	unsigned refusals;   /* refusals in a row (the backoff grows with them) */
	double retry_at;     /* mono_s() when it may send again; 0 when not waiting */
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
	uint64_t jitter; /* splitmix state for the backoff's jitter */
	double deadline;
	unsigned inflight, waiting;
};

const char *col_load_status_name(int code)
{
	static const char *const names[COL_LOAD_NCODES] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
		"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
		"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
		"UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
	};
	return code >= 0 && code < COL_LOAD_NCODES ? names[code] : "?";
}

uint64_t col_load_fresh_seed(void)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t st = r ^ ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
		      ((uint64_t)getpid() << 40);
	uint64_t seed = util_splitmix64(&st);
	return seed ? seed : 1;
}

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
static grpc_slice next_request(struct run *r)
{
	size_t len = GRPC_SLICE_LENGTH(r->payload);
	grpc_slice sl = grpc_slice_malloc(len);
	uint8_t *p = GRPC_SLICE_START_PTR(sl);
	memcpy(p, GRPC_SLICE_START_PTR(r->payload), len);
	/* Not splitmix(seed + seq) alone: the payload's ids come from
	 * splitmix(seed ...), and one request's mask would equal (and so zero)
	 * a trace id. */
	uint64_t st = r->o->seed ^ (++r->seq * 0xd1b54a32d192ed03ull + 0x8bb84b93962eacc9ull);
	uint64_t m[2] = { util_splitmix64(&st), util_splitmix64(&st) };
	for (size_t i = 0; i < r->n_tid; i++) {
		uint8_t *t = p + r->tid_off[i];
		for (int k = 0; k < 16; k++)
			t[k] ^= ((const uint8_t *)m)[k];
	}
	return sl;
}

static bool may_start(struct run *r)
{
	if (r->o->requests && r->res->sent >= r->o->requests)
		return false;
	if (r->o->seconds > 0 && mono_s() >= r->deadline)
		return false;
	return true;
}

/* Starts the next try of s's request (a new request when its slot is
 * free). 0, or -EIO (then the slot is free again). */
static int start_call(struct run *r, struct stream *s)
{
	bool fresh = GRPC_SLICE_LENGTH(s->payload) == 0;
	s->imd = (grpc_metadata_array){ 0 };
	s->tmd = (grpc_metadata_array){ 0 };
	s->resp = NULL;
	s->status = GRPC_STATUS_OK;
	s->details = grpc_empty_slice();
	s->retry_at = 0;
	grpc_slice method = grpc_slice_from_static_string(EXPORT_METHOD);
	gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
				       gpr_time_from_millis((int64_t)(r->o->call_timeout_s * 1000),
							    GPR_TIMESPAN));
	s->call = grpc_channel_create_call(r->ch[s->conn], NULL, GRPC_PROPAGATE_DEFAULTS, r->cq,
					   method, NULL, dl, NULL);
	if (s->call == NULL)
		goto out_free_request;
	if (fresh) {
		s->payload = next_request(r);
		s->attempt = 0;
	}
	/* A new byte buffer for each try: sending one may consume its slices. */
	s->req = grpc_raw_byte_buffer_create(&s->payload, 1);
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
		s->call = NULL;
		grpc_byte_buffer_destroy(s->req);
		goto out_free_request;
	}
	if (fresh) {
		r->res->sent++;
		r->res->spans_sent += r->o->spans_per_req;
	} else {
		r->res->retries++;
	}
	s->attempt++;
	r->inflight++;
	return 0;
out_free_request:
	grpc_slice_unref(s->payload);
	s->payload = grpc_empty_slice();
	return -EIO;
}

/* google.rpc.RetryInfo's delay (ms) in s's trailers, or -1. */
static int64_t retry_info_ms(const struct stream *s)
{
	for (size_t i = 0; i < s->tmd.count; i++) {
		const grpc_metadata *m = &s->tmd.metadata[i];
		if (grpc_slice_str_cmp(m->key, "grpc-status-details-bin") == 0)
			return otlp_retry_info_ms(GRPC_SLICE_START_PTR(m->value),
						  GRPC_SLICE_LENGTH(m->value));
	}
	return -1;
}

/* The codes OTLP lists as retryable; RESOURCE_EXHAUSTED only when the
 * server says when (RetryInfo): without it the request cannot succeed
 * (too large, say). */
static bool retryable(grpc_status_code st, int64_t retry_ms)
{
	return st == GRPC_STATUS_UNAVAILABLE || st == GRPC_STATUS_CANCELLED ||
	       st == GRPC_STATUS_DEADLINE_EXCEEDED || st == GRPC_STATUS_ABORTED ||
	       st == GRPC_STATUS_OUT_OF_RANGE || st == GRPC_STATUS_DATA_LOSS ||
	       (st == GRPC_STATUS_RESOURCE_EXHAUSTED && retry_ms >= 0);
}

/* The wait after the n-th refusal in a row: 100 ms doubling to 5 s, each
 * drawn from [d/2, d) so refused streams do not come back in step. */
static double backoff_s(struct run *r, unsigned n)
{
	double d = BACKOFF_FIRST_S;
	for (unsigned i = 1; i < n && d < BACKOFF_MAX_S; i++)
		d *= 2;
	if (d > BACKOFF_MAX_S)
		d = BACKOFF_MAX_S;
	double u = (double)(util_splitmix64(&r->jitter) >> 11) / 9007199254740992.0;
	return d / 2 + u * d / 2;
}

/* Records the answer to s's call. True when the slot waits (s->retry_at
 * is set) before it resends its request, or, when the request was given
 * up, before it sends the next: a refusal means "slow down" either way.
 * False when the slot is free now. */
static bool finish_call(struct run *r, struct stream *s)
{
	struct col_load_result *res = r->res;
	bool wait = false, resend = false;
	r->inflight--;
	if (s->status == GRPC_STATUS_OK) {
		s->refusals = 0;
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
		goto out_free;
	}
	if ((unsigned)s->status < COL_LOAD_NCODES)
		res->by_code[s->status]++;
	int64_t retry_ms = retry_info_ms(s);
	bool refused = retryable(s->status, retry_ms);
	if (refused) {
		/* The server's RetryInfo, if longer, wins over our backoff. A
		 * wait past the time limit ends at it, and the slot with it. */
		double d = backoff_s(r, ++s->refusals), now = mono_s();
		if ((double)retry_ms / 1000.0 > d)
			d = (double)retry_ms / 1000.0;
		bool fits = r->o->seconds <= 0 || now + d < r->deadline;
		s->retry_at = fits ? now + d : r->deadline;
		if (d > res->max_backoff_s)
			res->max_backoff_s = d;
		r->waiting++;
		wait = true;
		resend = fits && (int)s->attempt <= r->o->retries;
	}
	if (!resend) {
		if (refused)
			res->refused++;
		else
			res->failed++;
	}
	/* Keep the first real failure rather than later refusals. */
	if ((!refused && res->failed == 1) || (refused && res->failed == 0)) {
		res->last_status = (int)s->status;
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
	if (!resend) {
		grpc_slice_unref(s->payload);
		s->payload = grpc_empty_slice();
	}
	return wait;
}

/*
 * Waits until ch is connected. A target where nothing listens fails the
 * first connection at once (TRANSIENT_FAILURE): the run stops there
 * instead of counting refusals. 0, -ECONNREFUSED or -ETIMEDOUT.
 */
static int wait_connected(grpc_channel *ch, grpc_completion_queue *cq, double timeout_s)
{
	gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
				       gpr_time_from_millis((int64_t)(timeout_s * 1000), GPR_TIMESPAN));
	grpc_connectivity_state st = grpc_channel_check_connectivity_state(ch, 1);
	while (st != GRPC_CHANNEL_READY) {
		if (st == GRPC_CHANNEL_TRANSIENT_FAILURE || st == GRPC_CHANNEL_SHUTDOWN)
			return -ECONNREFUSED;
		grpc_channel_watch_connectivity_state(ch, st, dl, cq, ch);
		grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME),
							   NULL);
		if (ev.type != GRPC_OP_COMPLETE || !ev.success)
			return -ETIMEDOUT;
		st = grpc_channel_check_connectivity_state(ch, 1);
	}
	return 0;
}

/* The stream whose retry is due first, or NULL if none waits. */
static struct stream *next_retry(struct run *r, struct stream *streams)
{
	struct stream *first = NULL;
	for (unsigned i = 0; i < r->o->streams; i++)
		if (streams[i].retry_at > 0 && (first == NULL || streams[i].retry_at < first->retry_at))
			first = &streams[i];
	return first;
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
	if (o.retries == 0)
		o.retries = 5;
	if (o.connect_timeout_s <= 0)
		o.connect_timeout_s = 5;
	if (o.seed == 0)
		o.seed = col_load_fresh_seed();
	memset(res, 0, sizeof(*res));
	res->seed = o.seed;
	r.o = &o;
	r.res = res;
	r.jitter = o.seed ^ 0x6a09e667f3bcc909ull;

	uint8_t *buf;
	size_t len;
	struct otlp_batch *b = col_load_batch(o.spans_per_req, o.service, o.seed);
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

	for (unsigned i = 0; i < o.connections && ret == 0; i++)
		ret = wait_connected(r.ch[i], r.cq, o.connect_timeout_s);

	double t0 = mono_s();
	r.deadline = t0 + o.seconds;
	for (unsigned i = 0; i < o.streams && ret == 0 && may_start(&r); i++) {
		streams[i].conn = i % o.connections;
		ret = start_call(&r, &streams[i]);
	}
	while (r.inflight > 0 || r.waiting > 0) {
		struct stream *due = next_retry(&r, streams);
		gpr_timespec until = gpr_inf_future(GPR_CLOCK_REALTIME);
		if (due != NULL)
			until = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
					     gpr_time_from_micros((int64_t)((due->retry_at - mono_s()) * 1e6),
								  GPR_TIMESPAN));
		grpc_event ev = grpc_completion_queue_next(r.cq, until, NULL);
		struct stream *s;
		if (ev.type == GRPC_QUEUE_TIMEOUT && due != NULL) {
			if (mono_s() < due->retry_at)
				continue;
			s = due;
			s->retry_at = 0;
			r.waiting--;
			bool resend = GRPC_SLICE_LENGTH(s->payload) > 0;
			if ((resend || (ret == 0 && may_start(&r))) && start_call(&r, s) != 0) {
				if (resend)
					res->refused++; /* its last answer was a refusal */
				ret = -EIO;
			}
			continue;
		}
		if (ev.type != GRPC_OP_COMPLETE)
			break;
		s = ev.tag;
		if (finish_call(&r, s))
			continue;
		if (ret == 0 && may_start(&r))
			ret = start_call(&r, s);
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
	for (unsigned i = 0; streams != NULL && i < o.streams; i++)
		grpc_slice_unref(streams[i].payload);
	free(r.ch);
	free(streams);
	free(r.tid_off);
	grpc_slice_unref(r.payload);
	grpc_shutdown();
	return ret;
}
