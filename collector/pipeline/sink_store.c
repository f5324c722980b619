/*
 * sink_store.c: the `store` stage. Batches go to the store's writer
 * thread (group commit: one fsync for everything queued meanwhile); its
 * completions come back to the loop through a col_xq (xqueue.h), and only
 * then is each batch acked, in completion order. Closing runs store_close() on the libuv
 * thread pool, since it seals the open segment (disk I/O).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pipeline/sink_store.h"
#include "xqueue.h"

struct store_sink;

struct store_job {
	struct col_xq_node node; /* first: the queue hands nodes back */
	struct store_sink *sink;
	struct col_batch *b;
	col_ack_cb cb;
	void *arg;
	int status;
};

struct store_sink {
	struct col_stage base;
	struct store *store;
	uv_loop_t *loop;
	struct col_xq done;     /* durable jobs, from the writer thread */
	uv_work_t close_work;
	size_t pending;         /* submitted, not yet acked; loop thread only */
	bool closing;
	bool close_started;
	col_closed_cb closed_cb;
	void *closed_arg;
	col_durable_fn observe; /* sees each durable batch before it is freed */
	void *observe_arg;
};

/* Writer thread. */
static void store_on_durable(void *arg, int status)
{
	struct store_job *j = arg;
	struct store_sink *sink = j->sink;
	j->status = status;
	col_xq_push(&sink->done, &j->node);
}

static void store_on_closed(struct col_xq *q)
{
	struct store_sink *s = container_of(q, struct store_sink, done);
	col_closed_cb cb = s->closed_cb;
	void *arg = s->closed_arg;
	free(s);
	cb(arg);
}

static void store_close_work(uv_work_t *w)
{
	struct store_sink *s = w->data;
	store_close(s->store);
	s->store = NULL;
}

static void store_close_done(uv_work_t *w, int status)
{
	struct store_sink *s = w->data;
	col_xq_close(&s->done, store_on_closed);
}

static void store_start_close(struct store_sink *s)
{
	if (s->close_started)
		return;
	s->close_started = true;
	s->close_work.data = s;
	if (uv_queue_work(s->loop, &s->close_work, store_close_work, store_close_done) != 0) {
		/* No thread pool: close here rather than leak the store. */
		store_close(s->store);
		s->store = NULL;
		col_xq_close(&s->done, store_on_closed);
	}
}

static void store_on_durable_list(struct col_xq *q, struct col_xq_node *list)
{
	struct store_sink *s = container_of(q, struct store_sink, done);
	while (list) {
		struct store_job *j = container_of(list, struct store_job, node);
		list = list->next;
		if (j->status == 0 && s->observe != NULL)
			s->observe(s->observe_arg, j->b->otlp);
		col_batch_free(j->b);
		s->pending--;
		j->cb(j->arg, j->status);
		free(j);
	}
	if (s->closing && s->pending == 0)
		store_start_close(s);
}

static int store_sink_open(const struct col_stage_env *env, struct col_stage **out,
			   char *err, size_t errlen)
{
	struct store_sink *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "store: out of memory");
		return -ENOMEM;
	}
	s->base.ops = &col_sink_store_ops;
	s->loop = env->loop;
	struct store_options o;
	store_options_default(&o);
	o.dir = env->data_dir && *env->data_dir ? env->data_dir : "./data";
	/* ternd accounts its memory itself; the store's queue is a backstop. */
	if (env->memory_limit)
		o.max_queue_bytes = env->memory_limit;
	/* Segment size, for tests that want segments to roll (and crash
	 * while sealing) without writing 64 MiB each. */
	const char *sb = getenv("TERND_STORE_SEGMENT_BYTES");
	if (sb && *sb) {
		char *end;
		unsigned long long v = strtoull(sb, &end, 10);
		if (*end == 0 && v >= 4096)
			o.segment_bytes = v;
	}
	struct store_recovery rec;
	int rc = store_open(&o, &s->store, &rec);
	if (rc < 0) {
		snprintf(err, errlen, "store: cannot open %s: %s", o.dir, strerror(-rc));
		free(s);
		return rc;
	}
	col_log(rec.corrupt_segments ? COL_LOG_WARN : COL_LOG_INFO, "%s", rec.msg);
	rc = col_xq_init(&s->done, env->loop, store_on_durable_list);
	if (rc < 0) {
		snprintf(err, errlen, "store: cannot set up its completion queue: %s",
			 uv_strerror(rc));
		store_close(s->store);
		free(s);
		return rc;
	}
	*out = &s->base;
	return 0;
}

static int store_sink_submit(struct col_stage *st, struct col_batch *b, col_ack_cb cb, void *arg)
{
	struct store_sink *s = (struct store_sink *)st;
	if (s->closing)
		return -ESHUTDOWN;
	struct store_job *j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->b = b;
	j->cb = cb;
	j->arg = arg;
	j->sink = s;
	int rc = store_submit(s->store, b->otlp, store_on_durable, j);
	if (rc < 0) {
		free(j);
		return rc;
	}
	s->pending++;
	return 0;
}

static void store_sink_close(struct col_stage *st, col_closed_cb cb, void *arg)
{
	struct store_sink *s = (struct store_sink *)st;
	s->closing = true;
	s->closed_cb = cb;
	s->closed_arg = arg;
	if (s->pending == 0)
		store_start_close(s);
}

static size_t store_sink_pending(const struct col_stage *st)
{
	return ((const struct store_sink *)st)->pending;
}

struct store *col_sink_store_handle(struct col_stage *st)
{
	if (st == NULL || st->ops != &col_sink_store_ops)
		return NULL;
	return ((struct store_sink *)st)->store;
}

void col_sink_store_set_observer(struct col_stage *st, col_durable_fn fn, void *arg)
{
	if (st == NULL || st->ops != &col_sink_store_ops)
		return;
	((struct store_sink *)st)->observe = fn;
	((struct store_sink *)st)->observe_arg = arg;
}

const struct col_stage_ops col_sink_store_ops = {
	.name = "store",
	.open = store_sink_open,
	.submit = store_sink_submit,
	.close = store_sink_close,
	.pending = store_sink_pending,
};
