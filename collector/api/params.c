/* params.c: query-string parameters, integers and the JSON envelopes of the API. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http.h"
#include "util/text.h"

/* A name or value decoded to a NUL byte: as a C string it would be cut
 * short, so the request is refused, naming the parameter (as printable
 * ASCII: the message goes into a JSON answer). */
static int refuse_nul(struct col_api_params *p, const char *name, size_t n)
{
	char shown[65];
	size_t i;
	for (i = 0; i < n && i < sizeof(shown) - 1; i++)
		shown[i] = name[i] >= 0x20 && name[i] < 0x7f ? name[i] : '?';
	shown[i] = '\0';
	snprintf(p->why, sizeof(p->why), "query parameter \"%s\" contains a NUL byte (%%00)",
		 shown);
	return -EINVAL;
}

int col_api_params_parse(h2o_req_t *req, struct col_api_params *p)
{
	if (req->query_at == SIZE_MAX || req->query_at >= req->path.len) {
		memset(p, 0, sizeof(*p));
		return 0;
	}
	return col_api_params_parse_query(req->path.base + req->query_at + 1,
					  req->path.len - req->query_at - 1, p);
}

int col_api_params_parse_query(const char *q, size_t qn, struct col_api_params *p)
{
	memset(p, 0, sizeof(*p));
	p->buf = malloc(qn * 2 + 2);
	if (p->buf == NULL) {
		snprintf(p->why, sizeof(p->why), "out of memory");
		return -ENOMEM;
	}
	char *w = p->buf;
	size_t i = 0;
	while (i < qn) {
		size_t j = i;
		while (j < qn && q[j] != '&')
			j++;
		if (j > i) {
			if (p->n == COL_API_MAX_PARAMS) {
				snprintf(p->why, sizeof(p->why), "more than %d query parameters",
					 COL_API_MAX_PARAMS);
				return -E2BIG;
			}
			size_t eq = i;
			while (eq < j && q[eq] != '=')
				eq++;
			p->k[p->n] = w;
			size_t kn = util_pct_decode(w, q + i, eq - i, true);
			w += kn + 1;
			p->v[p->n] = w;
			size_t vn = util_pct_decode(w, q + eq + (eq < j), eq < j ? j - eq - 1 : 0, true);
			w += vn + 1;
			if (strlen(p->k[p->n]) != kn || strlen(p->v[p->n]) != vn)
				return refuse_nul(p, p->k[p->n], kn);
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
