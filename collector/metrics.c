/* metrics.c: atomic counters and their Prometheus text. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

void col_metrics_init(struct col_metrics *m, uint64_t mem_limit)
{
	memset(m, 0, sizeof(*m));
	m->mem_limit = mem_limit;
}

bool col_mem_reserve(struct col_metrics *m, uint64_t n)
{
	uint64_t cur = atomic_load_explicit(&m->mem_used, memory_order_relaxed);
	do {
		if (n > m->mem_limit || cur > m->mem_limit - n)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&m->mem_used, &cur, cur + n,
							memory_order_relaxed,
							memory_order_relaxed));
	return true;
}

void col_mem_release(struct col_metrics *m, uint64_t n)
{
	atomic_fetch_sub_explicit(&m->mem_used, n, memory_order_relaxed);
}

void col_metrics_request(struct col_metrics *m, enum col_metric_proto p,
			 enum col_outcome o)
{
	atomic_fetch_add_explicit(&m->requests[p][o], 1, memory_order_relaxed);
}

static const char *const reason_names[COL_WHY_N] = { "memory", "queue", "shutdown",
						    "unavailable", "invalid", "too_large", "unauthenticated" };

const char *col_reason_name(enum col_reason why)
{
	return reason_names[why];
}

void col_metrics_reason(struct col_metrics *m, enum col_metric_proto p, enum col_reason why)
{
	atomic_fetch_add_explicit(&m->reasons[p][why], 1, memory_order_relaxed);
	col_metrics_request(m, p, why >= COL_WHY_INVALID ? COL_OUT_INVALID : COL_OUT_REFUSED);
}

bool col_ratelimit_ok(struct col_ratelimit *rl, uint64_t *skipped)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
	uint64_t last = atomic_load_explicit(&rl->last_ms, memory_order_relaxed);
	if ((last != 0 && now - last < 1000) ||
	    !atomic_compare_exchange_strong(&rl->last_ms, &last, now)) {
		atomic_fetch_add_explicit(&rl->skipped, 1, memory_order_relaxed);
		return false;
	}
	*skipped = atomic_exchange(&rl->skipped, 0);
	return true;
}

bool col_metrics_should_log(struct col_metrics *m, enum col_reason why, uint64_t *suppressed)
{
	return col_ratelimit_ok(&m->log_rl[why], suppressed);
}

void col_text_put(struct col_text *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t room = o->off < o->len ? o->len - o->off : 0;
	int n = vsnprintf(room ? o->buf + o->off : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->off += (size_t)n;
}

static void counter(struct col_text *o, const char *name, const char *help, uint64_t v)
{
	col_text_put(o, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name,
	    name, v);
}

static void gauge(struct col_text *o, const char *name, const char *help, uint64_t v)
{
	col_text_put(o, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRIu64 "\n", name, help, name, name,
	    v);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

size_t col_metrics_render(const struct col_metrics *m, char *buf, size_t len)
{
	static const char *const protos[] = { "grpc", "http" };
	static const char *const outcomes[] = { "ok", "partial", "invalid", "refused" };
	struct col_text o = { buf, len, 0 };
	if (len > 0)
		buf[0] = '\0';

	counter(&o, "ternd_spans_received_total", "Spans in decoded export requests.",
		LOAD(m->spans_received));
	counter(&o, "ternd_spans_accepted_total", "Spans acknowledged by the pipeline.",
		LOAD(m->spans_accepted));
	counter(&o, "ternd_spans_rejected_total",
		"Spans rejected by limits (reported in partial_success).",
		LOAD(m->spans_rejected));
	counter(&o, "ternd_spans_refused_total",
		"Decoded spans refused with a retryable error (overload, shutdown).",
		LOAD(m->spans_refused));
	counter(&o, "ternd_bytes_received_total", "Export request bytes received.",
		LOAD(m->bytes_received));
	col_text_put(&o, "# HELP ternd_requests_total Export requests by protocol and outcome.\n"
		"# TYPE ternd_requests_total counter\n");
	for (int p = 0; p < COL_M_NPROTO; p++)
		for (int x = 0; x < COL_OUT_N; x++)
			col_text_put(&o, "ternd_requests_total{protocol=\"%s\",outcome=\"%s\"} %" PRIu64 "\n",
			    protos[p], outcomes[x], LOAD(m->requests[p][x]));
	col_text_put(&o, "# HELP ternd_requests_refused_total Export requests refused (retryable: "
		"memory, queue, shutdown, unavailable) or turned down (not retryable: invalid, too_large, unauthenticated), "
		"by protocol and reason.\n# TYPE ternd_requests_refused_total counter\n");
	for (int p = 0; p < COL_M_NPROTO; p++)
		for (int x = 0; x < COL_WHY_N; x++)
			col_text_put(&o, "ternd_requests_refused_total{protocol=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
			    protos[p], reason_names[x], LOAD(m->reasons[p][x]));
	counter(&o, "ternd_connections_refused_total",
		"Connections closed at accept: descriptor limit (--max-connections, --fd-reserve).",
		LOAD(m->conns_refused));
	counter(&o, "ternd_connections_evicted_total",
		"OTLP/HTTP connections closed for holding unfinished requests (--memory-limit, "
		"--request-timeout-ms).",
		LOAD(m->conns_evicted));
	gauge(&o, "ternd_queue_depth", "Batches in the pipeline, not yet acknowledged.",
	      LOAD(m->queue_depth));
	gauge(&o, "ternd_memory_bytes", "Request memory in use (wire + decoded).",
	      LOAD(m->mem_used));
	gauge(&o, "ternd_memory_limit_bytes", "Configured memory limit.", m->mem_limit);
	for (unsigned i = 0; i < m->n_extra; i++) {
		size_t room = o.off < o.len ? o.len - o.off : 0;
		o.off += m->extra[i].fn(m->extra[i].arg, room ? o.buf + o.off : NULL, room);
	}
	return o.off;
}

int col_metrics_add_extra(struct col_metrics *m, size_t (*fn)(void *arg, char *buf, size_t len),
			  void *arg)
{
	if (m->n_extra == sizeof(m->extra) / sizeof(m->extra[0]))
		return -ENOSPC;
	m->extra[m->n_extra].fn = fn;
	m->extra[m->n_extra].arg = arg;
	m->n_extra++;
	return 0;
}
