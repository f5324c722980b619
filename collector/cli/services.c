/* cli/services.c: tern services: the service names ternd has seen. */
#include "cli/cli.h"

int cli_cmd_services(struct cli *c)
{
	json_object *o;
	int r = cli_get_json(c, "/api/services", &o);
	if (r != 0)
		return r;
	json_object *d = cli_field(o, "data");
	if (c->json) {
		cli_print_json(d);
	} else {
		size_t n = d ? json_object_array_length(d) : 0;
		for (size_t i = 0; i < n; i++)
			puts(json_object_get_string(json_object_array_get_idx(d, i)));
	}
	json_object_put(o);
	return 0;
}
