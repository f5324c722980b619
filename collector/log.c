/* log.c: one write(2) per line so threads do not interleave. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

enum col_log_level col_log_threshold = COL_LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int col_log_parse_level(const char *s, enum col_log_level *out)
{
	for (int i = 0; i <= COL_LOG_DEBUG; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum col_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void col_log(enum col_log_level level, const char *fmt, ...)
{
	char line[1024];
	if (level > col_log_threshold)
		return;
	int n = snprintf(line, sizeof(line), "ternd: %s: ", level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}
