/* http.c: an h2o (libuv flavour) server on ternd's loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "http.h"
#include "ingest/auth.h"
#include "ingest/guard.h"
#include "ingest/listen.h"
#include "log.h"
#include "server.h"

struct col_http {
	struct col_server *srv;
	SSL_CTX *ssl_ctx;       /* NULL: plaintext */
	col_http_fn fn;
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	struct col_listener listener;
	struct col_guard guard;
	bool guard_on;
	bool listening;
	uv_timer_t close_timer;
	int close_ticks;
	void (*done)(void *);
	void *done_arg;
};

/* One accepted connection: the handle h2o reads from, and its guard. */
struct http_conn {
	uv_tcp_t tcp;
	h2o_socket_t *sock;
	struct col_guarded gd;
	struct col_http *h;
	bool guarded;
};

struct col_handler {
	h2o_handler_t super;
	struct col_http *http;
};

void col_http_send(h2o_req_t *req, int status, const char *reason, const char *ctype,
		   const void *body, size_t len)
{
	req->res.status = status;
	req->res.reason = reason;
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
		       strlen(ctype));
	req->res.content_length = len;
	h2o_send_inline(req, len ? body : "", len);
}

/* About what req took on the wire: the guard credits it to its connection. */
static uint64_t wire_size(const h2o_req_t *req)
{
	/* Rather over than under: the guard never credits past what arrived,
	 * and h2o keeps Content-Length, Host and Expect out of req->headers. */
	uint64_t n = req->method.len + req->path.len + req->authority.len + 160;
	for (size_t i = 0; i < req->headers.size; i++)
		n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
	n += req->entity.base ? req->entity.len : 0;
	n += 9 * (n / 16384 + 1); /* HTTP/2 frame headers */
	return n;
}

/*
 * HTTP/1: two Content-Length headers that disagree. h2o 2.2 keeps neither
 * in req->headers and frames the body with the first, so the rest would
 * be read as the next request (request smuggling behind a proxy that took
 * the other). The request's head is still at the front of the socket's
 * input buffer: look there.
 */
static bool conflicting_content_length(struct col_http *h, h2o_req_t *req,
				       const struct sockaddr *peer)
{
	if (req->version >= 0x200 || !h->guard_on)
		return false;
	struct col_guarded *gd = col_guard_find(&h->guard, peer);
	if (gd == NULL)
		return false;
	struct http_conn *c = container_of(gd, struct http_conn, gd);
	if (c->sock == NULL || c->sock->input == NULL)
		return false;
	const char *p = c->sock->input->bytes, *end = p + c->sock->input->size;
	const char *first = NULL;
	size_t first_len = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			break;
		size_t ll = (size_t)(nl - p);
		if (ll > 0 && p[ll - 1] == '\r')
			ll--;
		if (ll == 0)
			break; /* end of the head */
		if (ll > 15 && strncasecmp(p, "content-length:", 15) == 0) {
			const char *v = p + 15;
			size_t vl = ll - 15;
			while (vl > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (first == NULL) {
				first = v;
				first_len = vl;
			} else if (vl != first_len || memcmp(v, first, vl) != 0) {
				return true;
			}
		}
		p = nl + 1;
	}
	return false;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct col_http *h = ((struct col_handler *)self)->http;
	struct sockaddr_storage peer;
	if (h->guard_on && req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&peer)) {
		if (conflicting_content_length(h, req, (struct sockaddr *)&peer)) {
			req->http1_is_persistent = 0; /* the bytes after it are no request */
			col_ingest_refused(h->srv, COL_M_HTTP, COL_WHY_INVALID,
					   "Content-Length headers disagree", "400");
			col_http_send(req, 400, "Bad Request", "text/plain",
				      H2O_STRLIT("Content-Length headers disagree\n"));
			return 0;
		}
		col_guard_credit(&h->guard, (struct sockaddr *)&peer, wire_size(req));
	}
	if (h->fn == col_query_handle &&
	    !h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/healthz"))) {
		/* /healthz stays open: probes carry no token. */
		ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
		if (!col_bearer_ok(h->srv->cfg.query_token,
				   i >= 0 ? req->headers.entries[i].value.base : NULL,
				   i >= 0 ? req->headers.entries[i].value.len : 0)) {
			h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
				       H2O_STRLIT("Bearer"));
			col_http_send(req, 401, "Unauthorized", "application/json",
				      H2O_STRLIT("{\"error\":\"send Authorization: Bearer TOKEN "
						 "(ternd --query-token)\"}\n"));
			return 0;
		}
	}
	return h->fn(h->srv, req);
}

static void on_conn_closed(uv_handle_t *handle)
{
	struct http_conn *c = container_of((uv_tcp_t *)handle, struct http_conn, tcp);
	if (c->guarded)
		col_guard_remove(&c->h->guard, &c->gd);
	free(c);
}

static void on_conn(struct col_listener *l, int fd)
{
	struct col_http *h = l->data;
	struct http_conn *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		col_log(COL_LOG_ERROR, "http: out of memory accepting a connection; still listening");
		return;
	}
	c->h = h;
	uv_tcp_t *conn = &c->tcp;
	uv_tcp_init(h->srv->loop, conn);
	if (uv_tcp_open(conn, fd) != 0) {
		close(fd);
		uv_close((uv_handle_t *)conn, on_conn_closed);
		return;
	}
	uv_tcp_nodelay(conn, 1);
	if (h->guard_on) {
		col_guard_add(&h->guard, &c->gd, fd, (uv_handle_t *)conn);
		c->guarded = true;
	}
	h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_closed);
	c->sock = sock;
	h2o_accept(&h->accept_ctx, sock);
}

/* The TLS context of --tls-cert/--tls-key (and --tls-client-ca): TLS 1.2+,
 * HTTP/2 or HTTP/1.1 by ALPN. NULL with a message in err. */
static SSL_CTX *tls_ctx_new(const struct col_config *c, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "TLS: out of memory");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
		snprintf(err, errlen, "TLS: cannot load the certificate chain %s", c->tls_cert);
		goto out_free;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "TLS: cannot load the key %s, or it does not match %s",
			 c->tls_key, c->tls_cert);
		goto out_free;
	}
	if (c->tls_client_ca[0] != '\0') {
		if (SSL_CTX_load_verify_locations(ctx, c->tls_client_ca, NULL) != 1) {
			snprintf(err, errlen, "TLS: cannot load the client CA %s", c->tls_client_ca);
			goto out_free;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	h2o_ssl_register_alpn_protocols(ctx, h2o_http2_alpn_protocols);
	return ctx;

out_free:
	SSL_CTX_free(ctx);
	return NULL;
}

int col_http_start(struct col_server *srv, const char *name, const char *addr,
		   const char *path, col_http_fn fn, size_t max_body, struct col_http **out, char *bound,
		   size_t boundlen, char *err, size_t errlen)
{
	struct col_http *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->srv = srv;
	h->fn = fn;
	h2o_config_init(&h->config);
	h->config.max_request_entity_size = max_body;
	/* What one client may hold: streams per connection and how long a
	 * connection may sit without a complete request (docs/security.md). */
	h->config.http2.max_concurrent_requests_per_connection = srv->cfg.max_streams;
	h->config.http1.req_timeout = srv->cfg.idle_timeout_ms;
	h->config.http2.idle_timeout = srv->cfg.idle_timeout_ms;
	h->config.handshake_timeout = srv->cfg.idle_timeout_ms;
	h2o_hostconf_t *host = h2o_config_register_host(
		&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
	struct col_handler *hd = (struct col_handler *)h2o_create_handler(pc, sizeof(*hd));
	hd->super.on_req = on_req;
	hd->http = h;
	h2o_context_init(&h->ctx, srv->loop, &h->config);
	h->accept_ctx.ctx = &h->ctx;
	h->accept_ctx.hosts = h->config.hosts;
	if (srv->cfg.tls_cert[0] != '\0') {
		h->ssl_ctx = tls_ctx_new(&srv->cfg, err, errlen);
		if (h->ssl_ctx == NULL) {
			*out = h;
			return -EINVAL; /* the caller closes h */
		}
		h->accept_ctx.ssl_ctx = h->ssl_ctx;
	}

	if (fn == col_otlp_http_handle) {
		/* What OTLP clients make h2o hold (the query API takes 1 MiB
		 * bodies at most). */
		int gr = col_guard_init(&h->guard, srv->loop, &srv->metrics,
					srv->cfg.request_timeout_ms);
		if (gr != 0) {
			snprintf(err, errlen, "uv_timer_init: %s", uv_strerror(gr));
			*out = h;
			return gr;
		}
		h->guard_on = true;
	}
	h->listener.data = h;
	h->listener.max_fds = fn == col_query_handle ? 0 : srv->cfg.max_connections;
	/* The query API keeps half the reserve for itself: /healthz and
	 * /metrics still answer while the OTLP listeners refuse. */
	h->listener.fd_reserve = fn == col_query_handle ? srv->cfg.fd_reserve / 2 :
							  srv->cfg.fd_reserve;
	h->listener.refused_total = &srv->metrics.conns_refused;
	int r = col_listener_open(&h->listener, srv->loop, name, addr, bound, boundlen, err,
				  errlen);
	if (r == 0) {
		h->listening = true;
		r = col_listener_start(&h->listener, on_conn);
	}
	if (r != 0) {
		*out = h;
		return r; /* the caller closes h */
	}
	*out = h;
	return 0;
}

int col_http_reload_tls(struct col_http *h, char *err, size_t errlen)
{
	if (h->ssl_ctx == NULL)
		return 0;
	SSL_CTX *ctx = tls_ctx_new(&h->srv->cfg, err, errlen);
	if (ctx == NULL)
		return -EINVAL;
	/* Connections in their handshake or open hold their own reference. */
	SSL_CTX_free(h->ssl_ctx);
	h->ssl_ctx = ctx;
	h->accept_ctx.ssl_ctx = ctx;
	return 1;
}

const struct col_listener *col_http_listener(const struct col_http *h)
{
	return &h->listener;
}

void col_http_stop_accepting(struct col_http *h)
{
	if (!h->listening)
		return;
	h->listening = false;
	col_listener_close(&h->listener, NULL);
}

static void on_close_timer_closed(uv_handle_t *t)
{
	struct col_http *h = t->data;
	void (*done)(void *) = h->done;
	void *arg = h->done_arg;
	free(h);
	if (done)
		done(arg);
}

static void on_guard_closed(uv_handle_t *t)
{
	struct col_http *h = container_of((uv_timer_t *)t, struct col_http, guard.timer);
	uv_close((uv_handle_t *)&h->close_timer, on_close_timer_closed);
}

static bool conns_left(struct col_http *h)
{
	return !h2o_linklist_is_empty(&h->ctx.http1._conns) ||
	       !h2o_linklist_is_empty(&h->ctx.http2._conns);
}

static void expire_idle(struct col_http *h)
{
	/* h2o 2.2 keeps idle keep-alive connections until their timeout;
	 * run the timeouts as if far in the future so they close now. */
	uint64_t later = h2o_now(h->ctx.loop) + (1ull << 40);
	h2o_timeout_run(h->ctx.loop, &h->ctx.http1.req_timeout, later);
	h2o_timeout_run(h->ctx.loop, &h->ctx.http2.idle_timeout, later);
}

static void on_close_tick(uv_timer_t *t)
{
	struct col_http *h = t->data;
	/* A request still decoding on the thread pool will answer through
	 * this context: wait for it whatever the time. */
	if (h->srv->http_jobs > 0 || (conns_left(h) && ++h->close_ticks < 500)) {
		expire_idle(h);
		return;
	}
	if (conns_left(h))
		col_log(COL_LOG_WARN, "http: connections still open after 5 s; closing anyway");
	uv_timer_stop(t);
	/* Entries the context itself left (h2o 2.2's HTTP/2 graceful-shutdown
	 * timer sits on one_sec_timeout) would trip h2o_timeout_dispose's
	 * assert: no connection is left to own them, so unlink them. */
	h2o_timeout_t *ts[] = { &h->ctx.zero_timeout, &h->ctx.one_sec_timeout,
				&h->ctx.hundred_ms_timeout, &h->ctx.handshake_timeout,
				&h->ctx.http1.req_timeout, &h->ctx.http2.idle_timeout,
				&h->ctx.http2.graceful_shutdown_timeout, &h->ctx.proxy.io_timeout };
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		while (!h2o_linklist_is_empty(&ts[i]->_entries)) {
			h2o_timeout_entry_t *e = H2O_STRUCT_FROM_MEMBER(
				h2o_timeout_entry_t, _link, ts[i]->_entries.next);
			col_log(COL_LOG_DEBUG, "http: unlinking a leftover h2o timer (%zu)", i);
			h2o_timeout_unlink(e);
		}
	}
	h2o_context_dispose(&h->ctx);
	h2o_config_dispose(&h->config);
	if (h->ssl_ctx != NULL)
		SSL_CTX_free(h->ssl_ctx);
	h->ssl_ctx = NULL;
	if (h->guard_on) {
		/* Connections still open (closing anyway) must not reach the
		 * guard once h is freed. */
		for (struct col_guarded *g = h->guard.all; g != NULL; g = g->next)
			container_of(g, struct http_conn, gd)->guarded = false;
		h->guard.all = NULL;
		h->guard_on = false;
		col_guard_close(&h->guard, on_guard_closed);
		return;
	}
	uv_close((uv_handle_t *)t, on_close_timer_closed);
}

void col_http_close(struct col_http *h, void (*done)(void *arg), void *arg)
{
	col_http_stop_accepting(h);
	h->done = done;
	h->done_arg = arg;
	h2o_context_request_shutdown(&h->ctx);
	expire_idle(h);
	uv_timer_init(h->srv->loop, &h->close_timer);
	h->close_timer.data = h;
	uv_timer_start(&h->close_timer, on_close_tick, 0, 10);
}
