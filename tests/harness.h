/*
 * harness.h: tern's test harness. Typed asserts that print both sides, and
 * a tiny test list. Header-only so each test executable stays one file.
 *
 *   TEST(decode_empty) { ASSERT_EQ_INT(otlp_decode_proto(...), 0); }
 *   TEST_MAIN(TEST_ENTRY(decode_empty), TEST_ENTRY(other))
 *
 * Each test runs in order; the first failed assert prints file, line, the
 * expression and both values, and the executable exits 1 after the rest
 * of that test is skipped. `./unit-x NAME` runs one test.
 */
#ifndef TERN_TESTS_HARNESS_H
#define TERN_TESTS_HARNESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_entry {
	const char *name;
	void (*fn)(void);
};

static int test__failed;
static bool test__current_failed;

#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) { #name, test_##name }

#define TEST__FAIL(...)                                                    \
	do {                                                               \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);            \
		fprintf(stderr, __VA_ARGS__);                              \
		fputc('\n', stderr);                                       \
		test__current_failed = true;                               \
		return;                                                    \
	} while (0)

/* The asserts return from the test function on failure. Use them only in
 * the TEST body or in a helper returning void (then check
 * TEST_FAILED() after calling it). */
#define TEST_FAILED() (test__current_failed)

#define ASSERT(expr)                                                       \
	do {                                                               \
		if (!(expr))                                               \
			TEST__FAIL("assertion failed: %s", #expr);         \
	} while (0)

#define ASSERT__CMP(a, op, b, type, fmt)                                   \
	do {                                                               \
		type a_ = (type)(a);                                        \
		type b_ = (type)(b);                                        \
		if (!(a_ op b_))                                           \
			TEST__FAIL("%s %s %s: " fmt " vs " fmt, #a, #op, #b,  \
				   a_, b_);                                \
	} while (0)

#define ASSERT_EQ(a, b) ASSERT__CMP(a, ==, b, int64_t, "%" PRId64)
#define ASSERT_NE(a, b) ASSERT__CMP(a, !=, b, int64_t, "%" PRId64)
#define ASSERT_LT(a, b) ASSERT__CMP(a, <, b, int64_t, "%" PRId64)
#define ASSERT_LE(a, b) ASSERT__CMP(a, <=, b, int64_t, "%" PRId64)
#define ASSERT_GT(a, b) ASSERT__CMP(a, >, b, int64_t, "%" PRId64)
#define ASSERT_GE(a, b) ASSERT__CMP(a, >=, b, int64_t, "%" PRId64)
#define ASSERT_EQ_U(a, b) ASSERT__CMP(a, ==, b, uint64_t, "%" PRIu64)
#define ASSERT_LE_U(a, b) ASSERT__CMP(a, <=, b, uint64_t, "%" PRIu64)
#define ASSERT_GE_U(a, b) ASSERT__CMP(a, >=, b, uint64_t, "%" PRIu64)
#define ASSERT_OK(a) ASSERT__CMP(a, ==, 0, int64_t, "%" PRId64)
#define ASSERT_NULL(a) ASSERT__CMP(a, ==, NULL, const void *, "%p")
#define ASSERT_NOT_NULL(a) ASSERT__CMP(a, !=, NULL, const void *, "%p")
#define ASSERT_TRUE(a) ASSERT(a)
#define ASSERT_FALSE(a) ASSERT(!(a))

#define ASSERT_NEAR(a, b, eps)                                             \
	do {                                                               \
		double a_ = (double)(a), b_ = (double)(b), e_ = (eps);     \
		if (!(a_ - b_ <= e_ && b_ - a_ <= e_))                     \
			TEST__FAIL("%s ~ %s (eps %g): %.9g vs %.9g", #a, #b, \
				   e_, a_, b_);                            \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                                \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)       \
			TEST__FAIL("%s == %s: \"%s\" vs \"%s\"", #a, #b,   \
				   a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

/* Compares a length-delimited byte string with a C string. */
#define ASSERT_MEM_STR(ptr, len, s)                                        \
	do {                                                               \
		const char *s_ = (s);                                      \
		size_t l_ = (len);                                         \
		if (l_ != strlen(s_) || memcmp((ptr), s_, l_) != 0)        \
			TEST__FAIL("%s == \"%s\": \"%.*s\"", #ptr, s_,     \
				   (int)(l_ > 200 ? 200 : l_),             \
				   (const char *)(ptr));                   \
	} while (0)

#define ASSERT_MEM_EQ(a, b, n)                                             \
	do {                                                               \
		if (memcmp((a), (b), (n)) != 0)                            \
			TEST__FAIL("memcmp(%s, %s, %zu) != 0", #a, #b,     \
				   (size_t)(n));                           \
	} while (0)

static inline int test__run(const struct test_entry *tests, size_t n, int argc,
			    char **argv)
{
	size_t ran = 0;
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
			continue;
		test__current_failed = false;
		tests[i].fn();
		ran++;
		if (test__current_failed) {
			test__failed++;
			fprintf(stderr, "not ok %zu - %s\n", i + 1, tests[i].name);
		} else {
			fprintf(stderr, "ok %zu - %s\n", i + 1, tests[i].name);
		}
	}
	if (ran == 0) {
		fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "");
		return 1;
	}
	return test__failed ? 1 : 0;
}

#define TEST_MAIN(...)                                                     \
	int main(int argc, char **argv)                                    \
	{                                                                  \
		static const struct test_entry tests_[] = { __VA_ARGS__ }; \
		return test__run(tests_, sizeof tests_ / sizeof tests_[0], \
				 argc, argv);                              \
	}

#endif /* TERN_TESTS_HARNESS_H */
