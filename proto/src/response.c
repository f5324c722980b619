/*
 * response.c: what a receiver answers: ExportTraceServiceResponse, with
 * nanopb's encoder and decoder, and the google.rpc.Status error body of
 * OTLP/HTTP (the messages are tiny; speed does not matter here).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pb_decode.h>
#include <pb_encode.h>

#include "internal.h"
#include "trace_service.pb.h"

typedef opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse pb_resp_t;

static bool enc_message(pb_ostream_t *st, const pb_field_t *f, void *const *arg)
{
	const char *msg = *arg;
	size_t n = strnlen(msg, sizeof ((struct otlp_response *)0)->error_message);
	if (n == 0)
		return true;
	return pb_encode_tag_for_field(st, f) &&
	       pb_encode_string(st, (const pb_byte_t *)msg, n);
}

int otlp_encode_response_proto(const struct otlp_response *r, uint8_t **out, size_t *out_len)
{
	pb_resp_t m = opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_init_zero;
	if (r->rejected_spans != 0 || r->error_message[0] != '\0') {
		m.has_partial_success = true;
		m.partial_success.rejected_spans = r->rejected_spans;
		m.partial_success.error_message.funcs.encode = enc_message;
		m.partial_success.error_message.arg = (void *)r->error_message;
	}
	size_t len;
	if (!pb_get_encoded_size(&len,
				 opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_fields,
				 &m))
		return -ENOMEM; /* cannot happen for this message */
	uint8_t *buf = malloc(len ? len : 1);
	if (buf == NULL)
		return -ENOMEM;
	pb_ostream_t st = pb_ostream_from_buffer(buf, len);
	if (!pb_encode(&st, opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_fields,
		       &m)) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*out_len = st.bytes_written;
	return 0;
}

static bool dec_message(pb_istream_t *st, const pb_field_t *f, void **arg)
{
	struct otlp_response *r = *arg;
	size_t n = st->bytes_left, keep = n;
	if (keep > sizeof r->error_message - 1)
		keep = sizeof r->error_message - 1; /* truncated, as documented */
	if (!pb_read(st, (pb_byte_t *)r->error_message, keep))
		return false;
	r->error_message[keep] = '\0';
	return pb_read(st, NULL, n - keep);
}

int otlp_decode_response_proto(struct otlp_response *r, const uint8_t *buf, size_t len)
{
	memset(r, 0, sizeof *r);
	pb_resp_t m = opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_init_zero;
	m.partial_success.error_message.funcs.decode = dec_message;
	m.partial_success.error_message.arg = r;
	pb_istream_t st = pb_istream_from_buffer(buf, len);
	if (!pb_decode(&st, opentelemetry_proto_collector_trace_v1_ExportTraceServiceResponse_fields,
		       &m)) {
		memset(r, 0, sizeof *r);
		return -EINVAL;
	}
	r->rejected_spans = m.partial_success.rejected_spans;
	return 0;
}

/* google.rpc.Status has no generated code here (it is not in proto/): its
 * two fields are written with nanopb's primitives. */
static bool enc_status(pb_ostream_t *st, int32_t code, const char *msg, size_t msg_len)
{
	if (code != 0 && (!pb_encode_tag(st, PB_WT_VARINT, 1) ||
			  !pb_encode_varint(st, (uint64_t)(int64_t)code)))
		return false;
	if (msg_len != 0 && (!pb_encode_tag(st, PB_WT_STRING, 2) ||
			     !pb_encode_string(st, (const pb_byte_t *)msg, msg_len)))
		return false;
	return true;
}

int otlp_encode_status_proto(int32_t code, const char *msg, size_t msg_len, uint8_t **out,
			     size_t *out_len)
{
	pb_ostream_t sizing = PB_OSTREAM_SIZING;
	if (!enc_status(&sizing, code, msg, msg_len))
		return -ENOMEM; /* cannot happen: sizing has no limit */
	uint8_t *buf = malloc(sizing.bytes_written ? sizing.bytes_written : 1);
	if (buf == NULL)
		return -ENOMEM;
	pb_ostream_t st = pb_ostream_from_buffer(buf, sizing.bytes_written);
	if (!enc_status(&st, code, msg, msg_len)) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*out_len = st.bytes_written;
	return 0;
}
