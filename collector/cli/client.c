/*
 * cli/client.c: tern's one way to talk to ternd (an HTTP GET through
 * col_hclient_request) and its one error path (a line on stderr and the
 * exit status).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "httpc.h"

int cli_fail(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("tern: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return status;
}

int cli_http_get(const char *addr, const char *token, const char *path, int timeout_ms,
		 int *status, char **body, size_t *len)
{
	char hdrs[1100] = "Connection: close\r\n";
	if (token != NULL && *token != '\0') {
		/* a token with a line break would add a header of its own */
		if (strlen(token) > 1000 || strpbrk(token, "\r\n") != NULL)
			return -EINVAL;
		snprintf(hdrs, sizeof(hdrs), "Connection: close\r\nAuthorization: Bearer %s\r\n",
			 token);
	}
	struct col_hclient h;
	if (col_hclient_init(&h, addr) != 0)
		return -EINVAL;
	int r = col_hclient_request(&h, "GET", path, hdrs, NULL, 0, timeout_ms, status, NULL,
				    body, len);
	col_hclient_close(&h);
	return r;
}

/* The message of the API's error envelope, or NULL. */
static const char *api_error(json_object *o)
{
	json_object *errs = cli_field(o, "errors");
	if (errs == NULL || !json_object_is_type(errs, json_type_array) ||
	    json_object_array_length(errs) == 0)
		return NULL;
	json_object *m = cli_field(json_object_array_get_idx(errs, 0), "msg");
	return m ? json_object_get_string(m) : NULL;
}

int cli_get_json(const struct cli *c, const char *path, json_object **out)
{
	int status;
	char *body = NULL;
	size_t len;
	int r = cli_http_get(c->addr, c->token, path, 30000, &status, &body, &len);
	if (r == -EINVAL)
		return cli_usage_error("--addr '%s' is not HOST:PORT, or --token is not one line",
				       c->addr);
	if (r != 0)
		return cli_usage_error("cannot reach ternd at %s: %s", c->addr, strerror(-r));
	json_object *o = json_tokener_parse(body);
	if (status == 401) {
		r = cli_usage_error("%s: HTTP 401: ternd wants a query token (--token or "
				    "$TERN_TOKEN)%s",
				    path, c->token && *c->token ? "; the one given was refused" : "");
		json_object_put(o);
		free(body);
		return r;
	}
	if (status != 200) {
		const char *msg = api_error(o);
		r = cli_fail(status == 404 ? CLI_EXIT_FINDING : CLI_EXIT_USAGE, "%s: HTTP %d: %s", path,
			     status, msg ? msg : body);
		json_object_put(o);
		free(body);
		return r;
	}
	free(body);
	if (o == NULL)
		return cli_usage_error("%s: the answer is not JSON", path);
	*out = o;
	return 0;
}
