/*
 * analytics_int.h: the state the analytics files share (not for use
 * outside collector/analytics/). analytics.h has the public API; each
 * .c file names its concern in its first comment:
 *
 *   analytics.c  the in-memory model: strings, keys, hours, cells, stats
 *   observe.c    observation: dedup, waiting for parents, classification
 *   blob.c       blob format: hour blobs and the index (serialise, parse)
 *   persist.c    persistence: checkpoints, start-up replay, timers
 *   query.c      queries: windows, rows, regrouping, edges, services
 *
 * Everything here belongs to the loop thread (see analytics.h).
 */
#ifndef TERN_COLLECTOR_ANALYTICS_INT_H
#define TERN_COLLECTOR_ANALYTICS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analytics/analytics.h"

#define NS_PER_MIN 60000000000ull
#define MIN_PER_HOUR 60
#define BLK 10 /* minutes per block roll-up */
#define INDEX_KEY "an-index"
#define MAX_INDEX_HOURS (24u * 400u)
#define MAX_BLOB_STRINGS (1u << 20)
#define MAX_STRING_LEN 4096u
#define WARM_HISTORY 64 /* checkpoint positions remembered for the warm-up */

/* ---- interned strings and a u64 -> u32 map (analytics.c) ---- */

struct strtab {
	char **s;
	uint32_t *len;
	uint32_t n, cap;
	uint32_t *slots; /* id + 1, 0 = empty */
	uint32_t nslots; /* power of two */
};

/** Id of the string, or -1 if absent (intern false) / out of memory. */
int64_t an_str_find(struct strtab *t, const void *p, size_t len, bool intern);
void an_str_free(struct strtab *t);

struct map64 {
	uint64_t *k;
	uint32_t *v; /* value + 1; 0 = empty */
	uint32_t n, nslots;
};

/** Value for key, or -1. */
int64_t an_map_get(const struct map64 *m, uint64_t key);
int an_map_put(struct map64 *m, uint64_t key, uint32_t val);
void an_map_free(struct map64 *m);

/* ---- keys, cells, series, hours ---- */

struct an_key {
	uint32_t svc, ver, op;
	uint8_t kind, entry;
};

/* A minute (or a roll-up). Minutes of hours older than the last two are
 * kept serialised (ser) to save memory; the roll-ups stay live, so long
 * windows merge hours, not minutes. */
struct an_cell {
	uint64_t calls, errors;
	struct tern_sketch *sk; /* NULL until the first value, or when ser */
	uint8_t *ser;           /* tern_sketch_serialize() form, or NULL */
	uint32_t ser_len;
};

struct an_series {
	uint32_t key;
	struct an_cell m[MIN_PER_HOUR];
	struct an_cell blk[MIN_PER_HOUR / BLK]; /* 10-minute roll-ups */
	struct an_cell roll;                    /* the whole hour */
};

/* A caller -> callee edge over an hour: calls per minute, and of them the
 * calls whose child span failed; err stays NULL until the edge's first
 * error (most edges have none: docs/analytics.md). */
struct an_edges {
	uint32_t parent, child;
	uint64_t m[MIN_PER_HOUR];
	uint64_t *err; /* [MIN_PER_HOUR], or NULL: no errors this hour */
};

struct an_hour {
	int64_t hour; /* hours since the epoch */
	struct an_series **series;
	uint32_t nseries, cap;
	struct map64 by_key; /* key id -> series index */
	struct an_edges *edges;
	uint32_t nedges, capedges;
	bool dirty;   /* changed since written */
	bool compact; /* every minute cell is serialised */
	bool has_pos; /* replay: blob covers records before pos */
	struct store_pos pos;
};

/* ---- observation (observe.c) ---- */

/* A recently seen span: (trace, span, content) -> service. Parents are
 * looked up by (trace, span); duplicates by all three. */
struct an_seen {
	uint64_t tid, sid, chash;
	uint32_t svc;   /* + 1; 0 = empty */
	uint32_t stamp; /* when it came (seen_clock): a full set evicts its oldest */
};

/* What classification needs of a span; a waiting span keeps this. */
struct an_pend {
	uint8_t trace[16];
	uint8_t span[8];
	uint8_t parent[8];
	uint64_t start_ns, dur_ns;
	uint64_t chash;
	uint64_t arrive_ms; /* wall clock, ms: the wait ends at arrive_ms + settle_ms */
	uint32_t svc, ver, op;
	uint8_t kind, err;
	uint32_t hnext;      /* next in its bucket (index + 1), or the free list */
	uint32_t prev, next; /* arrival order (index + 1) */
};

/* Spans waiting for their parent: a bucket per (trace, parent span id),
 * and a list in arrival order for the settle time. */
struct an_pending {
	struct an_pend *e;
	uint32_t n, cap, max; /* in use, allocated, the cap */
	uint32_t free_head;   /* index + 1 */
	uint32_t *buckets;    /* index + 1 */
	uint32_t nbuckets;    /* power of two */
	uint32_t head, tail;  /* oldest, newest (index + 1) */
};

enum an_mode {
	AN_LIVE,   /* a batch just made durable */
	AN_REPLAY, /* the log after the checkpoint, at start-up */
	AN_WARM,   /* the log before it: only remembered (parents, duplicates) */
};

/* ---- persistence state ---- */

struct an_warm {
	uint64_t ms; /* wall clock of the checkpoint; 0: long ago */
	struct store_pos pos;
};

struct an_ckpt;

struct col_analytics {
	struct col_an_options o;
	struct strtab str;
	struct an_key *keys;
	uint32_t nkeys, capkeys;
	struct map64 key_by_hash; /* key hash -> first key id (chained by linear probe on id) */
	struct map64 op_admit;    /* (svc << 32 | op) -> 1 */
	struct map64 svc_admit;   /* service ids counted under their own name */
	uint32_t *ops_per_svc;    /* by string id */
	uint32_t ops_per_svc_n;
	uint32_t other_id, empty_id, unknown_svc_id;

	struct an_hour **hours; /* resident, sorted by hour */
	uint32_t nhours, caphours;

	struct an_seen *seen; /* o.parent_slots slots, 4-way set associative */
	uint32_t seen_clock;  /* insertions into seen, for the stamps */
	struct an_seen *bspans; /* the observed batch's spans by (trace, span id), chash unused */
	uint32_t bspans_cap;    /* slots allocated */
	uint32_t bspans_mask;   /* slots in use - 1 (a power of two) */
	struct an_pending pend;
	bool pend_dirty; /* the waiting set changed since the last checkpoint */

	/* persistence */
	struct store *store;
	struct store_pos base; /* the index's position */
	struct store_pos warm; /* the index's warm-up position (<= base) */
	int64_t *phours;       /* hours with a blob named in the index, sorted */
	uint8_t *pslot;        /* beside phours: which of the two blobs is current */
	uint32_t nphours, capphours;
	struct an_warm whist[WARM_HISTORY]; /* completed checkpoints, oldest first */
	uint32_t nwhist;

	uv_loop_t *loop;
	uv_timer_t timer;
	bool timer_on;
	uv_timer_t settle_timer;
	bool settle_on;
	uv_check_t check; /* armed while a checkpoint waits for a quiet moment */
	bool check_on;
	bool (*quiescent)(void *arg);
	void *qarg;
	struct an_ckpt *inflight;
	bool stopping;
	void (*stop_done)(void *arg);
	void *stop_arg;

	struct col_an_stats st;
};

/* analytics.c */
int64_t an_key_intern(struct col_analytics *a, const struct an_key *k);
int an_svc_ops_reserve(struct col_analytics *a, uint32_t svc);
/** The operation id a span named name of service svc is counted under:
 * itself while the service is under the cap, else __other__. force admits
 * past the cap (data read back from disk). -1 when out of memory. */
int64_t an_op_resolve(struct col_analytics *a, uint32_t svc, const void *name, size_t len,
		      bool force);
/** Admits svc as a service counted under its own name. 0 or -ENOMEM. */
int an_svc_admit(struct col_analytics *a, uint32_t svc);
bool an_hour_persisted(const struct col_analytics *a, int64_t hour, uint8_t *slot);
int an_phours_add(struct col_analytics *a, int64_t hour, uint8_t slot);
struct an_hour *an_hour_new(int64_t hour);
void an_hour_free(struct an_hour *h);
struct an_hour *an_hour_resident(struct col_analytics *a, int64_t hour);
int an_hour_link(struct col_analytics *a, struct an_hour *h);
struct an_series *an_hour_series(struct an_hour *h, uint32_t key, bool create);
struct an_edges *an_hour_edge(struct an_hour *h, uint32_t parent, uint32_t child);
/* Adds calls (errors of them failed) to minute m of e: 0 or -ENOMEM. */
int an_edge_add(struct an_edges *e, int m, uint64_t calls, uint64_t errors);
void an_cell_done(struct an_cell *c);
int an_cell_live(struct an_cell *c);
int an_cell_compact(struct an_cell *c);
int an_cell_add(struct an_cell *c, double v, uint64_t calls, uint64_t errors);
int an_cell_merge(struct an_cell *dst, const struct an_cell *src);
/** Wall clock in milliseconds. */
uint64_t an_now_ms(void);

/* observe.c */
int an_obs_init(struct col_analytics *a);
void an_obs_done(struct col_analytics *a);
void an_observe(struct col_analytics *a, const struct otlp_batch *b, enum an_mode mode,
		const struct store_pos *at);
/** Takes back a span that was waiting at a checkpoint (from the index):
 * remembered as seen and waiting again. 0 or -ENOMEM. */
int an_pend_restore(struct col_analytics *a, const struct an_pend *p);

/* blob.c */
struct abuf {
	uint8_t *p;
	size_t n, cap;
	bool oom;
};

/* How much of a blob to bring to life. */
enum parse_mode {
	P_LIVE,    /* minute sketches deserialised (recent hours) */
	P_COMPACT, /* minutes kept serialised, checked when used */
	P_ROLLUP,  /* minutes skipped: only for windows covering the hour */
};

/** The meta key of an hour's blob in slot 0 or 1. */
void an_blob_key(char *out, size_t len, int64_t hour, uint8_t slot);
/** Serialises h with pos into b. 0 or -ENOMEM. */
int an_hour_serialize(struct col_analytics *a, const struct an_hour *h, struct store_pos pos,
		      struct abuf *b);
/** Parses an hour blob (untrusted). A new hour, with pos in h->pos, or
 * NULL with *err -EINVAL (malformed) / -ENOMEM. */
struct an_hour *an_hour_parse(struct col_analytics *a, const uint8_t *p, size_t n,
			      int64_t want_hour, enum parse_mode mode, int *err);
/** The index: base and warm positions, every persisted hour (with its
 * slot) plus the ones being written (extra, slots xslot), and the spans
 * waiting for a parent. 0 or -ENOMEM. */
int an_index_serialize(struct col_analytics *a, struct store_pos base, struct store_pos warm,
		       const int64_t *extra, const uint8_t *xslot, uint32_t nextra,
		       struct abuf *b);
/** Parses the index (untrusted) into a: base, warm, the hour list, and
 * the waiting spans (an_pend_restore). 0, -EINVAL or -ENOMEM; on error a
 * may hold part of it (the caller resets). */
int an_index_parse(struct col_analytics *a, const uint8_t *p, size_t n);

/* persist.c */
/** Reads the blob of a persisted hour. NULL with *err on failure. */
struct an_hour *an_hour_read(struct col_analytics *a, int64_t hour, enum parse_mode mode, int *err);
/** The resident hour, loading a persisted one or making an empty one when
 * create. NULL when out of memory, or absent and !create. */
struct an_hour *an_hour_get(struct col_analytics *a, int64_t hour, bool create);

#endif /* TERN_COLLECTOR_ANALYTICS_INT_H */
