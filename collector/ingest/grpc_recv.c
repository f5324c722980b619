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

#include "ingest/grpc_recv.h"
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
	int cancelled;
	bool counted; /* in srv->inflight */
	bool generic; /* an unregistered method (grpc_server_request_call) */
	grpc_call_details call_details;
};

struct col_grpc {
	struct col_server *srv;
	grpc_server *server;
	grpc_completion_queue *cq;
	void *method;
	uv_thread_t thread;
	bool thread_started;
	struct col_xq xq;
	uv_async_t done_async; /* the CQ thread has exited */
	int shutdown_tag;
	_Atomic bool draining; /* answer new calls UNAVAILABLE */
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
static void send_reply(struct slot *s, grpc_status_code code, const char *details,
		       const uint8_t *msg, size_t msglen)
{
	grpc_op ops[4];
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
		send_reply(s, GRPC_STATUS_UNAVAILABLE, msg, NULL, 0);
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

/* A call arrived with its request message. CQ thread. */
static void handle_call(struct col_grpc *g, struct slot *s)
{
	struct col_server *srv = g->srv;
	struct col_metrics *m = &srv->metrics;
	char err[256];

	s->counted = true;
	ADD(srv->inflight, 1);
	if (atomic_load_explicit(&g->draining, memory_order_relaxed)) {
		col_metrics_request(m, COL_M_GRPC, COL_OUT_REFUSED);
		send_reply(s, GRPC_STATUS_UNAVAILABLE, "ternd is shutting down; retry later",
			   NULL, 0);
		return;
	}
	if (s->payload == NULL) {
		col_metrics_request(m, COL_M_GRPC, COL_OUT_INVALID);
		send_reply(s, GRPC_STATUS_INVALID_ARGUMENT, "no request message", NULL, 0);
		return;
	}
	size_t len = grpc_byte_buffer_length(s->payload);
	ADD(m->bytes_received, len);
	/* The payload is already in memory (bounded by the max receive
	 * length); reserve it plus an estimate of the decoded batch before
	 * decoding, and refuse if that would pass the limit. */
	uint64_t estimate = (uint64_t)len * 2 + 4096;
	if (!col_mem_reserve(m, estimate)) {
		col_metrics_request(m, COL_M_GRPC, COL_OUT_REFUSED);
		col_log(COL_LOG_WARN, "grpc: memory limit reached (%llu of %llu bytes used); "
				      "answering UNAVAILABLE",
			(unsigned long long)atomic_load(&m->mem_used),
			(unsigned long long)m->mem_limit);
		send_reply(s, GRPC_STATUS_UNAVAILABLE, "ternd memory limit reached; retry later",
			   NULL, 0);
		return;
	}
	s->req.mem = estimate;

	grpc_byte_buffer_reader rd;
	if (!grpc_byte_buffer_reader_init(&rd, s->payload)) {
		col_mem_release(m, s->req.mem);
		col_metrics_request(m, COL_M_GRPC, COL_OUT_INVALID);
		col_log(COL_LOG_INFO, "grpc: cannot read a request payload; answering INVALID_ARGUMENT");
		send_reply(s, GRPC_STATUS_INVALID_ARGUMENT, "unreadable request payload", NULL, 0);
		return;
	}
	grpc_slice *box = malloc(sizeof(*box));
	if (box == NULL) {
		grpc_byte_buffer_reader_destroy(&rd);
		col_mem_release(m, s->req.mem);
		col_metrics_request(m, COL_M_GRPC, COL_OUT_REFUSED);
		send_reply(s, GRPC_STATUS_UNAVAILABLE, "out of memory", NULL, 0);
		return;
	}
	*box = grpc_byte_buffer_reader_readall(&rd);
	grpc_byte_buffer_reader_destroy(&rd);
	grpc_byte_buffer_destroy(s->payload);
	s->payload = NULL;

	int r = col_ingest_decode(&s->req, COL_PROTO_GRPC, GRPC_SLICE_START_PTR(*box),
				  GRPC_SLICE_LENGTH(*box), box, free_slice_box, col_now_ns(),
				  err, sizeof(err));
	if (r != 0) {
		free_slice_box(box);
		col_mem_release(m, s->req.mem);
		s->req.mem = 0;
		if (r == -EINVAL || r == -EMSGSIZE) {
			col_metrics_request(m, COL_M_GRPC, COL_OUT_INVALID);
			col_log(COL_LOG_INFO, "grpc: undecodable Export request (%s); answering %s",
				err, r == -EINVAL ? "INVALID_ARGUMENT" : "RESOURCE_EXHAUSTED");
			send_reply(s, r == -EINVAL ? GRPC_STATUS_INVALID_ARGUMENT :
						     GRPC_STATUS_RESOURCE_EXHAUSTED,
				   err, NULL, 0);
		} else {
			col_metrics_request(m, COL_M_GRPC, COL_OUT_REFUSED);
			col_log(COL_LOG_WARN, "grpc: %s while decoding; answering UNAVAILABLE",
				r == -ENOBUFS ? "memory limit reached" : "out of memory");
			send_reply(s, GRPC_STATUS_UNAVAILABLE,
				   r == -ENOBUFS ? "ternd memory limit reached; retry later" :
						   "ternd out of memory; retry later",
				   NULL, 0);
		}
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
			if (!ev.success || s->cancelled)
				col_log(COL_LOG_WARN, "grpc: a reply was not delivered (%s); the "
						      "client sees the call cancelled",
					ev.success ? "call cancelled" : "batch failed");
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

static int split_host_port(const char *addr, char *host, size_t hostlen, int *port)
{
	const char *c = strrchr(addr, ':');
	if (c == NULL || (size_t)(c - addr) >= hostlen)
		return -EINVAL;
	memcpy(host, addr, (size_t)(c - addr));
	host[c - addr] = '\0';
	*port = atoi(c + 1);
	return 0;
}

static void on_done_async(uv_async_t *a);

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

	grpc_arg args[3];
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[0].value.integer = (int)srv->cfg.max_request_bytes;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS;
	args[1].value.integer = 1024;
	/* gRPC core sets SO_REUSEPORT by default: a second ternd on the same
	 * port would then start and share the traffic instead of failing. */
	args[2].type = GRPC_ARG_INTEGER;
	args[2].key = (char *)GRPC_ARG_ALLOW_REUSEPORT;
	args[2].value.integer = 0;
	grpc_channel_args chargs = { 3, args };

	g->cq = grpc_completion_queue_create_for_next(NULL);
	g->server = grpc_server_create(&chargs, NULL);
	grpc_server_register_completion_queue(g->server, g->cq, NULL);
	g->method = grpc_server_register_method(g->server, EXPORT_METHOD, NULL,
						GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
	grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
	int port = grpc_server_add_http2_port(g->server, srv->cfg.otlp_grpc, creds);
	grpc_server_credentials_release(creds);
	if (port <= 0) {
		snprintf(err, errlen, "cannot listen on %s for OTLP/gRPC", srv->cfg.otlp_grpc);
		ret = -EADDRINUSE;
		goto out_destroy_server;
	}
	char host[200];
	int cfg_port;
	if (split_host_port(srv->cfg.otlp_grpc, host, sizeof(host), &cfg_port) != 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	snprintf(bound, boundlen, "%s:%d", host, port);

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
	grpc_server_destroy(g->server);
	grpc_completion_queue_destroy(g->cq);
	uv_close((uv_handle_t *)&g->done_async, NULL);
	col_xq_close(&g->xq, NULL);
	/* g is referenced by the closing handles; leaked on this fatal path
	 * only if the loop never runs again. ternd runs it before exiting. */
	grpc_shutdown();
	return ret;

out_close_xq:
	col_xq_close(&g->xq, NULL);
out_destroy_server:
	grpc_server_destroy(g->server);
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
	grpc_shutdown();
	g->pending_closes = 3;
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
	uv_timer_init(g->srv->loop, &g->cancel_timer);
	g->cancel_timer.data = g;
	uv_timer_start(&g->cancel_timer, on_cancel_timer, g->srv->cfg.shutdown_timeout_ms + 1, 0);
	if (g->thread_exited)
		finish_close(g);
}
