/*
 * Unit tests: forwarders. Config (URL, YAML list, flag), the routing and
 * sampling functions, backoff, which answers are retried, the RetryInfo
 * walk over untrusted bytes, the store's backlog / lost-span accounting the
 * forwarder relies on, and a real forwarder thread against a destination
 * that is down (the cursor must not move, lag and failures must show).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "forward/forward.h"
#include "metrics.h"
#include "harness.h"
#include "load/load.h"
#include "store.h"
#include "util/hash.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/ternd-fwd-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	ssize_t w = write(fd, text, strlen(text));
	(void)w;
	close(fd);
	return path;
}

static int load(struct col_config *c, char **argv, char *err, size_t n)
{
	int argc = 0;
	while (argv[argc] != NULL)
		argc++;
	char *envp[] = { NULL };
	return col_config_load(c, argc, argv, envp, err, n);
}

TEST(url_forms)
{
	struct col_fwd_config c;
	char err[256];
	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(&c, "grpc://jaeger:4317", err, sizeof(err)));
	ASSERT_EQ(c.protocol, COL_FWD_GRPC);
	ASSERT_EQ(c.n_endpoints, 1);
	ASSERT_STR_EQ(c.endpoints[0], "jaeger:4317");
	ASSERT_EQ(c.batch_spans, 4096);
	ASSERT_EQ(c.concurrency, 4);

	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(&c, "grpcs://jaeger:443?ca_file=/etc/ca.pem", err,
					   sizeof(err)));
	ASSERT_EQ(c.protocol, COL_FWD_GRPC);
	ASSERT_TRUE(c.tls);
	ASSERT_STR_EQ(c.ca_file, "/etc/ca.pem");
	ASSERT_OK(col_fwd_config_check(&c, err, sizeof(err)));

	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(&c, "http://10.0.0.1:4318", err, sizeof(err)));
	ASSERT_EQ(c.protocol, COL_FWD_HTTP);
	ASSERT_STR_EQ(c.path, "/v1/traces");

	col_fwd_config_default(&c);
	ASSERT_EQ(c.connect_timeout_ms, 5000);
	ASSERT_OK(col_fwd_config_parse_url(&c,
					   "https://otlp.example:443/v1/traces?ca_file=/ca.pem&"
					   "cert_file=/c.pem&key_file=/k.pem&connect_timeout_ms=700",
					   err, sizeof(err)));
	ASSERT_EQ(c.protocol, COL_FWD_HTTP);
	ASSERT_TRUE(c.tls);
	ASSERT_STR_EQ(c.endpoints[0], "otlp.example:443");
	ASSERT_STR_EQ(c.ca_file, "/ca.pem");
	ASSERT_STR_EQ(c.cert_file, "/c.pem");
	ASSERT_STR_EQ(c.key_file, "/k.pem");
	ASSERT_EQ(c.connect_timeout_ms, 700);

	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(&c, "http://h:4318?tls=true", err, sizeof(err)));
	ASSERT_EQ(c.protocol, COL_FWD_HTTP);
	ASSERT_TRUE(c.tls);

	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(&c, "http://h:80/otlp/v1/traces?gzip=true", err,
					   sizeof(err)));
	ASSERT_STR_EQ(c.path, "/otlp/v1/traces");
	ASSERT_TRUE(c.gzip);

	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(
		&c,
		"gw1:4317,gw2:4317?name=gw&timeout_ms=500&batch_spans=100&concurrency=2&"
		"sample=0.25&service=a&service=b&header=X-Tenant:acme&max_backoff_ms=1000",
		err, sizeof(err)));
	ASSERT_EQ(c.protocol, COL_FWD_GRPC);
	ASSERT_EQ(c.n_endpoints, 2);
	ASSERT_STR_EQ(c.endpoints[1], "gw2:4317");
	ASSERT_STR_EQ(c.name, "gw");
	ASSERT_EQ(c.timeout_ms, 500);
	ASSERT_EQ(c.batch_spans, 100);
	ASSERT_EQ(c.concurrency, 2);
	ASSERT_NEAR(c.sample_ratio, 0.25, 1e-12);
	ASSERT_EQ(c.n_services, 2);
	ASSERT_STR_EQ(c.services[1], "b");
	ASSERT_EQ(c.n_headers, 1);
	ASSERT_STR_EQ(c.headers[0].name, "x-tenant"); /* gRPC metadata is lowercase */
	ASSERT_STR_EQ(c.headers[0].value, "acme");
	ASSERT_EQ(c.max_backoff_ms, 1000);
}

TEST(url_errors)
{
	char err[256];
	static const char *const bad[] = {
		"",
		"jaeger",
		"jaeger:",
		"jaeger:0",
		"jaeger:99999",
		"ftp://jaeger:4318",
		"https://jaeger:4318?cert_file=/c.pem", /* without key_file */
		"https://jaeger:4318?key_file=/k.pem",  /* without cert_file */
		"http://jaeger:4318?ca_file=/ca.pem",   /* CA without TLS */
		"https://jaeger:4318?connect_timeout_ms=0",
		"grpc://jaeger:4317/v1/traces",
		"grpc://jaeger:4317?gzip=maybe",
		"grpc://jaeger:4317?bogus=1",
		"grpc://jaeger:4317?batch_spans=0",
		"grpc://jaeger:4317?concurrency=65",
		"grpc://jaeger:4317?sample=1.5",
		"grpc://jaeger:4317?name=has/slash",
		"grpc://jaeger:4317?header=novalue",
		"grpc://jaeger:4317?gzip",
		"grpc://jaeger:4317?tls=maybe",
		"a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		int rc = col_fwd_config_parse_url(NULL, bad[i], err, sizeof(err));
		if (rc != -EINVAL)
			fprintf(stderr, "accepted: '%s'\n", bad[i]);
		ASSERT_EQ(rc, -EINVAL);
		ASSERT_TRUE(err[0] != '\0');
	}
}

TEST(flag_and_yaml)
{
	struct col_config c;
	char err[512];
	char *path = write_tmp("log-level: warn\n"
			       "forwarders:\n"
			       "  - name: jaeger\n"
			       "    endpoint: jaeger:4317\n"
			       "    gzip: true\n"
			       "    headers:\n"
			       "      Authorization: Bearer abc\n"
			       "      x-scope: one\n"
			       "    timeout_ms: 2000\n"
			       "  - url: http://collector:4318\n"
			       "    services: [checkout, cart]\n"
			       "    sample: 0.1\n"
			       "  - endpoints:\n"
			       "      - gw-a:4317\n"
			       "      - gw-b:4317\n"
			       "    concurrency: 8\n"
			       "    per_endpoint_cursors: yes\n"
			       "  - url: https://otlp.example:443/otlp/v1/traces\n"
			       "    ca_file: /etc/tern/ca.pem\n"
			       "    cert_file: /etc/tern/client.pem\n"
			       "    key_file: /etc/tern/client.key\n"
			       "    connect_timeout_ms: 1500\n"
			       "    timeout_ms: 20000\n"
			       "  - endpoint: gw:4317\n"
			       "    tls: on\n"
			       "    cert_file: /etc/tern/client.pem\n"
			       "    key_file: /etc/tern/client.key\n"
			       "sink: store\n");
	ASSERT_TRUE((path) != NULL);
	char *argv[] = { "ternd", "--config", path, "--forward", "grpc://other:4317", NULL };
	int rc = load(&c, argv, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "%s\n", err);
	ASSERT_OK(rc);
	ASSERT_STR_EQ(c.sink, "store"); /* keys after the list still parse */
	ASSERT_EQ(c.log_level, COL_LOG_WARN);
	ASSERT_EQ(c.n_forwarders, 5);
	ASSERT_STR_EQ(c.forwarders[0].name, "jaeger");
	ASSERT_TRUE(c.forwarders[0].gzip);
	ASSERT_EQ(c.forwarders[0].n_headers, 2);
	ASSERT_STR_EQ(c.forwarders[0].headers[0].name, "authorization");
	ASSERT_STR_EQ(c.forwarders[0].headers[0].value, "Bearer abc");
	ASSERT_EQ(c.forwarders[0].timeout_ms, 2000);
	ASSERT_STR_EQ(c.forwarders[1].name, "fwd1"); /* default: by position */
	ASSERT_EQ(c.forwarders[1].protocol, COL_FWD_HTTP);
	ASSERT_EQ(c.forwarders[1].n_services, 2);
	ASSERT_STR_EQ(c.forwarders[1].services[0], "checkout");
	ASSERT_NEAR(c.forwarders[1].sample_ratio, 0.1, 1e-12);
	ASSERT_EQ(c.forwarders[2].n_endpoints, 2);
	ASSERT_EQ(c.forwarders[2].concurrency, 8);
	ASSERT_TRUE(c.forwarders[2].per_endpoint_cursors);
	ASSERT_FALSE(c.forwarders[0].per_endpoint_cursors);
	ASSERT_EQ(c.forwarders[3].protocol, COL_FWD_HTTP);
	ASSERT_TRUE(c.forwarders[3].tls);
	ASSERT_STR_EQ(c.forwarders[3].path, "/otlp/v1/traces");
	ASSERT_STR_EQ(c.forwarders[3].ca_file, "/etc/tern/ca.pem");
	ASSERT_STR_EQ(c.forwarders[3].cert_file, "/etc/tern/client.pem");
	ASSERT_STR_EQ(c.forwarders[3].key_file, "/etc/tern/client.key");
	ASSERT_EQ(c.forwarders[3].connect_timeout_ms, 1500);
	ASSERT_EQ(c.forwarders[3].timeout_ms, 20000);
	ASSERT_TRUE(c.forwarders[4].tls);
	ASSERT_EQ(c.forwarders[4].protocol, COL_FWD_GRPC);
	ASSERT_STR_EQ(c.forwarders[4].cert_file, "/etc/tern/client.pem");
	ASSERT_STR_EQ(c.forward, "grpc://other:4317");
	unlink(path);

	char *env_argv[] = { "ternd", NULL };
	char *envp[] = { "TERND_FORWARD=http://env-host:4318", NULL };
	ASSERT_OK(col_config_load(&c, 1, env_argv, envp, err, sizeof(err)));
	ASSERT_STR_EQ(c.forward, "http://env-host:4318");
	char *bad_env[] = { "TERND_FORWARD=env-host", NULL };
	ASSERT_EQ(col_config_load(&c, 1, env_argv, bad_env, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "TERND_FORWARD") != NULL);

	char *bad_flag[] = { "ternd", "--forward", "ftp://x:1", NULL };
	ASSERT_EQ(load(&c, bad_flag, err, sizeof(err)), -EINVAL);
	ASSERT_TRUE(strstr(err, "--forward") != NULL);
}

TEST(yaml_errors)
{
	static const struct {
		const char *text;
		const char *want; /* in the message */
	} cases[] = {
		{ "forwarders:\n  - gzip: true\n", ":2: forwarders: forwarder 'fwd0' has no endpoint" },
		{ "forwarders:\n  - endpoint: a:1\n    bogus: 1\n", ":3: forwarders: unknown forwarder key" },
		{ "forwarders:\n  - endpoint: a:1\n    batch_spans: x\n", ":3:" },
		{ "forwarders: grpc://a:1\n", "expected a list of forwarders" },
		{ "forwarders:\n  - a:1\n", "each forwarder is a mapping" },
		{ "forwarders:\n  - endpoint: a:1\n    name: x\n  - endpoint: b:1\n    name: x\n",
		  "two forwarders named 'x'" },
		{ "forwarders:\n  - endpoint: a:1\n    timeout_ms: {a: 1}\n", "expected a scalar or a list" },
		{ "forwarders:\n  - endpoint: a:1\n    tls: true\n    cert_file: /c.pem\n",
		  ":2: forwarders: forwarder 'fwd0': cert_file and key_file go together" },
		{ "forwarders:\n  - url: http://a:1\n    ca_file: /ca.pem\n",
		  "ca_file / cert_file need TLS" },
		{ "forwarders:\n  - url: https://a:1\n    key_file: \"\"\n", ":3: forwarders: key_file" },
		{ "forwarders:\n  - endpoint: a:1\n    headers:\n      x-a: [1]\n",
		  ":4: forwarders: headers: expected a scalar value" },
		{ "forwarders:\n  - endpoint: a:1\n    endpoints: [b:1, [c:1]]\n",
		  ":3: forwarders: expected a list of scalars" },
		{ "forwarders:\n  - endpoint: a:1\n  - endpoint: a:2\n  - endpoint: a:3\n"
		  "  - endpoint: a:4\n  - endpoint: a:5\n  - endpoint: a:6\n  - endpoint: a:7\n"
		  "  - endpoint: a:8\n  - endpoint: a:9\n",
		  ":10: forwarders: more than 8 forwarders" },
		/* an alias is the same node again: the same forwarder twice */
		{ "forwarders:\n  - &f {endpoint: a:1, name: x}\n  - *f\n",
		  ":2: forwarders: two forwarders named 'x'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct col_config c;
		char err[512] = "";
		char *path = write_tmp(cases[i].text);
		ASSERT_TRUE((path) != NULL);
		char *argv[] = { "ternd", "--config", path, NULL };
		int rc = load(&c, argv, err, sizeof(err));
		unlink(path);
		if (rc == 0 || strstr(err, cases[i].want) == NULL)
			fprintf(stderr, "case %zu: rc %d, err '%s', want '%s'\n", i, rc, err,
				cases[i].want);
		ASSERT_EQ(rc, -EINVAL);
		ASSERT_TRUE(strstr(err, cases[i].want) != NULL);
	}
}

static uint64_t rnd_state = 12345;
static uint64_t rnd(void)
{
	return util_splitmix64(&rnd_state);
}

static void rand_id(uint8_t id[16])
{
	uint64_t a = rnd(), b = rnd();
	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

TEST(route_and_sample)
{
	/* A fixed vector, so a change of the documented function fails here
	 * (the Python integration test recomputes it independently too). */
	uint8_t id[16];
	for (int i = 0; i < 16; i++)
		id[i] = (uint8_t)(i + 1);
	/* hi ^ lo = 0x0102030405060708 ^ 0x090a0b0c0d0e0f10 = 0x08080808080808 18 */
	uint64_t z = 0x0102030405060708ull ^ 0x090a0b0c0d0e0f10ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	ASSERT_EQ(col_fwd_route(id, 7), (int64_t)(z % 7));
	ASSERT_EQ(col_fwd_route(id, 1), 0);

	unsigned hist[3] = { 0 };
	unsigned kept25 = 0;
	for (int i = 0; i < 30000; i++) {
		rand_id(id);
		unsigned d = col_fwd_route(id, 3);
		ASSERT_LT(d, 3);
		ASSERT_EQ(col_fwd_route(id, 3), d); /* a trace always goes to one place */
		hist[d]++;
		bool s10 = col_fwd_sampled(id, 0.10), s25 = col_fwd_sampled(id, 0.25);
		if (s10)
			ASSERT_TRUE(s25); /* consistent: a higher ratio keeps a superset */
		kept25 += s25;
		ASSERT_TRUE(col_fwd_sampled(id, 1.0));
		ASSERT_FALSE(col_fwd_sampled(id, 0.0));
	}
	for (int d = 0; d < 3; d++) {
		ASSERT_GT(hist[d], 9500);
		ASSERT_LT(hist[d], 10500);
	}
	ASSERT_GT(kept25, 7100);
	ASSERT_LT(kept25, 7900);
	/* sampling looks only at the low 56 bits */
	memset(id, 0xff, 16);
	id[8] = 0x00; /* top byte of lo is not part of the 56 random bits */
	ASSERT_FALSE(col_fwd_sampled(id, 0.5));
	memset(id + 9, 0, 7);
	ASSERT_TRUE(col_fwd_sampled(id, 0.0001));
}

TEST(backoff)
{
	for (uint64_t r = 0; r < 1000; r += 7) {
		uint64_t d1 = col_fwd_backoff_ms(1, 30000, -1, rnd());
		ASSERT_GE_U(d1, 50);
		ASSERT_LE_U(d1, 100);
		uint64_t d4 = col_fwd_backoff_ms(4, 30000, -1, rnd());
		ASSERT_GE_U(d4, 400);
		ASSERT_LE_U(d4, 800);
		uint64_t d30 = col_fwd_backoff_ms(30, 30000, -1, rnd());
		ASSERT_GE_U(d30, 15000);
		ASSERT_LE_U(d30, 30000);
		ASSERT_GE_U(col_fwd_backoff_ms(1, 30000, 5000, rnd()), 5000); /* RetryInfo */
		ASSERT_LE_U(col_fwd_backoff_ms(1, 30000, 999999, rnd()), 30000);
	}
	ASSERT_LE_U(col_fwd_backoff_ms(4000000000u, 1000, -1, 0), 1000); /* no overflow */
}

TEST(retryable)
{
	ASSERT_TRUE(col_fwd_grpc_retryable(14, false));  /* UNAVAILABLE */
	ASSERT_TRUE(col_fwd_grpc_retryable(4, false));   /* DEADLINE_EXCEEDED */
	ASSERT_TRUE(col_fwd_grpc_retryable(10, false));  /* ABORTED */
	ASSERT_TRUE(col_fwd_grpc_retryable(11, false));  /* OUT_OF_RANGE */
	ASSERT_TRUE(col_fwd_grpc_retryable(15, false));  /* DATA_LOSS */
	ASSERT_TRUE(col_fwd_grpc_retryable(1, false));   /* CANCELLED */
	ASSERT_TRUE(col_fwd_grpc_retryable(8, true));    /* RESOURCE_EXHAUSTED + RetryInfo */
	ASSERT_FALSE(col_fwd_grpc_retryable(8, false));
	ASSERT_FALSE(col_fwd_grpc_retryable(3, false));  /* INVALID_ARGUMENT */
	ASSERT_FALSE(col_fwd_grpc_retryable(7, false));  /* PERMISSION_DENIED */
	ASSERT_FALSE(col_fwd_grpc_retryable(12, false)); /* UNIMPLEMENTED */
	ASSERT_FALSE(col_fwd_grpc_retryable(16, false)); /* UNAUTHENTICATED */
	ASSERT_TRUE(col_fwd_http_retryable(429));
	ASSERT_TRUE(col_fwd_http_retryable(502));
	ASSERT_TRUE(col_fwd_http_retryable(503));
	ASSERT_TRUE(col_fwd_http_retryable(504));
	ASSERT_FALSE(col_fwd_http_retryable(400));
	ASSERT_FALSE(col_fwd_http_retryable(500));
	ASSERT_FALSE(col_fwd_http_retryable(413));
}

/* google.rpc.Status{code 8, message, details [Any{RetryInfo{retry_delay {1 s, 500 ms}}}]} */
static size_t status_bytes(uint8_t *out)
{
	static const char type[] = "type.googleapis.com/google.rpc.RetryInfo";
	uint8_t dur[] = { 0x08, 0x01, 0x10, 0x80, 0xca, 0xb5, 0xee, 0x01 }; /* 1 s, 500000000 ns */
	uint8_t ri[2 + sizeof(dur)];
	ri[0] = 0x0a;
	ri[1] = sizeof(dur);
	memcpy(ri + 2, dur, sizeof(dur));
	uint8_t any[2 + sizeof(type) - 1 + 2 + sizeof(ri)];
	size_t n = 0;
	any[n++] = 0x0a;
	any[n++] = sizeof(type) - 1;
	memcpy(any + n, type, sizeof(type) - 1);
	n += sizeof(type) - 1;
	any[n++] = 0x12;
	any[n++] = sizeof(ri);
	memcpy(any + n, ri, sizeof(ri));
	n += sizeof(ri);
	size_t m = 0;
	out[m++] = 0x08;
	out[m++] = 8;
	out[m++] = 0x12;
	out[m++] = 4;
	memcpy(out + m, "full", 4);
	m += 4;
	out[m++] = 0x1a;
	out[m++] = (uint8_t)n;
	memcpy(out + m, any, n);
	return m + n;
}

TEST(retry_info)
{
	uint8_t buf[256];
	size_t n = status_bytes(buf);
	ASSERT_EQ(otlp_retry_info_ms(buf, n), 1500);
	/* ternd's writer gives exactly these hand-built bytes */
	uint8_t w[256];
	ASSERT_EQ(otlp_encode_retry_status(w, sizeof(w), 8, "full", 4, 1500), n);
	ASSERT_TRUE(memcmp(w, buf, n) == 0);
	ASSERT_EQ(otlp_encode_retry_status(w, OTLP_RETRY_STATUS_OVERHEAD + 3, 8, "full", 4, 1500), 0);
	ASSERT_EQ(otlp_retry_info_ms(w, otlp_encode_retry_status(w, sizeof(w), 8, "", 0, 250)), 250);
	ASSERT_EQ(otlp_retry_info_ms(buf, 8), -1);   /* no details */
	ASSERT_EQ(otlp_retry_info_ms(NULL, 0), -1);
	/* Every truncation and every single-byte change: bounded, no crash
	 * (ASan/valgrind runs check the reads). */
	for (size_t k = 0; k < n; k++) {
		int64_t v = otlp_retry_info_ms(buf, k);
		ASSERT_TRUE(v == -1 || v >= 0);
		for (int bit = 0; bit < 8; bit++) {
			uint8_t m[256];
			memcpy(m, buf, n);
			m[k] ^= (uint8_t)(1u << bit);
			v = otlp_retry_info_ms(m, n);
			ASSERT_TRUE(v >= -1);
		}
	}
	uint8_t other[] = { 0x1a, 0x05, 0x0a, 0x03, 'a', '.', 'b' }; /* another detail type */
	ASSERT_EQ(otlp_retry_info_ms(other, sizeof(other)), -1);
}

/* ---- with a real store ---- */

static char dir[64];

static struct store *open_store(uint64_t retention_bytes)
{
	snprintf(dir, sizeof(dir), "/tmp/ternd-fwd-store-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return NULL;
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retention_bytes = retention_bytes;
	o.retention_age_s = 0;
	struct store *s;
	return store_open(&o, &s, NULL) == 0 ? s : NULL;
}

static void remove_dir(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static int append(struct store *s, unsigned n, uint64_t seed)
{
	struct otlp_batch *b = col_load_batch(n, "svc", seed);
	if (b == NULL)
		return -ENOMEM;
	int rc = store_append(s, b);
	otlp_batch_free(b);
	return rc;
}

TEST(store_backlog_and_lost)
{
	struct store *s = open_store(0);
	ASSERT_TRUE((s) != NULL);
	struct store_pos start = store_oldest_pos(s);
	ASSERT_OK(store_cursor_set(s, "fwd-t", start));
	ASSERT_EQ_U(store_cursor_lost(s, "fwd-t"), 0);
	/* three segments of 2 records each */
	for (int g = 0; g < 3; g++) {
		ASSERT_OK(append(s, 10, (uint64_t)g * 2));
		ASSERT_OK(append(s, 20, (uint64_t)g * 2 + 1));
		ASSERT_OK(store_roll(s));
	}
	struct store_backlog bl;
	ASSERT_OK(store_backlog(s, start, &bl));
	ASSERT_EQ_U(bl.spans, 90);
	ASSERT_GT(bl.bytes, 0);
	ASSERT_FALSE(bl.at_risk); /* retention off */
	/* move the cursor past the first record of segment 1 */
	struct store_reader *r;
	ASSERT_OK(store_reader_new(s, start, &r));
	struct otlp_batch *b;
	struct store_pos at, next;
	ASSERT_OK(store_reader_next(r, &b, &at, &next));
	ASSERT_EQ_U(b->n_spans, 10);
	otlp_batch_free(b);
	store_reader_free(r);
	ASSERT_OK(store_backlog(s, next, &bl));
	ASSERT_EQ_U(bl.spans, 80);
	struct store_stats ss;
	store_stats(s, &ss);
	store_close(s);

	/* Reopen with a size limit the log just fits: nothing is dropped at
	 * open, but the cursor's segment is within 10% of the limit. */
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retention_age_s = 0;
	o.retention_bytes = ss.bytes;
	ASSERT_OK(store_open(&o, &s, NULL));
	ASSERT_OK(store_cursor_set(s, "fwd-t", next));
	ASSERT_OK(store_backlog(s, next, &bl));
	ASSERT_EQ_U(bl.spans, 80);
	ASSERT_TRUE(bl.at_risk);
	/* more data pushes the oldest segment out */
	ASSERT_OK(append(s, 40, 100));
	ASSERT_OK(store_roll(s));
	ASSERT_OK(append(s, 1, 101));
	store_retention_run(s, 0);
	struct store_backlog bl2;
	ASSERT_EQ(store_backlog(s, next, &bl2), -ERANGE);
	uint64_t lost = store_cursor_lost(s, "fwd-t");
	ASSERT_GE_U(lost, 20);              /* at least the rest of segment 1 */
	ASSERT_EQ_U(lost + bl2.spans, 80 + 41); /* exact: nothing counted twice or missed */
	ASSERT_EQ_U(store_cursor_lost(s, "unknown"), 0);
	/* the reader notices and moves on */
	ASSERT_OK(store_reader_new(s, next, &r));
	ASSERT_EQ(store_reader_next(r, &b, &at, &next), -ERANGE);
	store_reader_free(r);
	store_close(s);
	remove_dir();
}

static uint64_t metric(const char *text, const char *name)
{
	const char *p = strstr(text, name);
	if (p == NULL)
		return UINT64_MAX;
	return strtoull(p + strlen(name), NULL, 10);
}

TEST(forwarder_destination_down)
{
	struct store *s = open_store(0);
	ASSERT_TRUE((s) != NULL);
	for (int i = 0; i < 5; i++)
		ASSERT_OK(append(s, 100, (uint64_t)i));
	struct col_fwd_config c;
	char err[256];
	col_fwd_config_default(&c);
	/* port 1 on loopback: connection refused at once */
	ASSERT_OK(col_fwd_config_parse_url(&c, "grpc://127.0.0.1:1?name=down&max_backoff_ms=200",
					   err, sizeof(err)));
	struct col_fwd_set *set;
	ASSERT_OK(col_fwd_start(s, &c, 1, &set, err, sizeof(err)));
	struct col_fwd_stats st = { 0 };
	for (int i = 0; i < 200; i++) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
		ASSERT_OK(col_fwd_get_stats(set, 0, &st));
		if (st.spans_failed > 0 && st.lag_spans == 500)
			break;
	}
	ASSERT_GT(st.spans_failed, 0);
	ASSERT_EQ_U(st.lag_spans, 500);
	ASSERT_EQ_U(st.spans_sent, 0);
	ASSERT_EQ_U(st.cursor_saves, 0);
	ASSERT_EQ(col_fwd_get_stats(set, 1, &st), -ENOENT);
	char text[8192];
	size_t need = col_fwd_render_metrics(set, text, sizeof(text));
	ASSERT_LT(need, sizeof(text));
	ASSERT_EQ_U(metric(text, "ternd_forward_lag_spans{forwarder=\"down\"} "), 500);
	ASSERT_EQ_U(metric(text, "ternd_forward_spans_sent_total{forwarder=\"down\"} "), 0);
	ASSERT_TRUE(strstr(text, "# TYPE ternd_forward_lag_seconds gauge") != NULL);
	/* a short buffer: snprintf semantics */
	char small[16];
	ASSERT_EQ_U(col_fwd_render_metrics(set, small, sizeof(small)), need);
	ASSERT_EQ_U(strlen(small), sizeof(small) - 1);
	ASSERT_EQ_U(col_fwd_render_metrics(NULL, small, sizeof(small)), 0);
	col_fwd_stop(set, 100);
	/* nothing acknowledged: no cursor was saved */
	void *data;
	size_t len;
	ASSERT_EQ(store_meta_get(s, "fwd-down", &data, &len), -ENOENT);

	/* a saved cursor is where a restart begins (here: the end) */
	char blob[64];
	struct store_pos end = store_end_pos(s);
	int n = snprintf(blob, sizeof(blob), "tern-cursor 1 %llu %llu\n",
			 (unsigned long long)end.seg, (unsigned long long)end.off);
	ASSERT_OK(store_meta_put(s, "fwd-down", blob, (size_t)n));
	ASSERT_OK(col_fwd_start(s, &c, 1, &set, err, sizeof(err)));
	for (int i = 0; i < 100; i++) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
		ASSERT_OK(col_fwd_get_stats(set, 0, &st));
		if (st.lag_spans == 0)
			break;
	}
	ASSERT_EQ_U(st.lag_spans, 0);
	ASSERT_EQ_U(st.spans_failed, 0);
	col_fwd_stop(set, 100);

	/* a corrupt cursor blob is an error, not a silent restart from zero */
	ASSERT_OK(store_meta_put(s, "fwd-down", "junk", 4));
	ASSERT_EQ(col_fwd_start(s, &c, 1, &set, err, sizeof(err)), -EBADMSG);
	ASSERT_TRUE(strstr(err, "cursor") != NULL);
	store_close(s);
	remove_dir();
}

/*
 * Retention deletes segments under a forwarder whose destination is down:
 * the forwarder counts exactly the spans the store says it lost, and goes
 * on. With concurrency 1 and batch_spans 100 the forwarder holds exactly
 * one 100-span record in flight; everything else sealed is deleted.
 */
/* TLS files are checked when the forwarder starts, for both transports:
 * a wrong path is one clear error, not a failure on every request. */
TEST(forwarder_tls_files_checked_at_start)
{
	struct store *s = open_store(0);
	ASSERT_TRUE((s) != NULL);
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "https://127.0.0.1:1?name=h&ca_file=/nonexistent/ca.pem", "ca_file /nonexistent/ca.pem" },
		{ "https://127.0.0.1:1?name=h&cert_file=/nonexistent/c.pem&key_file=/nonexistent/k.pem",
		  "cert_file /nonexistent/c.pem" },
		{ "grpcs://127.0.0.1:1?name=g&ca_file=/nonexistent/ca.pem", "ca_file /nonexistent/ca.pem" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct col_fwd_config c;
		char err[256] = "";
		col_fwd_config_default(&c);
		ASSERT_OK(col_fwd_config_parse_url(&c, cases[i].url, err, sizeof(err)));
		struct col_fwd_set *set = NULL;
		int rc = col_fwd_start(s, &c, 1, &set, err, sizeof(err));
		if (rc != -ENOENT || strstr(err, cases[i].want) == NULL)
			fprintf(stderr, "case %zu: rc %d, err '%s'\n", i, rc, err);
		ASSERT_EQ(rc, -ENOENT);
		ASSERT_TRUE(set == NULL);
		ASSERT_TRUE(strstr(err, cases[i].want) != NULL);
	}
	/* A readable CA and an https:// endpoint that refuses: starts, fails, retries. */
	struct col_fwd_config c;
	char err[256], url[256];
	char *ca = write_tmp("not a certificate, but readable\n");
	ASSERT_TRUE(ca != NULL);
	snprintf(url, sizeof(url), "https://127.0.0.1:1?name=hs&max_backoff_ms=200&ca_file=%s", ca);
	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(&c, url, err, sizeof(err)));
	ASSERT_OK(append(s, 10, 1));
	struct col_fwd_set *set;
	ASSERT_OK(col_fwd_start(s, &c, 1, &set, err, sizeof(err)));
	struct col_fwd_stats st = { 0 };
	for (int i = 0; i < 200 && st.spans_retried == 0; i++) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
		ASSERT_OK(col_fwd_get_stats(set, 0, &st));
	}
	ASSERT_GT(st.spans_failed, 0);
	ASSERT_GT(st.spans_retried, 0);
	ASSERT_EQ_U(st.spans_sent, 0);
	col_fwd_stop(set, 100);
	unlink(ca);
	store_close(s);
	remove_dir();
}

TEST(forwarder_retention_loss)
{
	snprintf(dir, sizeof(dir), "/tmp/ternd-fwd-store-XXXXXX");
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retention_age_s = 0;
	o.retention_bytes = 1; /* keep only the open segment */
	struct store *s;
	ASSERT_OK(store_open(&o, &s, NULL));
	struct col_fwd_config c;
	char err[256];
	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(
		&c, "grpc://127.0.0.1:1?name=lossy&concurrency=1&batch_spans=100", err,
		sizeof(err)));
	struct col_fwd_set *set;
	ASSERT_OK(col_fwd_start(s, &c, 1, &set, err, sizeof(err)));
	for (int i = 0; i < 20; i++) {
		ASSERT_OK(append(s, 100, (uint64_t)i));
		ASSERT_OK(store_roll(s));
	}
	ASSERT_OK(append(s, 100, 99)); /* stays: the open segment */
	store_retention_run(s, 0);
	uint64_t lost = store_cursor_lost(s, "fwd-lossy");
	/* 2000 spans were sealed; the forwarder read 100 of them, or of the
	 * open segment's record, before they went */
	ASSERT_GE_U(lost, 1900);
	ASSERT_LE_U(lost, 2000);
	struct col_fwd_stats st = { 0 };
	for (int i = 0; i < 150; i++) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
		ASSERT_OK(col_fwd_get_stats(set, 0, &st));
		if (st.spans_lost == lost)
			break;
	}
	ASSERT_EQ_U(st.spans_lost, lost);
	ASSERT_EQ_U(st.spans_sent, 0);
	/* what is left to send: the retained open segment, unless the one
	 * record in flight is that record */
	ASSERT_LE_U(st.lag_spans, 100);
	col_fwd_stop(set, 100);
	store_close(s);
	remove_dir();
}

static size_t extra_text(void *arg, char *buf, size_t len)
{
	return (size_t)snprintf(buf, len, "%s", (const char *)arg);
}

/* The render hook ternd uses for forwarder metrics (metrics.c). */
TEST(metrics_extra_hook)
{
	static struct col_metrics m;
	col_metrics_init(&m, 1000);
	char small[64];
	size_t base = col_metrics_render(&m, small, sizeof(small));
	ASSERT_OK(col_metrics_add_extra(&m, extra_text, "forward_a 1\n"));
	ASSERT_OK(col_metrics_add_extra(&m, extra_text, "forward_b 2\n"));
	ASSERT_OK(col_metrics_add_extra(&m, extra_text, "x\n"));
	ASSERT_OK(col_metrics_add_extra(&m, extra_text, "y\n"));
	ASSERT_EQ(col_metrics_add_extra(&m, extra_text, "z\n"), -ENOSPC);
	size_t need = col_metrics_render(&m, small, sizeof(small));
	ASSERT_EQ_U(need, base + strlen("forward_a 1\nforward_b 2\nx\ny\n"));
	ASSERT_EQ_U(strlen(small), sizeof(small) - 1); /* truncated, terminated */
	char *big = malloc(need + 1);
	ASSERT_TRUE(big != NULL);
	ASSERT_EQ_U(col_metrics_render(&m, big, need + 1), need);
	ASSERT_TRUE(strstr(big, "ternd_memory_limit_bytes 1000\nforward_a 1\nforward_b 2\nx\ny\n") !=
		    NULL);
	free(big);
}

/* Reads what ternd's log wrote to fd 2 since capture_start(). */
static int saved_stderr = -1;
static char capture_path[64];

static void capture_start(void)
{
	snprintf(capture_path, sizeof(capture_path), "/tmp/ternd-fwd-log-XXXXXX");
	int fd = mkstemp(capture_path);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	static char text[16384];
	FILE *f = fopen(capture_path, "r");
	size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	unlink(capture_path);
	fputs(text, stderr); /* keep it visible in the test log */
	return text;
}

/* The log is within 10% of retention_bytes and the forwarder's segment is
 * the oldest: it warns before anything is deleted. */
TEST(forwarder_retention_warning)
{
	struct store *s = open_store(0);
	ASSERT_TRUE(s != NULL);
	for (int g = 0; g < 3; g++) {
		ASSERT_OK(append(s, 50, (uint64_t)g));
		ASSERT_OK(store_roll(s));
	}
	ASSERT_OK(append(s, 50, 9));
	store_close(s); /* seals the last segment: its index file counts too */
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retention_age_s = 0;
	o.retention_bytes = 0;
	ASSERT_OK(store_open(&o, &s, NULL));
	struct store_stats ss;
	store_stats(s, &ss);
	store_close(s);
	o.retention_bytes = ss.bytes + ss.bytes / 20; /* fits, with 5% to spare */
	ASSERT_OK(store_open(&o, &s, NULL));
	struct col_fwd_config c;
	char err[256];
	col_fwd_config_default(&c);
	ASSERT_OK(col_fwd_config_parse_url(&c, "grpc://127.0.0.1:1?name=late", err, sizeof(err)));
	capture_start();
	struct col_fwd_set *set;
	int rc = col_fwd_start(s, &c, 1, &set, err, sizeof(err));
	struct col_fwd_stats st = { 0 };
	for (int i = 0; rc == 0 && i < 100 && st.lag_spans != 200; i++) {
		struct timespec ts = { 0, 20 * 1000000L };
		nanosleep(&ts, NULL);
		col_fwd_get_stats(set, 0, &st);
	}
	if (rc == 0)
		col_fwd_stop(set, 100);
	char *log = capture_end();
	ASSERT_OK(rc);
	ASSERT_EQ_U(st.lag_spans, 200);
	ASSERT_EQ_U(st.spans_lost, 0); /* nothing deleted yet */
	ASSERT_TRUE(strstr(log, "forward late: 200 spans") != NULL);
	ASSERT_TRUE(strstr(log, "within 10% of the retention limit") != NULL);
	store_close(s);
	remove_dir();
}

TEST_MAIN(TEST_ENTRY(metrics_extra_hook), TEST_ENTRY(url_forms), TEST_ENTRY(url_errors), TEST_ENTRY(flag_and_yaml),
	  TEST_ENTRY(yaml_errors), TEST_ENTRY(route_and_sample), TEST_ENTRY(backoff),
	  TEST_ENTRY(retryable), TEST_ENTRY(retry_info), TEST_ENTRY(store_backlog_and_lost),
	  TEST_ENTRY(forwarder_destination_down), TEST_ENTRY(forwarder_retention_loss), TEST_ENTRY(forwarder_tls_files_checked_at_start),
	  TEST_ENTRY(forwarder_retention_warning))
