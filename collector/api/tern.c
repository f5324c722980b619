/*
 * api/tern.c: endpoints answered from the analytics sketches: Jaeger's
 * monitor (SPM) metrics /api/metrics/{latencies,calls,errors} and tern's
 * own /api/tern/summary and /api/tern/slow (docs/api.md).
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics.h"
#include "api/api.h"
#include "server.h"
#include "util/text.h"

#define MS 1000000ull
#define US 1000ull
#define MAX_POINTS 10000

static int cmp_total_desc(const void *x, const void *y)
{
	const struct col_an_row *a = x, *b = y;
	double sa = a->sk ? tern_sketch_sum(a->sk) : 0, sb = b->sk ? tern_sketch_sum(b->sk) : 0;
	return sa < sb ? 1 : sa > sb ? -1 : 0;
}

static json_object *num(double v)
{
	if (!isfinite(v))
		return NULL;
	return json_object_new_double(v);
}

/* One summary row. total_ns: the sum the share is taken of. */
static json_object *row_json(const struct col_an_row *r, double window_s, double total_ns)
{
	json_object *o = json_object_new_object();
	if (r->service)
		json_object_object_add(o, "service", json_object_new_string(r->service));
	if (r->operation)
		json_object_object_add(o, "operation", json_object_new_string(r->operation));
	if (r->kind >= 0)
		json_object_object_add(o, "span_kind", json_object_new_string(col_an_kind_name(r->kind)));
	if (r->version)
		json_object_object_add(o, "version", json_object_new_string(r->version));
	json_object_object_add(o, "calls", json_object_new_int64((int64_t)r->calls));
	json_object_object_add(o, "rate_per_s", num(window_s > 0 ? r->calls / window_s : 0));
	json_object_object_add(o, "errors", json_object_new_int64((int64_t)r->errors));
	json_object_object_add(o, "error_rate", num(r->calls ? (double)r->errors / r->calls : 0));
	double sum = r->sk ? tern_sketch_sum(r->sk) : 0;
	json_object_object_add(o, "avg_ms", num(r->calls ? sum / r->calls / 1e6 : 0));
	static const struct {
		const char *k;
		double q;
	} qs[] = { { "p50_ms", 0.5 }, { "p75_ms", 0.75 }, { "p90_ms", 0.9 },
		   { "p95_ms", 0.95 }, { "p99_ms", 0.99 } };
	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		json_object_object_add(o, qs[i].k,
				       num(r->sk && r->calls ? tern_sketch_quantile(r->sk, qs[i].q) / 1e6 : 0));
	json_object_object_add(o, "max_ms", num(r->sk && r->calls ? tern_sketch_max(r->sk) / 1e6 : 0));
	json_object_object_add(o, "total_ms", num(sum / 1e6));
	json_object_object_add(o, "time_share", num(total_ns > 0 ? sum / total_ns : 0));
	return o;
}

/* start/end (µs) and lookback (Go duration, default dflt_ns): [start, end). */
static int parse_window(const struct col_api_params *p, uint64_t dflt_ns, uint64_t *start_ns,
			uint64_t *end_ns, char *err, size_t errlen)
{
	const char *v;
	int64_t t;
	uint64_t end = col_now_ns(), lb = dflt_ns;
	if ((v = col_api_param(p, "end"))) {
		if (col_api_parse_i64(v, &t) != 0 || t < 0 || t > INT64_MAX / 1000) {
			snprintf(err, errlen, "unable to parse param 'end': '%s' is not microseconds", v);
			return -EINVAL;
		}
		end = (uint64_t)t * US;
	}
	if ((v = col_api_param(p, "lookback")) && util_parse_duration(v, &lb) != 0) {
		snprintf(err, errlen, "unable to parse param 'lookback': '%s' (e.g. 15m, 1h)", v);
		return -EINVAL;
	}
	uint64_t start = end > lb ? end - lb : 0;
	if ((v = col_api_param(p, "start"))) {
		if (col_api_parse_i64(v, &t) != 0 || t < 0 || t > INT64_MAX / 1000) {
			snprintf(err, errlen, "unable to parse param 'start': '%s' is not microseconds", v);
			return -EINVAL;
		}
		start = (uint64_t)t * US;
	}
	if (start >= end) {
		snprintf(err, errlen, "parameter 'start' must be before 'end'");
		return -EINVAL;
	}
	*start_ns = start;
	*end_ns = end;
	return 0;
}

static int parse_kind(const struct col_api_params *p, const char *name, int *kind, char *err,
		      size_t errlen)
{
	const char *v = col_api_param(p, name);
	*kind = -1;
	if (v == NULL)
		return 0;
	*kind = col_an_kind_parse(v);
	if (*kind < 0) {
		snprintf(err, errlen, "unable to parse param '%s': unsupported span kind: '%s'", name, v);
		return -EINVAL;
	}
	return 0;
}

int col_api_tern_summary(struct col_server *srv, h2o_req_t *req)
{
	struct col_api_params p;
	char err[300];
	struct col_an_result rs = { 0 }, ro = { 0 };
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "%s", p.why);
		goto out;
	}
	uint64_t start, end;
	int kind;
	if (parse_window(&p, 15ull * 60 * 1000000000ull, &start, &end, err, sizeof(err)) != 0 ||
	    parse_kind(&p, "spanKind", &kind, err, sizeof(err)) != 0) {
		col_api_send_error(req, 400, "%s", err);
		goto out;
	}
	if (srv->an == NULL) {
		col_api_send_error(req, 503, "analytics are not running");
		goto out;
	}
	struct col_an_filter fs = { col_api_param(&p, "service"), NULL, col_api_param(&p, "version"),
				    -1, true };
	struct col_an_filter fo = { fs.service, col_api_param(&p, "operation"), fs.version, kind,
				    false };
	int rc;
	const unsigned gops = COL_AN_G_SERVICE | COL_AN_G_OPERATION | COL_AN_G_KIND;
	if (fo.operation == NULL && fo.kind < 0) {
		/* One pass: rows per operation with entry spans apart, then the
		 * service rows (entry spans) and operation rows from them. */
		struct col_an_result all = { 0 };
		rc = col_an_query(srv->an, &fo, start, end, gops | COL_AN_G_ENTRY, &all);
		if (rc == 0 || rc == -EIO) {
			int r2 = col_an_regroup(&all, COL_AN_G_SERVICE, true, &rs);
			if (r2 == 0)
				r2 = col_an_regroup(&all, gops, false, &ro);
			if (r2 != 0)
				rc = r2;
		}
		col_an_result_free(&all);
	} else {
		rc = col_an_query(srv->an, &fs, start, end, COL_AN_G_SERVICE, &rs);
		if (rc == 0 || rc == -EIO)
			rc = col_an_query(srv->an, &fo, start, end, gops, &ro);
	}
	if (rc != 0 && rc != -EIO) {
		col_api_send_error(req, 500, "query failed: %s", strerror(-rc));
		goto out;
	}
	/* Minutes are whole: report the window the answer covers. */
	uint64_t m0 = (start + 60000000000ull - 1) / 60000000000ull;
	uint64_t m1 = (end + 60000000000ull - 1) / 60000000000ull;
	double window_s = (double)(m1 - m0) * 60.0;
	qsort(rs.rows, rs.n, sizeof(*rs.rows), cmp_total_desc);
	qsort(ro.rows, ro.n, sizeof(*ro.rows), cmp_total_desc);
	double ts = 0, to = 0;
	for (size_t i = 0; i < rs.n; i++)
		ts += rs.rows[i].sk ? tern_sketch_sum(rs.rows[i].sk) : 0;
	for (size_t i = 0; i < ro.n; i++)
		to += ro.rows[i].sk ? tern_sketch_sum(ro.rows[i].sk) : 0;
	json_object *d = json_object_new_object();
	json_object_object_add(d, "start", json_object_new_int64((int64_t)(m0 * 60000000ull)));
	json_object_object_add(d, "end", json_object_new_int64((int64_t)(m1 * 60000000ull)));
	json_object_object_add(d, "window_s", json_object_new_double(window_s));
	json_object *sa = json_object_new_array(), *oa = json_object_new_array();
	for (size_t i = 0; i < rs.n; i++)
		json_object_array_add(sa, row_json(&rs.rows[i], window_s, ts));
	for (size_t i = 0; i < ro.n; i++)
		json_object_array_add(oa, row_json(&ro.rows[i], window_s, to));
	json_object_object_add(d, "services", sa);
	json_object_object_add(d, "operations", oa);
	if (rc == -EIO)
		json_object_object_add(d, "warning",
				       json_object_new_string("some persisted hours could not be read"));
	col_api_send_data(req, d, (int64_t)(rs.n + ro.n));
out:
	col_an_result_free(&rs);
	col_an_result_free(&ro);
	col_api_params_done(&p);
	return 0;
}

/* Operations whose p95 in the recent window is factor x their p95 over
 * the baseline window just before it. */
int col_api_tern_slow(struct col_server *srv, h2o_req_t *req)
{
	struct col_api_params p;
	char err[300];
	struct col_an_result now = { 0 }, base = { 0 };
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "%s", p.why);
		goto out;
	}
	uint64_t start, end, bl = 3600ull * 1000000000ull;
	const char *v;
	double factor = 1.5;
	int64_t min_calls = 10;
	if (parse_window(&p, 5ull * 60 * 1000000000ull, &start, &end, err, sizeof(err)) != 0) {
		col_api_send_error(req, 400, "%s", err);
		goto out;
	}
	if ((v = col_api_param(&p, "baseline")) && util_parse_duration(v, &bl) != 0) {
		col_api_send_error(req, 400, "unable to parse param 'baseline': '%s' (e.g. 1h)", v);
		goto out;
	}
	if ((v = col_api_param(&p, "factor"))) {
		char *e;
		factor = strtod(v, &e);
		if (*e || !(factor > 0)) {
			col_api_send_error(req, 400, "unable to parse param 'factor': '%s'", v);
			goto out;
		}
	}
	if ((v = col_api_param(&p, "minCalls")) &&
	    (col_api_parse_i64(v, &min_calls) != 0 || min_calls < 0)) {
		col_api_send_error(req, 400, "unable to parse param 'minCalls': '%s'", v);
		goto out;
	}
	if (srv->an == NULL) {
		col_api_send_error(req, 503, "analytics are not running");
		goto out;
	}
	struct col_an_filter f = { col_api_param(&p, "service"), NULL, NULL, -1, false };
	unsigned g = COL_AN_G_SERVICE | COL_AN_G_OPERATION | COL_AN_G_KIND;
	int rc = col_an_query(srv->an, &f, start, end, g, &now);
	if (rc == 0 || rc == -EIO)
		rc = col_an_query(srv->an, &f, start > bl ? start - bl : 0, start, g, &base);
	if (rc != 0 && rc != -EIO) {
		col_api_send_error(req, 500, "query failed: %s", strerror(-rc));
		goto out;
	}
	json_object *arr = json_object_new_array();
	size_t n = 0;
	for (size_t i = 0; i < now.n; i++) {
		const struct col_an_row *r = &now.rows[i];
		if ((int64_t)r->calls < min_calls || r->sk == NULL)
			continue;
		const struct col_an_row *b = NULL;
		for (size_t j = 0; j < base.n && b == NULL; j++)
			if (base.rows[j].service == r->service && base.rows[j].operation == r->operation &&
			    base.rows[j].kind == r->kind)
				b = &base.rows[j];
		if (b == NULL || (int64_t)b->calls < min_calls || b->sk == NULL)
			continue;
		double pn = tern_sketch_quantile(r->sk, 0.95), pb = tern_sketch_quantile(b->sk, 0.95);
		if (!(pb > 0) || pn / pb < factor)
			continue;
		json_object *o = json_object_new_object();
		json_object_object_add(o, "service", json_object_new_string(r->service));
		json_object_object_add(o, "operation", json_object_new_string(r->operation));
		json_object_object_add(o, "span_kind", json_object_new_string(col_an_kind_name(r->kind)));
		json_object_object_add(o, "calls", json_object_new_int64((int64_t)r->calls));
		json_object_object_add(o, "p95_ms", num(pn / 1e6));
		json_object_object_add(o, "baseline_p95_ms", num(pb / 1e6));
		json_object_object_add(o, "ratio", num(pn / pb));
		json_object_array_add(arr, o);
		n++;
	}
	col_api_send_data(req, arr, (int64_t)n);
out:
	col_an_result_free(&now);
	col_an_result_free(&base);
	col_api_params_done(&p);
	return 0;
}

/* ---- Jaeger SPM: /api/metrics/{latencies,calls,errors} ---- */

enum metric { M_LAT, M_CALLS, M_ERR };

static void rfc3339(char *out, size_t len, uint64_t ms)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms % 1000)
		snprintf(out + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
	else
		snprintf(out + n, len - n, "Z");
}

/* A metrics request, as its parameters say. */
struct metrics_req {
	enum metric which;
	const char *svcs[COL_API_MAX_PARAMS]; /* service (repeatable) */
	size_t nsvc;
	bool by_op;       /* groupByOperation */
	unsigned kinds;   /* 1 << span kind, OR'ed (default server) */
	int64_t end_ms, lookback, step, rate_per; /* ms */
	size_t npoints;   /* at end_ms - lookback + k * step, k = 0 .. npoints - 1 */
	double quantile;  /* latencies only */
};

static int metrics_services(const struct col_api_params *p, struct metrics_req *m, char *err,
			    size_t errlen)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->k[i], "service") == 0 && p->v[i][0])
			m->svcs[m->nsvc++] = p->v[i];
	if (m->nsvc == 0) {
		snprintf(err, errlen,
			 "unable to parse param 'service': please provide at least one service name");
		return -EINVAL;
	}
	return 0;
}

/* Go's strconv.ParseBool, which Jaeger uses: 1 t T TRUE true True and
 * 0 f F FALSE false False. 0, or -EINVAL. */
static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
			*out = strcmp(v, yes[i]) == 0;
			return 0;
		}
	}
	return -EINVAL;
}

static int metrics_group_by(const struct col_api_params *p, struct metrics_req *m, char *err,
			    size_t errlen)
{
	const char *v = col_api_param(p, "groupByOperation");
	if (v != NULL && parse_bool(v, &m->by_op) != 0) {
		snprintf(err, errlen, "unable to parse param 'groupByOperation': '%s'", v);
		return -EINVAL;
	}
	return 0;
}

/* A span kind as Jaeger's metrics API names it (SPAN_KIND_SERVER, the
 * OTLP enum name) or as the rest of the API does (server); -1 if neither. */
static int metrics_kind_parse(const char *v)
{
	static const char prefix[] = "SPAN_KIND_";
	if (strncmp(v, prefix, sizeof(prefix) - 1) != 0)
		return col_an_kind_parse(v);
	char low[16];
	size_t n = 0;
	for (const char *c = v + sizeof(prefix) - 1; *c && n + 1 < sizeof(low); c++) {
		if (*c < 'A' || *c > 'Z')
			return -1;
		low[n++] = (char)(*c - 'A' + 'a');
	}
	low[n] = '\0';
	return col_an_kind_parse(low);
}

/* spanKind may repeat; the kinds are OR'ed (default server). */
static int metrics_kinds(const struct col_api_params *p, struct metrics_req *m, char *err,
			 size_t errlen)
{
	for (size_t i = 0; i < p->n; i++) {
		if (strcmp(p->k[i], "spanKind") != 0)
			continue;
		int k = metrics_kind_parse(p->v[i]);
		if (k < 0) {
			snprintf(err, errlen, "unable to parse param 'spanKind': unsupported span kind: '%s'",
				 p->v[i]);
			return -EINVAL;
		}
		m->kinds |= 1u << k;
	}
	if (m->kinds == 0)
		m->kinds = 1u << OTLP_SPAN_KIND_SERVER;
	return 0;
}

/* endTs, lookback, step and ratePer (ms), and no more than MAX_POINTS points. */
static int metrics_times(const struct col_api_params *p, struct metrics_req *m, char *err,
			 size_t errlen)
{
	m->end_ms = (int64_t)(col_now_ns() / MS);
	m->lookback = 3600000;
	m->step = 5000;
	m->rate_per = 600000;
	const struct {
		const char *name;
		int64_t *dst;
	} ip[] = { { "endTs", &m->end_ms }, { "lookback", &m->lookback }, { "step", &m->step },
		   { "ratePer", &m->rate_per } };
	for (size_t i = 0; i < sizeof(ip) / sizeof(ip[0]); i++) {
		const char *v = col_api_param(p, ip[i].name);
		if (v && (col_api_parse_i64(v, ip[i].dst) != 0 || *ip[i].dst < 0 ||
			  *ip[i].dst > INT64_MAX / 1000000)) {
			snprintf(err, errlen, "unable to parse param '%s': '%s' is not milliseconds",
				 ip[i].name, v);
			return -EINVAL;
		}
	}
	if (m->step <= 0 || m->rate_per <= 0) {
		snprintf(err, errlen, "unable to parse param '%s': must be > 0",
			 m->step <= 0 ? "step" : "ratePer");
		return -EINVAL;
	}
	if (m->lookback / m->step >= MAX_POINTS) {
		snprintf(err, errlen, "parameter 'step' too small for 'lookback' (at most %d points)",
			 MAX_POINTS);
		return -EINVAL;
	}
	m->npoints = (size_t)(m->lookback / m->step) + 1;
	return 0;
}

static int metrics_quantile(const struct col_api_params *p, struct metrics_req *m, char *err,
			    size_t errlen)
{
	if (m->which != M_LAT)
		return 0;
	const char *v = col_api_param(p, "quantile");
	char *e;
	if (v == NULL || (m->quantile = strtod(v, &e), *e) || !(m->quantile > 0 && m->quantile <= 1)) {
		snprintf(err, errlen, "unable to parse param 'quantile': %s", v ? v : "missing");
		return -EINVAL;
	}
	return 0;
}

/* All of the request's parameters, in the order their errors are reported. */
static int metrics_parse(const struct col_api_params *p, struct metrics_req *m, char *err,
			 size_t errlen)
{
	int r = metrics_services(p, m, err, errlen);
	if (r == 0)
		r = metrics_group_by(p, m, err, errlen);
	if (r == 0)
		r = metrics_kinds(p, m, err, errlen);
	if (r == 0)
		r = metrics_times(p, m, err, errlen);
	if (r == 0)
		r = metrics_quantile(p, m, err, errlen);
	return r;
}

/*
 * One time series: its labels and a value for every point. A step
 * without calls keeps the value it was made with: 0 for call and error
 * rates, NaN for latencies (Jaeger's backends give NaN there: no
 * quantile of nothing; its UI draws a gap).
 */
struct series {
	const char *service, *operation; /* interned by the analytics */
	double *v;                       /* m->npoints values */
};

struct series_set {
	struct series *v;
	size_t n;
};

static void series_set_done(struct series_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		free(set->v[i].v);
	free(set->v);
}

/* The series of row (made on first use), or NULL when out of memory. */
static struct series *series_of(struct series_set *set, const struct metrics_req *m,
				const struct col_an_row *row)
{
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].service == row->service && set->v[i].operation == row->operation)
			return &set->v[i];
	double *vals = malloc(m->npoints * sizeof(*vals));
	struct series *v = vals ? realloc(set->v, (set->n + 1) * sizeof(*v)) : NULL;
	if (v == NULL) {
		free(vals);
		return NULL;
	}
	for (size_t k = 0; k < m->npoints; k++)
		vals[k] = m->which == M_LAT ? NAN : 0.0;
	set->v = v;
	v[set->n] = (struct series){ row->service, row->operation, vals };
	return &v[set->n++];
}

/* The rows of the minutes of one point, and which minutes they are. */
struct point_rows {
	int64_t m0, m1;
	struct col_an_result r;
};

/* Rows over (t - ratePer, t]: minutes are whole, so consecutive points in
 * the same minutes share one query. 0, or -1 with err set. */
static int point_rows(struct col_server *srv, const struct metrics_req *m, int64_t t,
		      struct point_rows *pr, char *err, size_t errlen)
{
	uint64_t e_ns = (uint64_t)(t > 0 ? t : 0) * MS;
	uint64_t s_ns = t > m->rate_per ? (uint64_t)(t - m->rate_per) * MS : 0;
	int64_t m0 = (int64_t)((s_ns + 59999999999ull) / 60000000000ull);
	int64_t m1 = (int64_t)((e_ns + 59999999999ull) / 60000000000ull);
	if (m0 == pr->m0 && m1 == pr->m1)
		return 0;
	col_an_result_free(&pr->r);
	pr->r = (struct col_an_result){ 0 };
	struct col_an_filter f = { NULL, NULL, NULL, -1, false, m->kinds };
	unsigned g = COL_AN_G_SERVICE | (m->by_op ? COL_AN_G_OPERATION : 0);
	int rc = col_an_query(srv->an, &f, s_ns, e_ns, g, &pr->r);
	if (rc != 0 && rc != -EIO) {
		snprintf(err, errlen, "query failed: %s", strerror(-rc));
		return -1;
	}
	pr->m0 = m0;
	pr->m1 = m1;
	return 0;
}

/* The value of row for the metric; false when it has no calls (the
 * series keeps its no-call value). */
static bool point_value(const struct metrics_req *m, const struct col_an_row *row, double *val)
{
	if (row->calls == 0)
		return false;
	if (m->which == M_CALLS)
		*val = (double)row->calls / ((double)m->rate_per / 1000.0);
	else if (m->which == M_ERR)
		*val = (double)row->errors / (double)row->calls;
	else if (row->sk != NULL)
		*val = tern_sketch_quantile(row->sk, m->quantile) / 1e6;
	else
		return false;
	return true;
}

static bool wanted(const struct metrics_req *m, const char *service)
{
	for (size_t k = 0; k < m->nsvc; k++)
		if (strcmp(m->svcs[k], service) == 0)
			return true;
	return false;
}

/* Sets point k of the series of every wanted row with calls. */
static int set_points(const struct metrics_req *m, const struct col_an_result *r, size_t k,
		      struct series_set *set, char *err, size_t errlen)
{
	for (size_t i = 0; i < r->n; i++) {
		const struct col_an_row *row = &r->rows[i];
		double val;
		if (!wanted(m, row->service) || !point_value(m, row, &val))
			continue;
		struct series *s = series_of(set, m, row);
		if (s == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		s->v[k] = val;
	}
	return 0;
}

/* Every series with calls in the window, a value at each of its points.
 * 0, or -1 with err set. */
static int metrics_collect(struct col_server *srv, const struct metrics_req *m,
			   struct series_set *set, char *err, size_t errlen)
{
	struct point_rows pr = { -1, -1, { 0 } };
	int rc = 0;
	for (size_t k = 0; k < m->npoints && rc == 0; k++) {
		int64_t t = m->end_ms - m->lookback + (int64_t)k * m->step;
		rc = point_rows(srv, m, t, &pr, err, errlen);
		if (rc == 0)
			rc = set_points(m, &pr.r, k, set, err, errlen);
	}
	col_an_result_free(&pr.r);
	return rc;
}

/* Jaeger's points: a NaN goes out as the string "NaN", as Go's protobuf
 * JSON writes it (JSON has no NaN). */
static json_object *series_points(const struct metrics_req *m, const struct series *s)
{
	json_object *pts = json_object_new_array();
	for (size_t k = 0; k < m->npoints; k++) {
		int64_t t = m->end_ms - m->lookback + (int64_t)k * m->step;
		char ts[40];
		rfc3339(ts, sizeof(ts), (uint64_t)(t > 0 ? t : 0));
		json_object *pt = json_object_new_object();
		json_object *gv = json_object_new_object();
		json_object_object_add(gv, "doubleValue", isnan(s->v[k]) ?
							  json_object_new_string("NaN") :
							  json_object_new_double(s->v[k]));
		json_object_object_add(pt, "gaugeValue", gv);
		json_object_object_add(pt, "timestamp", json_object_new_string(ts));
		json_object_array_add(pts, pt);
	}
	return pts;
}

static json_object *label(const char *name, const char *value)
{
	json_object *l = json_object_new_object();
	json_object_object_add(l, "name", json_object_new_string(name));
	json_object_object_add(l, "value", json_object_new_string(value));
	return l;
}

/* Jaeger's metrics family: name, type, help and the series. */
static json_object *metrics_family(const struct metrics_req *m, const struct series_set *set)
{
	static const char *const names[3][2] = {
		{ "service_latencies", "service_operation_latencies" },
		{ "service_call_rate", "service_operation_call_rate" },
		{ "service_error_rate", "service_operation_error_rate" },
	};
	char help[160];
	const char *grp = m->by_op ? "service & operation" : "service";
	if (m->which == M_LAT)
		snprintf(help, sizeof(help), "%.2fth quantile latency, grouped by %s", m->quantile, grp);
	else if (m->which == M_CALLS)
		snprintf(help, sizeof(help), "calls/sec, grouped by %s", grp);
	else
		snprintf(help, sizeof(help), "error rate, computed as a fraction of errors/sec over calls/sec, grouped by %s", grp);
	json_object *mf = json_object_new_object();
	json_object_object_add(mf, "name", json_object_new_string(names[m->which][m->by_op]));
	json_object_object_add(mf, "type", json_object_new_string("GAUGE"));
	json_object_object_add(mf, "help", json_object_new_string(help));
	json_object *ms = json_object_new_array();
	for (size_t i = 0; i < set->n; i++) {
		json_object *mo = json_object_new_object();
		json_object *labels = json_object_new_array();
		json_object_array_add(labels, label("service_name", set->v[i].service));
		if (m->by_op)
			json_object_array_add(labels, label("operation", set->v[i].operation));
		json_object_object_add(mo, "labels", labels);
		json_object_object_add(mo, "metricPoints", series_points(m, &set->v[i]));
		json_object_array_add(ms, mo);
	}
	json_object_object_add(mf, "metrics", ms);
	return mf;
}

static int metrics(struct col_server *srv, h2o_req_t *req, enum metric which)
{
	struct col_api_params p;
	struct metrics_req m = { .which = which };
	struct series_set set = { NULL, 0 };
	char err[300];
	if (col_api_params_parse(req, &p) != 0) {
		col_api_send_error(req, 400, "%s", p.why);
		goto out;
	}
	if (metrics_parse(&p, &m, err, sizeof(err)) != 0) {
		col_api_send_error(req, 400, "%s", err);
		goto out;
	}
	if (srv->an == NULL) {
		col_api_send_error(req, 503, "analytics are not running");
		goto out;
	}
	if (metrics_collect(srv, &m, &set, err, sizeof(err)) != 0) {
		col_api_send_error(req, 500, "%s", err);
		goto out;
	}
	col_api_send_json(req, metrics_family(&m, &set));
out:
	series_set_done(&set);
	col_api_params_done(&p);
	return 0;
}

/* Our finest resolution is one minute. */
int col_api_metrics_minstep(struct col_server *srv, h2o_req_t *req)
{
	(void)srv;
	col_api_send_data(req, json_object_new_int64(60000), 1);
	return 0;
}

int col_api_metrics_latencies(struct col_server *srv, h2o_req_t *req)
{
	return metrics(srv, req, M_LAT);
}

int col_api_metrics_calls(struct col_server *srv, h2o_req_t *req)
{
	return metrics(srv, req, M_CALLS);
}

int col_api_metrics_errors(struct col_server *srv, h2o_req_t *req)
{
	return metrics(srv, req, M_ERR);
}
