/*
 * examples/shop end to end: three services (gateway -> inventory ->
 * pricing) as separate processes, each exporting with libtern to an
 * independent OTLP receiver. Every request must give exactly one connected
 * trace of five spans, with the right services, kinds and parents.
 *
 * usage: integration-agent-examples otlp_receiver.py path/to/shop
 */
#include "harness.h"
#include "otlp_recv.h"
#include "ternd_proc.h"
#include "util/hex.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *shop;

struct svc {
	pid_t pid;
	int port;
};

static int svc_start(struct svc *s, const char *role, const char *endpoint, int next_port)
{
	int out[2];
	if (pipe(out) != 0)
		return -errno;
	s->pid = fork();
	if (s->pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint, 1);
		setenv("OTEL_BSP_SCHEDULE_DELAY", "100", 1);
		setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on", 1);
		char next[64];
		snprintf(next, sizeof next, "127.0.0.1:%d", next_port);
		if (next_port)
			execl(shop, "shop", role, "--next", next, (char *)NULL);
		else
			execl(shop, "shop", role, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	char line[64];
	size_t n = 0;
	int timeout = getenv("TERN_UNDER_VALGRIND") ? 200000 : 20000;
	while (n < sizeof line - 1) {
		struct pollfd p = { out[0], POLLIN, 0 };
		if (poll(&p, 1, timeout) <= 0 || read(out[0], line + n, 1) != 1 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	return sscanf(line, "listening %d", &s->port) == 1 ? 0 : -EIO;
}

static int svc_stop(struct svc *s)
{
	int st;
	kill(s->pid, SIGTERM);
	if (waitpid(s->pid, &st, 0) != s->pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One request to the gateway; the response body into body. */
static int request(int port, const char *traceparent, char *body, size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	char req[256];
	int n = snprintf(req, sizeof req, "GET /item/3 HTTP/1.1\r\nHost: shop\r\n%s%s%s\r\n",
			 traceparent ? "traceparent: " : "", traceparent ? traceparent : "",
			 traceparent ? "\r\n" : "");
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	char buf[4096];
	size_t len = 0;
	ssize_t k;
	while (len < sizeof buf - 1 && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
		len += (size_t)k;
	close(fd);
	buf[len] = '\0';
	int status = 0;
	sscanf(buf, "HTTP/1.1 %d", &status);
	const char *b = strstr(buf, "\r\n\r\n");
	snprintf(body, cap, "%s", b ? b + 4 : "");
	return status;
}

struct found {
	const struct otlp_span *s;
	const char *svc;
};

static const char *service_of(const struct otlp_resource_spans *rs)
{
	static char name[64];
	const struct otlp_any *v = attr(&rs->resource_attrs, "service.name");
	if (v == NULL || v->type != OTLP_VALUE_STRING || v->u.str.len >= sizeof name)
		return "";
	memcpy(name, v->u.str.ptr, v->u.str.len);
	name[v->u.str.len] = '\0';
	return name;
}

#define NREQ 5
#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

TEST(one_connected_trace_per_request)
{
	struct recv r;
	ASSERT_OK(recv_start(&r, "ok"));
	struct svc pricing, inventory, gateway;
	ASSERT_OK(svc_start(&pricing, "pricing", r.endpoint, 0));
	ASSERT_OK(svc_start(&inventory, "inventory", r.endpoint, pricing.port));
	ASSERT_OK(svc_start(&gateway, "gateway", r.endpoint, inventory.port));
	char body[512];
	for (int i = 0; i < NREQ; i++) {
		ASSERT_EQ(request(gateway.port, NULL, body, sizeof body), 200);
		ASSERT_STR_EQ(body, "gateway(inventory(price=121))");
	}
	/* a caller that is itself traced: its trace continues */
	ASSERT_EQ(request(gateway.port, TP, body, sizeof body), 200);
	ASSERT_OK(svc_stop(&gateway));
	ASSERT_OK(svc_stop(&inventory));
	ASSERT_OK(svc_stop(&pricing));

	struct otlp_batch *b = otlp_batch_new();
	ASSERT_GE(recv_load(&r, b, ".bin", NULL), 1);
	ASSERT_EQ_U(b->n_spans, (NREQ + 1) * 5);
	/* collect spans with their service */
	struct found f[64];
	int n = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		const char *svc = service_of(rs);
		char *copy = strdup(svc);
		otlp_batch_attach(b, copy, free);
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *s = ss->spans; s && n < 64; s = s->next)
				f[n++] = (struct found){ s, copy };
	}
	ASSERT_EQ(n, (NREQ + 1) * 5);
	int roots = 0, continued = 0;
	for (int i = 0; i < n; i++) {
		if (!(f[i].s->kind == OTLP_SPAN_KIND_SERVER && strcmp(f[i].svc, "shop-gateway") == 0))
			continue;
		/* walk the chain down from this gateway SERVER span */
		const struct otlp_span *cur = f[i].s;
		if (!cur->has_parent) {
			roots++;
		} else {
			uint8_t tid[16];
			ASSERT_OK(util_hex_decode(tid, 16, TP + 3, 32));
			ASSERT_MEM_EQ(cur->trace_id, tid, 16);
			continued++;
		}
		static const struct {
			const char *svc;
			enum otlp_span_kind kind;
		} chain[4] = {
			{ "shop-gateway", OTLP_SPAN_KIND_CLIENT },
			{ "shop-inventory", OTLP_SPAN_KIND_SERVER },
			{ "shop-inventory", OTLP_SPAN_KIND_CLIENT },
			{ "shop-pricing", OTLP_SPAN_KIND_SERVER },
		};
		for (int step = 0; step < 4; step++) {
			const struct otlp_span *child = NULL;
			int kids = 0;
			for (int j = 0; j < n; j++) {
				const struct otlp_span *s = f[j].s;
				if (s->has_parent && memcmp(s->trace_id, cur->trace_id, 16) == 0 &&
				    memcmp(s->parent_span_id, cur->span_id, 8) == 0) {
					kids++;
					child = s;
					ASSERT_STR_EQ(f[j].svc, chain[step].svc);
				}
			}
			ASSERT_EQ(kids, 1);
			ASSERT_EQ(child->kind, chain[step].kind);
			ASSERT_LE_U(cur->start_time_unix_nano, child->start_time_unix_nano + 1000000);
			cur = child;
		}
		ASSERT_EQ(cur->status.code, OTLP_STATUS_UNSET);
	}
	ASSERT_EQ(roots, NREQ);
	ASSERT_EQ(continued, 1);
	otlp_batch_free(b);
	recv_stop(&r);
}

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
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return NULL;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t k;
	while (len < cap - 1 && (k = read(fd, buf + len, cap - 1 - len)) > 0)
		len += (size_t)k;
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

TEST(shop_against_real_ternd)
{
	if (getenv("TERND") == NULL) {
		fprintf(stderr, "TERND not set: skipping the ternd half\n");
		return;
	}
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	char ep[160];
	snprintf(ep, sizeof ep, "http://%s", p.grpc_addr);
	struct svc pricing, inventory, gateway;
	ASSERT_OK(svc_start(&pricing, "pricing", ep, 0));
	ASSERT_OK(svc_start(&inventory, "inventory", ep, pricing.port));
	ASSERT_OK(svc_start(&gateway, "gateway", ep, inventory.port));
	char body[512];
	for (int i = 0; i < NREQ; i++)
		ASSERT_EQ(request(gateway.port, NULL, body, sizeof body), 200);
	ASSERT_OK(svc_stop(&gateway));
	ASSERT_OK(svc_stop(&inventory));
	ASSERT_OK(svc_stop(&pricing));
	/* every service flushed on SIGTERM; ternd acknowledged all of them */
	char *m = http_get(p.query_addr, "/metrics");
	ASSERT(m != NULL);
	ASSERT_EQ(metric(m, "ternd_spans_accepted_total"), NREQ * 5);
	free(m);
	ASSERT_OK(ternd_proc_stop(&p));
}

static struct test_entry tests[] = { TEST_ENTRY(one_connected_trace_per_request),
				       TEST_ENTRY(shop_against_real_ternd) };

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s otlp_receiver.py shop [TEST]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	recv_script = argv[1];
	shop = argv[2];
	return test__run(tests, sizeof tests / sizeof tests[0], argc - 2, argv + 2);
}
