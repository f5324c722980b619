/*
 * agent_export: spans exported by one process to a real ternd (spawned
 * here with the test helper; --sink null unless AGENT_EXPORT_SINK is set).
 * Prints `name value unit` lines:
 *
 *   exported_spans_per_s       a producer offering RATE spans/s (default
 *                              1,000,000) for SECONDS seconds: spans the
 *                              collector acknowledged per second
 *   dropped_spans              spans lost at that rate (ring full or export)
 *   spans_per_exporter_cpu_s   exported spans per CPU second of the
 *                              exporter thread (drain, stats, OTLP build,
 *                              encode, gRPC)
 *   max_exported_spans_per_s   the same with an unthrottled producer
 *   rss_kb_before / rss_kb_after  resident memory of the process
 *
 * ternd must have accepted every span the agent counted as exported (its
 * count at exit); when it did not, the bench says so and exits 1.
 *
 * usage: TERND=path/to/ternd agent_export [RATE] [SECONDS]
 */
#include "tern.h"
#include "ternd_proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* CPU seconds of this process's thread named "tern-export". */
static double exporter_cpu_s(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	double s = -1;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char p[300], comm[64] = "";
		snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(p, "r");
		if (f == NULL)
			continue;
		if (fgets(comm, sizeof comm, f) == NULL)
			comm[0] = '\0';
		fclose(f);
		if (strncmp(comm, "tern-export", 11) != 0)
			continue;
		snprintf(p, sizeof p, "/proc/self/task/%s/stat", e->d_name);
		s = stat_cpu_s(p);
	}
	if (d != NULL)
		closedir(d);
	return s;
}

static void produce(double rate, double seconds)
{
	double t0 = now_s(), end = t0 + seconds;
	uint64_t n = 0;
	for (;;) {
		double t = now_s();
		if (t >= end)
			break;
		/* offer spans in small bursts to follow the rate */
		uint64_t due = rate > 0 ? (uint64_t)((t - t0) * rate) : n + 1000;
		while (n < due) {
			struct tern_span s;
			tern_span_begin(&s, "bench.export", TERN_KIND_INTERNAL);
			tern_span_set_int(&s, "attr", (int64_t)n);
			tern_span_add_event(&s, "event", NULL, 0);
			tern_span_end(&s);
			n++;
		}
		if (rate > 0) {
			/* sleep, do not spin: the exporter and ternd share the cores */
			struct timespec ms = { 0, 1000000 };
			nanosleep(&ms, NULL);
		}
	}
}

/* Adds the spans exported in this run to *exported. */
static int run(const char *endpoint, double rate, double seconds, const char *label,
	       uint64_t *total_exported)
{
	struct tern_options o;
	tern_options_default(&o);
	o.endpoint = endpoint;
	o.sampler = TERN_SAMPLER_ALWAYS_ON;
	o.max_queue_size = 1 << 17;        /* 16 MiB ring */
	o.max_export_batch_size = 4096;
	o.poll_interval_ms = 5;
	o.schedule_delay_ms = 100;
	if (tern_init(&o) != 0)
		return -1;
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	double cpu0 = exporter_cpu_s();
	double t0 = now_s();
	produce(rate, seconds);
	tern_flush(60000);
	double dt = now_s() - t0;
	double cpu = exporter_cpu_s() - cpu0;
	tern_counters_get(&c1);
	uint64_t exported = c1.exported - c0.exported;
	*total_exported += exported;
	printf("%s %.0f spans/s\n", label, (double)exported / dt);
	if (rate > 0) {
		printf("offered_spans_per_s %.0f spans/s\n", (double)(c1.ended - c0.ended) / seconds);
		printf("dropped_spans %llu spans\n", (unsigned long long)(c1.dropped - c0.dropped));
		printf("spans_per_exporter_cpu_s %.0f spans/cpu_s\n", cpu > 0 ? (double)exported / cpu : 0);
		printf("export_calls %llu calls\n", (unsigned long long)(c1.export_calls - c0.export_calls));
	} else {
		printf("max_dropped_spans %llu spans\n", (unsigned long long)(c1.dropped - c0.dropped));
	}
	tern_shutdown(60000);
	return 0;
}

int main(int argc, char **argv)
{
	double rate = argc > 1 ? atof(argv[1]) : 1e6;
	double seconds = argc > 2 ? atof(argv[2]) : 3;
	print_machine();
	printf("# ternd runs on the same machine\n");
	/* The null sink: this measures the agent and ternd's ingest, not the
	 * store's fsyncs (AGENT_EXPORT_SINK=store to include them). */
	const char *sink = getenv("AGENT_EXPORT_SINK") ? getenv("AGENT_EXPORT_SINK") : "null";
	const char *args[] = { "--sink", sink, NULL };
	struct ternd_proc_opts po = { .args = args };
	printf("# ternd sink: %s\n", sink);
	struct ternd_proc p;
	if (ternd_proc_start(&p, &po) != 0) {
		fprintf(stderr, "agent_export: cannot start ternd (set TERND)\n");
		return 1;
	}
	char ep[160];
	snprintf(ep, sizeof ep, "http://%s", p.grpc_addr);
	printf("rss_kb_before %ld kB\n", proc_rss_kb(getpid()));
	uint64_t exported = 0;
	int rc = run(ep, rate, seconds, "exported_spans_per_s", &exported);
	if (rc == 0)
		rc = run(ep, 0, seconds, "max_exported_spans_per_s", &exported);
	printf("rss_kb_after %ld kB\n", proc_rss_kb(getpid()));
	int st = ternd_proc_stop(&p);
	long long accepted = ternd_accepted_spans(p.final_output);
	if (rc == 0 && (st != 0 || accepted < (long long)exported)) {
		fprintf(stderr, "wrong: ternd accepted %lld spans (exit status %d), the agent exported %llu\n",
			accepted, st, (unsigned long long)exported);
		rc = -1;
	}
	return rc == 0 ? 0 : 1;
}
