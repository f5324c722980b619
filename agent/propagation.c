/*
 * propagation.c: W3C trace context (traceparent, tracestate) and the
 * OpenTelemetry samplers.
 */
#include "internal.h"
#include "util/hex.h"

#include <errno.h>
#include <string.h>

/* W3C trace context: lowercase hex digits only. */
static bool parse_hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < 2 * n; i++)
		if (s[i] >= 'A' && s[i] <= 'F')
			return false;
	return util_hex_decode(out, n, s, 2 * n) == 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void trim_ows(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

int tern_traceparent_parse(const char *s, size_t len, struct tern_context *out)
{
	uint8_t ver, flags;
	memset(out, 0, sizeof *out - sizeof out->tracestate);
	out->tracestate[0] = '\0';
	if (s == NULL)
		return -EINVAL;
	trim_ows(&s, &len);
	if (len < 55 || !parse_hex(s, &ver, 1) || ver == 0xff)
		return -EINVAL;
	/* version 00 is exactly 55 chars; a later version may append
	 * fields after a '-', which we ignore. */
	if (ver == 0 && len != 55)
		return -EINVAL;
	if (len > 55 && s[55] != '-')
		return -EINVAL;
	if (s[2] != '-' || s[35] != '-' || s[52] != '-')
		return -EINVAL;
	if (!parse_hex(s + 3, out->trace_id, 16) || !parse_hex(s + 36, out->span_id, 8) ||
	    !parse_hex(s + 53, &flags, 1))
		return -EINVAL;
	if (all_zero(out->trace_id, 16) || all_zero(out->span_id, 8)) {
		memset(out->trace_id, 0, 16);
		memset(out->span_id, 0, 8);
		return -EINVAL;
	}
	out->flags = flags;
	out->valid = true;
	out->remote = true;
	return 0;
}

void tern_traceparent_format(const struct tern_context *ctx, char out[56])
{
	char *p = out;
	*p++ = '0';
	*p++ = '0';
	*p++ = '-';
	util_hex_encode(p, ctx->trace_id, 16); /* its NUL is overwritten */
	p += 32;
	*p++ = '-';
	util_hex_encode(p, ctx->span_id, 8);
	p += 16;
	*p++ = '-';
	/* version 00 defines only the sampled bit */
	*p++ = '0';
	*p++ = (ctx->flags & TERN_FLAG_SAMPLED) ? '1' : '0';
	*p = '\0';
}

static bool key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
	       c == '*' || c == '/';
}

/* simple-key: lcalpha 0*255(keychar)
 * multi-tenant-key: (lcalpha/DIGIT) 0*240(keychar) "@" lcalpha 0*13(keychar) */
static bool valid_key(const char *k, size_t n)
{
	if (n == 0 || n > 256)
		return false;
	const char *at = memchr(k, '@', n);
	if (at == NULL) {
		if (!(k[0] >= 'a' && k[0] <= 'z'))
			return false;
		for (size_t i = 1; i < n; i++)
			if (!key_char(k[i]))
				return false;
		return true;
	}
	size_t tn = (size_t)(at - k), sn = n - tn - 1;
	if (tn == 0 || tn > 241 || sn == 0 || sn > 14)
		return false;
	if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= '0' && k[0] <= '9')))
		return false;
	for (size_t i = 1; i < tn; i++)
		if (!key_char(k[i]))
			return false;
	if (!(at[1] >= 'a' && at[1] <= 'z'))
		return false;
	for (size_t i = 1; i < sn; i++)
		if (!key_char(at[1 + i]))
			return false;
	return true;
}

/* value: 0*255(chr) nblk-chr; chr = %x20 / nblk-chr;
 * nblk-chr = %x21-2B / %x2D-3C / %x3E-7E */
static bool valid_value(const char *v, size_t n)
{
	if (n == 0 || n > 256 || v[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c < 0x20 || c > 0x7e || c == ',' || c == '=')
			return false;
	}
	return true;
}

int tern_tracestate_parse(const char *s, size_t len, char *out, size_t outsz)
{
	struct {
		const char *k;
		size_t n;
	} keys[32];
	size_t nkeys = 0, o = 0;
	if (outsz == 0)
		return -EINVAL;
	out[0] = '\0';
	size_t i = 0;
	while (i <= len) {
		size_t j = i;
		while (j < len && s[j] != ',')
			j++;
		const char *m = s + i;
		size_t mn = j - i;
		trim_ows(&m, &mn);
		if (mn > 0) {
			const char *eq = memchr(m, '=', mn);
			if (eq == NULL)
				return -EINVAL;
			size_t kn = (size_t)(eq - m);
			if (!valid_key(m, kn) || !valid_value(eq + 1, mn - kn - 1))
				return -EINVAL;
			if (nkeys == 32)
				return -EINVAL; /* more than 32 list-members */
			for (size_t q = 0; q < nkeys; q++)
				if (keys[q].n == kn && memcmp(keys[q].k, m, kn) == 0)
					return -EINVAL; /* duplicate key */
			keys[nkeys].k = m;
			keys[nkeys].n = kn;
			nkeys++;
			size_t need = (o ? 1 : 0) + mn;
			if (o + need >= outsz)
				return -EINVAL;
			if (o)
				out[o++] = ',';
			memcpy(out + o, m, mn);
			o += mn;
			out[o] = '\0';
		}
		i = j + 1;
	}
	return (int)o;
}

void tern_inject(const struct tern_context *ctx, tern_setter_fn set, void *carrier)
{
	if (ctx == NULL || !ctx->valid)
		return;
	char tp[56];
	tern_traceparent_format(ctx, tp);
	set(carrier, "traceparent", tp);
	if (ctx->tracestate_len > 0)
		set(carrier, "tracestate", ctx->tracestate);
}

int tern_extract(tern_getter_fn get, void *carrier, struct tern_context *out)
{
	const char *tp = get(carrier, "traceparent");
	if (tp == NULL || tern_traceparent_parse(tp, strlen(tp), out) != 0) {
		memset(out, 0, sizeof *out - sizeof out->tracestate);
		out->tracestate[0] = '\0';
		return -EINVAL;
	}
	const char *ts = get(carrier, "tracestate");
	if (ts != NULL) {
		int n = tern_tracestate_parse(ts, strlen(ts), out->tracestate,
					      sizeof out->tracestate);
		/* A tracestate we cannot parse is not propagated (W3C). */
		out->tracestate_len = n > 0 ? (uint16_t)n : 0;
		if (n <= 0)
			out->tracestate[0] = '\0';
	}
	return 0;
}

/*
 * TraceIdRatioBased: the specification leaves the algorithm open; this is
 * the Go SDK's (also Ruby's and Perl's): the rightmost 8 bytes of the trace
 * id, big-endian, shifted right by one, against ratio * 2^63. Deterministic,
 * and monotonic in the ratio.
 */
static bool ratio_sample(double ratio, const uint8_t trace_id[16])
{
	if (ratio >= 1)
		return true;
	if (!(ratio > 0))
		return false;
	uint64_t bound = (uint64_t)(ratio * 9223372036854775808.0);
	uint64_t x = 0;
	for (int i = 8; i < 16; i++)
		x = x << 8 | trace_id[i];
	return (x >> 1) < bound;
}

bool tern_sampler_should_sample(enum tern_sampler sampler, double arg,
				const uint8_t trace_id[16], const struct tern_context *parent)
{
	bool has_parent = parent != NULL && parent->valid;
	switch (sampler) {
	case TERN_SAMPLER_ALWAYS_ON:
		return true;
	case TERN_SAMPLER_ALWAYS_OFF:
		return false;
	case TERN_SAMPLER_TRACEIDRATIO:
		return ratio_sample(arg, trace_id);
	/* ParentBased with the default delegates: a parent (remote or local)
	 * decides by its sampled flag; a root goes to the root sampler. */
	case TERN_SAMPLER_PARENTBASED_ALWAYS_ON:
		return has_parent ? (parent->flags & TERN_FLAG_SAMPLED) != 0 : true;
	case TERN_SAMPLER_PARENTBASED_ALWAYS_OFF:
		return has_parent ? (parent->flags & TERN_FLAG_SAMPLED) != 0 : false;
	case TERN_SAMPLER_PARENTBASED_TRACEIDRATIO:
		return has_parent ? (parent->flags & TERN_FLAG_SAMPLED) != 0
				  : ratio_sample(arg, trace_id);
	}
	return false;
}
