/*
 * cli/args.c: the one option parser and the usage printers of tern, both
 * driven by the command table (cli/commands.c).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define DEFAULT_ADDR "127.0.0.1:16686"
#define DEFAULT_SINCE "15m"

static const struct cli_opt addr_opt = { "addr", 0, "HOST:PORT",
					 "ternd's query API (default $TERN_ADDR or " DEFAULT_ADDR ")" };
static const struct cli_opt token_opt = { "token", 0, "TOKEN",
					  "bearer token of a ternd started with --query-token "
					  "(default $TERN_TOKEN; the variable keeps it out of ps)" };
static const struct cli_opt json_opt = { "json", 0, NULL, "machine-readable output" };
static const struct cli_opt window_opts[] = {
	{ "since", 0, "D", "window ending now" }, /* + " (default ...)" */
	{ "start", 0, "T", "window from T (unix seconds or 2026-11-21T06:00:00Z)" },
	{ "end", 0, "T", "window up to T (default now)" },
};
static const struct cli_opt help_opt = { "help", 'h', NULL, "this text" };

#define MAX_OPTS 32

/* Every option cmd takes, in the order its usage lists them. */
static size_t all_opts(const struct cli_cmd *cmd, const struct cli_opt **out)
{
	size_t n = 0;
	for (const struct cli_opt *o = cmd->opts; o->name != NULL && n < MAX_OPTS - 6; o++)
		out[n++] = o;
	if (cmd->common & CLI_ADDR) {
		out[n++] = &addr_opt;
		out[n++] = &token_opt;
	}
	if (cmd->common & CLI_JSON)
		out[n++] = &json_opt;
	if (cmd->common & CLI_WINDOW)
		for (size_t i = 0; i < 3; i++)
			out[n++] = &window_opts[i];
	out[n++] = &help_opt;
	return n;
}

/* "  -s, --service S" then the help, in two columns. */
static void print_opt(FILE *f, const char *indent, const struct cli_opt *o, const char *dflt)
{
	char left[64];
	int w;
	if (o->key)
		w = snprintf(left, sizeof(left), "%s-%c, --%s%s%s", indent, o->key, o->name,
			     o->arg ? " " : "", o->arg ? o->arg : "");
	else
		w = snprintf(left, sizeof(left), "%s    --%s%s%s", indent, o->name, o->arg ? " " : "",
			     o->arg ? o->arg : "");
	if (w < 30)
		fprintf(f, "%-30s %s", left, o->help);
	else
		fprintf(f, "%s\n%-30s %s", left, "", o->help);
	if (dflt)
		fprintf(f, " (default %s)", dflt);
	fputc('\n', f);
}

void cli_usage_cmd(FILE *f, const struct cli_cmd *cmd)
{
	const struct cli_opt *opts[MAX_OPTS];
	size_t n = all_opts(cmd, opts);
	fprintf(f, "usage: tern %s %s\n", cmd->name, cmd->synopsis);
	if (cmd->about)
		fprintf(f, "%s\n", cmd->about);
	fprintf(f, "options:\n");
	for (size_t i = 0; i < n; i++)
		print_opt(f, "  ", opts[i], opts[i] == &window_opts[0] ? cmd->since_default : NULL);
}

void cli_usage(FILE *f)
{
	fprintf(f, "usage: tern COMMAND [OPTIONS]   (tern COMMAND --help: one command's usage)\n"
		   "\ncommands:\n");
	char query_cmds[160] = "", since_dflt[160] = DEFAULT_SINCE;
	for (const struct cli_cmd *c = cli_commands; c->name != NULL; c++) {
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
		for (const struct cli_opt *o = c->opts; o->name != NULL; o++)
			print_opt(f, "      ", o, NULL);
		if (c->common & CLI_ADDR) {
			size_t len = strlen(query_cmds);
			snprintf(query_cmds + len, sizeof(query_cmds) - len, "%s%s", len ? ", " : "",
				 c->name);
		}
		if ((c->common & CLI_WINDOW) && strcmp(c->since_default, DEFAULT_SINCE) != 0) {
			size_t len = strlen(since_dflt);
			snprintf(since_dflt + len, sizeof(since_dflt) - len, ", %s for %s",
				 c->since_default, c->name);
		}
	}
	fprintf(f, "\nthe query commands (%s) also take:\n", query_cmds);
	print_opt(f, "  ", &addr_opt, NULL);
	print_opt(f, "  ", &token_opt, NULL);
	print_opt(f, "  ", &json_opt, NULL);
	print_opt(f, "  ", &window_opts[0], since_dflt);
	print_opt(f, "  ", &window_opts[1], NULL);
	print_opt(f, "  ", &window_opts[2], NULL);
	fprintf(f, "every command takes:\n");
	print_opt(f, "  ", &help_opt, NULL);
	fprintf(f, "\ndurations: 500ms, 1.5s, 2m, 1h30m, 250us, 1d; exit status: 0 done,\n"
		   "1 a finding (check, compare, trace not found, health), 2 usage or connection\n"
		   "errors; docs/cli.md says more\n");
}

int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli *c)
{
	const struct cli_opt *opts[MAX_OPTS];
	size_t n = all_opts(cmd, opts);
	struct option lo[MAX_OPTS + 1];
	char shorts[2 * MAX_OPTS + 1], *sp = shorts;
	for (size_t i = 0; i < n; i++) {
		lo[i] = (struct option){ opts[i]->name, opts[i]->arg ? required_argument : no_argument,
					 NULL, opts[i]->key ? opts[i]->key : 256 + (int)i };
		if (opts[i]->key) {
			*sp++ = (char)opts[i]->key;
			if (opts[i]->arg)
				*sp++ = ':';
		}
	}
	lo[n] = (struct option){ NULL, 0, NULL, 0 };
	*sp = '\0';

	memset(c, 0, sizeof(*c));
	c->cmd = cmd;
	optind = 1;
	int ch;
	while ((ch = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
		const struct cli_opt *o = NULL;
		if (ch >= 256 && (size_t)(ch - 256) < n)
			o = opts[ch - 256];
		for (size_t i = 0; o == NULL && i < n; i++)
			if (opts[i]->key == ch)
				o = opts[i];
		if (o == NULL)
			return cli_usage_error("%s: unknown option (try tern %s --help)", cmd->name,
					       cmd->name);
		if (o == &help_opt) {
			cli_usage_cmd(stdout, cmd);
			return -1;
		}
		if (c->ngiven == CLI_MAX_GIVEN)
			return cli_usage_error("%s: too many options", cmd->name);
		c->given[c->ngiven].opt = o;
		c->given[c->ngiven++].value = o->arg ? optarg : "";
	}
	c->argc = argc - optind;
	c->argv = argv + optind;
	c->addr = cli_value(c, "addr");
	if (c->addr == NULL)
		c->addr = getenv("TERN_ADDR");
	if (c->addr == NULL || *c->addr == '\0')
		c->addr = DEFAULT_ADDR;
	c->token = cli_value(c, "token");
	if (c->token == NULL || *c->token == '\0')
		c->token = getenv("TERN_TOKEN");
	c->json = cli_value(c, "json") != NULL;
	c->since = cli_value(c, "since");
	c->start = cli_value(c, "start");
	c->end = cli_value(c, "end");
	return 0;
}

const char *cli_value(const struct cli *c, const char *name)
{
	for (size_t i = c->ngiven; i-- > 0;)
		if (strcmp(c->given[i].opt->name, name) == 0)
			return c->given[i].value;
	return NULL;
}

size_t cli_values(const struct cli *c, const char *name, const char **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < c->ngiven; i++)
		if (strcmp(c->given[i].opt->name, name) == 0) {
			if (n < max)
				out[n] = c->given[i].value;
			n++;
		}
	return n;
}
