/*
 * bench/store_index_cmp.c: the measurement behind docs/storage.md's index
 * choice. Inserts N span summaries (what search and trace-by-id need) into
 * (a) SQLite (WAL, synchronous=NORMAL, indexes on trace id and
 * (operation, start)), in transactions of 5,000 rows as group commit would,
 * and (b) the store's in-memory per-segment index (store__seg_push), then
 * times trace-id lookups and an operation + time window + min duration
 * query on SQLite, checking every answer (a wrong one fails the run).
 * Prints `name value unit` lines and the machine.
 *
 * Usage: bench-store-index-cmp [N] (default 1,000,000)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "bench.h"
#include "store_int.h"
#include "util/hash.h"

/* The id of trace t (entries 8t .. 8t + 7). */
static void trace_id(uint64_t t, uint8_t id[16])
{
	uint64_t a = t * 0x9e3779b97f4a7c15ULL, b = ~t * 0xc4ceb9fe1a85ec53ULL;
	memcpy(id, &a, 8);
	memcpy(id + 8, &b, 8);
}

static void make_ent(struct ent *e, uint64_t i, uint64_t *rng)
{
	trace_id(i / 8, e->trace_id);
	e->start = 1700000000000000000ull + i * 720000;
	e->dur = 50000ull << (util_splitmix64(rng) % 16);
	e->op = (uint32_t)(util_splitmix64(rng) % 100);
	e->rec_off = (uint32_t)(i / 512) * 30000 + 32;
	e->span_no = (uint32_t)(i % 512);
	e->err = util_splitmix64(rng) % 100 == 0;
	e->prev_trace = NO_ENT;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
	char path[256];
	snprintf(path, sizeof path, "%s/tern-idxcmp-%d.db", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (int)getpid());
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 1;
	sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
			 "CREATE TABLE spans(trace BLOB, start INT, dur INT, op INT, err INT, seg INT, off INT);"
			 "CREATE INDEX by_trace ON spans(trace);"
			 "CREATE INDEX by_op ON spans(op, start);",
		     NULL, NULL, NULL);
	sqlite3_stmt *ins;
	sqlite3_prepare_v2(db, "INSERT INTO spans VALUES(?,?,?,?,?,?,?)", -1, &ins, NULL);
	uint64_t rng = 1;
	struct ent e;
	double t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		if (i % 5000 == 0)
			sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
		make_ent(&e, i, &rng);
		sqlite3_bind_blob(ins, 1, e.trace_id, 16, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, (sqlite3_int64)e.start);
		sqlite3_bind_int64(ins, 3, (sqlite3_int64)e.dur);
		sqlite3_bind_int(ins, 4, (int)e.op);
		sqlite3_bind_int(ins, 5, e.err);
		sqlite3_bind_int(ins, 6, 1);
		sqlite3_bind_int64(ins, 7, e.rec_off);
		sqlite3_step(ins);
		sqlite3_reset(ins);
		if (i % 5000 == 4999 || i + 1 == n)
			sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	}
	double sq_ins = (double)n / (now_s() - t0);
	sqlite3_finalize(ins);

	struct seg g;
	memset(&g, 0, sizeof g);
	rng = 1;
	t0 = now_s();
	for (uint64_t i = 0; i < n; i++) {
		make_ent(&e, i, &rng);
		store__seg_push(&g, &e);
	}
	double mem_ins = (double)n / (now_s() - t0);
	store__seg_index_free(&g);

	sqlite3_stmt *q1, *q2;
	sqlite3_prepare_v2(db, "SELECT seg, off FROM spans WHERE trace = ?", -1, &q1, NULL);
	sqlite3_prepare_v2(db, "SELECT start, dur, op FROM spans WHERE op = ? AND start BETWEEN ? AND ? "
			       "AND dur >= ? ORDER BY start DESC LIMIT 20", -1, &q2, NULL);
	enum { Q = 2000 };
	double lat1[Q], lat2[Q];
	int wrong = 0;
	for (int i = 0; i < Q; i++) {
		uint64_t t = util_splitmix64(&rng) % (n / 8);
		uint8_t id[16];
		trace_id(t, id);
		double s = now_s();
		sqlite3_bind_blob(q1, 1, id, 16, SQLITE_STATIC);
		int rows = 0;
		while (sqlite3_step(q1) == SQLITE_ROW)
			rows++;
		sqlite3_reset(q1);
		lat1[i] = (now_s() - s) * 1000;
		/* every trace t < n / 8 has entries 8t .. 8t + 7 */
		if (rows != 8 && wrong++ < 5)
			fprintf(stderr, "wrong: trace %" PRIu64 ": %d rows, want 8\n", t, rows);
		uint64_t st = 1700000000000000000ull + (util_splitmix64(&rng) % n) * 720000 / 2;
		int op = (int)(util_splitmix64(&rng) % 100);
		s = now_s();
		sqlite3_bind_int(q2, 1, op);
		sqlite3_bind_int64(q2, 2, (sqlite3_int64)st);
		sqlite3_bind_int64(q2, 3, (sqlite3_int64)(st + 3600000000000ull));
		sqlite3_bind_int64(q2, 4, 100000000);
		rows = 0;
		int bad = 0;
		uint64_t prev = UINT64_MAX;
		while (sqlite3_step(q2) == SQLITE_ROW) {
			uint64_t start = (uint64_t)sqlite3_column_int64(q2, 0);
			bad |= start < st || start > st + 3600000000000ull || start > prev ||
			       sqlite3_column_int64(q2, 1) < 100000000 || sqlite3_column_int(q2, 2) != op;
			prev = start;
			rows++;
		}
		sqlite3_reset(q2);
		lat2[i] = (now_s() - s) * 1000;
		if ((bad || rows > 20) && wrong++ < 5)
			fprintf(stderr, "wrong: search op %d: %d rows, some outside the query\n", op, rows);
	}
	sqlite3_finalize(q1);
	sqlite3_finalize(q2);
	sqlite3_close(db);
	char p2[300];
	unlink(path);
	snprintf(p2, sizeof p2, "%s-wal", path);
	unlink(p2);
	snprintf(p2, sizeof p2, "%s-shm", path);
	unlink(p2);
	print_machine();
	printf("# %" PRIu64 " span summaries\n", n);
	printf("sqlite_insert_rows_per_s %.0f rows/s\n", sq_ins);
	printf("memindex_insert_rows_per_s %.0f rows/s\n", mem_ins);
	printf("sqlite_trace_lookup_p99_ms %.3f ms\n", percentile(lat1, Q, 0.99));
	printf("sqlite_search_p99_ms %.3f ms\n", percentile(lat2, Q, 0.99));
	if (wrong)
		fprintf(stderr, "store_index_cmp: %d wrong answers\n", wrong);
	return wrong ? 1 : 0;
}
