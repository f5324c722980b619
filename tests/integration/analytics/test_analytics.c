/*
 * test_analytics.c: the real ternd (--sink store) fed over OTLP/gRPC with
 * spans of known durations, services, versions, parent/child links across
 * services and errors; every query endpoint and every tern CLI command is
 * checked against answers computed here (quantiles within 1%), then ternd
 * is restarted (SIGTERM, and kill -9 with and without a checkpoint in
 * between) and the answers for past windows must not change.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "get_json.h"
#include "harness.h"
#include "httpc.h"
#include "load/load.h"
#include "otlp.h"
#include "otlp_grpc_client.h"
#include "store.h"
#include "ternd_proc.h"

#define N 1000
#define NCRON 100
#define MIN_NS UINT64_C(60000000000)

static struct ternd_proc proc;
static char data_dir[256];
static uint64_t T0; /* ns, hour-aligned, 2 h ago */

/* ---- the data set ---- */

struct sp {
	const char *svc, *ver, *op;
	int kind;
	uint64_t start, dur;
	bool err;
	uint8_t tid[16], sid[8], pid[8];
	bool has_parent;
};

static void ids(struct sp *s, uint32_t trace, uint32_t span, uint32_t parent)
{
	memset(s->tid, 0, 16);
	memset(s->sid, 0, 8);
	memset(s->pid, 0, 8);
	s->tid[0] = 0xab;
	memcpy(s->tid + 12, &trace, 4);
	memcpy(s->sid + 4, &span, 4);
	s->sid[0] = 1;
	if (parent) {
		memcpy(s->pid + 4, &parent, 4);
		s->pid[0] = 1;
		s->has_parent = true;
	}
}

static uint64_t dur_a(int i) { return 2000000 + (uint64_t)i * 10000; }     /* 2..12 ms */
static uint64_t dur_b(int i) { return 1000000 + (uint64_t)i * 5000; }
static uint64_t dur_c(int i) { return 500000 + (uint64_t)((i * 7919) % 1000) * 3000; }
static uint64_t dur_d(int i) { return 100000 + (uint64_t)i * 1000; }
static uint64_t dur_v2(int i) { return dur_a(i) * 13 / 10; } /* v1.2: 30% slower */
static uint64_t dur_cron(int i) { return 50000000 + (uint64_t)i * 1000000; }
static uint64_t start_of(int i, int minute_off) { return T0 + (uint64_t)((i % 5) + minute_off) * MIN_NS + (uint64_t)i * 1000; }

/* Sends spans (consecutive ones with the same service/version share a
 * resource) in one Export call; returns the gRPC status. */
static int send_spans(const struct sp *s, size_t n)
{
	struct otlp_builder bd;
	if (otlp_builder_init(&bd) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(s[i].svc, s[i - 1].svc) != 0 || strcmp(s[i].ver, s[i - 1].ver) != 0) {
			otlp_build_resource(&bd, s[i].svc);
			otlp_build_str(&bd, OTLP_TO_RESOURCE, "service.version", s[i].ver);
			otlp_build_scope(&bd, "test", NULL);
		}
		otlp_build_span(&bd, s[i].tid, s[i].sid, s[i].has_parent ? s[i].pid : NULL, s[i].op,
				(enum otlp_span_kind)s[i].kind, s[i].start, s[i].start + s[i].dur);
		if (s[i].err)
			otlp_build_status(&bd, OTLP_STATUS_ERROR, NULL);
	}
	return otlp_grpc_export_batch(proc.grpc_addr, otlp_builder_take(&bd), 30);
}

static struct sp *all;
static size_t nall;

/* frontend v1.1: A (SERVER root), B (CLIENT child of A), D (INTERNAL child
 * of A); backend: C (SERVER child of B, sent in a later call), cron
 * (INTERNAL roots); frontend v1.2: roots 30% slower. */
static void build(void)
{
	all = calloc(6 * N + NCRON, sizeof(*all));
	size_t k = 0;
	for (int i = 0; i < N; i++) {
		uint32_t t = (uint32_t)i + 1;
		struct sp *a = &all[k++], *bb = &all[k++], *d = &all[k++];
		*a = (struct sp){ "frontend", "1.1", "GET /checkout", OTLP_SPAN_KIND_SERVER, start_of(i, 0), dur_a(i), i % 50 == 0 };
		ids(a, t, 1, 0);
		*bb = (struct sp){ "frontend", "1.1", "call backend", OTLP_SPAN_KIND_CLIENT, a->start + 1000, dur_b(i), false };
		ids(bb, t, 2, 1);
		*d = (struct sp){ "frontend", "1.1", "render", OTLP_SPAN_KIND_INTERNAL, a->start + 2000, dur_d(i), false };
		ids(d, t, 4, 1);
	}
	for (int i = 0; i < N; i++) {
		struct sp *c = &all[k++];
		*c = (struct sp){ "backend", "2.0", "db.query", OTLP_SPAN_KIND_SERVER, start_of(i, 0) + 1500, dur_c(i), i % 25 == 0 };
		ids(c, (uint32_t)i + 1, 3, 2);
	}
	for (int i = 0; i < N; i++) {
		struct sp *v = &all[k++];
		*v = (struct sp){ "frontend", "1.2", "GET /checkout", OTLP_SPAN_KIND_SERVER, start_of(i, 0) + 500, dur_v2(i), i % 50 == 0 };
		ids(v, 100000 + (uint32_t)i, 1, 0);
	}
	for (int i = 0; i < NCRON; i++) {
		struct sp *c = &all[k++];
		*c = (struct sp){ "backend", "2.0", "cron.cleanup", OTLP_SPAN_KIND_INTERNAL, start_of(i, 0) + 700, dur_cron(i), false };
		ids(c, 200000 + (uint32_t)i, 1, 0);
	}
	nall = k;
}

/* ---- exact answers ---- */

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

struct exact {
	size_t n;
	uint64_t v[3 * N];
	uint64_t errors;
};

static void exact_add(struct exact *e, uint64_t d, bool err)
{
	e->v[e->n++] = d;
	e->errors += err;
}

static double exact_q(struct exact *e, double q)
{
	qsort(e->v, e->n, sizeof(e->v[0]), cmp_u64);
	return (double)e->v[(size_t)floor(q * (double)(e->n - 1))] / 1e6; /* ms */
}

static double exact_avg(const struct exact *e)
{
	double s = 0;
	for (size_t i = 0; i < e->n; i++)
		s += (double)e->v[i];
	return s / (double)e->n / 1e6;
}

#define ASSERT_REL(actual, expected, tol)                                                     \
	do {                                                                                  \
		double a__ = (actual), e__ = (expected);                                      \
		if (!(fabs(a__ - e__) <= (tol) * fabs(e__) + 1e-9))                           \
			TEST__FAIL("%s = %.6f, expected %.6f (rel. tol %g)", #actual, a__, e__, \
				   (double)(tol));                                            \
	} while (0)

/* ---- HTTP + JSON ---- */

/* GETs path from this file's ternd: 0 with *out (caller puts), -EIO when
 * no answer came, -EBADMSG when the answer is not JSON. */
static int http_get(const char *path, int *status, json_object **out)
{
	*out = test_get_json(proc.query_addr, path, status);
	if (*out != NULL)
		return 0;
	return *status < 0 ? -EIO : -EBADMSG;
}

static json_object *get(json_object *o, const char *k)
{
	json_object *v = NULL;
	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

static double dnum(json_object *o, const char *k)
{
	return json_object_get_double(get(o, k));
}

static const char *dstr(json_object *o, const char *k)
{
	json_object *v = get(o, k);
	return v ? json_object_get_string(v) : "";
}

/* The row of arr whose fields match (NULL: any). */
static json_object *find_row(json_object *arr, const char *service, const char *op,
			     const char *kind)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		json_object *r = json_object_array_get_idx(arr, i);
		if ((!service || strcmp(dstr(r, "service"), service) == 0) &&
		    (!op || strcmp(dstr(r, "operation"), op) == 0) &&
		    (!kind || strcmp(dstr(r, "span_kind"), kind) == 0))
			return r;
	}
	return NULL;
}

static char window_q[128]; /* start/end of the data window, µs */

static const char *settle_ms = "15000"; /* --analytics-settle-ms */

static void start_ternd(const char *ckpt_ms)
{
	const char *args[] = { "--sink", "store", "--analytics-checkpoint-ms", ckpt_ms,
			       "--analytics-settle-ms", settle_ms, NULL };
	struct ternd_proc_opts o = { .args = args, .data_dir = data_dir };
	int rc = ternd_proc_start(&proc, &o);
	ASSERT_OK(rc);
}

/* Checks one summary row against exact values. */
static void check_row(json_object *r, struct exact *e)
{
	ASSERT((r) != NULL);
	ASSERT_EQ((int64_t)dnum(r, "calls"), (int64_t)e->n);
	ASSERT_EQ((int64_t)dnum(r, "errors"), (int64_t)e->errors);
	ASSERT_REL(dnum(r, "error_rate"), (double)e->errors / (double)e->n, 1e-9);
	ASSERT_REL(dnum(r, "p50_ms"), exact_q(e, 0.50), 0.01);
	ASSERT_REL(dnum(r, "p75_ms"), exact_q(e, 0.75), 0.01);
	ASSERT_REL(dnum(r, "p90_ms"), exact_q(e, 0.90), 0.01);
	ASSERT_REL(dnum(r, "p95_ms"), exact_q(e, 0.95), 0.01);
	ASSERT_REL(dnum(r, "p99_ms"), exact_q(e, 0.99), 0.01);
	ASSERT_REL(dnum(r, "max_ms"), exact_q(e, 1.0), 1e-9);
	ASSERT_REL(dnum(r, "avg_ms"), exact_avg(e), 1e-9);
	/* 10-minute window */
	ASSERT_REL(dnum(r, "rate_per_s"), (double)e->n / 600.0, 1e-9);
}

static struct exact fe_entry, fe_v11, be_entry, be_db, fe_call;

static void compute_exact(void)
{
	for (int i = 0; i < N; i++) {
		exact_add(&fe_entry, dur_a(i), i % 50 == 0);
		exact_add(&fe_entry, dur_v2(i), i % 50 == 0);
		exact_add(&fe_v11, dur_a(i), i % 50 == 0);
		exact_add(&be_entry, dur_c(i), i % 25 == 0);
		exact_add(&be_db, dur_c(i), i % 25 == 0);
		exact_add(&fe_call, dur_b(i), false);
	}
	for (int i = 0; i < NCRON; i++)
		exact_add(&be_entry, dur_cron(i), false);
}

/* A failed assert skips the rest of a test: never leave ternd behind. */
static void cleanup(void)
{
	if (proc.pid > 0)
		ternd_proc_kill(&proc);
	if (data_dir[0])
		ternd_proc_remove_dir(data_dir);
	free(all);
}

/*
 * Every test's fixture (each test runs alone in its own process): a fresh
 * data dir and ternd with 200 ms analytics checkpoints; with_data: the
 * data set sent in three calls (frontend v1.1 first, then its children in
 * backend, whose parents are in the earlier call, then v1.2 and cron).
 */
static void up(bool with_data)
{
	atexit(cleanup);
	uint64_t now = (uint64_t)time(NULL) * UINT64_C(1000000000);
	T0 = (now / (3600 * UINT64_C(1000000000))) * 3600 * UINT64_C(1000000000) - 2 * 3600 * UINT64_C(1000000000);
	snprintf(window_q, sizeof(window_q), "start=%" PRIu64 "&end=%" PRIu64, T0 / 1000,
		 (T0 + 10 * MIN_NS) / 1000);
	build();
	compute_exact();
	snprintf(data_dir, sizeof(data_dir), "%s/tern-an-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ASSERT((mkdtemp(data_dir)) != NULL);
	start_ternd("200");
	if (TEST_FAILED() || !with_data)
		return;
	ASSERT_EQ(send_spans(all, 3 * N), 0);
	ASSERT_EQ(send_spans(all + 3 * N, N), 0);
	ASSERT_EQ(send_spans(all + 4 * N, N + NCRON), 0);
}

#define UP(with_data)                    \
	do {                             \
		up(with_data);           \
		if (TEST_FAILED())       \
			return;          \
	} while (0)

TEST(ingest)
{
	UP(true);
	ASSERT_EQ(ternd_proc_stop(&proc), 0);
	ASSERT(strstr(proc.final_output, "stopped") != NULL);
}

TEST(summary)
{
	UP(true);
	char path[512];
	int st;
	json_object *o;
	snprintf(path, sizeof(path), "/api/tern/summary?service=frontend&%s", window_q);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(st, 200);
	json_object *d = get(o, "data");
	ASSERT_EQ(json_object_array_length(get(d, "services")), 1);
	check_row(find_row(get(d, "services"), "frontend", NULL, NULL), &fe_entry);
	if (TEST_FAILED())
		goto out;
	json_object *ops = get(d, "operations");
	ASSERT_EQ(json_object_array_length(ops), 3);
	check_row(find_row(ops, "frontend", "GET /checkout", "server"), &fe_entry);
	check_row(find_row(ops, "frontend", "call backend", "client"), &fe_call);
	json_object *r = find_row(ops, "frontend", "render", "internal");
	ASSERT((r) != NULL);
	ASSERT_EQ((int64_t)dnum(r, "calls"), N);
	/* shares add up to 1 */
	double share = 0;
	for (size_t i = 0; i < json_object_array_length(ops); i++)
		share += dnum(json_object_array_get_idx(ops, i), "time_share");
	ASSERT_REL(share, 1.0, 1e-9);
	json_object_put(o);

	snprintf(path, sizeof(path), "/api/tern/summary?service=frontend&version=1.1&%s", window_q);
	ASSERT_OK(http_get(path, &st, &o));
	check_row(find_row(get(get(o, "data"), "services"), "frontend", NULL, NULL), &fe_v11);
	json_object_put(o);

	snprintf(path, sizeof(path), "/api/tern/summary?service=backend&%s", window_q);
	ASSERT_OK(http_get(path, &st, &o));
	d = get(o, "data");
	/* entry spans of backend: its SERVER spans (parent in frontend) and cron roots */
	r = find_row(get(d, "services"), "backend", NULL, NULL);
	ASSERT((r) != NULL);
	ASSERT_EQ((int64_t)dnum(r, "calls"), N + NCRON);
	ASSERT_EQ((int64_t)dnum(r, "errors"), (int64_t)be_entry.errors);
	ASSERT_REL(dnum(r, "p50_ms"), exact_q(&be_entry, 0.5), 0.01);
	ASSERT_REL(dnum(r, "p99_ms"), exact_q(&be_entry, 0.99), 0.01);
	check_row(find_row(get(d, "operations"), "backend", "db.query", "server"), &be_db);
	json_object_put(o);

	/* a window with nothing in it */
	snprintf(path, sizeof(path), "/api/tern/summary?start=%" PRIu64 "&end=%" PRIu64,
		 (T0 + 20 * MIN_NS) / 1000, (T0 + 30 * MIN_NS) / 1000);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(json_object_array_length(get(get(o, "data"), "services")), 0);
out:
	json_object_put(o);
}

TEST(jaeger_services_operations)
{
	UP(true);
	int st;
	json_object *o;
	ASSERT_OK(http_get("/api/services", &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_EQ((int64_t)dnum(o, "total"), 2);
	ASSERT_STR_EQ(json_object_get_string(json_object_array_get_idx(get(o, "data"), 0)), "backend");
	ASSERT_STR_EQ(json_object_get_string(json_object_array_get_idx(get(o, "data"), 1)), "frontend");
	ASSERT(get(o, "errors") == NULL);
	json_object_put(o);

	ASSERT_OK(http_get("/api/services/frontend/operations", &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "data")), 3);
	json_object_put(o);

	ASSERT_OK(http_get("/api/operations?service=frontend&spanKind=server", &st, &o));
	ASSERT_EQ(st, 200);
	json_object *d = get(o, "data");
	ASSERT_EQ((int64_t)json_object_array_length(d), 1);
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(d, 0), "name"), "GET /checkout");
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(d, 0), "spanKind"), "server");
	json_object_put(o);

	ASSERT_OK(http_get("/api/operations?service=frontend", &st, &o));
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "data")), 3);
	json_object_put(o);
}

TEST(jaeger_traces)
{
	UP(true);
	char path[512];
	int st;
	json_object *o;
	/* trace 8: A, B, D in frontend + C in backend */
	ASSERT_OK(http_get("/api/traces/ab000000000000000000000008000000", &st, &o));
	ASSERT_EQ(st, 200);
	json_object *tr = json_object_array_get_idx(get(o, "data"), 0);
	ASSERT((tr) != NULL);
	ASSERT_STR_EQ(dstr(tr, "traceID"), "ab000000000000000000000008000000");
	json_object *spans = get(tr, "spans");
	ASSERT_EQ((int64_t)json_object_array_length(spans), 4);
	ASSERT_EQ((int64_t)json_object_object_length(get(tr, "processes")), 2);
	int found = 0;
	for (size_t i = 0; i < 4; i++) {
		json_object *s = json_object_array_get_idx(spans, i);
		const char *op = dstr(s, "operationName");
		json_object *proc_ = get(get(tr, "processes"), dstr(s, "processID"));
		ASSERT((proc_) != NULL);
		if (strcmp(op, "db.query") == 0) {
			found++;
			ASSERT_STR_EQ(dstr(proc_, "serviceName"), "backend");
			ASSERT_EQ((int64_t)dnum(s, "duration"), (int64_t)(dur_c(7) / 1000));
			ASSERT_EQ((int64_t)dnum(s, "startTime"), (int64_t)((start_of(7, 0) + 1500) / 1000));
			json_object *ref = json_object_array_get_idx(get(s, "references"), 0);
			ASSERT_STR_EQ(dstr(ref, "refType"), "CHILD_OF");
			ASSERT_STR_EQ(dstr(ref, "spanID"), "0100000002000000");
		} else if (strcmp(op, "GET /checkout") == 0) {
			found++;
			ASSERT_EQ((int64_t)json_object_array_length(get(s, "references")), 0);
			ASSERT_STR_EQ(dstr(s, "spanID"), "0100000001000000");
		}
	}
	ASSERT_EQ(found, 2);
	json_object_put(o);

	ASSERT_OK(http_get("/api/traces/00000000000000000000000000000bad", &st, &o));
	ASSERT_EQ(st, 404);
	ASSERT(get(o, "data") == NULL);
	ASSERT_EQ((int64_t)dnum(json_object_array_get_idx(get(o, "errors"), 0), "code"), 404);
	json_object_put(o);
	ASSERT_OK(http_get("/api/traces?traceID=ab000000000000000000000008000000&traceID=ab000000000000000000000009000000&traceID=77", &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "data")), 2);
	json_object_put(o);
	ASSERT_OK(http_get("/api/traces?traceID=nothex", &st, &o));
	ASSERT_EQ(st, 400);
	json_object_put(o);
	ASSERT_OK(http_get("/api/traces/xyz", &st, &o));
	ASSERT_EQ(st, 400);
	ASSERT(strstr(dstr(json_object_array_get_idx(get(o, "errors"), 0), "msg"), "traceID"));
	json_object_put(o);

	/* search: backend db.query slower than 2ms; the store keeps only >= */
	int want = 0;
	for (int i = 0; i < N; i++)
		want += dur_c(i) >= 2000000;
	snprintf(path, sizeof(path),
		 "/api/traces?service=backend&operation=db.query&minDuration=2ms&limit=1500&%s",
		 window_q);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "data")), want);
	json_object_put(o);
	snprintf(path, sizeof(path), "/api/traces?service=frontend&limit=5&%s", window_q);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "data")), 5);
	json_object_put(o);

	/* error=true (how the trace JSON shows status ERROR) searches the
	 * status: backend's errors are the db.query spans with i % 25 == 0,
	 * one per trace; cron.cleanup has none. Both tag forms. */
	int want_err = (N + 24) / 25;
	snprintf(path, sizeof(path),
		 "/api/traces?service=backend&tags=%%7B%%22error%%22%%3A%%22true%%22%%7D&limit=1500&%s",
		 window_q);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "data")), want_err);
	json_object_put(o);
	snprintf(path, sizeof(path),
		 "/api/traces?service=backend&tag=otel.status_code:ERROR&limit=1500&%s", window_q);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "data")), want_err);
	json_object_put(o);
}

TEST(jaeger_dependencies_and_metrics)
{
	UP(true);
	char path[512];
	int st;
	json_object *o;
	uint64_t end_ms = (T0 + 5 * MIN_NS) / 1000000;
	snprintf(path, sizeof(path), "/api/dependencies?endTs=%" PRIu64 "&lookback=600000", end_ms);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(st, 200);
	json_object *d = get(o, "data");
	ASSERT_EQ((int64_t)json_object_array_length(d), 1);
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(d, 0), "parent"), "frontend");
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(d, 0), "child"), "backend");
	ASSERT_EQ((int64_t)dnum(json_object_array_get_idx(d, 0), "callCount"), N);
	/* The edge's own failed calls: backend's db.query children of
	 * frontend, not its cron roots. */
	ASSERT_EQ((int64_t)dnum(json_object_array_get_idx(d, 0), "errorCount"), (int64_t)be_db.errors);
	ASSERT(be_db.errors > 0);
	json_object_put(o);

	/* SPM: the last point covers the 5 data minutes (ratePer 5 min). */
	snprintf(path, sizeof(path),
		 "/api/metrics/latencies?service=frontend&quantile=0.95&endTs=%" PRIu64
		 "&lookback=600000&step=60000&ratePer=300000",
		 end_ms);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_STR_EQ(dstr(o, "name"), "service_latencies");
	ASSERT_STR_EQ(dstr(o, "type"), "GAUGE");
	json_object *m = json_object_array_get_idx(get(o, "metrics"), 0);
	ASSERT((m) != NULL);
	json_object *l = json_object_array_get_idx(get(m, "labels"), 0);
	ASSERT_STR_EQ(dstr(l, "name"), "service_name");
	ASSERT_STR_EQ(dstr(l, "value"), "frontend");
	json_object *pts = get(m, "metricPoints");
	json_object *last = json_object_array_get_idx(pts, json_object_array_length(pts) - 1);
	ASSERT_REL(dnum(get(last, "gaugeValue"), "doubleValue"), exact_q(&fe_entry, 0.95), 0.01);
	ASSERT(strchr(dstr(last, "timestamp"), 'T') != NULL);
	json_object_put(o);

	snprintf(path, sizeof(path),
		 "/api/metrics/calls?service=frontend&endTs=%" PRIu64
		 "&lookback=600000&step=60000&ratePer=300000&groupByOperation=true",
		 end_ms);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_STR_EQ(dstr(o, "name"), "service_operation_call_rate");
	m = json_object_array_get_idx(get(o, "metrics"), 0);
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(get(m, "labels"), 1), "value"), "GET /checkout");
	pts = get(m, "metricPoints");
	last = json_object_array_get_idx(pts, json_object_array_length(pts) - 1);
	ASSERT_REL(dnum(get(last, "gaugeValue"), "doubleValue"), 2.0 * N / 300.0, 1e-9);
	json_object_put(o);

	/* server OR client: frontend's server spans plus its client calls */
	snprintf(path, sizeof(path),
		 "/api/metrics/calls?service=frontend&endTs=%" PRIu64
		 "&lookback=600000&step=60000&ratePer=300000&spanKind=server&spanKind=client",
		 end_ms);
	ASSERT_OK(http_get(path, &st, &o));
	m = json_object_array_get_idx(get(o, "metrics"), 0);
	pts = get(m, "metricPoints");
	last = json_object_array_get_idx(pts, json_object_array_length(pts) - 1);
	ASSERT_REL(dnum(get(last, "gaugeValue"), "doubleValue"), 3.0 * N / 300.0, 1e-9);
	json_object_put(o);
	ASSERT_OK(http_get("/api/metrics/minstep", &st, &o));
	ASSERT_EQ(st, 200);
	ASSERT_EQ((int64_t)dnum(o, "data"), 60000);
	json_object_put(o);

	snprintf(path, sizeof(path),
		 "/api/metrics/errors?service=frontend&endTs=%" PRIu64
		 "&lookback=600000&step=60000&ratePer=300000",
		 end_ms);
	ASSERT_OK(http_get(path, &st, &o));
	m = json_object_array_get_idx(get(o, "metrics"), 0);
	pts = get(m, "metricPoints");
	last = json_object_array_get_idx(pts, json_object_array_length(pts) - 1);
	ASSERT_REL(dnum(get(last, "gaugeValue"), "doubleValue"), 40.0 / 2000.0, 1e-9);
	json_object_put(o);
}

TEST(bad_parameters)
{
	UP(true);
	static const struct {
		const char *path;
		int status;
		const char *names;
	} cases[] = {
		{ "/api/tern/summary?lookback=forever", 400, "lookback" },
		{ "/api/tern/summary?start=abc", 400, "start" },
		{ "/api/tern/summary?spanKind=weird", 400, "spanKind" },
		{ "/api/traces?service=frontend&minDuration=fast", 400, "minDuration" },
		{ "/api/traces?service=frontend&limit=x", 400, "limit" },
		{ "/api/traces?service=frontend&tag=nocolon", 400, "tag" },
		{ "/api/traces?service=frontend&tags=%7Bbad", 400, "tags" },
		{ "/api/traces?operation=x", 400, "service" },
		{ "/api/operations", 400, "service" },
		{ "/api/metrics/latencies?service=frontend", 400, "quantile" },
		{ "/api/metrics/calls?step=10", 400, "service" },
		{ "/api/metrics/calls?service=a&endTs=yesterday", 400, "endTs" },
		{ "/api/dependencies?lookback=-5", 400, "lookback" },
		{ "/api/tern/slow?factor=0", 400, "factor" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st;
		json_object *o;
		ASSERT_OK(http_get(cases[i].path, &st, &o));
		if (st != cases[i].status)
			fprintf(stderr, "%s\n", cases[i].path);
		ASSERT_EQ(st, cases[i].status);
		json_object *e = json_object_array_get_idx(get(o, "errors"), 0);
		ASSERT_EQ((int64_t)dnum(e, "code"), cases[i].status);
		if (strstr(dstr(e, "msg"), cases[i].names) == NULL)
			fprintf(stderr, "%s: %s\n", cases[i].path, dstr(e, "msg"));
		ASSERT(strstr(dstr(e, "msg"), cases[i].names) != NULL);
		ASSERT(get(o, "data") == NULL);
		json_object_put(o);
	}
}

/* "Which are slow now": x went from 1 ms to 5 ms in its last 5 minutes,
 * y did not change. */
TEST(slow_now_and_metrics)
{
	UP(true);
	struct sp s[2 * 35 * 4];
	size_t n = 0;
	for (int m = 20; m < 55; m++)
		for (int k = 0; k < 4; k++) {
			s[n] = (struct sp){ "slowsvc", "1", "x", OTLP_SPAN_KIND_SERVER,
					    T0 + (uint64_t)m * MIN_NS + (uint64_t)k, m >= 50 ? 5000000 : 1000000, false };
			ids(&s[n], 300000 + (uint32_t)n, 1, 0);
			n++;
			s[n] = (struct sp){ "slowsvc", "1", "y", OTLP_SPAN_KIND_SERVER,
					    T0 + (uint64_t)m * MIN_NS + 10 + (uint64_t)k, 2000000, false };
			ids(&s[n], 300000 + (uint32_t)n, 1, 0);
			n++;
		}
	ASSERT_EQ(send_spans(s, n), 0);
	char path[512];
	int st;
	json_object *o;
	snprintf(path, sizeof(path),
		 "/api/tern/slow?service=slowsvc&start=%" PRIu64 "&end=%" PRIu64 "&baseline=30m",
		 (T0 + 50 * MIN_NS) / 1000, (T0 + 55 * MIN_NS) / 1000);
	ASSERT_OK(http_get(path, &st, &o));
	ASSERT_EQ(st, 200);
	json_object *d = get(o, "data");
	ASSERT_EQ((int64_t)json_object_array_length(d), 1);
	json_object *r = json_object_array_get_idx(d, 0);
	ASSERT_STR_EQ(dstr(r, "operation"), "x");
	ASSERT_EQ((int64_t)dnum(r, "calls"), 20);
	ASSERT_REL(dnum(r, "ratio"), 5.0, 0.02);
	ASSERT_REL(dnum(r, "baseline_p95_ms"), 1.0, 0.01);
	json_object_put(o);

	struct col_hclient c;
	ASSERT_OK(col_hclient_init(&c, proc.query_addr));
	char *body;
	size_t len;
	ASSERT_OK(col_hclient_request(&c, "GET", "/metrics", "Connection: close\r\n", NULL, 0, 30000,
				      &st, NULL, &body, &len));
	col_hclient_close(&c);
	ASSERT_EQ(st, 200);
	char want[96];
	snprintf(want, sizeof(want), "ternd_analytics_spans_total %zu\n", nall + n);
	if (strstr(body, want) == NULL)
		fprintf(stderr, "%s", body);
	ASSERT(strstr(body, want) != NULL);
	ASSERT(strstr(body, "ternd_analytics_unknown_parent_total 0\n") != NULL);
	free(body);
}

/* ---- the CLI ---- */

/* Runs tern with args (a shell-safe string); *out gets stdout. Returns
 * the exit status. */
static int tern(const char *args, char *out, size_t outlen)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "%s %s --addr %s", getenv("TERN"), args, proc.query_addr);
	FILE *f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	int st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char out[1 << 20];

TEST(cli)
{
	char args[1024], range[128];
	ASSERT((getenv("TERN")) != NULL);
	UP(true);
	snprintf(range, sizeof(range), "--start %" PRIu64 " --end %" PRIu64, T0 / 1000000000,
		 (T0 + 10 * MIN_NS) / 1000000000);
	ASSERT_EQ(tern("services", out, sizeof(out)), 0);
	ASSERT_STR_EQ(out, "backend\nfrontend\n");

	snprintf(args, sizeof(args), "stats --service frontend %s --json", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	json_object *o = json_tokener_parse(out);
	ASSERT((o) != NULL);
	check_row(find_row(get(o, "services"), "frontend", NULL, NULL), &fe_entry);
	json_object_put(o);
	if (TEST_FAILED())
		return;
	snprintf(args, sizeof(args), "stats --service frontend %s", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	ASSERT(strstr(out, "GET /checkout") != NULL);
	ASSERT(strstr(out, "P99") != NULL);

	/* SLO gate: p95 of frontend is ~11.7 ms */
	double p95 = exact_q(&fe_entry, 0.95);
	snprintf(args, sizeof(args), "check --service frontend --p95 %.3fms --p99 1s --error-rate 2.5%% %s",
		 p95 * 1.05, range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	ASSERT(strstr(out, "OK") != NULL);
	snprintf(args, sizeof(args), "check --service frontend --p95 %.3fms --error-rate 1%% %s",
		 p95 * 0.9, range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 1);
	ASSERT(strstr(out, "p95") != NULL);
	ASSERT(strstr(out, "error_rate") != NULL);
	snprintf(args, sizeof(args), "check --service frontend --p95 %.3fms --json %s", p95 * 0.9, range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 1);
	o = json_tokener_parse(out);
	ASSERT((o) != NULL);
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "violations")), 1);
	ASSERT_REL(dnum(json_object_array_get_idx(get(o, "violations"), 0), "actual"), p95, 0.01);
	json_object_put(o);
	ASSERT_EQ(tern("check --service frontend --p95 fast", out, sizeof(out)), 2);
	ASSERT_EQ(tern("check --p95 1s", out, sizeof(out)), 2);

	/* compare versions: 1.2 is 30% slower */
	snprintf(args, sizeof(args),
		 "compare --service frontend --baseline version=1.1 --current version=1.2 %s --json", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 1);
	o = json_tokener_parse(out);
	ASSERT((o) != NULL);
	ASSERT_EQ((int64_t)dnum(o, "regressions"), 1);
	json_object *row = json_object_array_get_idx(get(o, "operations"), 0);
	ASSERT_STR_EQ(dstr(row, "operation"), "GET /checkout");
	ASSERT_STR_EQ(dstr(row, "verdict"), "regression");
	ASSERT_REL(dnum(row, "change_pct_p99_ms"), 30.0, 0.1);
	json_object_put(o);
	snprintf(args, sizeof(args),
		 "compare --service frontend --baseline version=1.2 --current version=1.1 %s", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	ASSERT(strstr(out, "improvement") != NULL);
	snprintf(args, sizeof(args),
		 "compare --service frontend --baseline version=1.1 --current version=1.1 %s", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	snprintf(args, sizeof(args),
		 "compare --service frontend --baseline version=1.1 --current version=9 %s", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 1);
	ASSERT(strstr(out, "no spans") != NULL);
	/* two windows: the data minutes against an empty later window */
	snprintf(args, sizeof(args),
		 "compare --service frontend --baseline window=%" PRIu64 ",%" PRIu64
		 " --current window=%" PRIu64 ",%" PRIu64,
		 T0 / 1000000000, (T0 + 10 * MIN_NS) / 1000000000, T0 / 1000000000,
		 (T0 + 5 * MIN_NS) / 1000000000);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	ASSERT(strstr(out, "0 regression(s)") != NULL);

	/* report: cron.cleanup (avg ~100 ms) is the top of the time ranking */
	snprintf(args, sizeof(args), "report --medium 80ms %s --json", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	o = json_tokener_parse(out);
	ASSERT((o) != NULL);
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "medium")), 1);
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(get(o, "medium"), 0), "operation"), "cron.cleanup");
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "critical")), 0);
	ASSERT_EQ((int64_t)json_object_array_length(get(o, "low")), 4);
	json_object_put(o);
	snprintf(args, sizeof(args), "report %s", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	ASSERT(strstr(out, "low: 5 operations") != NULL);

	/* trace: A -> (B -> C, D); B ends last before A's end... the critical
	 * path is A, then the child ending last (B or D), recursively. */
	ASSERT_EQ(tern("trace ab000000000000000000000008000000", out, sizeof(out)), 0);
	ASSERT(strstr(out, "4 spans") != NULL);
	ASSERT(strstr(out, "* frontend: GET /checkout") != NULL);
	/* span 7: B ends at +1us+1.035ms, D at +2us+0.107ms: B is critical, D not */
	ASSERT(strstr(out, "* frontend: call backend") != NULL);
	ASSERT(strstr(out, "  frontend: render") != NULL);
	ASSERT(strstr(out, "* backend: db.query") != NULL);
	ASSERT_EQ(tern("trace ffff0000000000000000000000000001", out, sizeof(out)), 1);

	/* the table: a header and one line per trace */
	snprintf(args, sizeof(args), "search --service backend --operation db.query --min-duration 2ms --limit 1500 %s",
		 range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	int want = 0, lines = 0;
	for (int i = 0; i < N; i++)
		want += dur_c(i) >= 2000000;
	for (char *c = out; *c; c++)
		lines += *c == '\n';
	ASSERT_EQ(lines, want + 1);
	ASSERT(strstr(out, "frontend: GET /checkout") != NULL);
	snprintf(args, sizeof(args), "search --service backend --limit 3 %s --json", range);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	o = json_tokener_parse(out);
	ASSERT(o != NULL);
	ASSERT_EQ((int64_t)json_object_array_length(o), 3);
	json_object_put(o);

	ASSERT_EQ(tern("stats --since forever", out, sizeof(out)), 2);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "%s services --addr 127.0.0.1:1 2>/dev/null", getenv("TERN"));
	int st = system(cmd);
	ASSERT_EQ(WEXITSTATUS(st), 2);
}

/* ---- restarts ---- */

static char before[1 << 16];

static void summary_text(char *buf, size_t len)
{
	char path[512];
	int st;
	json_object *o;
	snprintf(path, sizeof(path), "/api/tern/summary?%s", window_q);
	buf[0] = '\0';
	if (http_get(path, &st, &o) != 0)
		return;
	snprintf(buf, len, "%s", json_object_to_json_string(get(o, "data")));
	json_object_put(o);
}

static int64_t calls_of(const char *service, uint64_t from, uint64_t to)
{
	char path[512];
	int st;
	json_object *o;
	snprintf(path, sizeof(path), "/api/tern/summary?service=%s&start=%" PRIu64 "&end=%" PRIu64,
		 service, from / 1000, to / 1000);
	if (http_get(path, &st, &o) != 0)
		return -1;
	json_object *r = json_object_array_get_idx(get(get(o, "data"), "services"), 0);
	int64_t c = r ? (int64_t)dnum(r, "calls") : 0;
	json_object_put(o);
	return c;
}

/* Every span of a service (all operations, any time). */
static int64_t all_calls_of(const char *service)
{
	char path[512];
	int st;
	json_object *o;
	snprintf(path, sizeof(path), "/api/tern/summary?service=%s&start=0&end=4000000000000000",
		 service);
	if (http_get(path, &st, &o) != 0)
		return -1;
	json_object *ops = get(get(o, "data"), "operations");
	int64_t c = 0;
	for (size_t i = 0; ops && i < json_object_array_length(ops); i++)
		c += (int64_t)dnum(json_object_array_get_idx(ops, i), "calls");
	json_object_put(o);
	return c;
}

static char after[1 << 16];

TEST(restart_clean)
{
	UP(true);
	summary_text(before, sizeof(before));
	ASSERT(strlen(before) > 100);
	ASSERT_EQ(ternd_proc_stop(&proc), 0);
	start_ternd("200");
	if (TEST_FAILED())
		return;
	summary_text(after, sizeof(after));
	ASSERT_STR_EQ(after, before);
}

/* New roots of service "late" in minute 12 of the hour. */
static int send_late(int n, uint32_t base)
{
	struct sp *s = calloc((size_t)n, sizeof(*s));
	for (int i = 0; i < n; i++) {
		s[i] = (struct sp){ "late", "1", "job", OTLP_SPAN_KIND_SERVER, T0 + 12 * MIN_NS + (uint64_t)i, 1000000 + (uint64_t)i, false };
		ids(&s[i], base + (uint32_t)i, 1, 0);
	}
	int rc = send_spans(s, (size_t)n);
	free(s);
	return rc;
}

TEST(kill9_exact)
{
	/* A: acked and checkpointed (200 ms ticks); B: acked, then kill -9
	 * before any checkpoint could see it. Same minute and hour, so the
	 * replay must skip A (in the blob) and count B once. The summary of
	 * the data window must not change either. */
	UP(true);
	summary_text(before, sizeof(before));
	ASSERT(strlen(before) > 100);
	ASSERT_EQ(send_late(300, 500000), 0);
	usleep(1200 * 1000);
	ASSERT_EQ(send_late(200, 600000), 0);
	ASSERT_OK(ternd_proc_kill(&proc));
	start_ternd("200");
	if (TEST_FAILED())
		return;
	ASSERT_EQ(calls_of("late", T0, T0 + 60 * MIN_NS), 500);
	summary_text(after, sizeof(after));
	ASSERT_STR_EQ(after, before);
	/* once more, with no checkpoint at all since the last start */
	ASSERT_OK(ternd_proc_kill(&proc));
	start_ternd("3600000");
	if (TEST_FAILED())
		return;
	ASSERT_EQ(send_late(100, 700000), 0);
	ASSERT_OK(ternd_proc_kill(&proc));
	start_ternd("200");
	if (TEST_FAILED())
		return;
	ASSERT_EQ(calls_of("late", T0, T0 + 60 * MIN_NS), 600);
	summary_text(after, sizeof(after));
	ASSERT_STR_EQ(after, before);
	ASSERT_EQ(ternd_proc_stop(&proc), 0);
}

static void *load_thread(void *arg)
{
	struct col_load_opts o = { .target = proc.grpc_addr, .streams = 4, .spans_per_req = 256,
				   .seconds = 3, .service = "loadsvc", .call_timeout_s = 5 };
	col_load_run(&o, arg);
	return NULL;
}

/* kill -9 in the middle of a steady load (checkpoints every 200 ms find
 * their quiet moments between acks): after the restart, analytics hold
 * exactly the spans the log holds, acked or not. */
TEST(kill9_under_load)
{
	if (getenv("TERN_UNDER_VALGRIND"))
		TEST_SKIP("a second of load under valgrind is too little to mean anything");
	UP(false);
	struct col_load_result res;
	memset(&res, 0, sizeof(res));
	pthread_t th;
	ASSERT_OK(pthread_create(&th, NULL, load_thread, &res));
	usleep(1500 * 1000);
	ASSERT_OK(ternd_proc_kill(&proc));
	pthread_join(th, NULL);
	ASSERT_GT(res.spans_acked, 0);
	start_ternd("200");
	if (TEST_FAILED())
		return;
	int64_t counted = all_calls_of("loadsvc");
	ASSERT_EQ(ternd_proc_stop(&proc), 0);
	struct store_options so;
	store_options_default(&so);
	so.dir = data_dir;
	struct store *st;
	struct store_recovery rec;
	ASSERT_OK(store_open(&so, &st, &rec));
	store_close(st);
	/* the log holds only the load's spans: the fixture sent none */
	ASSERT_EQ_U(rec.spans, (uint64_t)counted);
	ASSERT_GE_U((uint64_t)counted, res.spans_acked);
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Spans the way real exporters send them: a child of another service
 * before its parent (which starts in the same microsecond), the child's
 * export retried, a different span under the same ids, and a child whose
 * parent never comes. ternd waits --analytics-settle-ms for parents. */
TEST(out_of_order_and_duplicates)
{
	char path[512], args[512];
	int st;
	json_object *o;
	settle_ms = "5000";
	UP(false);
	uint64_t t = T0 + 3 * MIN_NS;
	struct sp child = { "ooo-api", "1", "handle", OTLP_SPAN_KIND_INTERNAL, t, 3000000, false };
	ids(&child, 900001, 2, 1);
	struct sp other = child; /* same ids, another duration */
	other.dur = 4000000;
	struct sp root = { "ooo-web", "1", "GET /", OTLP_SPAN_KIND_SERVER, t, 10000000, false };
	ids(&root, 900001, 1, 0);
	struct sp orphan = { "ooo-orphan", "1", "job", OTLP_SPAN_KIND_INTERNAL, t, 1000000, true };
	ids(&orphan, 900002, 5, 4);
	ASSERT_EQ(send_spans(&child, 1), 0);
	ASSERT_EQ(send_spans(&child, 1), 0); /* the retry */
	double sent = mono_s();
	ASSERT_EQ(send_spans(&orphan, 1), 0);
	ASSERT_EQ(send_spans(&other, 1), 0);
	/* Inside the settle time the waiting spans are in no answer (checked
	 * only if the answer came inside it: valgrind is slow). */
	snprintf(path, sizeof(path), "/api/tern/summary?service=ooo-orphan&%s", window_q);
	ASSERT_OK(http_get(path, &st, &o));
	size_t inside = json_object_array_length(get(get(o, "data"), "services"));
	json_object_put(o);
	if (mono_s() - sent < 4.5)
		ASSERT_EQ(inside, 0);
	usleep(300 * 1000);
	ASSERT_EQ(send_spans(&root, 1), 0);
	while (mono_s() - sent < 6.0) /* the orphan's settle time ends */
		usleep(100 * 1000);

	uint64_t end_ms = (T0 + 10 * MIN_NS) / 1000000;
	snprintf(path, sizeof(path), "/api/dependencies?endTs=%" PRIu64 "&lookback=600000", end_ms);
	ASSERT_OK(http_get(path, &st, &o));
	json_object *d = get(o, "data");
	ASSERT_EQ((int64_t)json_object_array_length(d), 1);
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(d, 0), "parent"), "ooo-web");
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(d, 0), "child"), "ooo-api");
	ASSERT_EQ((int64_t)dnum(json_object_array_get_idx(d, 0), "callCount"), 2);
	json_object_put(o);
	static const struct {
		const char *svc;
		int calls, errors;
	} want[] = { { "ooo-api", 2, 0 }, { "ooo-web", 1, 0 }, { "ooo-orphan", 1, 1 } };
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/api/tern/summary?service=%s&%s", want[i].svc, window_q);
		ASSERT_OK(http_get(path, &st, &o));
		json_object *r = find_row(get(get(o, "data"), "services"), want[i].svc, NULL, NULL);
		ASSERT(r != NULL);
		ASSERT_EQ((int64_t)dnum(r, "calls"), want[i].calls);
		ASSERT_EQ((int64_t)dnum(r, "errors"), want[i].errors);
		json_object_put(o);
	}

	/* The trace: the retried copy once, the two spans with one id both,
	 * and a warning about them. */
	ASSERT_OK(http_get("/api/traces/ab0000000000000000000000a1bb0d00", &st, &o));
	ASSERT_EQ(st, 200);
	json_object *tr = json_object_array_get_idx(get(o, "data"), 0);
	ASSERT_EQ((int64_t)json_object_array_length(get(tr, "spans")), 3);
	json_object *w = get(tr, "warnings");
	ASSERT(w != NULL && json_object_is_type(w, json_type_array));
	ASSERT_EQ((int64_t)json_object_array_length(w), 1);
	ASSERT(strstr(json_object_get_string(json_object_array_get_idx(w, 0)), "0100000002000000") != NULL);
	json_object_put(o);

	/* Search: the same, and the root is the span without a parent, not
	 * the child stored first with the same start time. */
	snprintf(args, sizeof(args), "search --service ooo-api --start %" PRIu64 " --end %" PRIu64,
		 T0 / 1000000000, (T0 + 10 * MIN_NS) / 1000000000);
	ASSERT((getenv("TERN")) != NULL);
	ASSERT_EQ(tern(args, out, sizeof(out)), 0);
	ASSERT(strstr(out, "ooo-web: GET /") != NULL);
	ASSERT(strstr(out, "      3 ") != NULL); /* SPANS */
}

/* n spans of service svc in traces 950000.. : roots (span 1), or their
 * children in the caller's trace (span 2, parent 1). */
static int send_family(const char *svc, bool children, int from, int n)
{
	struct sp *s = calloc((size_t)n, sizeof(*s));
	for (int i = 0; i < n; i++) {
		uint64_t t = T0 + 4 * MIN_NS + (uint64_t)(from + i) * 1000;
		if (children) {
			s[i] = (struct sp){ svc, "1", "work", OTLP_SPAN_KIND_INTERNAL, t, 2000000, (from + i) % 10 == 0 };
			ids(&s[i], 950000 + (uint32_t)(from + i), 2, 1);
		} else {
			s[i] = (struct sp){ svc, "1", "GET /", OTLP_SPAN_KIND_SERVER, t, 5000000, false };
			ids(&s[i], 950000 + (uint32_t)(from + i), 1, 0);
		}
	}
	int rc = send_spans(s, (size_t)n);
	free(s);
	return rc;
}

/* Children exported before their parents, with kill -9 between: the
 * waiting children go with the checkpoints, a resend after the restart is
 * recognised, and the parents that come after the restarts still make
 * the children entries of their service and the edges exact. */
TEST(kill9_with_waiting_spans)
{
	settle_ms = "600000"; /* no wait ends here, even under valgrind */
	UP(false);
	ASSERT_EQ(send_family("k9-api", true, 0, 50), 0);
	usleep(800 * 1000); /* checkpoints (200 ms) save the waiting set */
	ASSERT_OK(ternd_proc_kill(&proc));
	start_ternd("200");
	if (TEST_FAILED())
		return;
	ASSERT_EQ(all_calls_of("k9-api"), 0); /* still waiting */
	ASSERT_EQ(send_family("k9-web", false, 0, 25), 0);
	ASSERT_EQ(send_family("k9-api", true, 0, 50), 0); /* a resend */
	ASSERT_OK(ternd_proc_kill(&proc)); /* no checkpoint needed */
	start_ternd("200");
	if (TEST_FAILED())
		return;
	ASSERT_EQ(send_family("k9-web", false, 25, 25), 0);
	ASSERT_EQ(calls_of("k9-api", T0, T0 + 10 * MIN_NS), 50);
	ASSERT_EQ(all_calls_of("k9-api"), 50);
	ASSERT_EQ(calls_of("k9-web", T0, T0 + 10 * MIN_NS), 50);
	char path[256];
	int st;
	json_object *o;
	snprintf(path, sizeof(path), "/api/dependencies?endTs=%" PRIu64 "&lookback=600000",
		 (T0 + 10 * MIN_NS) / 1000000);
	ASSERT_OK(http_get(path, &st, &o));
	json_object *d = get(o, "data");
	ASSERT_EQ((int64_t)json_object_array_length(d), 1);
	ASSERT_STR_EQ(dstr(json_object_array_get_idx(d, 0), "parent"), "k9-web");
	ASSERT_EQ((int64_t)dnum(json_object_array_get_idx(d, 0), "callCount"), 50);
	json_object_put(o);
	/* and after a clean stop and start */
	ASSERT_EQ(ternd_proc_stop(&proc), 0);
	start_ternd("200");
	if (TEST_FAILED())
		return;
	ASSERT_EQ(calls_of("k9-api", T0, T0 + 10 * MIN_NS), 50);
	ASSERT_EQ(all_calls_of("k9-api"), 50);
	ASSERT_EQ(ternd_proc_stop(&proc), 0);
}

TEST_MAIN(TEST_ENTRY(ingest), TEST_ENTRY(summary), TEST_ENTRY(jaeger_services_operations),
	  TEST_ENTRY(jaeger_traces), TEST_ENTRY(jaeger_dependencies_and_metrics),
	  TEST_ENTRY(bad_parameters), TEST_ENTRY(slow_now_and_metrics), TEST_ENTRY(cli), TEST_ENTRY(restart_clean),
	  TEST_ENTRY(kill9_exact), TEST_ENTRY(kill9_under_load),
	  TEST_ENTRY(out_of_order_and_duplicates), TEST_ENTRY(kill9_with_waiting_spans))
