/*
 * httpc.h: the HTTP client of ternd's forwarders, the tern CLI, the
 * benches and the tests. Library code: never prints.
 */
#ifndef TERN_COLLECTOR_HTTPC_H
#define TERN_COLLECTOR_HTTPC_H

#include <stddef.h>

/* A blocking HTTP/1.1 keep-alive client (one connection). */
struct col_hclient {
	int fd;           /* -1 when not connected */
	char host[128];
	int port;
};

/** Sets c up for "HOST:PORT" (IPv4 or name). 0 or -EINVAL. Connects lazily. */
int col_hclient_init(struct col_hclient *c, const char *addr);

/**
 * Sends one request and reads the whole response (Content-Length bodies
 * only, which is what h2o sends for complete answers). extra_headers is
 * "Name: value\r\n..." or NULL. On success *status is the HTTP status,
 * *body a malloc'ed NUL-terminated body (caller frees) of *body_len bytes,
 * and, if headers is not NULL, *headers the malloc'ed header block.
 * Reconnects once if the kept-alive connection was closed. Returns 0 or a
 * negative errno (-ETIMEDOUT after timeout_ms).
 */
int col_hclient_request(struct col_hclient *c, const char *method, const char *path,
			const char *extra_headers, const void *req_body, size_t req_len,
			int timeout_ms, int *status, char **headers, char **body,
			size_t *body_len);

/** Closes the connection. */
void col_hclient_close(struct col_hclient *c);

#endif /* TERN_COLLECTOR_HTTPC_H */
