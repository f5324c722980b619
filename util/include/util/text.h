/*
 * util/text.h: parsing small pieces of text the same way everywhere:
 * durations as users type them (CLI flags, query parameters, config) and
 * URL percent-escapes. Pure functions: thread-safe, no allocation.
 */
#ifndef TERN_UTIL_TEXT_H
#define TERN_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Parses a duration: Go's syntax (a sequence of decimal numbers, each with
 * a unit: "300ms", "1.5h", "1h30m") plus "d" (24 h) and "w" (7 d). Units:
 * ns, us, µs, ms, s, m, h, d, w. A bare "0" is 0. Returns 0 with *ns set,
 * or -EINVAL for anything else (empty, negative, no unit, or over ~292
 * years, which does not fit in int64 nanoseconds).
 */
int util_parse_duration(const char *s, uint64_t *ns);

/**
 * Percent-decodes s[0..n) into out (which may be s itself: decoding never
 * grows the text); with plus_space, '+' becomes a space as in query
 * strings. A '%' not followed by two hex digits is kept as it is. Writes a
 * NUL and returns the decoded length. Decoded NUL bytes are kept, so
 * callers that treat the result as a C string must check
 * strlen(out) == returned length.
 */
size_t util_pct_decode(char *out, const char *s, size_t n, bool plus_space);

#endif /* TERN_UTIL_TEXT_H */
