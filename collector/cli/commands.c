/*
 * cli/commands.c: the table of tern's commands: each one's name, summary,
 * usage, options and handler. tern --help, tern CMD --help and the option
 * parser are all made from it (docs/cli.md).
 */
#include <stddef.h>

#include "cli/cli.h"

#define END { NULL, 0, NULL, NULL }

static const struct cli_opt health_opts[] = {
	{ "addr", 'a', "HOST:PORT", "ternd's query address (default 127.0.0.1:16686)" },
	END,
};

static const struct cli_opt load_opts[] = {
	{ "target", 0, "HOST:PORT", "ternd's OTLP/gRPC address (default 127.0.0.1:4317)" },
	{ "streams", 0, "N", "concurrent calls in flight (default 4)" },
	{ "connections", 0, "N", "HTTP/2 connections to spread them over (default 1)" },
	{ "spans", 0, "M", "spans per request (default 512)" },
	{ "duration", 0, "T", "seconds to run (default 10 unless --requests)" },
	{ "requests", 0, "K", "stop after K requests" },
	{ "gzip", 0, NULL, "compress requests" },
	{ "service", 0, "NAME", "service.name of the spans (default tern-load)" },
	{ "seed", 0, "N", "ids from this seed, to repeat a run (default: fresh ids each run)" },
	{ "retries", 0, "N", "resend a refused request up to N times, with backoff (default 5)" },
	END,
};

static const struct cli_opt no_opts[] = { END };

static const struct cli_opt stats_opts[] = {
	{ "service", 's', "S", "only this service" },
	{ "operation", 'o', "O", "only this operation" },
	{ "version", 0, "V", "only spans of this service.version" },
	{ "kind", 0, "K", "only this span kind (server, client, producer, consumer, internal)" },
	END,
};

static const struct cli_opt search_opts[] = {
	{ "service", 's', "S", "the service (required)" },
	{ "operation", 'o', "O", "only traces with this operation" },
	{ "tag", 't', "KEY:VALUE", "only traces with a span with this tag (up to 8 times)" },
	{ "min-duration", 0, "D", "only spans at least this long" },
	{ "max-duration", 0, "D", "only spans at most this long" },
	{ "limit", 0, "N", "at most N traces (default 20, at most 1500)" },
	END,
};

static const struct cli_opt report_opts[] = {
	{ "service", 's', "S", "only this service" },
	{ "critical", 0, "D", "the critical tier: average above D (default 2s)" },
	{ "high", 0, "D", "the high tier: average above D (default 1s)" },
	{ "medium", 0, "D", "the medium tier: average above D (default 500ms)" },
	{ "top", 0, "N", "only the N operations with the most total time" },
	END,
};

static const struct cli_opt check_opts[] = {
	{ "service", 's', "S", "the service (required)" },
	{ "operation", 'o', "O", "check this operation instead of the service's entry spans" },
	{ "p50", 0, "D", "the highest p50 allowed" },
	{ "p95", 0, "D", "the highest p95 allowed" },
	{ "p99", 0, "D", "the highest p99 allowed" },
	{ "error-rate", 0, "P%", "the highest error rate allowed (e.g. 1%)" },
	END,
};

static const struct cli_opt compare_opts[] = {
	{ "service", 's', "S", "the service (required)" },
	{ "baseline", 0, "SIDE", "what to compare against (required)" },
	{ "current", 0, "SIDE", "what to compare (required)" },
	{ "threshold", 0, "P%", "a change beyond P% is a regression or an improvement (default 5%)" },
	END,
};

#define QUERY (CLI_ADDR | CLI_JSON | CLI_WINDOW)

const struct cli_cmd cli_commands[] = {
	{ "health", "GET /healthz from ternd's query address; exit 0 if healthy", "[--addr HOST:PORT]",
	  "  prints the status and the answer; exit 1 when ternd is unhealthy or unreachable",
	  health_opts, 0, NULL, cli_cmd_health },
	{ "load", "OTLP/gRPC load generator", "[OPTIONS]",
	  "  sends generated spans to ternd and prints what was acked, refused and failed\n"
	  "  (by gRPC status); exit 1 if a request was refused or failed, 2 if the\n"
	  "  target cannot be reached", load_opts, 0, NULL,
	  cli_cmd_load },
	{ "services", "services ternd has seen", "[--addr HOST:PORT] [--json]",
	  "  one name per line (the window options are accepted and ignored)", no_opts, QUERY,
	  "15m", cli_cmd_services },
	{ "stats", "calls, rate, errors, p50..p99, max, time share",
	  "[--service S] [--operation O] [--version V] [--kind K] [--since D | --start T --end T]",
	  "  per service (entry spans) and per operation", stats_opts, QUERY, "15m", cli_cmd_stats },
	{ "trace", "the trace as a waterfall, critical path marked", "TRACE_ID [--addr HOST:PORT] [--json]",
	  "  draws the trace as a waterfall; '*' and '#' mark the critical path, '!' an error\n"
	  "  (the window options are accepted and ignored)",
	  no_opts, QUERY, "15m", cli_cmd_trace },
	{ "search", "find traces (operation, --tag K:V, durations)",
	  "--service S [--operation O] [--tag KEY:VALUE]... [--min-duration D] [--max-duration D] "
	  "[--limit N]",
	  "  one line per trace: id, root span, spans, duration, errors, start", search_opts, QUERY,
	  "1h", cli_cmd_search },
	{ "report", "bottlenecks: operations by total time, in tiers",
	  "[--service S] [--critical 2s] [--high 1s] [--medium 500ms] [--top N]",
	  "  operations ranked by total time, in tiers by average latency", report_opts, QUERY, "15m",
	  cli_cmd_report },
	{ "check", "SLO gate: exit 0 if all hold, 1 otherwise",
	  "--service S [--operation O] [--p50 D] [--p95 D] [--p99 D] [--error-rate P%]",
	  "  exit 0 when every target holds, 1 with the violations (or no spans)", check_opts, QUERY,
	  "15m", cli_cmd_check },
	{ "compare", "per operation, regressions beyond 5% exit 1",
	  "--service S --baseline SIDE --current SIDE [--threshold 5%]",
	  "  SIDE: version=V (service.version, over --since/--start/--end)\n"
	  "        or window=START,END (unix seconds or RFC 3339)\n"
	  "  exit 1 when an operation regressed beyond the threshold",
	  compare_opts, QUERY, "24h", cli_cmd_compare },
	{ NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL },
};
