/* Unit tests: bounded gzip inflate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "gzip.h"
#include "harness.h"
#include "ingest/inflate.h"


TEST(roundtrip)
{
	uint8_t src[100000];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7 + i / 13);
	size_t glen;
	uint8_t *g = test_gzip(src, sizeof(src), &glen);
	uint8_t *out;
	size_t olen;
	ASSERT_OK(col_gunzip(g, glen, sizeof(src), &out, &olen)); /* exactly at the bound */
	ASSERT_EQ_U(olen, sizeof(src));
	ASSERT_MEM_EQ(out, src, sizeof(src));
	free(out);
	ASSERT_EQ(col_gunzip(g, glen, sizeof(src) - 1, &out, &olen), -EMSGSIZE);
	ASSERT_TRUE((out) == NULL);
	free(g);
}

TEST(bomb_is_bounded)
{
	/* 64 MiB of zeros compresses to ~64 KiB: the bound stops it at 1 MiB. */
	size_t n = 64u << 20;
	uint8_t *zeros = calloc(1, n);
	size_t glen;
	uint8_t *g = test_gzip(zeros, n, &glen);
	free(zeros);
	ASSERT_LT(glen, 200000);
	uint8_t *out;
	size_t olen;
	ASSERT_EQ(col_gunzip(g, glen, 1u << 20, &out, &olen), -EMSGSIZE);
	ASSERT_TRUE((out) == NULL);
	free(g);
}

TEST(garbage_and_truncation)
{
	uint8_t *out;
	size_t olen;
	ASSERT_EQ(col_gunzip((const uint8_t *)"not gzip at all", 15, 1000, &out, &olen), -EINVAL);
	const char *msg = "hello hello hello";
	size_t glen;
	uint8_t *g = test_gzip((const uint8_t *)msg, strlen(msg), &glen);
	ASSERT_EQ(col_gunzip(g, glen - 4, 1000, &out, &olen), -EINVAL); /* truncated */
	ASSERT_EQ(col_gunzip(g, 0, 1000, &out, &olen), -EINVAL);
	uint8_t *g2 = malloc(glen + 3);
	memcpy(g2, g, glen);
	memcpy(g2 + glen, "xyz", 3);
	ASSERT_EQ(col_gunzip(g2, glen + 3, 1000, &out, &olen), -EINVAL); /* trailing junk */
	ASSERT_OK(col_gunzip(g, glen, 1000, &out, &olen));
	ASSERT_MEM_STR(out, olen, msg);
	free(out);
	free(g2);
	free(g);
}

static size_t budget;
static bool take(void *arg, size_t n)
{
	size_t *used = arg;
	if (*used + n > budget)
		return false;
	*used += n;
	return true;
}

TEST(reserve_stops_at_the_memory_budget)
{
	size_t n = 4u << 20;
	uint8_t *zeros = calloc(1, n);
	size_t glen;
	uint8_t *g = test_gzip(zeros, n, &glen);
	uint8_t *out;
	size_t olen, reserved, used = 0;
	budget = 1u << 20; /* less than the 4 MiB it inflates to */
	ASSERT_EQ(col_gunzip_reserve(g, glen, 64u << 20, &out, &olen, take, &used, &reserved),
		  -ENOBUFS);
	ASSERT_TRUE(out == NULL);
	ASSERT_EQ_U(reserved, used); /* the caller gives back what was taken */
	ASSERT_LE_U(used, budget);
	used = 0;
	budget = 16u << 20;
	ASSERT_OK(col_gunzip_reserve(g, glen, 64u << 20, &out, &olen, take, &used, &reserved));
	ASSERT_EQ_U(olen, n);
	ASSERT_EQ_U(reserved, used);
	ASSERT_GE_U(reserved, olen);
	ASSERT_MEM_EQ(out, zeros, n);
	free(out);
	free(g);
	free(zeros);
}

TEST(too_big_anyway_is_final_not_busy)
{
	/* Stopped by the memory budget, but past max_out anyway: -EMSGSIZE
	 * (do not retry), found without allocating the rest. */
	size_t n = 4u << 20;
	uint8_t *zeros = calloc(1, n);
	size_t glen;
	uint8_t *g = test_gzip(zeros, n, &glen);
	uint8_t *out;
	size_t olen, reserved, used = 0;
	budget = 64u << 10;
	ASSERT_EQ(col_gunzip_reserve(g, glen, 1u << 20, &out, &olen, take, &used, &reserved),
		  -EMSGSIZE);
	ASSERT_LE_U(used, budget);
	free(g);
	free(zeros);
}

TEST(concatenated_members)
{
	/* `cat a.gz b.gz` inflates to a then b, as gzip -d does; the bound
	 * holds over both; junk after the last member is still an error. */
	uint8_t a[5000], b[7000];
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 13 + 1);
	size_t gal, gbl;
	uint8_t *ga = test_gzip(a, sizeof(a), &gal), *gb = test_gzip(b, sizeof(b), &gbl);
	uint8_t *cat = malloc(gal + gbl + 3);
	memcpy(cat, ga, gal);
	memcpy(cat + gal, gb, gbl);
	uint8_t *out;
	size_t olen;
	ASSERT_OK(col_gunzip(cat, gal + gbl, sizeof(a) + sizeof(b), &out, &olen));
	ASSERT_EQ_U(olen, sizeof(a) + sizeof(b));
	ASSERT_MEM_EQ(out, a, sizeof(a));
	ASSERT_MEM_EQ(out + sizeof(a), b, sizeof(b));
	free(out);
	ASSERT_EQ(col_gunzip(cat, gal + gbl, sizeof(a) + sizeof(b) - 1, &out, &olen), -EMSGSIZE);
	memcpy(cat + gal + gbl, "xyz", 3);
	ASSERT_EQ(col_gunzip(cat, gal + gbl + 3, 1u << 20, &out, &olen), -EINVAL);
	free(cat);
	free(ga);
	free(gb);
}

TEST_MAIN(TEST_ENTRY(roundtrip), TEST_ENTRY(bomb_is_bounded), TEST_ENTRY(garbage_and_truncation),
	  TEST_ENTRY(reserve_stops_at_the_memory_budget),
	  TEST_ENTRY(too_big_anyway_is_final_not_busy), TEST_ENTRY(concatenated_members))
