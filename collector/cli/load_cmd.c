/* cli/load_cmd.c: tern load: runs the OTLP/gRPC load generator (load/load.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "load/load.h"

/* Reads option name, if given, as a decimal count. 0 or CLI_EXIT_USAGE. */
static int count(const struct cli *c, const char *name, unsigned long long *v)
{
	const char *s = cli_value(c, name);
	if (s == NULL)
		return 0;
	char *end;
	*v = strtoull(s, &end, 10);
	if (end == s || *end != '\0')
		return cli_usage_error("bad number '%s'", s);
	return 0;
}

static int load_opts(const struct cli *c, struct col_load_opts *o)
{
	unsigned long long streams = o->streams, conns = o->connections, spans = o->spans_per_req;
	unsigned long long requests = o->requests, seed = 0, retries = 5;
	const char *s = cli_value(c, "duration");
	int r;
	if ((r = count(c, "streams", &streams)) || (r = count(c, "connections", &conns)) ||
	    (r = count(c, "spans", &spans)) || (r = count(c, "requests", &requests)) ||
	    (r = count(c, "seed", &seed)) || (r = count(c, "retries", &retries)))
		return r;
	if (cli_value(c, "seed") && seed == 0)
		return cli_usage_error("--seed must be >= 1 (leave it out for fresh ids)");
	if (retries > 1000)
		return cli_usage_error("--retries must be in 0..1000");
	o->seed = seed;
	o->retries = retries == 0 ? -1 : (int)retries;
	if (s != NULL) {
		char *end;
		o->seconds = strtod(s, &end);
		if (end == s || *end != '\0')
			return cli_usage_error("bad number '%s'", s);
	}
	o->streams = (unsigned)streams;
	o->connections = (unsigned)conns;
	o->spans_per_req = (unsigned)spans;
	o->requests = requests;
	if (cli_value(c, "target"))
		o->target = cli_value(c, "target");
	if (cli_value(c, "service"))
		o->service = cli_value(c, "service");
	o->gzip = cli_value(c, "gzip") != NULL;
	if (o->seconds <= 0 && o->requests == 0)
		o->seconds = 10;
	if (o->streams == 0 || o->spans_per_req == 0 || o->spans_per_req > 100000)
		return cli_usage_error("--streams must be >= 1 and --spans in 1..100000");
	return 0;
}

/* One line per gRPC status that answered: how many answers, and the
 * first one's details. */
static void print_codes(const struct col_load_result *res)
{
	for (int code = 1; code < COL_LOAD_NCODES; code++) {
		if (res->by_code[code] == 0)
			continue;
		printf("status %s (%d): %llu answers", col_load_status_name(code), code,
		       (unsigned long long)res->by_code[code]);
		if (code == res->last_status && res->last_error[0])
			printf(": %s", res->last_error);
		printf("\n");
	}
}

int cli_cmd_load(struct cli *c)
{
	struct col_load_opts o = { .target = "127.0.0.1:4317", .streams = 4, .connections = 1,
				   .spans_per_req = 512 };
	int r = load_opts(c, &o);
	if (r != 0)
		return r;
	struct col_load_result res;
	r = col_load_run(&o, &res);
	if (r == -ECONNREFUSED)
		return cli_fail(CLI_EXIT_USAGE,
				"cannot connect to %s: nothing accepts OTLP/gRPC there "
				"(connection refused or unreachable)", o.target);
	if (r == -ETIMEDOUT)
		return cli_fail(CLI_EXIT_USAGE, "cannot connect to %s: no connection in %.0f s",
				o.target, o.connect_timeout_s > 0 ? o.connect_timeout_s : 5.0);
	if (r != 0)
		return cli_fail(CLI_EXIT_USAGE, "load could not run: %s", strerror(-r));
	printf("sent %llu requests (%llu spans) in %.2f s, seed %llu\n",
	       (unsigned long long)res.sent, (unsigned long long)res.spans_sent, res.elapsed_s,
	       (unsigned long long)res.seed);
	printf("acked %llu, refused %llu, failed %llu; spans acked %llu, rejected %llu\n",
	       (unsigned long long)res.acked, (unsigned long long)res.refused,
	       (unsigned long long)res.failed, (unsigned long long)res.spans_acked,
	       (unsigned long long)res.rejected_spans);
	if (res.retries)
		printf("retries %llu (longest backoff %.2f s)\n", (unsigned long long)res.retries,
		       res.max_backoff_s);
	print_codes(&res);
	printf("spans/s %.0f\n", res.elapsed_s > 0 ? (double)res.spans_acked / res.elapsed_s : 0);
	if (res.refused || res.failed)
		fprintf(stderr, "tern: %llu of %llu requests were not acked (%s)\n",
			(unsigned long long)(res.refused + res.failed), (unsigned long long)res.sent,
			res.failed ? "failed" : "refused after retries");
	return res.refused || res.failed ? CLI_EXIT_FINDING : 0;
}
