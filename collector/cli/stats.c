/* cli/stats.c: tern stats: latency, rate and errors per service and operation. */
#include "cli/cli.h"

int cli_cmd_stats(struct cli *c)
{
	int r = cli_window(c);
	if (r != 0)
		return r;
	json_object *o;
	r = cli_summary(c, cli_value(c, "service"), cli_value(c, "operation"),
			cli_value(c, "version"), cli_value(c, "kind"), &o);
	if (r != 0)
		return r;
	json_object *d = cli_field(o, "data");
	if (c->json) {
		cli_print_json(d);
	} else {
		printf("window %.0f s\n\nservices (entry spans)\n", cli_num(d, "window_s"));
		cli_stats_table(cli_field(d, "services"), false);
		printf("\noperations\n");
		cli_stats_table(cli_field(d, "operations"), true);
	}
	json_object_put(o);
	return 0;
}
