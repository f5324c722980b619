/* libtern's API: spans, context, switch, counters, stats, slow calls,
 * drop accounting, thread exit, fork, options. Export is off here (the
 * integration test exports to real receivers). */
#include "harness.h"
#include "internal.h"
#include "tern_sketch.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void local_opts(struct tern_options *o)
{
	tern_options_default(o);
	o->export_enabled = false;
	o->sampler = TERN_SAMPLER_ALWAYS_ON;
	o->disabled = false;
}

static void spin_ns(uint64_t ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((uint64_t)((b.tv_sec - a.tv_sec) * 1000000000 + (b.tv_nsec - a.tv_nsec)) < ns);
}

TEST(noop_before_init)
{
	struct tern_span s;
	ASSERT_FALSE(tern_enabled());
	tern_span_begin(&s, "x", TERN_KIND_INTERNAL);
	ASSERT_FALSE(tern_span_is_recording(&s));
	tern_span_set_int(&s, "k", 1);
	tern_span_end(&s);
	ASSERT_EQ(tern_flush(10), -EINVAL);
	ASSERT_EQ(tern_shutdown(10), -EINVAL);
}

TEST(parent_child_and_current)
{
	struct tern_options o;
	local_opts(&o);
	ASSERT_OK(tern_init(&o));
	ASSERT_EQ(tern_init(&o), -EALREADY);
	struct tern_span p, c;
	tern_span_begin(&p, "parent", TERN_KIND_SERVER);
	ASSERT(tern_span_is_recording(&p));
	struct tern_context cur, pc;
	tern_current_context(&cur);
	tern_span_context(&p, &pc);
	ASSERT(cur.valid);
	ASSERT_MEM_EQ(cur.span_id, pc.span_id, 8);
	tern_span_begin(&c, "child", TERN_KIND_INTERNAL);
	ASSERT_MEM_EQ(c._trace_id, p._trace_id, 16);
	ASSERT_MEM_EQ(c._parent_id, p._span_id, 8);
	ASSERT(c._state & TERN__HAS_PARENT);
	ASSERT_FALSE(p._state & TERN__HAS_PARENT);
	tern_span_end(&c);
	tern_current_context(&cur);
	ASSERT_MEM_EQ(cur.span_id, pc.span_id, 8);
	/* explicit context: not current */
	struct tern_span a;
	tern_span_begin_ctx(&a, "async", TERN_KIND_CONSUMER, &pc);
	ASSERT_MEM_EQ(a._parent_id, p._span_id, 8);
	tern_current_context(&cur);
	ASSERT_MEM_EQ(cur.span_id, pc.span_id, 8);
	tern_span_end(&a);
	tern_span_end(&p);
	tern_span_end(&p); /* twice: no-op */
	tern_current_context(&cur);
	ASSERT_FALSE(cur.valid);
	/* a new root gets a new trace id */
	struct tern_span r;
	tern_span_begin(&r, "root2", TERN_KIND_INTERNAL);
	ASSERT(memcmp(r._trace_id, p._trace_id, 16) != 0);
	tern_span_end(&r);
	ASSERT_OK(tern_flush(5000));
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("parent", &st));
	ASSERT_EQ_U(st.count, 1);
	ASSERT_OK(tern_stats_get("child", &st));
	ASSERT_OK(tern_stats_get("async", &st));
	ASSERT_EQ(tern_stats_get("nope", &st), -ENOENT);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

static int scoped(int early)
{
	TERN_SPAN_SCOPE(sp, "scoped", TERN_KIND_INTERNAL);
	tern_span_set_int(&sp, "early", early);
	if (early)
		return 1;
	tern_span_set_status(&sp, TERN_STATUS_ERROR, "late");
	return 0;
}

static void whole_function(void)
{
	TERN_FUNC_SPAN();
	spin_ns(1000);
}

TEST(scoped_spans_end_on_return)
{
	struct tern_options o;
	local_opts(&o);
	ASSERT_OK(tern_init(&o));
	for (int i = 0; i < 10; i++)
		scoped(i % 2);
	whole_function();
	struct tern_context cur;
	tern_current_context(&cur);
	ASSERT_FALSE(cur.valid); /* every scope restored the current span */
	ASSERT_OK(tern_flush(5000));
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("scoped", &st));
	ASSERT_EQ_U(st.count, 10);
	ASSERT_EQ_U(st.errors, 5);
	ASSERT_OK(tern_stats_get("whole_function", &st));
	ASSERT_EQ_U(st.count, 1);
	ASSERT_GE_U(st.min_ns, 1000);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

/* A span recorded after the fact: its start moves back by what was asked,
 * so its duration is that much plus the little it really took. */
TEST(backdated_span_keeps_its_real_start)
{
	struct tern_span idle = { 0 };
	tern_span_backdate(&idle, 1000); /* not active: a no-op */
	ASSERT_EQ_U(idle._start, 0);
	struct tern_options o;
	local_opts(&o);
	ASSERT_OK(tern_init(&o));
	struct tern_span s;
	tern_span_begin(&s, "late", TERN_KIND_INTERNAL);
	tern_span_backdate(&s, 30000000000ull); /* 30 s */
	tern_span_end(&s);
	tern_span_backdate(&s, 1000); /* ended: a no-op, and no crash */
	ASSERT_OK(tern_flush(5000));
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("late", &st));
	ASSERT_EQ_U(st.count, 1);
	ASSERT_GE_U(st.min_ns, 30000000000ull);
	ASSERT_LE_U(st.min_ns, 31000000000ull);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

TEST(switch_and_counters)
{
	struct tern_options o;
	local_opts(&o);
	o.sampler = TERN_SAMPLER_ALWAYS_OFF;
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	struct tern_span s;
	for (int i = 0; i < 100; i++) {
		tern_span_begin(&s, "unsampled", TERN_KIND_INTERNAL);
		ASSERT_FALSE(tern_span_is_recording(&s));
		tern_span_end(&s);
	}
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.started - c0.started, 100);
	ASSERT_EQ_U(c1.ended - c0.ended, 100);
	ASSERT_EQ_U(c1.sampled - c0.sampled, 0);
	tern_enable(false);
	ASSERT_FALSE(tern_enabled());
	tern_span_begin(&s, "off", TERN_KIND_INTERNAL);
	tern_span_end(&s);
	tern_counters_get(&c0);
	ASSERT_EQ_U(c0.started, c1.started);
	tern_enable(true);
	ASSERT(tern_enabled());
	ASSERT_OK(tern_flush(5000));
	struct tern_stats st;
	/* unsampled spans still feed the local stats */
	ASSERT_OK(tern_stats_get("unsampled", &st));
	ASSERT_EQ_U(st.count, 100);
	ASSERT_EQ(tern_stats_get("off", &st), -ENOENT);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();

	/* OTEL_SDK_DISABLED=true starts disabled */
	setenv("OTEL_SDK_DISABLED", "true", 1);
	tern_options_default(&o);
	unsetenv("OTEL_SDK_DISABLED");
	ASSERT(o.disabled);
	o.export_enabled = false;
	ASSERT_OK(tern_init(&o));
	ASSERT_FALSE(tern_enabled());
	ASSERT_OK(tern_shutdown(1000));
}

TEST(limits_truncate_and_drop)
{
	struct tern_options o;
	local_opts(&o);
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	char big[400];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct tern_span s;
	tern_span_begin(&s, big, TERN_KIND_INTERNAL);
	ASSERT_EQ(s._name_len, TERN_NAME_MAX);
	tern_span_set_str(&s, "long", big);
	for (int i = 0; i < 100; i++)
		tern_span_set_int(&s, "n", i);
	tern_span_end(&s);
	tern_counters_get(&c1);
	ASSERT_GE_U(c1.truncated - c0.truncated, 1);
	ASSERT_GT(c1.attrs_dropped - c0.attrs_dropped, 0);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

static int count_names(const struct tern_stats *st, void *arg)
{
	++*(int *)arg;
	return 0;
}

static int stop_at_first(const struct tern_stats *st, void *arg)
{
	++*(int *)arg;
	return 7;
}

/* Exact percentiles against the stats, fed with known durations through
 * the exporter's entry point. */
TEST(stats_accuracy_against_exact)
{
	static uint64_t d[20000];
	uint64_t x = 12345;
	struct tern__rec rec;
	memset(&rec, 0, sizeof rec);
	rec.name_len = 5;
	for (size_t i = 0; i < 20000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		d[i] = 1000 + x % 50000000; /* 1 us .. 50 ms */
		rec.status = i % 10 == 0 ? TERN_STATUS_ERROR : TERN_STATUS_OK;
		tern__stats_record(&rec, "exact", d[i], 0);
	}
	for (size_t i = 1; i < 20000; i++) /* insertion sort is too slow: shell */
		;
	/* sort */
	for (size_t gap = 10000; gap > 0; gap /= 2)
		for (size_t i = gap; i < 20000; i++)
			for (size_t j = i; j >= gap && d[j - gap] > d[j]; j -= gap) {
				uint64_t t = d[j];
				d[j] = d[j - gap];
				d[j - gap] = t;
			}
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("exact", &st));
	ASSERT_EQ_U(st.count, 20000);
	ASSERT_EQ_U(st.errors, 2000);
	ASSERT_EQ_U(st.min_ns, d[0]);
	ASSERT_EQ_U(st.max_ns, d[19999]);
	uint64_t total = 0;
	for (size_t i = 0; i < 20000; i++)
		total += d[i];
	ASSERT_EQ_U(st.total_ns, total);
	ASSERT_EQ_U(st.avg_ns, total / 20000);
	double q[5] = { 0.5, 0.75, 0.9, 0.95, 0.99 };
	uint64_t got[5] = { st.p50_ns, st.p75_ns, st.p90_ns, st.p95_ns, st.p99_ns };
	for (int i = 0; i < 5; i++) {
		double e = (double)d[(size_t)(q[i] * 19999)];
		ASSERT_NEAR(got[i], e, 0.01 * e + 1);
	}
	/* top-N and the table */
	rec.status = 0;
	rec.name_len = 4;
	for (int i = 0; i < 50; i++)
		tern__stats_record(&rec, "many", 10, 0);
	struct tern_stats top[3];
	ASSERT_EQ(tern_stats_top(TERN_BY_COUNT, top, 3), 2);
	ASSERT_STR_EQ(top[0].name, "exact");
	ASSERT_STR_EQ(top[1].name, "many");
	ASSERT_EQ(tern_stats_top(TERN_BY_AVG, top, 1), 1);
	ASSERT_STR_EQ(top[0].name, "exact");
	rec.name_len = 6;
	tern__stats_record(&rec, "spiked", 900000000, 0); /* one huge call */
	ASSERT_EQ(tern_stats_top(TERN_BY_MAX, top, 3), 3);
	ASSERT_STR_EQ(top[0].name, "spiked");
	ASSERT_EQ(tern_stats_top(TERN_BY_P99, top, 3), 3);
	ASSERT_STR_EQ(top[0].name, "spiked");
	ASSERT_STR_EQ(top[2].name, "many");
	int seen = 0;
	ASSERT_EQ(tern_stats_foreach(count_names, &seen), 0);
	ASSERT_EQ(seen, 3);
	seen = 0;
	ASSERT_EQ(tern_stats_foreach(stop_at_first, &seen), 7); /* stops early */
	ASSERT_EQ(seen, 1);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ASSERT_OK(tern_stats_fprint(f, TERN_BY_TOTAL));
	fclose(f);
	ASSERT(strstr(buf, "exact") != NULL && strstr(buf, "many") != NULL);
	ASSERT(strstr(buf, "exact") < strstr(buf, "many"));
	free(buf);
	tern_stats_reset();
	ASSERT_EQ(tern_stats_get("exact", &st), -ENOENT);
}

static int slow_lines;
static char slow_line[256];
static void on_slow(void *arg, const char *line)
{
	slow_lines++;
	snprintf(slow_line, sizeof slow_line, "%s", line);
}

TEST(slow_calls)
{
	struct tern_options o;
	local_opts(&o);
	o.slow_threshold_ns = 50000000; /* 50 ms: a preempted "quick" span stays under */
	o.log = on_slow;
	ASSERT_OK(tern_init(&o));
	ASSERT_OK(tern_slow_threshold_set_for("fast_ok", 0));
	ASSERT_OK(tern_slow_threshold_set_for("strict", 100000));
	struct tern_span s;
	tern_span_begin(&s, "slow_one", TERN_KIND_INTERNAL);
	spin_ns(60000000);
	struct tern_context c;
	tern_span_context(&s, &c);
	tern_span_end(&s);
	tern_span_begin(&s, "quick", TERN_KIND_INTERNAL);
	tern_span_end(&s);
	tern_span_begin(&s, "fast_ok", TERN_KIND_INTERNAL);
	spin_ns(3000000);
	tern_span_end(&s);
	tern_span_begin(&s, "strict", TERN_KIND_INTERNAL);
	spin_ns(300000);
	tern_span_end(&s);
	ASSERT_OK(tern_flush(5000));
	ASSERT_EQ(slow_lines, 2);
	struct tern_slow_call sc[8];
	ASSERT_EQ(tern_slow_calls(sc, 8), 2);
	ASSERT_STR_EQ(sc[0].name, "strict"); /* newest first */
	ASSERT_STR_EQ(sc[1].name, "slow_one");
	ASSERT_GE_U(sc[1].duration_ns, 60000000);
	ASSERT_EQ_U(sc[1].threshold_ns, 50000000);
	ASSERT_MEM_EQ(sc[1].trace_id, c.trace_id, 16);
	ASSERT(strstr(slow_line, "strict") != NULL);
	/* the line names the span by its ids, in lowercase hex */
	char ids[80], *q = ids;
	q += sprintf(q, "trace_id=");
	for (int i = 0; i < 16; i++)
		q += sprintf(q, "%02x", sc[0].trace_id[i]);
	q += sprintf(q, " span_id=");
	for (int i = 0; i < 8; i++)
		q += sprintf(q, "%02x", sc[0].span_id[i]);
	ASSERT(strstr(slow_line, ids) != NULL);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
	tern_slow_threshold_set_for("strict", 0);
}

TEST(ring_full_drops_are_counted)
{
	struct tern_options o;
	local_opts(&o);
	o.max_queue_size = 32;       /* 4 KiB ring */
	o.poll_interval_ms = 600000; /* the exporter drains only on flush */
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	/* a fresh thread gets a ring of this init's size */
	for (int i = 0; i < 1000; i++) {
		struct tern_span s;
		tern_span_begin(&s, "burst", TERN_KIND_INTERNAL);
		tern_span_set_int(&s, "i", i);
		tern_span_end(&s);
	}
	tern_counters_get(&c1);
	uint64_t dropped = c1.dropped_ring_full - c0.dropped_ring_full;
	ASSERT_EQ_U(c1.ended - c0.ended, 1000);
	ASSERT_GT(dropped, 0);
	ASSERT_LT(dropped, 1000);
	ASSERT_OK(tern_flush(5000));
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("burst", &st));
	ASSERT_EQ_U(st.count + dropped, 1000);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

static void *worker(void *arg)
{
	for (int i = 0; i < 50; i++) {
		struct tern_span s;
		tern_span_begin(&s, "in_thread", TERN_KIND_INTERNAL);
		tern_span_end(&s);
	}
	return NULL;
}

TEST(thread_exit_keeps_spans)
{
	struct tern_options o;
	local_opts(&o);
	o.poll_interval_ms = 600000;
	ASSERT_OK(tern_init(&o));
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ASSERT_OK(pthread_create(&t[i], NULL, worker, NULL));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	/* the threads are gone before anything was drained */
	ASSERT_OK(tern_flush(5000));
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("in_thread", &st));
	ASSERT_EQ_U(st.count, 200);
	struct tern_counters c;
	tern_counters_get(&c);
	ASSERT_GE_U(c.ended, 200);
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

static void *shutdown_thread(void *arg)
{
	*(int *)arg = tern_shutdown(5000);
	return NULL;
}

TEST(shutdown_from_another_thread)
{
	struct tern_options o;
	local_opts(&o);
	ASSERT_OK(tern_init(&o));
	struct tern_span s;
	tern_span_begin(&s, "before_shutdown", TERN_KIND_INTERNAL);
	tern_span_end(&s);
	int rc = -1;
	pthread_t t;
	ASSERT_OK(pthread_create(&t, NULL, shutdown_thread, &rc));
	pthread_join(t, NULL);
	ASSERT_OK(rc);
	ASSERT_FALSE(tern_enabled());
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("before_shutdown", &st)); /* flushed */
	tern_stats_reset();
	/* and it can start again */
	ASSERT_OK(tern_init(&o));
	tern_span_begin(&s, "again", TERN_KIND_INTERNAL);
	tern_span_end(&s);
	ASSERT_OK(tern_shutdown(5000));
	ASSERT_OK(tern_stats_get("again", &st));
	tern_stats_reset();
}


static void *shutdown_racer(void *arg)
{
	*(int *)arg = tern_shutdown(5000);
	return NULL;
}

TEST(concurrent_shutdowns_are_serialised)
{
	struct tern_options o;
	local_opts(&o);
	for (int round = 0; round < 5; round++) {
		ASSERT_OK(tern_init(&o));
		int rc[3] = { 1, 1, 1 };
		pthread_t t[3];
		for (int i = 0; i < 3; i++)
			ASSERT_OK(pthread_create(&t[i], NULL, shutdown_racer, &rc[i]));
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		/* exactly one of them stopped the agent */
		int ok = 0, inval = 0;
		for (int i = 0; i < 3; i++) {
			ok += rc[i] == 0;
			inval += rc[i] == -EINVAL;
		}
		ASSERT_EQ(ok, 1);
		ASSERT_EQ(inval, 2);
	}
}

TEST(fork_child_is_disabled)
{
	struct tern_options o;
	local_opts(&o);
	ASSERT_OK(tern_init(&o));
	struct tern_span p;
	tern_span_begin(&p, "around_fork", TERN_KIND_INTERNAL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int bad = 0;
		struct tern_span s;
		tern_span_begin(&s, "in_child", TERN_KIND_INTERNAL);
		bad |= tern_span_is_recording(&s);
		tern_span_end(&s);
		bad |= tern_enabled();
		bad |= tern_flush(100) != -EINVAL;
		bad |= tern_init(&o) != -ENOTSUP;
		_exit(bad ? 1 : 0);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT(WIFEXITED(status));
	ASSERT_EQ(WEXITSTATUS(status), 0);
	tern_span_end(&p);
	ASSERT_OK(tern_flush(5000));
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("around_fork", &st));
	ASSERT_OK(tern_shutdown(5000));
	tern_stats_reset();
}

TEST(options_from_environment)
{
	setenv("OTEL_SERVICE_NAME", "svc", 1);
	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317", 1);
	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:9999/v1/traces", 1);
	setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
	setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1234", 1);
	setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio", 1);
	setenv("OTEL_TRACES_SAMPLER_ARG", "0.25", 1);
	setenv("OTEL_BSP_SCHEDULE_DELAY", "100", 1);
	setenv("OTEL_BSP_MAX_QUEUE_SIZE", "bogus", 1);
	setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64", 1);
	struct tern_options o;
	tern_options_default(&o);
	ASSERT_STR_EQ(o.service_name, "svc");
	ASSERT_STR_EQ(o.endpoint, "http://traces:9999/v1/traces");
	ASSERT(o.gzip);
	ASSERT_EQ(o.export_timeout_ms, 1234);
	ASSERT_EQ(o.sampler, TERN_SAMPLER_PARENTBASED_TRACEIDRATIO);
	ASSERT_NEAR(o.sampler_arg, 0.25, 0);
	ASSERT_EQ(o.schedule_delay_ms, 100);
	ASSERT_EQ(o.max_queue_size, 2048); /* invalid: default kept */
	ASSERT_EQ(o.max_export_batch_size, 64);
	const char *vars[] = { "OTEL_SERVICE_NAME", "OTEL_EXPORTER_OTLP_ENDPOINT",
			       "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_COMPRESSION",
			       "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_TRACES_SAMPLER",
			       "OTEL_TRACES_SAMPLER_ARG", "OTEL_BSP_SCHEDULE_DELAY",
			       "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" };
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	tern_options_default(&o);
	ASSERT_STR_EQ(o.endpoint, "http://localhost:4317");
	ASSERT_EQ(o.sampler, TERN_SAMPLER_PARENTBASED_ALWAYS_ON);
	ASSERT_EQ(o.max_export_batch_size, 512);
	char t[64];
	bool tls;
	ASSERT_OK(tern__parse_endpoint("http://127.0.0.1:4317", t, sizeof t, &tls));
	ASSERT_STR_EQ(t, "127.0.0.1:4317");
	ASSERT_FALSE(tls);
	ASSERT_OK(tern__parse_endpoint("localhost/v1/traces", t, sizeof t, &tls));
	ASSERT_STR_EQ(t, "localhost:4317");
	ASSERT_OK(tern__parse_endpoint("https://collector.example:443/", t, sizeof t, &tls));
	ASSERT_STR_EQ(t, "collector.example:443");
	ASSERT(tls);
	ASSERT_EQ(tern__parse_endpoint("ftp://x:1", t, sizeof t, &tls), -EINVAL);
	o.sampler_arg = 2;
	ASSERT_EQ(tern_init(&o), -EINVAL);
}

TEST(clock_is_wall_clock)
{
	struct tern_options o;
	local_opts(&o);
	ASSERT_OK(tern_init(&o));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t real = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	int64_t conv = (int64_t)tern__ticks_to_unix_ns(tern__ticks());
	ASSERT_NEAR(conv, real, 1e6); /* within 1 ms */
	/* The converted tick delta matches CLOCK_MONOTONIC: the ticks are read
	 * between two pairs of clock reads, so [outer] >= ticks >= [inner]
	 * whatever preemption (or valgrind) does between the reads. */
	struct timespec a_out, a_in, b_in, b_out;
	clock_gettime(CLOCK_MONOTONIC, &a_out);
	uint64_t t0 = tern__ticks();
	clock_gettime(CLOCK_MONOTONIC, &a_in);
	spin_ns(20000000);
	clock_gettime(CLOCK_MONOTONIC, &b_in);
	uint64_t t1 = tern__ticks();
	clock_gettime(CLOCK_MONOTONIC, &b_out);
	double dt = (double)tern__ticks_to_ns(t1 - t0);
	double inner = (double)(b_in.tv_sec - a_in.tv_sec) * 1e9 + (double)(b_in.tv_nsec - a_in.tv_nsec);
	double outer = (double)(b_out.tv_sec - a_out.tv_sec) * 1e9 +
		       (double)(b_out.tv_nsec - a_out.tv_nsec);
	ASSERT(dt >= inner * 0.99 - 100000);
	ASSERT(dt <= outer * 1.01 + 100000);
	ASSERT_OK(tern_shutdown(1000));
}

TEST_MAIN(TEST_ENTRY(noop_before_init), TEST_ENTRY(parent_child_and_current),
	  TEST_ENTRY(scoped_spans_end_on_return), TEST_ENTRY(backdated_span_keeps_its_real_start),
	  TEST_ENTRY(switch_and_counters),
	  TEST_ENTRY(limits_truncate_and_drop), TEST_ENTRY(stats_accuracy_against_exact),
	  TEST_ENTRY(slow_calls), TEST_ENTRY(ring_full_drops_are_counted),
	  TEST_ENTRY(thread_exit_keeps_spans), TEST_ENTRY(shutdown_from_another_thread),
	  TEST_ENTRY(concurrent_shutdowns_are_serialised),
	  TEST_ENTRY(fork_child_is_disabled), TEST_ENTRY(options_from_environment),
	  TEST_ENTRY(clock_is_wall_clock))
