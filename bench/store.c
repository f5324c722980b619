/*
 * bench/store.c: storage figures, as `name value unit` lines.
 *
 *   ingest_spans_per_ternd_cpu_s  OTLP/gRPC into a real ternd --sink store
 *                                 (durable acks, indexes updated), spans
 *                                 acked per CPU second ternd used; the
 *                                 store it leaves must hold them all
 *   trace_by_id_p99_ms            with N spans stored (default 10,000,000)
 *   search_p99_ms                 service + operation + min duration over a
 *                                 1 hour window, limit 20, same store
 *   bytes_per_span, otlp_bytes_per_span, store_to_otlp_ratio
 *                                 log + index bytes on disk vs the OTLP
 *                                 protobuf size of the same batches
 *   recovery_s                    store_open after a kill -9 of a process
 *                                 that was appending to that store
 *
 * Every timed answer is checked against what the generator wrote: trace by
 * id must return exactly the spans written for that id, search exactly the
 * newest traces with a matching span, up to the limit. A wrong answer is
 * printed ("wrong: ...") and the exit status is 1. With --queries-only
 * (an existing store, no generator) a trace must hold the span it was
 * sampled from, and each search hit, read back by id, must match.
 *
 * Usage: bench-store [--spans N] [--runs R] [--dir DIR] [--skip-ingest]
 *                    [--queries-only]
 * Medians over R runs (default 3) where a figure is measured more than once.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "load/load.h"
#include "otlp.h"
#include "store.h"
#include "ternd_proc.h"

#define T0 1700000000000000000ull
#define HOUR 3600000000000ull
#define SPAN_WINDOW (2 * HOUR) /* the data set covers two hours */
#define SPANS_PER_TRACE 8
#define BATCH_SPANS 512
#define NSVC 10
#define NOPS 10
#define SPAN_GAP_NS 20000 /* span j of a trace starts j * 20 us after the first */
#define SEARCH_MIN_DUR 100000000ull /* the timed searches ask for >= 100 ms */
#define SAMPLE_EVERY 97 /* every 97th trace is looked up by id */

/* ---- the synthetic data set ---- */

static inline uint64_t splitmix(uint64_t *s)
{
	return util_splitmix64(s);
}

static const char *svc_names[NSVC] = { "frontend", "cart", "checkout", "payment", "shipping",
				       "email", "currency", "ads", "recommend", "catalog" };
static char op_names[NSVC][NOPS][48];

/*
 * What the generator wrote, so that every timed answer is checked: the
 * spans of every SAMPLE_EVERY-th trace (trace by id must return exactly
 * those), and per service and operation the spans of at least
 * SEARCH_MIN_DUR in start order (search must return the newest traces
 * among them, all of them up to the limit). The loader child records it
 * and hands it to the parent over a pipe.
 */
struct truth_span {
	uint32_t trace; /* index in tids */
	uint8_t j;      /* its place in the trace */
};

struct truth_trace {
	uint8_t tid[16];
	uint64_t sids[SPANS_PER_TRACE];
	uint32_t nsids;
	bool whole; /* false: sampled from an existing store, sids[0] only */
};

struct truth {
	bool known;                 /* the store holds what the generator wrote */
	uint64_t ntraces_total;     /* the generator's spacing of trace starts */
	uint8_t (*tids)[16];
	size_t ntids, captids;
	struct truth_span *slow[NSVC][NOPS];
	size_t nslow[NSVC][NOPS], capslow[NSVC][NOPS];
	struct truth_trace *sample;
	size_t nsample, capsample;
};

struct gen {
	uint64_t rng;
	uint64_t traces, ntraces_total;
	uint64_t t0;          /* start of the first trace */
	struct truth *truth;  /* NULL: record nothing */
	struct otlp_builder bd[NSVC]; /* one batch being built per service */
	uint64_t otlp_bytes;
};

/* Grows *v (n used of *cap elements of size sz) by one; exits when out of
 * memory (a bench has no way around it). */
static void *grow(void *v, size_t n, size_t *cap, size_t sz)
{
	if (n < *cap)
		return v;
	*cap = *cap ? *cap * 2 : 1024;
	v = realloc(v, *cap * sz);
	if (v == NULL) {
		fprintf(stderr, "bench-store: out of memory\n");
		exit(1);
	}
	return v;
}

static uint64_t trace_start(uint64_t t0, uint64_t ntraces_total, uint64_t t)
{
	return t0 + t * (SPAN_WINDOW / ntraces_total);
}

static uint64_t truth_span_start(const struct truth *tr, const struct truth_span *sp)
{
	return trace_start(T0, tr->ntraces_total, sp->trace) + (uint64_t)sp->j * SPAN_GAP_NS;
}

/* Attribute lists come out in the order the generator has always sent, so
 * stored sizes stay comparable with earlier runs. */
static void gen_new_batch(struct gen *g, int s)
{
	struct otlp_builder *bd = &g->bd[s];
	if (otlp_builder_init(bd) != 0) {
		fprintf(stderr, "bench-store: out of memory\n");
		exit(1);
	}
	char host[32];
	snprintf(host, sizeof host, "node-%d.prod", s % 4);
	otlp_build_resource(bd, svc_names[s]);
	otlp_build_str(bd, OTLP_TO_RESOURCE, "host.name", host);
	otlp_build_int(bd, OTLP_TO_RESOURCE, "process.pid", 4000 + s);
	otlp_build_str(bd, OTLP_TO_RESOURCE, "telemetry.sdk.name", "tern");
	otlp_build_str(bd, OTLP_TO_RESOURCE, "telemetry.sdk.language", "c");
	otlp_build_str(bd, OTLP_TO_RESOURCE, "telemetry.sdk.version", "1.21.0");
	otlp_build_scope(bd, "tern", "0.1.0");
}

/* One trace of 8 spans over several services. */
static void gen_trace(struct gen *g)
{
	uint64_t t = g->traces++;
	uint8_t tid[16];
	uint64_t a = splitmix(&g->rng), c = splitmix(&g->rng);
	memcpy(tid, &a, 8);
	memcpy(tid + 8, &c, 8);
	struct truth *tr = g->truth;
	struct truth_trace *sample = NULL;
	if (tr) {
		tr->tids = grow(tr->tids, tr->ntids, &tr->captids, sizeof(*tr->tids));
		memcpy(tr->tids[tr->ntids++], tid, 16);
		if (t % SAMPLE_EVERY == 0) {
			tr->sample = grow(tr->sample, tr->nsample, &tr->capsample, sizeof(*tr->sample));
			sample = &tr->sample[tr->nsample++];
			memset(sample, 0, sizeof(*sample)); /* padding too: it goes down a pipe */
			memcpy(sample->tid, tid, 16);
			sample->whole = true;
		}
	}
	uint64_t start = trace_start(g->t0, g->ntraces_total, t);
	uint8_t root[8] = { 0 };
	int root_svc = (int)(t % NSVC);
	for (int j = 0; j < SPANS_PER_TRACE; j++) {
		int s = j == 0 ? root_svc : (int)(splitmix(&g->rng) % NSVC);
		struct otlp_builder *bd = &g->bd[s];
		uint8_t sid8[8];
		uint64_t sid = splitmix(&g->rng) | 1;
		memcpy(sid8, &sid, 8);
		if (sample)
			sample->sids[sample->nsids++] = sid;
		if (j == 0)
			memcpy(root, sid8, 8);
		enum otlp_span_kind kind = j == 0 ? OTLP_SPAN_KIND_SERVER :
					   j % 2  ? OTLP_SPAN_KIND_CLIENT :
						    OTLP_SPAN_KIND_INTERNAL;
		int op = (int)(splitmix(&g->rng) % NOPS);
		const char *nm = op_names[s][op];
		/* log-uniform durations, 50 us .. ~1.6 s */
		uint64_t dur = 50000ull << (splitmix(&g->rng) % 16);
		dur += splitmix(&g->rng) % dur;
		uint64_t t_start = start + (uint64_t)j * SPAN_GAP_NS;
		otlp_build_span(bd, tid, sid8, j == 0 ? NULL : root, nm, kind, t_start, t_start + dur);
		if (tr && dur >= SEARCH_MIN_DUR) {
			tr->slow[s][op] = grow(tr->slow[s][op], tr->nslow[s][op], &tr->capslow[s][op],
					       sizeof(*tr->slow[s][op]));
			struct truth_span *ts = &tr->slow[s][op][tr->nslow[s][op]++];
			memset(ts, 0, sizeof(*ts));
			ts->trace = (uint32_t)(tr->ntids - 1);
			ts->j = (uint8_t)j;
		}
		bool err = splitmix(&g->rng) % 100 == 0;
		if (err)
			otlp_build_status(bd, OTLP_STATUS_ERROR, NULL);
		/* the random draws in the order they always had */
		int64_t thread_id = (int64_t)(splitmix(&g->rng) % 16);
		char user[32], peer[32];
		snprintf(user, sizeof user, "u%06" PRIu64, splitmix(&g->rng) % 200000);
		snprintf(peer, sizeof peer, "10.1.%d.%d", s, (int)(splitmix(&g->rng) % 250));
		otlp_build_str(bd, OTLP_TO_SPAN, "http.method", op % 3 ? "GET" : "POST");
		otlp_build_str(bd, OTLP_TO_SPAN, "http.route", nm);
		otlp_build_int(bd, OTLP_TO_SPAN, "http.status_code", err ? 500 : 200);
		otlp_build_str(bd, OTLP_TO_SPAN, "net.peer.name", peer);
		otlp_build_str(bd, OTLP_TO_SPAN, "enduser.id", user);
		otlp_build_int(bd, OTLP_TO_SPAN, "thread.id", thread_id);
		otlp_build_str(bd, OTLP_TO_SPAN, "component", "http");
		if (err || j == 0) {
			otlp_build_event(bd, t_start + dur / 2, err ? "exception" : "handler.start");
			if (err)
				otlp_build_str(bd, OTLP_TO_EVENT, "exception.message",
					       "upstream timed out");
		}
	}
}

struct inflight {
	int done;
	int status;
	struct otlp_batch *b;
};

static void on_done(void *arg, int status)
{
	struct inflight *f = arg;
	f->status = status;
	__atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
}

/* Appends n spans to s, up to 64 batches in flight (group commit). */
static int load_store(struct store *s, struct gen *g, uint64_t n)
{
	enum { FLIGHT = 64 };
	struct inflight fl[FLIGHT] = { 0 };
	size_t head = 0;
	uint64_t spans = 0;
	for (int k = 0; k < NSVC; k++)
		gen_new_batch(g, k);
	bool last = false;
	while (!last) {
		gen_trace(g);
		/* the last round flushes every partial batch, so each trace
		 * generated is stored whole */
		last = spans + BATCH_SPANS * NSVC / 2 >= n;
		for (int k = 0; k < NSVC; k++) {
			uint64_t nb = g->bd[k].batch->n_spans;
			if (nb == 0 || (nb < BATCH_SPANS && !last))
				continue;
			struct inflight *f = &fl[head];
			head = (head + 1) % FLIGHT;
			if (f->b) {
				while (!__atomic_load_n(&f->done, __ATOMIC_ACQUIRE))
					usleep(100);
				if (f->status)
					return f->status;
				otlp_batch_free(f->b);
			}
			f->b = otlp_builder_take(&g->bd[k]);
			if (f->b == NULL) {
				fprintf(stderr, "bench-store: out of memory\n");
				exit(1);
			}
			spans += f->b->n_spans;
			g->otlp_bytes += otlp_encoded_size(f->b);
			f->done = 0;
			int rc;
			while ((rc = store_submit(s, f->b, on_done, f)) == -EAGAIN)
				usleep(1000);
			if (rc)
				return rc;
			gen_new_batch(g, k);
		}
	}
	for (int k = 0; k < NSVC; k++)
		otlp_builder_done(&g->bd[k]);
	for (size_t i = 0; i < FLIGHT; i++)
		if (fl[i].b) {
			while (!__atomic_load_n(&fl[i].done, __ATOMIC_ACQUIRE))
				usleep(100);
			otlp_batch_free(fl[i].b);
		}
	return 0;
}

/* ---- ingest through ternd ---- */

/*
 * Spans acked per ternd CPU second, or -1 when the load failed. Durable
 * acks are checked: the store ternd leaves behind must hold every span
 * it acked, else *wrong is set.
 */
static double ingest_once(double seconds, bool *wrong)
{
	char dir[256];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/tern-bench-ingest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	struct ternd_proc p;
	const char *args[] = { "--sink", "store", NULL };
	struct ternd_proc_opts o = { .args = args, .data_dir = dir };
	if (ternd_proc_start(&p, &o) != 0) {
		ternd_proc_remove_dir(dir);
		return -1;
	}
	usleep(300000);
	double c0 = proc_cpu_s(p.pid);
	struct col_load_opts lo = { .target = p.grpc_addr, .streams = 8, .spans_per_req = 512,
				    .seconds = seconds };
	struct col_load_result r;
	int rc = col_load_run(&lo, &r);
	double c1 = proc_cpu_s(p.pid);
	int st = ternd_proc_stop(&p);
	struct store *s;
	struct store_stats ss = { 0 };
	if (st == 0 && store_open(&(struct store_options){ .dir = dir, .segment_bytes = 64ull << 20,
							   .zstd_level = 1, .retry_after_ms = 1000 },
				  &s, NULL) == 0) {
		store_stats(s, &ss);
		store_close(s);
	}
	ternd_proc_remove_dir(dir);
	if (rc != 0 || c1 <= c0 || r.failed) {
		fprintf(stderr, "ingest: load failed (rc %d, failed %" PRIu64 ", %s)\n", rc, r.failed,
			r.last_error);
		return -1;
	}
	fprintf(stderr, "ingest: %" PRIu64 " spans acked in %.1f s, ternd cpu %.2f s, refused %" PRIu64 "\n",
		r.spans_acked, r.elapsed_s, c1 - c0, r.refused);
	if (ss.spans < r.spans_acked) {
		fprintf(stderr, "wrong: ingest: the store holds %" PRIu64 " spans, ternd acked %" PRIu64
				" (exit status %d)\n", ss.spans, r.spans_acked, st);
		*wrong = true;
	}
	return (double)r.spans_acked / (c1 - c0);
}

/* ---- the 10M span store ---- */

static int write_full(int fd, const void *p, size_t n)
{
	size_t put = 0;
	while (put < n) {
		ssize_t w = write(fd, (const char *)p + put, n - put);
		if (w <= 0)
			return -1;
		put += (size_t)w;
	}
	return 0;
}

static int read_full(int fd, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)p + got, n - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* The loader's side of the hand-over: the truth, in a fixed order. */
static int truth_send(int fd, const struct truth *tr)
{
	uint64_t hdr[3] = { tr->ntraces_total, tr->ntids, tr->nsample };
	if (write_full(fd, hdr, sizeof(hdr)) != 0 || write_full(fd, tr->tids, tr->ntids * 16) != 0 ||
	    write_full(fd, tr->sample, tr->nsample * sizeof(*tr->sample)) != 0)
		return -1;
	for (int s = 0; s < NSVC; s++)
		for (int o = 0; o < NOPS; o++) {
			uint64_t n = tr->nslow[s][o];
			if (write_full(fd, &n, sizeof(n)) != 0 ||
			    write_full(fd, tr->slow[s][o], n * sizeof(*tr->slow[s][o])) != 0)
				return -1;
		}
	return 0;
}

/* Reads what truth_send() wrote into an empty *tr. 0 or -1. */
static int truth_recv(int fd, struct truth *tr)
{
	uint64_t hdr[3];
	if (read_full(fd, hdr, sizeof(hdr)) != 0)
		return -1;
	tr->ntraces_total = hdr[0];
	tr->ntids = tr->captids = hdr[1];
	tr->nsample = tr->capsample = hdr[2];
	tr->tids = malloc(tr->ntids * 16 + 1);
	tr->sample = malloc(tr->nsample * sizeof(*tr->sample) + 1);
	if (tr->tids == NULL || tr->sample == NULL || read_full(fd, tr->tids, tr->ntids * 16) != 0 ||
	    read_full(fd, tr->sample, tr->nsample * sizeof(*tr->sample)) != 0)
		return -1;
	for (int s = 0; s < NSVC; s++)
		for (int o = 0; o < NOPS; o++) {
			uint64_t n;
			if (read_full(fd, &n, sizeof(n)) != 0)
				return -1;
			tr->nslow[s][o] = tr->capslow[s][o] = n;
			tr->slow[s][o] = malloc(n * sizeof(*tr->slow[s][o]) + 1);
			if (tr->slow[s][o] == NULL ||
			    read_full(fd, tr->slow[s][o], n * sizeof(*tr->slow[s][o])) != 0)
				return -1;
		}
	tr->known = true;
	return 0;
}

static void truth_free(struct truth *tr)
{
	free(tr->tids);
	free(tr->sample);
	for (int s = 0; s < NSVC; s++)
		for (int o = 0; o < NOPS; o++)
			free(tr->slow[s][o]);
}

/*
 * A child appends n spans, says so on a pipe ("OTLP_BYTES\n", then the
 * truth when n > 0), and keeps appending until killed. What it appends
 * after that starts hours after the searched window, so the truth stays
 * whole.
 */
static pid_t spawn_loader(const char *dir, uint64_t n, uint64_t seed, int *ready_fd)
{
	int pfd[2];
	if (pipe(pfd) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		struct store_options o;
		store_options_default(&o);
		o.dir = dir;
		o.retention_age_s = 0;
		o.retention_bytes = 0;
		struct store *s;
		if (store_open(&o, &s, NULL) != 0)
			_exit(2);
		struct truth tr = { .ntraces_total = n / SPANS_PER_TRACE + 1 };
		struct gen g = { .rng = seed, .ntraces_total = tr.ntraces_total, .t0 = T0, .truth = &tr };
		if (n && load_store(s, &g, n) != 0)
			_exit(3);
		char msg[64];
		int len = snprintf(msg, sizeof msg, "%" PRIu64 "\n", g.otlp_bytes);
		if (write_full(pfd[1], msg, (size_t)len) != 0 || (n && truth_send(pfd[1], &tr) != 0))
			_exit(4);
		close(pfd[1]);
		truth_free(&tr);
		/* the crash: killed while writing more */
		struct gen g2 = { .rng = seed ^ 0xabcdef, .ntraces_total = 1000000,
				  .t0 = T0 + 2 * SPAN_WINDOW };
		for (;;)
			if (load_store(s, &g2, 4096) != 0)
				_exit(5);
	}
	close(pfd[1]);
	*ready_fd = pfd[0];
	return pid;
}

/* ---- checking the answers ---- */

static bool span_id_is(const struct otlp_span *sp, uint64_t sid)
{
	return memcmp(sp->span_id, &sid, 8) == 0;
}

/*
 * 0 when b holds exactly the spans written for want (for a trace sampled
 * from an existing store: at least the span seen), all with its trace id;
 * else -1 and why.
 */
static int check_trace(const struct otlp_batch *b, const struct truth_trace *want, char *why,
		       size_t len)
{
	uint32_t n = 0, found = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next)
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next) {
				n++;
				if (memcmp(sp->trace_id, want->tid, 16) != 0) {
					snprintf(why, len, "a span of another trace");
					return -1;
				}
				for (uint32_t k = 0; k < want->nsids; k++)
					found += span_id_is(sp, want->sids[k]);
			}
	if (found != want->nsids || (want->whole && n != want->nsids)) {
		snprintf(why, len, "%u spans, %u of the %u written", n, found, want->nsids);
		return -1;
	}
	return 0;
}

/* The right answer to q (service sv, operation op, SEARCH_MIN_DUR), from
 * the truth: newest first, at most q->limit. Returns the count. */
static size_t truth_search(const struct truth *tr, int sv, int op, const struct store_query *q,
			   struct store_hit *out)
{
	size_t n = 0;
	const struct truth_span *v = tr->slow[sv][op];
	for (size_t i = tr->nslow[sv][op]; i-- > 0 && n < q->limit;) {
		uint64_t start = truth_span_start(tr, &v[i]);
		if (start > q->start_max_ns)
			continue;
		if (start < q->start_min_ns)
			break;
		const uint8_t *tid = tr->tids[v[i].trace];
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = memcmp(out[k].trace_id, tid, 16) == 0;
		if (seen)
			continue;
		memcpy(out[n].trace_id, tid, 16);
		out[n++].start_ns = start;
	}
	return n;
}

static bool attr_is(const struct otlp_attrs *a, const char *key, const char *value)
{
	for (const struct otlp_kv *kv = a->head; kv; kv = kv->next)
		if (kv->key.len == strlen(key) && memcmp(kv->key.ptr, key, kv->key.len) == 0)
			return kv->value.type == OTLP_VALUE_STRING &&
			       kv->value.u.str.len == strlen(value) &&
			       memcmp(kv->value.u.str.ptr, value, kv->value.u.str.len) == 0;
	return false;
}

/* Without the truth (--queries-only): the hit's trace, read back by id,
 * has a span that matches q and starts at h->start_ns. */
static bool hit_matches(struct store *s, const struct store_query *q, const struct store_hit *h)
{
	struct otlp_batch *b = NULL;
	bool ok = false;
	if (store_get_trace(s, h->trace_id, &b) != 0)
		return false;
	size_t oplen = strlen(q->operation);
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next) {
		if (!attr_is(&rs->resource_attrs, "service.name", q->service))
			continue;
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *sp = ss->spans; sp; sp = sp->next)
				ok |= sp->name.len == oplen &&
				      memcmp(sp->name.ptr, q->operation, oplen) == 0 &&
				      sp->end_time_unix_nano - sp->start_time_unix_nano >=
					      q->min_duration_ns &&
				      sp->start_time_unix_nano == h->start_ns;
	}
	otlp_batch_free(b);
	return ok;
}

/* 0 when h[0..n) is the right answer to q; else -1 and why. */
static int check_search(struct store *s, const struct truth *tr, int sv, int op,
			const struct store_query *q, const struct store_hit *h, size_t n, char *why,
			size_t len)
{
	if (n > q->limit) {
		snprintf(why, len, "%zu hits over the limit %u", n, q->limit);
		return -1;
	}
	for (size_t i = 1; i < n; i++)
		if (h[i].start_ns > h[i - 1].start_ns) {
			snprintf(why, len, "hit %zu newer than hit %zu", i, i - 1);
			return -1;
		}
	if (!tr->known) {
		for (size_t i = 0; i < n; i++)
			if (!hit_matches(s, q, &h[i])) {
				snprintf(why, len, "hit %zu does not match the query", i);
				return -1;
			}
		return 0;
	}
	struct store_hit *want = malloc((q->limit + 1) * sizeof(*want));
	if (want == NULL) {
		snprintf(why, len, "out of memory");
		return -1;
	}
	size_t nw = truth_search(tr, sv, op, q, want);
	int rc = 0;
	for (size_t i = 0; i < n && i < nw && rc == 0; i++)
		if (memcmp(h[i].trace_id, want[i].trace_id, 16) != 0 || h[i].start_ns != want[i].start_ns) {
			snprintf(why, len, "hit %zu is not the generator's (trace id or start)", i);
			rc = -1;
		}
	if (rc == 0 && n != nw) {
		snprintf(why, len, "%zu hits, %zu traces match (up to the limit)", n, nw);
		rc = -1;
	}
	free(want);
	return rc;
}

int main(int argc, char **argv)
{
	uint64_t nspans = 10000000;
	int runs = 3;
	const char *dir_arg = NULL;
	bool skip_ingest = false, queries_only = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--spans") == 0 && i + 1 < argc)
			nspans = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir_arg = argv[++i];
		else if (strcmp(argv[i], "--skip-ingest") == 0)
			skip_ingest = true;
		else if (strcmp(argv[i], "--queries-only") == 0)
			queries_only = skip_ingest = true;
		else {
			fprintf(stderr, "usage: %s [--spans N] [--runs R] [--dir DIR] [--skip-ingest] [--queries-only]\n",
				argv[0]);
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TERND") == NULL)
		setenv("TERND", TERND_PATH, 0);
	for (int s = 0; s < NSVC; s++)
		for (int o = 0; o < NOPS; o++)
			snprintf(op_names[s][o], sizeof op_names[s][o], "%s /api/v1/%s/%d",
				 o % 3 ? "GET" : "POST", svc_names[s], o);
	print_machine();
	printf("# spans stored: %" PRIu64 ", runs: %d\n", nspans, runs);
	fflush(stdout);

	bool wrong_ingest = false;
	if (!skip_ingest) {
		double v[16];
		int n = 0;
		for (int r = 0; r < runs && r < 16; r++) {
			double x = ingest_once(10, &wrong_ingest);
			if (x > 0)
				v[n++] = x;
		}
		if (n)
			printf("ingest_spans_per_ternd_cpu_s %.0f spans/s\n", median(v, n));
		fflush(stdout);
	}

	char dir[256];
	if (dir_arg)
		snprintf(dir, sizeof dir, "%s", dir_arg);
	else {
		const char *t = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/tern-bench-store-XXXXXX", t && *t ? t : "/tmp");
		if (mkdtemp(dir) == NULL)
			return 1;
	}
	double rec_s[16];
	int nrec = 0;
	uint64_t otlp_bytes = 0;
	struct truth tr = { 0 };
	double t_load = now_s();
	struct store *s = NULL;
	struct store_recovery rec;
	if (queries_only) {
		/* An existing store (--dir): sample spans from its records; the
		 * truth is what they say. */
		if (!dir_arg) {
			fprintf(stderr, "--queries-only needs --dir\n");
			return 2;
		}
		int rc = store_open(&(struct store_options){ .dir = dir, .segment_bytes = 64ull << 20,
							     .zstd_level = 1, .retry_after_ms = 1000 },
				    &s, &rec);
		if (rc != 0) {
			fprintf(stderr, "store_open: %s\n", strerror(-rc));
			return 1;
		}
		fprintf(stderr, "open: %s\n", rec.msg);
		struct store_reader *rd;
		store_reader_new(s, (struct store_pos){ 0, 0 }, &rd);
		struct otlp_batch *b;
		struct store_pos at, next;
		uint64_t rng2 = 3;
		while (tr.nsample < 20000 && store_reader_next(rd, &b, &at, &next) == 0) {
			const struct otlp_span *sp = b->resource_spans->scope_spans->spans;
			for (uint64_t k = splitmix(&rng2) % 64; sp && k; k--)
				sp = sp->next;
			if (sp && splitmix(&rng2) % 4 == 0) {
				tr.sample = grow(tr.sample, tr.nsample, &tr.capsample, sizeof(*tr.sample));
				struct truth_trace *t = &tr.sample[tr.nsample++];
				memset(t, 0, sizeof(*t));
				memcpy(t->tid, sp->trace_id, 16);
				memcpy(&t->sids[0], sp->span_id, 8);
				t->nsids = 1;
				t->whole = false;
			}
			otlp_batch_free(b);
		}
		store_reader_free(rd);
		otlp_bytes = 0;
		runs = 0;
	}
	for (int r = 0; r < runs && r < 16; r++) {
		int fd = -1;
		pid_t pid = spawn_loader(dir, r == 0 ? nspans : 0, 42, &fd);
		if (pid < 0)
			return 1;
		char line[64];
		size_t k = 0;
		while (k < sizeof line - 1 && read(fd, &line[k], 1) == 1 && line[k] != '\n')
			k++;
		line[k] = 0;
		uint64_t ob = 0;
		sscanf(line, "%" SCNu64, &ob);
		if (r == 0) {
			otlp_bytes = ob;
			if (nspans && truth_recv(fd, &tr) != 0) {
				fprintf(stderr, "loader failed\n");
				return 1;
			}
			fprintf(stderr, "load: %" PRIu64 " spans in %.1f s\n", nspans, now_s() - t_load);
		}
		close(fd);
		usleep(200000); /* it is appending now */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		double t0 = now_s();
		int rc = store_open(&(struct store_options){ .dir = dir, .segment_bytes = 64ull << 20,
							     .zstd_level = 1, .retry_after_ms = 1000 },
				    &s, &rec);
		double t1 = now_s();
		if (rc != 0) {
			fprintf(stderr, "store_open: %s\n", strerror(-rc));
			return 1;
		}
		fprintf(stderr, "recovery: %s\n", rec.msg);
		rec_s[nrec++] = t1 - t0;
		if (r + 1 < runs) {
			store_close(s);
			s = NULL;
		}
	}
	if (nrec)
		printf("recovery_s %.3f s\n", median(rec_s, nrec));

	struct store_stats st;
	store_stats(s, &st);
	/* the log also holds what the loaders appended before each kill */
	printf("bytes_per_span %.1f bytes\n", (double)st.bytes / (double)st.spans);
	if (otlp_bytes) {
		printf("otlp_bytes_per_span %.1f bytes\n", (double)otlp_bytes / (double)nspans);
		printf("store_to_otlp_ratio %.3f ratio\n",
		       ((double)st.bytes / (double)st.spans) / ((double)otlp_bytes / (double)nspans));
	}
	fflush(stdout);

	/* trace by id: exactly the spans written for it */
	size_t nq = tr.nsample < 2000 ? tr.nsample : 2000;
	double *lat = malloc((nq + 1000) * sizeof *lat);
	uint64_t rng = 7;
	size_t wrong_traces = 0;
	char why[160];
	for (size_t i = 0; i < nq; i++) {
		const struct truth_trace *want = &tr.sample[splitmix(&rng) % tr.nsample];
		struct otlp_batch *b = NULL;
		double t0 = now_s();
		int rc = store_get_trace(s, want->tid, &b);
		lat[i] = (now_s() - t0) * 1000;
		if (rc != 0)
			snprintf(why, sizeof why, "%s", strerror(-rc));
		if ((rc != 0 || check_trace(b, want, why, sizeof why) != 0) && wrong_traces++ < 5)
			fprintf(stderr, "wrong: trace by id, lookup %zu: %s\n", i, why);
		otlp_batch_free(b);
	}
	if (nq) {
		printf("trace_by_id_p99_ms %.3f ms\n", percentile(lat, (int)nq, 0.99));
		printf("trace_by_id_p50_ms %.3f ms\n", median(lat, (int)nq));
	} else {
		fprintf(stderr, "trace_by_id: no trace sampled (more --spans)\n");
	}
	fflush(stdout);

	/* search: service + operation + min duration, 1 hour window; the
	 * newest matching traces, all of them up to the limit */
	size_t ns = 500, wrong_searches = 0;
	uint64_t hits_total = 0;
	for (size_t i = 0; i < ns; i++) {
		int sv = (int)(splitmix(&rng) % NSVC), op = (int)(splitmix(&rng) % NOPS);
		struct store_query q = { 0 };
		q.service = svc_names[sv];
		q.operation = op_names[sv][op];
		q.min_duration_ns = SEARCH_MIN_DUR;
		q.start_min_ns = T0 + splitmix(&rng) % HOUR;
		q.start_max_ns = q.start_min_ns + HOUR;
		q.limit = 20;
		struct store_hit *h = NULL;
		size_t n = 0;
		double t0 = now_s();
		int rc = store_search(s, &q, &h, &n);
		lat[i] = (now_s() - t0) * 1000;
		if (rc != 0)
			snprintf(why, sizeof why, "%s", strerror(-rc));
		if ((rc != 0 || check_search(s, &tr, sv, op, &q, h, n, why, sizeof why) != 0) &&
		    wrong_searches++ < 5)
			fprintf(stderr, "wrong: search %zu (%s, %s): %s\n", i, q.service, q.operation, why);
		hits_total += n;
		free(h);
	}
	printf("search_p99_ms %.3f ms\n", percentile(lat, (int)ns, 0.99));
	printf("search_p50_ms %.3f ms\n", median(lat, (int)ns));
	fprintf(stderr, "search: %.1f hits per query on average\n", (double)hits_total / (double)ns);
	free(lat);
	truth_free(&tr);
	store_close(s);
	if (!dir_arg)
		ternd_proc_remove_dir(dir);
	if (wrong_traces || wrong_searches || wrong_ingest) {
		fprintf(stderr, "bench-store: wrong answers: %zu of %zu trace-by-id lookups, %zu of %zu searches%s\n",
			wrong_traces, nq, wrong_searches, ns, wrong_ingest ? ", ingest" : "");
		return 1;
	}
	return 0;
}
