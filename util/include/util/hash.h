/*
 * util/hash.h: the small non-cryptographic hashes and generators that every
 * component uses, one copy each. Pure functions: thread-safe.
 */
#ifndef TERN_UTIL_HASH_H
#define TERN_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define UTIL_FNV1A64_INIT 14695981039346656037ull

/**
 * FNV-1a, 64 bits, continuing from h (start with UTIL_FNV1A64_INIT), so a
 * key made of several parts hashes as their concatenation.
 */
static inline uint64_t util_fnv1a64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ull;
	}
	return h;
}

/** splitmix64's finaliser: a bijective mix of all 64 bits of x. */
static inline uint64_t util_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/** splitmix64: advances *state and returns the next 64 random bits. */
static inline uint64_t util_splitmix64(uint64_t *state)
{
	return util_mix64(*state += 0x9e3779b97f4a7c15ull);
}

#endif /* TERN_UTIL_HASH_H */
