/* cli/search.c: tern search: traces of a service, one line each. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

#define MAX_TAGS 8

/* The /api/traces query: the window (µs or a lookback) and the filters. */
static int search_path(struct cli *c, char *path, size_t len)
{
	const char *tags[MAX_TAGS];
	size_t ntags = cli_values(c, "tag", tags, MAX_TAGS);
	if (ntags > MAX_TAGS)
		return cli_usage_error("search: at most %d --tag", MAX_TAGS);
	for (size_t i = 0; i < ntags; i++)
		if (strchr(tags[i], ':') == NULL)
			return cli_usage_error("search: --tag '%s' is not KEY:VALUE", tags[i]);
	if (cli_value(c, "service") == NULL)
		return cli_usage_error("search: --service is required");
	int r = cli_window(c);
	if (r != 0)
		return r;
	char q[3000] = "";
	snprintf(q, sizeof(q), "%s", c->range);
	cli_qadd(q, sizeof(q), "service", cli_value(c, "service"));
	cli_qadd(q, sizeof(q), "operation", cli_value(c, "operation"));
	cli_qadd(q, sizeof(q), "minDuration", cli_value(c, "min-duration"));
	cli_qadd(q, sizeof(q), "maxDuration", cli_value(c, "max-duration"));
	cli_qadd(q, sizeof(q), "limit", cli_value(c, "limit"));
	for (size_t i = 0; i < ntags; i++)
		cli_qadd(q, sizeof(q), "tag", tags[i]);
	snprintf(path, len, "/api/traces?%s", q);
	return 0;
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Whether sp has a CHILD_OF parent among the trace's span ids (sorted). */
static bool has_parent_in(json_object *sp, const char **ids, size_t n)
{
	json_object *refs = cli_field(sp, "references");
	for (size_t j = 0; refs && j < json_object_array_length(refs); j++) {
		json_object *r = json_object_array_get_idx(refs, j);
		if (strcmp(cli_str(r, "refType"), "CHILD_OF") != 0)
			continue;
		const char *pid = cli_str(r, "spanID");
		if (ids != NULL && bsearch(&pid, ids, n, sizeof(*ids), cmp_str) != NULL)
			return true;
	}
	return false;
}

/* One line: id, root span, spans, duration, errors, start. The root is
 * the earliest span without a parent in the trace (its parent may be
 * missing); start times alone do not tell it: a child often starts in
 * the same millisecond as its parent. */
static void print_trace_line(json_object *tr)
{
	json_object *spans = cli_field(tr, "spans"), *procs = cli_field(tr, "processes");
	size_t ns = spans ? json_object_array_length(spans) : 0;
	int64_t t0 = INT64_MAX, t1 = 0;
	int errors = 0;
	char root[160] = "";
	const char **ids = ns ? malloc(ns * sizeof(*ids)) : NULL;
	for (size_t k = 0; ids && k < ns; k++)
		ids[k] = cli_str(json_object_array_get_idx(spans, k), "spanID");
	if (ids)
		qsort(ids, ns, sizeof(*ids), cmp_str);
	int64_t root_t = INT64_MAX;
	for (size_t k = 0; k < ns; k++) {
		json_object *sp = json_object_array_get_idx(spans, k);
		int64_t st = (int64_t)cli_num(sp, "startTime"), du = (int64_t)cli_num(sp, "duration");
		if (st < t0)
			t0 = st;
		if (st < root_t && !has_parent_in(sp, ids, ns)) {
			root_t = st;
			snprintf(root, sizeof(root), "%s: %s",
				 cli_str(cli_field(procs, cli_str(sp, "processID")), "serviceName"),
				 cli_str(sp, "operationName"));
		}
		if (st + du > t1)
			t1 = st + du;
		json_object *stags = cli_field(sp, "tags");
		for (size_t j = 0; stags && j < json_object_array_length(stags); j++)
			if (strcmp(cli_str(json_object_array_get_idx(stags, j), "key"), "error") == 0)
				errors++;
	}
	free(ids);
	char dur[24], when[40] = "";
	time_t ts = (time_t)(t0 / 1000000);
	struct tm tm;
	if (ns && gmtime_r(&ts, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%-32s %-40.40s %6zu %10s %6d %s\n", cli_str(tr, "traceID"), root, ns,
	       cli_fmt_ms(dur, sizeof(dur), ns ? (t1 - t0) / 1000.0 : 0), errors, when);
}

int cli_cmd_search(struct cli *c)
{
	char path[3100];
	int r = search_path(c, path, sizeof(path));
	if (r != 0)
		return r;
	json_object *o;
	r = cli_get_json(c, path, &o);
	if (r != 0)
		return r;
	json_object *d = cli_field(o, "data");
	if (c->json) {
		cli_print_json(d);
	} else {
		printf("%-32s %-40s %6s %10s %6s %s\n", "TRACE ID", "ROOT", "SPANS", "DURATION",
		       "ERRORS", "START (UTC)");
		for (size_t i = 0; d && i < json_object_array_length(d); i++)
			print_trace_line(json_object_array_get_idx(d, i));
	}
	json_object_put(o);
	return 0;
}
