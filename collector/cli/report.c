/*
 * cli/report.c: tern report: operations ranked by total time, in tiers by
 * their average latency, each tier with advice.
 */
#include <stdlib.h>

#include "cli/cli.h"
#include "util/text.h"

enum { TIERS = 4 };
static const char *const tier_name[TIERS] = { "critical", "high", "medium", "low" };
static const char *const advice[TIERS] = {
	"these dominate user-facing time: profile them first; look for serial calls that "
	"could run in parallel, missing indexes, and retries",
	"look at their critical path (tern trace) for the slowest child and for N+1 calls; "
	"consider caching",
	"watch their p99 against p50: a wide gap points at contention or cold caches",
	"no action needed",
};

/* --critical, --high, --medium into thr (ns), --top into *top. */
static int report_opts(const struct cli *c, double thr[TIERS - 1], int *top)
{
	static const char *const names[TIERS - 1] = { "critical", "high", "medium" };
	for (int k = 0; k < TIERS - 1; k++) {
		const char *v = cli_value(c, names[k]);
		uint64_t ns;
		if (v == NULL)
			continue;
		if (util_parse_duration(v, &ns) != 0)
			return cli_usage_error("report: '%s' is not a duration (e.g. 500ms, 2s)", v);
		thr[k] = (double)ns;
	}
	if (cli_value(c, "top"))
		*top = atoi(cli_value(c, "top"));
	if (!(thr[0] >= thr[1] && thr[1] >= thr[2]))
		return cli_usage_error("report: thresholds must be --critical >= --high >= --medium");
	return 0;
}

/* {"critical": [rows], "high": ..., "medium": ..., "low": ...} of the first n ops. */
static json_object *tiers_json(json_object *ops, size_t n, const double thr[TIERS - 1])
{
	json_object *out = json_object_new_object(), *tiers[TIERS];
	for (int t = 0; t < TIERS; t++) {
		tiers[t] = json_object_new_array();
		json_object_object_add(out, tier_name[t], tiers[t]);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(ops, i);
		double avg_ns = cli_num(row, "avg_ms") * 1e6;
		int t = TIERS - 1;
		for (int k = 0; k < TIERS - 1; k++)
			if (avg_ns > thr[k]) {
				t = k;
				break;
			}
		json_object_array_add(tiers[t], json_object_get(row));
	}
	return out;
}

static void print_tiers(json_object *out, double window_s, const double thr[TIERS - 1])
{
	printf("operations ranked by total time (window %.0f s)\n", window_s);
	for (int t = 0; t < TIERS; t++) {
		json_object *rows = cli_field(out, tier_name[t]);
		size_t m = json_object_array_length(rows);
		char a[24];
		if (t < TIERS - 1)
			printf("\n%s (avg > %s): %zu operations\n", tier_name[t],
			       cli_fmt_ms(a, sizeof(a), thr[t] / 1e6), m);
		else
			printf("\nlow: %zu operations\n", m);
		if (m == 0)
			continue;
		printf("  -> %s\n", advice[t]);
		cli_stats_table(rows, true);
	}
}

int cli_cmd_report(struct cli *c)
{
	double thr[TIERS - 1] = { 2e9, 1e9, 0.5e9 };
	int top = 0;
	int r = report_opts(c, thr, &top);
	if (r == 0)
		r = cli_window(c);
	if (r != 0)
		return r;
	json_object *o;
	r = cli_summary(c, cli_value(c, "service"), NULL, NULL, NULL, &o);
	if (r != 0)
		return r;
	json_object *ops = cli_field(cli_field(o, "data"), "operations");
	size_t n = ops ? json_object_array_length(ops) : 0;
	if (top > 0 && (size_t)top < n)
		n = (size_t)top;
	json_object *out = tiers_json(ops, n, thr);
	if (c->json)
		cli_print_json(out);
	else
		print_tiers(out, cli_num(cli_field(o, "data"), "window_s"), thr);
	json_object_put(out);
	json_object_put(o);
	return 0;
}
