/* api_util.c: query-string parsing, durations and the JSON envelopes. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http.h"

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes [s, s+n) into out (NUL-terminated); returns the end. */
static char *decode(char *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*out++ = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
			   hexval(s[i + 2]) >= 0) {
			*out++ = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			*out++ = s[i];
		}
	}
	*out++ = '\0';
	return out;
}

int col_api_params_parse(h2o_req_t *req, struct col_api_params *p)
{
	memset(p, 0, sizeof(*p));
	if (req->query_at == SIZE_MAX || req->query_at >= req->path.len)
		return 0;
	const char *q = req->path.base + req->query_at + 1;
	size_t qn = req->path.len - req->query_at - 1;
	p->buf = malloc(qn * 2 + 2);
	if (p->buf == NULL)
		return -ENOMEM;
	char *w = p->buf;
	size_t i = 0;
	while (i < qn) {
		size_t j = i;
		while (j < qn && q[j] != '&')
			j++;
		if (j > i) {
			if (p->n == COL_API_MAX_PARAMS)
				return -E2BIG;
			size_t eq = i;
			while (eq < j && q[eq] != '=')
				eq++;
			p->k[p->n] = w;
			w = decode(w, q + i, eq - i);
			p->v[p->n] = w;
			w = decode(w, q + eq + (eq < j), eq < j ? j - eq - 1 : 0);
			p->n++;
		}
		i = j + 1;
	}
	return 0;
}

void col_api_params_done(struct col_api_params *p)
{
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

const char *col_api_param(const struct col_api_params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->k[i], name) == 0 && p->v[i][0] != '\0')
			return p->v[i];
	return NULL;
}

int col_api_parse_i64(const char *s, int64_t *out)
{
	char *end;
	if (s == NULL || *s == '\0')
		return -EINVAL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

int col_api_parse_duration(const char *s, uint64_t *ns)
{
	if (s == NULL || *s == '\0')
		return -EINVAL;
	double total = 0;
	const char *p = s;
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	while (*p) {
		char *end;
		if (!((*p >= '0' && *p <= '9') || *p == '.'))
			return -EINVAL;
		double v = strtod(p, &end);
		if (end == p || v < 0)
			return -EINVAL;
		p = end;
		double mul;
		if (strncmp(p, "ns", 2) == 0) {
			mul = 1;
			p += 2;
		} else if (strncmp(p, "us", 2) == 0) {
			mul = 1e3;
			p += 2;
		} else if (strncmp(p, "\xc2\xb5s", 3) == 0) {
			mul = 1e3;
			p += 3;
		} else if (strncmp(p, "ms", 2) == 0) {
			mul = 1e6;
			p += 2;
		} else if (*p == 's') {
			mul = 1e9;
			p++;
		} else if (*p == 'm') {
			mul = 60e9;
			p++;
		} else if (*p == 'h') {
			mul = 3600e9;
			p++;
		} else {
			return -EINVAL;
		}
		total += v * mul;
	}
	if (total > 9.2e18)
		return -EINVAL;
	*ns = (uint64_t)(total + 0.5);
	return 0;
}

static void send_obj(h2o_req_t *req, int status, json_object *o)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
	const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" :
			     status == 404 ? "Not Found" : status == 503 ? "Service Unavailable" :
									 "Internal Server Error";
	if (s == NULL)
		col_http_send(req, 500, "Internal Server Error", "application/json",
			      H2O_STRLIT("{\"data\":null,\"errors\":[{\"code\":500,\"msg\":\"out of memory\"}]}"));
	else
		col_http_send(req, status, reason, "application/json", s, len);
	json_object_put(o);
}

void col_api_send_json(h2o_req_t *req, json_object *obj)
{
	send_obj(req, 200, obj);
}

void col_api_send_data(h2o_req_t *req, json_object *data, int64_t total)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "data", data);
	json_object_object_add(o, "total", json_object_new_int64(total));
	json_object_object_add(o, "limit", json_object_new_int(0));
	json_object_object_add(o, "offset", json_object_new_int(0));
	json_object_object_add(o, "errors", NULL);
	send_obj(req, 200, o);
}

void col_api_send_error(h2o_req_t *req, int status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object *o = json_object_new_object();
	json_object_object_add(o, "data", NULL);
	json_object_object_add(o, "total", json_object_new_int(0));
	json_object_object_add(o, "limit", json_object_new_int(0));
	json_object_object_add(o, "offset", json_object_new_int(0));
	json_object *errs = json_object_new_array();
	json_object *e = json_object_new_object();
	json_object_object_add(e, "code", json_object_new_int(status));
	json_object_object_add(e, "msg", json_object_new_string(msg));
	json_object_array_add(errs, e);
	json_object_object_add(o, "errors", errs);
	send_obj(req, status, o);
}
