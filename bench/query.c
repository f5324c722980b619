/*
 * bench/query.c: how fast ternd's analytics answer a service summary.
 *
 * One service with 200 operations (SERVER spans), 10 spans per operation
 * per minute over the last 24 hours (2.88 M spans, lognormal durations),
 * counted by the real analytics code (collector/analytics.c) and
 * checkpointed into a real store in a temp dir. Then the work of
 * GET /api/tern/summary (the service row from entry spans, one row per
 * operation, p50..p99 of each) is timed over the last 1 hour and the last
 * 24 hours, 60 times each, in 3 rounds; the median over the rounds of
 * each round's p50 and p99 is printed in milliseconds (targets for p99:
 * <= 10 and <= 50). Twice: with the day in memory (the default
 * 24 h window), and with only the last hour in memory, so older hours are
 * read back from their store blobs on every query.
 *
 *   ./build-an/bench/query
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "bench.h"
#include "store.h"

#define OPS 200
#define PER_MIN 10
#define HOURS 24
#define RUNS 60

static uint64_t rng = 42;

static double uniform(void)
{
	return uniform01(&rng);
}

static struct otlp_kv *kv(struct otlp_batch *b, const char *k, const char *v)
{
	struct otlp_kv *x = otlp_batch_alloc(b, sizeof(*x));
	x->key = otlp_batch_strdup(b, k, strlen(k));
	x->value.type = OTLP_VALUE_STRING;
	x->value.u.str = otlp_batch_strdup(b, v, strlen(v));
	return x;
}

/* One minute of spans of every operation. */
static struct otlp_batch *minute_batch(uint64_t t0, uint32_t *trace)
{
	struct otlp_batch *b = otlp_batch_new();
	struct otlp_resource_spans *rs = otlp_batch_alloc(b, sizeof(*rs));
	rs->resource_attrs.head = kv(b, "service.name", "shop");
	rs->resource_attrs.n = 1;
	struct otlp_scope_spans *ss = otlp_batch_alloc(b, sizeof(*ss));
	rs->scope_spans = ss;
	rs->n_scope_spans = 1;
	b->resource_spans = rs;
	b->n_resource_spans = 1;
	struct otlp_span **tail = &ss->spans;
	for (int op = 0; op < OPS; op++) {
		char name[32];
		snprintf(name, sizeof(name), "GET /api/op%03d", op);
		struct otlp_bytes nb = otlp_batch_strdup(b, name, strlen(name));
		for (int k = 0; k < PER_MIN; k++) {
			struct otlp_span *s = otlp_batch_alloc(b, sizeof(*s));
			uint32_t t = ++*trace;
			memcpy(s->trace_id, &t, 4);
			memcpy(s->span_id, &t, 4);
			s->name = nb;
			s->kind = OTLP_SPAN_KIND_SERVER;
			s->start_time_unix_nano = t0 + (uint64_t)k * 1000000;
			double u1 = uniform(), u2 = uniform();
			double d = 2e6 * (1 + op % 7) * exp(0.7 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
			s->end_time_unix_nano = s->start_time_unix_nano + (uint64_t)d;
			if (uniform() < 0.01)
				s->status.code = OTLP_STATUS_ERROR;
			*tail = s;
			tail = &s->next;
			ss->n_spans++;
			b->n_spans++;
		}
	}
	return b;
}

/* What GET /api/tern/summary does for one service. */
static int summary(struct col_analytics *a, uint64_t start, uint64_t end, double *sink)
{
	struct col_an_filter fo = { "shop", NULL, NULL, -1, false };
	struct col_an_result all, rs, ro;
	const unsigned gops = COL_AN_G_SERVICE | COL_AN_G_OPERATION | COL_AN_G_KIND;
	int rc = col_an_query(a, &fo, start, end, gops | COL_AN_G_ENTRY, &all);
	if (rc != 0)
		return rc;
	rc = col_an_regroup(&all, COL_AN_G_SERVICE, true, &rs);
	if (rc == 0) {
		rc = col_an_regroup(&all, gops, false, &ro);
		if (rc != 0)
			col_an_result_free(&rs);
	}
	col_an_result_free(&all);
	if (rc != 0)
		return rc;
	static const double qs[] = { 0.5, 0.75, 0.9, 0.95, 0.99 };
	for (int pass = 0; pass < 2; pass++) {
		struct col_an_result *r = pass ? &ro : &rs;
		for (size_t i = 0; i < r->n; i++)
			for (size_t k = 0; k < 5; k++)
				*sink += tern_sketch_quantile(r->rows[i].sk, qs[k]);
	}
	if (ro.n != OPS || rs.n != 1)
		rc = -EPROTO;
	col_an_result_free(&rs);
	col_an_result_free(&ro);
	return rc;
}

#define ROUNDS 3

/* ROUNDS rounds of RUNS queries per window; prints the median over rounds
 * of each round's p50 and p99. */
static int measure(struct col_analytics *a, const char *label, uint64_t now)
{
	static const struct {
		const char *name;
		uint64_t span;
	} w[] = { { "1h", 3600ull * 1000000000ull }, { "24h", 24ull * 3600 * 1000000000ull } };
	double sink = 0;
	for (size_t i = 0; i < 2; i++) {
		double p50[ROUNDS], p99[ROUNDS];
		for (int round = 0; round < ROUNDS; round++) {
			double t[RUNS];
			for (int r = 0; r < RUNS; r++) {
				double t0 = now_s();
				int rc = summary(a, now - w[i].span, now, &sink);
				t[r] = (now_s() - t0) * 1e3;
				if (rc != 0) {
					fprintf(stderr, "query: %s\n", strerror(-rc));
					return 1;
				}
			}
			p99[round] = percentile(t, RUNS, 0.99);
			p50[round] = median(t, RUNS);
		}
		printf("summary_%s_%s_p50_ms %.3f ms\n", w[i].name, label, median(p50, ROUNDS));
		printf("summary_%s_%s_p99_ms %.3f ms\n", w[i].name, label, median(p99, ROUNDS));
	}
	return sink > 0 ? 0 : 1;
}

int main(void)
{
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
	uint64_t now = (uint64_t)time(NULL) * 1000000000ull;
	uint64_t first = (now / 60000000000ull - HOURS * 60) * 60000000000ull;
	uint32_t trace = 0;
	double t0 = now_s();
	uint64_t spans = 0;
	for (uint64_t m = first; m < now; m += 60000000000ull) {
		struct otlp_batch *b = minute_batch(m, &trace);
		col_an_observe(a, b);
		spans += b->n_spans;
		otlp_batch_free(b);
	}
	double obs = now_s() - t0;
	t0 = now_s();
	if (col_an_checkpoint(a) != 0)
		return 1;
	double ck = now_s() - t0;
	long pages = 0, vsz;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%ld %ld", &vsz, &pages) != 2)
			pages = 0;
		fclose(f);
	}
	print_machine();
	printf("observe_spans_per_s %.0f 1/s\n", (double)spans / obs);
	printf("checkpoint_24h_s %.3f s\n", ck);
	printf("rss_after_day_mib %.1f MiB\n", (double)pages * 4096 / 1048576);
	int rc = measure(a, "mem", now);
	col_an_free(a);

	/* Only the last hour resident: the rest comes from the store. */
	o.mem_hours = 1;
	a = col_an_new(&o);
	if (a == NULL || col_an_load(a, st, msg, sizeof(msg)) != 0)
		return 1;
	rc |= measure(a, "disk", now);
	col_an_free(a);
	store_close(st);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		rc = 1;
	return rc;
}
