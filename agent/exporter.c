/*
 * exporter.c: the one background thread. It drains every thread's ring,
 * feeds the local statistics, builds OTLP batches (struct otlp_batch, in
 * the batch's arena), encodes them with the proto/ codec and exports them
 * with a unary OTLP/gRPC call on the gRPC C core, retrying retryable
 * failures with exponential backoff and jitter within the export timeout.
 */
#include "internal.h"
#include "otlp.h"
#include "util/text.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#define EXPORT_METHOD "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define MAX_HEADERS 16
#define MAX_RES_ATTRS 64

struct kvstr {
	char *key, *val;
};

static struct {
	pthread_t thr;
	bool thr_running;
	pthread_mutex_t mu;
	pthread_cond_t cv;      /* wakes the exporter */
	pthread_cond_t done_cv; /* flush completion */
	bool stop;
	uint32_t stop_timeout_ms;
	int stop_rc;
	uint64_t flush_req, flush_done;

	/* gRPC */
	bool grpc_up;
	grpc_channel *ch;
	grpc_completion_queue *cq;
	grpc_metadata md[MAX_HEADERS];
	struct kvstr hdr[MAX_HEADERS];
	size_t n_md;

	/* resource */
	struct kvstr res[MAX_RES_ATTRS];
	size_t n_res;

	/* the batch being built (bd.batch NULL: none) */
	struct otlp_builder bd;
	uint32_t n;
	int64_t first_ms; /* when the batch got its first span */

	struct tern__ring **snap;
	size_t snap_cap;
	uint64_t rng[2];
} ex = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
};

static int64_t now_ms(void)
{
	return tern__mono_ns() / 1000000;
}

/* ---- small parsers ---------------------------------------------------------- */

/* Percent-decodes and trims s[0..n) into a new string. */
static char *decode_part(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	char *o = malloc(n + 1);
	if (o == NULL)
		return NULL;
	util_pct_decode(o, s, n, false);
	return o;
}

/* "k=v,k2=v2" (W3C baggage-like, percent-encoded values) into kv[]. */
static size_t parse_kv_list(const char *s, struct kvstr *kv, size_t max)
{
	size_t n = 0;
	while (s != NULL && *s != '\0' && n < max) {
		const char *end = strchr(s, ',');
		size_t len = end ? (size_t)(end - s) : strlen(s);
		const char *eq = memchr(s, '=', len);
		if (eq != NULL && eq != s) {
			char *k = decode_part(s, (size_t)(eq - s));
			char *v = decode_part(eq + 1, len - (size_t)(eq - s) - 1);
			if (k != NULL && v != NULL && *k != '\0') {
				kv[n].key = k;
				kv[n].val = v;
				n++;
			} else {
				free(k);
				free(v);
			}
		}
		s = end ? end + 1 : NULL;
	}
	return n;
}

static void free_kv(struct kvstr *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].val);
		kv[i].key = kv[i].val = NULL;
	}
}

/* ---- building the batch --------------------------------------------------------- */

static int batch_start(void)
{
	struct otlp_builder *bd = &ex.bd;
	if (otlp_builder_init(bd) != 0)
		goto out_done;
	otlp_build_resource(bd, NULL);
	bool have_name = false;
	for (size_t i = 0; i < ex.n_res; i++) {
		if (strcmp(ex.res[i].key, "service.name") == 0) {
			if (tern__g.opt.service_name != NULL)
				continue; /* OTEL_SERVICE_NAME wins */
			have_name = true;
		}
		otlp_build_str(bd, OTLP_TO_RESOURCE, ex.res[i].key, ex.res[i].val);
	}
	otlp_build_str(bd, OTLP_TO_RESOURCE, "telemetry.sdk.name", "tern");
	otlp_build_str(bd, OTLP_TO_RESOURCE, "telemetry.sdk.language", "c");
	otlp_build_str(bd, OTLP_TO_RESOURCE, "telemetry.sdk.version", "0.1.0");
	if (!have_name)
		otlp_build_str(bd, OTLP_TO_RESOURCE, "service.name",
			       tern__g.opt.service_name ? tern__g.opt.service_name
							: "unknown_service");
	otlp_build_scope(bd, "tern", "0.1.0");
	if (bd->err != 0)
		goto out_done;
	ex.n = 0;
	ex.first_ms = now_ms();
	return 0;

out_done:
	otlp_builder_done(bd);
	return -ENOMEM;
}

/* Reads the compact form written by span.c. The ring is ours, but a
 * truncated item still stops the walk instead of reading past the end. */
struct rd {
	const uint8_t *p, *end;
};

static bool rd_need(struct rd *r, size_t n)
{
	return (size_t)(r->end - r->p) >= n;
}

/* A length-prefixed string, left in the ring: *s, *n. */
static int rd_raw(struct rd *r, const char **s, size_t *n)
{
	if (!rd_need(r, 1))
		return -EINVAL;
	*n = *r->p++;
	if (!rd_need(r, *n))
		return -EINVAL;
	*s = (const char *)r->p;
	r->p += *n;
	return 0;
}

/* A length-prefixed string, copied into the batch. */
static int rd_str(struct rd *r, struct otlp_bytes *out)
{
	const char *s;
	size_t n;
	if (rd_raw(r, &s, &n) != 0)
		return -EINVAL;
	*out = otlp_batch_strdup(ex.bd.batch, s, n);
	return n > 0 && out->ptr == NULL ? -ENOMEM : 0;
}

static int rd_scalar(struct rd *r, uint8_t type, struct otlp_any *v)
{
	switch (type) {
	case TERN_ATTR_STRING:
	case TERN_ATTR_BYTES:
		v->type = type == TERN_ATTR_STRING ? OTLP_VALUE_STRING : OTLP_VALUE_BYTES;
		return rd_str(r, &v->u.str);
	case TERN_ATTR_BOOL:
		if (!rd_need(r, 1))
			return -EINVAL;
		v->type = OTLP_VALUE_BOOL;
		v->u.b = *r->p++ != 0;
		return 0;
	case TERN_ATTR_INT:
		if (!rd_need(r, 8))
			return -EINVAL;
		v->type = OTLP_VALUE_INT;
		memcpy(&v->u.i, r->p, 8);
		r->p += 8;
		return 0;
	case TERN_ATTR_DOUBLE:
		if (!rd_need(r, 8))
			return -EINVAL;
		v->type = OTLP_VALUE_DOUBLE;
		memcpy(&v->u.d, r->p, 8);
		r->p += 8;
		return 0;
	}
	return -EINVAL;
}

/* One attribute, appended to the current object named by to. */
static int rd_attr(struct rd *r, enum otlp_build_to to)
{
	const char *key;
	size_t kl;
	if (rd_raw(r, &key, &kl) != 0 || !rd_need(r, 1))
		return -EINVAL;
	uint8_t type = *r->p++;
	if (type < TERN_ATTR_STRING || type > TERN_ATTR_DOUBLE_ARRAY ||
	    (type > TERN_ATTR_BYTES && !rd_need(r, 1)))
		return -EINVAL;
	struct otlp_any *v = otlp_build_attr(&ex.bd, to, key, kl);
	if (v == NULL)
		return ex.bd.err;
	if (type <= TERN_ATTR_BYTES)
		return rd_scalar(r, type, v);
	static const uint8_t elem[] = {
		[TERN_ATTR_STRING_ARRAY] = TERN_ATTR_STRING,
		[TERN_ATTR_BOOL_ARRAY] = TERN_ATTR_BOOL,
		[TERN_ATTR_INT_ARRAY] = TERN_ATTR_INT,
		[TERN_ATTR_DOUBLE_ARRAY] = TERN_ATTR_DOUBLE,
	};
	uint8_t n = *r->p++;
	v->type = OTLP_VALUE_ARRAY; /* even with no element */
	for (uint8_t i = 0; i < n; i++) {
		struct otlp_any *it = otlp_build_item(&ex.bd, v);
		if (it == NULL)
			return ex.bd.err;
		int rc = rd_scalar(r, elem[type], it);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int rd_attrs(struct rd *r, enum otlp_build_to to)
{
	if (!rd_need(r, 1))
		return -EINVAL;
	uint8_t n = *r->p++;
	for (uint8_t i = 0; i < n; i++) {
		int rc = rd_attr(r, to);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Appends the span of one ring record. After -ENOMEM the builder stays in
 * error and export_batch() counts the whole batch as dropped. */
static int add_span(const struct tern__rec *rec, const char *name, const uint8_t *data)
{
	if (ex.bd.batch == NULL && batch_start() != 0)
		return -ENOMEM;
	struct otlp_builder *bd = &ex.bd;
	uint64_t start = tern__ticks_to_unix_ns(rec->start);
	uint64_t end = tern__ticks_to_unix_ns(rec->end);
	if (otlp_build_span(bd, rec->trace_id, rec->span_id,
			    (rec->state & TERN__HAS_PARENT) ? rec->parent_id : NULL, NULL,
			    (enum otlp_span_kind)rec->kind, start, end < start ? start : end) != 0)
		return bd->err;
	struct otlp_span *sp = bd->sp;
	/* W3C flags in bits 0-7; bits 8 and 9 (SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE,
	 * _IS_REMOTE) say whether the parent came from another process. */
	sp->flags = rec->flags | 0x100u | ((rec->state & TERN__REMOTE_PARENT) ? 0x200u : 0);
	sp->name = otlp_batch_strdup(bd->batch, name, rec->name_len);
	if (rec->name_len > 0 && sp->name.ptr == NULL)
		return -ENOMEM;
	sp->status.code = (enum otlp_status_code)rec->status;
	sp->attrs.dropped = rec->dropped;
	if (rec->ts_len) {
		sp->trace_state = otlp_batch_strdup(bd->batch, data, rec->ts_len);
		if (sp->trace_state.ptr == NULL)
			return -ENOMEM;
	}
	struct rd r = { data + rec->ts_len, data + rec->data_len };
	while (r.p < r.end) {
		uint8_t tag = *r.p++;
		int rc = 0;
		if (tag == TERN__T_ATTR) {
			rc = rd_attr(&r, OTLP_TO_SPAN);
		} else if (tag == TERN__T_EVENT) {
			uint64_t t;
			if (!rd_need(&r, 8))
				break;
			memcpy(&t, r.p, 8);
			r.p += 8;
			rc = otlp_build_event(bd, tern__ticks_to_unix_ns(t), NULL);
			if (rc == 0)
				rc = rd_str(&r, &bd->ev->name);
			if (rc == 0)
				rc = rd_attrs(&r, OTLP_TO_EVENT);
		} else if (tag == TERN__T_LINK) {
			if (!rd_need(&r, 16 + 8 + 1))
				break;
			rc = otlp_build_link(bd, r.p, r.p + 16);
			if (rc != 0)
				break;
			bd->ln->flags = r.p[24];
			r.p += 25;
			rc = rd_str(&r, &bd->ln->trace_state);
			if (rc == 0)
				rc = rd_attrs(&r, OTLP_TO_LINK);
		} else if (tag == TERN__T_STATUS_MSG) {
			rc = rd_str(&r, &sp->status.message);
		} else if (tag == TERN__T_MEM) {
			int64_t d[2];
			if (!rd_need(&r, 16))
				break;
			memcpy(d, r.p, 16);
			r.p += 16;
			otlp_build_int(bd, OTLP_TO_SPAN, "tern.mem.heap_delta", d[0]);
			rc = otlp_build_int(bd, OTLP_TO_SPAN, "tern.mem.rss_delta", d[1]);
		} else {
			break;
		}
		if (rc == -ENOMEM)
			return rc;
		if (rc != 0)
			break;
	}
	ex.n++;
	return 0;
}

/* ---- gRPC ---------------------------------------------------------------------- */

static uint64_t ex_rand(void)
{
	uint64_t x = ex.rng[0];
	const uint64_t y = ex.rng[1];
	ex.rng[0] = y;
	x ^= x << 23;
	ex.rng[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
	return ex.rng[1] + y;
}

/* google.rpc.RetryInfo's delay from grpc-status-details-bin, or -1. */
static int64_t retry_delay(const grpc_metadata_array *md)
{
	for (size_t i = 0; i < md->count; i++) {
		const grpc_metadata *m = &md->metadata[i];
		if (!grpc_slice_str_cmp(m->key, "grpc-status-details-bin")) {
			return otlp_retry_info_ms(GRPC_SLICE_START_PTR(m->value),
						  GRPC_SLICE_LENGTH(m->value));
		}
	}
	return -1;
}

/* Reads a PEM file (at most 1 MiB) into a NUL-terminated malloc'ed string. */
static int read_small_file(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -errno;
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL) {
		fclose(f);
		return -ENOMEM;
	}
	size_t k;
	while (len < cap && (k = fread(buf + len, 1, cap - len, f)) > 0)
		len += k;
	bool too_big = len == cap && fgetc(f) != EOF;
	fclose(f);
	if (too_big || len == 0) {
		free(buf);
		return -EINVAL;
	}
	buf[len] = '\0';
	*out = buf;
	return 0;
}

static int grpc_setup(void)
{
	char target[256];
	bool tls;
	int rc = tern__parse_endpoint(tern__g.opt.endpoint, target, sizeof target, &tls);
	if (rc != 0)
		return rc;
	char *roots = NULL;
	if (tls && tern__g.opt.certificate != NULL) {
		rc = read_small_file(tern__g.opt.certificate, &roots);
		if (rc != 0)
			return rc;
	}
	grpc_init();
	ex.grpc_up = true;
	grpc_arg args[3];
	size_t na = 0;
	args[na].type = GRPC_ARG_INTEGER;
	args[na].key = (char *)GRPC_ARG_ENABLE_RETRIES;
	args[na].value.integer = 0; /* we retry ourselves, per the OTLP spec */
	na++;
	args[na].type = GRPC_ARG_INTEGER;
	args[na].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
	args[na].value.integer = 4 << 20;
	na++;
	if (tern__g.opt.gzip) {
		args[na].type = GRPC_ARG_INTEGER;
		args[na].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
		args[na].value.integer = GRPC_COMPRESS_GZIP;
		na++;
	}
	grpc_channel_args ca = { na, args };
	grpc_channel_credentials *cred = tls ? grpc_ssl_credentials_create(roots, NULL, NULL, NULL)
					     : grpc_insecure_credentials_create();
	free(roots);
	if (cred == NULL)
		return -ENOMEM;
	ex.ch = grpc_channel_create(target, cred, &ca);
	grpc_channel_credentials_release(cred);
	ex.cq = grpc_completion_queue_create_for_next(NULL);
	if (ex.ch == NULL || ex.cq == NULL)
		return -ENOMEM;
	ex.n_md = parse_kv_list(tern__g.opt.headers, ex.hdr, MAX_HEADERS);
	for (size_t i = 0; i < ex.n_md; i++) {
		/* gRPC wants lowercase metadata keys. */
		for (char *c = ex.hdr[i].key; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		ex.md[i].key = grpc_slice_from_static_string(ex.hdr[i].key);
		ex.md[i].value = grpc_slice_from_static_string(ex.hdr[i].val);
	}
	return 0;
}

static void grpc_teardown(void)
{
	if (ex.ch != NULL)
		grpc_channel_destroy(ex.ch);
	if (ex.cq != NULL) {
		grpc_completion_queue_shutdown(ex.cq);
		while (grpc_completion_queue_next(ex.cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN)
			;
		grpc_completion_queue_destroy(ex.cq);
	}
	ex.ch = NULL;
	ex.cq = NULL;
	free_kv(ex.hdr, ex.n_md);
	ex.n_md = 0;
	if (ex.grpc_up)
		grpc_shutdown();
	ex.grpc_up = false;
}

/*
 * One Export call at a time can be on the wire while the exporter drains
 * rings and builds the next batch (double buffering): export_batch()
 * starts the call and returns; the next export_batch(), a flush or the
 * stop waits for it with call_wait(), which also runs the retries.
 */
struct inflight {
	bool active;
	grpc_call *call;
	grpc_byte_buffer *send, *recv;
	grpc_metadata_array init_md, trail_md;
	grpc_status_code status;
	grpc_slice details;
	uint8_t *buf;
	size_t len;
	uint32_t n;
	int64_t deadline_ms; /* for all attempts */
	int64_t backoff_ms;
};

static struct inflight fl;

/* Set by tern__exporter_stop(): every wait and retry of the exporter ends
 * by then, so a shutdown timeout holds even while a failing export is
 * being retried. 0: no stop in progress. */
static _Atomic int64_t stop_deadline_ms;
static bool cut_by_stop; /* exporter thread only; read after the join */

static int64_t cap_deadline(int64_t d)
{
	int64_t s = atomic_load(&stop_deadline_ms);
	return (s != 0 && s < d) ? s : d;
}

/* Starts an attempt of fl's payload; false when the call could not start
 * (then fl.status says why). */
static bool call_start(int64_t timeout_ms)
{
	gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
					     gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
	grpc_slice method = grpc_slice_from_static_string(EXPORT_METHOD);
	fl.call = grpc_channel_create_call(ex.ch, NULL, GRPC_PROPAGATE_DEFAULTS, ex.cq, method,
					   NULL, deadline, NULL);
	fl.status = GRPC_STATUS_INTERNAL;
	if (fl.call == NULL)
		return false;
	grpc_slice payload = grpc_slice_from_static_buffer(fl.buf, fl.len);
	fl.send = grpc_raw_byte_buffer_create(&payload, 1);
	grpc_metadata_array_init(&fl.init_md);
	grpc_metadata_array_init(&fl.trail_md);
	fl.recv = NULL;
	fl.status = GRPC_STATUS_UNKNOWN;
	fl.details = grpc_empty_slice();
	grpc_op ops[6];
	memset(ops, 0, sizeof ops);
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = ex.n_md;
	ops[0].data.send_initial_metadata.metadata = ex.n_md ? ex.md : NULL;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = fl.send;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &fl.init_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &fl.recv;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &fl.trail_md;
	ops[5].data.recv_status_on_client.status = &fl.status;
	ops[5].data.recv_status_on_client.status_details = &fl.details;
	atomic_fetch_add(&tern__g.c_export_calls, 1);
	if (grpc_call_start_batch(fl.call, ops, 6, (void *)fl.call, NULL) != GRPC_CALL_OK) {
		grpc_byte_buffer_destroy(fl.send);
		grpc_metadata_array_destroy(&fl.init_md);
		grpc_metadata_array_destroy(&fl.trail_md);
		grpc_call_unref(fl.call);
		fl.call = NULL;
		fl.status = GRPC_STATUS_INTERNAL;
		return false;
	}
	return true;
}

/* Waits for the attempt in flight; fills *resp and *delay_ms (RetryInfo,
 * -1 if none) and frees the call. Returns its status. */
static grpc_status_code call_finish(struct otlp_response *resp, int64_t *delay_ms)
{
	*delay_ms = -1;
	memset(resp, 0, sizeof *resp);
	grpc_event ev;
	bool cancelled = false;
	for (;;) {
		/* wake up now and then to honour a shutdown deadline */
		gpr_timespec tick = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						 gpr_time_from_millis(50, GPR_TIMESPAN));
		ev = grpc_completion_queue_next(ex.cq, tick, NULL);
		if (ev.type == GRPC_OP_COMPLETE && ev.tag == (void *)fl.call)
			break;
		if (ev.type == GRPC_QUEUE_TIMEOUT && !cancelled &&
		    now_ms() >= cap_deadline(fl.deadline_ms)) {
			grpc_call_cancel(fl.call, NULL);
			cancelled = true;
		}
	}
	grpc_status_code status = ev.success ? fl.status : GRPC_STATUS_UNAVAILABLE;
	if (status == GRPC_STATUS_OK && fl.recv != NULL) {
		grpc_byte_buffer_reader rd;
		if (grpc_byte_buffer_reader_init(&rd, fl.recv)) {
			grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
			if (otlp_decode_response_proto(resp, GRPC_SLICE_START_PTR(all),
						       GRPC_SLICE_LENGTH(all)) != 0)
				memset(resp, 0, sizeof *resp);
			grpc_slice_unref(all);
			grpc_byte_buffer_reader_destroy(&rd);
		}
	}
	if (status == GRPC_STATUS_RESOURCE_EXHAUSTED)
		*delay_ms = retry_delay(&fl.trail_md);
	if (fl.recv != NULL)
		grpc_byte_buffer_destroy(fl.recv);
	grpc_byte_buffer_destroy(fl.send);
	grpc_slice_unref(fl.details);
	grpc_metadata_array_destroy(&fl.init_md);
	grpc_metadata_array_destroy(&fl.trail_md);
	grpc_call_unref(fl.call);
	fl.call = NULL;
	return status;
}

static bool retryable(grpc_status_code st, int64_t delay_ms)
{
	switch (st) {
	case GRPC_STATUS_CANCELLED:
	case GRPC_STATUS_DEADLINE_EXCEEDED:
	case GRPC_STATUS_ABORTED:
	case GRPC_STATUS_OUT_OF_RANGE:
	case GRPC_STATUS_UNAVAILABLE:
	case GRPC_STATUS_DATA_LOSS:
		return true;
	case GRPC_STATUS_RESOURCE_EXHAUSTED:
		return delay_ms >= 0; /* only when the server sent RetryInfo */
	default:
		return false;
	}
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int64_t attempt_timeout(void)
{
	int64_t left = cap_deadline(fl.deadline_ms) - now_ms();
	return tern__g.opt.export_timeout_ms < left ? tern__g.opt.export_timeout_ms : left;
}

/* Completes the export in flight (with its retries). 0, or -EIO when its
 * spans were lost. */
static int call_wait(void)
{
	if (!fl.active)
		return 0;
	int rc = -EIO;
	bool started = fl.call != NULL;
	for (;;) {
		struct otlp_response resp;
		int64_t delay = -1;
		grpc_status_code st = started ? call_finish(&resp, &delay) : fl.status;
		if (st == GRPC_STATUS_OK) {
			/* partial_success is final: the rejected spans are not retried */
			uint64_t rej = resp.rejected_spans > 0 ? (uint64_t)resp.rejected_spans : 0;
			if (rej > fl.n)
				rej = fl.n;
			atomic_fetch_add(&tern__g.c_rejected, rej);
			atomic_fetch_add(&tern__g.c_exported, fl.n - rej);
			rc = 0;
			break;
		}
		if (!retryable(st, delay))
			break;
		/* exponential backoff with jitter in [backoff/2, backoff] */
		int64_t b = fl.backoff_ms;
		int64_t wait = delay > 0 ? delay : b / 2 + (int64_t)(ex_rand() % (uint64_t)(b / 2 + 1));
		if (now_ms() + wait >= cap_deadline(fl.deadline_ms))
			break;
		atomic_fetch_add(&tern__g.c_export_retries, 1);
		/* sleep in steps, so a shutdown does not wait out the backoff */
		for (int64_t until = now_ms() + wait, t; (t = until - now_ms()) > 0;) {
			if (now_ms() >= cap_deadline(fl.deadline_ms))
				break;
			sleep_ms(t < 20 ? t : 20);
		}
		if (fl.backoff_ms < 5000)
			fl.backoff_ms *= 2;
		int64_t t = attempt_timeout();
		if (t <= 0)
			break;
		started = call_start(t);
	}
	if (rc != 0) {
		atomic_fetch_add(&tern__g.c_export_errors, 1);
		atomic_fetch_add(&tern__g.c_dropped_export, fl.n);
		/* given up because a shutdown's time ran out, not the batch's own */
		if (cap_deadline(fl.deadline_ms) < fl.deadline_ms)
			cut_by_stop = true;
	}
	free(fl.buf);
	fl.buf = NULL;
	fl.active = false;
	return rc;
}

/* Encodes the current batch and puts it on the wire, after the previous
 * one completed. deadline_ms: absolute (monotonic) bound for all its
 * attempts. Returns 0, or -EIO when spans were lost. */
static int export_batch(int64_t deadline_ms)
{
	bool built = ex.bd.batch != NULL;
	struct otlp_batch *b = otlp_builder_take(&ex.bd); /* NULL: building ran out of memory */
	uint32_t n = ex.n;
	ex.n = 0;
	if (!built)
		return 0;
	if (n == 0 || ex.ch == NULL) {
		otlp_batch_free(b);
		return 0;
	}
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = b != NULL ? otlp_encode_proto(b, &buf, &len) : -ENOMEM;
	otlp_batch_free(b);
	int prev = call_wait();
	if (rc != 0) {
		atomic_fetch_add(&tern__g.c_export_errors, 1);
		atomic_fetch_add(&tern__g.c_dropped_export, n);
		return -EIO;
	}
	fl.active = true;
	fl.buf = buf;
	fl.len = len;
	fl.n = n;
	fl.deadline_ms = deadline_ms;
	fl.backoff_ms = 100;
	int64_t t = attempt_timeout();
	if (t > 0)
		call_start(t);
	else
		fl.status = GRPC_STATUS_DEADLINE_EXCEEDED;
	return prev;
}

/* ---- draining --------------------------------------------------------------------- */

static void drain_ring(struct tern__ring *r, int64_t deadline_ms)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t mask = r->size - 1;
	if (tail == head)
		return;
	tern__stats_lock();
	while (tail != head) {
		uint64_t pos = tail & mask;
		const struct tern__rec *rec = (const struct tern__rec *)(r->buf + pos);
		if (rec->len == 0) {
			tail += r->size - pos;
			continue;
		}
		const char *name = (const char *)(rec + 1);
		const uint8_t *data = (const uint8_t *)name + rec->name_len;
		uint64_t end_unix = tern__ticks_to_unix_ns(rec->end);
		tern__stats_record_locked(rec, name, tern__ticks_to_ns(rec->end - rec->start),
					  end_unix);
		if ((rec->state & TERN__RECORDING) && ex.ch != NULL) {
			if (add_span(rec, name, data) != 0)
				atomic_fetch_add(&tern__g.c_dropped_export, 1);
		}
		tail += rec->len;
		/* Hand space back in steps, not per span: fewer cache-line
		 * trips between the two cores. */
		if ((tail & 4095) < rec->len || tail == head)
			atomic_store_explicit(&r->tail, tail, memory_order_release);
		if (ex.n >= tern__g.opt.max_export_batch_size) {
			atomic_store_explicit(&r->tail, tail, memory_order_release);
			tern__stats_unlock();
			export_batch(deadline_ms);
			tern__stats_lock();
		}
	}
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	tern__stats_unlock();
}

/* Drains every ring once; frees the rings of exited threads. */
static void drain_all(int64_t deadline_ms)
{
	pthread_mutex_lock(&tern__g.list_mu);
	size_t n = 0;
	for (struct tern__ring *r = tern__g.rings; r != NULL; r = r->next)
		n++;
	if (n > ex.snap_cap) {
		struct tern__ring **s = realloc(ex.snap, n * 2 * sizeof *s);
		if (s != NULL) {
			ex.snap = s;
			ex.snap_cap = n * 2;
		}
	}
	size_t k = 0;
	for (struct tern__ring *r = tern__g.rings; r != NULL && k < ex.snap_cap; r = r->next)
		ex.snap[k++] = r;
	pthread_mutex_unlock(&tern__g.list_mu);
	bool any_dead = false;
	for (size_t i = 0; i < k; i++) {
		struct tern__ring *r = ex.snap[i];
		bool dead = atomic_load(&r->dead);
		drain_ring(r, deadline_ms);
		any_dead |= dead;
	}
	if (!any_dead)
		return;
	pthread_mutex_lock(&tern__g.list_mu);
	struct tern__ring **pp = &tern__g.rings;
	while (*pp != NULL) {
		struct tern__ring *r = *pp;
		if (atomic_load(&r->dead) &&
		    atomic_load(&r->head) == atomic_load(&r->tail)) {
			*pp = r->next;
			tern__ring_fold_counters(r);
			tern__ring_free(r);
		} else {
			pp = &r->next;
		}
	}
	pthread_mutex_unlock(&tern__g.list_mu);
}

/* What is left in the rings at a shutdown that timed out: dropped. */
static void discard_all(void)
{
	pthread_mutex_lock(&tern__g.list_mu);
	for (struct tern__ring *r = tern__g.rings; r != NULL; r = r->next) {
		uint64_t tail = atomic_load(&r->tail), head = atomic_load(&r->head);
		uint64_t mask = r->size - 1;
		while (tail != head) {
			const struct tern__rec *rec = (const struct tern__rec *)(r->buf + (tail & mask));
			if (rec->len == 0) {
				tail += r->size - (tail & mask);
				continue;
			}
			if (rec->state & TERN__RECORDING)
				atomic_fetch_add(&tern__g.c_dropped_export, 1);
			tail += rec->len;
		}
		atomic_store(&r->tail, tail);
	}
	pthread_mutex_unlock(&tern__g.list_mu);
}

static void *exporter_main(void *arg)
{
	int64_t last_refine = now_ms();
	pthread_setname_np(pthread_self(), "tern-export");
	pthread_mutex_lock(&ex.mu);
	for (;;) {
		if (!ex.stop && ex.flush_req == ex.flush_done) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)tern__g.opt.poll_interval_ms * 1000000u;
			ts.tv_sec += (time_t)(ns / 1000000000u);
			ts.tv_nsec = (long)(ns % 1000000000u);
			pthread_cond_timedwait(&ex.cv, &ex.mu, &ts);
		}
		bool stop = ex.stop;
		uint64_t req = ex.flush_req;
		uint32_t stop_ms = ex.stop_timeout_ms;
		pthread_mutex_unlock(&ex.mu);

		int64_t now = now_ms();
		if (now - last_refine >= 1000) {
			tern__clock_refine();
			last_refine = now;
		}
		int64_t deadline = stop ? atomic_load(&stop_deadline_ms)
					: now + tern__g.opt.bsp_export_timeout_ms;
		(void)stop_ms;
		drain_all(deadline);
		bool flushing = stop || req != ex.flush_done;
		if (ex.n > 0 && (flushing || now_ms() - ex.first_ms >= tern__g.opt.schedule_delay_ms))
			export_batch(deadline);
		/* Keep one call in flight only while spans keep coming; when idle,
		 * complete it so counters and retries do not wait for traffic. */
		if (flushing || ex.n == 0)
			call_wait();
		int rc = 0;
		if (stop) {
			/* One more pass for spans that raced the switch-off. */
			drain_all(deadline);
			export_batch(deadline);
			call_wait();
			if (now_ms() >= deadline)
				rc = -ETIMEDOUT;
			discard_all();
		}

		pthread_mutex_lock(&ex.mu);
		if (flushing) {
			ex.flush_done = req;
			pthread_cond_broadcast(&ex.done_cv);
		}
		if (stop) {
			ex.stop_rc = rc;
			break;
		}
	}
	pthread_mutex_unlock(&ex.mu);
	return NULL;
}

int tern__exporter_start(void)
{
	int rc;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ex.cv, &ca);
	pthread_cond_init(&ex.done_cv, &ca);
	pthread_condattr_destroy(&ca);
	ex.stop = false;
	ex.flush_req = ex.flush_done = 0;
	tern__random_bytes(ex.rng, sizeof ex.rng);
	ex.rng[0] |= 1;
	ex.n_res = parse_kv_list(tern__g.opt.resource_attributes, ex.res, MAX_RES_ATTRS);
	if (tern__g.opt.export_enabled) {
		rc = grpc_setup();
		if (rc != 0)
			goto out_teardown;
	}
	rc = -pthread_create(&ex.thr, NULL, exporter_main, NULL);
	if (rc != 0)
		goto out_teardown;
	ex.thr_running = true;
	return 0;

out_teardown:
	grpc_teardown();
	free_kv(ex.res, ex.n_res);
	ex.n_res = 0;
	pthread_cond_destroy(&ex.cv);
	pthread_cond_destroy(&ex.done_cv);
	return rc;
}

int tern__exporter_stop(uint32_t timeout_ms)
{
	if (!ex.thr_running)
		return -EINVAL;
	uint64_t lost0 = atomic_load(&tern__g.c_dropped_export);
	cut_by_stop = false;
	atomic_store(&stop_deadline_ms, now_ms() + (int64_t)timeout_ms);
	pthread_mutex_lock(&ex.mu);
	ex.stop = true;
	ex.stop_timeout_ms = timeout_ms;
	pthread_cond_signal(&ex.cv);
	pthread_mutex_unlock(&ex.mu);
	pthread_join(ex.thr, NULL);
	bool late = now_ms() >= atomic_load(&stop_deadline_ms);
	atomic_store(&stop_deadline_ms, 0);
	ex.thr_running = false;
	otlp_builder_done(&ex.bd);
	ex.n = 0;
	grpc_teardown();
	free_kv(ex.res, ex.n_res);
	ex.n_res = 0;
	free(ex.snap);
	ex.snap = NULL;
	ex.snap_cap = 0;
	pthread_cond_destroy(&ex.cv);
	pthread_cond_destroy(&ex.done_cv);
	/* spans lost because the time ran out (a refused export is only
	 * counted, as during normal operation) */
	if ((late || cut_by_stop) && atomic_load(&tern__g.c_dropped_export) != lost0)
		return -ETIMEDOUT;
	return ex.stop_rc;
}

int tern__exporter_flush(uint32_t timeout_ms)
{
	int rc = 0;
	pthread_mutex_lock(&ex.mu);
	if (!ex.thr_running) {
		pthread_mutex_unlock(&ex.mu);
		return -EINVAL;
	}
	uint64_t my = ++ex.flush_req;
	pthread_cond_signal(&ex.cv);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)timeout_ms * 1000000u;
	ts.tv_sec += (time_t)(ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	while (ex.flush_done < my && rc == 0)
		rc = -pthread_cond_timedwait(&ex.done_cv, &ex.mu, &ts);
	if (ex.flush_done >= my)
		rc = 0;
	pthread_mutex_unlock(&ex.mu);
	return rc;
}

void tern__exporter_fork_prepare(void);
void tern__exporter_fork_parent(void);

void tern__exporter_fork_prepare(void)
{
	pthread_mutex_lock(&ex.mu);
}

void tern__exporter_fork_parent(void)
{
	pthread_mutex_unlock(&ex.mu);
}

void tern__exporter_fork_child(void)
{
	/* The thread and the gRPC objects belong to the parent: forget them
	 * without touching them. */
	pthread_mutex_init(&ex.mu, NULL);
	ex.thr_running = false;
	ex.ch = NULL;
	ex.cq = NULL;
	ex.grpc_up = false;
	memset(&ex.bd, 0, sizeof ex.bd);
	ex.n = 0;
}
