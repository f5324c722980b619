/*
 * internal.h: what the otlp_ sources share. Not installed, not for other
 * components.
 */
#ifndef TERN_OTLP_INTERNAL_H
#define TERN_OTLP_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "otlp.h"

/* Arena chunks start at 64 KiB and double up to 1 MiB. A request bigger
 * than a quarter of the current chunk size gets a chunk of its own. */
#define OTLP__CHUNK_MIN ((size_t)64 * 1024)
#define OTLP__CHUNK_MAX ((size_t)1024 * 1024)
#define OTLP__ALIGN (_Alignof(max_align_t))

struct otlp__chunk {
	struct otlp__chunk *next;
	size_t size; /* bytes of data[] */
	_Alignas(max_align_t) unsigned char data[];
};

struct otlp__attachment {
	struct otlp__attachment *next;
	void *buf;
	void (*free_fn)(void *);
};

struct otlp_batch_private {
	struct otlp__chunk *chunks; /* head: the chunk being bumped */
	unsigned char *cur, *end;   /* free space of the head chunk */
	size_t next_chunk;          /* size of the next regular chunk */
	size_t mem;                 /* arena bytes plus sized attachments */
	size_t budget;              /* 0, or mem may not grow past it */
	bool over_budget;           /* an allocation failed on the budget */
	struct otlp__attachment *attached;
};

/* A point in the arena that a failed or rejected decode can roll back to,
 * so rejected spans do not hold memory. */
struct otlp__mark {
	struct otlp__chunk *chunk;
	unsigned char *cur;
};

struct otlp__mark otlp__arena_mark(const struct otlp_batch *b);
/* Frees nothing, but makes the bytes allocated since m reusable when they
 * are all in the same chunk (the common case); zeroes them again. */
void otlp__arena_rewind(struct otlp_batch *b, struct otlp__mark m);

/* A decode call's allocation budget: the arena may grow by at most max
 * more bytes (0: no limit) until otlp__budget_end(). An allocation that
 * would pass it fails as out of memory does, and sets over_budget, which
 * the decoders turn into -EMSGSIZE. */
void otlp__budget_begin(struct otlp_batch *b, size_t max);
/* Lifts the budget; returns whether an allocation failed on it. */
bool otlp__budget_end(struct otlp_batch *b);

/* The limits a decode call works with: lim or the defaults, with
 * max_value_depth capped. */
void otlp__limits_resolve(struct otlp_limits *out, const struct otlp_limits *lim);

/*
 * Text fields. Makes *s valid UTF-8 without NUL: when it is not, copies it
 * into b's arena with each invalid sequence (maximal subpart) and each NUL
 * replaced by U+FFFD, and counts the replacements in b->n_replaced.
 * Returns 0 or -ENOMEM (*s unchanged).
 */
int otlp__text_clean(struct otlp_batch *b, struct otlp_bytes *s);

/*
 * Cuts a (valid UTF-8) name longer than max bytes at a character boundary
 * and ends it in U+2026, within max bytes; copies into b's arena and counts
 * it in b->n_truncated. max 0: no limit. Returns 0 or -ENOMEM.
 */
int otlp__name_cut(struct otlp_batch *b, struct otlp_bytes *s, size_t max);

/* max_value_depth is capped here: the decoders recurse once or twice per
 * level, and a limit set absurdly high must not let input overflow the
 * stack. */
#define OTLP__DEPTH_CAP 256u

/* snprintf into err if err is not NULL; returns rc. */
int otlp__err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* otlp_encode_proto() done with nanopb's pb_encode and callbacks: the
 * reference the tests and bench/codec compare the hand-written writer
 * with. Same contract as otlp_encode_proto(); -EINVAL if nanopb fails. */
int otlp__encode_proto_nanopb(const struct otlp_batch *b, uint8_t **out, size_t *out_len);

/* Why a span, scope or resource is rejected: buffers of this size. */
#define REJECT_LEN 200

/**
 * Notes the first reason something broke a limit: formats into reject
 * (REJECT_LEN bytes) unless it is NULL or already holds a reason. Both
 * decoders use it, so their messages read the same.
 */
void otlp__reject(char *reject, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* TERN_OTLP_INTERNAL_H */
