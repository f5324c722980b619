/*
 * bench/query.c: how fast ternd answers GET /api/tern/summary, and whether
 * its answers are right.
 *
 * One service with 200 operations (SERVER spans), 10 spans per operation
 * per minute over the 24 hours before the last whole minute (2.88 M spans,
 * lognormal durations, 1 % errors), counted by the real analytics code
 * (collector/analytics) and checkpointed into a store in a temp dir. A real
 * ternd started on that dir loads them, and the bench asks it over HTTP
 * (one kept-alive connection, as the web page does) for the summary of the
 * service over the last 1 hour and the last 24 hours: RUNS requests per
 * window in each of 3 rounds; the median over the rounds of each round's
 * p50 and p99 is printed in milliseconds (targets for p99: <= 10 and
 * <= 50). Twice: ternd keeping 48 hours in memory (the whole day, "mem"),
 * and keeping 1, so older hours are read back from their store blobs on
 * every query ("disk").
 *
 * Every answer is checked against what was generated: the service row and
 * each operation's row must hold exactly the calls and errors of the
 * window, and p50..p99 within 1 % of the exact value of the same rank (the
 * sketch's guarantee). A wrong answer is printed ("wrong: ...") and the
 * exit status is 1.
 *
 *   build/bench/query [--runs N]     N requests per window and round (60)
 */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "analytics/analytics.h"
#include "bench.h"
#include "httpc.h"
#include "store.h"
#include "ternd_proc.h"

#define OPS 200
#define PER_MIN 10
#define HOURS 24
#define MINUTES (HOURS * 60)
#define ROUNDS 3
#define MIN_NS 60000000000ull
#define NQ 5

static const double qs[NQ] = { 0.5, 0.75, 0.9, 0.95, 0.99 };
static const char *const qkeys[NQ] = { "p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms" };

static uint64_t rng = 42;

static double uniform(void)
{
	return uniform01(&rng);
}

/* What was generated: every span's duration and the errors, per minute
 * (0 is the oldest) and operation. */
struct truth {
	uint32_t *dur;    /* [MINUTES][OPS][PER_MIN] ns */
	uint16_t *errors; /* [MINUTES][OPS] */
};

static uint32_t *truth_dur(struct truth *tr, int m, int op, int k)
{
	return &tr->dur[((size_t)m * OPS + (size_t)op) * PER_MIN + (size_t)k];
}

static uint16_t *truth_errors(struct truth *tr, int m)
{
	return &tr->errors[(size_t)m * OPS];
}

/* The right row: calls, errors, and the exact quantiles (ns) of the same
 * rank the sketch reads, sorted[floor(q * (n - 1))]. */
struct want_row {
	uint64_t calls, errors;
	double q[NQ];
};

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Fills w from minutes [m0, m1) of operation op, or of all of them when
 * op < 0. buf has room for every duration. */
static void truth_row(struct truth *tr, int m0, int m1, int op, uint32_t *buf, struct want_row *w)
{
	size_t n = 0;
	memset(w, 0, sizeof(*w));
	for (int m = m0; m < m1; m++)
		for (int o = op < 0 ? 0 : op; o < (op < 0 ? OPS : op + 1); o++) {
			memcpy(&buf[n], truth_dur(tr, m, o, 0), PER_MIN * sizeof(*buf));
			n += PER_MIN;
			w->errors += truth_errors(tr, m)[o];
		}
	w->calls = n;
	qsort(buf, n, sizeof(*buf), cmp_u32);
	for (int k = 0; k < NQ; k++)
		w->q[k] = n ? buf[(size_t)floor(qs[k] * (double)(n - 1))] : 0;
}

/* One window of the benchmark with its right answer. */
struct window {
	const char *name;
	int minutes;
	uint64_t start_ns, end_ns;
	struct want_row service, ops[OPS];
};

static void window_init(struct window *w, struct truth *tr, uint64_t end_ns, uint32_t *buf)
{
	w->end_ns = end_ns;
	w->start_ns = end_ns - (uint64_t)w->minutes * MIN_NS;
	truth_row(tr, MINUTES - w->minutes, MINUTES, -1, buf, &w->service);
	for (int op = 0; op < OPS; op++)
		truth_row(tr, MINUTES - w->minutes, MINUTES, op, buf, &w->ops[op]);
}

static int64_t json_int(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

static double json_num(json_object *o, const char *k)
{
	json_object *v;
	return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : NAN;
}

/* 0 when row o says what w says; else -1 and why. */
static int check_row(json_object *o, const struct want_row *w, char *why, size_t len)
{
	int64_t calls = json_int(o, "calls"), errors = json_int(o, "errors");
	if (calls != (int64_t)w->calls || errors != (int64_t)w->errors) {
		snprintf(why, len, "%" PRId64 " calls, %" PRId64 " errors; want %" PRIu64 ", %" PRIu64,
			 calls, errors, w->calls, w->errors);
		return -1;
	}
	for (int k = 0; k < NQ; k++) {
		double got = json_num(o, qkeys[k]) * 1e6;
		if (!(fabs(got - w->q[k]) <= 0.01 * w->q[k] + 1)) {
			snprintf(why, len, "%s %.4f ms, exact %.4f ms: more than 1 %% off", qkeys[k],
				 got / 1e6, w->q[k] / 1e6);
			return -1;
		}
	}
	return 0;
}

/* 0 when body is the right summary of w; else -1 and why. */
static int check_summary(const char *body, const struct window *w, char *why, size_t len)
{
	json_object *root = json_tokener_parse(body), *d, *sv, *ops;
	int rc = -1;
	if (root == NULL || !json_object_object_get_ex(root, "data", &d) ||
	    !json_object_object_get_ex(d, "services", &sv) ||
	    !json_object_object_get_ex(d, "operations", &ops)) {
		snprintf(why, len, "not a summary: %.80s", body);
		goto out;
	}
	if (json_int(d, "window_s") != (int64_t)w->minutes * 60) {
		snprintf(why, len, "window_s %" PRId64 ", want %d", json_int(d, "window_s"),
			 w->minutes * 60);
		goto out;
	}
	if (json_object_array_length(sv) != 1 || json_object_array_length(ops) != OPS) {
		snprintf(why, len, "%zu service rows and %zu operation rows, want 1 and %d",
			 json_object_array_length(sv), json_object_array_length(ops), OPS);
		goto out;
	}
	char rwhy[200];
	if (check_row(json_object_array_get_idx(sv, 0), &w->service, rwhy, sizeof(rwhy)) != 0) {
		snprintf(why, len, "service row: %s", rwhy);
		goto out;
	}
	bool seen[OPS] = { false };
	for (int i = 0; i < OPS; i++) {
		json_object *o = json_object_array_get_idx(ops, (size_t)i), *name;
		int op = -1;
		if (!json_object_object_get_ex(o, "operation", &name) ||
		    sscanf(json_object_get_string(name), "GET /api/op%d", &op) != 1 || op < 0 ||
		    op >= OPS || seen[op]) {
			snprintf(why, len, "operation row %d: unknown or repeated operation", i);
			goto out;
		}
		seen[op] = true;
		if (check_row(o, &w->ops[op], rwhy, sizeof(rwhy)) != 0) {
			snprintf(why, len, "operation %d: %s", op, rwhy);
			goto out;
		}
	}
	rc = 0;
out:
	json_object_put(root);
	return rc;
}

/* One minute of spans of every operation; their durations and errors go
 * to the truth as minute m. Returns NULL when out of memory. */
static struct otlp_batch *minute_batch(uint64_t t0, uint32_t *trace, struct truth *tr, int m)
{
	struct otlp_builder bd;
	otlp_builder_init(&bd);
	otlp_build_resource(&bd, "shop");
	otlp_build_scope(&bd, NULL, NULL);
	for (int op = 0; op < OPS; op++) {
		char name[32];
		snprintf(name, sizeof(name), "GET /api/op%03d", op);
		for (int k = 0; k < PER_MIN; k++) {
			uint8_t tid[16] = { 0 }, sid[8] = { 0 };
			uint32_t t = ++*trace;
			memcpy(tid, &t, 4);
			memcpy(sid, &t, 4);
			uint64_t start = t0 + (uint64_t)k * 1000000;
			double u1 = uniform(), u2 = uniform();
			double d = 2e6 * (1 + op % 7) * exp(0.7 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
			d = fmin(d, 4e9); /* the truth keeps 32 bits of ns */
			otlp_build_span(&bd, tid, sid, NULL, name, OTLP_SPAN_KIND_SERVER, start,
					start + (uint64_t)d);
			bool err = uniform() < 0.01;
			if (err)
				otlp_build_status(&bd, OTLP_STATUS_ERROR, NULL);
			*truth_dur(tr, m, op, k) = (uint32_t)(uint64_t)d;
			truth_errors(tr, m)[op] += err;
		}
	}
	return otlp_builder_take(&bd);
}

/*
 * Starts ternd on dir keeping mem_hours in memory and times ROUNDS rounds
 * of runs requests per window, checking every answer. Prints the median
 * over rounds of each round's p50 and p99. Returns the number of wrong
 * answers, or -1 when ternd could not be asked.
 */
static int measure(const char *dir, const char *mem_hours, const char *label, struct window *w,
		   size_t nw, int runs)
{
	const char *args[] = { "--analytics-memory-hours", mem_hours, NULL };
	struct ternd_proc_opts po = { .args = args, .data_dir = dir };
	struct ternd_proc p;
	if (ternd_proc_start(&p, &po) != 0)
		return -1;
	struct col_hclient c;
	if (col_hclient_init(&c, p.query_addr) != 0) {
		ternd_proc_stop(&p);
		return -1;
	}
	int wrong = 0, failed = 0;
	double *t = malloc((size_t)runs * sizeof(*t));
	for (size_t i = 0; i < nw && t != NULL && !failed; i++) {
		char path[160];
		snprintf(path, sizeof(path), "/api/tern/summary?service=shop&start=%" PRIu64 "&end=%" PRIu64,
			 w[i].start_ns / 1000, w[i].end_ns / 1000);
		double p50[ROUNDS], p99[ROUNDS];
		for (int round = 0; round < ROUNDS && !failed; round++) {
			for (int r = 0; r < runs; r++) {
				int status = 0;
				char *body = NULL, why[300];
				size_t len = 0;
				double t0 = now_s();
				int rc = col_hclient_request(&c, "GET", path, NULL, NULL, 0, 60000, &status,
							     NULL, &body, &len);
				t[r] = (now_s() - t0) * 1e3;
				if (rc != 0) {
					fprintf(stderr, "query: GET %s: %s\n", path, strerror(-rc));
					failed = 1;
					break;
				}
				if (status != 200)
					snprintf(why, sizeof(why), "HTTP %d: %.100s", status, body);
				if ((status != 200 || check_summary(body, &w[i], why, sizeof(why)) != 0) &&
				    wrong++ < 5)
					fprintf(stderr, "wrong: summary %s %s, request %d: %s\n", w[i].name,
						label, r, why);
				free(body);
			}
			if (!failed) {
				p99[round] = percentile(t, runs, 0.99);
				p50[round] = median(t, runs);
			}
		}
		if (failed)
			break;
		printf("summary_%s_%s_p50_ms %.3f ms\n", w[i].name, label, median(p50, ROUNDS));
		printf("summary_%s_%s_p99_ms %.3f ms\n", w[i].name, label, median(p99, ROUNDS));
		fflush(stdout);
	}
	printf("ternd_rss_%s_mib %.1f MiB\n", label, (double)proc_rss_kb(p.pid) / 1024);
	free(t);
	col_hclient_close(&c);
	int st = ternd_proc_stop(&p);
	if (st != 0)
		fprintf(stderr, "query: ternd exited with status %d\n", st);
	return failed || t == NULL || st != 0 ? -1 : wrong;
}

int main(int argc, char **argv)
{
	int runs = 60;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0) {
			runs = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: %s [--runs N]\n", argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TERND") == NULL)
		setenv("TERND", TERND_PATH, 0);
	char dir[] = "/tmp/tern-bench-query-XXXXXX";
	if (mkdtemp(dir) == NULL)
		return 1;
	struct store_options so;
	store_options_default(&so);
	so.dir = dir;
	struct store *st;
	if (store_open(&so, &st, NULL) != 0)
		return 1;
	struct col_an_options o;
	col_an_options_default(&o);
	o.mem_hours = 48;
	struct col_analytics *a = col_an_new(&o);
	char msg[512];
	if (a == NULL || col_an_load(a, st, msg, sizeof(msg)) != 0)
		return 1;
	struct truth tr = { malloc((size_t)MINUTES * OPS * PER_MIN * sizeof(uint32_t)),
			    calloc((size_t)MINUTES * OPS, sizeof(uint16_t)) };
	uint32_t *buf = malloc((size_t)MINUTES * OPS * PER_MIN * sizeof(uint32_t));
	if (tr.dur == NULL || tr.errors == NULL || buf == NULL)
		return 1;
	/* the day before the last whole minute */
	uint64_t end = (uint64_t)time(NULL) * 1000000000ull / MIN_NS * MIN_NS;
	uint64_t first = end - (uint64_t)MINUTES * MIN_NS;
	uint32_t trace = 0;
	double t0 = now_s();
	uint64_t spans = 0;
	for (int m = 0; m < MINUTES; m++) {
		struct otlp_batch *b = minute_batch(first + (uint64_t)m * MIN_NS, &trace, &tr, m);
		if (b == NULL) {
			fprintf(stderr, "query: out of memory\n");
			return 1;
		}
		col_an_observe(a, b);
		spans += b->n_spans;
		otlp_batch_free(b);
	}
	double obs = now_s() - t0;
	t0 = now_s();
	if (col_an_checkpoint(a) != 0)
		return 1;
	double ck = now_s() - t0;
	print_machine();
	printf("observe_spans_per_s %.0f 1/s\n", (double)spans / obs);
	printf("checkpoint_24h_s %.3f s\n", ck);
	printf("rss_after_day_mib %.1f MiB\n", (double)proc_rss_kb(getpid()) / 1024);
	fflush(stdout);
	col_an_free(a);
	store_close(st);

	struct window w[2] = { { .name = "1h", .minutes = 60 }, { .name = "24h", .minutes = MINUTES } };
	for (size_t i = 0; i < 2; i++)
		window_init(&w[i], &tr, end, buf);
	free(buf);
	free(tr.dur);
	free(tr.errors);

	int wrong = measure(dir, "48", "mem", w, 2, runs);
	/* Only the last hour resident: the rest comes from the store. */
	int wrong2 = wrong < 0 ? 0 : measure(dir, "1", "disk", w, 2, runs);
	ternd_proc_remove_dir(dir);
	if (wrong < 0 || wrong2 < 0)
		return 1;
	if (wrong + wrong2 > 0) {
		fprintf(stderr, "query: %d wrong answers\n", wrong + wrong2);
		return 1;
	}
	return 0;
}
