/* config.c: defaults < YAML file < environment < flags. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "pipeline/pipeline.h"
#include "yaml_tree.h"

enum opt_kind { K_STR, K_ADDR, K_SIZE, K_U32, K_LEVEL };

struct opt {
	const char *name;     /* long flag and YAML key */
	const char *env;      /* environment override */
	enum opt_kind kind;
	size_t off;           /* into struct col_config */
	size_t size;          /* K_STR: buffer size */
	uint64_t min, max;    /* K_SIZE / K_U32 */
	const char *arg;      /* --help: argument */
	const char *help;
};

#define F(field) offsetof(struct col_config, field), sizeof(((struct col_config *)0)->field)

static const struct opt opts[] = {
	{ "otlp-grpc", "TERND_OTLP_GRPC", K_ADDR, F(otlp_grpc), 0, 0, "HOST:PORT",
	  "OTLP/gRPC listen address (default 127.0.0.1:4317; port 0: any free port)" },
	{ "otlp-http", "TERND_OTLP_HTTP", K_ADDR, F(otlp_http), 0, 0, "HOST:PORT",
	  "OTLP/HTTP listen address (default 127.0.0.1:4318)" },
	{ "query", "TERND_QUERY", K_ADDR, F(query), 0, 0, "HOST:PORT",
	  "HTTP API: /healthz, /metrics, Jaeger query API, /api/tern/* (default 127.0.0.1:16686)" },
	{ "data", "TERND_DATA", K_STR, F(data), 0, 0, "DIR", "data directory (default ./data)" },
	{ "sink", "TERND_SINK", K_STR, F(sink), 0, 0, "NAME",
	  "pipeline stage the spans go to (default store)" },
	{ "memory-limit", "TERND_MEMORY_LIMIT", K_SIZE, F(memory_limit), 1 << 16,
	  UINT64_MAX / 2, "BYTES",
	  "hard limit on request memory in flight (default 512MiB); over it: UNAVAILABLE / 503" },
	{ "max-request-bytes", "TERND_MAX_REQUEST_BYTES", K_SIZE, F(max_request_bytes), 64,
	  UINT32_MAX / 2, "BYTES", "largest export request, after gzip (default 64MiB)" },
	{ "max-attrs-per-span", "TERND_MAX_ATTRS_PER_SPAN", K_U32, F(max_attrs_per_span), 0,
	  1 << 20, "N", "spans with more attributes are rejected (default 128)" },
	{ "max-attr-value-bytes", "TERND_MAX_ATTR_VALUE_BYTES", K_SIZE,
	  F(max_attr_value_bytes), 1, UINT32_MAX, "BYTES",
	  "spans with a longer string/bytes value are rejected (default 1MiB)" },
	{ "max-queued-batches", "TERND_MAX_QUEUED_BATCHES", K_U32, F(max_queued_batches), 1,
	  1 << 20, "N", "batches in the pipeline before refusing (default 4096)" },
	{ "shutdown-timeout-ms", "TERND_SHUTDOWN_TIMEOUT_MS", K_U32, F(shutdown_timeout_ms), 0,
	  600000, "MS", "on SIGTERM, wait this long for pending acks (default 5000)" },
	{ "grpc-calls", "TERND_GRPC_CALLS", K_U32, F(grpc_calls), 1, 4096, "N",
	  "gRPC calls kept requested from the server (default 128)" },
	{ "max-connections", "TERND_MAX_CONNECTIONS", K_U32, F(max_connections), 16, 1 << 24,
	  "N", "refuse new connections once ternd has N descriptors open (default 16384; "
	  "also RLIMIT_NOFILE minus --fd-reserve)" },
	{ "fd-reserve", "TERND_FD_RESERVE", K_U32, F(fd_reserve), 8, 1 << 16, "N",
	  "descriptors kept free for files and gRPC core: refuse connections past "
	  "RLIMIT_NOFILE minus N (default 64)" },
	{ "max-streams", "TERND_MAX_STREAMS", K_U32, F(max_streams), 1, 1 << 16, "N",
	  "concurrent HTTP/2 streams (requests) per connection, gRPC and HTTP (default 32)" },
	{ "idle-timeout-ms", "TERND_IDLE_TIMEOUT_MS", K_U32, F(idle_timeout_ms), 100,
	  3600000, "MS", "close a connection idle this long: no frame (HTTP/2), no request "
	  "(HTTP/1), no call (gRPC) (default 30000)" },
	{ "request-timeout-ms", "TERND_REQUEST_TIMEOUT_MS", K_U32, F(request_timeout_ms), 1000,
	  3600000, "MS", "OTLP/HTTP: close a connection that has held more than 64KiB of "
	  "unfinished requests this long (a trickle) (default 60000)" },
	{ "max-connection-age-ms", "TERND_MAX_CONNECTION_AGE_MS", K_U32,
	  F(max_connection_age_ms), 1000, UINT32_MAX, "MS",
	  "gRPC: ask a client to reconnect (GOAWAY) after this long, calls in flight get "
	  "--idle-timeout-ms more (default 600000)" },
	{ "grpc-memory", "TERND_GRPC_MEMORY", K_SIZE, F(grpc_memory), 1 << 20, UINT64_MAX / 2,
	  "BYTES", "gRPC core's own buffers (partial messages, frames): its resource quota; "
	  "past it new streams are refused (default the larger of a quarter of "
	  "--memory-limit and twice --max-request-bytes + 4MiB)" },
	{ "tls-cert", "TERND_TLS_CERT", K_STR, F(tls_cert), 0, 0, "FILE",
	  "PEM certificate chain: the OTLP/HTTP and query listeners speak TLS (HTTP/2 by "
	  "ALPN); needs --tls-key (default none: plaintext; OTLP/gRPC stays plaintext)" },
	{ "tls-key", "TERND_TLS_KEY", K_STR, F(tls_key), 0, 0, "FILE",
	  "PEM private key of --tls-cert" },
	{ "tls-client-ca", "TERND_TLS_CLIENT_CA", K_STR, F(tls_client_ca), 0, 0, "FILE",
	  "PEM roots: HTTP clients must show a certificate they signed (mTLS; default none)" },
	{ "ingest-token", "TERND_INGEST_TOKEN", K_STR, F(ingest_token), 0, 0, "TOKEN",
	  "OTLP clients must send 'Authorization: Bearer TOKEN' (gRPC metadata or HTTP "
	  "header); else UNAUTHENTICATED / 401 (default none; prefer the environment or "
	  "the config file: flags show in ps)" },
	{ "query-token", "TERND_QUERY_TOKEN", K_STR, F(query_token), 0, 0, "TOKEN",
	  "query API clients must send 'Authorization: Bearer TOKEN', except for /healthz "
	  "(default none)" },
	{ "log-level", "TERND_LOG_LEVEL", K_LEVEL, F(log_level), 0, 0,
	  "error|warn|info|debug", "stderr log threshold (default info)" },
	{ "forward", "TERND_FORWARD", K_STR, F(forward), 0, 0, "URL",
	  "forward every stored span to grpc://HOST:PORT, grpcs:// (TLS), "
	  "http://HOST:PORT[/v1/traces] or https:// (TLS) "
	  "(needs --sink store; more: YAML forwarders, docs/forwarding.md)" },
	{ "analytics-max-operations", "TERND_ANALYTICS_MAX_OPERATIONS", K_U32,
	  F(analytics_max_operations), 1, 1 << 20, "N",
	  "operations tracked per service; the rest count as __other__ (default 2000)" },
	{ "analytics-memory-hours", "TERND_ANALYTICS_MEMORY_HOURS", K_U32,
	  F(analytics_memory_hours), 1, 24 * 366, "N",
	  "hours of per-minute sketches kept in memory; older are read from disk (default 24)" },
	{ "analytics-checkpoint-ms", "TERND_ANALYTICS_CHECKPOINT_MS", K_U32,
	  F(analytics_checkpoint_ms), 100, 3600000, "MS",
	  "how often changed analytics are persisted with the store (default 10000)" },
	{ "analytics-max-services", "TERND_ANALYTICS_MAX_SERVICES", K_U32,
	  F(analytics_max_services), 1, 1 << 20, "N",
	  "services tracked by analytics; the rest count as __other__ (default 1000)" },
	{ "analytics-settle-ms", "TERND_ANALYTICS_SETTLE_MS", K_U32,
	  F(analytics_settle_ms), 0, 3600000, "MS",
	  "how long a span waits for its parent before it counts as parentless "
	  "(default 15000; docs/analytics.md)" },
	{ "analytics-max-pending", "TERND_ANALYTICS_MAX_PENDING", K_U32,
	  F(analytics_max_pending), 1, 1 << 26, "N",
	  "spans waiting for their parent at most (about 100 bytes each); past it the "
	  "oldest stops waiting (default 100000)" },
};
#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

void col_config_defaults(struct col_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->otlp_grpc, sizeof(c->otlp_grpc), "127.0.0.1:4317");
	snprintf(c->otlp_http, sizeof(c->otlp_http), "127.0.0.1:4318");
	snprintf(c->query, sizeof(c->query), "127.0.0.1:16686");
	snprintf(c->data, sizeof(c->data), "./data");
	snprintf(c->sink, sizeof(c->sink), "store");
	c->memory_limit = 512ull << 20;
	c->max_request_bytes = 64ull << 20;
	c->max_attrs_per_span = 128;
	c->max_attr_value_bytes = 1ull << 20;
	c->max_queued_batches = 4096;
	c->shutdown_timeout_ms = 5000;
	c->grpc_calls = 128;
	c->max_connections = 16384;
	c->fd_reserve = 64;
	c->max_streams = 32;
	c->idle_timeout_ms = 30000;
	c->request_timeout_ms = 60000;
	c->max_connection_age_ms = 600000;
	c->grpc_memory = 0; /* 0: memory_limit / 4, set in col_config_load() */
	c->log_level = COL_LOG_INFO;
	c->analytics_max_operations = 2000;
	c->analytics_memory_hours = 24;
	c->analytics_checkpoint_ms = 10000;
	c->analytics_max_services = 1000;
	c->analytics_settle_ms = 15000;
	c->analytics_max_pending = 100000;
}

int col_parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *sfx;
		uint64_t mul;
	} sfx[] = {
		{ "", 1 },	     { "b", 1 },
		{ "k", 1000 },	     { "kb", 1000 },	     { "kib", 1ull << 10 },
		{ "m", 1000000 },    { "mb", 1000000 },    { "mib", 1ull << 20 },
		{ "g", 1000000000 }, { "gb", 1000000000 }, { "gib", 1ull << 30 },
		{ "t", 1000000000000ull }, { "tb", 1000000000000ull }, { "tib", 1ull << 40 },
	};
	const char *p = s;
	uint64_t v = 0;
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p)) {
		unsigned d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
		p++;
	}
	while (*p == ' ')
		p++;
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		if (strcasecmp(p, sfx[i].sfx) == 0) {
			if (v != 0 && sfx[i].mul > UINT64_MAX / v)
				return -EINVAL;
			*out = v * sfx[i].mul;
			return 0;
		}
	}
	return -EINVAL;
}

static const struct opt *find_opt(const char *name)
{
	char norm[64];
	size_t n = strlen(name);
	if (n >= sizeof(norm))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		norm[i] = name[i] == '_' ? '-' : (char)tolower((unsigned char)name[i]);
	for (size_t i = 0; i < N_OPTS; i++)
		if (strcmp(opts[i].name, norm) == 0)
			return &opts[i];
	return NULL;
}

static int set_opt(struct col_config *c, const struct opt *o, const char *value,
		   char *err, size_t errlen)
{
	char *field = (char *)c + o->off;
	uint64_t v;
	switch (o->kind) {
	case K_ADDR: {
		const char *colon = strrchr(value, ':');
		char *end;
		long port = colon ? strtol(colon + 1, &end, 10) : -1;
		if (colon == NULL || colon == value || colon[1] == '\0' || *end != '\0' ||
		    port < 0 || port > 65535) {
			snprintf(err, errlen, "'%s' is not HOST:PORT (port 0-65535)", value);
			return -EINVAL;
		}
	}
		/* fall through */
	case K_STR:
		if (value[0] == '\0') {
			snprintf(err, errlen, "empty value");
			return -EINVAL;
		}
		if (strlen(value) >= o->size) {
			snprintf(err, errlen, "value longer than %zu bytes", o->size - 1);
			return -EINVAL;
		}
		if (strcmp(o->name, "forward") == 0 &&
		    col_fwd_config_parse_url(NULL, value, err, errlen) != 0)
			return -EINVAL;
		if (strcmp(o->name, "sink") == 0 && col_stage_find(value) == NULL) {
			char names[256];
			snprintf(err, errlen, "unknown sink '%s' (known: %s)", value,
				 col_stage_names(names, sizeof(names)));
			return -EINVAL;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	case K_SIZE:
		if (col_parse_size(value, &v) != 0) {
			snprintf(err, errlen, "'%s' is not a size (e.g. 512MiB, 64MB, 1048576)", value);
			return -EINVAL;
		}
		goto check_range;
	case K_U32: {
		char *end;
		errno = 0;
		unsigned long long u = strtoull(value, &end, 10);
		if (!isdigit((unsigned char)value[0]) || *end != '\0' || errno != 0) {
			snprintf(err, errlen, "'%s' is not a non-negative integer", value);
			return -EINVAL;
		}
		v = u;
		goto check_range;
	}
	case K_LEVEL: {
		enum col_log_level l;
		if (col_log_parse_level(value, &l) != 0) {
			snprintf(err, errlen, "'%s' is not one of error|warn|info|debug", value);
			return -EINVAL;
		}
		memcpy(field, &l, sizeof(l));
		return 0;
	}
	}
	return -EINVAL;

check_range:
	if (v < o->min || v > o->max) {
		snprintf(err, errlen, "%" PRIu64 " is out of range [%" PRIu64 ", %" PRIu64 "]",
			 v, o->min, o->max);
		return -EINVAL;
	}
	if (o->size == sizeof(uint32_t)) {
		uint32_t v32 = (uint32_t)v;
		memcpy(field, &v32, sizeof(v32));
	} else {
		memcpy(field, &v, sizeof(v));
	}
	return 0;
}

int col_config_set(struct col_config *c, const char *name, const char *value,
		   char *err, size_t errlen)
{
	const struct opt *o = find_opt(name);
	if (o == NULL) {
		snprintf(err, errlen, "unknown option '%s'", name);
		return -ENOENT;
	}
	return set_opt(c, o, value, err, errlen);
}

int col_config_load_file(struct col_config *c, const char *path, char *err,
			 size_t errlen)
{
	struct col_ydoc d;
	char msg[256];
	int rc = col_ydoc_load(&d, path, err, errlen);
	if (rc != 0)
		return rc;
	yaml_node_t *root = col_ydoc_root(&d);
	if (root != NULL && root->type != YAML_MAPPING_NODE)
		rc = col_ydoc_fail(&d, root, err, errlen, "expected a mapping of option: value");
	for (size_t i = 0; rc == 0 && root != NULL && i < col_ynode_len(root); i++) {
		yaml_node_t *k, *v;
		col_ydoc_pair(&d, root, i, &k, &v);
		const char *key = col_ynode_scalar(k), *value = col_ynode_scalar(v);
		const struct opt *o = key ? find_opt(key) : NULL;
		if (key == NULL)
			rc = col_ydoc_fail(&d, k, err, errlen, "expected a mapping of option: value");
		else if (strcmp(key, "forwarders") == 0)
			/* a list of mappings: forward/config.c reads it */
			rc = col_fwd_config_yaml(&d, v, c->forwarders, &c->n_forwarders, err,
						 errlen);
		else if (o == NULL)
			rc = col_ydoc_fail(&d, k, err, errlen, "unknown option '%s'", key);
		else if (value == NULL)
			rc = col_ydoc_fail(&d, v, err, errlen, "option '%s' must be a scalar value",
					   key);
		else if (set_opt(c, o, value, msg, sizeof(msg)) != 0)
			rc = col_ydoc_fail(&d, v, err, errlen, "%s: %s", key, msg);
	}
	col_ydoc_done(&d);
	return rc;
}

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

struct flag_val {
	const struct opt *o;
	const char *value;
};

int col_config_load(struct col_config *c, int argc, char **argv, char *const *envp,
		    char *err, size_t errlen)
{
	struct option longopts[N_OPTS + 3];
	struct flag_val flags[64];
	size_t n_flags = 0;
	const char *config_file = NULL;
	char msg[256];
	int ret;

	for (size_t i = 0; i < N_OPTS; i++)
		longopts[i] = (struct option){ opts[i].name, required_argument, NULL, (int)(256 + i) };
	longopts[N_OPTS] = (struct option){ "config", required_argument, NULL, 'c' };
	longopts[N_OPTS + 1] = (struct option){ "help", no_argument, NULL, 'h' };
	longopts[N_OPTS + 2] = (struct option){ NULL, 0, NULL, 0 };

	col_config_defaults(c);
	optind = 0; /* glibc: full reset */
	opterr = 0;
	for (;;) {
		int ch = getopt_long(argc, argv, ":hc:", longopts, NULL);
		if (ch == -1)
			break;
		if (ch == 'h')
			return 1;
		if (ch == 'c') {
			config_file = optarg;
			continue;
		}
		if (ch == '?') {
			snprintf(err, errlen, "unknown option '%s' (try --help)", argv[optind - 1]);
			return -EINVAL;
		}
		if (ch == ':') {
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		}
		if (n_flags == sizeof(flags) / sizeof(flags[0])) {
			snprintf(err, errlen, "too many options");
			return -E2BIG;
		}
		flags[n_flags++] = (struct flag_val){ &opts[ch - 256], optarg };
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (try --help)", argv[optind]);
		return -EINVAL;
	}

	if (config_file == NULL)
		config_file = env_get(envp, "TERND_CONFIG");
	if (config_file != NULL && config_file[0] != '\0') {
		if (strlen(config_file) >= sizeof(c->config_file)) {
			snprintf(err, errlen, "--config: path too long");
			return -EINVAL;
		}
		ret = col_config_load_file(c, config_file, err, errlen);
		if (ret != 0)
			return ret;
		snprintf(c->config_file, sizeof(c->config_file), "%s", config_file);
	}
	for (size_t i = 0; i < N_OPTS; i++) {
		const char *v = env_get(envp, opts[i].env);
		if (v == NULL)
			continue;
		if (set_opt(c, &opts[i], v, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "environment %s: %s", opts[i].env, msg);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < n_flags; i++) {
		if (set_opt(c, flags[i].o, flags[i].value, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "--%s: %s", flags[i].o->name, msg);
			return -EINVAL;
		}
	}
	if ((c->tls_cert[0] != '\0') != (c->tls_key[0] != '\0') ||
	    (c->tls_client_ca[0] != '\0' && c->tls_cert[0] == '\0')) {
		snprintf(err, errlen, "--tls-cert and --tls-key go together (and --tls-client-ca "
				      "needs them)");
		return -EINVAL;
	}
	if (c->grpc_memory == 0) {
		/* gRPC core holds a whole message before ternd sees it, and
		 * refuses streams when its quota runs short: room for two. */
		uint64_t two = 2 * c->max_request_bytes + (4u << 20);
		c->grpc_memory = c->memory_limit / 4 > two ? c->memory_limit / 4 : two;
	}
	return 0;
}

void col_config_usage(void *fp, const char *prog)
{
	FILE *f = fp;
	char names[256];
	fprintf(f,
		"usage: %s [OPTIONS]\n"
		"ternd: the tern collector. Takes OTLP traces over gRPC and HTTP.\n\n"
		"Precedence: flags > environment > config file > defaults.\n\n"
		"  --config FILE                  YAML file of option: value (env TERND_CONFIG)\n"
		"  --help                         this text\n",
		prog);
	for (size_t i = 0; i < N_OPTS; i++) {
		char flag[80];
		snprintf(flag, sizeof(flag), "--%s %s", opts[i].name, opts[i].arg);
		fprintf(f, "  %-30s %s\n  %-30s (env %s)\n", flag, opts[i].help, "", opts[i].env);
	}
	fprintf(f, "\nSinks: %s\n", col_stage_names(names, sizeof(names)));
}
