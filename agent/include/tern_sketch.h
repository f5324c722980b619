/*
 * tern_sketch.h: a mergeable relative-error quantile sketch (DDSketch-like).
 *
 * Values are mapped to logarithmic buckets: bucket i holds the values in
 * (gamma^(i-1), gamma^i] with gamma = (1 + a) / (1 - a), where a is the
 * relative accuracy (default 0.01). Any quantile is answered with a value
 * within a relative error a of the true value of that rank, as long as no
 * bucket was collapsed (see below). Two sketches with the same accuracy
 * merge exactly: merging then asking equals asking a sketch fed with both
 * inputs.
 *
 * Values must be >= 0 (durations, sizes). Values below TERN_SKETCH_MIN_VALUE
 * (and negative values, which are clamped to 0) go to a separate zero bucket
 * and are reported as 0. NaN is rejected.
 *
 * Memory is bounded: at most max_buckets counters (default 2048, 8 bytes
 * each) per sketch. With a = 1% that spans a ratio of about 1.2e18 between
 * the smallest and largest value, i.e. 1 ns to many years, so for latencies
 * nothing is ever collapsed. When a value falls outside the window, the
 * lowest buckets are folded into the lowest kept one (as DDSketch's
 * collapsing-lowest store does): high quantiles stay accurate, the lowest
 * ones lose accuracy, and tern_sketch_collapsed() says how many values were
 * moved.
 *
 * Thread safety: a sketch is not synchronised. One thread at a time may
 * use it; distinct sketches are independent. No global state.
 */
#ifndef TERN_SKETCH_H
#define TERN_SKETCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TERN_SKETCH_DEFAULT_ACCURACY 0.01
#define TERN_SKETCH_DEFAULT_MAX_BUCKETS 2048u
#define TERN_SKETCH_MAX_BUCKETS_LIMIT 65536u
#define TERN_SKETCH_MIN_VALUE 1e-9

struct tern_sketch;

/**
 * Makes an empty sketch. rel_accuracy in (0, 0.5); 0 means the default
 * (0.01). max_buckets in [16, 65536]; 0 means the default (2048).
 * Returns NULL when out of memory or when an argument is out of range.
 */
struct tern_sketch *tern_sketch_new(double rel_accuracy, uint32_t max_buckets);

/** Frees the sketch. Accepts NULL. */
void tern_sketch_free(struct tern_sketch *s);

/**
 * Adds one value. Returns 0, -EINVAL for NaN, or -ENOMEM when the bucket
 * array could not grow (then the sketch is unchanged).
 */
int tern_sketch_add(struct tern_sketch *s, double v);

/** Adds a value n times (n == 0 is a no-op). Errors as tern_sketch_add(). */
int tern_sketch_add_n(struct tern_sketch *s, double v, uint64_t n);

/**
 * Adds every value of src into dst. Both must have the same accuracy
 * (-EINVAL otherwise); dst's max_buckets applies. Returns 0, -EINVAL or
 * -ENOMEM (then dst is unchanged). src is not modified.
 */
int tern_sketch_merge(struct tern_sketch *dst, const struct tern_sketch *src);

/**
 * The value at quantile q in [0, 1] (q = 0.5 is the median), within the
 * relative accuracy of the true value, clamped to [min, max]. Returns NAN
 * when the sketch is empty or q is out of range.
 */
double tern_sketch_quantile(const struct tern_sketch *s, double q);

/** Number of values added (including merged ones). */
uint64_t tern_sketch_count(const struct tern_sketch *s);
/** Exact smallest value added (after clamping negatives to 0); NAN if empty. */
double tern_sketch_min(const struct tern_sketch *s);
/** Exact largest value added; NAN if empty. */
double tern_sketch_max(const struct tern_sketch *s);
/** Exact sum of the values added (as double); 0 if empty. */
double tern_sketch_sum(const struct tern_sketch *s);
/** Values moved by collapsing the lowest buckets (0 means fully accurate). */
uint64_t tern_sketch_collapsed(const struct tern_sketch *s);
/** The relative accuracy the sketch was made with. */
double tern_sketch_accuracy(const struct tern_sketch *s);

/** Empties the sketch; it keeps its accuracy, bound and memory. */
void tern_sketch_reset(struct tern_sketch *s);

/**
 * Serialises the sketch into a compact byte form (little-endian header,
 * varint counts). On success *out is malloc'ed (caller frees) and *out_len
 * its length. Returns 0 or -ENOMEM.
 */
int tern_sketch_serialize(const struct tern_sketch *s, uint8_t **out, size_t *out_len);

/**
 * Rebuilds a sketch from bytes made by tern_sketch_serialize(). The bytes
 * are untrusted: every length and count is checked. On success *out is a
 * new sketch the caller frees. Returns 0, -EINVAL for malformed input, or
 * -ENOMEM.
 */
int tern_sketch_deserialize(const uint8_t *buf, size_t len, struct tern_sketch **out);

#ifdef __cplusplus
}
#endif

#endif /* TERN_SKETCH_H */
