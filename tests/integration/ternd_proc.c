/* ternd_proc.c: spawn/stop the real ternd for integration tests. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ternd_proc.h"

#define MAX_ARGS 96

/*
 * Every ternd still running when the test program exits is killed: a test
 * that fails an assert returns before it stops its ternd, and an orphan
 * would keep meson's output pipe open until the suite times out.
 */
static pid_t live[64];
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

static void kill_live(void)
{
	pthread_mutex_lock(&live_lock);
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
	pthread_mutex_unlock(&live_lock);
}

static void track(pid_t pid, bool on)
{
	static bool registered;
	pthread_mutex_lock(&live_lock);
	if (!registered) {
		atexit(kill_live);
		registered = true;
	}
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (on ? live[i] == 0 : live[i] == pid) {
			live[i] = on ? pid : 0;
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);
}

static bool under_valgrind(void)
{
	const char *a = getenv("TERN_UNDER_VALGRIND");
	const char *b = getenv("TERND_VALGRIND");
	return (a && strcmp(a, "1") == 0) || (b && strcmp(b, "1") == 0);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

void ternd_proc_remove_dir(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int ternd_proc_split_addr(const char *addr, char *host, size_t hostlen, int *port)
{
	const char *c = strrchr(addr, ':');
	if (c == NULL || (size_t)(c - addr) >= hostlen)
		return -EINVAL;
	memcpy(host, addr, (size_t)(c - addr));
	host[c - addr] = '\0';
	char *end;
	long v = strtol(c + 1, &end, 10);
	if (*end != '\0' || v <= 0 || v > 65535)
		return -EINVAL;
	*port = (int)v;
	return 0;
}

/* Reads lines from fd until the three listening lines are in, or timeout. */
static int read_listening(struct ternd_proc *p, int timeout_s)
{
	char buf[4096];
	size_t len = 0;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	int found = 0;

	while (found < 3) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			fprintf(stderr, "ternd_proc: no listening lines after %d s\n", timeout_s);
			return -ETIMEDOUT;
		}
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		int r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t n = read(p->out_fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "ternd_proc: ternd closed stdout before listening (exited?)\n");
			return -EPIPE;
		}
		len += (size_t)n;
		buf[len] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			char name[32], addr[128];
			if (sscanf(line, "listening %31s %127s", name, addr) == 2) {
				char *dst = NULL;
				if (strcmp(name, "otlp-grpc") == 0)
					dst = p->grpc_addr;
				else if (strcmp(name, "otlp-http") == 0)
					dst = p->http_addr;
				else if (strcmp(name, "query") == 0)
					dst = p->query_addr;
				if (dst != NULL && dst[0] == '\0') {
					snprintf(dst, sizeof(p->grpc_addr), "%s", addr);
					found++;
				}
			}
			line = nl + 1;
		}
		len = strlen(line);
		memmove(buf, line, len + 1);
		if (len == sizeof(buf) - 1)
			len = 0; /* an absurd line: drop it */
	}
	return 0;
}

int ternd_proc_start(struct ternd_proc *p, const struct ternd_proc_opts *opts)
{
	static const struct ternd_proc_opts no_opts;
	const char *argv[MAX_ARGS];
	int argc = 0;
	int pipefd[2];

	if (opts == NULL)
		opts = &no_opts;
	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->out_fd = -1;
	p->valgrind = under_valgrind();

	const char *bin = getenv("TERND");
	if (bin == NULL || bin[0] == '\0') {
		fprintf(stderr, "ternd_proc: TERND is not set (meson passes it)\n");
		return -ENOENT;
	}
	if (opts->data_dir != NULL) {
		snprintf(p->data_dir, sizeof(p->data_dir), "%s", opts->data_dir);
	} else {
		const char *tmp = getenv("TMPDIR");
		snprintf(p->data_dir, sizeof(p->data_dir), "%s/ternd-test-XXXXXX",
			 tmp && tmp[0] ? tmp : "/tmp");
		if (mkdtemp(p->data_dir) == NULL) {
			int e = errno;
			fprintf(stderr, "ternd_proc: mkdtemp: %s\n", strerror(e));
			return -e;
		}
		p->own_data_dir = true;
	}

	if (p->valgrind) {
		static char supp[512];
		argv[argc++] = "valgrind";
		argv[argc++] = "--quiet";
		argv[argc++] = "--error-exitcode=99";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--show-leak-kinds=definite,indirect";
		argv[argc++] = "--errors-for-leak-kinds=definite,indirect";
		const char *s = getenv("TERN_VALGRIND_SUPP");
		if (s != NULL && s[0] != '\0') {
			snprintf(supp, sizeof(supp), "--suppressions=%s", s);
			argv[argc++] = supp;
		}
	}
	argv[argc++] = bin;
	if (!opts->no_default_args) {
		argv[argc++] = "--otlp-grpc";
		argv[argc++] = "127.0.0.1:0";
		argv[argc++] = "--otlp-http";
		argv[argc++] = "127.0.0.1:0";
		argv[argc++] = "--query";
		argv[argc++] = "127.0.0.1:0";
		argv[argc++] = "--data";
		argv[argc++] = p->data_dir;
	}
	for (size_t i = 0; opts->args != NULL && opts->args[i] != NULL; i++) {
		if (argc >= MAX_ARGS - 1) {
			fprintf(stderr, "ternd_proc: too many arguments\n");
			goto out_rm_dir;
		}
		argv[argc++] = opts->args[i];
	}
	argv[argc] = NULL;

	if (pipe2(pipefd, O_CLOEXEC) != 0) {
		int e = errno;
		fprintf(stderr, "ternd_proc: pipe: %s\n", strerror(e));
		if (p->own_data_dir)
			ternd_proc_remove_dir(p->data_dir);
		return -e;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		fprintf(stderr, "ternd_proc: fork: %s\n", strerror(e));
		close(pipefd[0]);
		close(pipefd[1]);
		if (p->own_data_dir)
			ternd_proc_remove_dir(p->data_dir);
		return -e;
	}
	if (pid == 0) {
		dup2(pipefd[1], STDOUT_FILENO);
		for (size_t i = 0; opts->env != NULL && opts->env[i] != NULL; i++)
			putenv((char *)opts->env[i]);
		/* Do not let the test's own valgrind flag leak into ternd. */
		unsetenv("TERN_UNDER_VALGRIND");
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "ternd_proc: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	p->pid = pid;
	p->out_fd = pipefd[0];
	track(pid, true);

	int timeout = opts->start_timeout_s > 0 ? opts->start_timeout_s : 20;
	if (p->valgrind)
		timeout *= 10;
	int r = read_listening(p, timeout);
	if (r != 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		track(p->pid, false);
		p->pid = -1;
		close(p->out_fd);
		p->out_fd = -1;
		if (p->own_data_dir)
			ternd_proc_remove_dir(p->data_dir);
		return r;
	}
	return 0;

out_rm_dir:
	if (p->own_data_dir)
		ternd_proc_remove_dir(p->data_dir);
	return -E2BIG;
}

int ternd_proc_signal(struct ternd_proc *p, int sig)
{
	if (p->pid <= 0)
		return -ESRCH;
	return kill(p->pid, sig) == 0 ? 0 : -errno;
}

static void finish(struct ternd_proc *p)
{
	if (p->out_fd >= 0) {
		/* The process is gone: read what is left of its stdout. */
		size_t len = 0;
		ssize_t n;
		while (len < sizeof(p->final_output) - 1 &&
		       (n = read(p->out_fd, p->final_output + len,
				 sizeof(p->final_output) - 1 - len)) > 0)
			len += (size_t)n;
		p->final_output[len] = '\0';
		close(p->out_fd);
	}
	p->out_fd = -1;
	track(p->pid, false);
	p->pid = -1;
	if (p->own_data_dir) {
		ternd_proc_remove_dir(p->data_dir);
		p->own_data_dir = false;
	}
}

int ternd_proc_wait(struct ternd_proc *p, int timeout_s)
{
	if (p->pid <= 0)
		return -ESRCH;
	int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		int st;
		pid_t r = waitpid(p->pid, &st, WNOHANG);
		if (r == p->pid) {
			finish(p);
			if (WIFEXITED(st))
				return WEXITSTATUS(st);
			if (WIFSIGNALED(st)) {
				fprintf(stderr, "ternd_proc: ternd died of signal %d\n", WTERMSIG(st));
				return 128 + WTERMSIG(st);
			}
			return -EIO;
		}
		if (r < 0 && errno != EINTR) {
			int e = errno;
			finish(p);
			return -e;
		}
		if (now_ms() > deadline) {
			fprintf(stderr, "ternd_proc: ternd did not exit within %d s, killing it\n",
				timeout_s);
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			finish(p);
			return -ETIMEDOUT;
		}
		usleep(10000);
	}
}

int ternd_proc_stop(struct ternd_proc *p)
{
	if (p->pid <= 0)
		return -ESRCH;
	kill(p->pid, SIGTERM);
	return ternd_proc_wait(p, p->valgrind ? 600 : 60);
}

int ternd_proc_kill(struct ternd_proc *p)
{
	if (p->pid <= 0)
		return -ESRCH;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	track(p->pid, false);
	if (p->out_fd >= 0)
		close(p->out_fd);
	p->out_fd = -1;
	p->pid = -1;
	return 0;
}
