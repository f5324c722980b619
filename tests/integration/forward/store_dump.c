/*
 * store_dump: prints every span of a stopped ternd's store, one line each:
 * "TRACE_HEX SPAN_HEX SERVICE" (the format helper/otlp_receiver.py writes), so the
 * forwarder tests can compare what a gateway ternd stored span by span.
 * usage: store_dump DATA_DIR. Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "otlp.h"
#include "store.h"
#include "util/hex.h"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: store_dump DATA_DIR\n");
		return 1;
	}
	struct store_options o;
	store_options_default(&o);
	o.dir = argv[1];
	o.retention_age_s = 0;
	o.retention_bytes = 0;
	struct store *s;
	int rc = store_open(&o, &s, NULL);
	if (rc != 0) {
		fprintf(stderr, "store_dump: %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	struct store_reader *r;
	rc = store_reader_new(s, (struct store_pos){ 0, 0 }, &r);
	for (;;) {
		struct otlp_batch *b;
		struct store_pos at, next;
		if (rc != 0)
			break;
		rc = store_reader_next(r, &b, &at, &next);
		if (rc == -EAGAIN) {
			rc = 0;
			break;
		}
		if (rc != 0)
			break;
		for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
			const struct otlp_any *svc = otlp_attrs_find(&rs->resource_attrs, "service.name");
			for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
				for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
					char t[33], id[17];
					util_hex_encode(t, sp->trace_id, 16);
					util_hex_encode(id, sp->span_id, 8);
					printf("%s %s %.*s\n", t, id, svc ? (int)svc->u.str.len : 1,
					       svc ? (const char *)svc->u.str.ptr : "-");
				}
		}
		otlp_batch_free(b);
	}
	store_reader_free(r);
	store_close(s);
	if (rc != 0) {
		fprintf(stderr, "store_dump: reading %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	return 0;
}
