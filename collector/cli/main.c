/*
 * cli/main.c: the tern command: finds COMMAND in the table
 * (cli/commands.c), parses its options, runs it (docs/cli.md).
 */
#include <string.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		cli_usage(stdout);
		return 0;
	}
	for (const struct cli_cmd *cmd = cli_commands; cmd->name != NULL; cmd++) {
		if (strcmp(argv[1], cmd->name) != 0)
			continue;
		struct cli c;
		int r = cli_parse(cmd, argc - 1, argv + 1, &c);
		if (r != 0)
			return r < 0 ? 0 : r;
		return cmd->run(&c);
	}
	return cli_usage_error("unknown command '%s' (try tern --help)", argv[1]);
}
