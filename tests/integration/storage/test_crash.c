/*
 * test_crash.c: kill -9 the real ternd (--sink store) while clients stream
 * OTLP/gRPC, several times on the same data directory; then check that
 * every span a client saw acknowledged is readable, and that no span is in
 * the log twice.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>


#include "harness.h"
#include "ternd_proc.h"
#include "reqs.h"

#define RUNS 4
#define CLIENTS 4

struct client {
	pthread_t th;
	int run, id;
	const char *addr;
	atomic_bool *stop;
	uint32_t *acked; /* request numbers answered OK */
	size_t nacked, cap;
	int last_status;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct otlp_grpc_conn *conn = otlp_grpc_connect(c->addr, false);
	for (uint32_t seq = 0; conn && !atomic_load(c->stop); seq++) {
		uint8_t *req;
		size_t len;
		if (build_request(c->run, c->id, seq, &req, &len) != 0)
			break;
		int st = export_status(conn, req, len, 10);
		free(req);
		if (st != 0) {
			c->last_status = st;
			break;
		}
		if (c->nacked == c->cap) {
			c->cap = c->cap ? c->cap * 2 : 256;
			c->acked = realloc(c->acked, c->cap * sizeof *c->acked);
		}
		c->acked[c->nacked++] = seq;
	}
	otlp_grpc_close(conn);
	return NULL;
}

static size_t total_acked(struct client *cl)
{
	size_t n = 0;
	for (int i = 0; i < CLIENTS; i++)
		n += atomic_load_explicit((_Atomic size_t *)&cl[i].nacked, memory_order_relaxed);
	return n;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* 64-bit span keys seen in the log; open addressing. */
struct seen {
	uint64_t *v;
	size_t cap, n;
};

static bool seen_add(struct seen *s, uint64_t k)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct seen t = { calloc(s->cap ? s->cap * 2 : 4096, 8), s->cap ? s->cap * 2 : 4096, 0 };
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				seen_add(&t, s->v[i]);
		free(s->v);
		*s = t;
	}
	size_t i = (size_t)((k * 0x9e3779b97f4a7c15ULL) >> 20) & (s->cap - 1);
	while (s->v[i]) {
		if (s->v[i] == k)
			return false;
		i = (i + 1) & (s->cap - 1);
	}
	s->v[i] = k;
	s->n++;
	return true;
}

static struct client clients[RUNS][CLIENTS];

TEST(kill9_while_streaming_loses_no_acked_span)
{
	/* Under valgrind a kill -9 mid-stream test proves nothing more than
	 * the plain run and takes minutes (ternd itself would run under
	 * valgrind too). */
	const char *vg = getenv("TERN_UNDER_VALGRIND");
	if (vg && strcmp(vg, "1") == 0)
		TEST_SKIP("kill -9 mid-stream under valgrind proves nothing more, in minutes");
	signal(SIGPIPE, SIG_IGN);
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "crash");
	srand((unsigned)time(NULL));
	const char *args[] = { "--sink", "store", NULL };
	/* runs after the first use 64 KiB segments: they roll (and seal)
	 * many times a second, so the kill also lands inside seals */
	const char *small[] = { "TERND_STORE_SEGMENT_BYTES=65536", NULL };
	struct ternd_proc_opts o = { .args = args, .data_dir = dir };
	size_t acked_total = 0;
	for (int run = 0; run < RUNS; run++) {
		struct ternd_proc p;
		o.env = run > 0 ? small : NULL;
		ASSERT_OK(ternd_proc_start(&p, &o));
		atomic_bool stop = false;
		for (int i = 0; i < CLIENTS; i++) {
			struct client *c = &clients[run][i];
			*c = (struct client){ .run = run, .id = i, .addr = p.grpc_addr, .stop = &stop };
			pthread_create(&c->th, NULL, client_main, c);
		}
		/* let some acks through, then crash at a random moment */
		for (int w = 0; w < 500 && total_acked(clients[run]) < 40; w++)
			sleep_ms(10);
		sleep_ms(100 + rand() % 400);
		ternd_proc_kill(&p);
		atomic_store(&stop, true);
		for (int i = 0; i < CLIENTS; i++)
			pthread_join(clients[run][i].th, NULL);
		size_t n = total_acked(clients[run]);
		fprintf(stderr, "run %d: %zu requests acked before kill -9\n", run, n);
		ASSERT_GT(n, 0);
		acked_total += n;
	}
	/* the real ternd recovers and shuts down cleanly on the same data */
	o.env = NULL;
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, &o));
	ASSERT_EQ(ternd_proc_stop(&p), 0);

	struct store *s;
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	fprintf(stderr, "%s\n", rec.msg);
	/* every acked trace: all its spans, once */
	size_t missing = 0, wrong = 0;
	for (int run = 0; run < RUNS; run++)
		for (int i = 0; i < CLIENTS; i++) {
			struct client *c = &clients[run][i];
			for (size_t a = 0; a < c->nacked; a++)
				for (int k = 0; k < TRACES_PER_REQ; k++) {
					uint8_t tid[16], sid[8];
					ids(tid, sid, run, i, c->acked[a], k, 0);
					struct otlp_batch *b = NULL;
					int rc = store_get_trace(s, tid, &b);
					if (rc != 0)
						missing++;
					else if (b->n_spans != SPANS_PER_TRACE ||
						 fx_count_spans(b) != SPANS_PER_TRACE)
						wrong++;
					otlp_batch_free(b);
				}
			free(c->acked);
		}
	/* no span twice anywhere in the log, acked or not */
	struct seen seen = { 0 };
	size_t dups = 0, spans = 0;
	struct store_reader *r;
	ASSERT_OK(store_reader_new(s, (struct store_pos){ 0, 0 }, &r));
	struct otlp_batch *b;
	struct store_pos at, next;
	int rc;
	while ((rc = store_reader_next(r, &b, &at, &next)) == 0) {
		for (struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next)
			for (struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
				for (struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
					uint64_t k;
					memcpy(&k, sp->span_id, 8);
					spans++;
					if (!seen_add(&seen, k))
						dups++;
				}
		otlp_batch_free(b);
	}
	store_reader_free(r);
	free(seen.v);
	store_close(s);
	fprintf(stderr, "%zu acked requests, %zu spans in the log, %zu missing traces, "
		"%zu wrong, %zu duplicate spans\n", acked_total, spans, missing, wrong, dups);
	ASSERT_EQ(rc, -EAGAIN);
	ASSERT_EQ(missing, 0);
	ASSERT_EQ(wrong, 0);
	ASSERT_EQ(dups, 0);
	ASSERT_GE_U(spans, acked_total * TRACES_PER_REQ * SPANS_PER_TRACE);
	ternd_proc_remove_dir(dir);
}

TEST_MAIN(TEST_ENTRY(kill9_while_streaming_loses_no_acked_span))
