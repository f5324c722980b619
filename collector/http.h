/*
 * http.h: h2o servers on ternd's loop (OTLP/HTTP and the query API).
 * Loop thread only.
 */
#ifndef TERN_COLLECTOR_HTTP_H
#define TERN_COLLECTOR_HTTP_H

#include <stddef.h>

#include <h2o.h>

struct col_server;
struct col_http;

/** Handles one request; returns 0 (h2o's on_req convention). */
typedef int (*col_http_fn)(struct col_server *srv, h2o_req_t *req);

/**
 * Listens on addr ("HOST:PORT", port 0: any) and serves every path under
 * path with fn. name ("otlp-http") names the listener in logs and /healthz.
 * bound gets "HOST:PORT" as bound. max_body bounds request bodies (h2o
 * answers 413 above it); cfg.max_streams, cfg.idle_timeout_ms,
 * cfg.max_connections and cfg.fd_reserve bound the rest. Returns 0 or a
 * negative errno with a message in err.
 */
int col_http_start(struct col_server *srv, const char *name, const char *addr,
		   const char *path, col_http_fn fn, size_t max_body, struct col_http **out, char *bound,
		   size_t boundlen, char *err, size_t errlen);

/**
 * Loads the TLS files again (SIGHUP): new connections use them, open ones
 * keep theirs. Returns 1 (reloaded), 0 (no TLS) or -EINVAL with a message
 * in err (the old certificate stays). Loop thread.
 */
int col_http_reload_tls(struct col_http *h, char *err, size_t errlen);

/** The listener, for /healthz. */
const struct col_listener *col_http_listener(const struct col_http *h);

/** Closes the listening socket; open connections go on. */
void col_http_stop_accepting(struct col_http *h);

/**
 * Closes idle connections, waits for the rest to close (they have no
 * request left once the pipeline is drained), frees h, then done(arg).
 */
void col_http_close(struct col_http *h, void (*done)(void *arg), void *arg);

/** Sends a complete response (copies body). */
void col_http_send(h2o_req_t *req, int status, const char *reason, const char *ctype,
		   const void *body, size_t len);

/* The handlers. */
int col_otlp_http_handle(struct col_server *srv, h2o_req_t *req);
int col_query_handle(struct col_server *srv, h2o_req_t *req);

#endif /* TERN_COLLECTOR_HTTP_H */
