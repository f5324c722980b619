/* Unit tests: the cross-thread queue (xqueue) with real threads. */
#include <stdlib.h>

#include <uv.h>

#include "harness.h"
#include "xqueue.h"

#define PRODUCERS 4
#define PER_PRODUCER 20000

struct item {
	struct col_xq_node node;
	int producer;
	int seq;
};

static int received;
static int callbacks;
static int last_seq[PRODUCERS];
static bool order_ok = true;
static struct col_xq q;

static void on_items(struct col_xq *xq, struct col_xq_node *list)
{
	callbacks++;
	while (list) {
		struct col_xq_node *next = list->next;
		struct item *it = (struct item *)list;
		if (it->seq != last_seq[it->producer] + 1)
			order_ok = false;
		last_seq[it->producer] = it->seq;
		received++;
		free(it);
		list = next;
	}
	if (received == PRODUCERS * PER_PRODUCER)
		col_xq_close(xq, NULL);
}

static void producer(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 1; i <= PER_PRODUCER; i++) {
		struct item *it = malloc(sizeof(*it));
		it->producer = id;
		it->seq = i;
		col_xq_push(&q, &it->node);
	}
}

TEST(many_producers_all_delivered_in_order)
{
	uv_loop_t loop;
	uv_thread_t th[PRODUCERS];
	ASSERT_OK(uv_loop_init(&loop));
	ASSERT_OK(col_xq_init(&q, &loop, on_items));
	for (int i = 0; i < PRODUCERS; i++)
		ASSERT_OK(uv_thread_create(&th[i], producer, (void *)(intptr_t)i));
	ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
	for (int i = 0; i < PRODUCERS; i++)
		uv_thread_join(&th[i]);
	ASSERT_EQ(received, PRODUCERS * PER_PRODUCER);
	ASSERT_TRUE(order_ok);
	/* Sends coalesce: far fewer wakeups than items. */
	ASSERT_LT(callbacks, PRODUCERS * PER_PRODUCER);
	ASSERT_OK(uv_loop_close(&loop));
}

static int closed_called;
static void on_closed(struct col_xq *xq)
{
	closed_called++;
}

TEST(close_delivers_what_is_queued)
{
	uv_loop_t loop;
	ASSERT_OK(uv_loop_init(&loop));
	received = 0;
	for (int i = 0; i < PRODUCERS; i++)
		last_seq[i] = 0;
	ASSERT_OK(col_xq_init(&q, &loop, on_items));
	for (int i = 1; i <= 3; i++) {
		struct item *it = malloc(sizeof(*it));
		it->producer = 0;
		it->seq = i;
		col_xq_push(&q, &it->node);
	}
	col_xq_close(&q, on_closed); /* before the loop ever ran */
	ASSERT_EQ(received, 3);
	ASSERT_OK(uv_run(&loop, UV_RUN_DEFAULT));
	ASSERT_EQ(closed_called, 1);
	ASSERT_OK(uv_loop_close(&loop));
}

TEST_MAIN(TEST_ENTRY(many_producers_all_delivered_in_order),
	  TEST_ENTRY(close_delivers_what_is_queued))
