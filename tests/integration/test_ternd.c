/*
 * Integration tests: the real ternd process, driven over OTLP/gRPC (gRPC C
 * core client), OTLP/HTTP and the query API, the way users' programs do.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <zlib.h>

#include "capture.h"
#include "get_json.h"
#include "gzip.h"
#include "harness.h"
#include "httpc.h"
#include "load/load.h"
#include "otlp.h"
#include "otlp_grpc_client.h"
#include "ternd_proc.h"

extern char **environ;

static bool under_valgrind(void)
{
	const char *v = getenv("TERN_UNDER_VALGRIND");
	return v && strcmp(v, "1") == 0;
}

static double timeout_s(void)
{
	return under_valgrind() ? 120 : 15;
}

/* Reads one sample from /metrics ("name" or "name{labels}"); -1 if absent. */
static int64_t metric(const struct ternd_proc *p, const char *sample)
{
	struct col_hclient c;
	int status;
	char *body;
	size_t len;
	if (col_hclient_init(&c, p->query_addr) != 0)
		return -2;
	int r = col_hclient_request(&c, "GET", "/metrics", NULL, NULL, 0, 30000, &status, NULL,
				    &body, &len);
	col_hclient_close(&c);
	if (r != 0 || status != 200)
		return -3;
	int64_t v = -1;
	size_t sl = strlen(sample);
	for (char *line = body; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, sample, sl) == 0 && line[sl] == ' ') {
			v = strtoll(line + sl + 1, NULL, 10);
			break;
		}
	}
	free(body);
	return v;
}

/* Polls a metric until it equals want (answers can trail the last reply). */
static int64_t wait_metric(const struct ternd_proc *p, const char *sample, int64_t want)
{
	int64_t v = -1;
	for (int i = 0; i < 500; i++) {
		v = metric(p, sample);
		if (v == want)
			break;
		usleep(10000);
	}
	return v;
}

struct http_result {
	int status;
	char *headers;
	char *body;
	size_t len;
};

static int http_post(const char *addr, const char *ctype, const char *encoding,
		     const void *body, size_t len, struct http_result *out)
{
	struct col_hclient c;
	char hdrs[256];
	snprintf(hdrs, sizeof(hdrs), "Content-Type: %s\r\n%s%s%s", ctype,
		 encoding ? "Content-Encoding: " : "", encoding ? encoding : "",
		 encoding ? "\r\n" : "");
	if (col_hclient_init(&c, addr) != 0)
		return -EINVAL;
	int r = col_hclient_request(&c, "POST", "/v1/traces", hdrs, body, len, 30000,
				    &out->status, &out->headers, &out->body, &out->len);
	col_hclient_close(&c);
	return r;
}

static void http_result_free(struct http_result *r)
{
	free(r->headers);
	free(r->body);
}


/* 8 MiB of zeros, gzip'ed (about 8 KiB): a small gzip bomb. */
static uint8_t *gzip_bomb(size_t *glen)
{
	return test_gzip_zeros(8u << 20, glen);
}

static int request(unsigned n, uint64_t seed, uint8_t **buf, size_t *len)
{
	return col_load_request(n, "itest", seed, buf, len);
}

TEST(grpc_export_ok_and_metrics)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	uint8_t *req;
	size_t len;
	ASSERT_OK(request(10, 1, &req, &len));
	struct otlp_grpc_result res;
	int r = otlp_grpc_export(p.grpc_addr, req, len, false, timeout_s(), &res);
	free(req);
	ASSERT_OK(r);
	ASSERT_EQ(res.status, 0);
	ASSERT_TRUE(res.got_message);
	ASSERT_EQ_U(res.message_len, 0); /* partial_success unset */
	ASSERT_EQ(metric(&p, "ternd_spans_received_total"), 10);
	ASSERT_EQ(metric(&p, "ternd_spans_accepted_total"), 10);
	ASSERT_EQ(metric(&p, "ternd_bytes_received_total"), (int64_t)len);
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"grpc\",outcome=\"ok\"}"), 1);
	ASSERT_EQ(metric(&p, "ternd_memory_bytes"), 0);
	ASSERT_EQ(metric(&p, "ternd_queue_depth"), 0);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST(grpc_gzip)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	uint8_t *req;
	size_t len;
	ASSERT_OK(request(300, 2, &req, &len));
	struct otlp_grpc_result res;
	int r = otlp_grpc_export(p.grpc_addr, req, len, true, timeout_s(), &res);
	free(req);
	ASSERT_OK(r);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(metric(&p, "ternd_spans_accepted_total"), 300);
	/* bytes_received counts the request as on the wire (compressed). */
	int64_t wire = metric(&p, "ternd_bytes_received_total");
	ASSERT_TRUE(wire > 0 && wire < (int64_t)len);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST(grpc_bad_span_is_rejected_neighbours_accepted)
{
	static const char *const args[] = { "--max-attrs-per-span", "8", NULL };
	struct ternd_opts_holder {
		struct ternd_proc_opts o;
	} h = { { .args = args } };
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, &h.o));
	/* Five spans of 8 attributes, but the third has a 9th: over the limit. */
	struct otlp_builder bd;
	ASSERT_OK(otlp_builder_init(&bd));
	ASSERT_OK(otlp_build_resource(&bd, "itest"));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t t0 = (uint64_t)now.tv_sec * 1000000000ull - 1000000000ull;
	for (int i = 0; i < 5; i++) {
		uint8_t tid[16] = { 0x4b, 0x03 }, sid[8] = { 0x80, (uint8_t)(i + 1) };
		ASSERT_OK(otlp_build_span(&bd, tid, sid, NULL, "GET /", OTLP_SPAN_KIND_SERVER,
					  t0 + (uint64_t)i * 1000, t0 + (uint64_t)i * 1000 + 500));
		for (int k = 0; k < 8; k++) {
			char key[16];
			snprintf(key, sizeof key, "attr.%d", k);
			ASSERT_OK(otlp_build_int(&bd, OTLP_TO_SPAN, key, k));
		}
		if (i == 2)
			ASSERT_OK(otlp_build_bool(&bd, OTLP_TO_SPAN, "extra", true));
	}
	struct otlp_batch *b = otlp_builder_take(&bd);
	ASSERT_TRUE(b != NULL);
	uint8_t *req;
	size_t len;
	ASSERT_OK(otlp_encode_proto(b, &req, &len));
	otlp_batch_free(b);
	struct otlp_grpc_result res;
	int r = otlp_grpc_export(p.grpc_addr, req, len, false, timeout_s(), &res);
	free(req);
	ASSERT_OK(r);
	ASSERT_EQ(res.status, 0);
	ASSERT_TRUE(res.got_message);
	ASSERT_EQ(res.resp.rejected_spans, 1);
	ASSERT_GT(strlen(res.resp.error_message), 0);
	ASSERT_EQ(metric(&p, "ternd_spans_received_total"), 5);
	ASSERT_EQ(metric(&p, "ternd_spans_accepted_total"), 4);
	ASSERT_EQ(metric(&p, "ternd_spans_rejected_total"), 1);
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"grpc\",outcome=\"partial\"}"), 1);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST(grpc_garbage_and_oversize)
{
	static const char *const args[] = { "--max-request-bytes", "20000", NULL };
	struct ternd_proc_opts o = { .args = args };
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, &o));
	struct otlp_grpc_result res;
	static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02 };
	ASSERT_OK(otlp_grpc_export(p.grpc_addr, garbage, sizeof(garbage), false, timeout_s(), &res));
	ASSERT_EQ(res.status, 3); /* INVALID_ARGUMENT */
	ASSERT_GT(strlen(res.details), 0);
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"grpc\",outcome=\"invalid\"}"), 1);

	uint8_t *req;
	size_t len;
	ASSERT_OK(request(200, 4, &req, &len));
	ASSERT_GT(len, 20000);
	int r = otlp_grpc_export(p.grpc_addr, req, len, false, timeout_s(), &res);
	free(req);
	ASSERT_OK(r);
	ASSERT_EQ(res.status, 8); /* RESOURCE_EXHAUSTED: over the max message size */
	/* HTTP: a gzip body that inflates past the max request size: 413
	 * (what it is: not retried). */
	size_t glen;
	uint8_t *bomb = gzip_bomb(&glen);
	struct http_result hr;
	r = http_post(p.http_addr, "application/x-protobuf", "gzip", bomb, glen, &hr);
	free(bomb);
	ASSERT_OK(r);
	ASSERT_EQ(hr.status, 413);
	http_result_free(&hr);
	/* A request within the limit still works afterwards. */
	ASSERT_OK(request(5, 5, &req, &len));
	r = otlp_grpc_export(p.grpc_addr, req, len, false, timeout_s(), &res);
	free(req);
	ASSERT_OK(r);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST(grpc_memory_limit_refuses_then_recovers)
{
	/* The codec's arena grows in chunks from 64 KiB: 512 KiB takes a small
	 * batch but not 512 spans (refused after decoding, when the real size
	 * is known) nor 2000 (refused before decoding, from the payload size). */
	static const char *const args[] = { "--memory-limit", "512KiB", NULL };
	struct ternd_proc_opts o = { .args = args };
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, &o));
	struct otlp_grpc_result res;
	uint8_t *req;
	size_t len;
	static const unsigned sizes[] = { 2000, 512 };
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(request(sizes[i], 6, &req, &len));
		int r = otlp_grpc_export(p.grpc_addr, req, len, false, timeout_s(), &res);
		free(req);
		ASSERT_OK(r);
		/* Load, not the request: RESOURCE_EXHAUSTED with RetryInfo. */
		ASSERT_EQ(res.status, 8);
		ASSERT_EQ(res.retry_ms, 1000);
		ASSERT_TRUE(strstr(res.details, "memory limit") != NULL);
		ASSERT_EQ(metric(&p, "ternd_memory_bytes"), 0);
	}
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"grpc\",outcome=\"refused\"}"), 2);
	ASSERT_EQ(metric(&p, "ternd_spans_refused_total"), 0); /* 512 were decoded, not queued */
	ASSERT_OK(request(10, 7, &req, &len));
	int r = otlp_grpc_export(p.grpc_addr, req, len, false, timeout_s(), &res);
	free(req);
	ASSERT_OK(r);
	ASSERT_EQ(res.status, 0);
	ASSERT_EQ(metric(&p, "ternd_spans_accepted_total"), 10);
	ASSERT_EQ(metric(&p, "ternd_memory_limit_bytes"), 512 * 1024);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST(http_protobuf_json_gzip)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	struct http_result hr;
	uint8_t *req;
	size_t len;

	ASSERT_OK(request(20, 8, &req, &len));
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", NULL, req, len, &hr));
	ASSERT_EQ(hr.status, 200);
	ASSERT_TRUE(strstr(hr.headers, "content-type: application/x-protobuf") != NULL);
	ASSERT_EQ_U(hr.len, 0); /* empty ExportTraceServiceResponse */
	http_result_free(&hr);

	size_t glen;
	uint8_t *g = test_gzip(req, len, &glen);
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", "gzip", g, glen, &hr));
	ASSERT_EQ(hr.status, 200);
	http_result_free(&hr);
	free(g);
	free(req);

	struct otlp_batch *b = col_load_batch(7, "itest-json", 9);
	char *json;
	size_t jlen;
	ASSERT_OK(otlp_encode_json(b, &json, &jlen));
	otlp_batch_free(b);
	ASSERT_OK(http_post(p.http_addr, "application/json; charset=utf-8", NULL, json, jlen, &hr));
	ASSERT_EQ(hr.status, 200);
	ASSERT_TRUE(strstr(hr.headers, "content-type: application/json") != NULL);
	ASSERT_STR_EQ(hr.body, "{}");
	http_result_free(&hr);
	g = test_gzip(json, jlen, &glen);
	ASSERT_OK(http_post(p.http_addr, "application/json", "gzip", g, glen, &hr));
	ASSERT_EQ(hr.status, 200);
	http_result_free(&hr);
	free(g);
	free(json);

	ASSERT_EQ(metric(&p, "ternd_spans_accepted_total"), 54);
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"http\",outcome=\"ok\"}"), 4);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST(http_errors_400_415_503)
{
	static const char *const args[] = { "--memory-limit", "512KiB", NULL };
	struct ternd_proc_opts o = { .args = args };
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, &o));
	struct http_result hr;

	/* 400, protobuf google.rpc.Status{code=3, message=...} */
	static const uint8_t garbage[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 };
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", NULL, garbage,
			    sizeof(garbage), &hr));
	ASSERT_EQ(hr.status, 400);
	ASSERT_GT(hr.len, 4);
	ASSERT_EQ((uint8_t)hr.body[0], 0x08);
	ASSERT_EQ((uint8_t)hr.body[1], 3);
	ASSERT_EQ((uint8_t)hr.body[2], 0x12);
	ASSERT_EQ_U((uint8_t)hr.body[3], hr.len - 4);
	http_result_free(&hr);

	/* 400 in JSON */
	ASSERT_OK(http_post(p.http_addr, "application/json", NULL, "{\"resourceSpans\": [", 19, &hr));
	ASSERT_EQ(hr.status, 400);
	ASSERT_TRUE(strncmp(hr.body, "{\"code\":3,\"message\":\"", 21) == 0);
	ASSERT_GT(hr.len, 24);
	http_result_free(&hr);

	/* gzip that is not gzip */
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", "gzip", "nope", 4, &hr));
	ASSERT_EQ(hr.status, 400);
	http_result_free(&hr);

	/* 415 */
	ASSERT_OK(http_post(p.http_addr, "text/plain", NULL, "hi", 2, &hr));
	ASSERT_EQ(hr.status, 415);
	http_result_free(&hr);
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", "br", "hi", 2, &hr));
	ASSERT_EQ(hr.status, 415);
	http_result_free(&hr);

	/* 429 with Retry-After when the memory limit would be passed (load) */
	uint8_t *req;
	size_t len;
	ASSERT_OK(request(2000, 10, &req, &len));
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", NULL, req, len, &hr));
	free(req);
	ASSERT_EQ(hr.status, 429);
	ASSERT_TRUE(strstr(hr.headers, "retry-after: ") != NULL ||
		    strstr(hr.headers, "Retry-After: ") != NULL);
	http_result_free(&hr);

	/* A gzip bomb under a small memory limit: refused while inflating. */
	size_t glen;
	uint8_t *bomb = gzip_bomb(&glen);
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", "gzip", bomb, glen, &hr));
	free(bomb);
	ASSERT_EQ(hr.status, 429);
	http_result_free(&hr);
	ASSERT_EQ(metric(&p, "ternd_memory_bytes"), 0);

	/* ...and it recovers. */
	ASSERT_OK(request(10, 11, &req, &len));
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", NULL, req, len, &hr));
	free(req);
	ASSERT_EQ(hr.status, 200);
	http_result_free(&hr);

	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"http\",outcome=\"invalid\"}"), 5);
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"http\",outcome=\"refused\"}"), 2);
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"http\",outcome=\"ok\"}"), 1);
	ASSERT_EQ(metric(&p, "ternd_memory_bytes"), 0);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST(healthz_and_404)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	struct col_hclient c;
	int status;
	char *body;
	size_t len;
	ASSERT_OK(col_hclient_init(&c, p.query_addr));
	ASSERT_OK(col_hclient_request(&c, "GET", "/healthz", NULL, NULL, 0, 30000, &status, NULL,
				      &body, &len));
	ASSERT_EQ(status, 200);
	ASSERT_STR_EQ(body, "{\"status\":\"ok\"}\n");
	free(body);
	ASSERT_OK(col_hclient_request(&c, "GET", "/nope", NULL, NULL, 0, 30000, &status, NULL,
				      &body, &len));
	ASSERT_EQ(status, 404);
	free(body);
	col_hclient_close(&c);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

/* A script may send SIGTERM as soon as it has read the listening lines:
 * that must already be a clean stop (exit 0), never death by signal. */
TEST(sigterm_right_after_listening)
{
	for (int i = 0; i < 5; i++) {
		struct ternd_proc p;
		ASSERT_OK(ternd_proc_start(&p, NULL));
		ASSERT_EQ(ternd_proc_stop(&p), 0);
	}
}

TEST(concurrent_clients)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	struct col_load_opts o = { .target = p.grpc_addr, .streams = 16, .connections = 4,
				   .spans_per_req = 100, .requests = 80,
				   .call_timeout_s = timeout_s() };
	struct col_load_result res;
	ASSERT_OK(col_load_run(&o, &res));
	ASSERT_EQ_U(res.acked, 80);
	ASSERT_EQ_U(res.failed + res.refused, 0);
	ASSERT_EQ(metric(&p, "ternd_spans_accepted_total"), 8000);
	ASSERT_EQ(metric(&p, "ternd_requests_total{protocol=\"grpc\",outcome=\"ok\"}"), 80);
	ASSERT_EQ(metric(&p, "ternd_queue_depth"), 0);
	ASSERT_EQ(metric(&p, "ternd_memory_bytes"), 0);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

struct load_thread {
	struct col_load_opts o;
	struct col_load_result res;
	int ret;
};

static void *run_load(void *arg)
{
	struct load_thread *t = arg;
	t->ret = col_load_run(&t->o, &t->res);
	return NULL;
}

TEST(sigterm_during_load)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	struct load_thread t = { .o = { .target = p.grpc_addr, .streams = 8, .connections = 2,
					.spans_per_req = 200, .seconds = 3,
					.call_timeout_s = 10 } };
	pthread_t th;
	ASSERT_OK(pthread_create(&th, NULL, run_load, &t));
	usleep(under_valgrind() ? 3000000 : 700000);
	ASSERT_OK(ternd_proc_signal(&p, SIGTERM));
	int st = ternd_proc_wait(&p, under_valgrind() ? 600 : 60);
	pthread_join(th, NULL);
	ASSERT_EQ(st, 0);
	ASSERT_OK(t.ret);
	ASSERT_GT(t.res.acked, 0);
	/* Every call got an answer: acked, or a retryable status (UNAVAILABLE
	 * while draining and at a closed port; CANCELLED from gRPC core for
	 * streams racing the server shutdown, which ternd never took). */
	if (t.res.failed)
		fprintf(stderr, "last failure: status %d: %s\n", t.res.last_status,
			t.res.last_error);
	ASSERT_EQ_U(t.res.failed, 0);
	ASSERT_EQ_U(t.res.acked + t.res.refused, t.res.sent);
	/* What ternd accepted is exactly what the client saw acked: no
	 * accepted call went unanswered. */
	unsigned long long accepted = 0;
	ASSERT_EQ(sscanf(p.final_output, "stopped accepted_spans %llu", &accepted), 1);
	ASSERT_EQ_U(accepted, t.res.spans_acked);
}

static int run_ternd_status(char *const argv[], char *const envp[])
{
	pid_t pid;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
	int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0)
		return -r;
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

TEST(config_file_env_flags)
{
	char path[] = "/tmp/ternd-itest-XXXXXX";
	int fd = mkstemp(path);
	ASSERT_GE(fd, 0);
	const char *yaml = "otlp-grpc: 127.0.0.1:0\n"
			   "otlp-http: 127.0.0.1:0\n"
			   "query: 127.0.0.1:0\n"
			   "memory-limit: 3MiB\n"
			   "max-queued-batches: 77\n";
	ASSERT_EQ(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);

	/* file only */
	char dataflag[300];
	struct ternd_proc p;
	const char *args1[] = { "--config", path, "--data", "/tmp", NULL };
	struct ternd_proc_opts o = { .args = args1, .no_default_args = true };
	ASSERT_OK(ternd_proc_start(&p, &o));
	ASSERT_EQ(metric(&p, "ternd_memory_limit_bytes"), 3 << 20);
	ASSERT_EQ(ternd_proc_stop(&p), 0);

	/* env beats file */
	const char *env2[] = { "TERND_MEMORY_LIMIT=2MiB", NULL };
	o.env = env2;
	ASSERT_OK(ternd_proc_start(&p, &o));
	ASSERT_EQ(metric(&p, "ternd_memory_limit_bytes"), 2 << 20);
	ASSERT_EQ(ternd_proc_stop(&p), 0);

	/* flag beats env */
	const char *args3[] = { "--config", path, "--data", "/tmp", "--memory-limit", "1MiB", NULL };
	o.args = args3;
	ASSERT_OK(ternd_proc_start(&p, &o));
	ASSERT_EQ(metric(&p, "ternd_memory_limit_bytes"), 1 << 20);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
	(void)dataflag;

	/* Config errors: exit 2. */
	char *bin = getenv("TERND");
	char *bad1[] = { bin, "--memory-limit", "huge", NULL };
	ASSERT_EQ(run_ternd_status(bad1, environ), 2);
	char *bad2[] = { bin, "--config", "/nonexistent.yaml", NULL };
	ASSERT_EQ(run_ternd_status(bad2, environ), 2);
	char *help[] = { bin, "--help", NULL };
	ASSERT_EQ(run_ternd_status(help, environ), 0);
	unlink(path);

	/* A port in use is an error (exit 1), not a shared port. */
	ASSERT_OK(ternd_proc_start(&p, NULL));
	char *busy[] = { bin, "--otlp-grpc", p.grpc_addr, "--otlp-http", "127.0.0.1:0",
			 "--query", "127.0.0.1:0", "--sink", "null", NULL };
	ASSERT_EQ(run_ternd_status(busy, environ), 1);
	char *busy2[] = { bin, "--otlp-grpc", "127.0.0.1:0", "--otlp-http", p.http_addr,
			  "--query", "127.0.0.1:0", "--sink", "null", NULL };
	ASSERT_EQ(run_ternd_status(busy2, environ), 1);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}


TEST(tern_cli_health_and_load)
{
	char *tern = getenv("TERN");
	ASSERT_TRUE(tern != NULL);
	char out[4096];
	char *help[] = { tern, "--help", NULL };
	ASSERT_EQ(test_run_capture(help, false, out, sizeof(out)), 0);
	ASSERT_TRUE(strstr(out, "usage: tern") != NULL);

	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	char *health[] = { tern, "health", "--addr", p.query_addr, NULL };
	ASSERT_EQ(test_run_capture(health, false, out, sizeof(out)), 0);
	ASSERT_STR_EQ(out, "200 {\"status\":\"ok\"}\n");
	char *load[] = { tern, "load", "--target", p.grpc_addr, "--requests", "3", "--spans", "10",
			 "--streams", "2", NULL };
	ASSERT_EQ(test_run_capture(load, false, out, sizeof(out)), 0);
	ASSERT_TRUE(strstr(out, "sent 3 requests (30 spans)") != NULL);
	ASSERT_TRUE(strstr(out, "acked 3, refused 0, failed 0; spans acked 30, rejected 0") != NULL);
	ASSERT_EQ(wait_metric(&p, "ternd_spans_accepted_total", 30), 30);
	/* The load is realistic enough to query: its spans happen now and no
	 * two requests share a trace (10 spans, a root every 8: 2 traces per
	 * request, 6 in all, none with repeated spans). */
	int status;
	json_object *res = test_get_json(p.query_addr,
					 "/api/traces?service=tern-load&lookback=1h&limit=100", &status);
	ASSERT_EQ(status, 200);
	json_object *data = NULL;
	ASSERT_TRUE(json_object_object_get_ex(res, "data", &data));
	size_t ntraces = json_object_array_length(data), nspans = 0;
	for (size_t i = 0; i < ntraces; i++) {
		json_object *spans = NULL;
		json_object_object_get_ex(json_object_array_get_idx(data, i), "spans", &spans);
		nspans += json_object_array_length(spans);
	}
	json_object_put(res);
	ASSERT_EQ(ntraces, 6);
	ASSERT_EQ(nspans, 30);
	char query[128];
	snprintf(query, sizeof(query), "%s", p.query_addr);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
	/* Nothing listens there any more. */
	char *down[] = { tern, "health", "--addr", query, NULL };
	ASSERT_EQ(test_run_capture(down, false, out, sizeof(out)), 1);
}

/* Clients that send a request and go away before the answer. */
TEST(http_client_gone_before_ack)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	char host[64];
	int port;
	ASSERT_OK(ternd_proc_split_addr(p.http_addr, host, sizeof(host), &port));
	uint8_t *req;
	size_t len;
	ASSERT_OK(request(512, 12, &req, &len));
	/* JSON bodies decode on the thread pool: the client can be gone by
	 * the time the decode finishes. */
	struct otlp_batch *jb = col_load_batch(2000, "gone", 13);
	char *json;
	size_t jlen;
	ASSERT_OK(otlp_encode_json(jb, &json, &jlen));
	otlp_batch_free(jb);
	for (int i = 0; i < 24; i++) {
		bool is_json = i % 4 == 3;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		ASSERT_GE(fd, 0);
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, host, &sa.sin_addr);
		ASSERT_OK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
		char head[256];
		int n = snprintf(head, sizeof(head),
				 "POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
				 "Content-Type: application/%s\r\nContent-Length: %zu\r\n\r\n",
				 is_json ? "json" : "x-protobuf", is_json ? jlen : len);
		ASSERT_EQ(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
		if (is_json)
			ASSERT_EQ(send(fd, json, jlen, MSG_NOSIGNAL), (ssize_t)jlen);
		else
			ASSERT_EQ(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
		close(fd);
	}
	free(json);
	/* ternd is still fine and answers the next client. */
	struct http_result hr;
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", NULL, req, len, &hr));
	free(req);
	ASSERT_EQ(hr.status, 200);
	http_result_free(&hr);
	ASSERT_EQ(wait_metric(&p, "ternd_memory_bytes", 0), 0);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

static json_object *member(json_object *o, const char *k)
{
	json_object *v = NULL;
	json_object_object_get_ex(o, k, &v);
	return v;
}

/* Days and weeks are durations for the CLI and the API alike: tern stats
 * --since 1d used to pass the CLI and fail with HTTP 400. */
TEST(tern_cli_and_api_take_days)
{
	char *tern = getenv("TERN");
	ASSERT_TRUE(tern != NULL);
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	/* 3 requests of 10 spans, a root every 8: 6 traces (as above). */
	char out[1 << 16];
	char *load[] = { tern, "load", "--target", p.grpc_addr, "--requests", "3", "--spans", "10",
			 "--streams", "1", NULL };
	ASSERT_EQ(test_run_capture(load, false, out, sizeof(out)), 0);
	ASSERT_EQ(wait_metric(&p, "ternd_spans_accepted_total", 30), 30);

	int status;
	json_object *o = test_get_json(p.query_addr, "/api/traces?service=tern-load&lookback=1d&limit=100", &status);
	ASSERT_EQ(status, 200);
	ASSERT_EQ(json_object_array_length(member(o, "data")), 6);
	json_object_put(o);
	/* A whole number of minutes: the window is exactly one day. */
	o = test_get_json(p.query_addr, "/api/tern/summary?lookback=1d", &status);
	ASSERT_EQ(status, 200);
	ASSERT_EQ(json_object_get_int64(member(member(o, "data"), "window_s")), 86400);
	json_object_put(o);
	o = test_get_json(p.query_addr, "/api/tern/summary?lookback=1d1h", &status);
	ASSERT_EQ(status, 200);
	ASSERT_EQ(json_object_get_int64(member(member(o, "data"), "window_s")), 90000);
	json_object_put(o);
	o = test_get_json(p.query_addr, "/api/tern/summary?lookback=1e3s", &status);
	ASSERT_EQ(status, 400);
	json_object_put(o);

	char *stats[] = { tern, "stats", "--since", "1d", "--json", "--addr", p.query_addr, NULL };
	ASSERT_EQ(test_run_capture(stats, false, out, sizeof(out)), 0);
	o = json_tokener_parse(out);
	ASSERT_TRUE(o != NULL);
	ASSERT_EQ(json_object_get_int64(member(o, "window_s")), 86400);
	json_object *svcs = member(o, "services");
	ASSERT_EQ(json_object_array_length(svcs), 1);
	ASSERT_STR_EQ(json_object_get_string(member(json_object_array_get_idx(svcs, 0), "service")),
		      "tern-load");
	json_object_put(o);
	char *week[] = { tern, "stats", "--since", "1w", "--addr", p.query_addr, NULL };
	ASSERT_EQ(test_run_capture(week, false, out, sizeof(out)), 0);
	ASSERT_TRUE(strncmp(out, "window 604800 s\n", 16) == 0);
	char *search[] = { tern, "search", "--service", "tern-load", "--since", "2d", "--json",
			   "--addr", p.query_addr, NULL };
	ASSERT_EQ(test_run_capture(search, false, out, sizeof(out)), 0);
	o = json_tokener_parse(out);
	ASSERT_TRUE(o != NULL);
	ASSERT_EQ(json_object_array_length(o), 6);
	json_object_put(o);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

/* tags={"some.key":1} is refused with the key in the message (the key
 * used to be read after its JSON object was freed), and a %-escaped
 * service name in a path is the name. */
TEST(api_tags_json_and_escaped_path)
{
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, NULL));
	int status;
	json_object *o = test_get_json(p.query_addr, "/api/traces?service=s&tags=%7B%22some.key%22%3A1%7D", &status);
	ASSERT_EQ(status, 400);
	json_object *e0 = json_object_array_get_idx(member(o, "errors"), 0);
	ASSERT_STR_EQ(json_object_get_string(member(e0, "msg")),
		      "malformed 'tags' parameter: value of 'some.key' is not a string");
	json_object_put(o);
	/* A string value is a tag filter: no such trace, but a good query. */
	o = test_get_json(p.query_addr, "/api/traces?service=s&tags=%7B%22some.key%22%3A%22v%22%7D", &status);
	ASSERT_EQ(status, 200);
	ASSERT_EQ(json_object_array_length(member(o, "data")), 0);
	json_object_put(o);

	uint8_t *req;
	size_t len;
	ASSERT_OK(col_load_request(10, "a/b c", 7, &req, &len));
	struct http_result hr;
	ASSERT_OK(http_post(p.http_addr, "application/x-protobuf", NULL, req, len, &hr));
	free(req);
	ASSERT_EQ(hr.status, 200);
	http_result_free(&hr);
	ASSERT_EQ(wait_metric(&p, "ternd_spans_accepted_total", 10), 10);
	o = test_get_json(p.query_addr, "/api/services/a%2Fb%20c/operations", &status);
	ASSERT_EQ(status, 200);
	size_t nops = json_object_array_length(member(o, "data"));
	json_object_put(o);
	ASSERT_GT(nops, 0);
	o = test_get_json(p.query_addr, "/api/operations?service=a%2Fb+c", &status);
	ASSERT_EQ(status, 200);
	ASSERT_GE(json_object_array_length(member(o, "data")), nops);
	json_object_put(o);
	/* The same name cut short ("%2" is no escape) is another service. */
	o = test_get_json(p.query_addr, "/api/services/a%2/operations", &status);
	ASSERT_EQ(status, 200);
	ASSERT_EQ(json_object_array_length(member(o, "data")), 0);
	json_object_put(o);
	ASSERT_EQ(ternd_proc_stop(&p), 0);
}

TEST_MAIN(TEST_ENTRY(grpc_export_ok_and_metrics), TEST_ENTRY(grpc_gzip),
	  TEST_ENTRY(grpc_bad_span_is_rejected_neighbours_accepted),
	  TEST_ENTRY(grpc_garbage_and_oversize),
	  TEST_ENTRY(grpc_memory_limit_refuses_then_recovers), TEST_ENTRY(http_protobuf_json_gzip),
	  TEST_ENTRY(http_errors_400_415_503), TEST_ENTRY(healthz_and_404),
	  TEST_ENTRY(sigterm_right_after_listening),
	  TEST_ENTRY(concurrent_clients), TEST_ENTRY(sigterm_during_load),
	  TEST_ENTRY(config_file_env_flags), TEST_ENTRY(http_client_gone_before_ack),
	  TEST_ENTRY(tern_cli_health_and_load), TEST_ENTRY(tern_cli_and_api_take_days),
	  TEST_ENTRY(api_tags_json_and_escaped_path))
