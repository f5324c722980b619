/*
 * store_int.h: the store's internal structures, shared by store.c (log,
 * writer, recovery, retention) and index.c (in-memory indexes, queries).
 *
 * Locking: s->lock (rwlock) guards the segment list, every segment's
 * index arrays and durable end, and the operation dictionary. Queries hold
 * it shared for their whole run; the writer holds it exclusively only to
 * publish what it has already synced, and retention to unlink segments.
 */
#ifndef TERN_STORE_INT_H
#define TERN_STORE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "otlp.h"
#include "store.h"

#define NO_ENT UINT32_MAX

/* One span's summary: what search and trace-by-id need. */
struct ent {
	uint8_t trace_id[16];
	uint64_t start;
	uint64_t dur;       /* end - start, 0 if end < start */
	uint32_t rec_off;   /* record offset in the segment */
	uint32_t span_no;   /* ordinal of the span inside its record */
	uint32_t op : 31;   /* global operation id */
	uint32_t err : 1;   /* status ERROR */
	uint32_t prev_trace; /* previous ent of the same trace in this segment */
}; /* 48 bytes: memory per retained span is what limits retention */

struct opvec {
	uint32_t *v;
	uint32_t n, cap;
};

struct seg {
	uint64_t id;
	int fd;              /* O_RDWR for the open segment, else O_RDONLY */
	uint64_t end;        /* durable end: readers stop here */
	uint64_t file_bytes; /* segment file size */
	uint64_t idx_bytes;  /* index file size (0: none yet) */
	uint64_t created_ns;
	uint64_t last_ns;    /* newest record append time */
	uint64_t min_start, max_start;
	uint64_t records;
	bool sealed;
	bool corrupt;        /* a bad record before the end of the file */
	bool partial;        /* some summaries did not fit in memory */
	bool sealing;        /* sealed; the sealer has not written its index yet */

	struct ent *ents;
	uint32_t n, cap;
	uint32_t *thash;     /* slot: latest ent of a trace, or NO_ENT */
	uint32_t tcap, tused;
	struct opvec *byop;  /* indexed by global op id */
	uint32_t nbyop;
};

struct op {
	uint32_t svc;
	int kind;
	char *name;
	size_t name_len;
};

struct cursor {
	char *name;
	struct store_pos pos;
	uint64_t lost; /* spans retention dropped at or after pos */
};

struct job;

struct store {
	struct store_options o;
	char *dir;
	int lock_fd;         /* flock'ed DIR/LOCK: one process per directory */
	pthread_mutex_t *dict_mu; /* set while recovery threads share the dictionary */
	void *cctx;          /* ZSTD_CCtx of the writer thread */

	pthread_rwlock_t lock;
	struct seg **segs;   /* by id, oldest first */
	struct seg *open;    /* the one being appended to (last of segs), or NULL */
	size_t nsegs, capsegs;
	uint64_t next_seg_id;

	/* dictionary: services and operations (svc, name, kind) */
	char **svcs;
	size_t *svc_len;
	uint32_t nsvcs, capsvcs;
	struct op *ops;
	uint32_t nops, capops;
	uint32_t *ophash;    /* slot: op id + 1, 0 empty */
	uint32_t ophcap;

	/* writer queue */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct job *qhead, **qtail;
	size_t qbytes;
	bool stopping;
	bool writing;        /* the writer is working on a group it took */
	pthread_cond_t idle; /* signalled when the writer finishes a group */
	pthread_t writer;
	bool writer_started;
	uint64_t fail_until_ns;
	int last_error;
	uint64_t last_retention_ns;

	/* sealer thread: writes index files of rolled segments */
	pthread_t sealer;
	bool sealer_started;
	pthread_mutex_t smu;
	pthread_cond_t scond;
	struct seg **sq;
	size_t sqn, sqcap;
	bool sstop;

	pthread_mutex_t clock_; /* cursors + stats */
	struct cursor *cursors;
	size_t ncursors;
	struct store_stats st;
};

/* index.c */
void store__seg_index_free(struct seg *g);
/* Adds one span summary to g (exclusive lock held). -ENOMEM. */
int store__seg_add(struct store *s, struct seg *g, const struct otlp_span *sp,
		   const struct otlp_bytes *svc, uint32_t rec_off, uint32_t span_no);
/* Adds every span of a decoded record (exclusive lock held). */
int store__seg_add_batch(struct store *s, struct seg *g, const struct otlp_batch *b,
			 uint32_t rec_off);
/* Looks up or adds a dictionary entry (exclusive lock held). */
int store__op_id(struct store *s, const uint8_t *svc, size_t svc_len,
		 const uint8_t *name, size_t name_len, int kind, uint32_t *id);
/* Makes room for n summaries (index file load). -ENOMEM. */
int store__seg_reserve(struct seg *g, uint32_t n);
/* Adds an already-built ent (index file load). */
int store__seg_push(struct seg *g, const struct ent *e);
void store__dict_free(struct store *s);
/* service.name of a resource, or empty. */
struct otlp_bytes store__service_of(const struct otlp_resource_spans *rs);
/* Reads and decodes the record at off of g into b (shared lock held). */
int store__read_record(struct seg *g, uint64_t off, struct otlp_batch *b, uint64_t *next);
/* As store__read_record(), building only the spans of one trace. */
int store__read_record_trace(struct seg *g, uint64_t off, struct otlp_batch *b, uint64_t *next,
			     const uint8_t *only_trace);
/* The store's wall clock, ns since the epoch: o.now_ns, or CLOCK_REALTIME. */
uint64_t store__now_ns(const struct store *s);

#endif /* TERN_STORE_INT_H */
