/*
 * libtern's exporter against an independent OTLP/gRPC receiver (Python
 * grpcio, otlp_receiver.py): what arrives is decoded and compared span by
 * span; retry, RetryInfo, partial_success and a collector that is down.
 *
 * usage: integration-agent-export PATH/otlp_receiver.py [TEST]
 */
#include "harness.h"
#include "otlp_recv.h"
#include "otlp.h"
#include "tern.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_unix_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void opts_for(struct tern_options *o, struct recv *r)
{
	tern_options_default(o);
	o->endpoint = r->endpoint;
	o->service_name = "itest";
	o->sampler = TERN_SAMPLER_ALWAYS_ON;
	o->schedule_delay_ms = 100;
	o->export_timeout_ms = 2000;
	o->bsp_export_timeout_ms = 10000;
	if (getenv("TERN_UNDER_VALGRIND")) {
		o->export_timeout_ms = 20000;
		o->bsp_export_timeout_ms = 60000;
	}
}

#define TP_OK "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const char *get1(void *c, const char *name)
{
	const char *const *h = c;
	if (strcmp(name, "traceparent") == 0)
		return h[0];
	if (strcmp(name, "tracestate") == 0)
		return h[1];
	return NULL;
}

TEST(spans_arrive_span_for_span)
{
	struct recv r;
	ASSERT_OK(recv_start(&r, "ok"));
	struct tern_options o;
	opts_for(&o, &r);
	o.resource_attributes = "deployment.environment=test,service.version=1.2";
	o.headers = "x-tenant=acme,Authorization=Bearer%20tok";
	o.gzip = true;
	o.max_export_batch_size = 4; /* several requests */
	uint64_t t0 = now_unix_ns();
	ASSERT_OK(tern_init(&o));

	const char *hdrs[2] = { TP_OK, "congo=t61rcWkgMzE" };
	struct tern_context remote;
	ASSERT_OK(tern_extract(get1, (void *)hdrs, &remote));
	struct tern_span srv, db;
	tern_span_begin_ctx(&srv, "GET /items", TERN_KIND_SERVER, &remote);
	struct tern_span *prev = tern_span_make_current(&srv);
	tern_span_set_str(&srv, "http.method", "GET");
	tern_span_set_int(&srv, "http.status_code", 500);
	tern_span_set_double(&srv, "load", 0.75);
	tern_span_set_bool(&srv, "cached", false);
	tern_span_set_bytes(&srv, "blob", "\x00\x01\x02", 3);
	int64_t iv[3] = { 1, -2, 3 };
	struct tern_attr ia = { .key = "ints", .type = TERN_ATTR_INT_ARRAY };
	ia.v.array.ptr = iv;
	ia.v.array.n = 3;
	tern_span_set_attr(&srv, &ia);
	const char *sv[2] = { "a", "bc" };
	struct tern_attr sa = { .key = "strs", .type = TERN_ATTR_STRING_ARRAY };
	sa.v.array.ptr = sv;
	sa.v.array.n = 2;
	tern_span_set_attr(&srv, &sa);
	struct tern_attr ev_attr = TERN_ATTR_STR("key", "k1");
	tern_span_add_event(&srv, "cache.miss", &ev_attr, 1);

	tern_span_begin(&db, "db.query", TERN_KIND_CLIENT);
	struct tern_attr la = TERN_ATTR_INT("batch", 7);
	tern_span_add_link(&db, &remote, &la, 1);
	tern_span_record_error(&db, "Timeout", "db took too long");
	tern_span_end(&db);
	tern_span_set_status(&srv, TERN_STATUS_ERROR, "upstream failed");
	tern_span_restore_current(prev);
	tern_span_end(&srv);
	for (int i = 0; i < 10; i++) {
		struct tern_span s;
		tern_span_begin(&s, "loop", TERN_KIND_INTERNAL);
		tern_span_set_int(&s, "i", i);
		tern_span_end(&s);
	}
	uint64_t t1 = now_unix_ns();
	ASSERT_OK(tern_flush(30000));
	ASSERT_OK(tern_shutdown(30000));
	struct tern_counters c;
	tern_counters_get(&c);
	ASSERT_EQ_U(c.exported, 12);
	ASSERT_EQ_U(c.dropped, 0);
	ASSERT_EQ_U(c.export_errors, 0);

	struct otlp_batch *b = otlp_batch_new();
	int nreq = recv_load(&r, b, ".bin", NULL);
	ASSERT_GE(nreq, 3); /* batches of at most 4 */
	ASSERT_EQ_U(b->n_spans, 12);
	int cnt;
	const struct otlp_span *s = find_span(b, "GET /items", &cnt);
	ASSERT_EQ(cnt, 1);
	ASSERT_MEM_EQ(s->trace_id, remote.trace_id, 16);
	ASSERT(s->has_parent);
	ASSERT_MEM_EQ(s->parent_span_id, remote.span_id, 8);
	ASSERT_MEM_STR(s->trace_state.ptr, s->trace_state.len, "congo=t61rcWkgMzE");
	ASSERT_EQ(s->kind, OTLP_SPAN_KIND_SERVER);
	ASSERT_EQ(s->flags, 0x301); /* sampled, has-is-remote, remote parent */
	ASSERT_EQ(s->status.code, OTLP_STATUS_ERROR);
	ASSERT_MEM_STR(s->status.message.ptr, s->status.message.len, "upstream failed");
	ASSERT_GE_U(s->start_time_unix_nano, t0 - 1000000);
	ASSERT_LE_U(s->end_time_unix_nano, t1 + 1000000);
	ASSERT_LE_U(s->start_time_unix_nano, s->end_time_unix_nano);
	const struct otlp_any *v = attr(&s->attrs, "http.method");
	ASSERT(v != NULL && v->type == OTLP_VALUE_STRING);
	ASSERT_MEM_STR(v->u.str.ptr, v->u.str.len, "GET");
	v = attr(&s->attrs, "http.status_code");
	ASSERT(v != NULL && v->type == OTLP_VALUE_INT && v->u.i == 500);
	v = attr(&s->attrs, "load");
	ASSERT(v != NULL && v->type == OTLP_VALUE_DOUBLE && v->u.d == 0.75);
	v = attr(&s->attrs, "cached");
	ASSERT(v != NULL && v->type == OTLP_VALUE_BOOL && !v->u.b);
	v = attr(&s->attrs, "blob");
	ASSERT(v != NULL && v->type == OTLP_VALUE_BYTES && v->u.str.len == 3 &&
	       memcmp(v->u.str.ptr, "\x00\x01\x02", 3) == 0);
	v = attr(&s->attrs, "ints");
	ASSERT(v != NULL && v->type == OTLP_VALUE_ARRAY && v->u.array.n == 3);
	ASSERT(v->u.array.head->next->value.type == OTLP_VALUE_INT &&
	       v->u.array.head->next->value.u.i == -2);
	v = attr(&s->attrs, "strs");
	ASSERT(v != NULL && v->type == OTLP_VALUE_ARRAY && v->u.array.n == 2);
	ASSERT_MEM_STR(v->u.array.head->next->value.u.str.ptr,
		       v->u.array.head->next->value.u.str.len, "bc");
	ASSERT_EQ(s->events.n, 1);
	ASSERT_MEM_STR(s->events.head->name.ptr, s->events.head->name.len, "cache.miss");
	ASSERT_GE_U(s->events.head->time_unix_nano, s->start_time_unix_nano);
	ASSERT_LE_U(s->events.head->time_unix_nano, s->end_time_unix_nano);
	v = attr(&s->events.head->attrs, "key");
	ASSERT(v != NULL);
	ASSERT_MEM_STR(v->u.str.ptr, v->u.str.len, "k1");

	const struct otlp_span *d = find_span(b, "db.query", &cnt);
	ASSERT_EQ(cnt, 1);
	ASSERT_MEM_EQ(d->trace_id, remote.trace_id, 16);
	ASSERT_MEM_EQ(d->parent_span_id, s->span_id, 8);
	ASSERT_EQ(d->kind, OTLP_SPAN_KIND_CLIENT);
	ASSERT_EQ(d->flags, 0x101); /* local parent */
	ASSERT_EQ(d->status.code, OTLP_STATUS_ERROR);
	ASSERT_EQ(d->links.n, 1);
	ASSERT_MEM_EQ(d->links.head->span_id, remote.span_id, 8);
	ASSERT_MEM_STR(d->links.head->trace_state.ptr, d->links.head->trace_state.len,
		       "congo=t61rcWkgMzE");
	ASSERT(attr(&d->links.head->attrs, "batch") != NULL);
	ASSERT_EQ(d->events.n, 1);
	ASSERT_MEM_STR(d->events.head->name.ptr, d->events.head->name.len, "exception");
	v = attr(&d->events.head->attrs, "exception.message");
	ASSERT(v != NULL);
	ASSERT_MEM_STR(v->u.str.ptr, v->u.str.len, "db took too long");

	find_span(b, "loop", &cnt);
	ASSERT_EQ(cnt, 10);
	/* each loop span is its own root with a distinct id */
	const struct otlp_resource_spans *rs = b->resource_spans;
	v = attr(&rs->resource_attrs, "service.name");
	ASSERT(v != NULL);
	ASSERT_MEM_STR(v->u.str.ptr, v->u.str.len, "itest");
	v = attr(&rs->resource_attrs, "deployment.environment");
	ASSERT(v != NULL);
	ASSERT_MEM_STR(v->u.str.ptr, v->u.str.len, "test");
	ASSERT_MEM_STR(rs->scope_spans->scope_name.ptr, rs->scope_spans->scope_name.len, "tern");
	otlp_batch_free(b);

	char *md = NULL;
	recv_load(&r, NULL, ".md", &md);
	ASSERT(md != NULL);
	ASSERT(strstr(md, "x-tenant: acme") != NULL);
	ASSERT(strstr(md, "authorization: Bearer tok") != NULL);
	free(md);
	recv_stop(&r);
	tern_stats_reset();
}

static void record_n(const char *name, int n)
{
	for (int i = 0; i < n; i++) {
		struct tern_span s;
		tern_span_begin(&s, name, TERN_KIND_INTERNAL);
		tern_span_end(&s);
	}
}

static uint64_t spans_received(struct recv *r)
{
	struct otlp_batch *b = otlp_batch_new();
	recv_load(r, b, ".bin", NULL);
	uint64_t n = b->n_spans;
	otlp_batch_free(b);
	return n;
}

TEST(retries_unavailable_then_delivers_once)
{
	struct recv r;
	ASSERT_OK(recv_start(&r, "unavailable:2"));
	struct tern_options o;
	opts_for(&o, &r);
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	record_n("retry", 5);
	ASSERT_OK(tern_shutdown(30000));
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.exported - c0.exported, 5);
	ASSERT_GE_U(c1.export_retries - c0.export_retries, 2);
	ASSERT_EQ_U(c1.export_errors - c0.export_errors, 0);
	ASSERT_EQ_U(spans_received(&r), 5);
	recv_stop(&r);
	tern_stats_reset();
}

TEST(resource_exhausted_retried_only_with_retryinfo)
{
	struct recv r;
	ASSERT_OK(recv_start(&r, "exhausted"));
	struct tern_options o;
	opts_for(&o, &r);
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	record_n("exhausted", 3);
	ASSERT_OK(tern_shutdown(30000));
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.export_calls - c0.export_calls, 1);
	ASSERT_EQ_U(c1.export_errors - c0.export_errors, 1);
	ASSERT_EQ_U(c1.dropped - c0.dropped, 3);
	ASSERT_EQ_U(c1.exported - c0.exported, 0);
	recv_stop(&r);

	ASSERT_OK(recv_start(&r, "exhausted_retry:2"));
	opts_for(&o, &r);
	ASSERT_OK(tern_init(&o));
	tern_counters_get(&c0);
	record_n("exhausted", 3);
	ASSERT_OK(tern_shutdown(30000));
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.export_calls - c0.export_calls, 3);
	ASSERT_EQ_U(c1.exported - c0.exported, 3);
	ASSERT_EQ_U(spans_received(&r), 3);
	recv_stop(&r);
	tern_stats_reset();
}

TEST(partial_success_is_not_retried)
{
	struct recv r;
	ASSERT_OK(recv_start(&r, "partial:2"));
	struct tern_options o;
	opts_for(&o, &r);
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	record_n("partial", 5);
	ASSERT_OK(tern_shutdown(30000));
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.export_calls - c0.export_calls, 1);
	ASSERT_EQ_U(c1.rejected - c0.rejected, 2);
	ASSERT_EQ_U(c1.exported - c0.exported, 3);
	ASSERT_EQ_U(c1.export_retries - c0.export_retries, 0);
	recv_stop(&r);
	tern_stats_reset();
}

TEST(collector_down_does_not_hurt_the_application)
{
	/* a port nobody listens on: bind one, then close it */
	struct tern_options o;
	tern_options_default(&o);
	o.endpoint = "http://127.0.0.1:1";
	o.sampler = TERN_SAMPLER_ALWAYS_ON;
	o.export_timeout_ms = 200;
	o.bsp_export_timeout_ms = 500;
	o.schedule_delay_ms = 50;
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	record_n("down", 100);
	ASSERT_OK(tern_flush(getenv("TERN_UNDER_VALGRIND") ? 60000 : 10000));
	record_n("down", 100); /* recording still works */
	tern_shutdown(2000);
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.ended - c0.ended, 200);
	ASSERT_EQ_U(c1.exported - c0.exported, 0);
	ASSERT_EQ_U(c1.dropped - c0.dropped, 200);
	ASSERT_GE_U(c1.export_errors - c0.export_errors, 1);
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("down", &st)); /* local stats do not need a collector */
	ASSERT_EQ_U(st.count, 200);
	tern_stats_reset();
}


TEST(memory_delta_attributes)
{
	struct recv r;
	ASSERT_OK(recv_start(&r, "ok"));
	struct tern_options o;
	opts_for(&o, &r);
	o.memory_delta = true;
	ASSERT_OK(tern_init(&o));
	struct tern_span s;
	tern_span_begin(&s, "allocating", TERN_KIND_INTERNAL);
	size_t big = 4 << 20;
	char *p = malloc(big);
	memset(p, 1, big); /* touched: resident too */
	tern_span_end(&s);
	ASSERT_OK(tern_shutdown(30000));
	struct otlp_batch *b = otlp_batch_new();
	recv_load(&r, b, ".bin", NULL);
	int cnt;
	const struct otlp_span *sp = find_span(b, "allocating", &cnt);
	ASSERT_EQ(cnt, 1);
	const struct otlp_any *heap = attr(&sp->attrs, "tern.mem.heap_delta");
	const struct otlp_any *rss = attr(&sp->attrs, "tern.mem.rss_delta");
	ASSERT(heap != NULL && heap->type == OTLP_VALUE_INT);
	ASSERT(rss != NULL && rss->type == OTLP_VALUE_INT);
	free(p);
	/* valgrind and ASan replace malloc: then mallinfo2() sees nothing
	 * (checked here directly) and RSS moves differently */
	struct mallinfo2 m0 = mallinfo2();
	void *probe = malloc(1 << 20);
	struct mallinfo2 m1 = mallinfo2();
	free(probe);
	if (m1.uordblks + m1.hblkhd > m0.uordblks + m0.hblkhd) {
		ASSERT_GE(heap->u.i, (int64_t)big);
		ASSERT_GE(rss->u.i, (int64_t)big / 2);
	}
	otlp_batch_free(b);
	recv_stop(&r);
	tern_stats_reset();
}

TEST(tls_endpoint_with_certificate)
{
	char dir[] = "/tmp/tern-tls-XXXXXX";
	ASSERT(mkdtemp(dir) != NULL);
	char cmd[1024], cert[128], key[128];
	snprintf(cert, sizeof cert, "%s/cert.pem", dir);
	snprintf(key, sizeof key, "%s/key.pem", dir);
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
		 "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost "
		 ">/dev/null 2>&1", key, cert);
	ASSERT_OK(system(cmd));
	struct recv r;
	setenv("RECV_TLS_CERT", cert, 1);
	setenv("RECV_TLS_KEY", key, 1);
	int rc = recv_start(&r, "ok");
	unsetenv("RECV_TLS_CERT");
	unsetenv("RECV_TLS_KEY");
	ASSERT_OK(rc);
	char ep[80];
	snprintf(ep, sizeof ep, "https://127.0.0.1:%d", r.port);

	/* trusted through OTEL_EXPORTER_OTLP_CERTIFICATE: delivered */
	struct tern_options o;
	opts_for(&o, &r);
	o.endpoint = ep;
	setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", cert, 1);
	tern_options_default(&o);
	unsetenv("OTEL_EXPORTER_OTLP_CERTIFICATE");
	ASSERT_STR_EQ(o.certificate, cert);
	o.endpoint = ep;
	o.sampler = TERN_SAMPLER_ALWAYS_ON;
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	record_n("over_tls", 4);
	ASSERT_OK(tern_shutdown(30000));
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.exported - c0.exported, 4);
	ASSERT_EQ_U(spans_received(&r), 4);

	/* not trusted (the system roots do not know this certificate): refused */
	o.certificate = NULL;
	o.export_timeout_ms = 500;
	o.bsp_export_timeout_ms = 1000;
	ASSERT_OK(tern_init(&o));
	tern_counters_get(&c0);
	record_n("over_tls", 2);
	tern_shutdown(3000);
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.exported - c0.exported, 0);
	ASSERT_EQ_U(c1.dropped - c0.dropped, 2);
	ASSERT_EQ_U(spans_received(&r), 4);
	recv_stop(&r);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	tern_stats_reset();
}

TEST(shutdown_timeout_holds_during_retries)
{
	/* a collector that always answers UNAVAILABLE: the exporter keeps
	 * retrying (30 s budget); shutdown(1000) must not wait for that */
	struct recv r;
	ASSERT_OK(recv_start(&r, "unavailable:1000000"));
	struct tern_options o;
	opts_for(&o, &r);
	o.export_timeout_ms = 10000;
	o.bsp_export_timeout_ms = 30000;
	o.schedule_delay_ms = 10;
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	record_n("stuck", 3);
	/* let the exporter get into its retry loop: wait for its first retry
	 * (a fixed sleep was too short under valgrind on a loaded machine) */
	for (int i = 0; i < 600; i++) {
		tern_counters_get(&c1);
		if (c1.export_retries > c0.export_retries)
			break;
		struct timespec ms50 = { 0, 50000000 };
		nanosleep(&ms50, NULL);
	}
	ASSERT_GE_U(c1.export_retries - c0.export_retries, 1);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	int rc = tern_shutdown(1000);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double took = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	/* a bound far from both 1 s and the 30 s retry budget */
	ASSERT_LT(took * 1000, getenv("TERN_UNDER_VALGRIND") ? 20000 : 10000);
	ASSERT_EQ(rc, -ETIMEDOUT);
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.exported - c0.exported, 0);
	ASSERT_EQ_U(c1.dropped - c0.dropped, 3);
	ASSERT_GE_U(c1.export_retries - c0.export_retries, 1);
	recv_stop(&r);
	tern_stats_reset();
}

static struct test_entry tests[] = {
	TEST_ENTRY(spans_arrive_span_for_span),
	TEST_ENTRY(retries_unavailable_then_delivers_once),
	TEST_ENTRY(resource_exhausted_retried_only_with_retryinfo),
	TEST_ENTRY(partial_success_is_not_retried),
	TEST_ENTRY(collector_down_does_not_hurt_the_application),
	TEST_ENTRY(memory_delta_attributes),
	TEST_ENTRY(tls_endpoint_with_certificate),
	TEST_ENTRY(shutdown_timeout_holds_during_retries),
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s otlp_receiver.py [TEST]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	recv_script = argv[1];
	return test__run(tests, sizeof tests / sizeof tests[0], argc - 1, argv + 1);
}
