/*
 * test_spm_load.c: the Jaeger monitor (SPM) endpoints /api/metrics/{calls,errors,latencies} of a
 * real ternd against spans of known minutes, kinds, operations, durations
 * and errors (a point at every step, 0 where nothing was called, NaN
 * latencies there, each of Jaeger's parameters), and `tern load` as a user
 * runs it: fresh ids in every run, a closed port, a ternd that refuses,
 * and the answers of an independent receiver (helper/otlp_receiver.py).
 *
 * usage: test-spm-load PATH/otlp_receiver.py [TEST]
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "capture.h"
#include "get_json.h"
#include "harness.h"
#include "httpc.h"
#include "otlp.h"
#include "otlp_grpc_client.h"
#include "otlp_recv.h"
#include "ternd_proc.h"

extern char **environ;

#define MIN_NS UINT64_C(60000000000)
#define NPTS 9 /* endTs = T0 + 8 min, lookback 8 min, step 1 min */

/* ---- the data set: root spans only, so nothing waits for a parent ---- */

struct spec {
	const char *svc, *op;
	int kind;
	int minute;   /* after T0 */
	int n;        /* spans */
	uint64_t dur; /* ns, all alike: their quantiles are that */
	int errors;   /* the first ones are errors */
};

static const struct spec data[] = {
	{ "spm-a", "GET /a", OTLP_SPAN_KIND_SERVER, 2, 3, 1000000, 0 },
	{ "spm-a", "GET /a", OTLP_SPAN_KIND_SERVER, 2, 3, 10000000, 0 },
	{ "spm-a", "GET /b", OTLP_SPAN_KIND_SERVER, 2, 2, 10000000, 2 },
	{ "spm-a", "GET /a", OTLP_SPAN_KIND_SERVER, 5, 3, 8000000, 0 },
	{ "spm-a", "call b", OTLP_SPAN_KIND_CLIENT, 3, 5, 2000000, 0 },
	{ "spm-b", "x", OTLP_SPAN_KIND_SERVER, 4, 4, 1000000, 0 },
	{ "spm-b", "q", OTLP_SPAN_KIND_CONSUMER, 6, 2, 3000000, 0 },
};

static uint64_t T0; /* minute-aligned, 30 minutes ago */
static struct ternd_proc proc;

static int send_data(void)
{
	struct otlp_builder bd;
	if (otlp_builder_init(&bd) != 0)
		return -1;
	uint32_t next = 1;
	for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++) {
		const struct spec *d = &data[i];
		otlp_build_resource(&bd, d->svc);
		otlp_build_scope(&bd, "spm-test", NULL);
		for (int k = 0; k < d->n; k++, next++) {
			uint8_t tid[16] = { 0x5e }, sid[8] = { 1 };
			memcpy(tid + 12, &next, 4);
			memcpy(sid + 4, &next, 4);
			uint64_t start = T0 + (uint64_t)d->minute * MIN_NS + (uint64_t)k * 1000000000;
			otlp_build_span(&bd, tid, sid, NULL, d->op, (enum otlp_span_kind)d->kind, start,
					start + d->dur);
			if (k < d->errors)
				otlp_build_status(&bd, OTLP_STATUS_ERROR, NULL);
		}
	}
	return otlp_grpc_export_batch(proc.grpc_addr, otlp_builder_take(&bd), 30);
}

/* GETs path from this file's ternd; the parsed body (caller puts) and *status. */
static json_object *api_get(const char *path, int *status)
{
	return test_get_json(proc.query_addr, path, status);
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;
	json_object_object_get_ex(o, k, &v);
	return v;
}

/* /api/metrics/WHAT?Q with endTs = T0 + 8 min, lookback 8 min, step and
 * ratePer 1 min, unless Q sets them (later parameters win: ours come last
 * only when Q has none of its own). */
static json_object *metrics(const char *what, const char *q, int *status)
{
	char path[1024];
	int n = snprintf(path, sizeof(path), "/api/metrics/%s?%s", what, q);
	if (strstr(q, "endTs=") == NULL)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "&endTs=%" PRIu64,
			      (T0 + 8 * MIN_NS) / 1000000);
	if (strstr(q, "lookback=") == NULL)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "&lookback=480000");
	if (strstr(q, "step=") == NULL)
		n += snprintf(path + n, sizeof(path) - (size_t)n, "&step=60000");
	if (strstr(q, "ratePer=") == NULL)
		snprintf(path + n, sizeof(path) - (size_t)n, "&ratePer=60000");
	return api_get(path, status);
}

/* The series of family f whose labels are service (and operation, if not
 * NULL), or NULL. */
static json_object *series(json_object *f, const char *service, const char *operation)
{
	json_object *ms = get(f, "metrics");
	for (size_t i = 0; i < json_object_array_length(ms); i++) {
		json_object *m = json_object_array_get_idx(ms, i), *labels = get(m, "labels");
		bool svc_ok = false, op_ok = operation == NULL;
		for (size_t j = 0; j < json_object_array_length(labels); j++) {
			json_object *l = json_object_array_get_idx(labels, j);
			const char *name = json_object_get_string(get(l, "name"));
			const char *value = json_object_get_string(get(l, "value"));
			if (strcmp(name, "service_name") == 0 && strcmp(value, service) == 0)
				svc_ok = true;
			if (operation && strcmp(name, "operation") == 0 && strcmp(value, operation) == 0)
				op_ok = true;
		}
		if (svc_ok && op_ok)
			return get(m, "metricPoints");
	}
	return NULL;
}

/* Point k's value: NaN for Jaeger's "NaN" string, -1e300 if absent. */
static double value(json_object *pts, size_t k)
{
	json_object *v = get(get(json_object_array_get_idx(pts, k), "gaugeValue"), "doubleValue");
	if (v == NULL)
		return -1e300;
	if (json_object_is_type(v, json_type_string))
		return strcmp(json_object_get_string(v), "NaN") == 0 ? NAN : -1e300;
	return json_object_get_double(v);
}

/* Checks that pts has n points and equals want (NaN where want is NaN). */
static void check_points(json_object *pts, const double *want, size_t n, const char *what)
{
	ASSERT_NOT_NULL(pts);
	ASSERT_EQ((int64_t)json_object_array_length(pts), (int64_t)n);
	for (size_t k = 0; k < n; k++) {
		double v = value(pts, k);
		if (isnan(want[k]) != isnan(v) || (!isnan(v) && fabs(v - want[k]) > 1e-9 * (1 + want[k]) &&
						  fabs(v / want[k] - 1) > 0.01)) {
			fprintf(stderr, "%s: point %zu is %g, want %g\n", what, k, v, want[k]);
			ASSERT(false);
		}
	}
}

static void up(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	T0 = ((uint64_t)now.tv_sec / 60 - 30) * MIN_NS;
	static const char *const args[] = { "--sink", "store", NULL };
	struct ternd_proc_opts o = { .args = args };
	ASSERT_OK(ternd_proc_start(&proc, &o));
	ASSERT_EQ(send_data(), 0);
	/* Analytics may settle spans a while: wait for the last minute's. */
	for (int i = 0; i < 300; i++) {
		int st;
		json_object *f = metrics("calls", "service=spm-b&spanKind=consumer", &st);
		json_object *pts = series(f, "spm-b", NULL);
		bool there = false;
		for (size_t k = 0; pts && k < json_object_array_length(pts); k++)
			there = there || value(pts, k) > 0;
		json_object_put(f);
		if (there)
			return;
		usleep(100000);
	}
	ASSERT(!"the spans never showed up in /api/metrics/calls");
}

static void down(void)
{
	ASSERT_EQ(ternd_proc_stop(&proc), 0);
}

/* A point at every step, 0 where nothing was called; the timestamps are
 * endTs - lookback + k * step. */
TEST(calls_zero_points)
{
	up();
	if (TEST_FAILED())
		return;
	int st;
	json_object *f = metrics("calls", "service=spm-a", &st);
	ASSERT_EQ(st, 200);
	ASSERT_STR_EQ(json_object_get_string(get(f, "name")), "service_call_rate");
	ASSERT_STR_EQ(json_object_get_string(get(f, "type")), "GAUGE");
	ASSERT_STR_EQ(json_object_get_string(get(f, "help")), "calls/sec, grouped by service");
	ASSERT_EQ((int64_t)json_object_array_length(get(f, "metrics")), 1);
	json_object *pts = series(f, "spm-a", NULL);
	/* point k covers minute k - 1: server spans in minutes 2 (8) and 5 (3) */
	double want[NPTS] = { 0, 0, 0, 8 / 60.0, 0, 0, 3 / 60.0, 0, 0 };
	check_points(pts, want, NPTS, "calls spm-a");
	for (size_t k = 0; k < NPTS; k++) {
		time_t s = (time_t)((T0 + k * MIN_NS) / 1000000000);
		struct tm tm;
		char ts[40];
		gmtime_r(&s, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
		ASSERT_STR_EQ(json_object_get_string(get(json_object_array_get_idx(pts, k), "timestamp")),
			      ts);
	}
	json_object_put(f);
	/* a service nobody called: no series, as Jaeger */
	f = metrics("calls", "service=nobody", &st);
	ASSERT_EQ(st, 200);
	ASSERT_EQ((int64_t)json_object_array_length(get(f, "metrics")), 0);
	json_object_put(f);
	down();
}

/* Error rates: errors / calls where called, 0 elsewhere; a service with
 * calls and no errors has a series of zeros. */
TEST(error_rate_zeros)
{
	up();
	if (TEST_FAILED())
		return;
	int st;
	json_object *f = metrics("errors", "service=spm-a&service=spm-b", &st);
	ASSERT_EQ(st, 200);
	ASSERT_STR_EQ(json_object_get_string(get(f, "name")), "service_error_rate");
	ASSERT_EQ((int64_t)json_object_array_length(get(f, "metrics")), 2);
	double want_a[NPTS] = { 0, 0, 0, 2 / 8.0, 0, 0, 0, 0, 0 };
	check_points(series(f, "spm-a", NULL), want_a, NPTS, "errors spm-a");
	double zeros[NPTS] = { 0 };
	check_points(series(f, "spm-b", NULL), zeros, NPTS, "errors spm-b");
	json_object_put(f);
	down();
}

/* Latencies: the quantile asked for where called, NaN (Jaeger's "NaN")
 * elsewhere. */
TEST(latencies_nan_where_idle)
{
	up();
	if (TEST_FAILED())
		return;
	int st;
	json_object *f = metrics("latencies", "service=spm-a&quantile=0.95", &st);
	ASSERT_EQ(st, 200);
	ASSERT_STR_EQ(json_object_get_string(get(f, "name")), "service_latencies");
	ASSERT_STR_EQ(json_object_get_string(get(f, "help")),
		      "0.95th quantile latency, grouped by service");
	/* minute 2: 3 spans of 1 ms and 5 of 10 ms; minute 5: 3 of 8 ms */
	double want[NPTS] = { NAN, NAN, NAN, 10.0, NAN, NAN, 8.0, NAN, NAN };
	check_points(series(f, "spm-a", NULL), want, NPTS, "latencies spm-a");
	json_object_put(f);
	f = metrics("latencies", "service=spm-a&quantile=0.25", &st);
	ASSERT_STR_EQ(json_object_get_string(get(f, "help")),
		      "0.25th quantile latency, grouped by service");
	double low[NPTS] = { NAN, NAN, NAN, 1.0, NAN, NAN, 8.0, NAN, NAN };
	check_points(series(f, "spm-a", NULL), low, NPTS, "p25 spm-a");
	json_object_put(f);
	f = metrics("latencies", "service=spm-a&quantile=0.5&groupByOperation=true", &st);
	ASSERT_STR_EQ(json_object_get_string(get(f, "name")), "service_operation_latencies");
	ASSERT_STR_EQ(json_object_get_string(get(f, "help")),
		      "0.50th quantile latency, grouped by service & operation");
	double b[NPTS] = { NAN, NAN, NAN, 10.0, NAN, NAN, NAN, NAN, NAN };
	check_points(series(f, "spm-a", "GET /b"), b, NPTS, "p50 GET /b");
	json_object_put(f);
	/* quantile is required and in (0, 1] */
	f = metrics("latencies", "service=spm-a", &st);
	ASSERT_EQ(st, 400);
	json_object_put(f);
	f = metrics("latencies", "service=spm-a&quantile=1.5", &st);
	ASSERT_EQ(st, 400);
	json_object_put(f);
	down();
}

/* spanKind, repeated, in Jaeger's names (SPAN_KIND_SERVER) and ours (client). */
TEST(span_kinds)
{
	up();
	if (TEST_FAILED())
		return;
	int st;
	json_object *f = metrics("calls", "service=spm-a&spanKind=client", &st);
	ASSERT_EQ(st, 200);
	double client[NPTS] = { 0, 0, 0, 0, 5 / 60.0, 0, 0, 0, 0 };
	check_points(series(f, "spm-a", NULL), client, NPTS, "client calls");
	json_object_put(f);
	f = metrics("calls", "service=spm-a&spanKind=SPAN_KIND_SERVER&spanKind=SPAN_KIND_CLIENT", &st);
	ASSERT_EQ(st, 200);
	double both[NPTS] = { 0, 0, 0, 8 / 60.0, 5 / 60.0, 0, 3 / 60.0, 0, 0 };
	check_points(series(f, "spm-a", NULL), both, NPTS, "server+client calls");
	json_object_put(f);
	f = metrics("calls", "service=spm-b&spanKind=SPAN_KIND_CONSUMER", &st);
	double consumer[NPTS] = { 0, 0, 0, 0, 0, 0, 0, 2 / 60.0, 0 };
	check_points(series(f, "spm-b", NULL), consumer, NPTS, "consumer calls");
	json_object_put(f);
	f = metrics("calls", "service=spm-a&spanKind=SPAN_KIND_WEIRD", &st);
	ASSERT_EQ(st, 400);
	ASSERT_NOT_NULL(strstr(json_object_to_json_string(f), "spanKind"));
	json_object_put(f);
	down();
}

TEST(group_by_operation)
{
	up();
	if (TEST_FAILED())
		return;
	static const char *const spellings[] = { "true", "True", "1", "t" };
	for (size_t i = 0; i < 4; i++) {
		char q[128];
		snprintf(q, sizeof(q), "service=spm-a&groupByOperation=%s", spellings[i]);
		int st;
		json_object *f = metrics("calls", q, &st);
		ASSERT_EQ(st, 200);
		ASSERT_STR_EQ(json_object_get_string(get(f, "name")), "service_operation_call_rate");
		ASSERT_STR_EQ(json_object_get_string(get(f, "help")),
			      "calls/sec, grouped by service & operation");
		ASSERT_EQ((int64_t)json_object_array_length(get(f, "metrics")), 2);
		double a[NPTS] = { 0, 0, 0, 6 / 60.0, 0, 0, 3 / 60.0, 0, 0 };
		double b[NPTS] = { 0, 0, 0, 2 / 60.0, 0, 0, 0, 0, 0 };
		check_points(series(f, "spm-a", "GET /a"), a, NPTS, "GET /a");
		check_points(series(f, "spm-a", "GET /b"), b, NPTS, "GET /b");
		json_object_put(f);
	}
	int st;
	json_object *f = metrics("errors", "service=spm-a&groupByOperation=true", &st);
	ASSERT_STR_EQ(json_object_get_string(get(f, "name")), "service_operation_error_rate");
	double ea[NPTS] = { 0 }, eb[NPTS] = { 0, 0, 0, 1.0, 0, 0, 0, 0, 0 };
	check_points(series(f, "spm-a", "GET /a"), ea, NPTS, "errors GET /a");
	check_points(series(f, "spm-a", "GET /b"), eb, NPTS, "errors GET /b");
	json_object_put(f);
	f = metrics("calls", "service=spm-a&groupByOperation=false", &st);
	ASSERT_STR_EQ(json_object_get_string(get(f, "name")), "service_call_rate");
	json_object_put(f);
	f = metrics("calls", "service=spm-a&groupByOperation=maybe", &st);
	ASSERT_EQ(st, 400);
	json_object_put(f);
	down();
}

/* endTs, lookback, step and ratePer move and space the points and widen
 * what each covers. */
TEST(times_and_rates)
{
	up();
	if (TEST_FAILED())
		return;
	int st;
	/* ratePer 3 min: point k covers minutes k-3 .. k-1, calls / 180 s */
	json_object *f = metrics("calls", "service=spm-a&ratePer=180000", &st);
	double wide[NPTS] = { 0, 0, 0, 8 / 180.0, 8 / 180.0, 8 / 180.0, 3 / 180.0, 3 / 180.0, 3 / 180.0 };
	check_points(series(f, "spm-a", NULL), wide, NPTS, "ratePer 3 min");
	json_object_put(f);
	/* step 2 min: 5 points at T0, T0+2m, ..., T0+8m (minute 2 falls between) */
	f = metrics("calls", "service=spm-a&step=120000", &st);
	double every2[5] = { 0, 0, 0, 3 / 60.0, 0 };
	check_points(series(f, "spm-a", NULL), every2, 5, "step 2 min");
	json_object_put(f);
	/* endTs T0+6m, lookback 2 min: points at T0+4m, 5m, 6m */
	char q[160];
	snprintf(q, sizeof(q), "service=spm-a&endTs=%" PRIu64 "&lookback=120000",
		 (T0 + 6 * MIN_NS) / 1000000);
	f = metrics("calls", q, &st);
	json_object *pts = series(f, "spm-a", NULL);
	double late[3] = { 0, 0, 3 / 60.0 };
	check_points(pts, late, 3, "endTs and lookback");
	time_t s = (time_t)((T0 + 4 * MIN_NS) / 1000000000);
	struct tm tm;
	char ts[40];
	gmtime_r(&s, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ASSERT_STR_EQ(json_object_get_string(get(json_object_array_get_idx(pts, 0), "timestamp")), ts);
	json_object_put(f);
	static const char *const bad[] = { "service=spm-a&step=0", "service=spm-a&ratePer=0",
					   "service=spm-a&lookback=86400000&step=1",
					   "service=spm-a&endTs=soon", "endTs=1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f = metrics("calls", bad[i], &st);
		if (st != 400)
			fprintf(stderr, "%s: %d\n", bad[i], st);
		ASSERT_EQ(st, 400);
		json_object_put(f);
	}
	f = api_get("/api/metrics/minstep", &st);
	ASSERT_EQ(st, 200);
	ASSERT_EQ(json_object_get_int64(get(f, "data")), 60000);
	json_object_put(f);
	down();
}

/* ---- tern load ---- */


static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One sample of ternd's /metrics, or -1. */
static int64_t metric(const char *sample)
{
	struct col_hclient hc;
	char *body = NULL;
	size_t len;
	int st;
	if (col_hclient_init(&hc, proc.query_addr) != 0)
		return -1;
	int r = col_hclient_request(&hc, "GET", "/metrics", NULL, NULL, 0, 30000, &st, NULL, &body,
				    &len);
	col_hclient_close(&hc);
	if (r != 0)
		return -1;
	int64_t v = -1;
	char line[256];
	snprintf(line, sizeof(line), "\n%s ", sample);
	char *p = strstr(body, line);
	if (p != NULL)
		v = strtoll(p + strlen(line), NULL, 10);
	free(body);
	return v;
}

/* The number of traces and spans of service, over the last hour. */
static void traces_of(const char *service, size_t *ntraces, size_t *nspans, size_t *maxspans)
{
	char path[256];
	snprintf(path, sizeof(path), "/api/traces?service=%s&lookback=1h&limit=1000", service);
	int st;
	json_object *o = api_get(path, &st);
	json_object *d = get(o, "data");
	*ntraces = json_object_array_length(d);
	*nspans = *maxspans = 0;
	for (size_t i = 0; i < *ntraces; i++) {
		size_t n = json_object_array_length(get(json_object_array_get_idx(d, i), "spans"));
		*nspans += n;
		if (n > *maxspans)
			*maxspans = n;
	}
	json_object_put(o);
}

/* Two runs never share a trace: each run draws its own seed. --seed N
 * repeats a run's ids. */
TEST(load_fresh_ids_each_run)
{
	char *tern = getenv("TERN");
	ASSERT_NOT_NULL(tern);
	ASSERT_OK(ternd_proc_start(&proc, NULL));
	char out[8192];
	/* 10 spans a request, a root every 8: traces of 8 and 2 spans */
	char *fresh[] = { tern, "load", "--target", proc.grpc_addr, "--requests", "2", "--spans",
			  "10", "--streams", "1", "--service", "load-fresh", NULL };
	for (int run = 0; run < 2; run++) {
		ASSERT_EQ(test_run_capture(fresh, true, out, sizeof(out)), 0);
		ASSERT_NOT_NULL(strstr(out, "acked 2, refused 0, failed 0"));
	}
	char *seeded[] = { tern, "load", "--target", proc.grpc_addr, "--requests", "2", "--spans",
			   "10", "--streams", "1", "--service", "load-seeded", "--seed", "77", NULL };
	for (int run = 0; run < 2; run++) {
		ASSERT_EQ(test_run_capture(seeded, true, out, sizeof(out)), 0);
		ASSERT_NOT_NULL(strstr(out, "seed 77\n"));
	}
	for (int i = 0; i < 300 && metric("ternd_spans_accepted_total") < 80; i++)
		usleep(100000);
	ASSERT_EQ(metric("ternd_spans_accepted_total"), 80);
	size_t nt, ns, mx;
	traces_of("load-fresh", &nt, &ns, &mx);
	ASSERT_EQ((int64_t)nt, 8); /* 2 runs x 2 requests x 2 traces */
	ASSERT_EQ((int64_t)ns, 40);
	ASSERT_EQ((int64_t)mx, 8);
	traces_of("load-seeded", &nt, &ns, &mx);
	ASSERT_EQ((int64_t)nt, 4); /* the same seed: the same 4 trace ids twice */
	down();
}

/* Nothing listens: a clear message and exit 2 at once, not a count of
 * requests "sent". */
TEST(load_closed_port)
{
	char *tern = getenv("TERN");
	ASSERT_NOT_NULL(tern);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	ASSERT_OK(bind(fd, (struct sockaddr *)&a, sizeof(a)));
	ASSERT_OK(getsockname(fd, (struct sockaddr *)&a, &alen));
	close(fd); /* the port is now closed */
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%d", ntohs(a.sin_port));
	char *load[] = { tern, "load", "--target", target, "--duration", "10", NULL };
	char out[4096];
	double t0 = mono_s();
	ASSERT_EQ(test_run_capture(load, true, out, sizeof(out)), 2);
	ASSERT_LT((int64_t)((mono_s() - t0) * 1000), 3000);
	ASSERT_NOT_NULL(strstr(out, "cannot connect to"));
	ASSERT_NOT_NULL(strstr(out, target));
	ASSERT_NULL(strstr(out, "sent "));
}

/* A ternd over its memory limit answers RESOURCE_EXHAUSTED with RetryInfo:
 * each request is retried --retries times after the wait the answer asks
 * for, then counted refused;
 * the answers are counted by status and the exit status is 1. */
TEST(load_refused_backs_off)
{
	char *tern = getenv("TERN");
	ASSERT_NOT_NULL(tern);
	/* 512 KiB refuses 2000 spans before decoding them (test_ternd.c) */
	static const char *const args[] = { "--memory-limit", "512KiB", NULL };
	struct ternd_proc_opts po = { .args = args };
	ASSERT_OK(ternd_proc_start(&proc, &po));
	char *load[] = { tern, "load", "--target", proc.grpc_addr, "--requests", "2", "--spans",
			 "2000", "--streams", "2", "--retries", "3", NULL };
	char out[8192];
	double t0 = mono_s();
	ASSERT_EQ(test_run_capture(load, true, out, sizeof(out)), 1);
	double took = mono_s() - t0;
	fprintf(stderr, "%s", out);
	ASSERT_NOT_NULL(strstr(out, "acked 0, refused 2, failed 0"));
	ASSERT_NOT_NULL(strstr(out, "retries 6 "));
	ASSERT_NOT_NULL(strstr(out, "status RESOURCE_EXHAUSTED (8): 8 answers: "));
	ASSERT_NOT_NULL(strstr(out, "memory limit"));
	ASSERT_NOT_NULL(strstr(out, "2 of 2 requests were not acked"));
	/* waits of at least 50 + 100 + 200 ms before the three retries */
	ASSERT_GE((int64_t)(took * 1000), 350);
	ASSERT_EQ(metric("ternd_requests_total{protocol=\"grpc\",outcome=\"refused\"}"), 8);

	/* A time limit: refusals are retried, never in a busy loop. */
	char *timed[] = { tern, "load", "--target", proc.grpc_addr, "--duration", "2", "--spans",
			  "2000", NULL };
	ASSERT_EQ(test_run_capture(timed, true, out, sizeof(out)), 1);
	int64_t refused = metric("ternd_requests_total{protocol=\"grpc\",outcome=\"refused\"}") - 8;
	fprintf(stderr, "%s(%" PRId64 " answers in 2 s)\n", out, refused);
	ASSERT_GT(refused, 4);
	ASSERT_LT(refused, 150); /* 4 streams backing off from 100 ms */
	ASSERT_NOT_NULL(strstr(out, "status RESOURCE_EXHAUSTED (8): "));
	down();
}

/* The independent receiver's answers: which are retried (and how the
 * request ends), which are not, and how each is counted. */
TEST(load_answers_by_status)
{
	char *tern = getenv("TERN");
	ASSERT_NOT_NULL(tern);
	static const struct {
		const char *mode;
		int exit;
		const char *lines[3];
	} cases[] = {
		/* permanent: never retried */
		{ "invalid", 1, { "acked 0, refused 0, failed 2", "status INVALID_ARGUMENT (3): 2 answers",
				  NULL } },
		/* RESOURCE_EXHAUSTED without RetryInfo: not retryable (OTLP) */
		{ "exhausted", 1, { "acked 0, refused 0, failed 2",
				    "status RESOURCE_EXHAUSTED (8): 2 answers", NULL } },
		/* with RetryInfo: retried, then accepted */
		{ "exhausted_retry:2", 0, { "acked 2, refused 0, failed 0", "retries 2 ",
					    "status RESOURCE_EXHAUSTED (8): 2 answers" } },
		/* UNAVAILABLE three times, then accepted */
		{ "unavailable:3", 0, { "acked 2, refused 0, failed 0", "retries 3 ",
					"status UNAVAILABLE (14): 3 answers" } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct recv rv;
		if (recv_start(&rv, cases[i].mode) != 0)
			TEST_SKIP("the Python receiver (grpcio) does not start here");
		char target[64];
		snprintf(target, sizeof(target), "127.0.0.1:%d", rv.port);
		char *load[] = { tern, "load", "--target", target, "--requests", "2", "--spans", "10",
				 "--streams", "1", NULL };
		char out[8192];
		int st = test_run_capture(load, true, out, sizeof(out));
		recv_stop(&rv);
		fprintf(stderr, "mode %s: exit %d\n%s", cases[i].mode, st, out);
		ASSERT_EQ(st, cases[i].exit);
		for (int k = 0; k < 3 && cases[i].lines[k]; k++)
			ASSERT_NOT_NULL(strstr(out, cases[i].lines[k]));
	}
}

static const struct test_entry tests[] = {
	TEST_ENTRY(calls_zero_points), TEST_ENTRY(error_rate_zeros),
	TEST_ENTRY(latencies_nan_where_idle), TEST_ENTRY(span_kinds),
	TEST_ENTRY(group_by_operation), TEST_ENTRY(times_and_rates),
	TEST_ENTRY(load_fresh_ids_each_run), TEST_ENTRY(load_closed_port),
	TEST_ENTRY(load_refused_backs_off), TEST_ENTRY(load_answers_by_status),
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s otlp_receiver.py [TEST]\n", argv[0]);
		return 2;
	}
	recv_script = argv[1];
	return test__run(tests, sizeof tests / sizeof tests[0], argc - 1, argv + 1);
}
