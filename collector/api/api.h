/*
 * api/api.h: the query API endpoints (Jaeger's query API, the
 * monitor/SPM metrics, tern's summary) and their shared helpers.
 * Loop thread only; each handler answers its request before returning.
 */
#ifndef TERN_COLLECTOR_ANALYTICS_API_H
#define TERN_COLLECTOR_ANALYTICS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <h2o.h>
#include <json-c/json.h>

struct col_server;

/* Decoded query-string parameters, in order (a name may repeat). */
#define COL_API_MAX_PARAMS 64
struct col_api_params {
	size_t n;
	char *k[COL_API_MAX_PARAMS];
	char *v[COL_API_MAX_PARAMS];
	char *buf; /* owns the strings */
	char why[128]; /* after a failed parse: the message for the 400 */
};

/**
 * Parses req's query string (percent and '+' decoding). 0, -ENOMEM,
 * -E2BIG (too many), or -EINVAL for a name or value that decodes to a NUL
 * byte (%00: C strings would cut it short). On an error p->why holds the
 * message for the 400 answer, naming the parameter.
 */
int col_api_params_parse(h2o_req_t *req, struct col_api_params *p);
/** The same for the query string q (qn bytes, after the '?'). */
int col_api_params_parse_query(const char *q, size_t qn, struct col_api_params *p);
/** Frees what parse made. Accepts a zeroed struct. */
void col_api_params_done(struct col_api_params *p);
/** The first value of name, or NULL; "" counts as absent. */
const char *col_api_param(const struct col_api_params *p, const char *name);

/** Parses a decimal int64. 0 or -EINVAL. */
int col_api_parse_i64(const char *s, int64_t *out);

/**
 * Sends {"data": data, "total": total, "limit": 0, "offset": 0,
 * "errors": null} with status 200. Takes data (puts it).
 */
void col_api_send_data(h2o_req_t *req, json_object *data, int64_t total);

/** Sends the Jaeger error envelope with status (400, 404, 500, 503). */
void col_api_send_error(h2o_req_t *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** Sends any JSON object with status 200. Takes obj. */
void col_api_send_json(h2o_req_t *req, json_object *obj);

/* Handlers (routes in api/router.c). Durations: util_parse_duration. */
int col_api_services(struct col_server *srv, h2o_req_t *req);
int col_api_operations(struct col_server *srv, h2o_req_t *req);
int col_api_traces(struct col_server *srv, h2o_req_t *req);
int col_api_dependencies(struct col_server *srv, h2o_req_t *req);
int col_api_metrics_latencies(struct col_server *srv, h2o_req_t *req);
int col_api_metrics_calls(struct col_server *srv, h2o_req_t *req);
int col_api_metrics_errors(struct col_server *srv, h2o_req_t *req);
int col_api_metrics_minstep(struct col_server *srv, h2o_req_t *req);
int col_api_tern_summary(struct col_server *srv, h2o_req_t *req);
int col_api_tern_slow(struct col_server *srv, h2o_req_t *req);

/**
 * Paths with a parameter inside: /api/services/{service}/operations and
 * /api/traces/{traceID}. Returns 0 when it answered, 1 when the path is
 * not one of them.
 */
int col_api_prefixed(struct col_server *srv, h2o_req_t *req);

#endif /* TERN_COLLECTOR_ANALYTICS_API_H */
