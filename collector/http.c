/* http.c: an h2o (libuv flavour) server on ternd's loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "server.h"

struct col_http {
	struct col_server *srv;
	col_http_fn fn;
	h2o_globalconf_t config;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept_ctx;
	uv_tcp_t listener;
	bool listening;
	uv_timer_t close_timer;
	int close_ticks;
	void (*done)(void *);
	void *done_arg;
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

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct col_http *h = ((struct col_handler *)self)->http;
	return h->fn(h->srv, req);
}

static void on_conn_closed(uv_handle_t *handle)
{
	free(handle);
}

static void on_accept(uv_stream_t *listener, int status)
{
	struct col_http *h = listener->data;
	if (status != 0) {
		col_log(COL_LOG_WARN, "http: accept failed: %s; still listening",
			uv_strerror(status));
		return;
	}
	uv_tcp_t *conn = malloc(sizeof(*conn));
	if (conn == NULL) {
		col_log(COL_LOG_ERROR, "http: out of memory accepting a connection; still listening");
		return;
	}
	uv_tcp_init(listener->loop, conn);
	if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
		uv_close((uv_handle_t *)conn, on_conn_closed);
		return;
	}
	uv_tcp_nodelay(conn, 1);
	h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_closed);
	h2o_accept(&h->accept_ctx, sock);
}

static int resolve(const char *addr, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[256];
	const char *c = strrchr(addr, ':');
	if (c == NULL || (size_t)(c - addr) >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", addr);
		return -EINVAL;
	}
	const char *hs = addr;
	size_t hl = (size_t)(c - addr);
	if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']') {
		hs++;
		hl -= 2;
	}
	memcpy(host, hs, hl);
	host[hl] = '\0';
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *res;
	int r = getaddrinfo(host[0] ? host : NULL, c + 1, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "cannot resolve '%s': %s", addr, gai_strerror(r));
		return -EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

int col_http_start(struct col_server *srv, const char *addr, const char *path,
		   col_http_fn fn, size_t max_body, struct col_http **out, char *bound,
		   size_t boundlen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int r = resolve(addr, &ss, err, errlen);
	if (r != 0)
		return r;
	struct col_http *h = calloc(1, sizeof(*h));
	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	h->srv = srv;
	h->fn = fn;
	h2o_config_init(&h->config);
	h->config.max_request_entity_size = max_body;
	h2o_hostconf_t *host = h2o_config_register_host(
		&h->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	h2o_pathconf_t *pc = h2o_config_register_path(host, path, 0);
	struct col_handler *hd = (struct col_handler *)h2o_create_handler(pc, sizeof(*hd));
	hd->super.on_req = on_req;
	hd->http = h;
	h2o_context_init(&h->ctx, srv->loop, &h->config);
	h->accept_ctx.ctx = &h->ctx;
	h->accept_ctx.hosts = h->config.hosts;

	uv_tcp_init(srv->loop, &h->listener);
	h->listener.data = h;
	h->listening = true;
	r = uv_tcp_bind(&h->listener, (struct sockaddr *)&ss, 0);
	if (r == 0)
		r = uv_listen((uv_stream_t *)&h->listener, 1024, on_accept);
	if (r != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, uv_strerror(r));
		*out = h;
		return r; /* the caller closes h */
	}
	struct sockaddr_storage name;
	int namelen = sizeof(name);
	uv_tcp_getsockname(&h->listener, (struct sockaddr *)&name, &namelen);
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (name.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&name;
		uv_ip6_name(s6, ip, sizeof(ip));
		port = ntohs(s6->sin6_port);
		snprintf(bound, boundlen, "[%s]:%d", ip, port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&name;
		uv_ip4_name(s4, ip, sizeof(ip));
		port = ntohs(s4->sin_port);
		snprintf(bound, boundlen, "%s:%d", ip, port);
	}
	*out = h;
	return 0;
}

void col_http_stop_accepting(struct col_http *h)
{
	if (!h->listening)
		return;
	h->listening = false;
	uv_close((uv_handle_t *)&h->listener, NULL);
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
