/*
 * test_store.c: append, trace by id, search (each filter alone and
 * combined), services/operations, readers, cursors, meta blobs, retention,
 * and that a reopened store answers the same.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "fx.h"
#include "harness.h"

#define T0 1700000000000000000ull
#define MS 1000000ull

/*
 * The data set: 40 traces. Trace t has two spans, each sent in a
 * different batch: "frontend" "GET /t" (SERVER) starting at T0 + t ms
 * lasting (t+1) ms, and "backend" op "query" or "update" (CLIENT/INTERNAL)
 * starting 1 ms later lasting 10*t us; every 5th backend span is an error
 * and carries db.rows = t.
 */
static struct otlp_batch *front_batch(int from, int to)
{
	struct otlp_builder bd;
	otlp_builder_init(&bd);
	otlp_build_resource(&bd, "frontend");
	otlp_build_scope(&bd, "http", NULL);
	for (int t = from; t < to; t++) {
		fx_span(&bd, t, 1000 + t, 0, "GET /t", OTLP_SPAN_KIND_SERVER, T0 + t * MS,
			(uint64_t)(t + 1) * MS);
		otlp_build_str(&bd, OTLP_TO_SPAN, "http.route", t % 2 ? "/odd" : "/even");
	}
	return otlp_builder_take(&bd);
}

static struct otlp_batch *back_batch(int from, int to)
{
	struct otlp_builder bd;
	otlp_builder_init(&bd);
	otlp_build_resource(&bd, "backend");
	otlp_build_str(&bd, OTLP_TO_RESOURCE, "region", "eu");
	otlp_build_scope(&bd, "db", NULL);
	for (int t = from; t < to; t++) {
		fx_span(&bd, t, 2000 + t, 1000 + t, t % 3 ? "query" : "update",
			t % 3 ? OTLP_SPAN_KIND_CLIENT : OTLP_SPAN_KIND_INTERNAL, T0 + (t + 1) * MS,
			(uint64_t)t * 10000);
		if (t % 5 == 0) {
			otlp_build_status(&bd, OTLP_STATUS_ERROR, NULL);
			otlp_build_int(&bd, OTLP_TO_SPAN, "db.rows", t);
		}
	}
	return otlp_builder_take(&bd);
}

static void load(struct store *s, bool roll_between)
{
	for (int i = 0; i < 40; i += 10) {
		struct otlp_batch *f = front_batch(i, i + 10), *k = back_batch(i, i + 10);
		int r1 = store_append(s, f), r2 = store_append(s, k);
		otlp_batch_free(f);
		otlp_batch_free(k);
		ASSERT_OK(r1);
		ASSERT_OK(r2);
		if (roll_between)
			ASSERT_OK(store_roll(s));
	}
}

static size_t search(struct store *s, const struct store_query *q, uint64_t *first)
{
	struct store_hit *h = NULL;
	size_t n = 0;
	if (store_search(s, q, &h, &n) != 0)
		return (size_t)-1;
	uint64_t last = UINT64_MAX;
	for (size_t i = 0; i < n; i++) {
		if (h[i].start_ns > last) { /* newest first */
			free(h);
			return (size_t)-2;
		}
		last = h[i].start_ns;
	}
	if (first)
		*first = n ? (uint64_t)h[0].trace_id[15] : UINT64_MAX;
	free(h);
	return n;
}

static void check_queries(struct store *s)
{
	/* trace by id: both spans, from both batches, with their resources */
	uint8_t id[16];
	fx_tid(id, 17);
	struct otlp_batch *b = NULL;
	ASSERT_OK(store_get_trace(s, id, &b));
	uint64_t n = fx_count_spans(b), nr = b->n_resource_spans, bn = b->n_spans;
	otlp_batch_free(b);
	ASSERT_EQ(n, 2);
	ASSERT_EQ(bn, 2);
	ASSERT_EQ(nr, 2);
	fx_tid(id, 12345);
	ASSERT_EQ(store_get_trace(s, id, &b), -ENOENT);

	struct store_query q = { 0 };
	uint64_t first;
	q.limit = 100;
	ASSERT_EQ(search(s, &q, &first), 40);
	ASSERT_EQ(first, 39);
	q.limit = 5;
	ASSERT_EQ(search(s, &q, &first), 5);
	ASSERT_EQ(first, 39);

	/* each filter alone */
	memset(&q, 0, sizeof q);
	q.limit = 100;
	q.service = "backend";
	ASSERT_EQ(search(s, &q, NULL), 40);
	q.service = "nosuch";
	ASSERT_EQ(search(s, &q, NULL), 0);
	q.service = NULL;
	q.operation = "update"; /* t % 3 == 0: 0,3,...,39 */
	ASSERT_EQ(search(s, &q, &first), 14);
	ASSERT_EQ(first, 39);
	q.operation = NULL;
	q.min_duration_ns = 30 * MS; /* front spans t >= 29 */
	ASSERT_EQ(search(s, &q, NULL), 11);
	q.min_duration_ns = 0;
	q.max_duration_ns = 50000; /* back spans t <= 5 */
	ASSERT_EQ(search(s, &q, NULL), 6);
	q.max_duration_ns = 0;
	q.error_only = true; /* t % 5 == 0 */
	ASSERT_EQ(search(s, &q, &first), 8);
	ASSERT_EQ(first, 35);
	q.error_only = false;
	q.start_min_ns = T0 + 10 * MS;
	q.start_max_ns = T0 + 19 * MS; /* front 10..19, back 9..18 */
	ASSERT_EQ(search(s, &q, NULL), 11);
	q.start_min_ns = q.start_max_ns = 0;
	q.tags[0] = (struct store_tag){ "http.route", "/odd" };
	q.n_tags = 1;
	ASSERT_EQ(search(s, &q, NULL), 20);
	q.tags[0] = (struct store_tag){ "db.rows", "25" };
	ASSERT_EQ(search(s, &q, &first), 1);
	ASSERT_EQ(first, 25);
	q.tags[0] = (struct store_tag){ "region", "eu" }; /* a resource attribute */
	ASSERT_EQ(search(s, &q, NULL), 40);
	q.n_tags = 0;

	/* combined */
	memset(&q, 0, sizeof q);
	q.service = "backend";
	q.operation = "query";
	q.error_only = true; /* t%5==0 && t%3!=0: 5,10,20,25,35 */
	q.limit = 100;
	ASSERT_EQ(search(s, &q, &first), 5);
	ASSERT_EQ(first, 35);
	q.min_duration_ns = 150000; /* t >= 15: 20,25,35 */
	ASSERT_EQ(search(s, &q, NULL), 3);
	q.start_max_ns = T0 + 30 * MS; /* 20, 25 */
	ASSERT_EQ(search(s, &q, &first), 2);
	ASSERT_EQ(first, 25);
	q.tags[0] = (struct store_tag){ "db.rows", "20" };
	q.n_tags = 1;
	ASSERT_EQ(search(s, &q, &first), 1);
	ASSERT_EQ(first, 20);
	q.service = "frontend"; /* frontend has no "query" */
	ASSERT_EQ(search(s, &q, NULL), 0);

	struct store_strings l;
	ASSERT_OK(store_services(s, &l));
	bool ok = l.n == 2 && strcmp(l.v[0], "backend") == 0 && strcmp(l.v[1], "frontend") == 0;
	store_strings_free(&l);
	ASSERT(ok);
	ASSERT_OK(store_operations(s, "backend", &l));
	ok = l.n == 2 && strcmp(l.v[0], "query") == 0 && l.kind[0] == OTLP_SPAN_KIND_CLIENT &&
	     strcmp(l.v[1], "update") == 0 && l.kind[1] == OTLP_SPAN_KIND_INTERNAL;
	store_strings_free(&l);
	ASSERT(ok);
	ASSERT_OK(store_operations(s, "nosuch", &l));
	ASSERT_EQ(l.n, 0);
	store_strings_free(&l);
}

TEST(queries_one_segment_and_after_reopen)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "q1");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	load(s, false);
	if (!TEST_FAILED())
		check_queries(s);
	store_close(s);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.spans, 80);
	ASSERT_EQ(rec.indexes_loaded, 1);
	ASSERT_EQ(rec.indexes_rebuilt, 0);
	check_queries(s);
	store_close(s);
	fx_rmtree(dir);
}

TEST(queries_many_segments)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "q2");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	load(s, true);
	struct store_stats st;
	store_stats(s, &st);
	ASSERT_GE(st.segments, 4);
	ASSERT_EQ(st.spans, 80);
	if (!TEST_FAILED())
		check_queries(s);
	store_close(s);
	fx_rmtree(dir);
}

TEST(reader_iterates_every_record_once)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "rd");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	load(s, true);
	struct store_reader *r;
	ASSERT_OK(store_reader_new(s, (struct store_pos){ 0, 0 }, &r));
	uint64_t spans = 0, recs = 0;
	struct store_pos at, next, saved = { 0, 0 };
	struct otlp_batch *b;
	int rc;
	while ((rc = store_reader_next(r, &b, &at, &next)) == 0) {
		spans += b->n_spans;
		if (++recs == 3)
			saved = next;
		otlp_batch_free(b);
	}
	store_reader_free(r);
	ASSERT_EQ(rc, -EAGAIN);
	ASSERT_EQ(recs, 8);
	ASSERT_EQ(spans, 80);
	/* resume from a saved position */
	ASSERT_OK(store_reader_new(s, saved, &r));
	recs = 0;
	while (store_reader_next(r, &b, &at, &next) == 0) {
		recs++;
		otlp_batch_free(b);
	}
	/* new data becomes visible to a reader at its end */
	struct otlp_batch *f = front_batch(100, 101);
	ASSERT_OK(store_append(s, f));
	otlp_batch_free(f);
	rc = store_reader_next(r, &b, &at, &next);
	if (rc == 0)
		otlp_batch_free(b);
	store_reader_free(r);
	ASSERT_EQ(recs, 5);
	ASSERT_OK(rc);
	struct store_pos old = store_oldest_pos(s);
	ASSERT_EQ(old.seg, 1);
	store_close(s);
	fx_rmtree(dir);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool has_trace(struct store *s, uint64_t t)
{
	uint8_t id[16];
	struct otlp_batch *b = NULL;
	fx_tid(id, t);
	int rc = store_get_trace(s, id, &b);
	otlp_batch_free(b);
	return rc == 0;
}

TEST(retention_by_age)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "age");
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retention_age_s = 1;
	static struct fx_clock store_clock;
	fx_clock_use(&o, &store_clock, now_ns());
	struct store *s;
	ASSERT_OK(store_open(&o, &s, NULL));
	/* a forwarder that has read segment 1 but nothing of segment 2 */
	ASSERT_OK(store_cursor_set(s, "jaeger", (struct store_pos){ 2, 32 }));
	ASSERT(store_cursor_behind(s, 2));
	ASSERT_FALSE(store_cursor_behind(s, 1));
	for (int i = 0; i < 40; i += 10) {
		if (i == 20) /* segments 1 and 2 are now 1.3 s old: past the age */
			fx_clock_add(&store_clock, 1300000000u);
		struct otlp_batch *f = front_batch(i, i + 10);
		int rc = store_append(s, f);
		otlp_batch_free(f);
		ASSERT_OK(rc);
		ASSERT_OK(store_roll(s));
	}
	store_retention_run(s, 0); /* 0: the store's clock */
	struct store_stats st;
	store_stats(s, &st);
	ASSERT_EQ(st.segments, 2);
	ASSERT_EQ(st.dropped_segments, 2);
	ASSERT_EQ(st.dropped_behind_cursor, 1); /* segment 2 */
	ASSERT_FALSE(has_trace(s, 5));
	ASSERT_FALSE(has_trace(s, 15));
	ASSERT(has_trace(s, 25));
	ASSERT(has_trace(s, 35));
	/* a reader at a dropped position hears so and moves on */
	struct store_reader *r;
	ASSERT_OK(store_reader_new(s, (struct store_pos){ 2, 32 }, &r));
	struct store_pos at, next;
	struct otlp_batch *b = NULL;
	int rc1 = store_reader_next(r, &b, &at, &next);
	int rc2 = store_reader_next(r, &b, &at, &next);
	otlp_batch_free(b);
	store_reader_free(r);
	ASSERT_EQ(rc1, -ERANGE);
	ASSERT_EQ(at.seg, 3);
	ASSERT_OK(rc2);
	/* eight days on, everything sealed is gone; the files too */
	fx_clock_add(&store_clock, 8ull * 86400 * 1000000000u);
	ASSERT_EQ(store_retention_run(s, 0), 2);
	store_stats(s, &st);
	ASSERT_EQ(st.segments, 0);
	ASSERT_FALSE(has_trace(s, 35));
	store_close(s);
	DIR *d = opendir(dir);
	int files = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".seg") || strstr(e->d_name, ".idx"))
			files++;
	if (d)
		closedir(d);
	ASSERT_EQ(files, 0);
	fx_rmtree(dir);
}

TEST(retention_by_size)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "size");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	load(s, true);
	struct store_stats st;
	store_stats(s, &st);
	store_close(s);
	ASSERT_EQ(st.segments, 4);
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.retention_bytes = st.bytes * 6 / 10;
	ASSERT_OK(store_open(&o, &s, NULL));
	store_stats(s, &st);
	ASSERT_EQ(st.segments, 2);
	ASSERT_LE_U(st.bytes, o.retention_bytes);
	ASSERT_FALSE(has_trace(s, 15));
	ASSERT(has_trace(s, 25));
	store_close(s);
	fx_rmtree(dir);
}

TEST(meta_blobs)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "meta");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	void *d = NULL;
	size_t n;
	ASSERT_EQ(store_meta_get(s, "cursor.jaeger", &d, &n), -ENOENT);
	ASSERT_OK(store_meta_put(s, "cursor.jaeger", "abc", 3));
	ASSERT_OK(store_meta_put(s, "cursor.jaeger", "hello", 5));
	ASSERT_OK(store_meta_get(s, "cursor.jaeger", &d, &n));
	bool ok = n == 5 && memcmp(d, "hello", 5) == 0;
	free(d);
	ASSERT(ok);
	struct store *s2 = NULL;
	ASSERT_EQ(fx_open(dir, &s2, NULL), -EBUSY); /* one owner per directory */
	ASSERT_EQ(store_meta_put(s, "../x", "a", 1), -EINVAL);
	ASSERT_EQ(store_meta_put(s, "", "a", 1), -EINVAL);
	store_close(s);
	fx_rmtree(dir);
}

struct conc {
	struct store *s;
	atomic_bool stop;
	atomic_int batches;
	atomic_uint_fast64_t found, reads;
	atomic_int err;
};

static void *conc_queries(void *arg)
{
	struct conc *c = arg;
	while (!atomic_load(&c->stop)) {
		int n = atomic_load(&c->batches);
		struct timespec ts = { 0, 500000 };
		nanosleep(&ts, NULL);
		if (n == 0)
			continue;
		uint8_t id[16];
		fx_tid(id, (uint64_t)(rand() % n) * 10);
		struct otlp_batch *b = NULL;
		int rc = store_get_trace(c->s, id, &b);
		if (rc == 0 && b->n_spans >= 1)
			c->found++;
		else if (rc != -ENOENT) /* retention may have dropped it */
			c->err = rc ? rc : -1;
		otlp_batch_free(b);
		struct store_query q = { 0 };
		q.service = "frontend";
		q.limit = 5;
		struct store_hit *h = NULL;
		size_t nh;
		if (store_search(c->s, &q, &h, &nh) != 0)
			c->err = -2;
		free(h);
	}
	return NULL;
}

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	struct store_reader *r;
	if (store_reader_new(c->s, (struct store_pos){ 0, 0 }, &r) != 0)
		return NULL;
	while (!atomic_load(&c->stop)) {
		struct otlp_batch *b;
		struct store_pos at, next;
		int rc = store_reader_next(r, &b, &at, &next);
		if (rc == 0) {
			c->reads++;
			otlp_batch_free(b);
		} else if (rc != -EAGAIN && rc != -ERANGE) {
			c->err = rc;
		} else {
			struct timespec ts = { 0, 500000 };
			nanosleep(&ts, NULL);
		}
	}
	store_reader_free(r);
	return NULL;
}

/* Queries, a log reader and retention run while batches are appended and
 * segments roll (ASan/TSan-style misuse would show here). */
TEST(concurrent_ingest_queries_readers_retention)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "conc");
	struct store_options o;
	store_options_default(&o);
	o.dir = dir;
	o.segment_bytes = 4 << 10;
	o.retention_bytes = 16 << 10;
	struct conc c = { 0 };
	ASSERT_OK(store_open(&o, &c.s, NULL));
	pthread_t q1, q2, rd;
	pthread_create(&q1, NULL, conc_queries, &c);
	pthread_create(&q2, NULL, conc_queries, &c);
	pthread_create(&rd, NULL, conc_reader, &c);
	int rc = 0;
	for (int i = 0; i < 150 && rc == 0; i++) {
		struct otlp_batch *f = front_batch(i * 10, i * 10 + 10);
		rc = store_append(c.s, f);
		otlp_batch_free(f);
		atomic_store(&c.batches, i + 1);
		if (i % 30 == 29)
			store_retention_run(c.s, 0);
	}
	atomic_store(&c.stop, true);
	pthread_join(q1, NULL);
	pthread_join(q2, NULL);
	pthread_join(rd, NULL);
	struct store_stats st;
	store_stats(c.s, &st);
	store_close(c.s);
	fx_rmtree(dir);
	ASSERT_OK(rc);
	ASSERT_OK(c.err);
	ASSERT_GT(c.found, 0);
	ASSERT_GT(c.reads, 0);
	ASSERT_GT(st.dropped_segments, 0);
	ASSERT_LE_U(st.bytes, o.retention_bytes + o.segment_bytes * 2);
}

/* What goes in comes out: a trace read back re-encodes to the same OTLP. */
TEST(trace_reads_back_as_sent)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "rt");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	struct otlp_batch *f = front_batch(7, 8), *k = back_batch(9, 10);
	ASSERT_OK(store_append(s, f));
	ASSERT_OK(store_append(s, k));
	uint8_t id[16];
	fx_tid(id, 7);
	struct otlp_batch *b1 = NULL, *b2 = NULL;
	int rc1 = store_get_trace(s, id, &b1);
	fx_tid(id, 9);
	int rc2 = store_get_trace(s, id, &b2);
	bool same1 = rc1 == 0 && fx_same_otlp(f, b1);
	bool same2 = rc2 == 0 && fx_same_otlp(k, b2);
	otlp_batch_free(b1);
	otlp_batch_free(b2);
	otlp_batch_free(f);
	otlp_batch_free(k);
	store_close(s);
	fx_rmtree(dir);
	ASSERT_OK(rc1);
	ASSERT_OK(rc2);
	ASSERT(same1);
	ASSERT(same2);
}

TEST_MAIN(TEST_ENTRY(queries_one_segment_and_after_reopen), TEST_ENTRY(queries_many_segments),
	  TEST_ENTRY(reader_iterates_every_record_once), TEST_ENTRY(retention_by_age),
	  TEST_ENTRY(retention_by_size), TEST_ENTRY(meta_blobs),
	  TEST_ENTRY(concurrent_ingest_queries_readers_retention),
	  TEST_ENTRY(trace_reads_back_as_sent))
