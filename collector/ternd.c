/*
 * ternd.c: the collector daemon. One libuv loop owns the state; the gRPC
 * receiver has its completion-queue thread. SIGTERM/SIGINT drain: stop
 * accepting, wait (bounded) for pending acks, close the stage, cancel what
 * is left, close every handle, uv_loop_close() == 0, exit 0.
 */
#include <assert.h>
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics.h"
#include "forward/forward.h"
#include "ingest/auth.h"
#include "ingest/grpc_recv.h"
#include "ingest/listen.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "pipeline/sink_store.h"

extern char **environ;

struct ternd {
	struct col_server srv;
	uv_signal_t sigterm, sigint, sighup;
	bool signals_on; /* sigterm, sigint and sighup initialised */
	uv_timer_t drain_timer;
	uv_timer_t trim_timer;
	bool trim_timer_on;
	bool was_quiet;
	bool drain_timer_on;
	bool stage_closing;
	int exit_code;
	struct col_fwd_set *fwd; /* forwarders (forward.h); NULL when none */
	struct col_stage *closing_stage; /* held while analytics write their last checkpoint */
};

static void close_handles(struct ternd *t);

static void on_query_closed(void *arg)
{
	close_handles(arg);
}

static void on_otlp_http_closed(void *arg)
{
	struct ternd *t = arg;
	/* One h2o context at a time: h2o_context_dispose runs the loop. */
	if (t->srv.query)
		col_http_close(t->srv.query, on_query_closed, t);
	else
		close_handles(t);
}

static void on_grpc_closed(void *arg)
{
	struct ternd *t = arg;
	if (t->srv.otlp_http)
		col_http_close(t->srv.otlp_http, on_otlp_http_closed, t);
	else
		on_otlp_http_closed(t);
}

static void on_stage_closed(void *arg)
{
	struct ternd *t = arg;
	/* Every batch the stage took has its answer now; the gRPC server
	 * shuts down (cancelling only calls stuck past the timeout). */
	if (t->srv.grpc) {
		col_grpc_close(t->srv.grpc, on_grpc_closed, t);
	} else {
		on_grpc_closed(t);
	}
}

static void close_stage(void *arg)
{
	struct ternd *t = arg;
	struct col_stage *st = t->closing_stage;
	t->closing_stage = NULL;
	if (st != NULL)
		col_stage_close(st, on_stage_closed, t);
	else
		on_stage_closed(t);
}

/* Phase 2: the drain is over (all answered, or the timeout hit). */
static void finish_drain(struct ternd *t)
{
	if (t->stage_closing)
		return;
	t->stage_closing = true;
	if (t->drain_timer_on)
		uv_timer_stop(&t->drain_timer);
	/* Forwarders read the store: stop them first. Their calls in flight
	 * get a bounded wait so a clean stop resends nothing. */
	col_fwd_stop(t->fwd, t->srv.cfg.shutdown_timeout_ms < 5000 ? t->srv.cfg.shutdown_timeout_ms
								     : 5000);
	t->fwd = NULL;
	t->closing_stage = t->srv.stage;
	t->srv.stage = NULL; /* batches arriving now are refused with -ESHUTDOWN */
	/* Analytics persist their last minutes while the store is open. */
	if (t->srv.an != NULL)
		col_an_stop(t->srv.an, close_stage, t);
	else
		close_stage(t);
}

static uint64_t drain_deadline;

static void on_drain_timer(uv_timer_t *timer)
{
	struct ternd *t = timer->data;
	/* Drained when no batch waits for its ack. New calls keep arriving
	 * while clients retry; they are answered UNAVAILABLE, so they do not
	 * count. */
	uint64_t depth = atomic_load(&t->srv.metrics.queue_depth);
	if (depth == 0) {
		finish_drain(t);
	} else if (uv_now(t->srv.loop) >= drain_deadline) {
		col_log(COL_LOG_WARN, "shutdown: %llu batches still unacked after %u ms; "
				      "closing the pipeline (it answers them)",
			(unsigned long long)depth, t->srv.cfg.shutdown_timeout_ms);
		finish_drain(t);
	}
}

static void on_signal(uv_signal_t *sig, int signum)
{
	struct ternd *t = sig->data;
	if (t->srv.draining)
		return;
	col_log(COL_LOG_INFO, "%s: no new requests; answering the %llu in flight, then exiting",
		signum == SIGTERM ? "SIGTERM" : "SIGINT",
		(unsigned long long)atomic_load(&t->srv.inflight));
	t->srv.draining = true;
	if (t->srv.grpc)
		col_grpc_stop_accepting(t->srv.grpc);
	if (t->srv.otlp_http)
		col_http_stop_accepting(t->srv.otlp_http);
	drain_deadline = uv_now(t->srv.loop) + t->srv.cfg.shutdown_timeout_ms;
	uv_timer_init(t->srv.loop, &t->drain_timer);
	t->drain_timer.data = t;
	t->drain_timer_on = true;
	uv_timer_start(&t->drain_timer, on_drain_timer, 0, 5);
}

/* SIGHUP: read --tls-cert/--tls-key/--tls-client-ca again (renewed
 * certificates); new connections get them, open ones keep theirs. */
static void on_sighup(uv_signal_t *sig, int signum)
{
	struct ternd *t = sig->data;
	(void)signum;
	struct col_http *hs[] = { t->srv.otlp_http, t->srv.query };
	for (size_t i = 0; i < 2; i++) {
		char err[512];
		if (hs[i] == NULL)
			continue;
		int r = col_http_reload_tls(hs[i], err, sizeof(err));
		if (r < 0)
			col_log(COL_LOG_ERROR, "SIGHUP: %s; keeping the certificate in use", err);
		else if (r > 0)
			col_log(COL_LOG_INFO, "SIGHUP: TLS certificate reloaded for new connections");
	}
}

static size_t render_fwd_metrics(void *arg, char *buf, size_t len)
{
	struct ternd *t = arg;
	return col_fwd_render_metrics(t->fwd, buf, len);
}

/* Starts the configured forwarders over the store stage's log. */
static int start_forwarders(struct ternd *t, char *err, size_t errlen)
{
	struct col_config *c = &t->srv.cfg;
	static struct col_fwd_config fc[COL_FWD_MAX];
	unsigned n = c->n_forwarders;
	memcpy(fc, c->forwarders, n * sizeof(fc[0]));
	if (c->forward[0] != '\0') {
		if (n == COL_FWD_MAX) {
			snprintf(err, errlen, "--forward: already %d forwarders", COL_FWD_MAX);
			return -EINVAL;
		}
		col_fwd_config_default(&fc[n]);
		if (col_fwd_config_parse_url(&fc[n], c->forward, err, errlen) != 0)
			return -EINVAL;
		n++;
	}
	if (n == 0)
		return 0;
	struct store *st = col_sink_store_handle(t->srv.stage);
	if (st == NULL) {
		snprintf(err, errlen, "forwarding reads the stored log: it needs --sink store");
		return -EINVAL;
	}
	int r = col_fwd_start(st, fc, n, &t->fwd, err, errlen);
	if (r == 0)
		col_metrics_add_extra(&t->srv.metrics, render_fwd_metrics, t);
	return r;
}

static bool an_quiescent(void *arg)
{
	struct ternd *t = arg;
	return atomic_load(&t->srv.metrics.queue_depth) == 0;
}

static void an_observe(void *arg, const struct otlp_batch *b)
{
	col_an_observe(arg, b);
}

/* Analytics over what the store acks; their past minutes come back from
 * the store (and its log tail) before any request is taken. */
static int start_analytics(struct ternd *t, char *err, size_t errlen)
{
	struct col_server *s = &t->srv;
	struct col_an_options o;
	col_an_options_default(&o);
	o.max_ops_per_service = s->cfg.analytics_max_operations;
	o.mem_hours = s->cfg.analytics_memory_hours;
	o.checkpoint_ms = s->cfg.analytics_checkpoint_ms;
	o.max_services = s->cfg.analytics_max_services;
	o.settle_ms = s->cfg.analytics_settle_ms;
	o.max_pending = s->cfg.analytics_max_pending;
	s->an = col_an_new(&o);
	if (s->an == NULL) {
		snprintf(err, errlen, "analytics: out of memory");
		return -ENOMEM;
	}
	struct store *st = col_sink_store_handle(s->stage);
	if (st != NULL) {
		char msg[512];
		int r = col_an_load(s->an, st, msg, sizeof(msg));
		if (r != 0) {
			snprintf(err, errlen, "analytics: cannot load: %s", strerror(-r));
			return r;
		}
		col_log(COL_LOG_INFO, "%s", msg);
		col_sink_store_set_observer(s->stage, an_observe, s->an);
	}
	col_metrics_add_extra(&s->metrics, col_an_render_metrics, s->an);
	int r = col_an_start(s->an, s->loop, an_quiescent, t);
	if (r != 0) {
		snprintf(err, errlen, "analytics: timer: %s", uv_strerror(r));
		return r;
	}
	return 0;
}

/* close_handles() closes the signal handles, so every path through
 * out_close initialises them exactly once. */
static void init_signals(struct ternd *t)
{
	if (t->signals_on)
		return;
	uv_signal_init(t->srv.loop, &t->sigterm);
	uv_signal_init(t->srv.loop, &t->sighup);
	t->sighup.data = t;
	uv_signal_init(t->srv.loop, &t->sigint);
	t->sigterm.data = t;
	t->sigint.data = t;
	t->signals_on = true;
}

/*
 * Gives freed memory back to the kernel once things are quiet: after a
 * burst (or an attack whose connections were closed) glibc keeps the freed
 * heap, in every thread's arena, and RSS stays high. Not while requests are
 * in flight: batches reuse that heap (see mallopt in main).
 */
static void on_trim_timer(uv_timer_t *timer)
{
	struct ternd *t = timer->data;
	bool quiet = atomic_load(&t->srv.metrics.mem_used) < t->srv.metrics.mem_limit / 16;
	if (quiet && t->was_quiet)
		malloc_trim(0);
	t->was_quiet = quiet;
}

static void close_handles(struct ternd *t)
{
	if (t->trim_timer_on)
		uv_close((uv_handle_t *)&t->trim_timer, NULL);
	uv_close((uv_handle_t *)&t->sigterm, NULL);
	uv_close((uv_handle_t *)&t->sighup, NULL);
	uv_close((uv_handle_t *)&t->sigint, NULL);
	if (t->drain_timer_on)
		uv_close((uv_handle_t *)&t->drain_timer, NULL);
}

int main(int argc, char **argv)
{
	static struct ternd t; /* large; and handles must outlive uv_run */
	struct col_server *s = &t.srv;
	char err[512];
	char bound[160];

	int r = col_config_load(&s->cfg, argc, argv, environ, err, sizeof(err));
	if (r == 1) {
		col_config_usage(stdout, "ternd");
		return 0;
	}
	if (r != 0) {
		fprintf(stderr, "ternd: %s\n", err);
		return 2;
	}
	col_log_threshold = s->cfg.log_level;
	signal(SIGPIPE, SIG_IGN);
	/* A descriptor per connection: take all the kernel allows; the
	 * listeners refuse before the last --fd-reserve are used. */
	uint64_t nofile = col_raise_nofile();
	if (nofile < 4u * s->cfg.fd_reserve)
		col_log(COL_LOG_WARN, "only %llu file descriptors (RLIMIT_NOFILE); connections past "
				      "%llu are refused",
			(unsigned long long)nofile,
			(unsigned long long)(nofile > s->cfg.fd_reserve ? nofile - s->cfg.fd_reserve : 0));
	/* Batch arenas grow in 64 KiB..1 MiB chunks, one set per request: keep
	 * them on the heap (reused) instead of mmap/munmap per request, which
	 * costs a page fault per page touched. The memory limit still bounds
	 * what is in use. */
	mallopt(M_MMAP_THRESHOLD, 8 << 20);
	mallopt(M_TRIM_THRESHOLD, 64 << 20);

	otlp_limits_default(&s->limits);
	s->limits.max_request_bytes = s->cfg.max_request_bytes;
	s->limits.max_attrs_per_span = s->cfg.max_attrs_per_span;
	s->limits.max_attrs_per_event = s->cfg.max_attrs_per_span; /* as before: one flag */
	s->limits.max_attr_value_bytes = s->cfg.max_attr_value_bytes;
	/* A request that needs more than the whole memory limit to decode
	 * (arena, plus json-c's tree for OTLP/JSON) can never be taken: the
	 * decoder stops there with -EMSGSIZE, answered non-retryable. */
	s->limits.max_decoded_bytes = s->cfg.memory_limit;
	col_metrics_init(&s->metrics, s->cfg.memory_limit);

	uv_loop_t loop;
	uv_loop_init(&loop);
	s->loop = &loop;

	const struct col_stage_ops *ops = col_stage_find(s->cfg.sink);
	struct col_stage_env env = { &loop, s->cfg.data, s->cfg.memory_limit };
	r = ops->open(&env, &s->stage, err, sizeof(err));
	if (r != 0) {
		s->stage = NULL;
		col_log(COL_LOG_ERROR, "cannot open sink %s: %s; exiting", s->cfg.sink, err);
		t.exit_code = 1;
		goto out_loop;
	}

	r = start_analytics(&t, err, sizeof(err));
	if (r != 0) {
		col_log(COL_LOG_ERROR, "%s; exiting", err);
		t.exit_code = 1;
		goto out_close;
	}

	r = start_forwarders(&t, err, sizeof(err));
	if (r != 0) {
		col_log(COL_LOG_ERROR, "%s; exiting", err);
		t.exit_code = 1;
		goto out_close;
	}

	/* Watch SIGTERM/SIGINT before the first `listening` line: a script may
	 * send one as soon as it reads that line. */
	init_signals(&t);
	uv_signal_start(&t.sigterm, on_signal, SIGTERM);
	uv_signal_start(&t.sigint, on_signal, SIGINT);
	uv_signal_start(&t.sighup, on_sighup, SIGHUP);

	/* Plaintext and open to all: fine on loopback, not elsewhere. */
	const struct {
		const char *name, *addr, *token;
	} ls[] = { { "otlp-grpc", s->cfg.otlp_grpc, s->cfg.ingest_token },
		   { "otlp-http", s->cfg.otlp_http, s->cfg.ingest_token },
		   { "query", s->cfg.query, s->cfg.query_token } };
	bool tls = s->cfg.tls_cert[0] != '\0';
	for (size_t i = 0; i < sizeof(ls) / sizeof(ls[0]); i++)
		if (!col_addr_is_loopback(ls[i].addr) && ls[i].token[0] == '\0' && (i == 0 || !tls))
			col_log(COL_LOG_WARN, "%s listens on %s without TLS or a token: anyone who "
					      "reaches it can use it (set --%s-token, or bind "
					      "127.0.0.1 behind a TLS proxy; docs/security.md)",
				ls[i].name, ls[i].addr, i < 2 ? "ingest" : "query");

	if (tls && !col_addr_is_loopback(s->cfg.otlp_grpc))
		col_log(COL_LOG_WARN, "otlp-grpc listens on %s in plaintext: --tls-cert covers the "
				      "HTTP listeners only (docs/security.md)",
			s->cfg.otlp_grpc);

	r = col_grpc_start(s, &s->grpc, bound, sizeof(bound), err, sizeof(err));
	if (r != 0) {
		s->grpc = NULL;
		col_log(COL_LOG_ERROR, "%s; exiting", err);
		t.exit_code = 1;
		goto out_close;
	}
	printf("listening otlp-grpc %s\n", bound);

	r = col_http_start(s, "otlp-http", s->cfg.otlp_http, "/", col_otlp_http_handle,
			   s->cfg.max_request_bytes, &s->otlp_http, bound, sizeof(bound), err,
			   sizeof(err));
	if (r != 0) {
		col_log(COL_LOG_ERROR, "OTLP/HTTP: %s; exiting", err);
		t.exit_code = 1;
		goto out_close;
	}
	printf("listening otlp-http %s\n", bound);

	r = col_http_start(s, "query", s->cfg.query, "/", col_query_handle, 1 << 20, &s->query,
			   bound, sizeof(bound), err, sizeof(err));
	if (r != 0) {
		col_log(COL_LOG_ERROR, "query: %s; exiting", err);
		t.exit_code = 1;
		goto out_close;
	}
	printf("listening query %s\n", bound);
	fflush(stdout);
	uv_timer_init(&loop, &t.trim_timer);
	t.trim_timer.data = &t;
	t.trim_timer_on = true;
	uv_unref((uv_handle_t *)&t.trim_timer);
	uv_timer_start(&t.trim_timer, on_trim_timer, 2000, 2000);

out_close:
	init_signals(&t);
	if (t.exit_code == 0) {
		col_log(COL_LOG_INFO, "ready: sink %s, memory limit %llu bytes", s->cfg.sink,
			(unsigned long long)s->cfg.memory_limit);
	} else {
		/* Start failed: shut down what started, the same way. */
		s->draining = true;
		finish_drain(&t);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
out_loop:
	if (t.exit_code == 0) {
		/* For tests and scripts: what the run accepted, on stdout. */
		printf("stopped accepted_spans %llu refused_spans %llu rejected_spans %llu\n",
		       (unsigned long long)atomic_load(&s->metrics.spans_accepted),
		       (unsigned long long)atomic_load(&s->metrics.spans_refused),
		       (unsigned long long)atomic_load(&s->metrics.spans_rejected));
		fflush(stdout);
	}
	col_an_free(s->an);
	s->an = NULL;
	r = uv_loop_close(&loop);
	if (r != 0)
		col_log(COL_LOG_ERROR, "uv_loop_close: %s (a handle was left open)", uv_strerror(r));
	assert(r == 0);
	fclose(stdin);
	fclose(stdout);
	return t.exit_code;
}
