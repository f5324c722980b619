/*
 * forward.c: the forwarder threads (see forward.h, docs/forwarding.md).
 *
 * One thread per forwarder owns a store reader and its transport: a gRPC
 * completion queue and a channel per destination, or for OTLP/HTTP a
 * libcurl multi handle (httpc.h) that runs every request of the forwarder
 * on the same thread, so nothing ever blocks on a destination and a stop
 * can cancel whatever is in flight. It reads durable records into
 * "units" (consecutive records, up to batch_spans spans), splits each
 * unit's spans by destination (routing by trace id) into requests of at
 * most batch_spans spans and max_request_bytes bytes, and sends them.
 * Units complete out of order; the cursor advances over the oldest units
 * whose every request was acknowledged (or permanently refused and
 * counted), and is then saved with store_meta_put() (write, fsync, rename,
 * fsync dir). The loop thread never waits on any of this while running: it
 * only reads the atomic counters (col_fwd_stop() at shutdown joins).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/compression.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <zlib.h>

#include "forward/forward.h"
#include "httpc.h"
#include "load/load.h"
#include "log.h"
#include "metrics.h"
#include "otlp.h"
#include "store.h"
#include "util/hash.h"

#define EXPORT_METHOD "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#define POLL_MS 10        /* reader at the end of the log: look again this soon */
#define STATS_MS 1000     /* lag, retention checks */
#define LAG_SAMPLES 64
#define LOG_EVERY_MS 10000

struct fwd;
struct fwd_unit;

enum call_state { CALL_READY, CALL_INFLIGHT, CALL_DONE };

struct fwd_call {
	struct fwd_call *next;   /* in its unit */
	struct fwd_unit *unit;
	unsigned dest;
	uint8_t *payload;
	size_t len;
	uint32_t n_spans;
	unsigned attempts;       /* failed attempts so far */
	uint64_t retry_at;       /* monotonic ms */
	enum call_state state;
	/* HTTP, while in flight */
	struct col_hxfer *hx;
	uint8_t *gz;             /* the gzip'ed body libcurl is sending */
	/* gRPC, while in flight */
	grpc_call *call;
	grpc_metadata_array imd, tmd;
	grpc_byte_buffer *req, *resp;
	grpc_status_code status;
	grpc_slice details;
};

struct fwd_unit {
	struct fwd_unit *next;
	struct store_pos end;    /* the cursor once this unit is done */
	struct fwd_call *calls;
	unsigned pending;        /* calls not DONE */
};

/* Builds one request for one destination from borrowed spans. */
struct builder {
	struct otlp_builder ob; /* ob.batch NULL: nothing built yet */
	const struct otlp_resource_spans *src_rs; /* what ob.rs and ob.ss copy */
	const struct otlp_scope_spans *src_ss;
};

struct lag_sample {
	struct store_pos end;
	uint64_t t_ns;
};

struct fwd {
	struct col_fwd_set *set;
	struct col_fwd_config cfg;
	unsigned route_i, route_n; /* per_endpoint_cursors: this one sends route i of n */
	char key[64];             /* store meta key and cursor name */
	struct store *store;
	bool cursor_set;          /* registered with store_cursor_set() */
	pthread_t thread;
	bool started;
	struct store_reader *reader;
	struct store_pos acked;   /* saved cursor */
	struct store_pos read_pos;
	struct fwd_unit *head, *tail;
	unsigned n_units;
	grpc_channel *ch[COL_FWD_MAX_ENDPOINTS];
	grpc_completion_queue *cq;
	grpc_metadata *md;
	size_t n_md;
	unsigned inflight;
	struct col_hmulti *hm;    /* OTLP/HTTP transfers */
	struct col_hopts hopts;
	char *http_headers, *http_headers_gz;
	char http_url[COL_FWD_MAX_ENDPOINTS][400];
	uint64_t rnd;
	struct builder bld[COL_FWD_MAX_ENDPOINTS];
	struct lag_sample lag[LAG_SAMPLES];
	unsigned n_lag, lag_head;
	uint64_t last_lost;
	uint64_t last_fail_log, last_reject_log, last_risk_log, last_save_log;
	uint64_t fails_unlogged;

	_Atomic uint64_t spans_sent, spans_failed, spans_retried, spans_rejected,
		spans_dropped, spans_lost, spans_filtered, lag_spans, lag_ms, cursor_saves,
		requests_ok, requests_failed;
};

struct col_fwd_set {
	_Atomic bool stopping;
	_Atomic uint64_t stop_deadline; /* monotonic ms */
	unsigned n;
	struct fwd *f[COL_FWD_MAX * COL_FWD_MAX_ENDPOINTS];
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define ADD(f, field, v) atomic_fetch_add_explicit(&(f)->field, (v), memory_order_relaxed)
#define GET(f, field) atomic_load_explicit(&(f)->field, memory_order_relaxed)

/* ---- cursor ---- */

static int cursor_load(struct fwd *f, struct store_pos *pos)
{
	void *data;
	size_t len;
	int rc = store_meta_get(f->store, f->key, &data, &len);
	if (rc != 0)
		return rc;
	char buf[128];
	if (len >= sizeof(buf)) {
		free(data);
		return -EBADMSG;
	}
	memcpy(buf, data, len);
	buf[len] = '\0';
	free(data);
	unsigned long long seg, off;
	if (sscanf(buf, "tern-cursor 1 %llu %llu", &seg, &off) != 2)
		return -EBADMSG;
	*pos = (struct store_pos){ seg, off };
	return 0;
}

static void cursor_save(struct fwd *f)
{
	char buf[128];
	int n = snprintf(buf, sizeof(buf), "tern-cursor 1 %" PRIu64 " %" PRIu64 "\n",
			 f->acked.seg, f->acked.off);
	int rc = store_meta_put(f->store, f->key, buf, (size_t)n);
	if (rc != 0) {
		uint64_t now = mono_ms();
		if (f->last_save_log == 0 || now - f->last_save_log >= LOG_EVERY_MS) {
			f->last_save_log = now;
			col_log(COL_LOG_WARN,
				"forward %s: cannot save the cursor: %s; keeps forwarding, a "
				"restart may resend from the last saved position",
				f->cfg.name, strerror(-rc));
		}
		return;
	}
	ADD(f, cursor_saves, 1);
}

/* ---- building requests ---- */

static void call_free(struct fwd_call *c)
{
	free(c->payload);
	free(c->gz);
	free(c);
}


static void builder_reset(struct builder *bd)
{
	otlp_builder_done(&bd->ob);
	bd->src_rs = NULL;
	bd->src_ss = NULL;
}

/* Appends a shallow copy of sp, under copies of its resource and scope
 * (sharing their attributes): the record they come from outlives the
 * request, which is encoded before the record is freed. */
static int builder_add(struct builder *bd, const struct otlp_resource_spans *rs,
		       const struct otlp_scope_spans *ss, const struct otlp_span *sp)
{
	struct otlp_builder *ob = &bd->ob;
	if (ob->batch == NULL && otlp_builder_init(ob) != 0)
		return -ENOMEM;
	if (bd->src_rs != rs || ob->rs == NULL) {
		if (otlp_build_resource(ob, NULL) != 0)
			return ob->err;
		ob->rs->resource_attrs = rs->resource_attrs;
		ob->rs->schema_url = rs->schema_url;
		bd->src_rs = rs;
	}
	if (bd->src_ss != ss || ob->ss == NULL) {
		if (otlp_build_scope(ob, NULL, NULL) != 0)
			return ob->err;
		ob->ss->scope_name = ss->scope_name;
		ob->ss->scope_version = ss->scope_version;
		ob->ss->scope_attrs = ss->scope_attrs;
		ob->ss->schema_url = ss->schema_url;
		bd->src_ss = ss;
	}
	return otlp_build_span_copy(ob, sp);
}

/*
 * Encodes b (borrowed) into calls of unit u for destination d. A request
 * over max_request_bytes is split in halves (gRPC servers refuse messages
 * over their limit, 4 MiB by default in Jaeger and the OTel Collector, with
 * a status that is not retried); a single span over the limit goes alone.
 */
static int emit(struct fwd *f, unsigned d, struct fwd_unit *u, const struct otlp_batch *b)
{
	struct fwd_call *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	int rc = otlp_encode_proto(b, &c->payload, &c->len);
	if (rc != 0) {
		free(c);
		return rc;
	}
	if (c->len > f->cfg.max_request_bytes && b->n_spans > 1) {
		call_free(c);
		struct builder half[2];
		memset(half, 0, sizeof(half));
		uint64_t k = 0, mid = b->n_spans / 2;
		for (const struct otlp_resource_spans *rs = b->resource_spans; rs && rc == 0;
		     rs = rs->next)
			for (const struct otlp_scope_spans *ss = rs->scope_spans; ss && rc == 0;
			     ss = ss->next)
				for (const struct otlp_span *sp = ss->spans; sp && rc == 0;
				     sp = sp->next)
					rc = builder_add(&half[k++ < mid ? 0 : 1], rs, ss, sp);
		for (int i = 0; i < 2 && rc == 0; i++)
			if (half[i].ob.batch)
				rc = emit(f, d, u, half[i].ob.batch);
		builder_reset(&half[0]);
		builder_reset(&half[1]);
		return rc;
	}
	c->n_spans = (uint32_t)b->n_spans;
	c->dest = d;
	c->unit = u;
	c->state = CALL_READY;
	c->next = u->calls;
	u->calls = c;
	u->pending++;
	return 0;
}

/* Turns destination d's builder into calls of unit u. */
static int builder_flush(struct fwd *f, unsigned d, struct fwd_unit *u)
{
	struct builder *bd = &f->bld[d];
	int rc = 0;
	if (bd->ob.batch != NULL && bd->ob.batch->n_spans > 0)
		rc = emit(f, d, u, bd->ob.batch);
	builder_reset(bd);
	return rc;
}

static bool service_wanted(const struct fwd *f, const struct otlp_resource_spans *rs)
{
	if (f->cfg.n_services == 0)
		return true;
	const struct otlp_any *v = otlp_attrs_find(&rs->resource_attrs, "service.name");
	if (v == NULL)
		return false;
	for (uint32_t i = 0; i < f->cfg.n_services; i++) {
		size_t n = strlen(f->cfg.services[i]);
		if (v->u.str.len == n && memcmp(v->u.str.ptr, f->cfg.services[i], n) == 0)
			return true;
	}
	return false;
}

/* Routes the spans of record b into the builders; full builders become calls. */
static int unit_add_record(struct fwd *f, struct fwd_unit *u, const struct otlp_batch *b)
{
	unsigned nd = f->cfg.n_endpoints;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		bool want = service_wanted(f, rs);
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next) {
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
				if (!want || !col_fwd_sampled(sp->trace_id, f->cfg.sample_ratio)) {
					ADD(f, spans_filtered, 1);
					continue;
				}
				unsigned d;
				if (f->route_n > 1) {
					/* a sibling forwarder (another endpoint) sends it */
					if (col_fwd_route(sp->trace_id, f->route_n) != f->route_i)
						continue;
					d = 0;
				} else {
					d = col_fwd_route(sp->trace_id, nd);
				}
				int rc = builder_add(&f->bld[d], rs, ss, sp);
				if (rc != 0)
					return rc;
				if (f->bld[d].ob.batch->n_spans >= f->cfg.batch_spans &&
				    (rc = builder_flush(f, d, u)) != 0)
					return rc;
			}
		}
	}
	return 0;
}

static void unit_free(struct fwd_unit *u)
{
	while (u->calls) {
		struct fwd_call *c = u->calls;
		u->calls = c->next;
		call_free(c);
	}
	free(u);
}

/*
 * Reads records from the log into one new unit. Returns 1 when it queued a
 * unit (with no calls if every span was filtered out or records were
 * skipped), 0 when there was nothing to read, or a negative errno (reader
 * reset to the unit's start; the caller waits and tries again).
 */
static int unit_read(struct fwd *f)
{
	struct fwd_unit *u = calloc(1, sizeof(*u));
	struct otlp_batch **recs = NULL;
	size_t n_recs = 0, cap_recs = 0;
	struct store_pos start = f->read_pos;
	uint64_t spans = 0;
	int rc = 0;
	if (u == NULL)
		return -ENOMEM;
	while (spans < f->cfg.batch_spans) {
		struct otlp_batch *b = NULL;
		struct store_pos at, next;
		rc = store_reader_next(f->reader, &b, &at, &next);
		if (rc == -EAGAIN) {
			rc = 0;
			break;
		}
		if (rc == -ERANGE) {
			col_log(COL_LOG_WARN,
				"forward %s: retention dropped log records this forwarder had not "
				"sent; going on from segment %" PRIu64 " (the lost spans are in "
				"ternd_forward_spans_lost_total)",
				f->cfg.name, at.seg);
			f->read_pos = at;
			store_cursor_set(f->store, f->key, f->read_pos);
			rc = 0;
			continue;
		}
		if (rc == -EBADMSG) {
			col_log(COL_LOG_WARN,
				"forward %s: a corrupt record in segment %" PRIu64
				" could not be read; skipping to the next segment",
				f->cfg.name, f->read_pos.seg);
			f->read_pos = next;
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto out_reset;
		if (n_recs == cap_recs) {
			size_t nc = cap_recs ? cap_recs * 2 : 16;
			struct otlp_batch **v = realloc(recs, nc * sizeof(*v));
			if (v == NULL) {
				otlp_batch_free(b);
				rc = -ENOMEM;
				goto out_reset;
			}
			recs = v;
			cap_recs = nc;
		}
		recs[n_recs++] = b;
		f->read_pos = next;
		/* the store counts lost spans from here on */
		store_cursor_set(f->store, f->key, f->read_pos);
		spans += b->n_spans;
		if ((rc = unit_add_record(f, u, b)) != 0)
			goto out_reset;
	}
	for (unsigned d = 0; d < f->cfg.n_endpoints; d++)
		if ((rc = builder_flush(f, d, u)) != 0)
			goto out_reset;
	for (size_t i = 0; i < n_recs; i++)
		otlp_batch_free(recs[i]);
	free(recs);
	if (store_pos_cmp(f->read_pos, start) == 0) {
		unit_free(u);
		return 0;
	}
	u->end = f->read_pos;
	if (f->tail)
		f->tail->next = u;
	else
		f->head = u;
	f->tail = u;
	f->n_units++;
	store_cursor_set(f->store, f->key, f->read_pos);
	return 1;

out_reset:
	/* Read again from the unit's start later: nothing of it was sent. */
	for (unsigned d = 0; d < f->cfg.n_endpoints; d++)
		builder_reset(&f->bld[d]);
	for (size_t i = 0; i < n_recs; i++)
		otlp_batch_free(recs[i]);
	free(recs);
	unit_free(u);
	f->read_pos = start;
	store_cursor_set(f->store, f->key, start);
	store_reader_free(f->reader);
	f->reader = NULL;
	int rc2 = store_reader_new(f->store, start, &f->reader);
	if (rc2 != 0)
		f->reader = NULL;
	return rc;
}

/* ---- completing calls ---- */

static void call_done(struct fwd *f, struct fwd_call *c)
{
	(void)f;
	c->state = CALL_DONE;
	free(c->payload);
	c->payload = NULL;
	c->unit->pending--;
}

static void log_failure(struct fwd *f, const struct fwd_call *c, bool retry, const char *what,
			uint64_t delay_ms)
{
	uint64_t now = mono_ms();
	if (!retry) {
		col_log(COL_LOG_WARN,
			"forward %s: %s refused a batch of %u spans for good (%s); dropping it "
			"(counted in ternd_forward_spans_dropped_total) and going on",
			f->cfg.name, f->cfg.endpoints[c->dest], c->n_spans, what);
		return;
	}
	if (f->last_fail_log != 0 && now - f->last_fail_log < LOG_EVERY_MS) {
		f->fails_unlogged++;
		return;
	}
	col_log(COL_LOG_WARN,
		"forward %s: sending to %s failed (%s), %" PRIu64
		" more failures since the last line; retrying in %" PRIu64 " ms",
		f->cfg.name, f->cfg.endpoints[c->dest], what, f->fails_unlogged, delay_ms);
	f->last_fail_log = now;
	f->fails_unlogged = 0;
}

static void call_ok(struct fwd *f, struct fwd_call *c, int64_t rejected, const char *msg)
{
	if (rejected < 0)
		rejected = 0;
	if ((uint64_t)rejected > c->n_spans)
		rejected = c->n_spans;
	if (rejected > 0 || (msg && *msg)) {
		ADD(f, spans_rejected, (uint64_t)rejected);
		uint64_t now = mono_ms();
		if (f->last_reject_log == 0 || now - f->last_reject_log >= LOG_EVERY_MS) {
			f->last_reject_log = now;
			col_log(COL_LOG_WARN,
				"forward %s: %s accepted a batch partially: %" PRId64
				" of %u spans rejected (%s); not retrying them",
				f->cfg.name, f->cfg.endpoints[c->dest], rejected, c->n_spans,
				msg && *msg ? msg : "no message");
		}
	}
	ADD(f, spans_sent, c->n_spans - (uint64_t)rejected);
	ADD(f, requests_ok, 1);
	call_done(f, c);
}

static void call_failed(struct fwd *f, struct fwd_call *c, bool retryable, int64_t hint_ms,
			const char *what)
{
	ADD(f, spans_failed, c->n_spans);
	ADD(f, requests_failed, 1);
	if (!retryable) {
		ADD(f, spans_dropped, c->n_spans);
		log_failure(f, c, false, what, 0);
		call_done(f, c);
		return;
	}
	c->attempts++;
	uint64_t d = col_fwd_backoff_ms(c->attempts, f->cfg.max_backoff_ms, hint_ms, util_splitmix64(&f->rnd));
	c->retry_at = mono_ms() + d;
	c->state = CALL_READY;
	log_failure(f, c, true, what, d);
}

/* ---- gRPC ---- */

static void grpc_call_cleanup(struct fwd_call *c)
{
	grpc_slice_unref(c->details);
	if (c->resp)
		grpc_byte_buffer_destroy(c->resp);
	grpc_byte_buffer_destroy(c->req);
	grpc_metadata_array_destroy(&c->imd);
	grpc_metadata_array_destroy(&c->tmd);
	grpc_call_unref(c->call);
	c->call = NULL;
	c->resp = c->req = NULL;
}

static int grpc_start(struct fwd *f, struct fwd_call *c)
{
	grpc_metadata_array_init(&c->imd);
	grpc_metadata_array_init(&c->tmd);
	c->resp = NULL;
	c->details = grpc_empty_slice();
	gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
				       gpr_time_from_millis(f->cfg.timeout_ms, GPR_TIMESPAN));
	c->call = grpc_channel_create_call(f->ch[c->dest], NULL, GRPC_PROPAGATE_DEFAULTS, f->cq,
					   grpc_slice_from_static_string(EXPORT_METHOD), NULL,
					   dl, NULL);
	if (c->call == NULL)
		goto out_md;
	grpc_slice sl = grpc_slice_from_copied_buffer((const char *)c->payload, c->len);
	c->req = grpc_raw_byte_buffer_create(&sl, 1);
	grpc_slice_unref(sl);
	grpc_op ops[6];
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[0].data.send_initial_metadata.count = f->n_md;
	ops[0].data.send_initial_metadata.metadata = f->md;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = c->req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->imd;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &c->resp;
	ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	ops[5].data.recv_status_on_client.trailing_metadata = &c->tmd;
	ops[5].data.recv_status_on_client.status = &c->status;
	ops[5].data.recv_status_on_client.status_details = &c->details;
	if (grpc_call_start_batch(c->call, ops, 6, c, NULL) != GRPC_CALL_OK)
		goto out_call;
	c->state = CALL_INFLIGHT;
	f->inflight++;
	return 0;

out_call:
	grpc_byte_buffer_destroy(c->req);
	c->req = NULL;
	grpc_call_unref(c->call);
	c->call = NULL;
out_md:
	grpc_metadata_array_destroy(&c->imd);
	grpc_metadata_array_destroy(&c->tmd);
	return -EIO;
}

static void grpc_finish(struct fwd *f, struct fwd_call *c)
{
	f->inflight--;
	if (c->status == GRPC_STATUS_OK) {
		struct otlp_response r = { 0 };
		if (c->resp != NULL) {
			grpc_byte_buffer_reader rd;
			if (grpc_byte_buffer_reader_init(&rd, c->resp)) {
				grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
				if (otlp_decode_response_proto(&r, GRPC_SLICE_START_PTR(sl),
							       GRPC_SLICE_LENGTH(sl)) != 0)
					memset(&r, 0, sizeof(r));
				grpc_slice_unref(sl);
				grpc_byte_buffer_reader_destroy(&rd);
			}
		}
		grpc_call_cleanup(c);
		call_ok(f, c, r.rejected_spans, r.error_message);
		return;
	}
	int64_t hint = -1;
	for (size_t i = 0; i < c->tmd.count; i++) {
		const grpc_metadata *m = &c->tmd.metadata[i];
		if (!grpc_slice_str_cmp(m->key, "grpc-status-details-bin"))
			hint = otlp_retry_info_ms(GRPC_SLICE_START_PTR(m->value),
						  GRPC_SLICE_LENGTH(m->value));
	}
	char what[200];
	size_t dl = GRPC_SLICE_LENGTH(c->details);
	if (dl > 120)
		dl = 120;
	snprintf(what, sizeof(what), "gRPC status %d: %.*s", (int)c->status, (int)dl,
		 (const char *)GRPC_SLICE_START_PTR(c->details));
	bool retry = col_fwd_grpc_retryable((int)c->status, hint >= 0);
	grpc_call_cleanup(c);
	call_failed(f, c, retry, hint, what);
}

/* ---- OTLP/HTTP (libcurl multi, on the forwarder thread) ---- */

static int gzip_buf(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	uLong cap = deflateBound(&z, (uLong)len);
	uint8_t *buf = malloc(cap);
	if (buf == NULL) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	int zr = deflate(&z, Z_FINISH);
	*out_len = z.total_out;
	deflateEnd(&z);
	if (zr != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	return 0;
}

/* Retry-After in seconds (the HTTP-date form is not honoured: -1). */
static int64_t retry_after_ms(const char *headers)
{
	for (const char *p = headers; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		if (!strncasecmp(p, "retry-after:", 12)) {
			const char *v = p + 12;
			while (*v == ' ')
				v++;
			char *end;
			long s = strtol(v, &end, 10);
			if (end != v && s >= 0 && s < 86400)
				return (int64_t)s * 1000;
			return -1;
		}
		p = eol ? eol + 2 : NULL;
	}
	return -1;
}

/* Sends c to its destination; libcurl moves it on in http_poll(). */
static void http_start(struct fwd *f, struct fwd_call *c)
{
	const uint8_t *body = c->payload;
	size_t len = c->len;
	if (f->cfg.gzip && gzip_buf(c->payload, c->len, &c->gz, &len) == 0)
		body = c->gz;
	else
		len = c->len;
	int rc = col_hmulti_post(f->hm, f->http_url[c->dest],
				 c->gz ? f->http_headers_gz : f->http_headers, body, len, &f->hopts,
				 c, &c->hx);
	if (rc != 0) {
		free(c->gz);
		c->gz = NULL;
		call_failed(f, c, true, -1, "cannot start an HTTP request");
		return;
	}
	c->state = CALL_INFLIGHT;
	f->inflight++;
}

/* Lets go of c's transfer (cancelling it if it still runs). */
static void http_end(struct fwd *f, struct fwd_call *c)
{
	col_hxfer_free(f->hm, c->hx);
	c->hx = NULL;
	free(c->gz);
	c->gz = NULL;
	f->inflight--;
}

/* What the destination said about c. */
static void http_finish(struct fwd *f, struct fwd_call *c, const struct col_hresult *r)
{
	char what[300];
	if (r->rc != 0) {
		snprintf(what, sizeof(what), "HTTP request: %s", r->error);
		call_failed(f, c, true, -1, what);
	} else if (r->status >= 200 && r->status < 300) {
		struct otlp_response resp = { 0 };
		if (r->body_len > 0 &&
		    otlp_decode_response_proto(&resp, (const uint8_t *)r->body, r->body_len) != 0)
			memset(&resp, 0, sizeof(resp));
		call_ok(f, c, resp.rejected_spans, resp.error_message);
	} else {
		snprintf(what, sizeof(what), "HTTP %d", r->status);
		call_failed(f, c, col_fwd_http_retryable(r->status), retry_after_ms(r->headers),
			    what);
	}
}

/* Moves the transfers on, waiting at most wait_ms, and handles the ones
 * that finished. */
static void http_poll(struct fwd *f, uint64_t wait_ms)
{
	if (col_hmulti_run(f->hm, (int)wait_ms) < 0) {
		struct timespec ts = { 0, (long)wait_ms * 1000000L };
		nanosleep(&ts, NULL); /* libcurl is out of resources: do not spin */
	}
	void *tag;
	const struct col_hresult *r;
	while (col_hmulti_next(f->hm, &tag, &r) != NULL) {
		struct fwd_call *c = tag;
		http_finish(f, c, r);
		http_end(f, c);
	}
}

/* ---- the thread ---- */

static bool stopping(const struct fwd *f)
{
	return atomic_load(&f->set->stopping);
}

/* Starts READY calls whose time has come; *wake: earliest pending retry. */
static void start_ready(struct fwd *f, uint64_t now, uint64_t *wake)
{
	for (struct fwd_unit *u = f->head; u; u = u->next) {
		for (struct fwd_call *c = u->calls; c; c = c->next) {
			if (c->state != CALL_READY)
				continue;
			if (c->retry_at > now) {
				if (c->retry_at < *wake)
					*wake = c->retry_at;
				continue;
			}
			if (stopping(f))
				continue;
			if (c->attempts > 0)
				ADD(f, spans_retried, c->n_spans);
			if (f->cfg.protocol == COL_FWD_HTTP) {
				http_start(f, c);
			} else if (grpc_start(f, c) != 0) {
				call_failed(f, c, true, -1, "cannot start a gRPC call");
			}
		}
	}
}

static void advance(struct fwd *f)
{
	bool moved = false;
	while (f->head && f->head->pending == 0) {
		struct fwd_unit *u = f->head;
		f->head = u->next;
		if (f->head == NULL)
			f->tail = NULL;
		f->n_units--;
		f->acked = u->end;
		moved = true;
		unit_free(u);
	}
	if (moved)
		cursor_save(f);
}

static void update_stats(struct fwd *f)
{
	uint64_t now = real_ns();
	struct store_backlog bl;
	store_backlog(f->store, f->acked, &bl);
	atomic_store(&f->lag_spans, bl.spans);
	/* lag in time: since the log's end was at (or before) the cursor */
	struct lag_sample *s = &f->lag[f->lag_head];
	s->end = store_end_pos(f->store);
	s->t_ns = now;
	f->lag_head = (f->lag_head + 1) % LAG_SAMPLES;
	if (f->n_lag < LAG_SAMPLES)
		f->n_lag++;
	uint64_t lag_ms = 0;
	if (bl.spans > 0) {
		uint64_t t = bl.seg_created_ns;
		for (unsigned i = 0; i < f->n_lag; i++) {
			const struct lag_sample *x = &f->lag[i];
			if (store_pos_cmp(x->end, f->acked) <= 0 && x->t_ns > t)
				t = x->t_ns;
		}
		if (t && t < now)
			lag_ms = (now - t) / 1000000;
	}
	atomic_store(&f->lag_ms, lag_ms);
	uint64_t lost = store_cursor_lost(f->store, f->key);
	if (lost > f->last_lost) {
		col_log(COL_LOG_WARN,
			"forward %s: retention dropped %" PRIu64
			" spans this forwarder had not sent (%" PRIu64 " in all)",
			f->cfg.name, lost - f->last_lost, lost);
		ADD(f, spans_lost, lost - f->last_lost);
		f->last_lost = lost;
	}
	uint64_t mnow = mono_ms();
	if (bl.at_risk && bl.spans > 0 && (f->last_risk_log == 0 || mnow - f->last_risk_log >= 60000)) {
		f->last_risk_log = mnow;
		col_log(COL_LOG_WARN,
			"forward %s: %" PRIu64 " spans (%" PRIu64 " bytes) not yet forwarded are "
			"in the oldest part of the log, within 10%% of the retention limit; "
			"retention will drop them unless the destination catches up",
			f->cfg.name, bl.spans, bl.bytes);
	}
}

/* At the stop deadline: gRPC calls complete as CANCELLED through the
 * queue; HTTP transfers are dropped here and then. Either way the call
 * stays unacknowledged, so its spans are sent again after the restart. */
static void cancel_inflight(struct fwd *f)
{
	for (struct fwd_unit *u = f->head; u; u = u->next)
		for (struct fwd_call *c = u->calls; c; c = c->next) {
			if (c->state != CALL_INFLIGHT)
				continue;
			if (c->call) {
				grpc_call_cancel(c->call, NULL);
			} else if (c->hx) {
				http_end(f, c);
				call_failed(f, c, true, -1, "cancelled: ternd is stopping");
			}
		}
}

static void *fwd_main(void *arg)
{
	struct fwd *f = arg;
	uint64_t next_stats = 0, read_retry_at = 0;
	bool cancelled = false;
	for (;;) {
		uint64_t now = mono_ms();
		bool stop = stopping(f);
		if (stop && f->inflight == 0)
			break;
		if (stop && !cancelled && now >= atomic_load(&f->set->stop_deadline)) {
			cancel_inflight(f);
			cancelled = true;
		}
		while (!stop && f->n_units < f->cfg.concurrency && now >= read_retry_at) {
			if (f->reader == NULL &&
			    store_reader_new(f->store, f->read_pos, &f->reader) != 0) {
				f->reader = NULL;
				read_retry_at = now + 1000;
				break;
			}
			int rc = unit_read(f);
			if (rc < 0) {
				col_log(COL_LOG_WARN, "forward %s: reading the log: %s; retrying in 1 s",
					f->cfg.name, strerror(-rc));
				read_retry_at = now + 1000;
				break;
			}
			if (rc == 0)
				break; /* at the durable end */
			if (f->tail->calls == NULL)
				advance(f); /* all filtered or skipped: done already */
		}
		/* Nothing more to read now: wait for answers, retries or new data. */
		uint64_t wake = now + POLL_MS;
		start_ready(f, now, &wake);
		advance(f);
		if (f->inflight > 0 && f->cfg.protocol == COL_FWD_HTTP) {
			uint64_t until = wake > now ? wake : now;
			http_poll(f, until - now < 50 ? until - now : 50);
			advance(f);
		} else if (f->inflight > 0) {
			uint64_t until = wake > now ? wake : now;
			if (until > now + 50)
				until = now + 50;
			gpr_timespec dl = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
						       gpr_time_from_millis((int64_t)(until - now),
									    GPR_TIMESPAN));
			for (;;) {
				grpc_event ev = grpc_completion_queue_next(f->cq, dl, NULL);
				if (ev.type != GRPC_OP_COMPLETE)
					break;
				grpc_finish(f, ev.tag);
				dl = gpr_inf_past(GPR_CLOCK_MONOTONIC); /* drain without waiting */
			}
			advance(f);
		} else if (wake > now) {
			uint64_t ms = wake - now;
			if (ms > POLL_MS)
				ms = POLL_MS;
			struct timespec ts = { 0, (long)ms * 1000000L };
			nanosleep(&ts, NULL);
		}
		now = mono_ms();
		if (now >= next_stats) {
			update_stats(f);
			next_stats = now + STATS_MS;
		}
	}
	advance(f);
	update_stats(f);
	return NULL;
}

/* ---- set up, tear down ---- */

static void fwd_free(struct fwd *f)
{
	if (f == NULL)
		return;
	while (f->head) {
		struct fwd_unit *u = f->head;
		f->head = u->next;
		for (struct fwd_call *c = u->calls; c; c = c->next)
			col_hxfer_free(f->hm, c->hx);
		unit_free(u);
	}
	col_hmulti_free(f->hm);
	for (unsigned d = 0; d < COL_FWD_MAX_ENDPOINTS; d++) {
		builder_reset(&f->bld[d]);
		if (f->ch[d])
			grpc_channel_destroy(f->ch[d]);
	}
	if (f->cq) {
		grpc_completion_queue_shutdown(f->cq);
		while (grpc_completion_queue_next(f->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
			       .type != GRPC_QUEUE_SHUTDOWN) {
		}
		grpc_completion_queue_destroy(f->cq);
	}
	for (size_t i = 0; i < f->n_md; i++) {
		grpc_slice_unref(f->md[i].key);
		grpc_slice_unref(f->md[i].value);
	}
	free(f->md);
	free(f->http_headers);
	free(f->http_headers_gz);
	store_reader_free(f->reader);
	if (f->cursor_set)
		store_cursor_remove(f->store, f->key);
	free(f);
}

/* Reads a PEM file (at most 1 MiB) into a NUL-terminated buffer. */
static int read_pem(const char *path, char **out)
{
	FILE *fp = fopen(path, "r");
	if (fp == NULL)
		return -errno;
	char *buf = malloc((1 << 20) + 1);
	if (buf == NULL) {
		fclose(fp);
		return -ENOMEM;
	}
	size_t n = fread(buf, 1, 1 << 20, fp);
	int bad = ferror(fp) || !feof(fp);
	fclose(fp);
	if (bad || n == 0) {
		free(buf);
		return bad ? -EFBIG : -ENODATA;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* A forwarder with cfg's values, the defaults filled in; no resources yet. */
static struct fwd *fwd_alloc(struct store *s, const struct col_fwd_config *cfg,
			     struct col_fwd_set *set)
{
	struct fwd *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->set = set;
	f->cfg = *cfg;
	f->rnd = real_ns() ^ (uintptr_t)f;
	if (f->cfg.batch_spans == 0)
		f->cfg.batch_spans = 4096;
	if (f->cfg.concurrency == 0)
		f->cfg.concurrency = 1;
	if (f->cfg.timeout_ms == 0)
		f->cfg.timeout_ms = 10000;
	if (f->cfg.connect_timeout_ms == 0 || f->cfg.connect_timeout_ms > f->cfg.timeout_ms)
		f->cfg.connect_timeout_ms = f->cfg.timeout_ms;
	if (f->cfg.max_backoff_ms < 100)
		f->cfg.max_backoff_ms = 100;
	if (f->cfg.max_request_bytes < 1024)
		f->cfg.max_request_bytes = 4000000;
	snprintf(f->key, sizeof(f->key), "fwd-%s", cfg->name);
	f->store = s;
	return f;
}

/* Loads the saved cursor (or starts at the oldest record), registers it
 * with the store (so that retention accounts for it) and opens a reader. */
static int fwd_open_cursor(struct fwd *f, char *err, size_t errlen)
{
	struct store *s = f->store;
	const char *name = f->cfg.name;
	int rc = cursor_load(f, &f->acked);
	if (rc == -ENOENT) {
		f->acked = store_oldest_pos(s);
		col_log(COL_LOG_INFO, "forward %s: no saved cursor; starting at the oldest record",
			name);
	} else if (rc != 0) {
		snprintf(err, errlen, "forward %s: cannot read its saved cursor (meta/%s): %s",
			 name, f->key, strerror(-rc));
		return rc;
	}
	struct store_pos oldest = store_oldest_pos(s);
	if (store_pos_cmp(f->acked, oldest) < 0) {
		col_log(COL_LOG_WARN,
			"forward %s: retention dropped part of the log after the saved cursor "
			"before this start (count unknown); going on from the oldest record",
			name);
		f->acked = oldest;
	}
	f->read_pos = f->acked;
	rc = store_cursor_set(s, f->key, f->acked);
	if (rc != 0)
		goto out_err;
	f->cursor_set = true; /* from here on fwd_free() removes it */
	rc = store_reader_new(s, f->acked, &f->reader);
	if (rc != 0)
		goto out_err;
	return 0;

out_err:
	snprintf(err, errlen, "forward %s: cannot start: %s", name, strerror(-rc));
	return rc;
}

/* TLS (server verified; optional client certificate) or plaintext. */
static int grpc_creds(const struct col_fwd_config *cfg, grpc_channel_credentials **out,
		      char *err, size_t errlen)
{
	if (!cfg->tls) {
		*out = grpc_insecure_credentials_create();
		return *out ? 0 : -ENOMEM;
	}
	char *pem[3] = { NULL, NULL, NULL }; /* roots, certificate, key */
	const char *file[3] = { cfg->ca_file, cfg->cert_file, cfg->key_file };
	const char *what[3] = { "ca_file", "cert_file", "key_file" };
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++) {
		if (file[i][0] && (rc = read_pem(file[i], &pem[i])) != 0)
			snprintf(err, errlen, "forward %s: cannot read %s %s: %s", cfg->name,
				 what[i], file[i], strerror(-rc));
	}
	if (rc == 0) {
		grpc_ssl_pem_key_cert_pair pair = { pem[2], pem[1] };
		*out = grpc_ssl_credentials_create(pem[0], pem[1] ? &pair : NULL, NULL, NULL);
		if (*out == NULL)
			rc = -ENOMEM;
	}
	for (int i = 0; i < 3; i++)
		free(pem[i]);
	return rc;
}

/* One channel per destination, the completion queue, the metadata. */
static int grpc_setup(struct fwd *f, char *err, size_t errlen)
{
	const struct col_fwd_config *cfg = &f->cfg;
	grpc_arg args[] = {
		/* we retry, with the OTLP rules */
		{ GRPC_ARG_INTEGER, (char *)GRPC_ARG_ENABLE_RETRIES, { .integer = 0 } },
		{ GRPC_ARG_INTEGER, (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM,
		  { .integer = cfg->gzip ? GRPC_COMPRESS_GZIP : GRPC_COMPRESS_NONE } },
		/* come back quickly when the destination does */
		{ GRPC_ARG_INTEGER, (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, { .integer = 100 } },
		{ GRPC_ARG_INTEGER, (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
		  { .integer = (int)(cfg->max_backoff_ms < 2000 ? cfg->max_backoff_ms : 2000) } },
		{ GRPC_ARG_INTEGER, (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, { .integer = 1 } },
	};
	grpc_channel_args chargs = { sizeof(args) / sizeof(args[0]), args };
	grpc_channel_credentials *creds;
	int rc = grpc_creds(cfg, &creds, err, errlen);
	if (rc != 0)
		return rc;
	for (unsigned d = 0; d < cfg->n_endpoints; d++) {
		f->ch[d] = grpc_channel_create(cfg->endpoints[d], creds, &chargs);
		if (f->ch[d] == NULL)
			rc = -ENOMEM;
	}
	grpc_channel_credentials_release(creds);
	f->cq = grpc_completion_queue_create_for_next(NULL);
	if (f->cq == NULL)
		rc = -ENOMEM;
	if (cfg->n_headers) {
		f->md = calloc(cfg->n_headers, sizeof(*f->md));
		if (f->md == NULL)
			rc = -ENOMEM;
		for (uint32_t i = 0; f->md && i < cfg->n_headers; i++) {
			f->md[i].key = grpc_slice_from_copied_string(cfg->headers[i].name);
			f->md[i].value = grpc_slice_from_copied_string(cfg->headers[i].value);
			f->n_md++;
		}
	}
	if (rc != 0)
		snprintf(err, errlen, "forward %s: cannot start: %s", cfg->name, strerror(-rc));
	return rc;
}

/* "Content-Type: ...\r\n" [+ gzip] + the configured headers, one string. */
static char *http_header_block(const struct col_fwd_config *cfg, bool gz)
{
	static const char ct[] = "Content-Type: application/x-protobuf\r\n";
	static const char ce[] = "Content-Encoding: gzip\r\n";
	size_t need = sizeof(ct) + sizeof(ce);
	for (uint32_t i = 0; i < cfg->n_headers; i++)
		need += strlen(cfg->headers[i].name) + strlen(cfg->headers[i].value) + 4;
	char *h = malloc(need);
	if (h == NULL)
		return NULL;
	size_t off = (size_t)snprintf(h, need, "%s%s", ct, gz ? ce : "");
	for (uint32_t i = 0; i < cfg->n_headers; i++)
		off += (size_t)snprintf(h + off, need - off, "%s: %s\r\n", cfg->headers[i].name,
					cfg->headers[i].value);
	return h;
}

/* The multi handle, the URLs, the header blocks and the transfer options. */
static int http_setup(struct fwd *f, char *err, size_t errlen)
{
	const struct col_fwd_config *cfg = &f->cfg;
	for (unsigned d = 0; d < cfg->n_endpoints; d++) {
		char url[sizeof(f->http_url[0])];
		snprintf(url, sizeof(url), "%s://%s%s", cfg->tls ? "https" : "http",
			 cfg->endpoints[d], cfg->path);
		memcpy(f->http_url[d], url, sizeof(url));
	}
	f->hopts = (struct col_hopts){
		.connect_timeout_ms = cfg->connect_timeout_ms,
		.timeout_ms = cfg->timeout_ms,
		/* a stalled or trickling connection goes long before a long timeout_ms */
		.low_speed_bytes = 64,
		.low_speed_s = 30,
		.max_body = 4u << 20, /* an ExportTraceServiceResponse is small */
		.ca_file = f->cfg.ca_file,
		.cert_file = f->cfg.cert_file,
		.key_file = f->cfg.key_file,
	};
	/* libcurl reads them per connection: a wrong path fails the start, not
	 * every request */
	const char *file[3] = { cfg->ca_file, cfg->cert_file, cfg->key_file };
	const char *what[3] = { "ca_file", "cert_file", "key_file" };
	for (int i = 0; i < 3; i++) {
		if (file[i][0] && access(file[i], R_OK) != 0) {
			int e = errno;
			snprintf(err, errlen, "forward %s: cannot read %s %s: %s", cfg->name,
				 what[i], file[i], strerror(e));
			return -e;
		}
	}
	f->http_headers = http_header_block(cfg, false);
	f->http_headers_gz = http_header_block(cfg, true);
	f->hm = col_hmulti_new(cfg->concurrency);
	if (f->http_headers == NULL || f->http_headers_gz == NULL || f->hm == NULL) {
		snprintf(err, errlen, "forward %s: cannot start: out of memory", cfg->name);
		return -ENOMEM;
	}
	return 0;
}

/* One forwarder, ready for its thread: cursor, reader, transport. */
static int fwd_new(struct store *s, const struct col_fwd_config *cfg, struct col_fwd_set *set,
		   struct fwd **out, char *err, size_t errlen)
{
	int rc = col_fwd_config_check(cfg, err, errlen);
	if (rc != 0)
		return rc;
	struct fwd *f = fwd_alloc(s, cfg, set);
	if (f == NULL) {
		snprintf(err, errlen, "forward %s: cannot start: out of memory", cfg->name);
		return -ENOMEM;
	}
	rc = fwd_open_cursor(f, err, errlen);
	if (rc == 0)
		rc = cfg->protocol == COL_FWD_GRPC ? grpc_setup(f, err, errlen)
						   : http_setup(f, err, errlen);
	if (rc != 0) {
		fwd_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

int col_fwd_start(struct store *s, const struct col_fwd_config *cfg, unsigned n,
		  struct col_fwd_set **out, char *err, size_t errlen)
{
	*out = NULL;
	if (n == 0)
		return 0;
	if (n > COL_FWD_MAX) {
		snprintf(err, errlen, "at most %d forwarders", COL_FWD_MAX);
		return -EINVAL;
	}
	struct col_fwd_set *set = calloc(1, sizeof(*set));
	if (set == NULL) {
		snprintf(err, errlen, "forward: out of memory");
		return -ENOMEM;
	}
	grpc_init();
	int rc = 0;
	for (unsigned i = 0; i < n && rc == 0; i++) {
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(cfg[i].name, cfg[j].name)) {
				snprintf(err, errlen, "two forwarders named '%s'", cfg[i].name);
				rc = -EINVAL;
			}
		if (rc != 0)
			break;
		if (!cfg[i].per_endpoint_cursors || cfg[i].n_endpoints < 2) {
			if ((rc = fwd_new(s, &cfg[i], set, &set->f[set->n], err, errlen)) == 0)
				set->n++;
			continue;
		}
		/* One forwarder per endpoint, each with its own cursor
		 * ("NAME.K"), sending only the traces routed to it. */
		static struct col_fwd_config one;
		for (unsigned k = 0; k < cfg[i].n_endpoints && rc == 0; k++) {
			one = cfg[i];
			if (snprintf(one.name, sizeof(one.name), "%s.%u", cfg[i].name, k) >=
			    (int)sizeof(one.name)) {
				snprintf(err, errlen, "forwarder name '%s' is too long for "
					 "per_endpoint_cursors", cfg[i].name);
				rc = -EINVAL;
				break;
			}
			memcpy(one.endpoints[0], cfg[i].endpoints[k], sizeof(one.endpoints[0]));
			one.n_endpoints = 1;
			if ((rc = fwd_new(s, &one, set, &set->f[set->n], err, errlen)) == 0) {
				set->f[set->n]->route_i = k;
				set->f[set->n]->route_n = cfg[i].n_endpoints;
				set->n++;
			}
		}
	}
	for (unsigned i = 0; i < set->n && rc == 0; i++) {
		int e = pthread_create(&set->f[i]->thread, NULL, fwd_main, set->f[i]);
		if (e != 0) {
			snprintf(err, errlen, "forward: cannot start a thread: %s", strerror(e));
			rc = -e;
			break;
		}
		set->f[i]->started = true;
	}
	if (rc != 0) {
		col_fwd_stop(set, 0);
		return rc;
	}
	for (unsigned i = 0; i < set->n; i++) {
		const struct col_fwd_config *c = &set->f[i]->cfg;
		col_log(COL_LOG_INFO,
			"forward %s: %s to %s%s (%u endpoint%s), from segment %" PRIu64
			" offset %" PRIu64,
			c->name, c->protocol == COL_FWD_GRPC ? "OTLP/gRPC" : "OTLP/HTTP",
			c->endpoints[0], c->n_endpoints > 1 ? ",..." : "", c->n_endpoints,
			c->n_endpoints > 1 ? "s, routed by trace id" : "", set->f[i]->acked.seg,
			set->f[i]->acked.off);
	}
	*out = set;
	return 0;
}

void col_fwd_stop(struct col_fwd_set *set, unsigned wait_ms)
{
	if (set == NULL)
		return;
	atomic_store(&set->stop_deadline, mono_ms() + wait_ms);
	atomic_store(&set->stopping, true);
	for (unsigned i = 0; i < set->n; i++) {
		struct fwd *f = set->f[i];
		if (f->started)
			pthread_join(f->thread, NULL);
		fwd_free(f);
	}
	free(set);
	grpc_shutdown();
}

int col_fwd_get_stats(struct col_fwd_set *set, unsigned i, struct col_fwd_stats *st)
{
	if (set == NULL || i >= set->n)
		return -ENOENT;
	struct fwd *f = set->f[i];
	*st = (struct col_fwd_stats){
		.spans_sent = GET(f, spans_sent),
		.spans_failed = GET(f, spans_failed),
		.spans_retried = GET(f, spans_retried),
		.spans_rejected = GET(f, spans_rejected),
		.spans_dropped = GET(f, spans_dropped),
		.spans_lost = GET(f, spans_lost),
		.spans_filtered = GET(f, spans_filtered),
		.lag_spans = GET(f, lag_spans),
		.lag_ms = GET(f, lag_ms),
		.cursor_saves = GET(f, cursor_saves),
	};
	return 0;
}

size_t col_fwd_render_metrics(void *arg, char *buf, size_t len)
{
	struct col_fwd_set *set = arg;
	struct col_text o = { buf, len, 0 };
	if (len > 0)
		buf[0] = '\0';
	if (set == NULL || set->n == 0)
		return 0;
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} m[] = {
#define M(n, t, h, field) { n, t, h, offsetof(struct fwd, field) }
		M("ternd_forward_spans_sent_total", "counter",
		  "Spans the destination acknowledged (minus partial_success rejections).",
		  spans_sent),
		M("ternd_forward_spans_failed_total", "counter",
		  "Spans in export attempts that failed (retried or not).", spans_failed),
		M("ternd_forward_spans_retried_total", "counter",
		  "Spans sent again after a retryable failure.", spans_retried),
		M("ternd_forward_spans_rejected_total", "counter",
		  "Spans the destination rejected in partial_success (not retried).",
		  spans_rejected),
		M("ternd_forward_spans_dropped_total", "counter",
		  "Spans in batches the destination refused permanently (not retried).",
		  spans_dropped),
		M("ternd_forward_spans_lost_total", "counter",
		  "Spans retention dropped before this forwarder sent them.", spans_lost),
		M("ternd_forward_spans_filtered_total", "counter",
		  "Spans left out by the service filter or sampling.", spans_filtered),
		M("ternd_forward_lag_spans", "gauge",
		  "Durable spans after the forwarder's saved cursor.", lag_spans),
		M("ternd_forward_lag_seconds", "gauge",
		  "Age of the oldest span not yet forwarded (upper bound, 1 s steps).", lag_ms),
		M("ternd_forward_cursor_saves_total", "counter",
		  "Times the cursor was saved durably after acknowledged batches.", cursor_saves),
#undef M
	};
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		col_text_put(&o, "# HELP %s %s\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name, m[k].type);
		for (unsigned i = 0; i < set->n; i++) {
			struct fwd *f = set->f[i];
			uint64_t v = atomic_load_explicit(
				(_Atomic uint64_t *)((char *)f + m[k].off), memory_order_relaxed);
			if (m[k].off == offsetof(struct fwd, lag_ms))
				col_text_put(&o, "%s{forwarder=\"%s\"} %" PRIu64 ".%03" PRIu64 "\n", m[k].name,
				    f->cfg.name, v / 1000, v % 1000);
			else
				col_text_put(&o, "%s{forwarder=\"%s\"} %" PRIu64 "\n", m[k].name, f->cfg.name,
				    v);
		}
	}
	return o.off;
}
