/* xqueue.c: mutex-guarded list + coalescing uv_async_send. */
#include <stddef.h>

#include "xqueue.h"

static void xq_drain(struct col_xq *q)
{
	pthread_mutex_lock(&q->_mu);
	struct col_xq_node *list = q->_head;
	q->_head = NULL;
	q->_tailp = &q->_head;
	pthread_mutex_unlock(&q->_mu);
	if (list != NULL)
		q->_cb(q, list);
}

static void xq_on_async(uv_async_t *a)
{
	xq_drain(a->data);
}

int col_xq_init(struct col_xq *q, uv_loop_t *loop, col_xq_cb cb)
{
	q->_head = NULL;
	q->_tailp = &q->_head;
	q->_cb = cb;
	q->_closed = NULL;
	int r = pthread_mutex_init(&q->_mu, NULL);
	if (r != 0)
		return -r;
	r = uv_async_init(loop, &q->_async, xq_on_async);
	if (r != 0) {
		pthread_mutex_destroy(&q->_mu);
		return r;
	}
	q->_async.data = q;
	return 0;
}

void col_xq_push(struct col_xq *q, struct col_xq_node *n)
{
	n->next = NULL;
	pthread_mutex_lock(&q->_mu);
	bool was_empty = q->_head == NULL;
	*q->_tailp = n;
	q->_tailp = &n->next;
	pthread_mutex_unlock(&q->_mu);
	if (was_empty)
		uv_async_send(&q->_async);
}

static void xq_on_closed(uv_handle_t *h)
{
	struct col_xq *q = h->data;
	pthread_mutex_destroy(&q->_mu);
	if (q->_closed != NULL)
		q->_closed(q);
}

void col_xq_close(struct col_xq *q, void (*closed)(struct col_xq *q))
{
	xq_drain(q);
	q->_closed = closed;
	uv_close((uv_handle_t *)&q->_async, xq_on_closed);
}
