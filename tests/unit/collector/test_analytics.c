/*
 * test_analytics.c: collector/analytics/analytics.c on its own: which spans count as
 * entry spans, the operation cap, edges, windows, regrouping, persistence
 * into a real store (exact after reload, replay of the log tail, corrupt
 * and truncated blobs refused), and the API's duration parser.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analytics/analytics.h"
#include "api/api.h"
#include "harness.h"
#include "store.h"
#include "util/text.h"

#define MIN_NS 60000000000ull
#define HOUR_NS (60 * MIN_NS)

static uint64_t T0; /* an hour boundary, 3 hours ago */

/* A batch being built; b is the builder's batch, which the test frees. */
struct b {
	struct otlp_batch *b;
	struct otlp_builder bd;
};

/* Starts a resource (service) in b. */
static void resource(struct b *x, const char *svc)
{
	if (x->b == NULL) {
		ASSERT_OK(otlp_builder_init(&x->bd));
		x->b = x->bd.batch;
	}
	ASSERT_OK(otlp_build_resource(&x->bd, svc));
	ASSERT_OK(otlp_build_scope(&x->bd, NULL, NULL));
}

static void span(struct b *x, const char *name, int kind, uint8_t id, uint8_t parent,
		 uint64_t start, uint64_t dur, bool err)
{
	uint8_t tid[16] = { 7 }, sid[8] = { id }, pid[8] = { parent };
	ASSERT_OK(otlp_build_span(&x->bd, tid, sid, parent ? pid : NULL, name,
				  (enum otlp_span_kind)kind, start, start + dur));
	ASSERT_OK(otlp_build_status(&x->bd, err ? OTLP_STATUS_ERROR : OTLP_STATUS_UNSET, NULL));
}

static const struct col_an_row *row(const struct col_an_result *r, const char *svc,
				    const char *op)
{
	for (size_t i = 0; i < r->n; i++)
		if ((svc == NULL || (r->rows[i].service && strcmp(r->rows[i].service, svc) == 0)) &&
		    (op == NULL || (r->rows[i].operation && strcmp(r->rows[i].operation, op) == 0)))
			return &r->rows[i];
	return NULL;
}

static void setup_time(void)
{
	T0 = ((uint64_t)time(NULL) * 1000000000ull / HOUR_NS - 3) * HOUR_NS;
}

TEST(entry_spans_and_edges)
{
	setup_time();
	struct col_analytics *a = col_an_new(NULL);
	ASSERT(a != NULL);
	struct b x = { 0 };
	/* web: SERVER root 1, INTERNAL child 2, CLIENT child 3;
	 * api: INTERNAL span 4 whose parent 3 is in web (an entry),
	 *      INTERNAL child 5 of 4 (not), INTERNAL root 6 (an entry),
	 *      INTERNAL 7 whose parent never comes (waits, then an entry). */
	resource(&x, "web");
	span(&x, "GET /", OTLP_SPAN_KIND_SERVER, 1, 0, T0, 10000000, true);
	span(&x, "render", OTLP_SPAN_KIND_INTERNAL, 2, 1, T0 + 1, 1000000, false);
	span(&x, "call api", OTLP_SPAN_KIND_CLIENT, 3, 1, T0 + 2, 5000000, false);
	resource(&x, "api");
	span(&x, "handle", OTLP_SPAN_KIND_INTERNAL, 4, 3, T0 + 3, 4000000, false);
	span(&x, "db", OTLP_SPAN_KIND_INTERNAL, 5, 4, T0 + 4, 2000000, false);
	span(&x, "cron", OTLP_SPAN_KIND_INTERNAL, 6, 0, T0 + 5, 3000000, false);
	span(&x, "orphan", OTLP_SPAN_KIND_INTERNAL, 7, 99, T0 + 6, 1000000, false);
	col_an_observe(a, x.b);
	otlp_batch_free(x.b);

	struct col_an_filter f = { NULL, NULL, NULL, -1, true };
	struct col_an_result r;
	struct col_an_stats st;
	/* Inside the settle time the orphan waits and is in no answer. */
	col_an_get_stats(a, &st);
	ASSERT_EQ(st.spans, 6);
	ASSERT_EQ(st.pending, 1);
	ASSERT_EQ(col_an_expire(a, 0), 0);
	ASSERT_EQ(col_an_expire(a, UINT64_MAX), 1);
	ASSERT_OK(col_an_query(a, &f, T0, T0 + MIN_NS, COL_AN_G_SERVICE | COL_AN_G_OPERATION, &r));
	ASSERT_EQ(r.n, 4);
	ASSERT(row(&r, "web", "GET /") != NULL);
	ASSERT(row(&r, "api", "handle") != NULL);
	ASSERT(row(&r, "api", "cron") != NULL);
	ASSERT(row(&r, "api", "orphan") != NULL);
	ASSERT_EQ(row(&r, "web", "GET /")->errors, 1);
	col_an_result_free(&r);

	f.entry_only = false;
	ASSERT_OK(col_an_query(a, &f, T0, T0 + MIN_NS, COL_AN_G_SERVICE, &r));
	ASSERT_EQ(r.n, 2);
	ASSERT_EQ(row(&r, "web", NULL)->calls, 3);
	ASSERT_EQ(row(&r, "api", NULL)->calls, 4);
	ASSERT_NEAR(tern_sketch_max(row(&r, "api", NULL)->sk), 4000000, 1e-6);
	col_an_result_free(&r);

	struct col_an_edge *e;
	size_t n;
	ASSERT_OK(col_an_deps(a, T0, T0 + MIN_NS, &e, &n));
	ASSERT_EQ(n, 1);
	ASSERT_STR_EQ(e[0].parent, "web");
	ASSERT_STR_EQ(e[0].child, "api");
	ASSERT_EQ(e[0].calls, 1);
	free(e);

	col_an_get_stats(a, &st);
	ASSERT_EQ(st.unknown_parent, 1);
	ASSERT_EQ(st.pending, 0);
	ASSERT_EQ(st.spans, 7);

	/* A span two days ahead is counted apart, not in an hour. */
	x = (struct b){ 0 };
	resource(&x, "web");
	span(&x, "GET /", OTLP_SPAN_KIND_SERVER, 9, 0, (uint64_t)time(NULL) * 1000000000ull + 2 * 86400000000000ull, 1000, false);
	col_an_observe(a, x.b);
	otlp_batch_free(x.b);
	col_an_get_stats(a, &st);
	ASSERT_EQ(st.spans, 7);
	ASSERT_EQ(st.future_spans, 1);

	/* The next minute holds nothing: windows are whole minutes. */
	ASSERT_OK(col_an_query(a, NULL, T0 + MIN_NS, T0 + 2 * MIN_NS, COL_AN_G_SERVICE, &r));
	ASSERT_EQ(r.n, 0);
	col_an_result_free(&r);
	/* A window starting 1 ns into the minute skips that minute. */
	ASSERT_OK(col_an_query(a, NULL, T0 + 1, T0 + 2 * MIN_NS, COL_AN_G_SERVICE, &r));
	ASSERT_EQ(r.n, 0);
	col_an_result_free(&r);
	col_an_free(a);
}

TEST(operation_cap)
{
	setup_time();
	struct col_an_options o;
	col_an_options_default(&o);
	o.max_ops_per_service = 3;
	struct col_analytics *a = col_an_new(&o);
	ASSERT(a != NULL);
	struct b x = { 0 };
	resource(&x, "svc");
	static const char *const names[] = { "a", "b", "c", "d", "e", "a", "d" };
	for (int i = 0; i < 7; i++)
		span(&x, names[i], OTLP_SPAN_KIND_SERVER, (uint8_t)(i + 1), 0, T0 + (uint64_t)i,
		     1000000 * (uint64_t)(i + 1), false);
	col_an_observe(a, x.b);
	otlp_batch_free(x.b);
	struct col_an_result r;
	ASSERT_OK(col_an_query(a, NULL, T0, T0 + MIN_NS, COL_AN_G_OPERATION, &r));
	ASSERT_EQ(r.n, 4);
	ASSERT_EQ(row(&r, NULL, "a")->calls, 2);
	ASSERT_EQ(row(&r, NULL, COL_AN_OTHER)->calls, 3); /* d, e, d */
	ASSERT(row(&r, NULL, "d") == NULL);
	col_an_result_free(&r);
	struct col_an_stats st;
	col_an_get_stats(a, &st);
	ASSERT_EQ(st.overflow_spans, 3);
	char buf[4096];
	size_t len = col_an_render_metrics(a, buf, sizeof(buf));
	ASSERT(len < sizeof(buf));
	ASSERT(strstr(buf, "ternd_analytics_overflow_spans_total 3\n") != NULL);
	col_an_free(a);

	/* services: two named, the third and later under __other__ */
	col_an_options_default(&o);
	o.max_services = 2;
	a = col_an_new(&o);
	ASSERT(a != NULL);
	x = (struct b){ 0 };
	static const char *const svcs[] = { "s1", "s2", "s3", "s4", "s1" };
	for (int i = 0; i < 5; i++) {
		resource(&x, svcs[i]);
		span(&x, "op", OTLP_SPAN_KIND_SERVER, (uint8_t)(i + 1), 0, T0, 1000, false);
	}
	col_an_observe(a, x.b);
	otlp_batch_free(x.b);
	ASSERT_OK(col_an_query(a, NULL, T0, T0 + MIN_NS, COL_AN_G_SERVICE, &r));
	ASSERT_EQ(r.n, 3);
	ASSERT_EQ(row(&r, "s1", NULL)->calls, 2);
	ASSERT_EQ(row(&r, COL_AN_OTHER, NULL)->calls, 2);
	col_an_result_free(&r);
	col_an_get_stats(a, &st);
	ASSERT_EQ(st.overflow_service_spans, 2);
	col_an_free(a);
}

/* Exact values survive a checkpoint + reload; the log tail after the
 * checkpoint is replayed once. */
TEST(persistence)
{
	setup_time();
	char dir[] = "/tmp/tern-an-unit-XXXXXX";
	ASSERT(mkdtemp(dir) != NULL);
	struct store_options so;
	store_options_default(&so);
	so.dir = dir;
	struct store *st;
	ASSERT_OK(store_open(&so, &st, NULL));
	struct col_analytics *a = col_an_new(NULL);
	char msg[512];
	ASSERT_OK(col_an_load(a, st, msg, sizeof(msg)));
	/* batch 1: in the log, observed, checkpointed */
	struct b x = { 0 };
	resource(&x, "svc");
	for (int i = 0; i < 100; i++)
		span(&x, "op", OTLP_SPAN_KIND_SERVER, (uint8_t)(i + 1), 0,
		     T0 + (uint64_t)(i % 90) * MIN_NS, 1000000 + (uint64_t)i * 1000, i % 10 == 0);
	ASSERT_OK(store_append(st, x.b));
	col_an_observe(a, x.b);
	otlp_batch_free(x.b);
	ASSERT_OK(col_an_checkpoint(a));
	/* batch 2: in the log and observed, never checkpointed (a crash) */
	x = (struct b){ 0 };
	resource(&x, "svc");
	for (int i = 0; i < 50; i++)
		span(&x, "op", OTLP_SPAN_KIND_SERVER, (uint8_t)(i + 1), 0,
		     T0 + (uint64_t)(i % 90) * MIN_NS + 5, 2000000, false);
	ASSERT_OK(store_append(st, x.b));
	col_an_observe(a, x.b);
	otlp_batch_free(x.b);
	struct col_an_result r1, r2;
	ASSERT_OK(col_an_query(a, NULL, T0, T0 + 2 * HOUR_NS, COL_AN_G_SERVICE, &r1));
	ASSERT_EQ(r1.n, 1);
	ASSERT_EQ(r1.rows[0].calls, 150);
	col_an_free(a);

	a = col_an_new(NULL);
	ASSERT_OK(col_an_load(a, st, msg, sizeof(msg)));
	ASSERT(strstr(msg, "replayed 1 records / 50 spans") != NULL);
	ASSERT_OK(col_an_query(a, NULL, T0, T0 + 2 * HOUR_NS, COL_AN_G_SERVICE, &r2));
	ASSERT_EQ(r2.n, 1);
	ASSERT_EQ(r2.rows[0].calls, 150);
	ASSERT_EQ(r2.rows[0].errors, 10);
	for (double q = 0; q <= 1.0; q += 0.05)
		ASSERT_NEAR(tern_sketch_quantile(r2.rows[0].sk, q), tern_sketch_quantile(r1.rows[0].sk, q),
			    1e-9);
	ASSERT_NEAR(tern_sketch_sum(r2.rows[0].sk), tern_sketch_sum(r1.rows[0].sk), 1e-3);
	col_an_result_free(&r2);

	/* Only the last hour in memory: older hours come from their blobs. */
	ASSERT_OK(col_an_checkpoint(a));
	col_an_free(a);
	struct col_an_options o;
	col_an_options_default(&o);
	o.mem_hours = 1;
	a = col_an_new(&o);
	ASSERT_OK(col_an_load(a, st, msg, sizeof(msg)));
	ASSERT(strstr(msg, "replayed 0 records") != NULL);
	ASSERT_OK(col_an_query(a, NULL, T0, T0 + 2 * HOUR_NS, COL_AN_G_SERVICE, &r2));
	ASSERT_EQ(r2.n, 1);
	ASSERT_EQ(r2.rows[0].calls, 150);
	ASSERT_NEAR(tern_sketch_quantile(r2.rows[0].sk, 0.99), tern_sketch_quantile(r1.rows[0].sk, 0.99),
		    1e-9);
	col_an_result_free(&r2);

	/* Every truncation and a flipped byte of an hour blob is refused
	 * (-EIO from the query), never read past or half-used. The hour was
	 * written twice: its second blob is in the other slot (".1"). */
	char key[48];
	snprintf(key, sizeof(key), "an-h-%llu.1", (unsigned long long)(T0 / HOUR_NS));
	void *blob;
	size_t len;
	ASSERT_OK(store_meta_get(st, key, &blob, &len));
	ASSERT_OK(col_an_parse_blob(blob, len));
	ASSERT_EQ(col_an_parse_blob(blob, len - 1), -EINVAL);
	for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 37)) {
		ASSERT_OK(store_meta_put(st, key, blob, cut));
		int rc = col_an_query(a, NULL, T0, T0 + HOUR_NS, COL_AN_G_SERVICE, &r2);
		ASSERT_EQ(rc, -EIO);
		ASSERT_EQ(r2.n, 0);
		col_an_result_free(&r2);
	}
	((uint8_t *)blob)[0] ^= 0xff;
	ASSERT_OK(store_meta_put(st, key, blob, len));
	ASSERT_EQ(col_an_query(a, NULL, T0, T0 + HOUR_NS, COL_AN_G_SERVICE, &r2), -EIO);
	col_an_result_free(&r2);
	((uint8_t *)blob)[0] ^= 0xff;
	ASSERT_OK(store_meta_put(st, key, blob, len));
	ASSERT_OK(col_an_query(a, NULL, T0, T0 + HOUR_NS, COL_AN_G_SERVICE, &r2));
	ASSERT_EQ(r2.rows[0].calls, 120); /* 70 + 50 spans in minutes 0..59 */
	col_an_result_free(&r2);
	free(blob);
	col_an_free(a);
	col_an_result_free(&r1);
	store_close(st);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ASSERT_EQ(system(cmd), 0);
}

TEST(regroup)
{
	setup_time();
	struct col_analytics *a = col_an_new(NULL);
	struct b x = { 0 };
	resource(&x, "s");
	span(&x, "x", OTLP_SPAN_KIND_SERVER, 1, 0, T0, 1000, false);
	span(&x, "x", OTLP_SPAN_KIND_INTERNAL, 2, 1, T0, 2000, true);
	span(&x, "y", OTLP_SPAN_KIND_INTERNAL, 3, 0, T0, 3000, false);
	col_an_observe(a, x.b);
	otlp_batch_free(x.b);
	struct col_an_result all, svc, ops;
	unsigned g = COL_AN_G_SERVICE | COL_AN_G_OPERATION | COL_AN_G_KIND | COL_AN_G_ENTRY;
	ASSERT_OK(col_an_query(a, NULL, T0, T0 + MIN_NS, g, &all));
	ASSERT_EQ(all.n, 3);
	ASSERT_OK(col_an_regroup(&all, COL_AN_G_SERVICE, true, &svc));
	ASSERT_EQ(svc.n, 1);
	ASSERT_EQ(svc.rows[0].calls, 2); /* x server + y root */
	ASSERT_OK(col_an_regroup(&all, COL_AN_G_OPERATION, false, &ops));
	ASSERT_EQ(ops.n, 2);
	ASSERT_EQ(row(&ops, NULL, "x")->calls, 2);
	ASSERT_EQ(row(&ops, NULL, "x")->errors, 1);
	col_an_result_free(&all);
	col_an_result_free(&svc);
	col_an_result_free(&ops);
	col_an_free(a);
}

TEST(durations)
{
	uint64_t ns;
	ASSERT_OK(util_parse_duration("1.2ms", &ns));
	ASSERT_EQ(ns, 1200000);
	ASSERT_OK(util_parse_duration("2m30s", &ns));
	ASSERT_EQ(ns, 150000000000ull);
	ASSERT_OK(util_parse_duration("500us", &ns));
	ASSERT_EQ(ns, 500000);
	ASSERT_OK(util_parse_duration("3\xc2\xb5s", &ns));
	ASSERT_EQ(ns, 3000);
	ASSERT_OK(util_parse_duration("1h", &ns));
	ASSERT_EQ(ns, 3600000000000ull);
	ASSERT_OK(util_parse_duration("0", &ns));
	ASSERT_EQ(ns, 0);
	ASSERT_EQ(util_parse_duration("", &ns), -EINVAL);
	ASSERT_EQ(util_parse_duration("5", &ns), -EINVAL);
	ASSERT_EQ(util_parse_duration("ms", &ns), -EINVAL);
	ASSERT_EQ(util_parse_duration("-1s", &ns), -EINVAL);
	ASSERT_EQ(util_parse_duration("1x", &ns), -EINVAL);
	ASSERT_EQ(util_parse_duration("99999999999h", &ns), -EINVAL);
	int64_t v;
	ASSERT_OK(col_api_parse_i64("-42", &v));
	ASSERT_EQ(v, -42);
	ASSERT_EQ(col_api_parse_i64("4x", &v), -EINVAL);
	ASSERT_EQ(col_an_kind_parse("consumer"), OTLP_SPAN_KIND_CONSUMER);
	ASSERT_EQ(col_an_kind_parse("Server"), -1);
	ASSERT_STR_EQ(col_an_kind_name(OTLP_SPAN_KIND_CLIENT), "client");
}

TEST_MAIN(TEST_ENTRY(entry_spans_and_edges), TEST_ENTRY(operation_cap), TEST_ENTRY(persistence),
	  TEST_ENTRY(regroup), TEST_ENTRY(durations))
