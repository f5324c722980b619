/*
 * otlp_http.c: OTLP/HTTP POST /v1/traces (protobuf or JSON, optional gzip).
 *
 * Bodies are decoded on the loop (the protobuf decode is fast enough that a
 * thread hop costs more than it saves; see docs/ternd.md). The answer goes
 * out when the pipeline acks; if the client went away meanwhile, the pool
 * dispose callback has cleared job->hreq and the ack only frees the job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "ingest/auth.h"
#include "ingest/inflate.h"
#include "log.h"
#include "otlp.h"
#include "server.h"

#define RPC_INVALID_ARGUMENT 3
#define RPC_RESOURCE_EXHAUSTED 8
#define RPC_UNAVAILABLE 14

struct http_job {
	struct col_ingest_req req;
	h2o_req_t *hreq;         /* NULL once h2o disposed the request */
	struct http_job **slot;  /* in the request's pool */
	bool json;
	bool gzip;
	uv_work_t work;          /* JSON and gzip bodies decode off the loop */
	uint8_t *body;           /* our copy of the body for an offloaded decode */
	size_t body_len;
	uint64_t recv_ns;
	int result;              /* of decode_job(): 0, -EINVAL, -EMSGSIZE, -E2BIG, -ENOBUFS, -ENOMEM */
	char err[256];
};

static const char CT_PROTO[] = "application/x-protobuf";
static const char CT_JSON[] = "application/json";

/* google.rpc.Status{code, message}: the OTLP/HTTP error body. Out of
 * memory, the status line still goes out, with an empty body. */
static void send_status(h2o_req_t *req, bool json, int http_status, const char *reason,
			int code, const char *msg, bool retry)
{
	size_t ml = strlen(msg);
	if (ml > 512)
		ml = 512;
	if (retry)
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
			       H2O_STRLIT("1"));
	void *body = NULL;
	size_t len = 0;
	int rc = json ? otlp_encode_status_json(code, msg, ml, (char **)&body, &len)
		      : otlp_encode_status_proto(code, msg, ml, (uint8_t **)&body, &len);
	if (rc != 0)
		len = 0;
	col_http_send(req, http_status, reason, json ? CT_JSON : CT_PROTO, body, len);
	free(body);
}

/*
 * Answers a refusal: 400/413 for what the request is (not retried), 429 for
 * load and 503 for shutdown or out of memory, both with Retry-After. Counts
 * it and logs at most a line a second. Loop thread.
 */
static void refuse(struct col_server *srv, h2o_req_t *req, bool json, int err,
		   const char *detail)
{
	/* err 0: no valid bearer token. */
	enum col_reason why = err == 0 ? COL_WHY_UNAUTHENTICATED : col_reason_of(err);
	col_ingest_refused(srv, COL_M_HTTP, why, detail, col_answer_name(COL_M_HTTP, why));
	if (req == NULL)
		return;
	switch (why) {
	case COL_WHY_INVALID:
		send_status(req, json, 400, "Bad Request", RPC_INVALID_ARGUMENT,
			    detail ? detail : "bad request", false);
		break;
	case COL_WHY_UNAUTHENTICATED:
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
			       H2O_STRLIT("Bearer"));
		send_status(req, json, 401, "Unauthorized", 16,
			    "send 'Authorization: Bearer TOKEN' (ternd --ingest-token)", false);
		break;
	case COL_WHY_TOO_LARGE:
		send_status(req, json, 413, "Payload Too Large", RPC_INVALID_ARGUMENT,
			    detail ? detail : "request too large", false);
		break;
	case COL_WHY_MEMORY:
	case COL_WHY_QUEUE:
		send_status(req, json, 429, "Too Many Requests", RPC_RESOURCE_EXHAUSTED,
			    why == COL_WHY_MEMORY ? "ternd memory limit reached; retry later" :
						    "ternd pipeline queue full; retry later",
			    true);
		break;
	default:
		send_status(req, json, 503, "Service Unavailable", RPC_UNAVAILABLE,
			    why == COL_WHY_SHUTDOWN ? "ternd is shutting down; retry later" :
						      "ternd out of memory; retry later",
			    true);
	}
}

static bool reserve_cb(void *arg, size_t n)
{
	return col_mem_reserve(arg, n);
}

static void on_req_gone(void *p)
{
	struct http_job **slot = p;
	if (*slot != NULL)
		(*slot)->hreq = NULL;
}

static void send_ok(h2o_req_t *req, bool json, const struct col_ingest_req *r)
{
	struct otlp_response resp = { 0 };
	if (r->n_rejected) {
		resp.rejected_spans = (int64_t)r->n_rejected;
		snprintf(resp.error_message, sizeof(resp.error_message), "%s", r->reject_msg);
	}
	int ret;
	if (json) {
		char *out = NULL;
		size_t len = 0;
		ret = otlp_encode_response_json(&resp, &out, &len);
		if (ret == 0)
			col_http_send(req, 200, "OK", CT_JSON, out, len);
		free(out);
	} else {
		uint8_t *out = NULL;
		size_t len = 0;
		ret = otlp_encode_response_proto(&resp, &out, &len);
		if (ret == 0)
			col_http_send(req, 200, "OK", CT_PROTO, out, len);
		free(out);
	}
	if (ret != 0) {
		col_log(COL_LOG_ERROR, "http: out of memory encoding a response; answering 503");
		send_status(req, json, 503, "Service Unavailable", RPC_UNAVAILABLE,
			    "out of memory", true);
	}
}

static void job_free(struct http_job *job)
{
	job->req.srv->http_jobs--;
	free(job->body);
	free(job);
}

static void reply_ack(struct col_ingest_req *r, int status)
{
	struct http_job *job = container_of(r, struct http_job, req);
	if (job->hreq != NULL) {
		*job->slot = NULL;
		if (status == 0) {
			send_ok(job->hreq, job->json, r);
		} else {
			/* Counted and logged by the ingest path already. */
			enum col_reason why = col_reason_of(status);
			bool busy = why == COL_WHY_QUEUE || why == COL_WHY_MEMORY;
			char msg[160];
			snprintf(msg, sizeof(msg), "ternd cannot take the batch now (%s); retry later",
				 status == -ESHUTDOWN ? "shutting down" :
				 status == -EAGAIN    ? "pipeline queue full" : strerror(-status));
			send_status(job->hreq, job->json, busy ? 429 : 503,
				    busy ? "Too Many Requests" : "Service Unavailable",
				    busy ? RPC_RESOURCE_EXHAUSTED : RPC_UNAVAILABLE, msg, true);
		}
	}
	job_free(job);
}

static bool header_value(h2o_req_t *req, const h2o_token_t *tok, h2o_iovec_t *out)
{
	ssize_t i = h2o_find_header(&req->headers, tok, -1);
	if (i < 0)
		return false;
	*out = req->headers.entries[i].value;
	return true;
}

static h2o_iovec_t trim_media_type(h2o_iovec_t v)
{
	if (v.len == 0)
		return h2o_iovec_init("", 0); /* v.base may be NULL */
	size_t n = 0;
	while (n < v.len && v.base[n] != ';')
		n++;
	while (n > 0 && (v.base[n - 1] == ' ' || v.base[n - 1] == '\t'))
		n--;
	size_t s = 0;
	while (s < n && (v.base[s] == ' ' || v.base[s] == '\t'))
		s++;
	return h2o_iovec_init(v.base + s, n - s);
}

enum col_media col_otlp_http_media(h2o_iovec_t ctype, const h2o_iovec_t *encoding, bool *json,
				   bool *gzip)
{
	h2o_iovec_t ct = trim_media_type(ctype);
	*gzip = false;
	if (h2o_lcstris(ct.base, ct.len, H2O_STRLIT(CT_PROTO)))
		*json = false;
	else if (h2o_lcstris(ct.base, ct.len, H2O_STRLIT(CT_JSON)))
		*json = true;
	else
		return COL_MEDIA_BAD_TYPE;
	if (encoding != NULL) {
		h2o_iovec_t enc = trim_media_type(*encoding);
		if (h2o_lcstris(enc.base, enc.len, H2O_STRLIT("gzip")))
			*gzip = true;
		else if (!h2o_lcstris(enc.base, enc.len, H2O_STRLIT("identity")))
			return COL_MEDIA_BAD_ENCODING;
	}
	return COL_MEDIA_OK;
}

/* Inflates (gzip) and decodes the body into job->req.batch. Any thread:
 * touches only the job and atomic counters. */
static void decode_job(struct http_job *job, const uint8_t *body, size_t len)
{
	struct col_server *srv = job->req.srv;
	struct col_metrics *m = &srv->metrics;
	uint8_t *owned = NULL;
	size_t owned_len = 0;

	if (job->gzip) {
		/* Output space is reserved against the memory limit as it grows. */
		size_t inflated_reserved = 0;
		int r = col_gunzip_reserve(body, len, srv->cfg.max_request_bytes, &owned, &owned_len,
					   reserve_cb, m, &inflated_reserved);
		job->req.mem += inflated_reserved;
		if (r == -EMSGSIZE || r == -EINVAL) {
			snprintf(job->err, sizeof(job->err), "%s",
				 r == -EMSGSIZE ? "gzip body inflates past the maximum request size" :
						  "body is not valid gzip");
			job->result = r;
			return;
		}
		if (r != 0) {
			job->result = r; /* -ENOBUFS, -ENOMEM */
			return;
		}
	} else if (!job->json) {
		/* Zero-copy decode needs bytes that outlive the request. */
		owned = malloc(len ? len : 1);
		if (owned == NULL) {
			job->result = -ENOMEM;
			return;
		}
		if (len > 0) /* body is NULL for an empty POST */
			memcpy(owned, body, len);
		owned_len = len;
	}
	const void *bytes = owned ? owned : body;
	size_t blen = owned ? owned_len : len;
	int r = col_ingest_decode(&job->req, job->json ? COL_PROTO_HTTP_JSON : COL_PROTO_HTTP_PROTO,
				  bytes, blen, job->json ? NULL : owned, free, job->recv_ns,
				  job->err, sizeof(job->err));
	if (job->json || r != 0)
		free(owned);
	job->result = r;
}

/* Answers a decode failure or submits the batch. Loop thread. */
static void finish_decode(struct http_job *job)
{
	struct col_metrics *m = &job->req.srv->metrics;
	h2o_req_t *req = job->hreq;
	free(job->body);
	job->body = NULL;
	if (req != NULL && (job->result != 0 || job->req.n_spans == 0))
		*job->slot = NULL; /* answered below, right now */

	if (job->result != 0) {
		refuse(job->req.srv, req, job->json, job->result, job->err[0] ? job->err : NULL);
		goto out_free;
	}
	if (job->req.n_spans == 0) {
		col_metrics_request(m, COL_M_HTTP,
				    job->req.n_rejected ? COL_OUT_PARTIAL : COL_OUT_OK);
		if (req != NULL)
			send_ok(req, job->json, &job->req);
		goto out_free;
	}
	if (req == NULL) {
		/* The client left while we decoded: it will resend, so do not
		 * store a copy it never heard about. */
		atomic_fetch_add_explicit(&m->spans_refused, job->req.n_spans, memory_order_relaxed);
		col_metrics_request(m, COL_M_HTTP, COL_OUT_REFUSED);
		goto out_free;
	}
	col_ingest_submit(&job->req);
	return;

out_free:
	col_batch_free(job->req.batch);
	job->req.batch = NULL;
	col_mem_release(m, job->req.mem);
	job_free(job);
}

static void decode_work(uv_work_t *w)
{
	struct http_job *job = w->data;
	decode_job(job, job->body, job->body_len);
}

static void decode_done(uv_work_t *w, int status)
{
	finish_decode(w->data);
}

int col_otlp_http_handle(struct col_server *srv, h2o_req_t *req)
{
	struct col_metrics *m = &srv->metrics;
	h2o_iovec_t v;

	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len,
		       H2O_STRLIT("/v1/traces"))) {
		col_http_send(req, 404, "Not Found", "text/plain", H2O_STRLIT("not found\n"));
		return 0;
	}
	ssize_t ai = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	if (!col_bearer_ok(srv->cfg.ingest_token, ai >= 0 ? req->headers.entries[ai].value.base : NULL,
			   ai >= 0 ? req->headers.entries[ai].value.len : 0)) {
		refuse(srv, req, false, 0, NULL);
		return 0;
	}
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
			       H2O_STRLIT("POST"));
		col_http_send(req, 405, "Method Not Allowed", "text/plain",
			      H2O_STRLIT("use POST\n"));
		return 0;
	}
	bool json, gzip;
	h2o_iovec_t ct = header_value(req, H2O_TOKEN_CONTENT_TYPE, &v) ? v : h2o_iovec_init("", 0);
	bool has_enc = header_value(req, H2O_TOKEN_CONTENT_ENCODING, &v);
	switch (col_otlp_http_media(ct, has_enc ? &v : NULL, &json, &gzip)) {
	case COL_MEDIA_OK:
		break;
	case COL_MEDIA_BAD_TYPE:
		col_ingest_refused(srv, COL_M_HTTP, COL_WHY_INVALID, "unsupported content type",
				   "415");
		col_http_send(req, 415, "Unsupported Media Type", "text/plain",
			      H2O_STRLIT("use application/x-protobuf or application/json\n"));
		return 0;
	case COL_MEDIA_BAD_ENCODING:
		col_ingest_refused(srv, COL_M_HTTP, COL_WHY_INVALID, "unsupported content encoding",
				   "415");
		col_http_send(req, 415, "Unsupported Media Type", "text/plain",
			      H2O_STRLIT("Content-Encoding must be gzip or identity\n"));
		return 0;
	}

	const uint8_t *body = (const uint8_t *)req->entity.base;
	size_t len = req->entity.base ? req->entity.len : 0;
	atomic_fetch_add_explicit(&m->bytes_received, len, memory_order_relaxed);

	struct http_job *job = calloc(1, sizeof(*job));
	if (job == NULL)
		goto out_oom;
	srv->http_jobs++;
	job->json = json;
	job->gzip = gzip;
	job->req.srv = srv;
	job->req.mproto = COL_M_HTTP;
	job->req.reply = reply_ack;
	job->recv_ns = col_now_ns();

	/* Reserve before inflating/decoding; adjusted to the real size after. */
	uint64_t estimate = (uint64_t)len * 2 + 4096;
	if (!col_mem_reserve(m, estimate))
		goto out_refuse;
	job->req.mem = estimate;
	job->slot = h2o_mem_alloc_shared(&req->pool, sizeof(*job->slot), on_req_gone);
	*job->slot = job;
	job->hreq = req;

	if (json || gzip) {
		/* JSON decodes at tens of thousands of spans/s and inflating can
		 * take a while: do both on the libuv thread pool so the loop
		 * keeps serving. The body is copied (the request may be gone
		 * when the work finishes). */
		job->body = malloc(len ? len : 1);
		if (job->body != NULL) {
			if (len > 0)
				memcpy(job->body, body, len);
			job->body_len = len;
			job->work.data = job;
			if (uv_queue_work(srv->loop, &job->work, decode_work, decode_done) == 0)
				return 0;
			free(job->body);
			job->body = NULL;
		}
	}
	decode_job(job, body, len);
	finish_decode(job);
	return 0;

out_refuse:
	job_free(job);
	refuse(srv, req, json, -ENOBUFS, NULL);
	return 0;
out_oom:
	refuse(srv, req, json, -ENOMEM, NULL);
	return 0;
}
