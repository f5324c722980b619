/* auth.c: bearer tokens, compared in constant time. */
#include <string.h>
#include <strings.h>

#include "ingest/auth.h"

bool col_bearer_ok(const char *token, const char *value, size_t len)
{
	size_t tl = strlen(token);
	if (tl == 0)
		return true;
	if (value == NULL || len < 7 || strncasecmp(value, "Bearer ", 7) != 0)
		return false;
	value += 7;
	len -= 7;
	while (len > 0 && value[0] == ' ') {
		value++;
		len--;
	}
	/* Every byte of the token is looked at, whatever the input. */
	unsigned char diff = (unsigned char)(len != tl);
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)token[i] ^ (unsigned char)(i < len ? value[i] : 0);
	return diff == 0;
}

bool col_addr_is_loopback(const char *addr)
{
	const char *c = strrchr(addr, ':');
	size_t hl = c ? (size_t)(c - addr) : strlen(addr);
	if (hl >= 4 && strncmp(addr, "127.", 4) == 0)
		return true;
	if ((hl == 5 && strncmp(addr, "[::1]", 5) == 0) || (hl == 3 && strncmp(addr, "::1", 3) == 0))
		return true;
	return hl == 9 && strncasecmp(addr, "localhost", 9) == 0;
}
