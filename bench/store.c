/*
 * bench/store.c: storage figures, as `name value unit` lines.
 *
 *   ingest_spans_per_ternd_cpu_s  OTLP/gRPC into a real ternd --sink store
 *                                 (durable acks, indexes updated), spans
 *                                 acked per CPU second ternd used
 *   trace_by_id_p99_ms            with N spans stored (default 10,000,000)
 *   search_p99_ms                 service + operation + min duration over a
 *                                 1 hour window, limit 20, same store
 *   bytes_per_span, otlp_bytes_per_span, store_to_otlp_ratio
 *                                 log + index bytes on disk vs the OTLP
 *                                 protobuf size of the same batches
 *   recovery_s                    store_open after a kill -9 of a process
 *                                 that was appending to that store
 *
 * Usage: bench-store [--spans N] [--runs R] [--dir DIR] [--skip-ingest]
 * Medians over R runs (default 3) where a figure is measured more than once.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	qsort(v, n, sizeof *v, cmp_d);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* ---- the synthetic data set ---- */

static const char *svc_names[NSVC] = { "frontend", "cart", "checkout", "payment", "shipping",
				       "email", "currency", "ads", "recommend", "catalog" };
static char op_names[NSVC][NOPS][48];

struct gen {
	uint64_t rng;
	uint64_t traces, ntraces_total;
	struct otlp_builder bd[NSVC]; /* one batch being built per service */
	uint64_t otlp_bytes;
	uint8_t (*sample_ids)[16]; /* some trace ids for trace-by-id */
	size_t nsample, capsample;
};

/* Attribute lists come out in the order the generator has always sent
 * (it used to push at the head), so stored sizes stay comparable. */
static void gen_new_batch(struct gen *g, int s)
{
	struct otlp_builder *bd = &g->bd[s];
	if (otlp_builder_init(bd) != 0)
		return;
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
	if (t % 97 == 0) {
		if (g->nsample == g->capsample) {
			g->capsample = g->capsample ? g->capsample * 2 : 1024;
			g->sample_ids = realloc(g->sample_ids, g->capsample * 16);
		}
		memcpy(g->sample_ids[g->nsample++], tid, 16);
	}
	uint64_t start = T0 + t * (SPAN_WINDOW / g->ntraces_total);
	uint8_t root[8] = { 0 };
	int root_svc = (int)(t % NSVC);
	for (int j = 0; j < SPANS_PER_TRACE; j++) {
		int s = j == 0 ? root_svc : (int)(splitmix(&g->rng) % NSVC);
		struct otlp_builder *bd = &g->bd[s];
		uint64_t sid = splitmix(&g->rng) | 1;
		uint8_t span_id[8];
		memcpy(span_id, &sid, 8);
		if (j == 0)
			memcpy(root, span_id, 8);
		int op = (int)(splitmix(&g->rng) % NOPS);
		const char *nm = op_names[s][op];
		/* log-uniform durations, 50 us .. ~1.6 s */
		uint64_t dur = 50000ull << (splitmix(&g->rng) % 16);
		dur += splitmix(&g->rng) % dur;
		uint64_t t_start = start + (uint64_t)j * 20000;
		bool err = splitmix(&g->rng) % 100 == 0;
		enum otlp_span_kind kind = j == 0 ? OTLP_SPAN_KIND_SERVER
				       : j % 2	  ? OTLP_SPAN_KIND_CLIENT
						  : OTLP_SPAN_KIND_INTERNAL;
		otlp_build_span(bd, tid, span_id, j == 0 ? NULL : root, nm, kind, t_start,
				t_start + dur);
		otlp_build_status(bd, err ? OTLP_STATUS_ERROR : OTLP_STATUS_UNSET, NULL);
		/* Drawn in the generator's old order, appended in its old list order. */
		int64_t thread = (int64_t)(splitmix(&g->rng) % 16);
		char user[32], peer[32];
		snprintf(user, sizeof user, "u%06" PRIu64, splitmix(&g->rng) % 200000);
		snprintf(peer, sizeof peer, "10.1.%d.%d", s, (int)(splitmix(&g->rng) % 250));
		otlp_build_str(bd, OTLP_TO_SPAN, "http.method", op % 3 ? "GET" : "POST");
		otlp_build_str(bd, OTLP_TO_SPAN, "http.route", nm);
		otlp_build_int(bd, OTLP_TO_SPAN, "http.status_code", err ? 500 : 200);
		otlp_build_str(bd, OTLP_TO_SPAN, "net.peer.name", peer);
		otlp_build_str(bd, OTLP_TO_SPAN, "enduser.id", user);
		otlp_build_int(bd, OTLP_TO_SPAN, "thread.id", thread);
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
			struct otlp_batch *b = g->bd[k].batch;
			if (b == NULL)
				return -ENOMEM;
			if (b->n_spans == 0 || (b->n_spans < BATCH_SPANS && !last))
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
			spans += b->n_spans;
			g->otlp_bytes += otlp_encoded_size(b);
			f->b = otlp_builder_take(&g->bd[k]);
			if (f->b == NULL)
				return -ENOMEM;
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

static void machine(void)
{
	struct utsname u;
	uname(&u);
	char model[256] = "unknown";
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[512];
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "model name", 10) == 0) {
			char *c = strchr(line, ':');
			if (c) {
				snprintf(model, sizeof model, "%s", c + 2);
				model[strcspn(model, "\n")] = 0;
			}
			break;
		}
	if (f)
		fclose(f);
	double la[3] = { 0, 0, 0 };
	getloadavg(la, 3);
	printf("# machine: %s, %ld cpus, %s %s, load average %.2f %.2f %.2f at start\n", model,
	       sysconf(_SC_NPROCESSORS_ONLN), u.sysname, u.release, la[0], la[1], la[2]);
}

/* ---- ingest through ternd ---- */

static double proc_cpu_s(pid_t pid)
{
	char p[64], buf[1024];
	snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(p, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *c = strrchr(buf, ')');
	if (c == NULL)
		return -1;
	unsigned long ut = 0, st = 0;
	/* fields after ")": state(3) ... utime(14) stime(15) */
	if (sscanf(c + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double ingest_once(double seconds)
{
	struct ternd_proc p;
	const char *args[] = { "--sink", "store", NULL };
	struct ternd_proc_opts o = { .args = args };
	if (ternd_proc_start(&p, &o) != 0)
		return -1;
	usleep(300000);
	double c0 = proc_cpu_s(p.pid);
	struct col_load_opts lo = { .target = p.grpc_addr, .streams = 8, .spans_per_req = 512,
				    .seconds = seconds };
	struct col_load_result r;
	int rc = col_load_run(&lo, &r);
	double c1 = proc_cpu_s(p.pid);
	ternd_proc_stop(&p);
	if (rc != 0 || c1 <= c0 || r.failed) {
		fprintf(stderr, "ingest: load failed (rc %d, failed %" PRIu64 ", %s)\n", rc, r.failed,
			r.last_error);
		return -1;
	}
	fprintf(stderr, "ingest: %" PRIu64 " spans acked in %.1f s, ternd cpu %.2f s, refused %" PRIu64 "\n",
		r.spans_acked, r.elapsed_s, c1 - c0, r.refused);
	return (double)r.spans_acked / (c1 - c0);
}

/* ---- the 10M span store ---- */

/* A child appends n spans, says so on a pipe, keeps appending until killed. */
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
		struct gen g = { .rng = seed, .ntraces_total = n / SPANS_PER_TRACE + 1 };
		if (n && load_store(s, &g, n) != 0)
			_exit(3);
		char msg[64];
		int len = snprintf(msg, sizeof msg, "%" PRIu64 " %" PRIu64 "\n", g.otlp_bytes,
				   (uint64_t)g.nsample);
		if (write(pfd[1], msg, (size_t)len) < 0)
			_exit(4);
		if (write(pfd[1], g.sample_ids, g.nsample * 16) < 0)
			_exit(4);
		close(pfd[1]);
		/* the crash: killed while writing more */
		struct gen g2 = { .rng = seed ^ 0xabcdef, .ntraces_total = 1000000 };
		for (;;)
			if (load_store(s, &g2, 4096) != 0)
				_exit(5);
	}
	close(pfd[1]);
	*ready_fd = pfd[0];
	return pid;
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
	machine();
	printf("# spans stored: %" PRIu64 ", runs: %d\n", nspans, runs);
	fflush(stdout);

	if (!skip_ingest) {
		double v[16];
		int n = 0;
		for (int r = 0; r < runs && r < 16; r++) {
			double x = ingest_once(10);
			if (x > 0)
				v[n++] = x;
		}
		if (n)
			printf("ingest_spans_per_ternd_cpu_s %.0f spans/s\n", pct(v, (size_t)n, 0.5));
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
	uint64_t otlp_bytes = 0, nsample = 0;
	uint8_t (*sample)[16] = NULL;
	double t_load = mono();
	struct store *s = NULL;
	struct store_recovery rec;
	if (queries_only) {
		/* An existing store (--dir): sample trace ids from its records. */
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
		size_t cap = 0;
		uint64_t rng2 = 3;
		while (nsample < 20000 && store_reader_next(rd, &b, &at, &next) == 0) {
			const struct otlp_span *sp = b->resource_spans->scope_spans->spans;
			for (uint64_t k = splitmix(&rng2) % 64; sp && k; k--)
				sp = sp->next;
			if (sp && splitmix(&rng2) % 4 == 0) {
				if (nsample == cap) {
					cap = cap ? cap * 2 : 1024;
					sample = realloc(sample, cap * 16);
				}
				memcpy(sample[nsample++], sp->trace_id, 16);
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
		uint64_t ob = 0, ns = 0;
		sscanf(line, "%" SCNu64 " %" SCNu64, &ob, &ns);
		if (r == 0) {
			otlp_bytes = ob;
			nsample = ns;
			sample = malloc(ns * 16 + 1);
			if (read_full(fd, sample, ns * 16) != 0) {
				fprintf(stderr, "loader failed\n");
				return 1;
			}
			fprintf(stderr, "load: %" PRIu64 " spans in %.1f s\n", nspans, mono() - t_load);
		}
		close(fd);
		usleep(200000); /* it is appending now */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		double t0 = mono();
		int rc = store_open(&(struct store_options){ .dir = dir, .segment_bytes = 64ull << 20,
							     .zstd_level = 1, .retry_after_ms = 1000 },
				    &s, &rec);
		double t1 = mono();
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
		printf("recovery_s %.3f s\n", pct(rec_s, (size_t)nrec, 0.5));

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

	/* trace by id */
	size_t nq = nsample < 2000 ? nsample : 2000;
	double *lat = malloc((nq + 1000) * sizeof *lat);
	uint64_t rng = 7;
	size_t bad = 0;
	for (size_t i = 0; i < nq; i++) {
		struct otlp_batch *b = NULL;
		double t0 = mono();
		int rc = store_get_trace(s, sample[splitmix(&rng) % nsample], &b);
		lat[i] = (mono() - t0) * 1000;
		if (rc != 0 || b->n_spans != SPANS_PER_TRACE)
			bad++;
		otlp_batch_free(b);
	}
	if (bad)
		fprintf(stderr, "trace_by_id: %zu of %zu lookups wrong\n", bad, nq);
	printf("trace_by_id_p99_ms %.3f ms\n", pct(lat, nq, 0.99));
	printf("trace_by_id_p50_ms %.3f ms\n", pct(lat, nq, 0.5));
	fflush(stdout);

	/* search: service + operation + min duration, 1 hour window */
	size_t ns = 500;
	uint64_t hits_total = 0;
	for (size_t i = 0; i < ns; i++) {
		int sv = (int)(splitmix(&rng) % NSVC), op = (int)(splitmix(&rng) % NOPS);
		struct store_query q = { 0 };
		q.service = svc_names[sv];
		q.operation = op_names[sv][op];
		q.min_duration_ns = 100000000; /* 100 ms */
		q.start_min_ns = T0 + splitmix(&rng) % HOUR;
		q.start_max_ns = q.start_min_ns + HOUR;
		q.limit = 20;
		struct store_hit *h = NULL;
		size_t n = 0;
		double t0 = mono();
		int rc = store_search(s, &q, &h, &n);
		lat[i] = (mono() - t0) * 1000;
		if (rc == 0)
			hits_total += n;
		free(h);
	}
	printf("search_p99_ms %.3f ms\n", pct(lat, ns, 0.99));
	printf("search_p50_ms %.3f ms\n", pct(lat, ns, 0.5));
	fprintf(stderr, "search: %.1f hits per query on average\n", (double)hits_total / (double)ns);
	free(lat);
	free(sample);
	store_close(s);
	if (!dir_arg)
		ternd_proc_remove_dir(dir);
	return 0;
}
