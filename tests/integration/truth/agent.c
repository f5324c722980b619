/*
 * truth-agent: one libtern service, driven line by line on stdin by the
 * ground-truth test (truth.mjs). It records spans with the real agent and
 * exports them with the agent's own exporter to a real ternd, when the
 * driver says so: the driver decides who is exported before whom.
 *
 * usage: truth-agent SERVICE ENDPOINT      (ENDPOINT e.g. http://127.0.0.1:4317)
 *
 * One reply line per command:
 *   B KEY KIND NAME PARENT   begin span KEY (0..MAX_SPANS-1) of OTLP kind KIND
 *                            (0 = unspecified: libtern passes the kind through)
 *                            with parent PARENT (a traceparent, or - for a root)
 *                            -> C KEY TRACEPARENT
 *   E KEY DUR_NS ERR         end KEY with duration DUR_NS (the start is moved
 *                            back with tern_span_backdate right before the
 *                            end), status ERROR when ERR is 1   -> e KEY
 *   F                        tern_flush: export everything ended so far; the
 *                            agent retries while ternd is down -> F RC EXPORTED DROPPED
 *   Q                        tern_shutdown                      -> Q RC EXPORTED DROPPED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tern.h"

#define MAX_SPANS 8192
#define FLUSH_MS 60000

static struct tern_span *spans;

static void reply_counters(char what, int rc)
{
	struct tern_counters c;
	tern_counters_get(&c);
	printf("%c %d %llu %llu\n", what, rc, (unsigned long long)c.exported,
	       (unsigned long long)c.dropped);
}

/* B KEY KIND NAME PARENT */
static int cmd_begin(char *args)
{
	unsigned key, kind;
	char name[TERN_NAME_MAX + 1], parent[64];
	if (sscanf(args, "%u %u %63s %63s", &key, &kind, name, parent) != 4 || key >= MAX_SPANS ||
	    kind > 5)
		return -1;
	struct tern_context pc;
	const struct tern_context *pp = NULL;
	if (strcmp(parent, "-") != 0) {
		if (tern_traceparent_parse(parent, strlen(parent), &pc) != 0)
			return -1;
		pp = &pc;
	}
	tern_span_begin_ctx(&spans[key], name, (enum tern_span_kind)kind, pp);
	struct tern_context me;
	tern_span_context(&spans[key], &me);
	if (!me.valid)
		return -1;
	char tp[56];
	tern_traceparent_format(&me, tp);
	printf("C %u %s\n", key, tp);
	return 0;
}

/* E KEY DUR_NS ERR */
static int cmd_end(char *args)
{
	unsigned key, err;
	unsigned long long dur;
	if (sscanf(args, "%u %llu %u", &key, &dur, &err) != 3 || key >= MAX_SPANS)
		return -1;
	if (err)
		tern_span_set_status(&spans[key], TERN_STATUS_ERROR, "truth: planned error");
	tern_span_backdate(&spans[key], dur);
	tern_span_end(&spans[key]);
	printf("e %u\n", key);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: truth-agent SERVICE ENDPOINT\n");
		return 2;
	}
	spans = calloc(MAX_SPANS, sizeof(*spans));
	if (spans == NULL)
		return 1;
	struct tern_options o;
	tern_options_default(&o);
	o.service_name = argv[1];
	o.endpoint = argv[2];
	o.schedule_delay_ms = 600000;  /* exports only when the driver flushes */
	o.bsp_export_timeout_ms = 60000; /* keep retrying while ternd restarts */
	o.export_timeout_ms = 5000;
	o.max_queue_size = 8192;
	o.max_export_batch_size = 8192;
	int rc = tern_init(&o);
	if (rc != 0) {
		fprintf(stderr, "truth-agent: tern_init: %d\n", rc);
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char line[512];
	while (fgets(line, sizeof(line), stdin)) {
		rc = 0;
		switch (line[0]) {
		case 'B':
			rc = cmd_begin(line + 1);
			break;
		case 'E':
			rc = cmd_end(line + 1);
			break;
		case 'F':
			reply_counters('F', tern_flush(FLUSH_MS));
			break;
		case 'Q':
			reply_counters('Q', tern_shutdown(FLUSH_MS));
			free(spans);
			return 0;
		default:
			rc = -1;
		}
		if (rc != 0) {
			fprintf(stderr, "truth-agent %s: bad command: %s", argv[1], line);
			printf("? bad command\n");
		}
	}
	tern_shutdown(FLUSH_MS);
	free(spans);
	return 0;
}
