/* pipeline.c: col_batch helpers and the stage registry (sinks.def). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline.h"

#define COL_SINK(name) extern const struct col_stage_ops col_sink_##name##_ops;
#include "pipeline/sinks.def"
#undef COL_SINK

static const struct col_stage_ops *const col_sinks[] = {
#define COL_SINK(name) &col_sink_##name##_ops,
#include "pipeline/sinks.def"
#undef COL_SINK
};

const char *col_proto_name(enum col_proto p)
{
	switch (p) {
	case COL_PROTO_GRPC:
		return "grpc";
	case COL_PROTO_HTTP_PROTO:
		return "http-proto";
	case COL_PROTO_HTTP_JSON:
		return "http-json";
	}
	return "?";
}

struct col_batch *col_batch_new(struct otlp_batch *otlp, enum col_proto proto,
				size_t wire_bytes, uint64_t recv_time_ns)
{
	struct col_batch *b = malloc(sizeof(*b));
	if (b == NULL)
		return NULL;
	b->otlp = otlp;
	b->proto = proto;
	b->wire_bytes = wire_bytes;
	b->recv_time_ns = recv_time_ns;
	return b;
}

void col_batch_free(struct col_batch *b)
{
	if (b == NULL)
		return;
	otlp_batch_free(b->otlp);
	free(b);
}

const struct col_stage_ops *col_stage_find(const char *name)
{
	for (size_t i = 0; i < sizeof(col_sinks) / sizeof(col_sinks[0]); i++)
		if (strcmp(col_sinks[i]->name, name) == 0)
			return col_sinks[i];
	return NULL;
}

const char *col_stage_names(char *buf, size_t len)
{
	size_t off = 0;
	if (len == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(col_sinks) / sizeof(col_sinks[0]); i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? "|" : "",
				 col_sinks[i]->name);
		if (n < 0 || (size_t)n >= len - off)
			break;
		off += (size_t)n;
	}
	return buf;
}
