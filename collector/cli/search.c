/* cli/search.c: tern search: traces of a service, one line each. */
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

/* One line: id, root span, spans, duration, errors, start. */
static void print_trace_line(json_object *tr)
{
	json_object *spans = cli_field(tr, "spans"), *procs = cli_field(tr, "processes");
	size_t ns = spans ? json_object_array_length(spans) : 0;
	int64_t t0 = INT64_MAX, t1 = 0;
	int errors = 0;
	char root[160] = "";
	for (size_t k = 0; k < ns; k++) {
		json_object *sp = json_object_array_get_idx(spans, k);
		int64_t st = (int64_t)cli_num(sp, "startTime"), du = (int64_t)cli_num(sp, "duration");
		if (st < t0) {
			t0 = st;
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
