/*
 * bench/forward: ternd forwarding to a second ternd (issue 6).
 *
 * Steady state: ternd A (--sink store --forward grpc://B) takes OTLP/gRPC
 * load (tern's load library, N streams of M-span requests for T seconds)
 * while its forwarder sends everything to ternd B (--sink store). When the
 * load stops, the bench waits until A's forwarder has no lag. It reports
 * how many spans reached B per second over that whole time (load +
 * drain), the ingest rate, the largest lag seen, and spans forwarded per
 * CPU second of A (A does both ingest and forwarding, so this is a lower
 * bound for the forwarder alone; B's CPU is printed separately).
 *
 * Catch-up: A without a forwarder ingests a backlog of S spans (default
 * 1,000,000), stops; A restarts on the same data dir with --forward, and
 * the bench times how long until the lag is 0 (catch_up_s).
 *
 * Each run checks that B accepted every span A acknowledged to the load
 * (steady state and backlog; B's count at exit): a lost span makes the
 * bench say so and exit 1. Duplicates (allowed: docs/forwarding.md) are
 * printed on stderr.
 *
 * Prints `name value unit` lines (medians over the runs) and the machine.
 *
 *   bench/forward [--streams N] [--spans M] [--seconds T] [--backlog S] [--runs R]
 *                 [--http]   (forward over OTLP/HTTP protobuf instead of gRPC)
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "httpc.h"
#include "load/load.h"
#include "ternd_proc.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* A metric's value from ternd's /metrics (exact name incl. labels); -1 on error. */
static double metric(const char *query_addr, const char *name)
{
	struct col_hclient c;
	if (col_hclient_init(&c, query_addr) != 0)
		return -1;
	int status;
	char *body = NULL;
	size_t len;
	double v = -1;
	if (col_hclient_request(&c, "GET", "/metrics", NULL, NULL, 0, 5000, &status, NULL, &body,
				&len) == 0 &&
	    status == 200) {
		size_t nl = strlen(name);
		for (char *p = body; p && *p;) {
			if (strncmp(p, name, nl) == 0 && p[nl] == ' ') {
				v = strtod(p + nl + 1, NULL);
				break;
			}
			p = strchr(p, '\n');
			if (p)
				p++;
		}
	}
	free(body);
	col_hclient_close(&c);
	return v;
}

#define LAG "ternd_forward_lag_spans{forwarder=\"forward\"}"
#define SENT "ternd_forward_spans_sent_total{forwarder=\"forward\"}"

static int start_b(struct ternd_proc *b)
{
	static const char *const args[] = { "--sink", "store", "--log-level", "warn", NULL };
	struct ternd_proc_opts o = { .args = args };
	return ternd_proc_start(b, &o);
}

static int use_http;

static int start_a(struct ternd_proc *a, const char *dir, const struct ternd_proc *b)
{
	char fwd[256];
	const char *b_grpc = b ? b->grpc_addr : NULL;
	if (b)
		snprintf(fwd, sizeof(fwd), use_http ? "http://%s" : "grpc://%s",
			 use_http ? b->http_addr : b->grpc_addr);
	const char *args[] = { "--sink", "store", "--log-level", "warn", "--forward", fwd, NULL };
	if (b_grpc == NULL)
		args[4] = NULL;
	struct ternd_proc_opts o = { .args = args, .data_dir = dir };
	return ternd_proc_start(a, &o);
}

/* Polls A's lag until 0 (and at least want spans sent); returns the time or -1. */
static double wait_drained(const struct ternd_proc *a, double want, double timeout_s,
			   double *max_lag)
{
	double t0 = now_s();
	while (now_s() - t0 < timeout_s) {
		double lag = metric(a->query_addr, LAG);
		double sent = metric(a->query_addr, SENT);
		if (max_lag && lag > *max_lag)
			*max_lag = lag;
		if (lag == 0 && sent >= want)
			return now_s();
		sleep_ms(20);
	}
	return -1;
}

int main(int argc, char **argv)
{
	unsigned streams = 4, spans = 512, runs = 3;
	double seconds = 10, backlog = 1000000;
	static const struct option lo[] = {
		{ "streams", required_argument, NULL, 'n' }, { "spans", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 't' }, { "backlog", required_argument, NULL, 'b' },
		{ "runs", required_argument, NULL, 'r' },    { "help", no_argument, NULL, 'h' },
		{ "http", no_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'n':
			streams = (unsigned)atoi(optarg);
			break;
		case 'm':
			spans = (unsigned)atoi(optarg);
			break;
		case 't':
			seconds = atof(optarg);
			break;
		case 'b':
			backlog = atof(optarg);
			break;
		case 'r':
			runs = (unsigned)atoi(optarg);
			break;
		case 'H':
			use_http = 1;
			break;
		default:
			fprintf(stderr,
				"usage: %s [--streams N] [--spans M] [--seconds T] [--backlog S] "
				"[--runs R]\n",
				argv[0]);
			return ch == 'h' ? 0 : 2;
		}
	}
	if (streams == 0 || spans == 0 || runs == 0 || runs > 32 || seconds <= 0 || backlog < 1) {
		fprintf(stderr, "forward: bad arguments\n");
		return 2;
	}
	if (getenv("TERND") == NULL)
		setenv("TERND", TERND_PATH, 0);

	double fwd_sps[32], ing_sps[32], fwd_cpu[32], b_cpu[32], lagmax[32], catch_s[32],
		catch_cpu[32];
	uint64_t refused = 0;
	int wrong = 0;
	for (unsigned run = 0; run < runs; run++) {
		struct ternd_proc a, b;
		char dir[64];
		snprintf(dir, sizeof(dir), "/tmp/tern-bench-fwd-XXXXXX");
		if (mkdtemp(dir) == NULL || start_b(&b) != 0) {
			fprintf(stderr, "forward: cannot start ternd B\n");
			return 1;
		}
		if (start_a(&a, dir, &b) != 0) {
			fprintf(stderr, "forward: cannot start ternd A\n");
			ternd_proc_stop(&b);
			return 1;
		}
		/* 1. steady state */
		struct col_load_opts o = { .target = a.grpc_addr, .streams = streams,
					   .connections = streams, .spans_per_req = spans,
					   .seconds = seconds };
		struct col_load_result res;
		double ca0 = proc_cpu_s(a.pid), cb0 = proc_cpu_s(b.pid);
		double t0 = now_s();
		lagmax[run] = 0;
		if (col_load_run(&o, &res) != 0) {
			fprintf(stderr, "forward: load failed\n");
			return 1;
		}
		refused += res.refused;
		double t1 = wait_drained(&a, (double)res.spans_acked, 300, &lagmax[run]);
		if (t1 < 0) {
			fprintf(stderr, "forward: the forwarder did not drain in 300 s\n");
			return 1;
		}
		double ca1 = proc_cpu_s(a.pid), cb1 = proc_cpu_s(b.pid);
		uint64_t sent_to_b = res.spans_acked;
		ing_sps[run] = (double)res.spans_acked / res.elapsed_s;
		fwd_sps[run] = (double)res.spans_acked / (t1 - t0);
		fwd_cpu[run] = (double)res.spans_acked / (ca1 - ca0);
		b_cpu[run] = (double)res.spans_acked / (cb1 - cb0);
		int st = ternd_proc_stop(&a);
		ternd_proc_remove_dir(dir);
		if (st != 0)
			fprintf(stderr, "forward: ternd A exited with %d\n", st);

		/* 2. catch-up from a backlog, across a restart */
		if (start_a(&a, dir, NULL) != 0) {
			fprintf(stderr, "forward: cannot start ternd A\n");
			return 1;
		}
		struct col_load_opts ob = { .target = a.grpc_addr, .streams = streams,
					    .connections = streams, .spans_per_req = spans,
					    .requests = (uint64_t)(backlog / spans + 0.999) };
		if (col_load_run(&ob, &res) != 0 || res.spans_acked < (uint64_t)backlog) {
			fprintf(stderr, "forward: backlog load failed (%llu acked)\n",
				(unsigned long long)res.spans_acked);
			return 1;
		}
		ternd_proc_stop(&a);
		double t2 = now_s();
		if (start_a(&a, dir, &b) != 0) {
			fprintf(stderr, "forward: cannot restart ternd A\n");
			return 1;
		}
		double c2 = proc_cpu_s(a.pid);
		double t3 = wait_drained(&a, (double)res.spans_acked, 600, NULL);
		double c3 = proc_cpu_s(a.pid);
		if (t3 < 0) {
			fprintf(stderr, "forward: no catch-up in 600 s\n");
			return 1;
		}
		catch_s[run] = t3 - t2; /* includes A's start and store recovery */
		catch_cpu[run] = (double)res.spans_acked / (c3 - c2);
		sent_to_b += res.spans_acked;
		ternd_proc_stop(&a);
		ternd_proc_remove_dir(dir);
		st = ternd_proc_stop(&b);
		if (st != 0)
			fprintf(stderr, "forward: ternd B exited with %d\n", st);
		long long got = ternd_accepted_spans(b.final_output);
		if (got < (long long)sent_to_b) {
			fprintf(stderr, "wrong: run %u: B accepted %lld of the %llu spans A acked\n",
				run + 1, got, (unsigned long long)sent_to_b);
			wrong++;
		} else if (got > (long long)sent_to_b) {
			fprintf(stderr, "run %u: B accepted %lld spans, %lld of them twice\n", run + 1,
				got, got - (long long)sent_to_b);
		}
		fprintf(stderr,
			"run %u: ingest %.0f spans/s, forwarded %.0f spans/s (%.0f per A cpu-s), max "
			"lag %.0f spans; catch-up of %llu spans in %.2f s\n",
			run + 1, ing_sps[run], fwd_sps[run], fwd_cpu[run], lagmax[run],
			(unsigned long long)res.spans_acked, catch_s[run]);
	}
	print_machine();
	printf("protocol %s name\n", use_http ? "http-protobuf" : "grpc");
	printf("streams %u count\n", streams);
	printf("spans_per_request %u count\n", spans);
	printf("seconds_per_run %.1f s\n", seconds);
	printf("runs %u count\n", runs);
	printf("ingest_spans_per_s %.0f spans/s\n", median(ing_sps, (int)runs));
	printf("forward_spans_per_s %.0f spans/s\n", median(fwd_sps, (int)runs));
	printf("forward_spans_per_ternd_cpu_s %.0f spans/cpu-s\n", median(fwd_cpu, (int)runs));
	printf("gateway_spans_per_ternd_cpu_s %.0f spans/cpu-s\n", median(b_cpu, (int)runs));
	printf("forward_max_lag_spans %.0f spans\n", median(lagmax, (int)runs));
	printf("catch_up_spans %.0f spans\n", backlog);
	printf("catch_up_s %.2f s\n", median(catch_s, (int)runs));
	printf("catch_up_spans_per_ternd_cpu_s %.0f spans/cpu-s\n", median(catch_cpu, (int)runs));
	printf("grpc_refused %llu calls\n", (unsigned long long)refused);
	return wrong ? 1 : 0;
}
