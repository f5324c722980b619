/*
 * capture.h: run a program (the tern CLI, ternd with bad flags) and capture
 * what it prints. Header-only, like harness.h.
 */
#ifndef TERN_TESTS_CAPTURE_H
#define TERN_TESTS_CAPTURE_H

#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/**
 * Runs argv (argv[0] a path) with this process's environment; its stdout,
 * and with_stderr its stderr too, go NUL-terminated into out (cut at
 * outlen - 1). Returns its exit status, 128 + the signal that ended it,
 * or a negative errno when it could not start.
 */
static inline int test_run_capture(char *const argv[], bool with_stderr, char *out, size_t outlen)
{
	int fds[2];
	if (pipe(fds) != 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
	if (with_stderr)
		posix_spawn_file_actions_adddup2(&fa, fds[1], STDERR_FILENO);
	posix_spawn_file_actions_addclose(&fa, fds[0]);
	pid_t pid;
	int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	if (r != 0) {
		close(fds[0]);
		return -r;
	}
	size_t len = 0;
	ssize_t n;
	while (len < outlen - 1 && (n = read(fds[0], out + len, outlen - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(fds[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif /* TERN_TESTS_CAPTURE_H */
