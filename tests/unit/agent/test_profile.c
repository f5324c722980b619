/* libtern-profile: this file is built with -finstrument-functions and
 * linked with -rdynamic, so its functions are named and counted. */
#include "harness.h"
#include "tern.h"
#include "tern_profile.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

void leaf(void);
void middle(int n);
int fib(int n);

__attribute__((noinline)) void leaf(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec) < 200000);
}

__attribute__((noinline)) void middle(int n)
{
	for (int i = 0; i < n; i++)
		leaf();
}

__attribute__((noinline)) int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static const struct tern_profile_row *row(const struct tern_profile_row *r, size_t n,
					  const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(r[i].name, name) == 0)
			return &r[i];
	return NULL;
}

__attribute__((no_instrument_function)) static void check_counts(void)
{
	tern_profile_reset();
	middle(5);
	middle(5);
	ASSERT_EQ(fib(10), 55);
	static struct tern_profile_row rows[64];
	size_t n = tern_profile_top(TERN_PROFILE_BY_CUMULATIVE, rows, 64);
	const struct tern_profile_row *m = row(rows, n, "middle"), *l = row(rows, n, "leaf"),
				      *f = row(rows, n, "fib");
	ASSERT(m != NULL && l != NULL && f != NULL);
	ASSERT_EQ_U(m->calls, 2);
	ASSERT_EQ_U(l->calls, 10);
	ASSERT_EQ_U(f->calls, 177); /* calls of fib(10) */
	ASSERT_GE_U(l->cum_ns, 10 * 200000);
	/* middle's time is nearly all in leaf: small self, cum >= leaf's */
	ASSERT_GE_U(m->cum_ns, l->cum_ns);
	ASSERT_LT(m->self_ns, m->cum_ns / 2);
	ASSERT_EQ_U(l->self_ns, l->cum_ns); /* leaf calls nothing instrumented */
	/* sorted by cumulative time: middle comes before leaf */
	ASSERT(m < l);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	ASSERT_OK(tern_profile_fprint(out, TERN_PROFILE_BY_SELF, 0));
	fclose(out);
	ASSERT(strstr(buf, "leaf") != NULL && strstr(buf, "cumtime") != NULL);
	free(buf);
}

__attribute__((no_instrument_function)) static void check_spans(void)
{
	struct tern_options o;
	tern_options_default(&o);
	o.export_enabled = false;
	o.sampler = TERN_SAMPLER_ALWAYS_ON;
	ASSERT_OK(tern_init(&o));
	/* far apart, so a descheduled thread cannot flip the outcome */
	tern_profile_span_threshold_set(20000000); /* 20 ms */
	middle(110); /* >= 22 ms: a span */
	middle(1);   /* ~0.2 ms: none */
	tern_profile_span_threshold_set(0);
	ASSERT_OK(tern_flush(5000));
	/* Every call over the threshold is a span and none under it is. On a
	 * loaded machine a preempted call can really take 20 ms: it is then
	 * a span too, so check durations rather than exact counts (without
	 * the threshold, leaf's 111 calls of 0.2 ms would show up here). */
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("middle", &st));
	ASSERT_GE_U(st.count, 1);
	ASSERT_LE_U(st.count, 2);
	ASSERT_GE_U(st.min_ns, 20000000);
	ASSERT_GE_U(st.max_ns, 22000000);
	int r = tern_stats_get("leaf", &st);
	if (r == 0)
		ASSERT_GE_U(st.min_ns, 20000000);
	else
		ASSERT_EQ(r, -ENOENT);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

static void *in_thread(void *arg)
{
	middle(2);
	return NULL;
}

__attribute__((no_instrument_function)) static void check_threads(void)
{
	tern_profile_reset();
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		ASSERT_OK(pthread_create(&t[i], NULL, in_thread, NULL));
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	/* the threads are gone: their counts survive in the exited table */
	static struct tern_profile_row rows[64];
	size_t n = tern_profile_top(TERN_PROFILE_BY_CALLS, rows, 64);
	const struct tern_profile_row *m = row(rows, n, "middle"), *l = row(rows, n, "leaf");
	ASSERT(m != NULL && l != NULL);
	ASSERT_EQ_U(m->calls, 3);
	ASSERT_EQ_U(l->calls, 6);
}

TEST(counts_and_times) { check_counts(); }
TEST(exited_threads_are_kept) { check_threads(); }
TEST(slow_calls_become_spans) { check_spans(); }

TEST_MAIN(TEST_ENTRY(counts_and_times), TEST_ENTRY(exited_threads_are_kept),
	  TEST_ENTRY(slow_calls_become_spans))
