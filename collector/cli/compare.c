/*
 * cli/compare.c: tern compare: per operation, two sides (versions or
 * windows) side by side; exit 1 on any regression beyond the threshold.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum { KEYS = 4 };
static const char *const keys[KEYS] = { "p50_ms", "p95_ms", "p99_ms", "error_rate" };

/* One side: version=V, or window=START,END. */
struct side {
	const char *spec;        /* as given */
	const char *version;     /* version=V */
	char start[32], end[32]; /* window=START,END (µs) */
};

static int parse_side(const char *s, struct side *sd)
{
	memset(sd, 0, sizeof(*sd));
	sd->spec = s;
	if (strncmp(s, "version=", 8) == 0 && s[8]) {
		sd->version = s + 8;
		return 0;
	}
	if (strncmp(s, "window=", 7) != 0)
		return -EINVAL;
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", s + 7);
	char *comma = strchr(buf, ',');
	if (comma == NULL)
		return -EINVAL;
	*comma = '\0';
	int64_t a, b;
	if (cli_parse_time(buf, &a) != 0 || cli_parse_time(comma + 1, &b) != 0 || b <= a)
		return -EINVAL;
	snprintf(sd->start, sizeof(sd->start), "%" PRId64, a);
	snprintf(sd->end, sizeof(sd->end), "%" PRId64, b);
	return 0;
}

/* --baseline, --current and --threshold (percent). */
static int compare_opts(const struct cli *c, struct side *base, struct side *cur,
			double *threshold)
{
	const char *bs = cli_value(c, "baseline"), *cs = cli_value(c, "current");
	const char *t = cli_value(c, "threshold");
	if (t != NULL) {
		char *e;
		*threshold = strtod(t, &e);
		if (e == t || (*e && strcmp(e, "%") != 0) || *threshold < 0)
			return cli_usage_error("compare: --threshold '%s' is not a percentage", t);
	}
	if (cli_value(c, "service") == NULL || bs == NULL || cs == NULL)
		return cli_usage_error("compare: --service, --baseline and --current are required");
	if (parse_side(bs, base) != 0)
		return cli_usage_error("compare: --baseline '%s' is not version=V or window=START,END", bs);
	if (parse_side(cs, cur) != 0)
		return cli_usage_error("compare: --current '%s' is not version=V or window=START,END", cs);
	return 0;
}

/* The operations of one side: its version over c's window, or its own window. */
static int side_summary(const struct cli *c, const struct side *sd, json_object **out)
{
	struct cli cc = *c;
	if (sd->start[0]) {
		cc.range[0] = '\0';
		cli_qadd(cc.range, sizeof(cc.range), "start", sd->start);
		cli_qadd(cc.range, sizeof(cc.range), "end", sd->end);
	}
	return cli_summary(&cc, cli_value(c, "service"), NULL, sd->version, NULL, out);
}

static double pct(double base, double cur)
{
	if (base == 0)
		return cur == 0 ? 0 : INFINITY;
	return (cur - base) / base * 100;
}

/* The row of rows with x's operation and span kind, or NULL. */
static json_object *same_op(json_object *rows, json_object *x)
{
	for (size_t j = 0; j < json_object_array_length(rows); j++) {
		json_object *z = json_object_array_get_idx(rows, j);
		if (strcmp(cli_str(z, "operation"), cli_str(x, "operation")) == 0 &&
		    strcmp(cli_str(z, "span_kind"), cli_str(x, "span_kind")) == 0)
			return z;
	}
	return NULL;
}

/* Adds baseline_K, current_K and change_pct_K of every key to e; the verdict. */
static const char *compare_row(json_object *e, json_object *base, json_object *cur,
			       double threshold)
{
	bool worse = false, better = false;
	for (int k = 0; k < KEYS; k++) {
		double bv = cli_num(base, keys[k]), cv = cli_num(cur, keys[k]);
		double ch = pct(bv, cv);
		char kb[32], kc[32], kp[32];
		snprintf(kb, sizeof(kb), "baseline_%s", keys[k]);
		snprintf(kc, sizeof(kc), "current_%s", keys[k]);
		snprintf(kp, sizeof(kp), "change_pct_%s", keys[k]);
		json_object_object_add(e, kb, json_object_new_double(bv));
		json_object_object_add(e, kc, json_object_new_double(cv));
		json_object_object_add(e, kp, isfinite(ch) ? json_object_new_double(ch) : NULL);
		if (ch > threshold)
			worse = true;
		else if (ch < -threshold)
			better = true;
	}
	return worse ? "regression" : better ? "improvement" : "same";
}

/* One entry per operation of the current side; counts the regressions. */
static json_object *compare_ops(json_object *rb, json_object *rc, double threshold,
				int *regressions)
{
	json_object *out = json_object_new_array();
	*regressions = 0;
	for (size_t i = 0; i < json_object_array_length(rc); i++) {
		json_object *x = json_object_array_get_idx(rc, i), *y = same_op(rb, x);
		json_object *e = json_object_new_object();
		json_object_object_add(e, "operation", json_object_new_string(cli_str(x, "operation")));
		json_object_object_add(e, "span_kind", json_object_new_string(cli_str(x, "span_kind")));
		json_object_object_add(e, "calls", json_object_new_int64((int64_t)cli_num(x, "calls")));
		const char *verdict = y ? compare_row(e, y, x, threshold) : "new";
		*regressions += strcmp(verdict, "regression") == 0;
		json_object_object_add(e, "verdict", json_object_new_string(verdict));
		json_object_array_add(out, e);
	}
	return out;
}

static void print_compare_json(json_object *ops, double threshold, int regressions)
{
	json_object *res = json_object_new_object();
	json_object_object_add(res, "threshold_pct", json_object_new_double(threshold));
	json_object_object_add(res, "regressions", json_object_new_int(regressions));
	json_object_object_add(res, "operations", json_object_get(ops));
	cli_print_json(res);
	json_object_put(res);
}

/* One line: operation, kind, p50/p95/p99 base/cur (change), error %, verdict. */
static void print_compare_line(json_object *e)
{
	printf("%-28.28s %-8s ", cli_str(e, "operation"), cli_str(e, "span_kind"));
	for (int k = 0; k < 3; k++) {
		char kb[32], kc[32], kp[32], a[24], b[24], col[64];
		snprintf(kb, sizeof(kb), "baseline_%s", keys[k]);
		snprintf(kc, sizeof(kc), "current_%s", keys[k]);
		snprintf(kp, sizeof(kp), "change_pct_%s", keys[k]);
		if (cli_field(e, kb) == NULL) {
			printf("%-21s ", "-");
			continue;
		}
		snprintf(col, sizeof(col), "%s/%s (%+.0f%%)", cli_fmt_ms(a, sizeof(a), cli_num(e, kb)),
			 cli_fmt_ms(b, sizeof(b), cli_num(e, kc)), cli_num(e, kp));
		printf("%-21s ", col);
	}
	if (cli_field(e, "baseline_error_rate"))
		printf("%6.2f/%-6.2f       ", 100 * cli_num(e, "baseline_error_rate"),
		       100 * cli_num(e, "current_error_rate"));
	else
		printf("%-19s ", "-");
	printf("%s\n", cli_str(e, "verdict"));
}

static void print_compare_table(const struct cli *c, const struct side *base,
				const struct side *cur, json_object *ops, double threshold,
				int regressions)
{
	printf("%s: baseline %s vs current %s (threshold %.1f%%)\n", cli_value(c, "service"),
	       base->spec, cur->spec, threshold);
	printf("%-28s %-8s %-21s %-21s %-21s %-19s %s\n", "OPERATION", "KIND", "P50 base/cur (chg)",
	       "P95 base/cur (chg)", "P99 base/cur (chg)", "ERR% base/cur", "VERDICT");
	for (size_t i = 0; i < json_object_array_length(ops); i++)
		print_compare_line(json_object_array_get_idx(ops, i));
	printf("%d regression(s)\n", regressions);
}

static bool no_rows(json_object *rows)
{
	return rows == NULL || json_object_array_length(rows) == 0;
}

int cli_cmd_compare(struct cli *c)
{
	struct side base, cur;
	double threshold = 5;
	int r = compare_opts(c, &base, &cur, &threshold);
	if (r == 0)
		r = cli_window(c);
	if (r != 0)
		return r;
	json_object *ob, *oc;
	if ((r = side_summary(c, &base, &ob)) != 0)
		return r;
	if ((r = side_summary(c, &cur, &oc)) != 0) {
		json_object_put(ob);
		return r;
	}
	json_object *rb = cli_field(cli_field(ob, "data"), "operations");
	json_object *rc = cli_field(cli_field(oc, "data"), "operations");
	int regressions = 0;
	if (no_rows(rb) || no_rows(rc)) {
		/* Nothing to compare is not a pass for a CI gate. */
		printf("FAIL: no spans of %s in the %s side\n", cli_value(c, "service"),
		       no_rows(rb) ? "baseline" : "current");
		r = CLI_EXIT_FINDING;
	} else {
		json_object *ops = compare_ops(rb, rc, threshold, &regressions);
		if (c->json)
			print_compare_json(ops, threshold, regressions);
		else
			print_compare_table(c, &base, &cur, ops, threshold, regressions);
		json_object_put(ops);
		r = regressions ? CLI_EXIT_FINDING : 0;
	}
	json_object_put(ob);
	json_object_put(oc);
	return r;
}
