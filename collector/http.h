/*
 * http.h: h2o servers on ternd's loop (OTLP/HTTP and the query API).
 * Loop thread only.
 */
#ifndef TERN_COLLECTOR_HTTP_H
#define TERN_COLLECTOR_HTTP_H

#include <stdbool.h>
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

/* What an OTLP/HTTP body is, from Content-Type and Content-Encoding. */
enum col_media { COL_MEDIA_OK, COL_MEDIA_BAD_TYPE, COL_MEDIA_BAD_ENCODING };
/**
 * Reads ctype (parameters after ';' and blanks ignored, case-insensitive):
 * application/x-protobuf or application/json sets *json; encoding (NULL
 * when absent) gzip sets *gzip, identity does not. Pure (ingest/otlp_http.c).
 */
enum col_media col_otlp_http_media(h2o_iovec_t ctype, const h2o_iovec_t *encoding, bool *json,
				   bool *gzip);
/**
 * The query API's route for method and the normalized path: 0 with *fn
 * (HEAD takes a GET route), 405 for a known path with another method, 404
 * for no route (the handler then tries the prefixed API and the web
 * page). Pure (api/router.c).
 */
int col_query_route(const char *method, size_t mlen, const char *path, size_t plen,
		    col_http_fn *fn);

#endif /* TERN_COLLECTOR_HTTP_H */
