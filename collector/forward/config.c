/*
 * forward/config.c: forwarder configuration (URL form, YAML list), and the
 * pure functions every ternd must compute the same way: routing and
 * sampling by trace id, retry delays, which answers are retried.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "forward/forward.h"
#include "yaml_tree.h"

void col_fwd_config_default(struct col_fwd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "forward");
	c->protocol = COL_FWD_GRPC;
	snprintf(c->path, sizeof(c->path), "/v1/traces");
	c->timeout_ms = 10000;
	c->connect_timeout_ms = 5000;
	c->batch_spans = 4096;
	c->max_request_bytes = 4000000;
	c->concurrency = 4;
	c->max_backoff_ms = 30000;
	c->sample_ratio = 1.0;
}

static int fail(char *err, size_t errlen, const char *fmt, const char *arg)
{
	snprintf(err, errlen, fmt, arg);
	return -EINVAL;
}

static int parse_u32(const char *v, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long long u = strtoull(v, &end, 10);
	if (!isdigit((unsigned char)v[0]) || *end != '\0' || errno != 0 || u < min || u > max)
		return -EINVAL;
	*out = (uint32_t)u;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on") || !strcasecmp(v, "gzip")) {
		*out = true;
		return 0;
	}
	if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
	    !strcasecmp(v, "off") || !strcasecmp(v, "none")) {
		*out = false;
		return 0;
	}
	return -EINVAL;
}

/* HOST:PORT with a port 1..65535 and no scheme. */
static int add_endpoint(struct col_fwd_config *c, const char *v, size_t n, char *err,
			size_t errlen)
{
	char ep[256];
	if (n == 0 || n >= sizeof(ep))
		return fail(err, errlen, "endpoint '%s' is empty or too long", v);
	memcpy(ep, v, n);
	ep[n] = '\0';
	const char *colon = strrchr(ep, ':');
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (colon == NULL || colon == ep || colon[1] == '\0' || *end != '\0' || port < 1 ||
	    port > 65535 || strchr(ep, '/') != NULL)
		return fail(err, errlen, "endpoint '%s' is not HOST:PORT", ep);
	if (c->n_endpoints == COL_FWD_MAX_ENDPOINTS)
		return fail(err, errlen, "more than 8 endpoints (at '%s')", ep);
	memcpy(c->endpoints[c->n_endpoints++], ep, n + 1);
	return 0;
}

/* "name: value" or "name=value". */
static int add_header(struct col_fwd_config *c, const char *name, size_t nlen,
		      const char *value, char *err, size_t errlen)
{
	while (*value == ' ')
		value++;
	if (nlen == 0 || nlen >= sizeof(c->headers[0].name))
		return fail(err, errlen, "header name of '%s' is empty or too long", name);
	if (strlen(value) >= sizeof(c->headers[0].value))
		return fail(err, errlen, "header value of '%s' is too long", name);
	if (c->n_headers == COL_FWD_MAX_HEADERS)
		return fail(err, errlen, "more than 8 headers (at '%s')", name);
	struct col_fwd_header *h = &c->headers[c->n_headers];
	for (size_t i = 0; i < nlen; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '-' && ch != '_' && ch != '.')
			return fail(err, errlen, "header name '%s' has a bad character", name);
		h->name[i] = (char)tolower(ch);
	}
	h->name[nlen] = '\0';
	snprintf(h->value, sizeof(h->value), "%s", value);
	c->n_headers++;
	return 0;
}

static int set_name(struct col_fwd_config *c, const char *v, char *err, size_t errlen)
{
	size_t n = strlen(v);
	if (n == 0 || n >= sizeof(c->name))
		return fail(err, errlen, "forwarder name '%s' must have 1-47 characters", v);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)v[i];
		if (!isalnum(ch) && ch != '.' && ch != '_' && ch != '-')
			return fail(err, errlen, "forwarder name '%s': use [A-Za-z0-9._-]", v);
	}
	memcpy(c->name, v, n + 1);
	return 0;
}

int col_fwd_config_set(struct col_fwd_config *c, const char *key, const char *v, char *err,
		       size_t errlen)
{
	if (!strcmp(key, "url"))
		return col_fwd_config_parse_url(c, v, err, errlen);
	if (!strcmp(key, "name"))
		return set_name(c, v, err, errlen);
	if (!strcmp(key, "endpoint") || !strcmp(key, "endpoints")) {
		/* a comma-separated list is accepted too */
		const char *p = v;
		for (;;) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			int rc = add_endpoint(c, p, n, err, errlen);
			if (rc != 0)
				return rc;
			if (comma == NULL)
				return 0;
			p = comma + 1;
		}
	}
	if (!strcmp(key, "protocol")) {
		if (!strcasecmp(v, "grpc"))
			c->protocol = COL_FWD_GRPC;
		else if (!strcasecmp(v, "http") || !strcasecmp(v, "http/protobuf") ||
			 !strcasecmp(v, "http-proto"))
			c->protocol = COL_FWD_HTTP;
		else
			return fail(err, errlen, "protocol '%s' is not grpc or http/protobuf", v);
		return 0;
	}
	if (!strcmp(key, "path")) {
		if (v[0] != '/' || strlen(v) >= sizeof(c->path) || strpbrk(v, " \r\n"))
			return fail(err, errlen, "path '%s' must start with / (max 127 bytes)", v);
		snprintf(c->path, sizeof(c->path), "%s", v);
		return 0;
	}
	if (!strcmp(key, "header") || !strcmp(key, "headers")) {
		const char *sep = strpbrk(v, ":=");
		if (sep == NULL)
			return fail(err, errlen, "header '%s' is not name: value", v);
		return add_header(c, v, (size_t)(sep - v), sep + 1, err, errlen);
	}
	if (!strcmp(key, "gzip") || !strcmp(key, "compression")) {
		if (parse_bool(v, &c->gzip) != 0)
			return fail(err, errlen, "'%s' is not true/false (or gzip/none)", v);
		return 0;
	}
	if (!strcmp(key, "per_endpoint_cursors")) {
		if (parse_bool(v, &c->per_endpoint_cursors) != 0)
			return fail(err, errlen, "per_endpoint_cursors '%s' is not true/false", v);
		return 0;
	}
	if (!strcmp(key, "tls")) {
		if (parse_bool(v, &c->tls) != 0)
			return fail(err, errlen, "tls '%s' is not true/false", v);
		return 0;
	}
	struct {
		const char *key;
		char *field;
	} files[] = {
		{ "ca_file", c->ca_file },
		{ "cert_file", c->cert_file },
		{ "key_file", c->key_file },
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (strcmp(key, files[i].key) != 0)
			continue;
		if (v[0] == '\0' || strlen(v) >= sizeof(c->ca_file)) {
			snprintf(err, errlen, "%s '%s' is empty or too long (max 255 bytes)", key, v);
			return -EINVAL;
		}
		snprintf(files[i].field, sizeof(c->ca_file), "%s", v);
		return 0;
	}
	if (!strcmp(key, "service") || !strcmp(key, "services")) {
		if (v[0] == '\0' || strlen(v) >= sizeof(c->services[0]))
			return fail(err, errlen, "service '%s' is empty or too long", v);
		if (c->n_services == COL_FWD_MAX_SERVICES)
			return fail(err, errlen, "more than 16 services (at '%s')", v);
		snprintf(c->services[c->n_services++], sizeof(c->services[0]), "%s", v);
		return 0;
	}
	if (!strcmp(key, "sample") || !strcmp(key, "sample_ratio")) {
		char *end;
		double d = strtod(v, &end);
		if (end == v || *end != '\0' || !(d >= 0.0 && d <= 1.0))
			return fail(err, errlen, "sample '%s' is not a ratio in [0, 1]", v);
		c->sample_ratio = d;
		return 0;
	}
	struct {
		const char *key;
		uint32_t *field;
		uint32_t min, max;
	} nums[] = {
		{ "timeout_ms", &c->timeout_ms, 1, 3600000 },
		{ "connect_timeout_ms", &c->connect_timeout_ms, 1, 3600000 },
		{ "batch_spans", &c->batch_spans, 1, 65535 },
		{ "max_request_bytes", &c->max_request_bytes, 1024, 1u << 30 },
		{ "concurrency", &c->concurrency, 1, 64 },
		{ "max_backoff_ms", &c->max_backoff_ms, 100, 3600000 },
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (strcmp(key, nums[i].key) != 0)
			continue;
		if (parse_u32(v, nums[i].min, nums[i].max, nums[i].field) != 0) {
			snprintf(err, errlen, "%s '%s' is not an integer in [%u, %u]", key, v,
				 nums[i].min, nums[i].max);
			return -EINVAL;
		}
		return 0;
	}
	snprintf(err, errlen, "unknown forwarder key '%s'", key);
	return -ENOENT;
}

int col_fwd_config_parse_url(struct col_fwd_config *out, const char *url, char *err,
			     size_t errlen)
{
	struct col_fwd_config tmp;
	struct col_fwd_config *c = out ? out : &tmp;
	char buf[2048];
	if (out == NULL)
		col_fwd_config_default(c);
	if (strlen(url) >= sizeof(buf))
		return fail(err, errlen, "forward URL is too long (%s)", "max 2047 bytes");
	snprintf(buf, sizeof(buf), "%s", url);
	char *p = buf;
	if (!strncasecmp(p, "grpc://", 7)) {
		c->protocol = COL_FWD_GRPC;
		p += 7;
	} else if (!strncasecmp(p, "grpcs://", 8)) {
		c->protocol = COL_FWD_GRPC;
		c->tls = true;
		p += 8;
	} else if (!strncasecmp(p, "http://", 7)) {
		c->protocol = COL_FWD_HTTP;
		p += 7;
	} else if (!strncasecmp(p, "https://", 8)) {
		c->protocol = COL_FWD_HTTP;
		c->tls = true;
		p += 8;
	} else if (strstr(p, "://") != NULL) {
		return fail(err, errlen,
			    "forward URL '%s': use grpc://, grpcs:// (TLS), http:// or https:// (TLS)",
			    url);
	}
	char *query = strchr(p, '?');
	if (query)
		*query++ = '\0';
	char *slash = strchr(p, '/');
	if (slash) {
		if (c->protocol != COL_FWD_HTTP && slash[1] != '\0')
			return fail(err, errlen, "forward URL '%s': a path needs http(s)://", url);
		if (slash[1] != '\0') {
			int rc = col_fwd_config_set(c, "path", slash, err, errlen);
			if (rc != 0)
				return rc;
		}
		*slash = '\0';
	}
	c->n_endpoints = 0;
	int rc = col_fwd_config_set(c, "endpoints", p, err, errlen);
	if (rc != 0)
		return rc;
	while (query && *query) {
		char *amp = strchr(query, '&');
		if (amp)
			*amp = '\0';
		char *eq = strchr(query, '=');
		if (eq == NULL)
			return fail(err, errlen, "forward URL parameter '%s' has no value", query);
		*eq = '\0';
		rc = col_fwd_config_set(c, query, eq + 1, err, errlen);
		if (rc != 0)
			return rc == -ENOENT ? -EINVAL : rc;
		query = amp ? amp + 1 : NULL;
	}
	return col_fwd_config_check(c, err, errlen);
}

int col_fwd_config_check(const struct col_fwd_config *c, char *err, size_t errlen)
{
	if (c->n_endpoints == 0)
		return fail(err, errlen, "forwarder '%s' has no endpoint", c->name);
	if ((c->cert_file[0] != '\0') != (c->key_file[0] != '\0'))
		return fail(err, errlen, "forwarder '%s': cert_file and key_file go together",
			    c->name);
	if (!c->tls && (c->ca_file[0] || c->cert_file[0]))
		return fail(err, errlen,
			    "forwarder '%s': ca_file / cert_file need TLS (tls: true, grpcs:// "
			    "or https://)",
			    c->name);
	return 0;
}

/* ---- YAML: forwarders: [ {url|endpoint(s), ...}, ... ] ---- */

/* key: scalar, key: [scalars], or headers: {name: value}. */
static int yaml_value(struct col_ydoc *d, struct col_fwd_config *c, const char *key,
		      yaml_node_t *v, char *err, size_t errlen)
{
	char msg[300];
	const char *s = col_ynode_scalar(v);
	if (s != NULL) {
		if (col_fwd_config_set(c, key, s, msg, sizeof(msg)) != 0)
			return col_ydoc_fail(d, v, err, errlen, "forwarders: %s", msg);
		return 0;
	}
	if (v->type == YAML_SEQUENCE_NODE) {
		for (size_t i = 0; i < col_ynode_len(v); i++) {
			yaml_node_t *item = col_ydoc_item(d, v, i);
			if ((s = col_ynode_scalar(item)) == NULL)
				return col_ydoc_fail(d, item, err, errlen,
						     "forwarders: expected a list of scalars");
			if (col_fwd_config_set(c, key, s, msg, sizeof(msg)) != 0)
				return col_ydoc_fail(d, item, err, errlen, "forwarders: %s", msg);
		}
		return 0;
	}
	if (v->type == YAML_MAPPING_NODE && !strcmp(key, "headers")) {
		for (size_t i = 0; i < col_ynode_len(v); i++) {
			yaml_node_t *hk, *hv;
			col_ydoc_pair(d, v, i, &hk, &hv);
			const char *name = col_ynode_scalar(hk), *value = col_ynode_scalar(hv);
			if (name == NULL)
				return col_ydoc_fail(d, hk, err, errlen,
						     "forwarders: headers: expected name: value");
			if (value == NULL)
				return col_ydoc_fail(d, hv, err, errlen,
						     "forwarders: headers: expected a scalar value");
			if (add_header(c, name, strlen(name), value, msg, sizeof(msg)) != 0)
				return col_ydoc_fail(d, hv, err, errlen, "forwarders: %s", msg);
		}
		return 0;
	}
	return col_ydoc_fail(d, v, err, errlen, "forwarders: expected a scalar or a list");
}

/* One "- key: value ..." mapping into c (defaults first). */
static int yaml_forwarder(struct col_ydoc *d, yaml_node_t *m, struct col_fwd_config *c,
			  uint32_t index, char *err, size_t errlen)
{
	col_fwd_config_default(c);
	snprintf(c->name, sizeof(c->name), "fwd%u", (unsigned)index);
	for (size_t i = 0; i < col_ynode_len(m); i++) {
		yaml_node_t *k, *v;
		col_ydoc_pair(d, m, i, &k, &v);
		const char *key = col_ynode_scalar(k);
		if (key == NULL)
			return col_ydoc_fail(d, k, err, errlen, "forwarders: expected a key");
		int rc = yaml_value(d, c, key, v, err, errlen);
		if (rc != 0)
			return rc;
	}
	char msg[300];
	if (col_fwd_config_check(c, msg, sizeof(msg)) != 0)
		return col_ydoc_fail(d, m, err, errlen, "forwarders: %s", msg);
	return 0;
}

int col_fwd_config_yaml(struct col_ydoc *d, struct yaml_node_s *list, struct col_fwd_config *cfg,
			uint32_t *n, char *err, size_t errlen)
{
	if (list->type != YAML_SEQUENCE_NODE)
		return col_ydoc_fail(d, list, err, errlen,
				     "forwarders: expected a list of forwarders (- url: ...)");
	for (size_t i = 0; i < col_ynode_len(list); i++) {
		yaml_node_t *m = col_ydoc_item(d, list, i);
		if (m->type != YAML_MAPPING_NODE)
			return col_ydoc_fail(d, m, err, errlen,
					     "forwarders: each forwarder is a mapping (key: value)");
		if (*n == COL_FWD_MAX)
			return col_ydoc_fail(d, m, err, errlen, "forwarders: more than %d forwarders",
					     COL_FWD_MAX);
		struct col_fwd_config *c = &cfg[*n];
		int rc = yaml_forwarder(d, m, c, *n, err, errlen);
		if (rc != 0)
			return rc;
		for (uint32_t j = 0; j < *n; j++)
			if (!strcmp(cfg[j].name, c->name))
				return col_ydoc_fail(d, m, err, errlen,
						     "forwarders: two forwarders named '%s'", c->name);
		(*n)++;
	}
	return 0;
}

/* ---- routing, sampling, retries ---- */

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

unsigned col_fwd_route(const uint8_t trace_id[16], unsigned n)
{
	uint64_t z = be64(trace_id) ^ be64(trace_id + 8);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return n <= 1 ? 0 : (unsigned)(z % n);
}

bool col_fwd_sampled(const uint8_t trace_id[16], double ratio)
{
	if (ratio >= 1.0)
		return true;
	if (!(ratio > 0.0))
		return false;
	uint64_t r = be64(trace_id + 8) & ((1ull << 56) - 1);
	return (double)r < ratio * 72057594037927936.0; /* 2^56 */
}

uint64_t col_fwd_backoff_ms(unsigned attempt, uint64_t max_ms, int64_t hint_ms, uint64_t rnd)
{
	uint64_t d = 100;
	for (unsigned i = 1; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	uint64_t half = d / 2;
	uint64_t v = half + (half ? rnd % (d - half + 1) : 0);
	if (hint_ms >= 0) {
		uint64_t h = (uint64_t)hint_ms > max_ms ? max_ms : (uint64_t)hint_ms;
		if (v < h)
			v = h;
	}
	return v;
}

bool col_fwd_grpc_retryable(int status, bool has_retry_info)
{
	switch (status) {
	case 1:  /* CANCELLED */
	case 4:  /* DEADLINE_EXCEEDED */
	case 10: /* ABORTED */
	case 11: /* OUT_OF_RANGE */
	case 14: /* UNAVAILABLE */
	case 15: /* DATA_LOSS */
		return true;
	case 8: /* RESOURCE_EXHAUSTED */
		return has_retry_info;
	default:
		return false;
	}
}

bool col_fwd_http_retryable(int status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

