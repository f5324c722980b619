/*
 * auth.h: bearer tokens for ingest and queries (--ingest-token,
 * --query-token). Compared in constant time; never logged.
 */
#ifndef TERN_COLLECTOR_AUTH_H
#define TERN_COLLECTOR_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/**
 * True when token is "" (no token configured) or value[0..len) is
 * "Bearer TOKEN" (the scheme case-insensitive) with exactly token. The
 * comparison takes the same time whatever bytes differ. Any thread.
 */
bool col_bearer_ok(const char *token, const char *value, size_t len);

/**
 * True when addr ("HOST:PORT") binds only the loopback interface:
 * 127.0.0.0/8, ::1 or localhost. For the start-up warning.
 */
bool col_addr_is_loopback(const char *addr);

#endif /* TERN_COLLECTOR_AUTH_H */
