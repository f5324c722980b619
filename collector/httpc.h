/*
 * httpc.h: the one HTTP client of ternd's forwarders, the tern CLI, the
 * benches and the tests, on libcurl. Two shapes over the same transfer
 * set-up (timeouts, TLS, header capture, bounded bodies):
 *   col_hclient_*  blocking, one easy handle per client (connections kept
 *                  alive and reused between requests);
 *   col_hmulti_*   many transfers at once on one thread (libcurl's multi
 *                  interface), each cancellable at any moment: what the
 *                  forwarders use, so a shutdown never waits on a peer.
 * HTTP/1.1, HTTP/2 over TLS when the server offers it (ALPN), https://
 * with the server certificate verified. Interim 1xx answers and chunked
 * bodies are handled by libcurl. Library code: never prints.
 */
#ifndef TERN_COLLECTOR_HTTPC_H
#define TERN_COLLECTOR_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

/* How one transfer behaves. Zero means "the default" for every field. */
struct col_hopts {
	unsigned connect_timeout_ms; /* TCP + TLS handshake; default min(timeout, 10 s) */
	unsigned timeout_ms;         /* the whole transfer, however the peer trickles */
	unsigned low_speed_bytes;    /* abort when slower than this many bytes/s ... */
	unsigned low_speed_s;        /* ... for this many seconds (both 0: off) */
	size_t max_body;             /* larger answers fail with -E2BIG; default 256 MiB */
	const char *ca_file;         /* PEM roots; NULL: the system's */
	const char *cert_file;       /* PEM client certificate (with key_file); NULL: none */
	const char *key_file;
};

/* ---- blocking ---- */

struct col_hclient {
	void *_easy;       /* CURL *, created on first use; NULL when closed */
	char _base[300];   /* "http://HOST:PORT" (or https://) */
	struct col_hopts opts; /* caller may set TLS files and timeouts after init */
};

/**
 * Sets c up for "HOST:PORT", "http://HOST:PORT" or "https://HOST:PORT".
 * Returns 0 or -EINVAL. Connects lazily. A failed init leaves nothing to
 * close (closing it anyway is harmless).
 */
int col_hclient_init(struct col_hclient *c, const char *addr);

/**
 * Sends one request and reads the whole response. extra_headers is
 * "Name: value\r\n..." or NULL. On success *status is the final HTTP status
 * (never an interim 1xx), *body a malloc'ed NUL-terminated body (caller
 * frees) of *body_len bytes, and, if headers is not NULL, *headers the
 * malloc'ed header block of the final answer ("HTTP/1.1 200 OK\r\nName:
 * value\r\n...\r\n"). timeout_ms bounds the whole request, connect
 * included (overrides c->opts.timeout_ms when > 0). The connection is kept
 * for the next call. Returns 0 or a negative errno: -ETIMEDOUT,
 * -ECONNREFUSED, -EHOSTUNREACH, -E2BIG (answer too large), -EPROTO
 * (TLS or HTTP error), -ENOMEM, -EIO. Not thread-safe per client;
 * separate clients may be used from separate threads.
 */
int col_hclient_request(struct col_hclient *c, const char *method, const char *path,
			const char *extra_headers, const void *req_body, size_t req_len,
			int timeout_ms, int *status, char **headers, char **body,
			size_t *body_len);

/** Closes the connection and frees the handle. c may be reused with a request. */
void col_hclient_close(struct col_hclient *c);

/* ---- many at once, one thread (the forwarders) ---- */

struct col_hmulti;
struct col_hxfer;

/* One transfer's outcome, filled in when col_hmulti_next() returns it. */
struct col_hresult {
	int rc;            /* 0, or a negative errno as col_hclient_request's */
	int status;        /* final HTTP status when rc == 0 */
	char *headers;     /* final answer's header block (owned by the transfer) */
	char *body;        /* NUL-terminated (owned by the transfer) */
	size_t body_len;
	char error[256];   /* libcurl's words when rc != 0 */
};

/**
 * A set of concurrent transfers. max_host_conns bounds the connections
 * per destination (0: no bound); HTTP/2 multiplexes over one where it can.
 * Returns NULL when out of memory. Use it from one thread.
 */
struct col_hmulti *col_hmulti_new(unsigned max_host_conns);

/** Cancels every transfer still running and frees m. Accepts NULL. */
void col_hmulti_free(struct col_hmulti *m);

/**
 * Starts a POST of body (borrowed: must stay valid until the transfer is
 * returned by col_hmulti_next() or cancelled) to url with headers
 * ("Name: value\r\n..." or NULL; copied) and options o (copied). tag comes
 * back with the result. Returns 0 and *out, or -ENOMEM / -EINVAL; on
 * failure nothing runs and tag is never returned.
 */
int col_hmulti_post(struct col_hmulti *m, const char *url, const char *headers,
		    const void *body, size_t len, const struct col_hopts *o, void *tag,
		    struct col_hxfer **out);

/**
 * Moves every transfer forward, waiting at most timeout_ms for network
 * activity. Returns the number of transfers still running, or -EIO.
 */
int col_hmulti_run(struct col_hmulti *m, int timeout_ms);

/**
 * One finished transfer (since the last col_hmulti_run), or NULL. *tag is
 * what col_hmulti_post got; *res points into the transfer, valid until
 * col_hxfer_free().
 */
struct col_hxfer *col_hmulti_next(struct col_hmulti *m, void **tag,
				  const struct col_hresult **res);

/**
 * Frees a transfer: cancels it first if it is still running (its tag is
 * then never returned). Accepts NULL.
 */
void col_hxfer_free(struct col_hmulti *m, struct col_hxfer *x);

#endif /* TERN_COLLECTOR_HTTPC_H */
