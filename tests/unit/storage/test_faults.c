/*
 * test_faults.c: injected I/O faults (ENOSPC, short writes, failed
 * fsyncs): the store refuses with a retryable error, keeps answering
 * queries, recovers by itself, and never keeps half a record.
 */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#include "fx.h"
#include "harness.h"

#define T0 1700000000000000000ull

struct faults {
	atomic_int write_err;  /* errno to fail writes with, 0: none */
	atomic_int sync_err;   /* errno to fail syncs with */
	atomic_int short_len;  /* cut every write to this many bytes */
	atomic_int write_budget; /* >= 0: bytes writable before ENOSPC */
	atomic_int calls;
};

static int hook(void *arg, enum store_io_op op, const char *path, size_t *len)
{
	struct faults *f = arg;
	f->calls++;
	if (op == STORE_IO_WRITE) {
		if (f->write_err)
			return -f->write_err;
		if (f->write_budget >= 0) {
			if (f->write_budget == 0)
				return -ENOSPC;
			if (*len > (size_t)f->write_budget)
				*len = (size_t)f->write_budget;
			f->write_budget -= (int)*len;
		}
		if (f->short_len && *len > (size_t)f->short_len)
			*len = (size_t)f->short_len;
	}
	if (op == STORE_IO_SYNC && f->sync_err)
		return -f->sync_err;
	return 0;
}

static int append(struct store *s, int from, int to)
{
	struct otlp_batch *b = fx_batch("svc", from, to, T0, 1000, 500);
	int rc = store_append(s, b);
	otlp_batch_free(b);
	return rc;
}

static int count_traces(struct store *s, int from, int to)
{
	int found = 0;
	for (int t = from; t < to; t++) {
		uint8_t id[16];
		struct otlp_batch *b = NULL;
		fx_tid(id, (uint64_t)t);
		if (store_get_trace(s, id, &b) == 0 && b->n_spans == 1)
			found++;
		otlp_batch_free(b);
	}
	return found;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

/* The store's clock: a failed write's 50 ms of refusals pass when the
 * test says so (fx_clock_add), not by sleeping. It starts at the real
 * time, so a store reopened on the real clock keeps what it wrote. */
static struct fx_clock store_clock;

static int open_fast_retry(const char *dir, struct store **s, struct store_recovery *rec)
{
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retry_after_ms = 50;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fx_clock_use(&o, &store_clock, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
	return store_open(&o, s, rec);
}

/* Every span counted once over the whole log (nothing half-kept or doubled). */
static uint64_t log_spans(struct store *s)
{
	struct store_reader *r;
	if (store_reader_new(s, (struct store_pos){ 0, 0 }, &r) != 0)
		return UINT64_MAX;
	uint64_t n = 0;
	struct otlp_batch *b;
	struct store_pos at, next;
	int rc;
	while ((rc = store_reader_next(r, &b, &at, &next)) == 0) {
		n += b->n_spans;
		otlp_batch_free(b);
	}
	store_reader_free(r);
	return rc == -EAGAIN ? n : UINT64_MAX;
}

TEST(enospc_refuses_then_recovers)
{
	static struct faults f;
	f.write_budget = -1;
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "nospc");
	struct store *s;
	ASSERT_OK(open_fast_retry(dir, &s, NULL));
	ASSERT_OK(append(s, 0, 10));
	store_io_set_hook(hook, &f);
	f.write_err = ENOSPC;
	ASSERT_EQ(append(s, 10, 20), -ENOSPC);
	/* refused at once while the error is fresh */
	ASSERT_EQ(append(s, 20, 30), -ENOSPC);
	/* queries go on */
	ASSERT_EQ(count_traces(s, 0, 10), 10);
	/* still full after the retry delay: refused again */
	fx_clock_add(&store_clock, 80000000); /* past retry_after_ms */
	ASSERT_EQ(append(s, 20, 30), -ENOSPC);
	/* space returns */
	f.write_err = 0;
	fx_clock_add(&store_clock, 80000000); /* past retry_after_ms */
	ASSERT_OK(append(s, 30, 40));
	store_io_set_hook(NULL, NULL);
	ASSERT_EQ(count_traces(s, 0, 10), 10);
	ASSERT_EQ(count_traces(s, 10, 30), 0);
	ASSERT_EQ(count_traces(s, 30, 40), 10);
	struct store_stats st;
	store_stats(s, &st);
	ASSERT_GE(st.write_errors, 2);
	store_close(s);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.spans, 20);
	ASSERT_EQ(log_spans(s), 20);
	ASSERT_EQ(count_traces(s, 0, 40), 20);
	store_close(s);
	fx_rmtree(dir);
}

TEST(disk_fills_in_the_middle_of_a_record)
{
	static struct faults f;
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "half");
	struct store *s;
	ASSERT_OK(open_fast_retry(dir, &s, NULL));
	f.write_budget = -1;
	ASSERT_OK(append(s, 0, 10));
	store_io_set_hook(hook, &f);
	f.write_budget = 40; /* the header and a few bytes, then ENOSPC */
	ASSERT_EQ(append(s, 10, 20), -ENOSPC);
	f.write_budget = -1;
	fx_clock_add(&store_clock, 80000000); /* past retry_after_ms */
	ASSERT_OK(append(s, 20, 30));
	store_io_set_hook(NULL, NULL);
	ASSERT_EQ(log_spans(s), 20);
	store_close(s);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.corrupt_segments, 0);
	ASSERT_EQ(rec.spans, 20);
	ASSERT_EQ(count_traces(s, 0, 10), 10);
	ASSERT_EQ(count_traces(s, 10, 20), 0);
	ASSERT_EQ(count_traces(s, 20, 30), 10);
	store_close(s);
	fx_rmtree(dir);
}

TEST(short_writes_are_completed)
{
	static struct faults f;
	f.write_budget = -1;
	f.short_len = 7;
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "short");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	store_io_set_hook(hook, &f);
	for (int i = 0; i < 50; i += 10)
		ASSERT_OK(append(s, i, i + 10));
	store_io_set_hook(NULL, NULL);
	ASSERT_GT(f.calls, 50);
	store_close(s);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(count_traces(s, 0, 50), 50);
	store_close(s);
	fx_rmtree(dir);
}

TEST(failed_fsync_is_never_acked)
{
	static struct faults f;
	f.write_budget = -1;
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "fsync");
	struct store *s;
	ASSERT_OK(open_fast_retry(dir, &s, NULL));
	ASSERT_OK(append(s, 0, 10));
	store_io_set_hook(hook, &f);
	f.sync_err = EIO;
	ASSERT_EQ(append(s, 10, 20), -EIO);
	ASSERT_EQ(append(s, 20, 30), -EIO); /* refused at once */
	f.sync_err = 0;
	fx_clock_add(&store_clock, 80000000); /* past retry_after_ms */
	/* after a failed fsync the store moves to a fresh segment */
	ASSERT_OK(append(s, 30, 40));
	store_io_set_hook(NULL, NULL);
	struct store_stats st;
	store_stats(s, &st);
	ASSERT_GE(st.segments, 2);
	ASSERT_EQ(count_traces(s, 10, 20), 0);
	ASSERT_EQ(log_spans(s), 20);
	store_close(s);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(count_traces(s, 0, 10), 10);
	ASSERT_EQ(count_traces(s, 30, 40), 10);
	ASSERT_EQ(count_traces(s, 10, 30), 0);
	ASSERT_EQ(log_spans(s), 20);
	store_close(s);
	fx_rmtree(dir);
}

TEST(open_fails_cleanly)
{
	static struct faults f;
	f.write_budget = -1;
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "openf");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	ASSERT_OK(append(s, 0, 10));
	store_close(s);
	store_io_set_hook(hook, &f);
	f.write_err = EIO; /* index files cannot be written: still opens */
	int rc = fx_open(dir, &s, NULL);
	f.write_err = 0;
	store_io_set_hook(NULL, NULL);
	ASSERT_OK(rc);
	ASSERT_EQ(count_traces(s, 0, 10), 10);
	store_close(s);
	fx_rmtree(dir);
}

struct counter {
	atomic_int syncs, writes;
};

static int count_hook(void *arg, enum store_io_op op, const char *path, size_t *len)
{
	struct counter *c = arg;
	if (op == STORE_IO_SYNC)
		c->syncs++;
	if (op == STORE_IO_WRITE)
		c->writes++;
	return 0;
}

struct acks {
	atomic_int done, failed;
};

static void on_ack(void *arg, int status)
{
	struct acks *a = arg;
	if (status)
		a->failed++;
	a->done++;
}

/* Many batches submitted at once share fsyncs (group commit). */
TEST(group_commit_shares_fsyncs)
{
	static struct counter c;
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "group");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	enum { N = 200 };
	static struct otlp_batch *b[N];
	for (int i = 0; i < N; i++) {
		b[i] = fx_batch("svc", i, i + 1, T0, 1, 5);
	}
	store_io_set_hook(count_hook, &c);
	static struct acks a;
	for (int i = 0; i < N; i++)
		ASSERT_OK(store_submit(s, b[i], on_ack, &a));
	while (a.done < N)
		sleep_ms(1);
	store_io_set_hook(NULL, NULL);
	for (int i = 0; i < N; i++)
		otlp_batch_free(b[i]);
	fprintf(stderr, "%d batches, %d record writes, %d syncs\n", N, (int)c.writes, (int)c.syncs);
	ASSERT_EQ(a.failed, 0);
	ASSERT_GE(c.writes, N);
	ASSERT_LT(c.syncs, N / 2);
	ASSERT_EQ(count_traces(s, 0, N), N);
	store_close(s);
	fx_rmtree(dir);
}

TEST_MAIN(TEST_ENTRY(enospc_refuses_then_recovers), TEST_ENTRY(disk_fills_in_the_middle_of_a_record),
	  TEST_ENTRY(short_writes_are_completed), TEST_ENTRY(failed_fsync_is_never_acked),
	  TEST_ENTRY(open_fails_cleanly), TEST_ENTRY(group_commit_shares_fsyncs))
