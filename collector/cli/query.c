/*
 * cli/query.c: the query strings tern sends: escaping, times, the window
 * (--since, --start, --end) and the /api/tern/summary request that stats,
 * report, check and compare share.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "util/text.h"

int cli_parse_time(const char *s, int64_t *us)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (e != NULL && (*e == 'Z' || *e == '\0') && (*e == '\0' || e[1] == '\0')) {
		*us = (int64_t)timegm(&tm) * 1000000;
		return 0;
	}
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || v < 0 || v > 1e13)
		return -EINVAL;
	*us = (int64_t)(v * 1e6);
	return 0;
}

void cli_urlenc(char *out, size_t len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t w = 0;
	for (; *s && w + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[w++] = (char)c;
		} else {
			out[w++] = '%';
			out[w++] = hex[c >> 4];
			out[w++] = hex[c & 15];
		}
	}
	out[w] = '\0';
}

void cli_qadd(char *q, size_t len, const char *name, const char *value)
{
	if (value == NULL)
		return;
	char enc[1024];
	cli_urlenc(enc, sizeof(enc), value);
	size_t n = strlen(q);
	int w = snprintf(q + n, len - n, "%s%s=%s", n ? "&" : "", name, enc);
	if (w < 0 || (size_t)w >= len - n)
		q[n] = '\0'; /* does not fit: leave it out rather than cut it */
}

/* --start T [--end T]: both in µs. */
static int window_times(struct cli *c, const char *since)
{
	static const char hint[] = "is not a time (unix seconds or 2026-11-21T06:00:00Z)";
	int64_t s = 0, e = 0;
	char tmp[32];
	if (c->start && cli_parse_time(c->start, &s) != 0)
		return cli_usage_error("--start '%s' %s", c->start, hint);
	if (c->end && cli_parse_time(c->end, &e) != 0)
		return cli_usage_error("--end '%s' %s", c->end, hint);
	if (c->start) {
		snprintf(tmp, sizeof(tmp), "%" PRId64, s);
		cli_qadd(c->range, sizeof(c->range), "start", tmp);
	}
	if (c->end) {
		snprintf(tmp, sizeof(tmp), "%" PRId64, e);
		cli_qadd(c->range, sizeof(c->range), "end", tmp);
	}
	if (!c->start)
		cli_qadd(c->range, sizeof(c->range), "lookback", since);
	return 0;
}

int cli_window(struct cli *c)
{
	const char *since = c->since ? c->since : c->cmd->since_default;
	c->range[0] = '\0';
	if (c->start || c->end)
		return window_times(c, since);
	uint64_t ns;
	if (util_parse_duration(since, &ns) != 0 || ns == 0)
		return cli_usage_error("--since '%s' is not a duration (e.g. 15m, 1h, 1d, 500ms)", since);
	cli_qadd(c->range, sizeof(c->range), "lookback", since);
	return 0;
}

int cli_summary(const struct cli *c, const char *service, const char *operation,
		const char *version, const char *kind, json_object **out)
{
	char path[2048] = "", q[1800] = "";
	snprintf(q, sizeof(q), "%s", c->range);
	cli_qadd(q, sizeof(q), "service", service);
	cli_qadd(q, sizeof(q), "operation", operation);
	cli_qadd(q, sizeof(q), "version", version);
	cli_qadd(q, sizeof(q), "spanKind", kind);
	snprintf(path, sizeof(path), "/api/tern/summary?%s", q);
	return cli_get_json(c, path, out);
}
