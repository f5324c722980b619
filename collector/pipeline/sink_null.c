/*
 * sink_null.c: the `null` stage. Accepts every batch, frees it, and acks it
 * on the next loop iteration (never inside submit). Used by benchmarks and
 * as the default until storage lands.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "pipeline/pipeline.h"

extern const struct col_stage_ops col_sink_null_ops;

struct null_ack {
	col_ack_cb cb;
	void *arg;
};

struct null_sink {
	struct col_stage base;
	uv_idle_t idle;
	struct null_ack *acks; /* pending acks, FIFO in a growable array */
	size_t n, cap;
	bool closing;
	col_closed_cb closed_cb;
	void *closed_arg;
};

static void null_on_closed(uv_handle_t *h)
{
	struct null_sink *s = h->data;
	col_closed_cb cb = s->closed_cb;
	void *arg = s->closed_arg;
	free(s->acks);
	free(s);
	cb(arg);
}

static void null_on_idle(uv_idle_t *h)
{
	struct null_sink *s = h->data;
	/* Acks may submit more batches: run only those queued so far. */
	size_t n = s->n;
	struct null_ack *acks = s->acks;
	s->acks = NULL;
	s->n = 0;
	s->cap = 0;
	for (size_t i = 0; i < n; i++)
		acks[i].cb(acks[i].arg, 0);
	free(acks);
	if (s->n == 0) {
		uv_idle_stop(&s->idle);
		if (s->closing)
			uv_close((uv_handle_t *)&s->idle, null_on_closed);
	}
}

static int null_open(const struct col_stage_env *env, struct col_stage **out,
		     char *err, size_t errlen)
{
	struct null_sink *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->base.ops = &col_sink_null_ops;
	uv_idle_init(env->loop, &s->idle);
	s->idle.data = s;
	*out = &s->base;
	return 0;
}

static int null_submit(struct col_stage *st, struct col_batch *b, col_ack_cb cb, void *arg)
{
	struct null_sink *s = (struct null_sink *)st;
	if (s->closing)
		return -ESHUTDOWN;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct null_ack *a = realloc(s->acks, cap * sizeof(*a));
		if (a == NULL)
			return -ENOMEM;
		s->acks = a;
		s->cap = cap;
	}
	s->acks[s->n].cb = cb;
	s->acks[s->n].arg = arg;
	if (s->n++ == 0)
		uv_idle_start(&s->idle, null_on_idle);
	col_batch_free(b);
	return 0;
}

static void null_close(struct col_stage *st, col_closed_cb cb, void *arg)
{
	struct null_sink *s = (struct null_sink *)st;
	s->closing = true;
	s->closed_cb = cb;
	s->closed_arg = arg;
	/* With acks pending, the idle callback closes after the last one;
	 * otherwise close now (the callback still runs later, from the loop). */
	if (s->n == 0)
		uv_close((uv_handle_t *)&s->idle, null_on_closed);
}

static size_t null_pending(const struct col_stage *st)
{
	return ((const struct null_sink *)st)->n;
}

const struct col_stage_ops col_sink_null_ops = {
	.name = "null",
	.open = null_open,
	.submit = null_submit,
	.close = null_close,
	.pending = null_pending,
};
