/*
 * Fuzz target: the query API's parameters (collector/api/params.c). The
 * input is a query string, the bytes after '?' of a GET: it is parsed as
 * every handler does, then each value goes through what parses values
 * after it (col_api_parse_i64, util_parse_duration, col_parse_size, and
 * json-c for Jaeger's `tags` JSON object).
 * Checks: a parse either fails with a message or gives at most
 * COL_API_MAX_PARAMS names and values that are NUL-free C strings of the
 * decoded length, each found again by col_api_param.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "api/api.h"
#include "config.h"
#include "util/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the handlers do with one value (api/jaeger.c, api/tern.c). */
static void parse_value(const char *k, const char *v)
{
	int64_t i;
	uint64_t u;
	if (col_api_parse_i64(v, &i) == 0 && v[0] == '\0')
		abort(); /* "" is no number */
	if (util_parse_duration(v, &u) == 0 && u > (uint64_t)INT64_MAX)
		abort(); /* documented: fits in int64 nanoseconds */
	(void)col_parse_size(v, &u);
	if (strcmp(k, "tags") == 0) {
		json_object *o = json_tokener_parse(v);
		if (o != NULL && json_object_is_type(o, json_type_object)) {
			/* parse_tags keeps string values, by key */
			json_object_object_foreach(o, tk, tv)
			{
				if (json_object_is_type(tv, json_type_string) &&
				    strlen(json_object_get_string(tv)) > strlen(v))
					abort();
				(void)tk;
			}
		}
		json_object_put(o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct col_api_params p;
	int rc = col_api_params_parse_query((const char *)data, size, &p);
	if (rc != 0) {
		if ((rc != -EINVAL && rc != -E2BIG && rc != -ENOMEM) || p.why[0] == '\0' ||
		    memchr(p.why, '\0', sizeof(p.why)) == NULL)
			abort();
		col_api_params_done(&p);
		return 0;
	}
	if (p.n > COL_API_MAX_PARAMS)
		abort();
	for (size_t i = 0; i < p.n; i++) {
		if (strlen(p.k[i]) > size || strlen(p.v[i]) > size)
			abort();
		const char *first = col_api_param(&p, p.k[i]);
		if (p.v[i][0] != '\0' && first == NULL)
			abort(); /* a name with a value is found */
		parse_value(p.k[i], p.v[i]);
	}
	col_api_params_done(&p);
	return 0;
}
