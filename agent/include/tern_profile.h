/*
 * tern_profile.h: whole-program profiling without code changes.
 *
 * Build a program (or some of its files) with -finstrument-functions, link
 * it with libtern-profile (pkg-config tern-profile) and -rdynamic (so
 * dladdr can name the program's own functions). Every instrumented call is
 * then counted per function: calls, total (cumulative) and self time,
 * like Python's cProfile. Optionally, a call slower than a threshold is
 * also recorded as a libtern span (when tern_init() was called).
 *
 * Environment: TERN_PROFILE=1 prints the table to stderr at exit (sorted
 * by TERN_PROFILE_SORT = cumulative | self | calls, default cumulative);
 * TERN_PROFILE_SPAN_MS=N sets the span threshold.
 *
 * The hooks take no lock: each thread has its own table (4096 functions,
 * call depth 512; deeper or extra functions are counted in
 * tern_profile_overflow()). When a thread exits, its counters are folded
 * into one table for exited threads and its state is freed. Recursive
 * calls count their time once per frame in the cumulative column, as
 * cProfile's "cumtime" does not.
 * Threads: the report functions may run at any time; they read counters
 * other threads are updating, so a row can be a few calls behind.
 */
#ifndef TERN_PROFILE_H
#define TERN_PROFILE_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum tern_profile_order {
	TERN_PROFILE_BY_CUMULATIVE = 0,
	TERN_PROFILE_BY_SELF,
	TERN_PROFILE_BY_CALLS,
};

struct tern_profile_row {
	const void *fn;
	char name[128]; /* dladdr's symbol, or the address */
	uint64_t calls;
	uint64_t cum_ns;  /* time inside the function, callees included */
	uint64_t self_ns; /* time inside the function, callees excluded */
};

/**
 * Fills rows[0..n) with the top functions by order (all threads merged);
 * returns how many were written. Thread-safe.
 */
size_t tern_profile_top(enum tern_profile_order order, struct tern_profile_row *rows, size_t n);

/** Prints a pstats-like table of the top `limit` functions (0: all). 0 or -EIO/-ENOMEM. */
int tern_profile_fprint(FILE *f, enum tern_profile_order order, size_t limit);

/** Zeroes every counter (the calls in progress keep going). */
void tern_profile_reset(void);

/** Calls above ns also become spans named after the function (0: off). */
void tern_profile_span_threshold_set(uint64_t ns);

/** Calls not counted (table full, stack too deep). */
uint64_t tern_profile_overflow(void);

#ifdef __cplusplus
}
#endif

#endif /* TERN_PROFILE_H */
