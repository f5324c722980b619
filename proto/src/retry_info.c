/*
 * retry_info.c: the retry delay a gRPC server asks for. A server that wants
 * a client to wait sends google.rpc.Status in the grpc-status-details-bin
 * trailer with a google.rpc.RetryInfo among its details; the OTLP spec
 * makes RESOURCE_EXHAUSTED retryable only when that is present.
 *
 * These three small messages (Status, Any, RetryInfo + Duration) are read
 * with a bounded field walk instead of nanopb: they are not part of OTLP's
 * protos, only four fields are wanted, and the walk checks every length
 * against the end of the buffer (the bytes come from the network).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "otlp.h"

typedef bool (*pb_field_fn)(uint32_t field, uint64_t v, const uint8_t *b, size_t n, void *arg);

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (*p >= end)
			return false;
		uint8_t c = *(*p)++;
		r |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static bool walk(const uint8_t *p, const uint8_t *end, pb_field_fn fn, void *arg)
{
	while (p < end) {
		uint64_t key, v = 0;
		const uint8_t *b = NULL;
		if (!varint(&p, end, &key) || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
			return false;
		switch (key & 7) {
		case 0:
			if (!varint(&p, end, &v))
				return false;
			break;
		case 1:
			if (end - p < 8)
				return false;
			p += 8;
			break;
		case 2:
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			b = p;
			p += v;
			break;
		case 5:
			if (end - p < 4)
				return false;
			p += 4;
			break;
		default:
			return false;
		}
		if (!fn((uint32_t)(key >> 3), v, b, b ? (size_t)v : 0, arg))
			return false;
	}
	return true;
}

struct ri {
	int64_t ms;
	const uint8_t *type, *val;
	size_t type_len, val_len;
	bool in_val;
};

static bool duration_fn(uint32_t f, uint64_t v, const uint8_t *b, size_t n, void *arg)
{
	int64_t *ms = arg;
	(void)n;
	if (b == NULL && f == 1 && v < 1000000000ull)
		*ms += (int64_t)v * 1000;
	else if (b == NULL && f == 2 && v < 1000000000ull)
		*ms += (int64_t)(v / 1000000);
	return true;
}

static bool retryinfo_fn(uint32_t f, uint64_t v, const uint8_t *b, size_t n, void *arg)
{
	(void)v;
	if (f == 1 && b != NULL) {
		int64_t *ms = arg;
		*ms = 0;
		return walk(b, b + n, duration_fn, ms);
	}
	return true;
}

static bool any_fn(uint32_t f, uint64_t v, const uint8_t *b, size_t n, void *arg)
{
	struct ri *r = arg;
	(void)v;
	if (f == 1 && b) {
		r->type = b;
		r->type_len = n;
	} else if (f == 2 && b) {
		r->val = b;
		r->val_len = n;
	}
	return true;
}

static bool status_fn(uint32_t f, uint64_t v, const uint8_t *b, size_t n, void *arg)
{
	struct ri *r = arg;
	(void)v;
	if (f != 3 || b == NULL)
		return true;
	r->type = r->val = NULL;
	r->type_len = r->val_len = 0;
	if (!walk(b, b + n, any_fn, r))
		return false;
	static const char want[] = "google.rpc.RetryInfo";
	size_t wl = sizeof(want) - 1;
	if (r->type && r->type_len >= wl && !memcmp(r->type + r->type_len - wl, want, wl)) {
		int64_t ms = 0;
		if (r->val && !walk(r->val, r->val + r->val_len, retryinfo_fn, &ms))
			return false;
		r->ms = ms;
	}
	return true;
}

int64_t otlp_retry_info_ms(const uint8_t *buf, size_t len)
{
	struct ri r = { .ms = -1 };
	if (buf == NULL || !walk(buf, buf + len, status_fn, &r))
		return -1;
	return r.ms;
}
