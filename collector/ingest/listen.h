/*
 * listen.h: ternd's own TCP listeners, in front of h2o and gRPC core.
 *
 * ternd accepts every connection itself (accept4 on a uv_poll_t) and hands
 * the socket to h2o or to gRPC core. So a listener never stops for good:
 * gRPC 1.51's own listener gave up after one "Too many open files" and never
 * accepted again. Each listener:
 *  - refuses (accepts and closes at once) a connection that would leave
 *    fewer than fd_reserve descriptors free, or pass max_connections open
 *    descriptors, so the store and gRPC core always find descriptors;
 *  - keeps one spare descriptor (/dev/null) to accept-and-close with when
 *    the process runs out all the same (EMFILE), so the kernel's backlog
 *    drains instead of looping on the error;
 *  - remembers when it last could not accept, for /healthz.
 * Loop thread only.
 */
#ifndef TERN_COLLECTOR_LISTEN_H
#define TERN_COLLECTOR_LISTEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct col_listener;

/** Takes the accepted socket fd (non-blocking, close-on-exec): owns it. */
typedef void (*col_listener_fn)(struct col_listener *l, int fd);

struct col_listener {
	uv_poll_t poll;
	int fd;                  /* the listening socket; -1 when closed */
	const char *name;        /* "otlp-grpc", for logs and /healthz */
	col_listener_fn on_conn;
	void *data;
	uint32_t max_fds;        /* refuse at or past this many open descriptors */
	uint32_t fd_reserve;     /* descriptors always left free */
	uint64_t accepted, refused;
	_Atomic uint64_t *refused_total; /* also counted here when not NULL (/metrics) */
	uint64_t last_fail_ms;   /* uv_now() of the last refusal or failed accept; 0: never */
	int last_err;            /* its errno (EMFILE for a refusal at the limit) */
	uint64_t last_log_ms;    /* refusals are logged at most once a second */
	uint64_t unlogged;       /* refusals since the last log line */
};

/**
 * Binds addr ("HOST:PORT", [v6]:PORT; port 0: any free port) and listens.
 * bound gets "HOST:PORT" as bound. Does not start accepting: call
 * col_listener_start(). Returns 0 or a negative errno with a message in err
 * (then nothing is left open).
 */
int col_listener_open(struct col_listener *l, uv_loop_t *loop, const char *name,
		      const char *addr, char *bound, size_t boundlen, char *err, size_t errlen);

/** Starts accepting; on_conn gets each connection. 0 or a negative errno. */
int col_listener_start(struct col_listener *l, col_listener_fn on_conn);

/** Closes the listening socket (idempotent). done may be NULL. */
void col_listener_close(struct col_listener *l, uv_close_cb done);

/**
 * True while the listener has refused or failed to accept within the last
 * window_ms (uv_now time): it cannot take new connections now. Writes the
 * reason in why.
 */
bool col_listener_troubled(const struct col_listener *l, uint64_t now_ms, uint64_t window_ms,
			   char *why, size_t whylen);

/**
 * Raises RLIMIT_NOFILE's soft limit to its hard limit (ternd holds a
 * descriptor per connection). Returns the soft limit now in force.
 */
uint64_t col_raise_nofile(void);

#endif /* TERN_COLLECTOR_LISTEN_H */
