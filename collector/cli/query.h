/*
 * cli_query.h: tern commands over ternd's query API (cli_query.c).
 * Each takes the command's own argc/argv (argv[0] is the command name) and
 * returns the process exit status: 0, 1 (a finding: SLO violation,
 * regression, trace not found) or 2 (usage or connection error, one line
 * on stderr). Not thread-safe (getopt).
 */
#ifndef TERN_COLLECTOR_CLI_QUERY_H
#define TERN_COLLECTOR_CLI_QUERY_H

int col_cli_services(int argc, char **argv);
int col_cli_stats(int argc, char **argv);
int col_cli_trace(int argc, char **argv);
int col_cli_search(int argc, char **argv);
int col_cli_report(int argc, char **argv);
int col_cli_check(int argc, char **argv);
int col_cli_compare(int argc, char **argv);

#endif /* TERN_COLLECTOR_CLI_QUERY_H */
