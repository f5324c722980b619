/* W3C trace context parsing (vectors from the W3C spec and its test suite)
 * and the OpenTelemetry samplers. */
#include "harness.h"
#include "tern.h"
#include "util/hash.h"

#include <errno.h>
#include <strings.h>

#define TP_OK "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static int tp(const char *s, struct tern_context *c)
{
	return tern_traceparent_parse(s, strlen(s), c);
}

TEST(traceparent_valid)
{
	struct tern_context c;
	ASSERT_OK(tp(TP_OK, &c));
	ASSERT(c.valid && c.remote);
	ASSERT_EQ(c.trace_id[0], 0x4b);
	ASSERT_EQ(c.trace_id[15], 0x36);
	ASSERT_EQ(c.span_id[0], 0x00);
	ASSERT_EQ(c.span_id[7], 0xb7);
	ASSERT_EQ(c.flags, 1);
	char out[56];
	tern_traceparent_format(&c, out);
	ASSERT_STR_EQ(out, TP_OK);
	ASSERT_OK(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &c));
	ASSERT_EQ(c.flags, 0);
	/* optional whitespace around the value */
	ASSERT_OK(tp(" \t" TP_OK "\t ", &c));
	/* a future version may append fields after '-' */
	ASSERT_OK(tp("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like", &c));
	ASSERT_OK(tp("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", &c));
	tern_traceparent_format(&c, out);
	ASSERT_STR_EQ(out, TP_OK); /* we speak version 00: only the sampled bit */
}

TEST(traceparent_invalid)
{
	static const char *const bad[] = {
		"",
		"00",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace id */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero span id */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* uppercase */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* v00 is exactly 55 */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",    /* short trace id */
		"00-4bf92f3577b34da6a3ce929d0e0e47366-0f067aa0ba902b7-01",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"0-04bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what", /* no '-' after */
		"g0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct tern_context c;
		c.valid = true;
		if (tp(bad[i], &c) != -EINVAL)
			TEST__FAIL("accepted invalid traceparent %zu: \"%s\"", i, bad[i]);
		ASSERT_FALSE(c.valid);
	}
}

static int ts(const char *s, char *out, size_t n)
{
	return tern_tracestate_parse(s, strlen(s), out, n);
}

TEST(tracestate)
{
	char out[512];
	ASSERT_EQ(ts("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", out, sizeof out), 39);
	ASSERT_STR_EQ(out, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
	/* OWS and empty members are removed */
	ASSERT_GT(ts(" rojo=1 ,\t, congo=2 ", out, sizeof out), 0);
	ASSERT_STR_EQ(out, "rojo=1,congo=2");
	ASSERT_GT(ts("tenant@system=x,a-b_c*d/e=v w", out, sizeof out), 0);
	ASSERT_STR_EQ(out, "tenant@system=x,a-b_c*d/e=v w");
	ASSERT_EQ(ts("", out, sizeof out), 0);
	static const char *const bad[] = {
		"Rojo=1",        /* uppercase key */
		"1rojo=1",       /* simple key must start with a letter */
		"rojo",          /* no '=' */
		"rojo=",         /* empty value */
		"rojo=a,rojo=b", /* duplicate key */
		"rojo=a=b",      /* '=' in value */
		"rojo=a ,x=\x01",
		"t@=x",          /* empty system id */
		"@s=x",
		"t@Sys=x",
		"t@abcdefghijklmno=x", /* system id longer than 14 */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		if (ts(bad[i], out, sizeof out) != -EINVAL)
			TEST__FAIL("accepted invalid tracestate %zu: \"%s\"", i, bad[i]);
	/* 32 members are fine, 33 are not */
	char big[1024] = "";
	for (int i = 0; i < 33; i++) {
		char m[16];
		snprintf(m, sizeof m, "%sk%d=v", i ? "," : "", i);
		strcat(big, m);
		int rc = ts(big, out, sizeof out);
		if (i < 32)
			ASSERT_GT(rc, 0);
		else
			ASSERT_EQ(rc, -EINVAL);
	}
	/* a key of 256 chars is fine, 257 is not */
	char key[300];
	memset(key, 'a', 257);
	strcpy(key + 256, "=v");
	ASSERT_GT(ts(key, big, sizeof big), 0);
	memset(key, 'a', 257);
	strcpy(key + 257, "=v");
	ASSERT_EQ(ts(key, big, sizeof big), -EINVAL);
}

struct hdrs {
	const char *name[4];
	char value[4][600];
	int n;
};

static const char *get_h(void *carrier, const char *name)
{
	struct hdrs *h = carrier;
	for (int i = 0; i < h->n; i++)
		if (strcasecmp(h->name[i], name) == 0)
			return h->value[i];
	return NULL;
}

static void set_h(void *carrier, const char *name, const char *value)
{
	struct hdrs *h = carrier;
	h->name[h->n] = name;
	snprintf(h->value[h->n], sizeof h->value[0], "%s", value);
	h->n++;
}

TEST(inject_extract_roundtrip)
{
	struct hdrs in = { { "TraceParent", "tracestate" },
			   { TP_OK, "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7" }, 2 };
	struct tern_context c;
	ASSERT_OK(tern_extract(get_h, &in, &c));
	ASSERT_STR_EQ(c.tracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
	struct hdrs out = { .n = 0 };
	tern_inject(&c, set_h, &out);
	ASSERT_EQ(out.n, 2);
	ASSERT_STR_EQ(get_h(&out, "traceparent"), TP_OK);
	ASSERT_STR_EQ(get_h(&out, "tracestate"), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");

	/* invalid tracestate alone: context kept, tracestate dropped */
	struct hdrs in2 = { { "traceparent", "tracestate" }, { TP_OK, "Bad Key=1" }, 2 };
	ASSERT_OK(tern_extract(get_h, &in2, &c));
	ASSERT(c.valid);
	ASSERT_EQ(c.tracestate_len, 0);
	/* invalid traceparent: everything ignored */
	struct hdrs in3 = { { "traceparent", "tracestate" }, { "00-xyz", "a=1" }, 2 };
	ASSERT_EQ(tern_extract(get_h, &in3, &c), -EINVAL);
	ASSERT_FALSE(c.valid);
	struct hdrs none = { .n = 0 };
	ASSERT_EQ(tern_extract(get_h, &none, &c), -EINVAL);
	out.n = 0;
	tern_inject(&c, set_h, &out);
	ASSERT_EQ(out.n, 0);
}

static void id_from(uint8_t id[16], uint64_t lo)
{
	memset(id, 0xab, 8);
	for (int i = 0; i < 8; i++)
		id[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
}

TEST(samplers)
{
	uint8_t id[16];
	id_from(id, 0);
	ASSERT(tern_sampler_should_sample(TERN_SAMPLER_ALWAYS_ON, 0, id, NULL));
	ASSERT(!tern_sampler_should_sample(TERN_SAMPLER_ALWAYS_OFF, 1, id, NULL));
	/* traceidratio: rightmost 8 bytes >> 1 against ratio * 2^63 */
	id_from(id, 0x7fffffffffffffffull); /* x = 2^62 - 1 */
	ASSERT(tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, 0.5, id, NULL));
	id_from(id, 0x8000000000000000ull); /* x = 2^62 */
	ASSERT(!tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, 0.5, id, NULL));
	ASSERT(tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, 0.51, id, NULL));
	ASSERT(!tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, 0, id, NULL));
	id_from(id, UINT64_MAX);
	ASSERT(tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, 1, id, NULL));
	/* the fraction sampled matches the ratio, and is monotonic */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int n25 = 0, n50 = 0, mono = 1;
	for (int i = 0; i < 100000; i++) {
		id_from(id, util_splitmix64(&x));
		bool a = tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, 0.25, id, NULL);
		bool b = tern_sampler_should_sample(TERN_SAMPLER_TRACEIDRATIO, 0.5, id, NULL);
		n25 += a;
		n50 += b;
		if (a && !b)
			mono = 0;
	}
	ASSERT(mono);
	ASSERT_NEAR(n25, 25000, 700);
	ASSERT_NEAR(n50, 50000, 700);
	/* parent based: the parent's flag wins over the root sampler */
	struct tern_context p;
	ASSERT_OK(tp(TP_OK, &p));
	ASSERT(tern_sampler_should_sample(TERN_SAMPLER_PARENTBASED_ALWAYS_OFF, 0, id, &p));
	ASSERT(tern_sampler_should_sample(TERN_SAMPLER_PARENTBASED_TRACEIDRATIO, 0, id, &p));
	ASSERT_OK(tp("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", &p));
	ASSERT(!tern_sampler_should_sample(TERN_SAMPLER_PARENTBASED_ALWAYS_ON, 1, id, &p));
	ASSERT(!tern_sampler_should_sample(TERN_SAMPLER_PARENTBASED_TRACEIDRATIO, 1, id, &p));
	ASSERT(tern_sampler_should_sample(TERN_SAMPLER_PARENTBASED_ALWAYS_ON, 0, id, NULL));
	ASSERT(!tern_sampler_should_sample(TERN_SAMPLER_PARENTBASED_ALWAYS_OFF, 1, id, NULL));
}

TEST_MAIN(TEST_ENTRY(traceparent_valid), TEST_ENTRY(traceparent_invalid),
	  TEST_ENTRY(tracestate), TEST_ENTRY(inject_extract_roundtrip), TEST_ENTRY(samplers))
