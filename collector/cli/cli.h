/*
 * cli/cli.h: what the tern command's files share: the command table
 * (cli/commands.c), the one option parser and usage printer (cli/args.c),
 * the one HTTP client and error path (cli/client.c), query strings and
 * windows (cli/query.c), and reading and printing the API's JSON
 * (cli/format.c). One file per command runs it (cli/stats.c, ...).
 *
 * Exit status of every command: 0 done (check: all targets hold; compare:
 * no regression), 1 a finding (check violation, compare regression, trace
 * not found, health not ok), 2 usage or connection errors, with one line
 * on stderr. Single-threaded: the parser uses getopt.
 */
#ifndef TERN_COLLECTOR_CLI_CLI_H
#define TERN_COLLECTOR_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#define CLI_EXIT_FINDING 1
#define CLI_EXIT_USAGE 2

/* One option of a command. */
struct cli_opt {
	const char *name; /* long name, without "--" */
	int key;          /* its short letter (-s), or 0 */
	const char *arg;  /* what the value is ("S", "D"), NULL for a flag */
	const char *help; /* one line */
};

/* Option groups shared by commands (cli_cmd.common). */
enum {
	CLI_ADDR = 1 << 0,   /* --addr HOST:PORT */
	CLI_JSON = 1 << 1,   /* --json */
	CLI_WINDOW = 1 << 2, /* --since D, --start T, --end T */
};

struct cli;

/* One row of the command table. */
struct cli_cmd {
	const char *name;
	const char *summary;            /* one line for tern --help */
	const char *synopsis;           /* what follows "usage: tern NAME" */
	const char *about;              /* more lines for tern NAME --help, or NULL */
	const struct cli_opt *opts;     /* the command's own, up to one with name NULL */
	unsigned common;                /* CLI_ADDR | CLI_JSON | CLI_WINDOW */
	const char *since_default;      /* the window when none is given */
	int (*run)(struct cli *c);      /* returns the exit status */
};

/** The commands, in the order tern --help lists them; ends with name NULL. */
extern const struct cli_cmd cli_commands[];

#define CLI_MAX_GIVEN 64

/* A parsed command line. */
struct cli {
	const struct cli_cmd *cmd;
	const char *addr;  /* --addr, else $TERN_ADDR, else 127.0.0.1:16686 */
	const char *token; /* --token, else $TERN_TOKEN, else NULL */
	bool json;         /* --json */
	const char *since, *start, *end; /* as given */
	char range[160];   /* the window as a query string, made by cli_window() */
	int argc;          /* positional arguments */
	char **argv;
	size_t ngiven;     /* every option given, in order (repeats kept) */
	struct {
		const struct cli_opt *opt;
		const char *value; /* "" for a flag */
	} given[CLI_MAX_GIVEN];
};

/* ---- cli/args.c ---- */

/**
 * Parses argv (argv[0] is the command's name) for cmd into c. Returns 0;
 * or -1 after printing cmd's usage to stdout for --help (exit 0); or
 * CLI_EXIT_USAGE after one line on stderr.
 */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, struct cli *c);

/** The last value given for option name, or NULL. */
const char *cli_value(const struct cli *c, const char *name);

/** Stores up to max values given for name, in order; returns how many were given. */
size_t cli_values(const struct cli *c, const char *name, const char **out, size_t max);

/** Prints cmd's usage, every option with its help, to f. */
void cli_usage_cmd(FILE *f, const struct cli_cmd *cmd);

/** Prints tern's usage: every command and every option, to f. */
void cli_usage(FILE *f);

/* ---- cli/client.c ---- */

/** Prints "tern: MESSAGE" on stderr; returns status. */
int cli_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** cli_fail(CLI_EXIT_USAGE, ...). */
#define cli_usage_error(...) cli_fail(CLI_EXIT_USAGE, __VA_ARGS__)

/**
 * GETs path from ternd at addr (HTTP/1.1, Connection: close), with
 * "Authorization: Bearer token" unless token is NULL or empty. Returns 0
 * with *status and *body (NUL-terminated, *len bytes; caller frees), or
 * -EINVAL (addr is not HOST:PORT) or another negative errno (cannot
 * connect, timeout). Prints nothing.
 */
int cli_http_get(const char *addr, const char *token, const char *path, int timeout_ms,
		 int *status, char **body, size_t *len);

/**
 * GETs path from c->addr and parses the JSON. Returns 0 with *out (caller
 * puts), or prints one line and returns CLI_EXIT_USAGE (connection, bad
 * parameter, not JSON) or CLI_EXIT_FINDING (HTTP 404).
 */
int cli_get_json(const struct cli *c, const char *path, json_object **out);

/* ---- cli/query.c ---- */

/** Parses unix seconds (may be fractional) or RFC 3339 UTC into µs. 0 or -EINVAL. */
int cli_parse_time(const char *s, int64_t *us);

/** Percent-encodes s into out (len bytes), cutting it if it does not fit. */
void cli_urlenc(char *out, size_t len, const char *s);

/** Appends "&name=value" (value encoded) to q; nothing when value is NULL or it does not fit. */
void cli_qadd(char *q, size_t len, const char *name, const char *value);

/** Builds c->range from --since/--start/--end. 0, or CLI_EXIT_USAGE after one line. */
int cli_window(struct cli *c);

/**
 * GETs /api/tern/summary over c->range, with the filters that are not
 * NULL. As cli_get_json.
 */
int cli_summary(const struct cli *c, const char *service, const char *operation,
		const char *version, const char *kind, json_object **out);

/* ---- cli/format.c ---- */

/** o's member k, or NULL (o may be NULL). */
json_object *cli_field(json_object *o, const char *k);
/** o's member k as a number, 0 when absent. */
double cli_num(json_object *o, const char *k);
/** o's member k as a string, "" when absent. */
const char *cli_str(json_object *o, const char *k);

/** Prints o pretty, with a newline. */
void cli_print_json(json_object *o);

/** Formats milliseconds as "12.3ms", "1.20s" or "850us" into buf. Returns buf. */
const char *cli_fmt_ms(char *buf, size_t len, double ms);

/** Prints summary rows as the stats table (ops: per operation, else per service). */
void cli_stats_table(json_object *rows, bool ops);

/* ---- the commands (one file each) ---- */

int cli_cmd_health(struct cli *c);
int cli_cmd_load(struct cli *c);
int cli_cmd_services(struct cli *c);
int cli_cmd_stats(struct cli *c);
int cli_cmd_trace(struct cli *c);
int cli_cmd_search(struct cli *c);
int cli_cmd_report(struct cli *c);
int cli_cmd_check(struct cli *c);
int cli_cmd_compare(struct cli *c);

#endif /* TERN_COLLECTOR_CLI_CLI_H */
