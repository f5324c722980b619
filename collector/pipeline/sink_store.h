/*
 * sink_store.h: the `store` pipeline stage (ternd's embedded trace store,
 * storage/include/store.h), and how the rest of ternd reaches its store.
 *
 * Data goes under --data (col_stage_env.data_dir). Environment:
 * TERND_STORE_SEGMENT_BYTES (>= 4096) sets the segment size (default 64
 * MiB); the crash tests use it to make segments roll.
 */
#ifndef TERN_COLLECTOR_SINK_STORE_H
#define TERN_COLLECTOR_SINK_STORE_H

#include "pipeline/pipeline.h"
#include "store.h"

extern const struct col_stage_ops col_sink_store_ops;

/**
 * The store behind a stage opened with col_sink_store_ops, or NULL for any
 * other stage. Valid until the stage's close callback has run. Query
 * functions of store.h are thread-safe and may be called from the loop
 * (they read memory and do short preads).
 */
struct store *col_sink_store_handle(struct col_stage *st);

/** Called on the loop thread with each batch acked with status 0. */
typedef void (*col_durable_fn)(void *arg, const struct otlp_batch *b);

/**
 * Sets the observer of durable batches (analytics): fn(arg, batch) runs on
 * the loop thread for every batch the store made durable, in log order,
 * right before the batch is freed and acked. No-op for other stages.
 */
void col_sink_store_set_observer(struct col_stage *st, col_durable_fn fn, void *arg);

#endif /* TERN_COLLECTOR_SINK_STORE_H */
