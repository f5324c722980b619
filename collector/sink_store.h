/*
 * sink_store.h: the `store` pipeline stage (ternd's embedded trace store,
 * storage/include/store.h), and how the rest of ternd reaches its store.
 */
#ifndef TERN_COLLECTOR_SINK_STORE_H
#define TERN_COLLECTOR_SINK_STORE_H

#include "pipeline.h"
#include "store.h"

extern const struct col_stage_ops col_sink_store_ops;

/**
 * The store behind a stage opened with col_sink_store_ops, or NULL for any
 * other stage. Valid until the stage's close callback has run. Query
 * functions of store.h are thread-safe and may be called from the loop
 * (they read memory and do short preads).
 */
struct store *col_sink_store_handle(struct col_stage *st);

#endif /* TERN_COLLECTOR_SINK_STORE_H */
