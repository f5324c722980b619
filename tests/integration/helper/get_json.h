/*
 * get_json.h: GET a path from ternd's query API and parse the answer, the
 * way the integration tests ask ternd (the product's own HTTP client,
 * collector/httpc.h, and json-c).
 */
#ifndef TERN_TESTS_GET_JSON_H
#define TERN_TESTS_GET_JSON_H

#include <json-c/json.h>

/**
 * GETs path from addr ("HOST:PORT") with a 30 s bound. Returns the parsed
 * body (caller puts it), or NULL if the request failed or the body is not
 * JSON; *status is the HTTP status, or -1 when no answer came.
 */
json_object *test_get_json(const char *addr, const char *path, int *status);

#endif /* TERN_TESTS_GET_JSON_H */
