/* get_json.c: GET + JSON from ternd's query API (get_json.h). */
#include <stdlib.h>

#include "get_json.h"
#include "httpc.h"

json_object *test_get_json(const char *addr, const char *path, int *status)
{
	struct col_hclient hc;
	char *body = NULL;
	size_t len;
	*status = -1;
	if (col_hclient_init(&hc, addr) != 0)
		return NULL;
	int r = col_hclient_request(&hc, "GET", path, NULL, NULL, 0, 30000, status, NULL, &body,
				    &len);
	col_hclient_close(&hc);
	if (r != 0) {
		*status = -1;
		return NULL;
	}
	json_object *o = json_tokener_parse(body);
	free(body);
	return o;
}
