/*
 * bench/ingest: ternd's ingest throughput with the null sink.
 *
 * Starts the real ternd (--sink null, ports 0) for each run, drives it over
 * OTLP/gRPC with N concurrent streams of M-span requests for T seconds
 * (tern's load library), then over OTLP/HTTP protobuf with N blocking
 * keep-alive clients, and reads ternd's own CPU time from /proc/PID/stat.
 * Prints `name value unit` lines (medians over the runs) and the machine.
 * Each run checks that ternd accepted every span it acknowledged (its
 * count at exit); when it did not, the bench says so and exits 1.
 *
 *   bench/ingest [--streams N] [--spans M] [--seconds T] [--runs R]
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "httpc.h"
#include "load/load.h"
#include "ternd_proc.h"

struct http_worker {
	const char *addr;
	const uint8_t *body;
	size_t len;
	double until;
	uint64_t ok, bad;
};

static void *http_worker(void *arg)
{
	struct http_worker *w = arg;
	struct col_hclient c;
	if (col_hclient_init(&c, w->addr) != 0)
		return NULL;
	while (now_s() < w->until) {
		int status;
		char *body;
		size_t blen;
		int r = col_hclient_request(&c, "POST", "/v1/traces",
					    "Content-Type: application/x-protobuf\r\n", w->body,
					    w->len, 30000, &status, NULL, &body, &blen);
		if (r == 0) {
			if (status == 200)
				w->ok++;
			else
				w->bad++;
			free(body);
		} else {
			w->bad++;
		}
	}
	col_hclient_close(&c);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned streams = 4, spans = 512, runs = 3;
	double seconds = 10;
	static const struct option lo[] = {
		{ "streams", required_argument, NULL, 'n' }, { "spans", required_argument, NULL, 'm' },
		{ "seconds", required_argument, NULL, 't' }, { "runs", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },	     { NULL, 0, NULL, 0 },
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
		case 'r':
			runs = (unsigned)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: %s [--streams N] [--spans M] [--seconds T] [--runs R]\n",
				argv[0]);
			return ch == 'h' ? 0 : 2;
		}
	}
	if (streams == 0 || spans == 0 || runs == 0 || runs > 64 || seconds <= 0) {
		fprintf(stderr, "ingest: bad arguments\n");
		return 2;
	}
	if (getenv("TERND") == NULL)
		setenv("TERND", TERND_PATH, 0);

	uint8_t *req;
	size_t req_len;
	if (col_load_request(spans, "bench", 7, &req, &req_len) != 0) {
		fprintf(stderr, "ingest: out of memory\n");
		return 1;
	}
	double g_sps[64], g_cpu[64], h_sps[64], h_cpu[64];
	uint64_t refused = 0, failed = 0, http_bad = 0;
	int wrong = 0;
	for (unsigned run = 0; run < runs; run++) {
		static const char *const args[] = { "--sink", "null", "--log-level", "error", NULL };
		struct ternd_proc_opts o = { .args = args };
		struct ternd_proc p;
		if (ternd_proc_start(&p, &o) != 0) {
			fprintf(stderr, "ingest: cannot start ternd\n");
			return 1;
		}
		/* gRPC */
		struct col_load_opts lo2 = { .target = p.grpc_addr, .streams = streams,
					     .connections = streams, .spans_per_req = spans,
					     .seconds = seconds };
		struct col_load_result res;
		double c0 = proc_cpu_s(p.pid);
		if (col_load_run(&lo2, &res) != 0) {
			fprintf(stderr, "ingest: load failed\n");
			ternd_proc_stop(&p);
			return 1;
		}
		double c1 = proc_cpu_s(p.pid);
		g_sps[run] = (double)res.spans_acked / res.elapsed_s;
		g_cpu[run] = c1 > c0 ? (double)res.spans_acked / (c1 - c0) : 0;
		refused += res.refused;
		failed += res.failed;

		/* OTLP/HTTP protobuf, blocking keep-alive clients */
		pthread_t th[64];
		struct http_worker w[64];
		unsigned nw = streams > 64 ? 64 : streams;
		double t0 = now_s();
		c0 = proc_cpu_s(p.pid);
		for (unsigned i = 0; i < nw; i++) {
			w[i] = (struct http_worker){ p.http_addr, req, req_len, t0 + seconds, 0, 0 };
			pthread_create(&th[i], NULL, http_worker, &w[i]);
		}
		uint64_t ok = 0, bad = 0;
		for (unsigned i = 0; i < nw; i++) {
			pthread_join(th[i], NULL);
			ok += w[i].ok;
			bad += w[i].bad;
		}
		http_bad += bad;
		double el = now_s() - t0;
		c1 = proc_cpu_s(p.pid);
		h_sps[run] = (double)(ok * spans) / el;
		h_cpu[run] = c1 > c0 ? (double)(ok * spans) / (c1 - c0) : 0;
		int st = ternd_proc_stop(&p);
		if (st != 0)
			fprintf(stderr, "ingest: ternd exited with %d\n", st);
		/* A call that failed on the client may still have been accepted;
		 * without one, the counts are equal. */
		long long acked = (long long)(res.spans_acked + ok * spans);
		long long accepted = ternd_accepted_spans(p.final_output);
		if (accepted < acked || (res.failed == 0 && bad == 0 && accepted != acked)) {
			fprintf(stderr, "wrong: run %u: ternd accepted %lld spans, clients were acked %lld\n",
				run + 1, accepted, acked);
			wrong++;
		}
		fprintf(stderr, "run %u: grpc %.0f spans/s, %.0f spans/cpu-s; http %.0f spans/s, %.0f spans/cpu-s\n",
			run + 1, g_sps[run], g_cpu[run], h_sps[run], h_cpu[run]);
	}
	free(req);
	print_machine();
	printf("streams %u count\n", streams);
	printf("spans_per_request %u count\n", spans);
	printf("request_bytes %zu bytes\n", req_len);
	printf("seconds_per_run %.1f s\n", seconds);
	printf("runs %u count\n", runs);
	printf("spans_per_s %.0f spans/s\n", median(g_sps, (int)runs));
	printf("spans_per_ternd_cpu_s %.0f spans/cpu-s\n", median(g_cpu, (int)runs));
	printf("http_spans_per_s %.0f spans/s\n", median(h_sps, (int)runs));
	printf("http_spans_per_ternd_cpu_s %.0f spans/cpu-s\n", median(h_cpu, (int)runs));
	printf("grpc_refused %llu calls\n", (unsigned long long)refused);
	printf("grpc_failed %llu calls\n", (unsigned long long)failed);
	printf("http_not_ok %llu requests\n", (unsigned long long)http_bad);
	return wrong ? 1 : 0;
}
