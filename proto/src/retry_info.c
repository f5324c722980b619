/*
 * retry_info.c: the retry delay a gRPC server asks for, read and written. A
 * server that wants a client to wait sends google.rpc.Status in the
 * grpc-status-details-bin trailer with a google.rpc.RetryInfo among its
 * details; the OTLP spec makes RESOURCE_EXHAUSTED retryable only when that
 * is present.
 *
 * These small messages (Status, Any, RetryInfo + Duration) are read with a
 * bounded field walk instead of nanopb: they are not part of OTLP's
 * protos, only four fields are wanted, and the walk checks every length
 * against the end of the buffer (the bytes come from the network). They
 * are written by hand for the same reason: three nested messages, no
 * repeated fields.
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

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

size_t otlp_encode_retry_status(uint8_t *buf, size_t cap, int32_t code, const char *msg,
				size_t msg_len, uint32_t delay_ms)
{
	static const char type_url[] = "type.googleapis.com/google.rpc.RetryInfo";
	if (cap < OTLP_RETRY_STATUS_OVERHEAD + msg_len)
		return 0;
	uint8_t dur[24], info[32], any[128];
	size_t nd = 0, ni = 0, na = 0, n = 0;
	dur[nd++] = 0x08; /* Duration.seconds */
	nd += put_varint(dur + nd, delay_ms / 1000);
	dur[nd++] = 0x10; /* Duration.nanos */
	nd += put_varint(dur + nd, (uint64_t)(delay_ms % 1000) * 1000000);
	info[ni++] = 0x0a; /* RetryInfo.retry_delay */
	ni += put_varint(info + ni, nd);
	memcpy(info + ni, dur, nd);
	ni += nd;
	any[na++] = 0x0a; /* Any.type_url */
	na += put_varint(any + na, sizeof(type_url) - 1);
	memcpy(any + na, type_url, sizeof(type_url) - 1);
	na += sizeof(type_url) - 1;
	any[na++] = 0x12; /* Any.value */
	na += put_varint(any + na, ni);
	memcpy(any + na, info, ni);
	na += ni;
	buf[n++] = 0x08; /* Status.code */
	n += put_varint(buf + n, (uint64_t)(uint32_t)code);
	buf[n++] = 0x12; /* Status.message */
	n += put_varint(buf + n, msg_len);
	memcpy(buf + n, msg, msg_len);
	n += msg_len;
	buf[n++] = 0x1a; /* Status.details */
	n += put_varint(buf + n, na);
	memcpy(buf + n, any, na);
	return n + na;
}
