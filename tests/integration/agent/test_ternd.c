/*
 * libtern against the real ternd: spans from several threads are exported
 * over OTLP/gRPC, acknowledged (durable, per ternd's contract), and ternd's
 * /metrics counts exactly what the agent says it exported. Then ternd is
 * stopped under the agent and the application carries on.
 */
#include "harness.h"
#include "tern.h"
#include "ternd_proc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

/* GET path from addr (HOST:PORT) over HTTP/1.0; the body is returned
 * malloc'ed, or NULL. */
static char *http_get(const char *addr, const char *path)
{
	char host[128];
	int port;
	if (ternd_proc_split_addr(addr, host, sizeof host, &port) != 0)
		return NULL;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return NULL;
	}
	char req[256];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t k;
	while ((k = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)k;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

static long long metric(const char *text, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = text; (p = strstr(p, name)) != NULL; p += n)
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
	return -1;
}

#define PER_THREAD 250

static void *worker(void *arg)
{
	for (int i = 0; i < PER_THREAD; i++) {
		struct tern_span req, child;
		tern_span_begin(&req, "itest.request", TERN_KIND_SERVER);
		tern_span_set_int(&req, "i", i);
		tern_span_begin(&child, "itest.child", TERN_KIND_INTERNAL);
		tern_span_add_event(&child, "step", NULL, 0);
		tern_span_end(&child);
		tern_span_end(&req);
	}
	return NULL;
}

TEST(export_to_real_ternd)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	struct tern_options o;
	tern_options_default(&o);
	char ep[160];
	snprintf(ep, sizeof ep, "http://%s", p.grpc_addr);
	o.endpoint = ep;
	o.service_name = "itest-ternd";
	o.sampler = TERN_SAMPLER_ALWAYS_ON;
	o.schedule_delay_ms = 200;
	o.bsp_export_timeout_ms = getenv("TERN_UNDER_VALGRIND") ? 120000 : 30000;
	o.export_timeout_ms = o.bsp_export_timeout_ms;
	ASSERT_OK(tern_init(&o));
	struct tern_counters c0, c1;
	tern_counters_get(&c0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		ASSERT_OK(pthread_create(&t[i], NULL, worker, NULL));
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ASSERT_OK(tern_flush(o.bsp_export_timeout_ms));
	tern_counters_get(&c1);
	uint64_t want = 4 * PER_THREAD * 2;
	ASSERT_EQ_U(c1.exported - c0.exported, want);
	ASSERT_EQ_U(c1.dropped - c0.dropped, 0);
	ASSERT_EQ_U(c1.rejected - c0.rejected, 0);
	char *m = http_get(p.query_addr, "/metrics");
	ASSERT(m != NULL);
	ASSERT_EQ(metric(m, "ternd_spans_received_total"), (long long)want);
	ASSERT_EQ(metric(m, "ternd_spans_accepted_total"), (long long)want);
	free(m);

	/* the collector goes away: recording carries on, export fails, counted */
	ASSERT_OK(ternd_proc_stop(&p));
	tern_counters_get(&c0);
	for (int i = 0; i < 10; i++) {
		struct tern_span s;
		tern_span_begin(&s, "after_stop", TERN_KIND_INTERNAL);
		tern_span_end(&s);
	}
	tern_shutdown(1000);
	tern_counters_get(&c1);
	ASSERT_EQ_U(c1.ended - c0.ended, 10);
	ASSERT_EQ_U(c1.exported - c0.exported, 0);
	ASSERT_EQ_U(c1.dropped - c0.dropped, 10);
	struct tern_stats st;
	ASSERT_OK(tern_stats_get("itest.request", &st));
	ASSERT_EQ_U(st.count, 4 * PER_THREAD);
}

TEST_MAIN(TEST_ENTRY(export_to_real_ternd))
