/*
 * api/web.h: tern's web page, served by ternd on the query port. The
 * files (collector/web/) are compiled in by collector/web/embed.c.
 * Loop thread only.
 */
#ifndef TERN_COLLECTOR_API_WEB_H
#define TERN_COLLECTOR_API_WEB_H

#include <stddef.h>

#include <h2o.h>

struct col_server;

struct col_web_file {
	const char *name; /* base name: "index.html" */
	const unsigned char *data;
	size_t len;
};

extern const struct col_web_file col_web_files[];
extern const size_t col_web_nfiles;

/**
 * Answers GET / (index.html) and GET /web/NAME (one of the files).
 * Returns 0 when it answered, 1 when the path is not the page's.
 */
int col_web_serve(struct col_server *srv, h2o_req_t *req);

#endif /* TERN_COLLECTOR_API_WEB_H */
