/*
 * text.c: what the decoders do to text fields, so every consumer (the
 * store, the query API's JSON, the forwarders) gets valid UTF-8 without
 * NUL bytes and names of bounded length, whatever a client sent.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static const uint8_t replacement[3] = { 0xef, 0xbf, 0xbd }; /* U+FFFD */
static const uint8_t ellipsis[3] = { 0xe2, 0x80, 0xa6 };    /* U+2026 */

/*
 * The length of the valid UTF-8 sequence at p (at most n bytes), or 0 when
 * there is none; then *bad is the length of its maximal subpart, the bytes
 * one U+FFFD replaces (Unicode 3.9, "U+FFFD Substitution of Maximal
 * Subparts"). NUL is reported as invalid, with *bad 1.
 */
static size_t utf8_seq(const uint8_t *p, size_t n, size_t *bad)
{
	uint8_t c = p[0];
	*bad = 1;
	if (c >= 0x01 && c < 0x80)
		return 1;
	size_t len;
	uint8_t lo = 0x80, hi = 0xbf; /* the range of the second byte */
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0; /* no overlong forms */
		else if (c == 0xed)
			hi = 0x9f; /* no surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f; /* nothing past U+10FFFF */
	} else {
		return 0; /* NUL, a continuation byte, C0, C1, F5..FF */
	}
	for (size_t i = 1; i < len; i++) {
		if (i >= n || p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf)) {
			*bad = i;
			return 0;
		}
	}
	return len;
}

int otlp__text_clean(struct otlp_batch *b, struct otlp_bytes *s)
{
	const uint8_t *p = s->ptr;
	size_t n = s->len;
	/* Fast path: plain ASCII without NUL, 8 bytes at a time (no byte
	 * with the high bit set, and none zero), then a full check. */
	size_t i = 0;
	const uint64_t high = 0x8080808080808080ull, ones = 0x0101010101010101ull;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if ((w & high) != 0 || ((w - ones) & ~w & high) != 0)
			break;
	}
	while (i < n && p[i] >= 0x01 && p[i] < 0x80)
		i++;
	size_t out = i, fixes = 0;
	for (size_t k = i; k < n;) {
		size_t bad;
		size_t len = utf8_seq(p + k, n - k, &bad);
		if (len != 0) {
			out += len;
			k += len;
		} else {
			out += sizeof replacement;
			k += bad;
			fixes++;
		}
	}
	if (fixes == 0)
		return 0;
	uint8_t *d = otlp_batch_alloc(b, out);
	if (d == NULL)
		return -ENOMEM;
	memcpy(d, p, i);
	size_t o = i;
	for (size_t k = i; k < n;) {
		size_t bad;
		size_t len = utf8_seq(p + k, n - k, &bad);
		if (len != 0) {
			memcpy(d + o, p + k, len);
			o += len;
			k += len;
		} else {
			memcpy(d + o, replacement, sizeof replacement);
			o += sizeof replacement;
			k += bad;
		}
	}
	s->ptr = d;
	s->len = o;
	b->n_replaced += fixes;
	return 0;
}

int otlp__name_cut(struct otlp_batch *b, struct otlp_bytes *s, size_t max)
{
	if (max == 0 || s->len <= max)
		return 0;
	size_t keep = max >= sizeof ellipsis ? max - sizeof ellipsis : max;
	/* Back off to the start of a character: never split a sequence. */
	while (keep > 0 && (s->ptr[keep] & 0xc0) == 0x80)
		keep--;
	size_t total = keep + (max >= sizeof ellipsis ? sizeof ellipsis : 0);
	uint8_t *d = otlp_batch_alloc(b, total);
	if (d == NULL)
		return -ENOMEM;
	memcpy(d, s->ptr, keep);
	if (total > keep)
		memcpy(d + keep, ellipsis, sizeof ellipsis);
	s->ptr = d;
	s->len = total;
	b->n_truncated++;
	return 0;
}
