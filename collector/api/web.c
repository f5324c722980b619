/*
 * api/web.c: serves the web page's files from the arrays that
 * collector/web/embed.c compiled in. The page itself reads only the public
 * query API (docs/web.md).
 */
#include <string.h>

#include "api/web.h"
#include "http.h"

static const char *content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
	};
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

static const struct col_web_file *find_file(const char *name, size_t len)
{
	for (size_t i = 0; i < col_web_nfiles; i++)
		if (strlen(col_web_files[i].name) == len && memcmp(col_web_files[i].name, name, len) == 0)
			return &col_web_files[i];
	return NULL;
}

int col_web_serve(struct col_server *srv, h2o_req_t *req)
{
	static const char prefix[] = "/web/";
	const char *path = req->path_normalized.base;
	size_t len = req->path_normalized.len;
	const struct col_web_file *f;
	(void)srv;
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
		return 1;
	if (len == 1 && path[0] == '/')
		f = find_file(H2O_STRLIT("index.html"));
	else if (len > sizeof(prefix) - 1 && memcmp(path, prefix, sizeof(prefix) - 1) == 0)
		f = find_file(path + sizeof(prefix) - 1, len - (sizeof(prefix) - 1));
	else
		return 1;
	if (f == NULL)
		return 1;
	/* The files change with ternd: let the browser revalidate each load. */
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-cache"));
	col_http_send(req, 200, "OK", content_type(f->name), f->data, f->len);
	return 0;
}
