/* Unit tests of the relative-error sketch against exact percentiles. */
#include "harness.h"
#include "tern_sketch.h"

#include <errno.h>
#include <math.h>

static uint64_t rs = 88172645463325252ull;
static double rnd(void) /* uniform (0,1) */
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The value of rank floor(q*(n-1)) of the sorted data: what the sketch
 * approximates. */
static double exact(const double *v, size_t n, double q)
{
	return v[(size_t)(q * (double)(n - 1))];
}

#define N 200000
static double data[N];

static void check_accuracy(const double *v, size_t n, struct tern_sketch *s)
{
	static const double qs[] = { 0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1 };
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		double e = exact(v, n, qs[i]);
		double got = tern_sketch_quantile(s, qs[i]);
		ASSERT_NEAR(got, e, 0.01 * e + 1e-12);
	}
}

TEST(accuracy_lognormal)
{
	struct tern_sketch *s = tern_sketch_new(0, 0);
	ASSERT((s) != NULL);
	for (size_t i = 0; i < N; i++) {
		/* latencies: lognormal around 1 ms, spread over 6 decades */
		double z = sqrt(-2 * log(rnd())) * cos(2 * M_PI * rnd());
		data[i] = exp(log(1e6) + 2.0 * z);
		ASSERT_OK(tern_sketch_add(s, data[i]));
	}
	qsort(data, N, sizeof data[0], cmp_d);
	check_accuracy(data, N, s);
	ASSERT_EQ_U(tern_sketch_count(s), N);
	ASSERT_EQ(tern_sketch_min(s) == data[0], 1);
	ASSERT_EQ(tern_sketch_max(s) == data[N - 1], 1);
	ASSERT_EQ_U(tern_sketch_collapsed(s), 0);
	tern_sketch_free(s);
}

TEST(accuracy_uniform_and_zeroes)
{
	struct tern_sketch *s = tern_sketch_new(0.01, 0);
	size_t n = 50000;
	for (size_t i = 0; i < n; i++) {
		data[i] = i < 1000 ? 0 : 1 + rnd() * 1000;
		ASSERT_OK(tern_sketch_add(s, data[i]));
	}
	qsort(data, n, sizeof data[0], cmp_d);
	check_accuracy(data, n, s);
	ASSERT_NEAR(tern_sketch_quantile(s, 0), 0, 0);
	tern_sketch_free(s);
}

TEST(merge_equals_union)
{
	struct tern_sketch *a = tern_sketch_new(0, 0), *b = tern_sketch_new(0, 0),
			   *u = tern_sketch_new(0, 0);
	for (int i = 0; i < 10000; i++) {
		double x = 10 + rnd() * 100, y = 1e5 * rnd() + 1;
		tern_sketch_add(a, x);
		tern_sketch_add(u, x);
		tern_sketch_add(b, y);
		tern_sketch_add(u, y);
	}
	ASSERT_OK(tern_sketch_merge(a, b));
	ASSERT_EQ_U(tern_sketch_count(a), tern_sketch_count(u));
	for (double q = 0; q <= 1.0; q += 0.05)
		ASSERT_EQ(tern_sketch_quantile(a, q) == tern_sketch_quantile(u, q), 1);
	ASSERT_NEAR(tern_sketch_sum(a), tern_sketch_sum(u), 1e-6 * tern_sketch_sum(u));
	struct tern_sketch *c = tern_sketch_new(0.02, 0);
	ASSERT_EQ(tern_sketch_merge(a, c), -EINVAL);
	tern_sketch_free(a);
	tern_sketch_free(b);
	tern_sketch_free(u);
	tern_sketch_free(c);
}

TEST(bounded_memory_collapses_lowest)
{
	struct tern_sketch *s = tern_sketch_new(0.01, 64);
	ASSERT((s) != NULL);
	/* 1e-3 .. 1e9 needs ~1400 buckets at 1%: only 64 are kept */
	for (int i = 0; i < 10000; i++)
		ASSERT_OK(tern_sketch_add(s, pow(10, -3 + 12 * rnd())));
	ASSERT_OK(tern_sketch_add_n(s, 5e8, 100000));
	ASSERT_GT(tern_sketch_collapsed(s), 0);
	/* the top stays accurate */
	ASSERT_NEAR(tern_sketch_quantile(s, 0.99), 5e8, 0.01 * 5e8);
	uint8_t *buf;
	size_t len;
	ASSERT_OK(tern_sketch_serialize(s, &buf, &len));
	ASSERT_LE_U(len, 64 * 10 + 100);
	free(buf);
	tern_sketch_free(s);
}

TEST(serialize_roundtrip)
{
	struct tern_sketch *s = tern_sketch_new(0, 0), *e = tern_sketch_new(0, 0), *r = NULL;
	for (int i = 0; i < 5000; i++)
		tern_sketch_add(s, rnd() * 1e7);
	tern_sketch_add(s, 0);
	uint8_t *buf;
	size_t len;
	ASSERT_OK(tern_sketch_serialize(s, &buf, &len));
	ASSERT_OK(tern_sketch_deserialize(buf, len, &r));
	ASSERT_EQ_U(tern_sketch_count(r), tern_sketch_count(s));
	for (double q = 0; q <= 1.0; q += 0.01)
		ASSERT_EQ(tern_sketch_quantile(r, q) == tern_sketch_quantile(s, q), 1);
	/* every truncation is rejected, never read past the end */
	for (size_t i = 0; i < len; i++) {
		struct tern_sketch *t = NULL;
		ASSERT_EQ(tern_sketch_deserialize(buf, i, &t), -EINVAL);
		ASSERT((t) == NULL);
	}
	/* a corrupted count does not pass the consistency check */
	buf[len - 1] ^= 0x01;
	struct tern_sketch *t = NULL;
	ASSERT_EQ(tern_sketch_deserialize(buf, len, &t), -EINVAL);
	free(buf);
	/* empty sketch */
	ASSERT_OK(tern_sketch_serialize(e, &buf, &len));
	tern_sketch_free(r);
	ASSERT_OK(tern_sketch_deserialize(buf, len, &r));
	ASSERT_EQ_U(tern_sketch_count(r), 0);
	ASSERT(isnan(tern_sketch_quantile(r, 0.5)));
	free(buf);
	tern_sketch_free(r);
	tern_sketch_free(s);
	tern_sketch_free(e);
}

TEST(edge_cases)
{
	ASSERT((tern_sketch_new(0.6, 0)) == NULL);
	ASSERT((tern_sketch_new(0.01, 8)) == NULL);
	struct tern_sketch *s = tern_sketch_new(0, 0);
	ASSERT_EQ(tern_sketch_add(s, NAN), -EINVAL);
	ASSERT(isnan(tern_sketch_quantile(s, 0.5)));
	ASSERT_OK(tern_sketch_add(s, -5)); /* clamped to 0 */
	ASSERT_OK(tern_sketch_add(s, 1e300));
	ASSERT_OK(tern_sketch_add(s, 1e-300));
	ASSERT_EQ_U(tern_sketch_count(s), 3);
	ASSERT(isnan(tern_sketch_quantile(s, 1.5)));
	ASSERT_NEAR(tern_sketch_quantile(s, 1), 1e300, 1e298);
	tern_sketch_reset(s);
	ASSERT_EQ_U(tern_sketch_count(s), 0);
	ASSERT_OK(tern_sketch_add_n(s, 42, 0));
	ASSERT_EQ_U(tern_sketch_count(s), 0);
	ASSERT_OK(tern_sketch_add(s, 42));
	ASSERT_NEAR(tern_sketch_quantile(s, 0.5), 42, 0);
	tern_sketch_free(s);
	tern_sketch_free(NULL);
}

/* Issue 15: an accuracy so small that gamma rounds to 1 (from a
 * deserialised sketch: tests/fuzz/corpus/tern_sketch/lf-da08a6a...) made
 * log(1) * inf a NaN converted to int. Such a sketch is refused. */
TEST(accuracy_too_small_is_refused)
{
	ASSERT((tern_sketch_new(1e-104, 0)) == NULL);
	ASSERT((tern_sketch_new(1e-17, 0)) == NULL);
	struct tern_sketch *s = tern_sketch_new(1e-9, 0); /* still usable */
	ASSERT(s != NULL);
	ASSERT_OK(tern_sketch_add(s, 1.0));
	ASSERT_OK(tern_sketch_add(s, 1e9));
	ASSERT_EQ_U(tern_sketch_count(s), 2);
	tern_sketch_free(s);
	static const uint8_t in[] = {
		0x54, 0x53, 0x4b, 0x01, 0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xa9, 0x2a,
		0x10, 0x05, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x80, 0x00, 0x00,
	};
	struct tern_sketch *d = NULL;
	ASSERT(tern_sketch_deserialize(in, sizeof in, &d) != 0);
	ASSERT(d == NULL);
}

TEST_MAIN(TEST_ENTRY(accuracy_lognormal), TEST_ENTRY(accuracy_uniform_and_zeroes),
	  TEST_ENTRY(merge_equals_union), TEST_ENTRY(bounded_memory_collapses_lowest),
	  TEST_ENTRY(serialize_roundtrip), TEST_ENTRY(edge_cases),
	  TEST_ENTRY(accuracy_too_small_is_refused))
