/* text.c: durations and percent-escapes (util/text.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hex.h"
#include "util/text.h"

static const struct {
	const char *name;
	double ns;
} units[] = {
	/* Longest first where one name starts another ("ms" before "m"). */
	{ "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "ms", 1e6 },
	{ "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 }, { "d", 86400e9 },
	{ "w", 604800e9 },
};

int util_parse_duration(const char *s, uint64_t *ns)
{
	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	double total = 0;
	const char *p = s;
	while (*p) {
		/* Decimal digits and a point only: strtod alone would also take
		 * signs, exponents ("1e3s"), hex floats ("0x10s"), inf and nan. */
		char num[64], *end;
		size_t len = strspn(p, "0123456789.");
		if (len == 0 || len >= sizeof(num))
			return -EINVAL;
		memcpy(num, p, len);
		num[len] = '\0';
		double v = strtod(num, &end);
		if (end != num + len)
			return -EINVAL;
		p += len;
		size_t i;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t ulen = strlen(units[i].name);
			if (strncmp(p, units[i].name, ulen) == 0) {
				p += ulen;
				break;
			}
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return -EINVAL;
		total += v * units[i].ns;
		if (total > 9.2e18)
			return -EINVAL;
	}
	*ns = (uint64_t)(total + 0.5);
	return 0;
}

size_t util_pct_decode(char *out, const char *s, size_t n, bool plus_space)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '%' && i + 2 < n &&
		    (hi = util_hex_value((unsigned char)s[i + 1])) >= 0 &&
		    (lo = util_hex_value((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_space) {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return o;
}
