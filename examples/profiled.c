/*
 * profiled: whole-program profiling with no code changes. Built with
 * -finstrument-functions, linked with libtern-profile and -rdynamic; the
 * code below has no tracing calls except the report at the end (or run it
 * with TERN_PROFILE=1 to get the table at exit without that call).
 *
 *   $ ./profiled
 *   checksum 3655047405
 *         ncalls   tottime_ms   percall_us   cumtime_ms   percall_us  function
 *              1        4.052     4051.513        5.734     5734.373  run
 *          20000        1.223        0.061        1.223        0.061  parse
 *          20000        0.460        0.023        0.460        0.023  checksum
 */
#include <tern_profile.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void parse(char *line);
void checksum(const char *s, unsigned *acc);
unsigned run(int n);

__attribute__((noinline)) void checksum(const char *s, unsigned *acc)
{
	for (; *s; s++)
		*acc = *acc * 31 + (unsigned char)*s;
}

__attribute__((noinline)) void parse(char *line)
{
	for (char *tok = strtok(line, ","); tok != NULL; tok = strtok(NULL, ","))
		(void)atoi(tok);
}

__attribute__((noinline)) unsigned run(int n)
{
	unsigned acc = 0;
	char line[256];
	for (int i = 0; i < n; i++) {
		snprintf(line, sizeof line, "%d,%d,%d,%d,%d,%d", i, i * 2, i * 3, i * 5, i * 7, i * 11);
		checksum(line, &acc);
		parse(line);
	}
	return acc;
}

int main(int argc, char **argv)
{
	unsigned acc = run(argc > 1 ? atoi(argv[1]) : 20000);
	printf("checksum %u\n", acc);
	return tern_profile_fprint(stdout, TERN_PROFILE_BY_CUMULATIVE, 10) == 0 ? 0 : 1;
}
