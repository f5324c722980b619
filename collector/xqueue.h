/*
 * xqueue.h: hand-off from any thread to the loop thread (the h2o
 * multithread.c pattern). A producer links a node under a mutex and calls
 * uv_async_send only when the list was empty; sends coalesce, and the
 * loop-side callback drains the whole list at once.
 */
#ifndef TERN_COLLECTOR_XQUEUE_H
#define TERN_COLLECTOR_XQUEUE_H

#include <pthread.h>
#include <stdbool.h>

#include <uv.h>

#include "util/container_of.h"

struct col_xq_node {
	struct col_xq_node *next;
};

struct col_xq;

/** Gets every node pushed since the last call, in push order, on the loop. */
typedef void (*col_xq_cb)(struct col_xq *q, struct col_xq_node *list);

struct col_xq {
	uv_async_t _async;
	pthread_mutex_t _mu;
	struct col_xq_node *_head;
	struct col_xq_node **_tailp;
	col_xq_cb _cb;
	void (*_closed)(struct col_xq *q);
	void *data; /* for the owner */
};

/** Sets q up on loop. Loop thread. Returns 0 or a negative errno. */
int col_xq_init(struct col_xq *q, uv_loop_t *loop, col_xq_cb cb);

/**
 * Links n into q and wakes the loop if q was empty. Any thread. q does not
 * own n; the callback gets it back. Must not be called after col_xq_close().
 */
void col_xq_push(struct col_xq *q, struct col_xq_node *n);

/**
 * Delivers what is still queued to the callback, then closes the async
 * handle; closed(q) runs from the loop once it is closed (may be NULL).
 * Loop thread.
 */
void col_xq_close(struct col_xq *q, void (*closed)(struct col_xq *q));

#endif /* TERN_COLLECTOR_XQUEUE_H */
