/* tern.c: the tern command-line tool. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/query.h"
#include "httpc.h"
#include "load/load.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tern COMMAND [OPTIONS]\n"
		"\n"
		"commands:\n"
		"  health [--addr HOST:PORT]   GET /healthz from ternd's query address\n"
		"                              (default 127.0.0.1:16686); exit 0 if healthy\n"
		"  load [OPTIONS]              OTLP/gRPC load generator\n"
		"      --target HOST:PORT      ternd's OTLP/gRPC address (default 127.0.0.1:4317)\n"
		"      --streams N             concurrent calls in flight (default 4)\n"
		"      --connections N         HTTP/2 connections to spread them over (default 1)\n"
		"      --spans M               spans per request (default 512)\n"
		"      --duration T            seconds to run (default 10 unless --requests)\n"
		"      --requests K            stop after K requests\n"
		"      --gzip                  compress requests\n"
		"      --service NAME          service.name of the spans (default tern-load)\n"
		"  services                    services ternd has seen\n"
		"  stats [--service S] [--operation O] [--since 15m | --start T --end T]\n"
		"                              calls, rate, errors, p50..p99, max, time share\n"
		"  trace ID                    the trace as a waterfall, critical path marked\n"
		"  search --service S [...]    find traces (operation, --tag K:V, durations)\n"
		"  report [--service S]        bottlenecks: operations by total time, in tiers\n"
		"  check --service S --p95 500ms --p99 1s --error-rate 1%%\n"
		"                              SLO gate: exit 0 if all hold, 1 otherwise\n"
		"  compare --service S --baseline version=1.1 --current version=1.2\n"
		"                              per operation, regressions beyond 5%% exit 1\n"
		"  (query commands take --addr HOST:PORT (or $TERN_ADDR) and --json;\n"
		"   COMMAND --help says more; docs/cli.md)\n"
		"  --help                      this text\n");
}

static int cmd_health(int argc, char **argv)
{
	const char *addr = "127.0.0.1:16686";
	static const struct option lo[] = { { "addr", required_argument, NULL, 'a' },
					    { "help", no_argument, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:h", lo, NULL)) != -1) {
		if (ch == 'a')
			addr = optarg;
		else if (ch == 'h') {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	struct col_hclient c;
	if (col_hclient_init(&c, addr) != 0) {
		fprintf(stderr, "tern: --addr '%s' is not HOST:PORT\n", addr);
		return 2;
	}
	int status;
	char *body;
	size_t len;
	int r = col_hclient_request(&c, "GET", "/healthz", "Connection: close\r\n", NULL, 0,
				    5000, &status, NULL, &body, &len);
	col_hclient_close(&c);
	if (r != 0) {
		fprintf(stderr, "tern: cannot reach ternd at %s: %s\n", addr, strerror(-r));
		return 1;
	}
	printf("%d %s", status, body);
	if (len == 0 || body[len - 1] != '\n')
		putchar('\n');
	free(body);
	return status == 200 ? 0 : 1;
}

static int cmd_load(int argc, char **argv)
{
	struct col_load_opts o = { .target = "127.0.0.1:4317", .streams = 4, .connections = 1,
				   .spans_per_req = 512 };
	static const struct option lo[] = {
		{ "target", required_argument, NULL, 't' },
		{ "streams", required_argument, NULL, 'n' },
		{ "connections", required_argument, NULL, 'c' },
		{ "spans", required_argument, NULL, 'm' },
		{ "duration", required_argument, NULL, 'd' },
		{ "requests", required_argument, NULL, 'k' },
		{ "gzip", no_argument, NULL, 'z' },
		{ "service", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		char *end = NULL;
		switch (ch) {
		case 't':
			o.target = optarg;
			break;
		case 'n':
			o.streams = (unsigned)strtoul(optarg, &end, 10);
			break;
		case 'c':
			o.connections = (unsigned)strtoul(optarg, &end, 10);
			break;
		case 'm':
			o.spans_per_req = (unsigned)strtoul(optarg, &end, 10);
			break;
		case 'd':
			o.seconds = strtod(optarg, &end);
			break;
		case 'k':
			o.requests = strtoull(optarg, &end, 10);
			break;
		case 'z':
			o.gzip = true;
			break;
		case 's':
			o.service = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (end != NULL && (*end != '\0' || end == optarg)) {
			fprintf(stderr, "tern: bad number '%s'\n", optarg);
			return 2;
		}
	}
	if (o.seconds <= 0 && o.requests == 0)
		o.seconds = 10;
	if (o.streams == 0 || o.spans_per_req == 0 || o.spans_per_req > 100000) {
		fprintf(stderr, "tern: --streams must be >= 1 and --spans in 1..100000\n");
		return 2;
	}
	struct col_load_result res;
	int r = col_load_run(&o, &res);
	if (r != 0) {
		fprintf(stderr, "tern: load could not run: %s\n", strerror(-r));
		return 1;
	}
	printf("sent %llu requests (%llu spans) in %.2f s\n", (unsigned long long)res.sent,
	       (unsigned long long)res.spans_sent, res.elapsed_s);
	printf("acked %llu, refused %llu, failed %llu; spans acked %llu, rejected %llu\n",
	       (unsigned long long)res.acked, (unsigned long long)res.refused,
	       (unsigned long long)res.failed, (unsigned long long)res.spans_acked,
	       (unsigned long long)res.rejected_spans);
	printf("spans/s %.0f\n", res.elapsed_s > 0 ? (double)res.spans_acked / res.elapsed_s : 0);
	if (res.last_status)
		printf("last error: status %d: %s\n", res.last_status, res.last_error);
	return res.failed ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "health") == 0)
		return cmd_health(argc - 1, argv + 1);
	if (strcmp(argv[1], "load") == 0)
		return cmd_load(argc - 1, argv + 1);
	static const struct {
		const char *name;
		int (*fn)(int, char **);
	} cmds[] = { { "services", col_cli_services }, { "stats", col_cli_stats },
		     { "trace", col_cli_trace },       { "search", col_cli_search },
		     { "report", col_cli_report },     { "check", col_cli_check },
		     { "compare", col_cli_compare } };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "tern: unknown command '%s' (try tern --help)\n", argv[1]);
	return 2;
}
