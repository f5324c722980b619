/*
 * log.h: ternd's stderr log. One line per event: "ternd: LEVEL: message".
 * Thread-safe (each line is one write(2)).
 */
#ifndef TERN_COLLECTOR_LOG_H
#define TERN_COLLECTOR_LOG_H

enum col_log_level {
	COL_LOG_ERROR = 0,
	COL_LOG_WARN,
	COL_LOG_INFO,
	COL_LOG_DEBUG,
};

/** Current threshold; lines above it are not written. Default INFO. */
extern enum col_log_level col_log_threshold;

/** Parses "error|warn|info|debug". Returns 0 or -EINVAL. */
int col_log_parse_level(const char *s, enum col_log_level *out);

/** Writes one line if level <= col_log_threshold. Any thread. */
void col_log(enum col_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* TERN_COLLECTOR_LOG_H */
