/*
 * guard.h: bounds what HTTP clients make h2o hold.
 *
 * h2o 2.2 buffers a whole request body before ternd sees it, replenishing
 * the HTTP/2 flow-control window as it goes, and counts none of it: 8
 * connections x 50 streams trickling 8 MB bodies held 4.29 GB. The guard
 * watches every connection's received bytes (the kernel's TCP_INFO
 * tcpi_bytes_received) against the bytes of the requests it completed
 * (credited by the handler): the difference is what the connection made
 * h2o hold. Every sweep (100 ms) it
 *  - reserves twice the total (h2o's buffers grow by doubling) against
 *    --memory-limit; when that fails it closes
 *    the connections holding the most until the total fits;
 *  - closes a connection that has held more than 64 KiB of unfinished
 *    requests for longer than --request-timeout-ms (a trickle).
 * Closing is shutdown(2): h2o reads EOF and frees the connection itself.
 * Loop thread only.
 */
#ifndef TERN_COLLECTOR_GUARD_H
#define TERN_COLLECTOR_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

struct col_metrics;

/* One guarded connection; embed it next to the connection's handle. */
struct col_guarded {
	int fd;
	const uv_handle_t *handle; /* closing: its fd may be another's by now */
	struct sockaddr_storage peer;
	uint64_t consumed;     /* wire bytes of the requests it completed (estimate) */
	uint64_t held;         /* received - consumed at the last sweep */
	uint64_t last_rx;
	uint64_t over_since;   /* uv_now() since held > 64 KiB; 0: not */
	unsigned quiet;        /* sweeps without a byte received */
	bool evicted;
	struct col_guarded *prev, *next;   /* all */
	struct col_guarded *hnext;         /* peer hash chain */
};

#define COL_GUARD_BUCKETS 1024

struct col_guard {
	uv_timer_t timer;
	struct col_metrics *m;
	uint64_t request_timeout_ms;
	uint64_t reserved;     /* held bytes reserved against the memory limit */
	uint64_t evictions;
	struct col_guarded *all;
	struct col_guarded *by_peer[COL_GUARD_BUCKETS];
	uint64_t last_log_ms;
};

/** Starts the sweep timer. 0 or a libuv error. */
int col_guard_init(struct col_guard *g, uv_loop_t *loop, struct col_metrics *m,
		   uint64_t request_timeout_ms);

/** Stops the timer and releases the reservation; close cb as uv_close. */
void col_guard_close(struct col_guard *g, uv_close_cb done);

/**
 * Starts guarding a connection: fd, read through handle (fd stays the
 * caller's; once uv_is_closing(handle) the guard leaves it alone).
 */
void col_guard_add(struct col_guard *g, struct col_guarded *c, int fd, const uv_handle_t *handle);

/** Stops guarding it (before its fd is closed). */
void col_guard_remove(struct col_guard *g, struct col_guarded *c);

/**
 * The connection from peer completed a request of about wire_bytes on the
 * wire (headers and body). Unknown peers are ignored.
 */
void col_guard_credit(struct col_guard *g, const struct sockaddr *peer, uint64_t wire_bytes);

/** The guarded connection from peer, or NULL. */
struct col_guarded *col_guard_find(struct col_guard *g, const struct sockaddr *peer);

/** Bytes the kernel has received on TCP socket fd (TCP_INFO); 0 if unknown. */
uint64_t col_tcp_bytes_received(int fd);

#endif /* TERN_COLLECTOR_GUARD_H */
