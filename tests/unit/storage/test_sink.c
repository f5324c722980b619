/*
 * test_sink.c: ternd's `store` stage (collector/pipeline/sink_store.c) on a real
 * libuv loop: acks come on the loop thread, only after the spans are
 * durable, exactly once each and in order; close answers everything
 * accepted, then refuses, then closes its handles. Runs under valgrind
 * too (the ternd-process tests cannot).
 */
#include <errno.h>
#include <pthread.h>

#include "fx.h"
#include "harness.h"
#include "pipeline/pipeline.h"
#include "pipeline/sink_store.h"

#define N 50

struct ctx {
	pthread_t loop_thread;
	int acks[N];
	int status[N];
	int order[N];
	int nacked;
	bool closed;
	struct store *handle;
};

struct ack_arg {
	struct ctx *c;
	int i;
};

static void on_ack(void *arg, int status)
{
	struct ack_arg *a = arg;
	struct ctx *c = a->c;
	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->status[a->i] = -999; /* not on the loop thread */
	else
		c->status[a->i] = status;
	c->acks[a->i]++;
	c->order[c->nacked++] = a->i;
}

static void on_closed(void *arg)
{
	struct ctx *c = arg;
	c->closed = true;
}

TEST(acks_on_loop_after_durable_then_close)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "sink");
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	static struct ctx c;
	static struct ack_arg args[N];
	memset(&c, 0, sizeof c);
	c.loop_thread = pthread_self();
	const struct col_stage_ops *ops = col_stage_find("store");
	ASSERT(ops != NULL);
	struct col_stage_env env = { &loop, dir, 64 << 20 };
	struct col_stage *st = NULL;
	char err[256];
	ASSERT_OK(ops->open(&env, &st, err, sizeof err));
	c.handle = col_sink_store_handle(st);
	ASSERT(c.handle != NULL);
	for (int i = 0; i < N; i++) {
		struct otlp_batch *b = fx_batch("sinksvc", i, i + 1, 1700000000000000000ull, 1, 9);
		struct col_batch *cb = col_batch_new(b, COL_PROTO_GRPC, 100, 0);
		args[i] = (struct ack_arg){ &c, i };
		ASSERT_OK(col_stage_submit(st, cb, on_ack, &args[i]));
	}
	/* never acked from inside submit */
	ASSERT_EQ(c.nacked, 0);
	ASSERT_EQ(col_stage_pending(st), N);
	while (c.nacked < N)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ(col_stage_pending(st), 0);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(c.acks[i], 1);
		ASSERT_OK(c.status[i]);
		ASSERT_EQ(c.order[i], i);
	}
	/* acked means readable */
	uint8_t id[16];
	fx_tid(id, N - 1);
	struct otlp_batch *got = NULL;
	ASSERT_OK(store_get_trace(c.handle, id, &got));
	otlp_batch_free(got);

	/* one more, then close at once: it is still answered */
	struct otlp_batch *b = fx_batch("sinksvc", 999, 1000, 0, 0, 1);
	struct col_batch *last = col_batch_new(b, COL_PROTO_GRPC, 1, 0);
	static struct ack_arg la;
	static struct ctx c2;
	c2.loop_thread = pthread_self();
	la = (struct ack_arg){ &c2, 0 };
	ASSERT_OK(col_stage_submit(st, last, on_ack, &la));
	col_stage_close(st, on_closed, &c);
	struct otlp_batch *b2 = otlp_batch_new();
	struct col_batch *refused = col_batch_new(b2, COL_PROTO_GRPC, 1, 0);
	ASSERT_EQ(col_stage_submit(st, refused, on_ack, &la), -ESHUTDOWN);
	col_batch_free(refused);
	ASSERT_FALSE(c.closed);
	while (!c.closed)
		uv_run(&loop, UV_RUN_ONCE);
	ASSERT_EQ(c2.acks[0], 1);
	ASSERT_OK(c2.status[0]);
	ASSERT_OK(uv_loop_close(&loop));

	/* and it is on disk */
	struct store *s;
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.spans, N + 1);
	store_close(s);
	fx_rmtree(dir);
}

TEST(open_failure_is_reported)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	const struct col_stage_ops *ops = col_stage_find("store");
	struct col_stage_env env = { &loop, "/proc/self/no/such/dir", 0 };
	struct col_stage *st = NULL;
	char err[256] = "";
	ASSERT(ops->open(&env, &st, err, sizeof err) < 0);
	ASSERT(strstr(err, "store: cannot open") != NULL);
	ASSERT_OK(uv_loop_close(&loop));
}

TEST_MAIN(TEST_ENTRY(acks_on_loop_after_durable_then_close), TEST_ENTRY(open_failure_is_reported))
