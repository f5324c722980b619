/*
 * Fuzz target: what ternd decides from an HTTP request's head before any
 * handler runs. Of the request handling, only these parts are ternd's own
 * and pure (the rest takes a live h2o_req_t): the query API's routing
 * (col_query_route, api/router.c: exact path match, HEAD as GET, 404/405),
 * the query string (col_api_params_parse_query, api/params.c) and OTLP/HTTP's
 * Content-Type/Content-Encoding decision (col_otlp_http_media,
 * ingest/otlp_http.c). The path goes through h2o_url_normalize_path first,
 * as h2o does for req->path_normalized.
 *
 * Input, one field a line: METHOD, request target ("/api/traces?x=1"),
 * Content-Type, and Content-Encoding (no fourth line: no such header).
 * Checks: HEAD routes as GET does; a route found is for an exact path;
 * a body kind is one of the four pairs and refusals set nothing usable.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>

#include "api/api.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next field of [*p, end): up to '\n' (excluded); *p becomes NULL
 * after the last one. false when there is none left. */
static bool field(const char **p, const char *end, h2o_iovec_t *out)
{
	if (*p == NULL)
		return false;
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
	*out = h2o_iovec_init(*p, n);
	*p = nl ? nl + 1 : NULL;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *end = (const char *)data + size, *p = size ? (const char *)data : NULL;
	h2o_iovec_t method = { 0 }, target = { 0 }, ctype = { 0 }, enc;
	field(&p, end, &method);
	field(&p, end, &target);
	field(&p, end, &ctype);
	bool has_enc = field(&p, end, &enc);

	h2o_mem_pool_t pool;
	h2o_mem_init_pool(&pool);
	size_t query_at = SIZE_MAX, *norm_indexes = NULL;
	h2o_iovec_t path = h2o_url_normalize_path(&pool, target.base ? target.base : "",
						  target.len, &query_at, &norm_indexes);

	col_http_fn fn, fn_get;
	int rc = col_query_route(method.base, method.len, path.base, path.len, &fn);
	if ((rc == 0) != (fn != NULL) || (rc != 0 && rc != 404 && rc != 405))
		abort();
	if (h2o_memis(method.base, method.len, H2O_STRLIT("HEAD")) &&
	    (col_query_route(H2O_STRLIT("GET"), path.base, path.len, &fn_get) != rc ||
	     fn_get != fn))
		abort();
	if (rc == 0 && (path.len == 0 || path.base[0] != '/' || memchr(path.base, '?', path.len)))
		abort();

	if (query_at != SIZE_MAX) {
		if (query_at >= target.len || target.base[query_at] != '?')
			abort();
		struct col_api_params prm;
		(void)col_api_params_parse_query(target.base + query_at + 1,
						 target.len - query_at - 1, &prm);
		col_api_params_done(&prm);
	}

	bool json = false, gzip = false;
	enum col_media m = col_otlp_http_media(ctype, has_enc ? &enc : NULL, &json, &gzip);
	if (m != COL_MEDIA_OK && m != COL_MEDIA_BAD_TYPE && m != COL_MEDIA_BAD_ENCODING)
		abort();
	if (m == COL_MEDIA_OK && gzip && !has_enc)
		abort(); /* gzip only when asked for */
	h2o_mem_clear_pool(&pool);
	return 0;
}
