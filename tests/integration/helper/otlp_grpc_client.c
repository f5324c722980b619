/* otlp_grpc_client.c: unary OTLP Export calls on the gRPC C core. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>

#include "otlp.h"
#include "otlp_grpc_client.h"

struct otlp_grpc_conn {
	grpc_channel *ch;
	grpc_completion_queue *cq;
	char auth[320]; /* "Bearer TOKEN" sent as authorization; "" none */
};

void otlp_grpc_set_bearer(struct otlp_grpc_conn *c, const char *token)
{
	if (token == NULL || token[0] == '\0')
		c->auth[0] = '\0';
	else
		snprintf(c->auth, sizeof(c->auth), "Bearer %s", token);
}

struct otlp_grpc_conn *otlp_grpc_connect(const char *target, bool gzip)
{
	struct otlp_grpc_conn *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	grpc_init();
	grpc_arg args[2];
	args[0].type = GRPC_ARG_INTEGER;
	args[0].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
	args[0].value.integer = gzip ? GRPC_COMPRESS_GZIP : GRPC_COMPRESS_NONE;
	args[1].type = GRPC_ARG_INTEGER;
	args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
	args[1].value.integer = -1;
	grpc_channel_args chargs = { 2, args };
	grpc_channel_credentials *creds = grpc_insecure_credentials_create();
	c->ch = grpc_channel_create(target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	c->cq = grpc_completion_queue_create_for_next(NULL);
	return c;
}

void otlp_grpc_close(struct otlp_grpc_conn *c)
{
	if (c == NULL)
		return;
	grpc_completion_queue_shutdown(c->cq);
	while (grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN) {
	}
	grpc_completion_queue_destroy(c->cq);
	grpc_channel_destroy(c->ch);
	free(c);
	grpc_shutdown();
}

static int call_bb(struct otlp_grpc_conn *c, grpc_byte_buffer *bb, double timeout_s,
		   struct otlp_grpc_result *res);

int otlp_grpc_call(struct otlp_grpc_conn *c, const void *req, size_t len, double timeout_s,
		   struct otlp_grpc_result *res)
{
	grpc_slice payload = grpc_slice_from_copied_buffer(req, len);
	grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&payload, 1);
	grpc_slice_unref(payload);
	return call_bb(c, bb, timeout_s, res);
}

int otlp_grpc_call_gzipped(struct otlp_grpc_conn *c, const void *gz, size_t len,
			   double timeout_s, struct otlp_grpc_result *res)
{
	grpc_slice payload = grpc_slice_from_copied_buffer(gz, len);
	grpc_byte_buffer *bb = grpc_raw_compressed_byte_buffer_create(&payload, 1,
								      GRPC_COMPRESS_GZIP);
	grpc_slice_unref(payload);
	return call_bb(c, bb, timeout_s, res);
}

static int call_bb(struct otlp_grpc_conn *c, grpc_byte_buffer *bb, double timeout_s,
		   struct otlp_grpc_result *res)
{
	memset(res, 0, sizeof(*res));
	res->retry_ms = -1;
	gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
				       gpr_time_from_millis((int64_t)(timeout_s * 1000), GPR_TIMESPAN));
	grpc_call *call = grpc_channel_create_call(
		c->ch, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
		grpc_slice_from_static_string(
			"/opentelemetry.proto.collector.trace.v1.TraceService/Export"),
		NULL, dl, NULL);
	if (call == NULL) {
		grpc_byte_buffer_destroy(bb);
		return -EIO;
	}
	grpc_metadata_array imd, tmd;
	grpc_metadata_array_init(&imd);
	grpc_metadata_array_init(&tmd);
	grpc_byte_buffer *resp = NULL;
	grpc_status_code status = GRPC_STATUS_UNKNOWN;
	grpc_slice details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	grpc_metadata auth;
	if (c->auth[0] != '\0') {
		memset(&auth, 0, sizeof(auth));
		auth.key = grpc_slice_from_static_string("authorization");
		auth.value = grpc_slice_from_static_string(c->auth);
		ops[0].data.send_initial_metadata.count = 1;
		ops[0].data.send_initial_metadata.metadata = &auth;
	}
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = bb;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &tmd;
	ops[5].data.recv_status_on_client.status = &status;
	ops[5].data.recv_status_on_client.status_details = &details;
	int ret = 0;
	if (grpc_call_start_batch(call, ops, 6, (void *)1, NULL) != GRPC_CALL_OK) {
		ret = -EIO;
	} else {
		grpc_event ev = grpc_completion_queue_next(c->cq, gpr_inf_future(GPR_CLOCK_REALTIME),
							   NULL);
		if (ev.type != GRPC_OP_COMPLETE)
			ret = -EIO;
		res->status = (int)status;
		size_t n = GRPC_SLICE_LENGTH(details);
		if (n >= sizeof(res->details))
			n = sizeof(res->details) - 1;
		memcpy(res->details, GRPC_SLICE_START_PTR(details), n);
		res->details[n] = '\0';
		for (size_t i = 0; i < tmd.count; i++)
			if (grpc_slice_str_cmp(tmd.metadata[i].key, "grpc-status-details-bin") == 0)
				res->retry_ms = otlp_retry_info_ms(
					GRPC_SLICE_START_PTR(tmd.metadata[i].value),
					GRPC_SLICE_LENGTH(tmd.metadata[i].value));
		if (resp != NULL) {
			grpc_byte_buffer_reader rd;
			res->got_message = true;
			if (grpc_byte_buffer_reader_init(&rd, resp)) {
				grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
				res->message_len = GRPC_SLICE_LENGTH(sl);
				if (otlp_decode_response_proto(&res->resp, GRPC_SLICE_START_PTR(sl),
							       GRPC_SLICE_LENGTH(sl)) != 0)
					ret = -EPROTO;
				grpc_slice_unref(sl);
				grpc_byte_buffer_reader_destroy(&rd);
			}
			grpc_byte_buffer_destroy(resp);
		}
	}
	grpc_slice_unref(details);
	grpc_byte_buffer_destroy(bb);
	grpc_metadata_array_destroy(&imd);
	grpc_metadata_array_destroy(&tmd);
	grpc_call_unref(call);
	return ret;
}

int otlp_grpc_export(const char *target, const void *req, size_t len, bool gzip,
		     double timeout_s, struct otlp_grpc_result *res)
{
	struct otlp_grpc_conn *c = otlp_grpc_connect(target, gzip);
	if (c == NULL) {
		memset(res, 0, sizeof(*res));
		return -ENOMEM;
	}
	int ret = otlp_grpc_call(c, req, len, timeout_s, res);
	otlp_grpc_close(c);
	return ret;
}

int otlp_grpc_export_batch(const char *target, struct otlp_batch *b, double timeout_s)
{
	if (b == NULL)
		return -ENOMEM;
	uint8_t *buf;
	size_t len;
	int rc = otlp_encode_proto(b, &buf, &len);
	otlp_batch_free(b);
	if (rc != 0)
		return rc;
	struct otlp_grpc_result res;
	rc = otlp_grpc_export(target, buf, len, false, timeout_s, &res);
	free(buf);
	return rc != 0 ? rc : res.status;
}
