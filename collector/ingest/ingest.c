/* ingest.c: the path from a decoded request to the pipeline and back. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "ingest/grpc_recv.h"
#include "ingest/listen.h"
#include "log.h"
#include "server.h"

uint64_t col_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

enum col_reason col_reason_of(int err)
{
	switch (err) {
	case -EAGAIN: return COL_WHY_QUEUE;
	case -ESHUTDOWN: return COL_WHY_SHUTDOWN;
	case -ENOBUFS: return COL_WHY_MEMORY;
	case -EINVAL: return COL_WHY_INVALID;
	case -EMSGSIZE:
	case -E2BIG: return COL_WHY_TOO_LARGE;
	default: return COL_WHY_UNAVAILABLE;
	}
}

const char *col_answer_name(enum col_metric_proto p, enum col_reason why)
{
	static const char *const grpc[COL_WHY_N] = {
		"RESOURCE_EXHAUSTED with RetryInfo", "RESOURCE_EXHAUSTED with RetryInfo",
		"UNAVAILABLE", "UNAVAILABLE", "INVALID_ARGUMENT", "INVALID_ARGUMENT",
		"UNAUTHENTICATED",
	};
	static const char *const http[COL_WHY_N] = { "429", "429", "503", "503", "400", "413",
						     "401" };
	return p == COL_M_GRPC ? grpc[why] : http[why];
}

void col_ingest_refused(struct col_server *srv, enum col_metric_proto p, enum col_reason why,
			const char *detail, const char *answer)
{
	static const char *const what[COL_WHY_N] = {
		"memory limit reached", "pipeline queue full", "shutting down", "out of memory or storage failing",
		"invalid request", "request too large", "no valid bearer token",
	};
	struct col_metrics *m = &srv->metrics;
	uint64_t suppressed;
	col_metrics_reason(m, p, why);
	if (!col_metrics_should_log(m, why, &suppressed))
		return;
	col_log(why >= COL_WHY_INVALID ? COL_LOG_INFO : COL_LOG_WARN,
		"%s: %llu request(s) refused (%s%s%s%s); answering %s (ternd_requests_refused_total"
		"{reason=\"%s\"})",
		p == COL_M_GRPC ? "grpc" : "http", (unsigned long long)suppressed + 1, what[why],
		detail ? ": " : "", detail ? detail : "",
		why == COL_WHY_MEMORY ? ", see --memory-limit" : "", answer ? answer : "an error",
		col_reason_name(why));
}

#define ADD(x, n) atomic_fetch_add_explicit(&(x), (n), memory_order_relaxed)
#define SUB(x, n) atomic_fetch_sub_explicit(&(x), (n), memory_order_relaxed)

static void finish(struct col_ingest_req *r, int status)
{
	struct col_metrics *m = &r->srv->metrics;
	uint64_t mem = r->mem;
	if (status == 0) {
		ADD(m->spans_accepted, r->n_spans);
		col_metrics_request(m, r->mproto, r->n_rejected ? COL_OUT_PARTIAL : COL_OUT_OK);
	} else {
		ADD(m->spans_refused, r->n_spans);
		/* After decoding, every refusal is about ternd, not the request. */
		enum col_reason why = col_reason_of(status);
		if (why >= COL_WHY_INVALID)
			why = COL_WHY_UNAVAILABLE;
		col_ingest_refused(r->srv, r->mproto, why,
				   why == COL_WHY_UNAVAILABLE ? strerror(-status) : NULL,
				   col_answer_name(r->mproto, why));
	}
	col_batch_free(r->batch);
	r->batch = NULL;
	r->reply(r, status); /* may free r */
	col_mem_release(m, mem);
}

static void on_ack(void *arg, int status)
{
	struct col_ingest_req *r = arg;
	SUB(r->srv->metrics.queue_depth, 1);
	finish(r, status);
}

void col_ingest_submit(struct col_ingest_req *r)
{
	struct col_server *srv = r->srv;
	int st;
	if (srv->stage == NULL) {
		st = -ESHUTDOWN;
	} else if (atomic_load_explicit(&srv->metrics.queue_depth, memory_order_relaxed) >=
		   srv->cfg.max_queued_batches) {
		st = -EAGAIN;
	} else {
		ADD(srv->metrics.queue_depth, 1);
		st = col_stage_submit(srv->stage, r->batch, on_ack, r);
		if (st == 0) {
			r->batch = NULL; /* the stage's now */
			return;
		}
		SUB(srv->metrics.queue_depth, 1);
	}
	/* Counted and logged (rate-limited) by the receiver's reply. */
	finish(r, st);
}

int col_ingest_decode(struct col_ingest_req *r, enum col_proto proto, const void *buf,
		      size_t len, void *owner, void (*free_fn)(void *), uint64_t recv_ns,
		      char *err, size_t errlen)
{
	struct col_server *srv = r->srv;
	struct col_metrics *m = &srv->metrics;
	int ret;

	struct otlp_batch *b = otlp_batch_new();
	if (b == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (proto == COL_PROTO_HTTP_JSON)
		ret = otlp_decode_json(b, buf, len, &srv->limits, err, errlen);
	else
		ret = otlp_decode_proto(b, buf, len, &srv->limits, err, errlen);
	if (ret != 0)
		goto out_free_batch;
	/* Account what the batch holds plus the body, against the estimate
	 * reserved before decoding. */
	uint64_t need = otlp_batch_mem(b) + len;
	if (need > r->mem) {
		if (!col_mem_reserve(m, need - r->mem)) {
			snprintf(err, errlen, "memory limit reached");
			ret = -ENOBUFS;
			goto out_free_batch;
		}
	} else {
		col_mem_release(m, r->mem - need);
	}
	r->mem = need;
	uint64_t n_spans = b->n_spans, n_rejected = b->n_rejected;
	snprintf(r->reject_msg, sizeof(r->reject_msg), "%s", b->reject_msg);
	struct col_batch *cb = col_batch_new(b, proto, len, recv_ns);
	if (cb == NULL) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out_free_batch;
	}
	if (proto != COL_PROTO_HTTP_JSON && owner != NULL &&
	    otlp_batch_attach_sized(b, owner, len, free_fn) != 0) {
		col_batch_free(cb);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->batch = cb;
	r->n_spans = n_spans;
	r->n_rejected = n_rejected;
	ADD(m->spans_received, n_spans + n_rejected);
	ADD(m->spans_rejected, n_rejected);
	return 0;

out_free_batch:
	otlp_batch_free(b);
	return ret;
}

bool col_ingest_listeners_ok(struct col_server *srv, char *why, size_t whylen)
{
	/* A listener that refused within the last 2 s cannot take a new
	 * connection now: the process is at its descriptor limit. */
	uint64_t now = uv_now(srv->loop);
	const struct col_listener *ls[3] = {
		srv->grpc ? col_grpc_listener(srv->grpc) : NULL,
		srv->otlp_http ? col_http_listener(srv->otlp_http) : NULL,
		srv->query ? col_http_listener(srv->query) : NULL,
	};
	for (size_t i = 0; i < 3; i++)
		if (ls[i] != NULL && col_listener_troubled(ls[i], now, 2000, why, whylen))
			return false;
	return true;
}
