/*
 * record.h: the on-disk record format of the segment log.
 *
 * A segment file starts with a 32-byte header, then records back to back:
 *
 *   segment header: "TERNSEG1" | u32 version (1) | u32 0 | u64 segment id |
 *                   u64 created (unix ns)                  (little endian)
 *   record header:  u32 magic "TRC1" | u32 stored payload length |
 *                   u32 raw payload length | u32 span count |
 *                   u64 append time (unix ns) | u32 flags (1: zstd) |
 *                   u32 crc32 over the 28 header bytes before it + payload
 *   payload:        the batch in tern's record encoding (record.c),
 *                   zstd-compressed when flags & 1
 *
 * The record encoding keeps every field of the model (resource, scope,
 * attributes with nested values, events, links, status, dropped counts),
 * so a record decodes back to a batch that re-encodes to the same OTLP.
 */
#ifndef TERN_STORE_RECORD_H
#define TERN_STORE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp.h"

#define STORE__SEG_HDR 32u
#define STORE__SEG_VERSION 1u
#define STORE__REC_HDR 32u
#define STORE__REC_MAGIC 0x31435254u /* "TRC1" */
#define STORE__REC_ZSTD 1u
/* Bounds every reader trusts nothing beyond. */
#define STORE__REC_MAX_RAW (512u << 20)
#define STORE__REC_MAX_STORED (512u << 20)

struct store__rec_hdr {
	uint32_t stored_len;
	uint32_t raw_len;
	uint32_t n_spans;
	uint64_t time_ns;
	uint32_t flags;
	uint32_t crc;
};

/** Writes a segment header into out[32]. */
void store__seg_hdr_write(uint8_t out[32], uint64_t seg_id, uint64_t created_ns);

/** Checks a segment header. 0 (sets *seg_id) or -EBADMSG. */
int store__seg_hdr_parse(const uint8_t in[32], uint64_t *seg_id);

/**
 * Encodes b as one complete record (header + payload) in a malloc'ed
 * buffer. level: zstd level; 0 stores the payload uncompressed. Returns 0,
 * -ENOMEM, -EMSGSIZE (over the record bounds).
 */
int store__rec_build(const struct otlp_batch *b, int level, uint64_t time_ns,
		     uint8_t **out, size_t *out_len);

/** As store__rec_build(), compressing with cctx (a ZSTD_CCtx *, reused by
 * the caller's thread; NULL: a fresh one). */
int store__rec_build_ctx(const struct otlp_batch *b, int level, uint64_t time_ns, void *cctx,
			 uint8_t **out, size_t *out_len);

/** Parses and bounds-checks a record header. 0 or -EBADMSG. */
int store__rec_hdr_parse(const uint8_t in[32], struct store__rec_hdr *h);

/**
 * Verifies the checksum of the record (hdr bytes + payload), decompresses
 * and decodes it, appending its resource_spans to b. The decoded strings
 * live in a buffer attached to b. Returns 0, -EBADMSG (checksum, bad
 * compression or encoding), -ENOMEM.
 */
int store__rec_decode(const uint8_t hdr_bytes[32], const struct store__rec_hdr *h,
		      const uint8_t *payload, struct otlp_batch *b);

/**
 * As store__rec_decode(), keeping only the spans of trace only_trace
 * (NULL: all). The other spans are checked and skipped, not built; scopes
 * may be left empty.
 */
int store__rec_decode_trace(const uint8_t hdr_bytes[32], const struct store__rec_hdr *h,
			    const uint8_t *payload, struct otlp_batch *b,
			    const uint8_t *only_trace);

/** Decodes a raw (uncompressed) payload into b; strings point into p. */
int store__rec_decode_raw(const uint8_t *p, size_t len, struct otlp_batch *b);

/** Encodes b raw (no header, no compression): malloc'ed. 0 or -ENOMEM. */
int store__rec_encode_raw(const struct otlp_batch *b, uint8_t **out, size_t *out_len);

/** Little-endian helpers. */
static inline void store__put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void store__put64(uint8_t *p, uint64_t v)
{
	store__put32(p, (uint32_t)v);
	store__put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t store__get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t store__get64(const uint8_t *p)
{
	return (uint64_t)store__get32(p) | (uint64_t)store__get32(p + 4) << 32;
}

#endif /* TERN_STORE_RECORD_H */
