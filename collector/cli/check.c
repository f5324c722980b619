/*
 * cli/check.c: tern check: an SLO gate. Exit 0 when every target holds,
 * 1 with the violations (or when there were no spans).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/text.h"

enum { TARGETS = 4 };
static const char *const target_name[TARGETS] = { "p50", "p95", "p99", "error_rate" };
static const char *const target_key[TARGETS] = { "p50_ms", "p95_ms", "p99_ms", "error_rate" };

/* The limits: p50, p95, p99 in ms and the error rate as a fraction; -1 unset. */
static int check_limits(const struct cli *c, double lim[TARGETS])
{
	for (int k = 0; k < TARGETS - 1; k++) {
		const char *v = cli_value(c, target_name[k]);
		uint64_t ns;
		if (v == NULL)
			continue;
		if (util_parse_duration(v, &ns) != 0)
			return cli_usage_error("check: '%s' is not a duration (e.g. 500ms, 1s)", v);
		lim[k] = (double)ns / 1e6;
	}
	const char *v = cli_value(c, "error-rate");
	if (v != NULL) {
		char *e;
		double pct = strtod(v, &e);
		if (e == v || (*e && strcmp(e, "%") != 0) || pct < 0)
			return cli_usage_error("check: --error-rate '%s' is not a percentage (e.g. 1%%)", v);
		lim[TARGETS - 1] = pct / 100;
	}
	if (cli_value(c, "service") == NULL)
		return cli_usage_error("check: --service is required");
	if (lim[0] < 0 && lim[1] < 0 && lim[2] < 0 && lim[3] < 0)
		return cli_usage_error("check: give at least one target (--p50, --p95, --p99, --error-rate)");
	return 0;
}

/* The service's own row (entry spans), or the operation's: all kinds
 * merged is not possible from rows, so its busiest kind. */
static json_object *checked_row(json_object *data, bool operation)
{
	json_object *row = NULL, *rows = cli_field(data, operation ? "operations" : "services");
	for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
		json_object *x = json_object_array_get_idx(rows, i);
		if (row == NULL || cli_num(x, "calls") > cli_num(row, "calls"))
			row = x;
	}
	return row;
}

/* The result object: service, operation, calls, no_data, violations, ok. */
static json_object *check_result(const struct cli *c, json_object *row, const double lim[TARGETS])
{
	const char *operation = cli_value(c, "operation");
	json_object *res = json_object_new_object(), *viol = json_object_new_array();
	json_object_object_add(res, "service", json_object_new_string(cli_value(c, "service")));
	if (operation)
		json_object_object_add(res, "operation", json_object_new_string(operation));
	json_object_object_add(res, "calls",
			       json_object_new_int64(row ? (int64_t)cli_num(row, "calls") : 0));
	bool nodata = row == NULL || cli_num(row, "calls") == 0;
	for (int k = 0; k < TARGETS && !nodata; k++) {
		double actual = cli_num(row, target_key[k]);
		if (lim[k] < 0 || actual <= lim[k])
			continue;
		json_object *v = json_object_new_object();
		json_object_object_add(v, "target", json_object_new_string(target_name[k]));
		json_object_object_add(v, "limit", json_object_new_double(lim[k]));
		json_object_object_add(v, "actual", json_object_new_double(actual));
		json_object_array_add(viol, v);
	}
	json_object_object_add(res, "no_data", json_object_new_boolean(nodata));
	json_object_object_add(res, "violations", viol);
	json_object_object_add(res, "ok",
			       json_object_new_boolean(!nodata && json_object_array_length(viol) == 0));
	return res;
}

static void print_check(json_object *res)
{
	const char *service = cli_str(res, "service");
	json_object *op = cli_field(res, "operation");
	const char *sep = op ? " / " : "", *operation = op ? json_object_get_string(op) : "";
	json_object *viol = cli_field(res, "violations");
	size_t nv = json_object_array_length(viol);
	if (json_object_get_boolean(cli_field(res, "no_data"))) {
		printf("FAIL: no spans of %s%s%s in the window\n", service, sep, operation);
		return;
	}
	if (nv == 0) {
		printf("OK: %s%s%s meets every target (%.0f calls)\n", service, sep, operation,
		       cli_num(res, "calls"));
		return;
	}
	printf("FAIL: %zu target(s) violated for %s%s%s (%.0f calls)\n", nv, service, sep, operation,
	       cli_num(res, "calls"));
	printf("%-12s %12s %12s\n", "TARGET", "LIMIT", "ACTUAL");
	for (size_t i = 0; i < nv; i++) {
		json_object *v = json_object_array_get_idx(viol, i);
		char a[24], b[24];
		if (strcmp(cli_str(v, "target"), "error_rate") == 0)
			printf("%-12s %11.2f%% %11.2f%%\n", "error_rate", 100 * cli_num(v, "limit"),
			       100 * cli_num(v, "actual"));
		else
			printf("%-12s %12s %12s\n", cli_str(v, "target"),
			       cli_fmt_ms(a, sizeof(a), cli_num(v, "limit")),
			       cli_fmt_ms(b, sizeof(b), cli_num(v, "actual")));
	}
}

int cli_cmd_check(struct cli *c)
{
	double lim[TARGETS] = { -1, -1, -1, -1 };
	int r = check_limits(c, lim);
	if (r == 0)
		r = cli_window(c);
	if (r != 0)
		return r;
	json_object *o;
	r = cli_summary(c, cli_value(c, "service"), cli_value(c, "operation"), NULL, NULL, &o);
	if (r != 0)
		return r;
	json_object *res = check_result(c, checked_row(cli_field(o, "data"), cli_value(c, "operation") != NULL),
					lim);
	bool ok = json_object_get_boolean(cli_field(res, "ok"));
	if (c->json)
		cli_print_json(res);
	else
		print_check(res);
	json_object_put(res);
	json_object_put(o);
	return ok ? 0 : CLI_EXIT_FINDING;
}
