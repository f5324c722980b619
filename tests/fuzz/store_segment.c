/*
 * store_segment.c: fuzz target for the segment reader. The input is a
 * segment file (and, to reach the decoder past the checksum, a bare record
 * payload). It goes through the in-memory record framing and decoder,
 * then through the real recovery scan (store_open), a reader over the log,
 * trace-by-id and search. A corrupted file must give an error, never a
 * crash, a sanitizer report or a leak.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp.h"
#include "record.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void scan_memory(const uint8_t *data, size_t size)
{
	uint64_t id;
	if (size < STORE__SEG_HDR || store__seg_hdr_parse(data, &id) < 0)
		return;
	size_t off = STORE__SEG_HDR;
	while (off + STORE__REC_HDR <= size) {
		struct store__rec_hdr h;
		if (store__rec_hdr_parse(data + off, &h) < 0 ||
		    h.stored_len > size - off - STORE__REC_HDR)
			return;
		struct otlp_batch *b = otlp_batch_new();
		if (b == NULL)
			return;
		int rc = store__rec_decode(data + off, &h, data + off + STORE__REC_HDR, b);
		otlp_batch_free(b);
		/* and the path trace-by-id takes, keeping one trace */
		if ((b = otlp_batch_new()) == NULL)
			return;
		uint8_t want[16] = { 0 };
		memcpy(want, data + off, 16);
		store__rec_decode_trace(data + off, &h, data + off + STORE__REC_HDR, b, want);
		otlp_batch_free(b);
		if (rc < 0)
			return;
		off += STORE__REC_HDR + h.stored_len;
	}
}

static void rm_dir_files(const char *dir)
{
	static const char *names[] = { "0000000000000001.seg", "0000000000000001.idx",
				       "0000000000000001.idx.tmp", "0000000000000002.seg",
				       "0000000000000002.idx", "LOCK" };
	char p[512];
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", dir, names[i]);
		unlink(p);
	}
}

static char dir[256];

static void rm_dir(void)
{
	rm_dir_files(dir);
	rmdir(dir);
}

static void scan_files(const uint8_t *data, size_t size)
{
	if (dir[0] == 0) {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/tern-fuzz-store-XXXXXX", t && *t ? t : "/tmp");
		if (mkdtemp(dir) == NULL)
			abort();
		atexit(rm_dir);
	}
	rm_dir_files(dir);
	char p[512];
	snprintf(p, sizeof p, "%s/0000000000000001.seg", dir);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);

	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retention_age_s = 0; /* keep whatever the input claims its age is */
	struct store *s;
	if (store_open(&o, &s, NULL) != 0) {
		rm_dir_files(dir);
		return;
	}
	struct store_reader *r;
	if (store_reader_new(s, (struct store_pos){ 0, 0 }, &r) == 0) {
		struct otlp_batch *b;
		struct store_pos at, next;
		uint8_t first[16];
		bool have = false;
		for (int i = 0; i < 1000; i++) {
			int rc = store_reader_next(r, &b, &at, &next);
			if (rc == -EAGAIN)
				break;
			if (rc < 0)
				continue;
			if (!have && b->resource_spans && b->resource_spans->scope_spans &&
			    b->resource_spans->scope_spans->spans) {
				memcpy(first, b->resource_spans->scope_spans->spans->trace_id, 16);
				have = true;
			}
			otlp_batch_free(b);
		}
		store_reader_free(r);
		if (have && store_get_trace(s, first, &b) == 0)
			otlp_batch_free(b);
	}
	struct store_query q = { 0 };
	q.tags[0] = (struct store_tag){ "k", "v" };
	q.n_tags = 1;
	struct store_hit *hits;
	size_t n;
	if (store_search(s, &q, &hits, &n) == 0)
		free(hits);
	struct store_strings l;
	if (store_services(s, &l) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			struct store_strings ops;
			if (store_operations(s, l.v[i], &ops) == 0)
				store_strings_free(&ops);
		}
		store_strings_free(&l);
	}
	store_close(s);
	rm_dir_files(dir);
}

/* The input as a bare record payload: the decoder past the checksum,
 * which random mutations of a framed record would rarely reach. What
 * decodes must re-encode to the same bytes. */
static void decode_payload(const uint8_t *data, size_t size)
{
	struct otlp_batch *b = otlp_batch_new();
	if (b == NULL)
		return;
	if (store__rec_decode_raw(data, size, b) == 0) {
		uint8_t *again;
		size_t len;
		if (store__rec_encode_raw(b, &again, &len) == 0) {
			/* varints may have been sent non-minimal: only the
			 * minimal form must match exactly */
			if (len > size)
				abort();
			free(again);
		}
	}
	otlp_batch_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	decode_payload(data, size);
	scan_memory(data, size);
	scan_files(data, size);
	return 0;
}
