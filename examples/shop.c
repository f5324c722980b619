/*
 * shop: three tiny services that call each other over TCP with a small
 * HTTP/1.1 subset, on libuv, instrumented with libtern.
 *
 *   shop pricing   [--port P]
 *   shop inventory [--port P] --next HOST:PORT     (calls pricing)
 *   shop gateway   [--port P] --next HOST:PORT     (calls inventory)
 *
 * Each prints "listening PORT" on stdout, serves `GET /item/N` and exits
 * on SIGINT/SIGTERM after tern_shutdown() flushed its spans. The OTLP
 * endpoint comes from OTEL_EXPORTER_OTLP_ENDPOINT (default
 * http://localhost:4317, i.e. a local ternd). A request to the gateway
 * gives one connected trace: gateway SERVER > gateway CLIENT > inventory
 * SERVER > inventory CLIENT > pricing SERVER.
 *
 * The pattern for asynchronous code: a request struct embeds its
 * struct tern_span; callbacks begin child spans with tern_span_begin_ctx()
 * and the parent's context (tern_span_context()), never the thread's
 * current span, because many requests interleave on the one loop thread.
 */
#include <tern.h>
#include <uv.h>

#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_MSG 8192

static const char *role;
static struct sockaddr_in next_addr;
static bool have_next;
static const char *next_name;
static uv_loop_t *loop;
static uv_tcp_t server;
static uv_signal_t sigint, sigterm;

struct headers {
	char path[256];
	char traceparent[128];
	char tracestate[512];
	int status;
};

/* A request being served: the SERVER span lives here across callbacks. */
struct conn {
	uv_tcp_t tcp;
	uv_write_t wr;
	char buf[MAX_MSG];
	size_t len;
	struct headers h;
	struct tern_span span;
	char out[MAX_MSG];
};

/* A call to the next service: the CLIENT span lives here. */
struct call {
	uv_tcp_t tcp;
	uv_connect_t connect;
	uv_write_t wr;
	struct conn *from;
	struct tern_span span;
	char req[MAX_MSG];
	char buf[MAX_MSG];
	size_t len;
};

static const char *get_header(void *carrier, const char *name)
{
	struct headers *h = carrier;
	if (strcasecmp(name, "traceparent") == 0)
		return h->traceparent[0] ? h->traceparent : NULL;
	if (strcasecmp(name, "tracestate") == 0)
		return h->tracestate[0] ? h->tracestate : NULL;
	return NULL;
}

struct outbuf {
	char *p;
	size_t left;
};

static void set_header(void *carrier, const char *name, const char *value)
{
	struct outbuf *o = carrier;
	int n = snprintf(o->p, o->left, "%s: %s\r\n", name, value);
	if (n > 0 && (size_t)n < o->left) {
		o->p += n;
		o->left -= (size_t)n;
	}
}

/* Parses the head of a request or response; 1 when complete, 0 when more
 * bytes are needed, -1 when malformed. */
static int parse_head(const char *buf, size_t len, struct headers *h, bool response)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	if (end == NULL)
		return len >= MAX_MSG - 1 ? -1 : 0;
	memset(h, 0, sizeof *h);
	const char *line = buf;
	const char *eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
	if (response) {
		if (sscanf(line, "HTTP/1.%*d %d", &h->status) != 1)
			return -1;
	} else if (sscanf(line, "GET %255s HTTP/1.", h->path) != 1) {
		return -1;
	}
	for (line = eol + 2; line < end; line = eol + 2) {
		eol = memmem(line, (size_t)(end - line) + 2, "\r\n", 2);
		const char *colon = memchr(line, ':', (size_t)(eol - line));
		if (colon == NULL)
			continue;
		size_t nl = (size_t)(colon - line);
		const char *v = colon + 1;
		while (v < eol && (*v == ' ' || *v == '\t'))
			v++;
		size_t vl = (size_t)(eol - v);
		char *dst = NULL;
		size_t cap = 0;
		if (nl == 11 && strncasecmp(line, "traceparent", 11) == 0)
			dst = h->traceparent, cap = sizeof h->traceparent;
		else if (nl == 10 && strncasecmp(line, "tracestate", 10) == 0)
			dst = h->tracestate, cap = sizeof h->tracestate;
		if (dst != NULL && vl < cap) {
			memcpy(dst, v, vl);
			dst[vl] = '\0';
		}
	}
	return 1;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
	static char scratch[MAX_MSG];
	b->base = scratch;
	b->len = sizeof scratch;
}

static void conn_free(uv_handle_t *h)
{
	free(h->data);
}

static void conn_written(uv_write_t *wr, int status)
{
	struct conn *c = wr->data;
	uv_close((uv_handle_t *)&c->tcp, conn_free);
}

/* Answers and ends the SERVER span. */
static void respond(struct conn *c, int status, const char *body)
{
	tern_span_set_int(&c->span, "http.response.status_code", status);
	if (status >= 500)
		tern_span_set_status(&c->span, TERN_STATUS_ERROR, body);
	tern_span_end(&c->span);
	int n = snprintf(c->out, sizeof c->out,
			 "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			 status, status == 200 ? "OK" : "Error", strlen(body), body);
	uv_buf_t b = uv_buf_init(c->out, (unsigned)n);
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, conn_written) != 0)
		uv_close((uv_handle_t *)&c->tcp, conn_free);
}

static void call_free(uv_handle_t *h)
{
	free(h->data);
}

static void call_done(struct call *k, int status, const char *body)
{
	tern_span_set_int(&k->span, "http.response.status_code", status);
	if (status != 200)
		tern_span_set_status(&k->span, TERN_STATUS_ERROR, "downstream failed");
	tern_span_end(&k->span);
	char reply[512];
	snprintf(reply, sizeof reply, "%s(%s)", role, body);
	respond(k->from, status == 200 ? 200 : 502, reply);
	uv_close((uv_handle_t *)&k->tcp, call_free);
}

static void call_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct call *k = s->data;
	if (n > 0) {
		size_t take = (size_t)n < sizeof k->buf - 1 - k->len ? (size_t)n
								     : sizeof k->buf - 1 - k->len;
		memcpy(k->buf + k->len, b->base, take);
		k->len += take;
		return;
	}
	if (n == 0)
		return;
	/* EOF (or error): the whole response is in. */
	uv_read_stop(s);
	k->buf[k->len] = '\0';
	struct headers h;
	const char *body = strstr(k->buf, "\r\n\r\n");
	if (parse_head(k->buf, k->len, &h, true) != 1 || body == NULL)
		call_done(k, 502, "bad response");
	else
		call_done(k, h.status, body + 4);
}

static void call_written(uv_write_t *wr, int status)
{
	struct call *k = wr->data;
	if (status != 0) {
		call_done(k, 502, "write failed");
		return;
	}
	uv_read_start((uv_stream_t *)&k->tcp, alloc_cb, call_read);
}

static void call_connected(uv_connect_t *req, int status)
{
	struct call *k = req->data;
	if (status != 0) {
		tern_span_record_error(&k->span, "connect", uv_strerror(status));
		call_done(k, 503, "unreachable");
		return;
	}
	/* The CLIENT span's context goes on the wire. */
	struct tern_context ctx;
	tern_span_context(&k->span, &ctx);
	int n = snprintf(k->req, sizeof k->req, "GET %s HTTP/1.1\r\nHost: shop\r\n", k->from->h.path);
	struct outbuf o = { k->req + n, sizeof k->req - (size_t)n - 3 };
	tern_inject(&ctx, set_header, &o);
	memcpy(o.p, "\r\n", 3);
	k->wr.data = k;
	uv_buf_t b = uv_buf_init(k->req, (unsigned)strlen(k->req));
	if (uv_write(&k->wr, (uv_stream_t *)&k->tcp, &b, 1, call_written) != 0)
		call_done(k, 502, "write failed");
}

static void call_next(struct conn *c)
{
	struct call *k = calloc(1, sizeof *k);
	if (k == NULL) {
		respond(c, 500, "out of memory");
		return;
	}
	k->from = c;
	/* Parent = the SERVER span of this request, passed explicitly. */
	struct tern_context parent;
	tern_span_context(&c->span, &parent);
	char name[300];
	snprintf(name, sizeof name, "call %s", next_name);
	tern_span_begin_ctx(&k->span, name, TERN_KIND_CLIENT, &parent);
	tern_span_set_str(&k->span, "url.path", c->h.path);
	uv_tcp_init(loop, &k->tcp);
	k->tcp.data = k;
	k->connect.data = k;
	if (uv_tcp_connect(&k->connect, &k->tcp, (const struct sockaddr *)&next_addr,
			   call_connected) != 0) {
		tern_span_end(&k->span);
		uv_close((uv_handle_t *)&k->tcp, call_free);
		respond(c, 503, "unreachable");
	}
}

static void conn_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *c = s->data;
	if (n < 0) {
		uv_close((uv_handle_t *)&c->tcp, conn_free);
		return;
	}
	size_t take = (size_t)n < sizeof c->buf - 1 - c->len ? (size_t)n : sizeof c->buf - 1 - c->len;
	memcpy(c->buf + c->len, b->base, take);
	c->len += take;
	int r = parse_head(c->buf, c->len, &c->h, false);
	if (r == 0)
		return;
	uv_read_stop(s);
	if (r < 0) {
		uv_close((uv_handle_t *)&c->tcp, conn_free);
		return;
	}
	struct tern_context remote;
	bool has_parent = tern_extract(get_header, &c->h, &remote) == 0;
	char name[300];
	snprintf(name, sizeof name, "GET %s", role);
	tern_span_begin_ctx(&c->span, name, TERN_KIND_SERVER, has_parent ? &remote : NULL);
	tern_span_set_str(&c->span, "url.path", c->h.path);
	tern_span_set_str(&c->span, "shop.role", role);
	if (have_next) {
		call_next(c);
		return;
	}
	/* the leaf: "compute" a price */
	int item = 0;
	sscanf(c->h.path, "/item/%d", &item);
	char body[64];
	snprintf(body, sizeof body, "price=%d", 100 + item * 7);
	tern_span_add_event(&c->span, "priced", NULL, 0);
	respond(c, 200, body);
}

static void on_connection(uv_stream_t *srv, int status)
{
	if (status != 0)
		return;
	struct conn *c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	uv_tcp_init(loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(srv, (uv_stream_t *)&c->tcp) != 0) {
		uv_close((uv_handle_t *)&c->tcp, conn_free);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, conn_read);
}

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, h->data == NULL ? NULL : conn_free);
}

static void on_signal(uv_signal_t *s, int signum)
{
	/* handles we own without a malloc'ed data pointer close plainly */
	server.data = NULL;
	sigint.data = sigterm.data = NULL;
	uv_walk(loop, close_walk, NULL);
}

int main(int argc, char **argv)
{
	int port = 0;
	const char *next = NULL;
	if (argc < 2) {
		fprintf(stderr, "usage: shop gateway|inventory|pricing [--port P] [--next HOST:PORT]\n");
		return 2;
	}
	role = argv[1];
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--next") == 0)
			next = argv[i + 1];
	}
	if (next != NULL) {
		char host[128];
		const char *colon = strrchr(next, ':');
		if (colon == NULL || (size_t)(colon - next) >= sizeof host) {
			fprintf(stderr, "shop: bad --next %s\n", next);
			return 2;
		}
		memcpy(host, next, (size_t)(colon - next));
		host[colon - next] = '\0';
		if (uv_ip4_addr(host, atoi(colon + 1), &next_addr) != 0) {
			fprintf(stderr, "shop: bad --next %s\n", next);
			return 2;
		}
		have_next = true;
		next_name = next;
	}
	struct tern_options o;
	tern_options_default(&o);
	char svc[64];
	snprintf(svc, sizeof svc, "shop-%s", role);
	if (getenv("OTEL_SERVICE_NAME") == NULL)
		o.service_name = svc;
	int rc = tern_init(&o);
	if (rc != 0)
		fprintf(stderr, "shop: tern_init: %s (tracing off)\n", strerror(-rc));

	loop = uv_default_loop();
	struct sockaddr_in addr;
	uv_ip4_addr("127.0.0.1", port, &addr);
	uv_tcp_init(loop, &server);
	server.data = NULL;
	if ((rc = uv_tcp_bind(&server, (const struct sockaddr *)&addr, 0)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&server, 128, on_connection)) != 0) {
		fprintf(stderr, "shop: listen: %s\n", uv_strerror(rc));
		return 1;
	}
	struct sockaddr_in bound;
	int blen = sizeof bound;
	uv_tcp_getsockname(&server, (struct sockaddr *)&bound, &blen);
	printf("listening %d\n", ntohs(bound.sin_port));
	fflush(stdout);
	uv_signal_init(loop, &sigint);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_run(loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(loop);
	tern_shutdown(5000); /* flushes this service's spans */
	return rc == 0 ? 0 : 1;
}
