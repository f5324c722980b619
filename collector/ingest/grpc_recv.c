/*
 * grpc_recv.c: OTLP/gRPC Export on the gRPC C core.
 *
 * The completion-queue thread owns request/reply bookkeeping: it keeps
 * cfg.grpc_calls calls requested, decodes each arriving call (zero-copy: the
 * payload slice is attached to the batch) and hands it to the loop through
 * an xqueue. The loop submits the batch and, on ack, starts the reply batch
 * (grpc_call_start_batch is thread-safe). The CQ thread sees the reply
 * complete and frees the call. Errors found before submitting are answered
 * straight from the CQ thread.
 *
 * ternd accepts the connections itself (ingest/listen.c) and hands them to
 * gRPC core, whose own listener stops for good after one EMFILE. gRPC core's
 * decompression is off: it inflated a whole message before checking its
 * size (a 4 MB gzip bomb took 4 GiB); ternd inflates with the bounded
 * gunzip that HTTP uses, reserving the output against --memory-limit.
 *
 * Answers: a request refused for what it is (undecodable, too big, too
 * many) gets INVALID_ARGUMENT, which clients do not retry; load gets
 * RESOURCE_EXHAUSTED with google.rpc.RetryInfo (retry after a delay), and
 * shutting down UNAVAILABLE.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include <grpc/grpc_posix.h>

#include "ingest/auth.h"
#include "ingest/grpc_recv.h"
#include "ingest/inflate.h"
#include "ingest/listen.h"
#include "log.h"
#include "server.h"

#define EXPORT_METHOD "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

enum slot_phase { SLOT_REQUESTED, SLOT_REPLYING };

/* Calls to other methods are taken too (a few generic requests), so that
 * clients get UNIMPLEMENTED at once instead of waiting for their deadline. */
#define GENERIC_CALLS 4

struct slot {
	struct col_ingest_req req;
	struct col_grpc *g;
	enum slot_phase phase;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_byte_buffer *payload;
	grpc_byte_buffer *resp;
	grpc_slice details;
	grpc_metadata trailer;  /* grpc-status-details-bin, when has_trailer */
	bool has_trailer;
	int cancelled;
	bool counted; /* in srv->inflight */
	bool generic; /* an unregistered method (grpc_server_request_call) */
	grpc_call_details call_details;
};

struct col_grpc {
	struct col_server *srv;
	grpc_server *server;
	grpc_server_credentials *creds;
	grpc_resource_quota *quota;
	struct col_listener listener;
	grpc_completion_queue *cq;
	void *method;
	uv_thread_t thread;
	bool thread_started;
	struct col_xq xq;
	uv_async_t done_async; /* the CQ thread has exited */
	int shutdown_tag;
	_Atomic bool draining; /* answer new calls UNAVAILABLE */
	struct col_ratelimit undelivered_log;
	_Atomic bool stopping; /* server shut down: stop requesting calls */
	uv_timer_t cancel_timer;
	bool cancel_timer_on;
	bool shutdown_called;
	bool thread_exited;
	void (*done)(void *);
	void *done_arg;
	int pending_closes;
};

#define ADD(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define SUB(x, n) atomic_fetch_sub_explicit(&(x), (n), memory_order_relaxed)

static void slot_free(struct slot *s)
{
	if (s->payload)
		grpc_byte_buffer_destroy(s->payload);
	if (s->resp)
		grpc_byte_buffer_destroy(s->resp);
	grpc_slice_unref(s->details);
	if (s->has_trailer)
		grpc_slice_unref(s->trailer.value);
	grpc_metadata_array_destroy(&s->md);
	if (s->generic)
		grpc_call_details_destroy(&s->call_details);
	if (s->call)
		grpc_call_unref(s->call);
	if (s->counted)
		SUB(s->g->srv->inflight, 1);
	free(s);
}

/* Keeps one more call requested. CQ thread (or the loop at start). */
static int request_call(struct col_grpc *g)
{
	struct slot *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->g = g;
	s->details = grpc_empty_slice();
	s->req.srv = g->srv;
	s->req.mproto = COL_M_GRPC;
	grpc_metadata_array_init(&s->md);
	grpc_call_error e = grpc_server_request_registered_call(
		g->server, g->method, &s->call, &s->deadline, &s->md, &s->payload, g->cq,
		g->cq, s);
	if (e != GRPC_CALL_OK) {
		grpc_metadata_array_destroy(&s->md);
		free(s);
		return -EIO;
	}
	return 0;
}

/* Keeps one more call to any other method requested. */
static int request_generic(struct col_grpc *g)
{
	struct slot *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->g = g;
	s->generic = true;
	s->details = grpc_empty_slice();
	grpc_metadata_array_init(&s->md);
	grpc_call_details_init(&s->call_details);
	if (grpc_server_request_call(g->server, &s->call, &s->call_details, &s->md, g->cq, g->cq,
				     s) != GRPC_CALL_OK) {
		grpc_call_details_destroy(&s->call_details);
		grpc_metadata_array_destroy(&s->md);
		free(s);
		return -EIO;
	}
	return 0;
}

/*
 * Starts the reply: status, details and (for OK) the response message.
 * Any thread. The CQ thread frees the slot when the batch completes.
 */
/* Appends v as a protobuf varint. */
/* How long an overloaded ternd asks clients to wait. */
#define RETRY_DELAY_MS 1000

static void send_reply(struct slot *s, grpc_status_code code, const char *details,
		       const uint8_t *msg, size_t msglen)
{
	grpc_op ops[4];
	uint8_t status_buf[512];
	size_t n = 0;
	memset(ops, 0, sizeof(ops));
	s->phase = SLOT_REPLYING;
	ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
	n++;
	if (code == GRPC_STATUS_OK) {
		grpc_slice sl = grpc_slice_from_copied_buffer((const char *)msg, msglen);
		s->resp = grpc_raw_byte_buffer_create(&sl, 1);
		grpc_slice_unref(sl);
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n].data.send_message.send_message = s->resp;
		n++;
	}
	grpc_slice_unref(s->details);
	s->details = details && details[0] ? grpc_slice_from_copied_string(details) :
					     grpc_empty_slice();
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	if (code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
		/* Load, not the request: say when to come back (without RetryInfo
		 * OTLP exporters take RESOURCE_EXHAUSTED as final). */
		size_t ml = details ? strlen(details) : 0;
		if (ml > 200)
			ml = 200;
		memset(&s->trailer, 0, sizeof(s->trailer));
		s->trailer.key = grpc_slice_from_static_string("grpc-status-details-bin");
		s->trailer.value = grpc_slice_from_copied_buffer(
			(const char *)status_buf,
			otlp_encode_retry_status(status_buf, sizeof(status_buf), code,
						 details ? details : "", ml, RETRY_DELAY_MS));
		s->has_trailer = true;
		ops[n].data.send_status_from_server.trailing_metadata_count = 1;
		ops[n].data.send_status_from_server.trailing_metadata = &s->trailer;
	}
	ops[n].data.send_status_from_server.status = code;
	ops[n].data.send_status_from_server.status_details = &s->details;
	n++;
	ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
	ops[n].data.recv_close_on_server.cancelled = &s->cancelled;
	n++;
	grpc_call_error e = grpc_call_start_batch(s->call, ops, n, s, NULL);
	if (e != GRPC_CALL_OK) {
		/* Nothing will complete for this slot: free it here. */
		col_log(COL_LOG_ERROR, "grpc: cannot start reply (error %d); dropping the call",
			(int)e);
		slot_free(s);
	}
}

/* The pipeline's verdict, on the loop thread. */
static void reply_ack(struct col_ingest_req *r, int status)
{
	struct slot *s = container_of(r, struct slot, req);
	if (status != 0) {
		char msg[160];
		snprintf(msg, sizeof(msg), "ternd cannot take the batch now (%s); retry later",
			 status == -ESHUTDOWN ? "shutting down" :
			 status == -EAGAIN    ? "pipeline queue full" : strerror(-status));
		/* Load (queue full, memory): RESOURCE_EXHAUSTED with RetryInfo.
		 * Shutting down, the store failing: UNAVAILABLE. Both retried. */
		bool busy = status == -EAGAIN || status == -ENOBUFS;
		send_reply(s, busy ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_UNAVAILABLE, msg,
			   NULL, 0);
		return;
	}
	struct otlp_response resp = { 0 };
	uint8_t *out = NULL;
	size_t outlen = 0;
	if (r->n_rejected) {
		resp.rejected_spans = (int64_t)r->n_rejected;
		snprintf(resp.error_message, sizeof(resp.error_message), "%s", r->reject_msg);
	}
	if (otlp_encode_response_proto(&resp, &out, &outlen) != 0) {
		col_log(COL_LOG_ERROR, "grpc: out of memory encoding a response; answering UNAVAILABLE");
		send_reply(s, GRPC_STATUS_UNAVAILABLE, "out of memory", NULL, 0);
		return;
	}
	send_reply(s, GRPC_STATUS_OK, NULL, out, outlen);
	free(out);
}

static void free_slice_box(void *p)
{
	grpc_slice *sl = p;
	grpc_slice_unref(*sl);
	free(sl);
}

static bool reserve_cb(void *arg, size_t n)
{
	return col_mem_reserve(arg, n);
}

/* Answers a refusal: counts it, logs (rate-limited), replies. CQ thread. */
static void refuse_why(struct slot *s, enum col_reason why, const char *detail)
{
	static const grpc_status_code codes[COL_WHY_N] = {
		GRPC_STATUS_RESOURCE_EXHAUSTED, GRPC_STATUS_RESOURCE_EXHAUSTED,
		GRPC_STATUS_UNAVAILABLE,	GRPC_STATUS_UNAVAILABLE,
		GRPC_STATUS_INVALID_ARGUMENT,	GRPC_STATUS_INVALID_ARGUMENT,
		GRPC_STATUS_UNAUTHENTICATED,
	};
	char msg[320];
	col_ingest_refused(s->g->srv, COL_M_GRPC, why, detail, col_answer_name(COL_M_GRPC, why));
	switch (why) {
	case COL_WHY_MEMORY:
		snprintf(msg, sizeof(msg), "ternd memory limit reached; retry later");
		break;
	case COL_WHY_SHUTDOWN:
		snprintf(msg, sizeof(msg), "ternd is shutting down; retry later");
		break;
	case COL_WHY_UNAVAILABLE:
		snprintf(msg, sizeof(msg), "ternd out of memory; retry later");
		break;
	case COL_WHY_UNAUTHENTICATED:
		snprintf(msg, sizeof(msg), "send 'authorization: Bearer TOKEN' (ternd --ingest-token)");
		break;
	default:
		snprintf(msg, sizeof(msg), "%s", detail ? detail : "bad request");
	}
	send_reply(s, codes[why], msg, NULL, 0);
}

static void refuse(struct slot *s, int err, const char *detail)
{
	refuse_why(s, col_reason_of(err), detail);
}

/* The call's "authorization" metadata matches --ingest-token (or none is set). */
static bool authorized(const struct col_server *srv, const struct slot *s)
{
	const char *token = srv->cfg.ingest_token;
	if (token[0] == '\0')
		return true;
	for (size_t i = 0; i < s->md.count; i++)
		if (grpc_slice_str_cmp(s->md.metadata[i].key, "authorization") == 0)
			return col_bearer_ok(token,
					     (const char *)GRPC_SLICE_START_PTR(s->md.metadata[i].value),
					     GRPC_SLICE_LENGTH(s->md.metadata[i].value));
	return false;
}

/*
 * The request message as one contiguous slice in *box: inflated (bounded,
 * reserved against the memory limit into *mem) when the client compressed
 * it. Returns 0 or a negative errno for refuse(), with a message in err.
 */
static int read_payload(struct col_grpc *g, struct slot *s, grpc_slice *box, uint64_t *mem,
			char *err, size_t errlen)
{
	struct col_server *srv = g->srv;
	grpc_byte_buffer *bb = s->payload;
	grpc_compression_algorithm alg = bb->type == GRPC_BB_RAW ? bb->data.raw.compression :
								   GRPC_COMPRESS_NONE;
	if (alg == GRPC_COMPRESS_NONE) {
		grpc_byte_buffer_reader rd;
		if (!grpc_byte_buffer_reader_init(&rd, bb)) {
			snprintf(err, errlen, "unreadable request payload");
			return -EINVAL;
		}
		*box = grpc_byte_buffer_reader_readall(&rd);
		grpc_byte_buffer_reader_destroy(&rd);
		return 0;
	}
	if (alg != GRPC_COMPRESS_GZIP && alg != GRPC_COMPRESS_DEFLATE) {
		snprintf(err, errlen, "unsupported grpc-encoding (use gzip, deflate or identity)");
		return -EINVAL;
	}
	/* Never grpc_byte_buffer_reader_init() here: it would inflate the
	 * whole message, unbounded. Flatten the compressed slices (bounded by
	 * the max receive length, already reserved) and inflate ourselves. */
	grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
	uint8_t *flat = NULL;
	const uint8_t *in;
	size_t inlen = sb->length;
	if (sb->count == 1) {
		in = GRPC_SLICE_START_PTR(sb->slices[0]);
	} else {
		flat = malloc(inlen ? inlen : 1);
		if (flat == NULL) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		size_t off = 0;
		for (size_t i = 0; i < sb->count; i++) {
			memcpy(flat + off, GRPC_SLICE_START_PTR(sb->slices[i]),
			       GRPC_SLICE_LENGTH(sb->slices[i]));
			off += GRPC_SLICE_LENGTH(sb->slices[i]);
		}
		in = flat;
	}
	uint8_t *out = NULL;
	size_t outlen = 0, reserved = 0;
	int r = col_gunzip_reserve(in, inlen, srv->cfg.max_request_bytes, &out, &outlen,
				   reserve_cb, &srv->metrics, &reserved);
	free(flat);
	*mem += reserved;
	if (r == -EMSGSIZE) {
		snprintf(err, errlen, "message inflates past the largest request (%llu bytes)",
			 (unsigned long long)srv->cfg.max_request_bytes);
		return r;
	}
	if (r == -EINVAL) {
		snprintf(err, errlen, "message is not valid %s",
			 alg == GRPC_COMPRESS_GZIP ? "gzip" : "deflate");
		return r;
	}
	if (r != 0) {
		snprintf(err, errlen, "%s", r == -ENOBUFS ? "memory limit reached" : "out of memory");
		return r;
	}
	*box = grpc_slice_new(out, outlen, free);
	return 0;
}

/* A call arrived with its request message. CQ thread. */
static void handle_call(struct col_grpc *g, struct slot *s)
{
	struct col_server *srv = g->srv;
	struct col_metrics *m = &srv->metrics;
	char err[256];

	s->counted = true;
	ADD(srv->inflight, 1);
	if (atomic_load_explicit(&g->draining, memory_order_relaxed)) {
		refuse(s, -ESHUTDOWN, NULL);
		return;
	}
	if (!authorized(srv, s)) {
		refuse_why(s, COL_WHY_UNAUTHENTICATED, NULL);
		return;
	}
	if (s->payload == NULL) {
		refuse(s, -EINVAL, "no request message");
		return;
	}
	size_t len = grpc_byte_buffer_length(s->payload);
	ADD(m->bytes_received, len);
	/* The payload is already in memory (bounded by the max receive
	 * length); reserve it plus an estimate of the decoded batch before
	 * decoding, and refuse if that would pass the limit. */
	uint64_t estimate = (uint64_t)len * 2 + 4096;
	if (!col_mem_reserve(m, estimate)) {
		refuse(s, -ENOBUFS, NULL);
		return;
	}
	s->req.mem = estimate;

	grpc_slice *box = malloc(sizeof(*box));
	if (box == NULL) {
		col_mem_release(m, s->req.mem);
		refuse(s, -ENOMEM, NULL);
		return;
	}
	int r = read_payload(g, s, box, &s->req.mem, err, sizeof(err));
	grpc_byte_buffer_destroy(s->payload);
	s->payload = NULL;
	if (r != 0) {
		free(box);
		col_mem_release(m, s->req.mem);
		s->req.mem = 0;
		refuse(s, r, err);
		return;
	}

	r = col_ingest_decode(&s->req, COL_PROTO_GRPC, GRPC_SLICE_START_PTR(*box),
			      GRPC_SLICE_LENGTH(*box), box, free_slice_box, col_now_ns(), err,
			      sizeof(err));
	if (r != 0) {
		free_slice_box(box);
		col_mem_release(m, s->req.mem);
		s->req.mem = 0;
		refuse(s, r, err);
		return;
	}
	if (s->req.n_spans == 0) {
		/* Nothing for the pipeline (empty, or every span rejected). */
		s->req.reply = reply_ack;
		col_batch_free(s->req.batch);
		s->req.batch = NULL;
		col_metrics_request(m, COL_M_GRPC,
				    s->req.n_rejected ? COL_OUT_PARTIAL : COL_OUT_OK);
		uint64_t mem = s->req.mem;
		reply_ack(&s->req, 0);
		col_mem_release(m, mem);
		return;
	}
	s->req.reply = reply_ack;
	col_xq_push(&g->xq, &s->req.node);
}

static void cq_thread(void *arg)
{
	struct col_grpc *g = arg;
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			g->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.type != GRPC_OP_COMPLETE)
			continue;
		if (ev.tag == &g->shutdown_tag) {
			grpc_completion_queue_shutdown(g->cq);
			continue;
		}
		struct slot *s = ev.tag;
		if (s->phase == SLOT_REPLYING) {
			if (!ev.success || s->cancelled) {
				/* One line a second: a flood of half-open streams must
				 * not become a flood of log lines. */
				uint64_t n;
				if (col_ratelimit_ok(&g->undelivered_log, &n))
					col_log(COL_LOG_WARN, "grpc: %llu repl%s not delivered (%s); "
							      "the client sees the call cancelled",
						(unsigned long long)n + 1, n ? "ies were" : "y was",
						ev.success ? "call cancelled" : "batch failed");
			}
			slot_free(s);
			continue;
		}
		if (!ev.success) { /* the server is shutting down */
			slot_free(s);
			continue;
		}
		if (s->generic) {
			if (!atomic_load(&g->stopping) && request_generic(g) != 0)
				col_log(COL_LOG_ERROR, "grpc: cannot request another generic call; "
						      "serving with one fewer");
			col_log(COL_LOG_INFO, "grpc: call to unknown method %.*s; answering UNIMPLEMENTED",
				(int)GRPC_SLICE_LENGTH(s->call_details.method),
				(const char *)GRPC_SLICE_START_PTR(s->call_details.method));
			send_reply(s, GRPC_STATUS_UNIMPLEMENTED,
				   "ternd serves " EXPORT_METHOD " only", NULL, 0);
			continue;
		}
		if (!atomic_load(&g->stopping) && request_call(g) != 0)
			col_log(COL_LOG_ERROR, "grpc: cannot request another call; serving with one fewer");
		handle_call(g, s);
	}
	uv_async_send(&g->done_async);
}
/* Decoded calls from the CQ thread, on the loop. */
static void on_calls(struct col_xq *q, struct col_xq_node *list)
{
	while (list != NULL) {
		struct col_xq_node *next = list->next;
		struct col_ingest_req *r = container_of(list, struct col_ingest_req, node);
		col_ingest_submit(r);
		list = next;
	}
}

static void on_done_async(uv_async_t *a);

/* A connection from ternd's listener, for gRPC core. Loop thread. */
static void on_conn(struct col_listener *l, int fd)
{
	struct col_grpc *g = l->data;
	grpc_server_add_channel_from_fd(g->server, fd, g->creds);
}

static void release_core_objects(struct col_grpc *g)
{
	if (g->creds != NULL)
		grpc_server_credentials_release(g->creds);
	g->creds = NULL;
	if (g->quota != NULL)
		grpc_resource_quota_unref(g->quota);
	g->quota = NULL;
}

int col_grpc_start(struct col_server *srv, struct col_grpc **out, char *bound,
		   size_t boundlen, char *err, size_t errlen)
{
	struct col_grpc *g = calloc(1, sizeof(*g));
	int ret;
	if (g == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	g->srv = srv;
	grpc_init();

	/* Everything a client controls is bounded here or in handle_call()
	 * (docs/security.md lists each limit). */
	const struct col_config *c = &srv->cfg;
	g->quota = grpc_resource_quota_create("ternd");
	grpc_resource_quota_resize(g->quota, (size_t)c->grpc_memory);
	struct {
		const char *key;
		int value;
	} ints[] = {
		{ GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, (int)c->max_request_bytes },
		{ GRPC_ARG_MAX_CONCURRENT_STREAMS, (int)c->max_streams },
		/* ternd inflates, bounded (read_payload()). */
		{ GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION, 0 },
		{ GRPC_ARG_MAX_CONNECTION_IDLE_MS, (int)c->idle_timeout_ms },
		{ GRPC_ARG_MAX_CONNECTION_AGE_MS,
		  c->max_connection_age_ms > INT32_MAX ? INT32_MAX : (int)c->max_connection_age_ms },
		{ GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, (int)c->idle_timeout_ms },
		{ GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, (int)c->idle_timeout_ms },
		{ GRPC_ARG_MAX_METADATA_SIZE, 16 << 10 },
	};
	enum { N_INTS = sizeof(ints) / sizeof(ints[0]) };
	grpc_arg args[N_INTS + 1];
	for (size_t i = 0; i < N_INTS; i++) {
		args[i].type = GRPC_ARG_INTEGER;
		args[i].key = (char *)ints[i].key;
		args[i].value.integer = ints[i].value;
	}
	args[N_INTS].type = GRPC_ARG_POINTER;
	args[N_INTS].key = (char *)GRPC_ARG_RESOURCE_QUOTA;
	args[N_INTS].value.pointer.p = g->quota;
	args[N_INTS].value.pointer.vtable = grpc_resource_quota_arg_vtable();
	grpc_channel_args chargs = { N_INTS + 1, args };

	g->cq = grpc_completion_queue_create_for_next(NULL);
	g->server = grpc_server_create(&chargs, NULL);
	grpc_server_register_completion_queue(g->server, g->cq, NULL);
	g->method = grpc_server_register_method(g->server, EXPORT_METHOD, NULL,
						GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	g->creds = grpc_insecure_server_credentials_create();
	/* ternd's listener, not grpc_server_add_http2_port (see the top). */
	g->listener.data = g;
	g->listener.max_fds = c->max_connections;
	g->listener.fd_reserve = c->fd_reserve;
	g->listener.refused_total = &srv->metrics.conns_refused;
	ret = col_listener_open(&g->listener, srv->loop, "otlp-grpc", c->otlp_grpc, bound,
				boundlen, err, errlen);
	if (ret != 0) {
		ret = -EADDRINUSE;
		goto out_destroy_server;
	}

	ret = col_xq_init(&g->xq, srv->loop, on_calls);
	if (ret != 0) {
		snprintf(err, errlen, "uv_async_init: %s", uv_strerror(ret));
		goto out_destroy_server;
	}
	ret = uv_async_init(srv->loop, &g->done_async, on_done_async);
	if (ret != 0) {
		snprintf(err, errlen, "uv_async_init: %s", uv_strerror(ret));
		goto out_close_xq;
	}
	g->done_async.data = g;
	grpc_server_start(g->server);
	ret = col_listener_start(&g->listener, on_conn);
	if (ret != 0) {
		snprintf(err, errlen, "uv_poll_start: %s", uv_strerror(ret));
		goto out_shutdown;
	}
	for (uint32_t i = 0; i < srv->cfg.grpc_calls + GENERIC_CALLS; i++) {
		if ((i < srv->cfg.grpc_calls ? request_call(g) : request_generic(g)) != 0) {
			snprintf(err, errlen, "cannot request gRPC calls");
			ret = -ENOMEM;
			goto out_shutdown;
		}
	}
	ret = uv_thread_create(&g->thread, cq_thread, g);
	if (ret != 0) {
		snprintf(err, errlen, "cannot start the gRPC thread: %s", uv_strerror(ret));
		goto out_shutdown;
	}
	g->thread_started = true;
	*out = g;
	return 0;

out_shutdown:
	/* Requested calls complete with success=0 once the server shuts
	 * down; drain them here since no thread runs yet. */
	grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
	grpc_server_cancel_all_calls(g->server);
	for (;;) {
		grpc_event ev = grpc_completion_queue_next(
			g->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
		if (ev.type == GRPC_QUEUE_SHUTDOWN)
			break;
		if (ev.tag == &g->shutdown_tag)
			grpc_completion_queue_shutdown(g->cq);
		else if (ev.type == GRPC_OP_COMPLETE)
			slot_free(ev.tag);
	}
	col_listener_close(&g->listener, NULL);
	grpc_server_destroy(g->server);
	grpc_completion_queue_destroy(g->cq);
	release_core_objects(g);
	uv_close((uv_handle_t *)&g->done_async, NULL);
	col_xq_close(&g->xq, NULL);
	/* g is referenced by the closing handles; leaked on this fatal path
	 * only if the loop never runs again. ternd runs it before exiting. */
	grpc_shutdown();
	return ret;

out_close_xq:
	col_xq_close(&g->xq, NULL);
	col_listener_close(&g->listener, NULL);
out_destroy_server:
	grpc_server_destroy(g->server);
	release_core_objects(g);
	grpc_completion_queue_shutdown(g->cq);
	while (grpc_completion_queue_next(g->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(g->cq);
	grpc_shutdown();
	if (ret == -EADDRINUSE) /* no handle references g yet */
		free(g);
	return ret;
}

void col_grpc_stop_accepting(struct col_grpc *g)
{
	/* The server keeps taking calls and answers them UNAVAILABLE (which
	 * clients retry) until col_grpc_close(): shutting the server down now
	 * would cancel calls racing with the shutdown. */
	atomic_store(&g->draining, true);
}

const struct col_listener *col_grpc_listener(const struct col_grpc *g)
{
	return &g->listener;
}

void col_grpc_cancel_all(struct col_grpc *g)
{
	if (g->shutdown_called)
		grpc_server_cancel_all_calls(g->server);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct col_grpc *g = h->data;
	if (--g->pending_closes > 0)
		return;
	void (*done)(void *) = g->done;
	void *arg = g->done_arg;
	free(g);
	done(arg);
}

static void on_listener_closed(uv_handle_t *h)
{
	struct col_grpc *g = container_of(h, struct col_grpc, listener.poll);
	on_handle_closed((uv_handle_t *)&g->done_async);
}

static void on_xq_closed(struct col_xq *q)
{
	on_handle_closed((uv_handle_t *)&((struct col_grpc *)q->data)->done_async);
}

static void finish_close(struct col_grpc *g)
{
	uv_thread_join(&g->thread);
	g->thread_started = false;
	grpc_server_destroy(g->server);
	grpc_completion_queue_destroy(g->cq);
	release_core_objects(g);
	grpc_shutdown();
	g->pending_closes = g->listener.fd >= 0 ? 4 : 3;
	col_listener_close(&g->listener, on_listener_closed);
	g->xq.data = g;
	uv_timer_stop(&g->cancel_timer);
	uv_close((uv_handle_t *)&g->cancel_timer, on_handle_closed);
	uv_close((uv_handle_t *)&g->done_async, on_handle_closed);
	col_xq_close(&g->xq, on_xq_closed);
}

static void on_done_async(uv_async_t *a)
{
	struct col_grpc *g = a->data;
	g->thread_exited = true;
	if (g->done != NULL)
		finish_close(g);
}

static void on_cancel_timer(uv_timer_t *t)
{
	struct col_grpc *g = t->data;
	col_log(COL_LOG_WARN, "grpc: calls still open %u ms after shutdown; cancelling them",
		g->srv->cfg.shutdown_timeout_ms);
	grpc_server_cancel_all_calls(g->server);
}

void col_grpc_close(struct col_grpc *g, void (*done)(void *arg), void *arg)
{
	atomic_store(&g->draining, true);
	atomic_store(&g->stopping, true);
	g->shutdown_called = true;
	g->done = done;
	g->done_arg = arg;
	/* Every call ternd took has its answer started by now; the shutdown
	 * completes once they are sent. Calls still open after the timeout
	 * (a stuck client) are cancelled. */
	grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
	/* No connection for a server shutting down. */
	if (g->listener.fd >= 0)
		uv_poll_stop(&g->listener.poll);
	uv_timer_init(g->srv->loop, &g->cancel_timer);
	g->cancel_timer.data = g;
	uv_timer_start(&g->cancel_timer, on_cancel_timer, g->srv->cfg.shutdown_timeout_ms + 1, 0);
	if (g->thread_exited)
		finish_close(g);
}
