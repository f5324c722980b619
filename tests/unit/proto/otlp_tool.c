/*
 * otlp_tool.c: a filter around the codec for the cross-checks in
 * pycheck.py (Python's protobuf is the independent implementation).
 *
 *   otlp-tool fixture        the every-field batch as protobuf, to stdout
 *   otlp-tool reencode       protobuf on stdin -> decode -> protobuf out
 *   otlp-tool tojson         protobuf on stdin -> OTLP/JSON out
 *   otlp-tool fromjson       OTLP/JSON on stdin -> protobuf out
 *   otlp-tool response N MSG an ExportTraceServiceResponse, to stdout
 *
 * Exit 0 on success, 1 with a message on stderr otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "otlp.h"

static uint8_t *read_all(FILE *f, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			cap *= 2;
			uint8_t *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
	}
	*len = n;
	return buf;
}

static int write_all(const void *p, size_t n)
{
	return fwrite(p, 1, n, stdout) == n && fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: otlp-tool fixture|reencode|tojson|fromjson|response\n");
		return 2;
	}
	const char *cmd = argv[1];
	struct otlp_batch *b = NULL;
	uint8_t *in = NULL, *out = NULL;
	size_t inlen = 0, outlen = 0;
	char err[256] = "";
	int rc = 0;
	if (strcmp(cmd, "fixture") == 0) {
		b = fx_full_batch();
	} else if (strcmp(cmd, "response") == 0 && argc == 4) {
		struct otlp_response r = { .rejected_spans = atoll(argv[2]) };
		snprintf(r.error_message, sizeof r.error_message, "%s", argv[3]);
		rc = otlp_encode_response_proto(&r, &out, &outlen);
		goto write;
	} else {
		in = read_all(stdin, &inlen);
		b = otlp_batch_new();
		if (in == NULL || b == NULL)
			rc = -1;
		else if (strcmp(cmd, "fromjson") == 0)
			rc = otlp_decode_json(b, (const char *)in, inlen, NULL, err, sizeof err);
		else
			rc = otlp_decode_proto(b, in, inlen, NULL, err, sizeof err);
		if (rc != 0) {
			fprintf(stderr, "otlp-tool: decode: %d %s\n", rc, err);
			goto out;
		}
		if (b->n_rejected)
			fprintf(stderr, "otlp-tool: rejected %llu: %s\n",
				(unsigned long long)b->n_rejected, b->reject_msg);
	}
	if (strcmp(cmd, "tojson") == 0)
		rc = otlp_encode_json(b, (char **)&out, &outlen);
	else
		rc = otlp_encode_proto(b, &out, &outlen);
write:
	if (rc != 0) {
		fprintf(stderr, "otlp-tool: encode: %d\n", rc);
		goto out;
	}
	rc = write_all(out, outlen);
out:
	free(out);
	free(in);
	otlp_batch_free(b);
	return rc == 0 ? 0 : 1;
}
