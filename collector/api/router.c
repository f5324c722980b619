/*
 * router.c: the query API (HTTP, JSON). Add an endpoint with one line in
 * routes[] and a handler taking (srv, req).
 */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/web.h"
#include "http.h"
#include "server.h"

struct col_route {
	const char *method;
	const char *path; /* exact match on the normalized path */
	col_http_fn fn;
};

static int get_healthz(struct col_server *srv, h2o_req_t *req)
{
	static const char body[] = "{\"status\":\"ok\"}\n";
	char why[200], msg[300];
	if (!srv->draining && !col_ingest_listeners_ok(srv, why, sizeof(why))) {
		int n = snprintf(msg, sizeof(msg), "{\"status\":\"unhealthy\",\"reason\":\"%s\"}\n", why);
		col_http_send(req, 503, "Service Unavailable", "application/json", msg, (size_t)n);
		return 0;
	}
	const char *b = srv->draining ? "{\"status\":\"draining\"}\n" : body;
	col_http_send(req, srv->draining ? 503 : 200, srv->draining ? "Service Unavailable" : "OK",
		      "application/json", b, strlen(b));
	return 0;
}

static int get_metrics(struct col_server *srv, h2o_req_t *req)
{
	/* Other threads move the counters while we render, so a second
	 * render can be longer than the first said: render until one fits,
	 * and send exactly what that one wrote (a cut line would be a
	 * metric without its value). */
	char small[4096];
	size_t n = col_metrics_render(&srv->metrics, small, sizeof(small));
	if (n < sizeof(small)) {
		col_http_send(req, 200, "OK", "text/plain; version=0.0.4", small, n);
		return 0;
	}
	char *big = NULL;
	for (int tries = 0; tries < 8; tries++) {
		size_t cap = n + n / 8 + 1024;
		char *nb = realloc(big, cap);
		if (nb == NULL)
			break;
		big = nb;
		n = col_metrics_render(&srv->metrics, big, cap);
		if (n < cap) {
			col_http_send(req, 200, "OK", "text/plain; version=0.0.4", big, n);
			free(big);
			return 0;
		}
	}
	free(big);
	col_http_send(req, 503, "Service Unavailable", "text/plain",
		      H2O_STRLIT("out of memory\n"));
	return 0;
}

static const struct col_route routes[] = {
	{ "GET", "/healthz", get_healthz },
	{ "GET", "/metrics", get_metrics },
	{ "GET", "/api/services", col_api_services },
	{ "GET", "/api/operations", col_api_operations },
	{ "GET", "/api/traces", col_api_traces },
	{ "GET", "/api/dependencies", col_api_dependencies },
	{ "GET", "/api/metrics/latencies", col_api_metrics_latencies },
	{ "GET", "/api/metrics/calls", col_api_metrics_calls },
	{ "GET", "/api/metrics/errors", col_api_metrics_errors },
	{ "GET", "/api/metrics/minstep", col_api_metrics_minstep },
	{ "GET", "/api/tern/summary", col_api_tern_summary },
	{ "GET", "/api/tern/slow", col_api_tern_slow },
};

int col_query_route(const char *method, size_t mlen, const char *path, size_t plen,
		    col_http_fn *fn)
{
	bool path_found = false;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct col_route *r = &routes[i];
		if (!h2o_memis(path, plen, r->path, strlen(r->path)))
			continue;
		path_found = true;
		/* HEAD: as GET; h2o sends the headers without the body. */
		if (h2o_memis(method, mlen, r->method, strlen(r->method)) ||
		    (strcmp(r->method, "GET") == 0 && h2o_memis(method, mlen, H2O_STRLIT("HEAD")))) {
			*fn = r->fn;
			return 0;
		}
	}
	*fn = NULL;
	return path_found ? 405 : 404;
}

int col_query_handle(struct col_server *srv, h2o_req_t *req)
{
	col_http_fn fn;
	int rc = col_query_route(req->method.base, req->method.len, req->path_normalized.base,
				 req->path_normalized.len, &fn);
	if (rc == 0)
		return fn(srv, req);
	if (rc == 404 && col_api_prefixed(srv, req) == 0)
		return 0;
	/* The web page: / and /web/NAME (api/web.c). */
	if (rc == 404 && col_web_serve(srv, req) == 0)
		return 0;
	if (rc == 405)
		col_http_send(req, 405, "Method Not Allowed", "application/json",
			      H2O_STRLIT("{\"error\":\"method not allowed\"}\n"));
	else
		col_http_send(req, 404, "Not Found", "application/json",
			      H2O_STRLIT("{\"error\":\"not found\"}\n"));
	return 0;
}
