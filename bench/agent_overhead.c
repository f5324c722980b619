/*
 * agent_overhead: the cost of recording one span on the application
 * thread. Prints `name value unit` lines, each the median of RUNS runs.
 *
 *   span_ns             start + end, 1 attribute, 1 event, AlwaysOn (the
 *                       OpenTelemetry SDK benchmark shape)
 *   span_ns_2threads    the same on 2 threads at once (per span, per thread)
 *   span_ns_disabled    tern_enable(false)
 *   span_ns_unsampled   AlwaysOff sampler (the span still feeds local stats)
 *
 * Export is off (export_enabled = false): the exporter thread still drains
 * the rings and keeps the statistics, which is what runs concurrently with
 * the application in production; bench/agent_export measures export.
 *
 * Times are the recording thread's CPU time (CLOCK_THREAD_CPUTIME_ID) per
 * span: on this shared 2-vCPU machine wall time mostly measures how often
 * the thread was descheduled. span_ns_wall is the wall-clock median too.
 */
#include "tern.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define RUNS 7
#define SPANS 200000

static double last_wall;

static __attribute__((noinline)) double one_run(int n)
{
	double w0 = now_s();
	double t0 = thread_cpu_s();
	for (int i = 0; i < n; i++) {
		struct tern_span s;
		tern_span_begin(&s, "bench.span", TERN_KIND_INTERNAL);
		tern_span_set_int(&s, "attr", i);
		tern_span_add_event(&s, "event", NULL, 0);
		tern_span_end(&s);
	}
	double t = (thread_cpu_s() - t0) * 1e9 / n;
	last_wall = (now_s() - w0) * 1e9 / n;
	return t;
}

static double median_wall;

static double median_runs(void)
{
	double r[RUNS], w[RUNS];
	one_run(SPANS / 10); /* warm up: ring registration, caches */
	for (int i = 0; i < RUNS; i++) {
		r[i] = one_run(SPANS);
		w[i] = last_wall;
		tern_flush(10000); /* drain between runs so the ring never fills */
	}
	median_wall = median(w, RUNS);
	return median(r, RUNS);
}

static pthread_barrier_t bar;

static void *thread_run(void *arg)
{
	double *out = arg;
	one_run(SPANS / 10);
	for (int i = 0; i < RUNS; i++) {
		pthread_barrier_wait(&bar);
		out[i] = one_run(SPANS);
		pthread_barrier_wait(&bar);
	}
	return NULL;
}

static int init(enum tern_sampler s)
{
	struct tern_options o;
	tern_options_default(&o);
	o.export_enabled = false;
	o.sampler = s;
	o.max_queue_size = 1 << 18; /* 32 MiB ring per thread: a whole run fits, no drops */
	o.poll_interval_ms = 1;
	o.disabled = false;
	return tern_init(&o);
}

int main(void)
{
	print_machine();
	printf("# median of %d runs of %d spans\n", RUNS, SPANS);
	if (init(TERN_SAMPLER_ALWAYS_ON) != 0) {
		fprintf(stderr, "tern_init failed\n");
		return 1;
	}
	printf("span_ns %.1f ns\n", median_runs());
	printf("span_ns_wall %.1f ns\n", median_wall);

	pthread_t t[2];
	double r[2][RUNS];
	pthread_barrier_init(&bar, NULL, 3);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_run, r[i]);
	for (int i = 0; i < RUNS; i++) {
		pthread_barrier_wait(&bar);
		pthread_barrier_wait(&bar);
		tern_flush(10000);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	double all[2 * RUNS];
	memcpy(all, r[0], sizeof r[0]);
	memcpy(all + RUNS, r[1], sizeof r[1]);
	printf("span_ns_2threads %.1f ns\n", median(all, 2 * RUNS));

	tern_enable(false);
	printf("span_ns_disabled %.1f ns\n", median_runs());
	tern_enable(true);
	struct tern_counters c;
	tern_counters_get(&c);
	tern_shutdown(10000);
	printf("dropped_spans_sampled_runs %llu spans\n", (unsigned long long)c.dropped_ring_full);

	init(TERN_SAMPLER_ALWAYS_OFF);
	printf("span_ns_unsampled %.1f ns\n", median_runs());
	struct tern_counters c2;
	tern_counters_get(&c2);
	tern_shutdown(10000);
	printf("dropped_spans_total %llu spans\n", (unsigned long long)c2.dropped_ring_full);
	return 0;
}
