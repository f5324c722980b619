/*
 * util/hex.h: hexadecimal digits, the one copy for every component (trace
 * and span ids in W3C headers, OTLP/JSON and the query API; %XX escapes).
 * Pure functions: thread-safe, no allocation.
 */
#ifndef TERN_UTIL_HEX_H
#define TERN_UTIL_HEX_H

#include <stddef.h>
#include <stdint.h>

/** The value of one hex digit (either case), or -1 if c is not one. */
static inline int util_hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/**
 * Decodes exactly 2n hex digits (either case) into n bytes. hex need not be
 * NUL-terminated. Returns 0, or -EINVAL if hexlen != 2n or a character is
 * not a hex digit (out may then be partly written).
 */
int util_hex_decode(uint8_t *out, size_t n, const char *hex, size_t hexlen);

/** Writes n bytes as 2n lowercase hex digits plus a NUL into out (2n+1 bytes). */
void util_hex_encode(char *out, const uint8_t *in, size_t n);

#endif /* TERN_UTIL_HEX_H */
