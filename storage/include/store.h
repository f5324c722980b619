/*
 * store.h: tern's embedded trace store.
 *
 * One data directory holds an append-only segment log (the truth: every
 * accepted span with everything OTLP carries, zstd-compressed, checksummed)
 * and, per sealed segment, an index file that can always be rebuilt from
 * the log. The in-memory indexes answer trace-by-id and search.
 *
 * Durability: store_submit() hands a batch to the store's writer thread,
 * which appends queued batches, fsyncs once for the whole group (group
 * commit) and only then calls each batch's callback with 0. Syncing never
 * runs on the caller's thread.
 *
 * Threads: every function is thread-safe unless it says otherwise.
 * Queries run concurrently with ingest; they see only synced data.
 *
 * Errors: 0 or a negative errno. -ENOSPC / -EIO from submit or a callback
 * mean "refused, retry later": the store keeps serving queries and takes
 * data again by itself once writes succeed.
 */
#ifndef TERN_STORE_H
#define TERN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp.h"

#ifdef __cplusplus
extern "C" {
#endif

struct store;

struct store_options {
	const char *dir;             /* data directory; created if missing */
	uint64_t retention_age_s;    /* drop segments older than this; default 7 days; 0 = off */
	uint64_t retention_bytes;    /* keep the log under this; default 10 GiB; 0 = off */
	uint64_t segment_bytes;      /* roll the open segment past this; default 64 MiB */
	size_t max_queue_bytes;      /* submitted, not yet durable; default 256 MiB */
	int zstd_level;              /* default 1 */
	uint32_t retry_after_ms;     /* after a failed write, refuse at once for this long; default 1000 */
	/*
	 * The wall clock, in ns since the epoch, that stamps records and
	 * segments and that retention_age_s, retry_after_ms and the backlog's
	 * ages are measured on. NULL (the default): CLOCK_REALTIME. A test
	 * sets it to move time forward instead of sleeping. Called with
	 * now_arg from any thread (the writer's too), so it must be
	 * thread-safe, and it must not call into the store.
	 */
	uint64_t (*now_ns)(void *now_arg);
	void *now_arg;
};

/** Fills *o with the defaults (dir NULL: the caller sets it). */
void store_options_default(struct store_options *o);

/* What store_open() found; also a one-line summary in msg. */
struct store_recovery {
	uint32_t segments;          /* segments in the log */
	uint32_t indexes_loaded;    /* segments whose index file was valid */
	uint32_t indexes_rebuilt;   /* segments re-indexed from the log */
	uint32_t corrupt_segments;  /* segments with a bad record before their end */
	uint64_t records;
	uint64_t spans;
	uint64_t truncated_bytes;   /* torn tail cut from the last segment */
	uint64_t skipped_bytes;     /* unreadable bytes after a corrupt record */
	char msg[256];
};

/**
 * Opens (or creates) the store in o->dir: truncates a torn tail, verifies
 * checksums, rebuilds missing or bad index files, skips (and reports) a
 * corrupt segment, and starts the writer thread. rec (may be NULL) receives
 * what recovery found. Returns 0 and *out, or a negative errno: -EBUSY
 * (another process has the directory open), -ENOMEM, or the error of
 * creating/reading the directory.
 */
int store_open(const struct store_options *o, struct store **out,
	       struct store_recovery *rec);

/**
 * Stops taking data, makes everything already submitted durable (each
 * callback still runs, with 0 or an error), seals the open segment and
 * frees the store. Accepts NULL. Call it once, when no other thread uses s.
 */
void store_close(struct store *s);

/**
 * Called once per submitted batch on the store's writer thread: status 0
 * means the spans are in the log and synced; a negative errno (-ENOSPC,
 * -EIO, -ENOMEM, -EMSGSIZE) means they were not stored. The store is done
 * with the batch when this runs: the callback may free it. It must not
 * block and must not call back into the store's write path.
 */
typedef void (*store_done_cb)(void *arg, int status);

/**
 * Queues b for the log. Never blocks on I/O. The store borrows b: it must
 * stay valid and unchanged until cb runs (the store copies what it keeps;
 * it never frees b). On 0, cb(arg, status) runs exactly once, later, on the
 * writer thread. On error cb never runs: -EAGAIN (queue over
 * max_queue_bytes), -ENOSPC / -EIO (a recent write failed: retry after
 * retry_after_ms), -ESHUTDOWN, -ENOMEM.
 */
int store_submit(struct store *s, const struct otlp_batch *b, store_done_cb cb, void *arg);

/**
 * Submits b and waits until it is durable (for tools and tests). Do not
 * call it from a thread that must not block. Returns 0 or an error as
 * store_submit() or the callback would give.
 */
int store_append(struct store *s, const struct otlp_batch *b);

/* ---- queries (all see only synced data) ---- */

/**
 * All spans of one trace, across every record it arrived in, with their
 * resources and scopes, as a new batch the caller frees with
 * otlp_batch_free(). Returns 0, -ENOENT (no span of that trace), -EIO /
 * -EBADMSG (a record failed its checksum), -ENOMEM.
 */
int store_get_trace(struct store *s, const uint8_t trace_id[16],
		    struct otlp_batch **out);

#define STORE_MAX_TAGS 8
#define STORE_MAX_LIMIT 10000

struct store_tag {
	const char *key;
	const char *value; /* compared with the attribute's text form */
};

/* Every set field must hold for one span (AND). Zero/NULL fields are unset. */
struct store_query {
	const char *service;        /* resource attribute service.name */
	const char *operation;      /* span name */
	struct store_tag tags[STORE_MAX_TAGS]; /* span or resource attribute equality */
	uint32_t n_tags;
	uint64_t min_duration_ns;
	uint64_t max_duration_ns;   /* 0: no bound */
	bool error_only;            /* status ERROR */
	uint64_t start_min_ns;      /* span start >= this */
	uint64_t start_max_ns;      /* span start <= this; 0: no bound */
	uint32_t limit;             /* traces; 0 means 20; at most STORE_MAX_LIMIT */
};

struct store_hit {
	uint8_t trace_id[16];
	uint64_t start_ns;          /* start of the newest matching span of that trace */
};

/**
 * Traces with at least one matching span, newest first (by that span's
 * start), at most q->limit. *hits is malloc'ed (caller frees), *n its
 * length (0 is not an error). Returns 0, -EINVAL (n_tags too large),
 * -ENOMEM, -EIO.
 */
int store_search(struct store *s, const struct store_query *q,
		 struct store_hit **hits, size_t *n);

/** A list of strings the store hands out; free with store_strings_free(). */
struct store_strings {
	char **v;
	int *kind;  /* store_operations only: the span kind of v[i] */
	size_t n;
};

/** Service names seen in the retained log, sorted. 0 or -ENOMEM. */
int store_services(struct store *s, struct store_strings *out);

/**
 * Operations (span names) of one service with their span kinds, sorted by
 * name then kind; one entry per (name, kind). 0 or -ENOMEM.
 */
int store_operations(struct store *s, const char *service, struct store_strings *out);

/** Frees what store_services/store_operations returned. Accepts zeroed. */
void store_strings_free(struct store_strings *l);

/* ---- the log as a queue (forwarders) ---- */

/* A stable position in the log: a record starts at offset off of segment seg. */
struct store_pos {
	uint64_t seg;
	uint64_t off;
};

/**
 * Orders two positions in the log: negative if a comes before b, 0 if they
 * are the same, positive if a comes after b (segment first, then offset).
 * Pure: any thread.
 */
int store_pos_cmp(struct store_pos a, struct store_pos b);

/** The first retained record, or the end of the log if nothing is retained. */
struct store_pos store_oldest_pos(struct store *s);

/** Where the next record will go (the durable end of the log). */
struct store_pos store_end_pos(struct store *s);

struct store_reader;

/**
 * A reader over the log from pos (use store_oldest_pos(), a saved position,
 * or {0, 0} for "oldest"). Readers are independent of ingest and of each
 * other; one reader is used by one thread at a time. 0 or -ENOMEM.
 */
int store_reader_new(struct store *s, struct store_pos pos, struct store_reader **out);

/**
 * The next record as a new batch (caller frees with otlp_batch_free()), the
 * position it started at (*at) and the position after it (*next, what a
 * forwarder saves once the batch is delivered). Returns 0; -EAGAIN: no more
 * durable data yet; -ERANGE: the position was dropped by retention (the
 * reader then moved to the oldest retained record: *at says where, and the
 * next call continues there); -EBADMSG: a corrupt record, which the reader
 * skips (the next call goes on after it, in the next segment).
 */
int store_reader_next(struct store_reader *r, struct otlp_batch **out,
		      struct store_pos *at, struct store_pos *next);

/** Frees a reader. Accepts NULL. */
void store_reader_free(struct store_reader *r);

/**
 * Registers or moves a named cursor (a forwarder's saved position), so
 * retention can tell what a lagging cursor loses. name is copied. 0 or
 * -ENOMEM. Cursors are in memory only; the forwarder persists its own
 * position (store_meta_put is one place to do it).
 */
int store_cursor_set(struct store *s, const char *name, struct store_pos pos);

/** Removes a cursor. Accepts unknown names. */
void store_cursor_remove(struct store *s, const char *name);

/** Whether a registered cursor is before the end of segment seg. */
bool store_cursor_behind(struct store *s, uint64_t seg);

/**
 * Spans retention dropped from under the named cursor since it was first
 * registered: for each dropped segment, the spans of records at or after the
 * cursor's position then. 0 for an unknown name. Thread-safe.
 * (Added for the forwarders, collector/forward/forward.c.)
 */
uint64_t store_cursor_lost(struct store *s, const char *name);

/* What is left to read after a position (forwarder lag). */
struct store_backlog {
	uint64_t spans;      /* retained, durable spans in records at or after pos */
	uint64_t bytes;      /* log bytes from pos to the durable end */
	uint64_t seg_created_ns; /* creation time of pos's segment (0: at the end) */
	bool at_risk;        /* retention would drop pos's segment if the log grew
				by 10% of retention_bytes or aged by 10% of
				retention_age_s */
};

/**
 * Fills *out for pos. Returns 0, or -ERANGE when pos was already dropped by
 * retention (*out then describes the oldest retained position).
 * Thread-safe; holds the index lock shared for a short scan.
 * (Added for the forwarders, collector/forward/forward.c.)
 */
int store_backlog(struct store *s, struct store_pos pos, struct store_backlog *out);

/* ---- small blobs by key, in DIR/meta/ (atomic replace, synced) ---- */

/**
 * Stores a blob under key ([A-Za-z0-9._-], 1..64 chars), replacing any
 * previous one atomically (write, fsync, rename, fsync dir). Returns 0,
 * -EINVAL (bad key), or an I/O errno.
 */
int store_meta_put(struct store *s, const char *key, const void *data, size_t len);

/**
 * Reads a blob: *data malloc'ed (caller frees), *len. Returns 0, -ENOENT,
 * -EINVAL (bad key), -ENOMEM, an I/O errno.
 */
int store_meta_get(struct store *s, const char *key, void **data, size_t *len);

/* ---- retention and statistics ---- */

struct store_stats {
	uint64_t segments;
	uint64_t bytes;             /* log bytes on disk (segments + index files) */
	uint64_t spans;
	uint64_t records;
	uint64_t dropped_segments;  /* by retention since open */
	uint64_t dropped_behind_cursor; /* of those, ones a cursor had not read */
	uint64_t write_errors;
	int last_error;             /* 0 or the last write/sync error */
};

/** Current figures. */
void store_stats(struct store *s, struct store_stats *st);

/**
 * Applies retention now (the writer also does it after each segment roll
 * and at least every 10 s). now_ns 0 means now on the store's clock
 * (store_options.now_ns); a caller may pass its own time instead. Returns the number of segments dropped. The open
 * segment is never dropped.
 */
int store_retention_run(struct store *s, uint64_t now_ns);

/**
 * Seals the open segment now (writes its index file); the next batch opens
 * a new one. For tests and tools. 0 or an I/O errno.
 */
int store_roll(struct store *s);

/* ---- I/O fault injection (tests) ---- */

enum store_io_op {
	STORE_IO_OPEN,
	STORE_IO_WRITE,
	STORE_IO_READ,
	STORE_IO_SYNC,
	STORE_IO_TRUNCATE,
	STORE_IO_RENAME,
	STORE_IO_UNLINK,
};

/**
 * Called before each file operation of every store in the process. Return
 * 0 to let it run, or a negative errno to fail it. For STORE_IO_WRITE the
 * hook may lower *len to make a short write (the bytes up to *len are
 * written, then the layer asks again for the rest). path may be NULL for
 * operations on an open descriptor.
 */
typedef int (*store_io_hook)(void *arg, enum store_io_op op, const char *path, size_t *len);

/** Sets (or clears, with NULL) the process-wide hook. Any thread. */
void store_io_set_hook(store_io_hook hook, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* TERN_STORE_H */
