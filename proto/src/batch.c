/*
 * batch.c: the batch arena (a chunked bump allocator) and small helpers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct batch_alloc {
	struct otlp_batch b;
	struct otlp_batch_private p;
};

void otlp_limits_default(struct otlp_limits *lim)
{
	lim->max_request_bytes = (size_t)64 * 1024 * 1024;
	lim->max_attrs_per_span = 128;
	lim->max_attr_value_bytes = (size_t)1024 * 1024;
	lim->max_value_depth = 16;
	lim->max_events_per_span = 1024;
	lim->max_links_per_span = 1024;
	lim->max_attrs_per_event = 128;
	lim->max_name_bytes = 1024;
	lim->max_decoded_bytes = (size_t)256 * 1024 * 1024;
}

void otlp__limits_resolve(struct otlp_limits *out, const struct otlp_limits *lim)
{
	if (lim == NULL)
		otlp_limits_default(out);
	else
		*out = *lim;
	if (out->max_value_depth > OTLP__DEPTH_CAP)
		out->max_value_depth = OTLP__DEPTH_CAP;
}

void otlp__budget_begin(struct otlp_batch *b, size_t max)
{
	struct otlp_batch_private *p = b->_priv;
	p->over_budget = false;
	p->budget = max == 0 ? 0 : p->mem + max < p->mem ? SIZE_MAX : p->mem + max;
}

bool otlp__budget_end(struct otlp_batch *b)
{
	struct otlp_batch_private *p = b->_priv;
	bool over = p->over_budget;
	p->budget = 0;
	p->over_budget = false;
	return over;
}

/* Whether the arena may grow by n more bytes. */
static bool budget_allows(struct otlp_batch_private *p, size_t n)
{
	if (p->budget == 0 || (p->mem <= p->budget && n <= p->budget - p->mem))
		return true;
	p->over_budget = true;
	return false;
}

struct otlp_batch *otlp_batch_new(void)
{
	struct batch_alloc *ba = calloc(1, sizeof *ba);
	if (ba == NULL)
		return NULL;
	ba->b._priv = &ba->p;
	ba->p.next_chunk = OTLP__CHUNK_MIN;
	ba->p.mem = sizeof *ba;
	return &ba->b;
}

void otlp_batch_free(struct otlp_batch *b)
{
	if (b == NULL)
		return;
	struct otlp_batch_private *p = b->_priv;
	if (p != NULL) {
		/* Attachment records live in the arena: free buffers first. */
		for (struct otlp__attachment *a = p->attached; a; a = a->next)
			a->free_fn(a->buf);
		struct otlp__chunk *c = p->chunks;
		while (c != NULL) {
			struct otlp__chunk *next = c->next;
			free(c);
			c = next;
		}
	}
	free(b);
}

static size_t align_up(size_t n)
{
	return (n + OTLP__ALIGN - 1) & ~(OTLP__ALIGN - 1);
}

static void *alloc_slow(struct otlp_batch_private *p, size_t n)
{
	size_t size = p->next_chunk;
	if (n > size / 4) {
		/* A big object gets its own chunk, linked behind the head so
		 * the head's free space stays usable. */
		if (n > SIZE_MAX - sizeof(struct otlp__chunk) ||
		    !budget_allows(p, sizeof(struct otlp__chunk) + n))
			return NULL;
		struct otlp__chunk *c = calloc(1, sizeof *c + n);
		if (c == NULL)
			return NULL;
		c->size = n;
		p->mem += sizeof *c + n;
		if (p->chunks != NULL) {
			c->next = p->chunks->next;
			p->chunks->next = c;
		} else {
			c->next = NULL;
			p->chunks = c;
			p->cur = p->end = c->data + n;
		}
		return c->data;
	}
	if (!budget_allows(p, sizeof(struct otlp__chunk) + size))
		return NULL;
	struct otlp__chunk *c = calloc(1, sizeof *c + size);
	if (c == NULL)
		return NULL;
	c->size = size;
	c->next = p->chunks;
	p->chunks = c;
	p->cur = c->data + n;
	p->end = c->data + size;
	p->mem += sizeof *c + size;
	if (p->next_chunk < OTLP__CHUNK_MAX)
		p->next_chunk *= 2;
	return c->data;
}

void *otlp_batch_alloc(struct otlp_batch *b, size_t n)
{
	struct otlp_batch_private *p = b->_priv;
	if (n > SIZE_MAX - OTLP__ALIGN)
		return NULL;
	n = align_up(n ? n : 1);
	if ((size_t)(p->end - p->cur) >= n) {
		void *r = p->cur;
		p->cur += n;
		return r;
	}
	return alloc_slow(p, n);
}

struct otlp_bytes otlp_batch_strdup(struct otlp_batch *b, const void *s, size_t len)
{
	struct otlp_bytes r = { NULL, 0 };
	if (len == 0)
		return r;
	uint8_t *d = otlp_batch_alloc(b, len);
	if (d == NULL)
		return r;
	memcpy(d, s, len);
	r.ptr = d;
	r.len = len;
	return r;
}

int otlp_batch_attach_sized(struct otlp_batch *b, void *buf, size_t size,
			    void (*free_fn)(void *))
{
	struct otlp__attachment *a = otlp_batch_alloc(b, sizeof *a);
	if (a == NULL)
		return -ENOMEM;
	a->buf = buf;
	a->free_fn = free_fn;
	a->next = b->_priv->attached;
	b->_priv->attached = a;
	b->_priv->mem += size;
	return 0;
}

int otlp_batch_attach(struct otlp_batch *b, void *buf, void (*free_fn)(void *))
{
	return otlp_batch_attach_sized(b, buf, 0, free_fn);
}

size_t otlp_batch_mem(const struct otlp_batch *b)
{
	return b->_priv->mem;
}

struct otlp__mark otlp__arena_mark(const struct otlp_batch *b)
{
	struct otlp__mark m = { b->_priv->chunks, b->_priv->cur };
	return m;
}

void otlp__arena_rewind(struct otlp_batch *b, struct otlp__mark m)
{
	struct otlp_batch_private *p = b->_priv;
	/* Only when the head chunk is still the one we marked (a big object
	 * chunk linked behind it is kept: it is rare and freed with b). */
	if (m.chunk == NULL || m.chunk != p->chunks)
		return;
	memset(m.cur, 0, (size_t)(p->cur - m.cur));
	p->cur = m.cur;
}

int otlp__err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err != NULL && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

const struct otlp_any *otlp_attrs_find(const struct otlp_attrs *a, const char *key)
{
	size_t klen = strlen(key);
	for (const struct otlp_kv *kv = a->head; kv != NULL; kv = kv->next)
		if (kv->key.len == klen && memcmp(kv->key.ptr, key, klen) == 0)
			return kv->value.type == OTLP_VALUE_STRING ? &kv->value : NULL;
	return NULL;
}

void otlp__reject(char *reject, const char *fmt, ...)
{
	if (reject == NULL || reject[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reject, REJECT_LEN, fmt, ap);
	va_end(ap);
	if (reject[0] == '\0')
		reject[0] = '?';
}
