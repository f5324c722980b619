/*
 * cli/format.c: reading the API's JSON and printing it: members, numbers,
 * durations in ms, pretty JSON, and the stats table that stats and report
 * share.
 */
#include "cli/cli.h"

json_object *cli_field(json_object *o, const char *k)
{
	json_object *v = NULL;
	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

double cli_num(json_object *o, const char *k)
{
	json_object *v = cli_field(o, k);
	return v ? json_object_get_double(v) : 0;
}

const char *cli_str(json_object *o, const char *k)
{
	json_object *v = cli_field(o, k);
	return v ? json_object_get_string(v) : "";
}

void cli_print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

const char *cli_fmt_ms(char *buf, size_t len, double ms)
{
	if (ms >= 1000)
		snprintf(buf, len, "%.2fs", ms / 1000);
	else if (ms >= 1)
		snprintf(buf, len, "%.1fms", ms);
	else
		snprintf(buf, len, "%.0fus", ms * 1000);
	return buf;
}

void cli_stats_table(json_object *rows, bool ops)
{
	char a[24], b[24], cc[24], d[24], e[24];
	size_t n = rows ? json_object_array_length(rows) : 0;
	if (ops)
		printf("%-16s %-28s %-8s %8s %9s %7s %9s %9s %9s %9s %9s %6s\n", "SERVICE", "OPERATION",
		       "KIND", "CALLS", "RATE/s", "ERR%", "AVG", "P50", "P95", "P99", "MAX", "SHARE");
	else
		printf("%-16s %8s %9s %7s %9s %9s %9s %9s %9s %6s\n", "SERVICE", "CALLS", "RATE/s",
		       "ERR%", "AVG", "P50", "P95", "P99", "MAX", "SHARE");
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(rows, i);
		if (ops)
			printf("%-16.16s %-28.28s %-8s ", cli_str(r, "service"), cli_str(r, "operation"),
			       cli_str(r, "span_kind"));
		else
			printf("%-16.16s ", cli_str(r, "service"));
		printf("%8.0f %9.2f %6.2f%% %9s %9s %9s %9s %9s %5.1f%%\n", cli_num(r, "calls"),
		       cli_num(r, "rate_per_s"), 100 * cli_num(r, "error_rate"),
		       cli_fmt_ms(a, sizeof(a), cli_num(r, "avg_ms")),
		       cli_fmt_ms(b, sizeof(b), cli_num(r, "p50_ms")),
		       cli_fmt_ms(cc, sizeof(cc), cli_num(r, "p95_ms")),
		       cli_fmt_ms(d, sizeof(d), cli_num(r, "p99_ms")),
		       cli_fmt_ms(e, sizeof(e), cli_num(r, "max_ms")), 100 * cli_num(r, "time_share"));
	}
}
