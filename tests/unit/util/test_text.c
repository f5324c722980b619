/*
 * Unit tests of util/text.h (durations, percent-escapes) and util/hex.h,
 * against values worked out by hand.
 */
#include <errno.h>

#include "harness.h"
#include "util/hex.h"
#include "util/text.h"

/* Parses s; returns the nanoseconds, or -1 when util_parse_duration
 * refused it with -EINVAL (any other answer fails the test). */
static int64_t dur(const char *s)
{
	uint64_t ns = 12345;
	int r = util_parse_duration(s, &ns);
	if (r == -EINVAL)
		return ns == 12345 ? -1 : -2; /* a refusal leaves *ns alone */
	return r == 0 ? (int64_t)ns : -3;
}

TEST(duration_units)
{
	ASSERT_EQ(dur("1ns"), 1);
	ASSERT_EQ(dur("500us"), 500000);
	ASSERT_EQ(dur("3\xc2\xb5s"), 3000); /* µs in UTF-8 */
	ASSERT_EQ(dur("1.2ms"), 1200000);
	ASSERT_EQ(dur("1.5s"), 1500000000);
	ASSERT_EQ(dur("2m"), 120000000000);
	ASSERT_EQ(dur("1h"), 3600000000000);
	ASSERT_EQ(dur("1d"), 86400000000000);
	ASSERT_EQ(dur("1w"), 604800000000000);
	ASSERT_EQ(dur(".5s"), 500000000);
	ASSERT_EQ(dur("1.5h"), 5400000000000);
}

TEST(duration_sequences)
{
	ASSERT_EQ(dur("1h30m"), 5400000000000);
	ASSERT_EQ(dur("2m30s"), 150000000000);
	ASSERT_EQ(dur("1m1ms"), 60001000000);
	ASSERT_EQ(dur("1d12h"), 129600000000000);
	ASSERT_EQ(dur("1s500ms250us"), 1500250000);
}

TEST(duration_zero)
{
	ASSERT_EQ(dur("0"), 0);
	ASSERT_EQ(dur("0s"), 0);
	ASSERT_EQ(dur("0.0ms"), 0);
	ASSERT_EQ(dur("00"), -1); /* only a bare "0" goes without a unit */
}

TEST(duration_refused)
{
	uint64_t ns;
	ASSERT_EQ(util_parse_duration(NULL, &ns), -EINVAL);
	ASSERT_EQ(dur(""), -1);
	ASSERT_EQ(dur("-1s"), -1);
	ASSERT_EQ(dur("+1s"), -1);
	ASSERT_EQ(dur("1"), -1);
	ASSERT_EQ(dur("1x"), -1);
	ASSERT_EQ(dur("ms"), -1);
	ASSERT_EQ(dur("."), -1);
	ASSERT_EQ(dur(".s"), -1);
	ASSERT_EQ(dur("1..2s"), -1);
	ASSERT_EQ(dur("1s "), -1);
	ASSERT_EQ(dur(" 1s"), -1);
	ASSERT_EQ(dur("1S"), -1);
	ASSERT_EQ(dur("1hh"), -1);
	ASSERT_EQ(dur("forever"), -1);
	ASSERT_EQ(dur("inf"), -1);
	ASSERT_EQ(dur("nan"), -1);
	/* Decimal numbers only, as in Go: no exponent, no hex float. */
	ASSERT_EQ(dur("1e3s"), -1);
	ASSERT_EQ(dur("0x10s"), -1);
	ASSERT_EQ(dur("0x1p4s"), -1);
}

TEST(duration_overflow)
{
	/* The limit is 9.2e18 ns (int64 holds 9.22e18): 106481 days is
	 * 9,199,958,400 s, one more day is 9,200,044,800 s. */
	ASSERT_EQ(dur("106481d"), 9199958400000000000);
	ASSERT_EQ(dur("106482d"), -1);
	ASSERT_EQ(dur("99999999999h"), -1);
	ASSERT_EQ(dur("106481d106481d"), -1);
	ASSERT_EQ(dur("1000000000000000000000000000000000000000s"), -1);
}

/* Decodes s (its strlen) and checks the text and length that come out. */
static void pct(const char *s, bool plus, const char *want, size_t want_len)
{
	char out[64];
	size_t n = util_pct_decode(out, s, strlen(s), plus);
	ASSERT_EQ_U(n, want_len);
	ASSERT_MEM_EQ(out, want, want_len);
	ASSERT_EQ(out[n], '\0');
}

TEST(pct_decode)
{
	pct("", false, "", 0);
	pct("plain", false, "plain", 5);
	pct("a%20b", false, "a b", 3);
	pct("%41%42", false, "AB", 2);
	pct("%4a%4A", false, "JJ", 2);
	pct("%2F", false, "/", 1);
	pct("%C2%B5s", false, "\xc2\xb5s", 3);
	pct("%25", false, "%", 1);
	pct("%2525", false, "%25", 3); /* one pass: no double decoding */
	if (TEST_FAILED())
		return;
	/* A '%' without two hex digits after it stays as it is. */
	pct("%4", false, "%4", 2);
	pct("%", false, "%", 1);
	pct("abc%", false, "abc%", 4);
	pct("%zz", false, "%zz", 3);
	pct("%4g", false, "%4g", 3);
	pct("%%41", false, "%A", 2);
	if (TEST_FAILED())
		return;
	pct("+", true, " ", 1);
	pct("+", false, "+", 1);
	pct("a+b%2B", true, "a b+", 4); /* an escaped '+' stays a '+' */
	pct("%20+", false, " +", 2);
}

TEST(pct_decode_nul_and_bounds)
{
	char out[8];
	/* %00 is a NUL byte in the text: the length says 1, strlen 0. */
	ASSERT_EQ_U(util_pct_decode(out, "%00", 3, false), 1);
	ASSERT_EQ(out[0], '\0');
	ASSERT_EQ_U(strlen(out), 0);
	ASSERT_EQ_U(util_pct_decode(out, "a%00b", 5, false), 3);
	ASSERT_MEM_EQ(out, "a\0b", 4);
	/* Only n bytes are read: an escape cut by n is not decoded. */
	ASSERT_EQ_U(util_pct_decode(out, "%41", 2, false), 2);
	ASSERT_STR_EQ(out, "%4");
	ASSERT_EQ_U(util_pct_decode(out, "%41xyz", 3, false), 1);
	ASSERT_STR_EQ(out, "A");
	/* In place: decoding never grows the text. */
	char buf[] = "x%2Fy+z";
	ASSERT_EQ_U(util_pct_decode(buf, buf, strlen(buf), true), 5);
	ASSERT_STR_EQ(buf, "x/y z");
}

TEST(hex_value)
{
	ASSERT_EQ(util_hex_value('0'), 0);
	ASSERT_EQ(util_hex_value('9'), 9);
	ASSERT_EQ(util_hex_value('a'), 10);
	ASSERT_EQ(util_hex_value('f'), 15);
	ASSERT_EQ(util_hex_value('A'), 10);
	ASSERT_EQ(util_hex_value('F'), 15);
	ASSERT_EQ(util_hex_value('g'), -1);
	ASSERT_EQ(util_hex_value('G'), -1);
	ASSERT_EQ(util_hex_value('/'), -1); /* '0' - 1 */
	ASSERT_EQ(util_hex_value(':'), -1); /* '9' + 1 */
	ASSERT_EQ(util_hex_value('`'), -1); /* 'a' - 1 */
	ASSERT_EQ(util_hex_value('@'), -1); /* 'A' - 1 */
	ASSERT_EQ(util_hex_value('\0'), -1);
	ASSERT_EQ(util_hex_value(0xb5), -1);
	ASSERT_EQ(util_hex_value(-1), -1);
}

TEST(hex_decode)
{
	uint8_t out[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	ASSERT_OK(util_hex_decode(out, 3, "00ff7F", 6));
	ASSERT_EQ(out[0], 0x00);
	ASSERT_EQ(out[1], 0xff);
	ASSERT_EQ(out[2], 0x7f);
	ASSERT_EQ(out[3], 0xaa); /* nothing past n */
	ASSERT_OK(util_hex_decode(out, 2, "DeAd", 4));
	ASSERT_EQ(out[0], 0xde);
	ASSERT_EQ(out[1], 0xad);
	/* hexlen must be exactly 2n; the text need not end there. */
	ASSERT_OK(util_hex_decode(out, 1, "12zz", 2));
	ASSERT_EQ(out[0], 0x12);
	ASSERT_EQ(util_hex_decode(out, 2, "123", 3), -EINVAL);
	ASSERT_EQ(util_hex_decode(out, 2, "12345", 5), -EINVAL);
	ASSERT_EQ(util_hex_decode(out, 1, "0g", 2), -EINVAL);
	ASSERT_EQ(util_hex_decode(out, 1, "g0", 2), -EINVAL);
	ASSERT_EQ(util_hex_decode(out, 1, " 1", 2), -EINVAL);
	ASSERT_EQ(util_hex_decode(out, 1, "+1", 2), -EINVAL);
	ASSERT_OK(util_hex_decode(out, 0, "", 0));
}

TEST(hex_encode)
{
	char out[9];
	memset(out, 'x', sizeof(out));
	util_hex_encode(out, (const uint8_t[]){ 0xde, 0xad, 0xbe, 0xef }, 4);
	ASSERT_STR_EQ(out, "deadbeef");
	util_hex_encode(out, (const uint8_t[]){ 0x00, 0x0f, 0xf0 }, 3);
	ASSERT_STR_EQ(out, "000ff0");
	util_hex_encode(out, NULL, 0);
	ASSERT_STR_EQ(out, "");
	/* Every byte survives encode then decode. */
	uint8_t all[256], back[256];
	char hex[513];
	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	util_hex_encode(hex, all, 256);
	ASSERT_EQ_U(strlen(hex), 512);
	ASSERT_OK(util_hex_decode(back, 256, hex, 512));
	ASSERT_MEM_EQ(back, all, 256);
}

TEST_MAIN(TEST_ENTRY(duration_units), TEST_ENTRY(duration_sequences), TEST_ENTRY(duration_zero),
	  TEST_ENTRY(duration_refused), TEST_ENTRY(duration_overflow), TEST_ENTRY(pct_decode),
	  TEST_ENTRY(pct_decode_nul_and_bounds), TEST_ENTRY(hex_value), TEST_ENTRY(hex_decode),
	  TEST_ENTRY(hex_encode))
