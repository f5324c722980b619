/*
 * harness.h: tern's test harness. Typed asserts that print both sides, and
 * a tiny test list. Header-only so each test executable stays one file.
 *
 *   TEST(decode_empty) { ASSERT_OK(otlp_decode_proto(...)); }
 *   TEST_MAIN(TEST_ENTRY(decode_empty), TEST_ENTRY(other))
 *
 * Each test runs alone in its own process (fork), in its own process
 * group, under a timeout, as libuv's runner does: no test sees what an
 * earlier one left, a crash or a hang fails that test only, and whatever
 * the test started (a ternd, a receiver) is killed with its group when it
 * ends. The first failed assert prints file, line, the expression and both
 * values and returns from the test. TEST_SKIP("why") ends a test as
 * skipped. One line per test on stderr (TAP: "ok", "not ok ... # FAIL why",
 * "ok ... # SKIP why"), then "N passed, N failed, N skipped".
 *
 * Exit status: 1 when a test failed, 77 (meson's skip) when every test
 * that ran skipped, else 0.
 *
 *   ./unit-x            every test, in order
 *   ./unit-x NAME       that one test (still forked, with its timeout)
 *   ./unit-x --list     the test names, one per line
 *
 * Timeout: TEST_TIMEOUT_DEFAULT_S seconds per test, x10 under valgrind
 * (TERN_UNDER_VALGRIND=1); TEST_ENTRY_TIMEOUT(name, s) sets one test's,
 * and the environment TERN_TEST_TIMEOUT=SECONDS overrides them all (0: no
 * timeout). TERN_TEST_NOFORK=1 runs the tests in this process instead (for
 * a debugger; then a failure no longer stops at its own test).
 *
 * Under valgrind (meson test --setup valgrind) memcheck follows the fork:
 * the child's leak check runs when it exits, and its error exit code (99)
 * fails that test.
 */
#ifndef TERN_TESTS_HARNESS_H
#define TERN_TESTS_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define TEST_TIMEOUT_DEFAULT_S 120
#define TEST__EXIT_SKIP 77

struct test_entry {
	const char *name;
	void (*fn)(void);
	unsigned timeout_s; /* 0: TEST_TIMEOUT_DEFAULT_S */
};

static int test__failed;
static bool test__current_failed;
static int test__skip_fd = -1;           /* child: where TEST_SKIP's reason goes */
static volatile sig_atomic_t test__child; /* parent: the running test's pid */
static volatile sig_atomic_t test__alarmed;

#define TEST(name) static void test_##name(void)
#define TEST_ENTRY(name) { #name, test_##name, 0 }
/* A test that needs more (or less) than the default time. */
#define TEST_ENTRY_TIMEOUT(name, seconds) { #name, test_##name, (seconds) }

/*
 * Ends the running test at once as skipped, with a printf-style reason
 * ("needs root to mount a tmpfs"). Callable from the test body and from
 * any helper or thread: the test's process exits (status 77), and what it
 * started is killed with its process group.
 */
#define TEST_SKIP(...) test__skip(__VA_ARGS__)

__attribute__((format(printf, 1, 2), noreturn, unused)) static void
test__skip(const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof why)
		n = sizeof why - 1;
	if (test__skip_fd >= 0) {
		ssize_t w = write(test__skip_fd, why, (size_t)n);
		(void)w;
	} else {
		fprintf(stderr, "skip: %s\n", why); /* TERN_TEST_NOFORK=1 */
	}
	exit(TEST__EXIT_SKIP);
}

#define TEST__FAIL(...)                                                    \
	do {                                                               \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);            \
		fprintf(stderr, __VA_ARGS__);                              \
		fputc('\n', stderr);                                       \
		test__current_failed = true;                               \
		return;                                                    \
	} while (0)

/* The asserts return from the test function on failure. Use them only in
 * the TEST body or in a helper returning void (then check
 * TEST_FAILED() after calling it). */
#define TEST_FAILED() (test__current_failed)

#define ASSERT(expr)                                                       \
	do {                                                               \
		if (!(expr))                                               \
			TEST__FAIL("assertion failed: %s", #expr);         \
	} while (0)

#define ASSERT__CMP(a, op, b, type, fmt)                                   \
	do {                                                               \
		type a_ = (type)(a);                                        \
		type b_ = (type)(b);                                        \
		if (!(a_ op b_))                                           \
			TEST__FAIL("%s %s %s: " fmt " vs " fmt, #a, #op, #b,  \
				   a_, b_);                                \
	} while (0)

#define ASSERT_EQ(a, b) ASSERT__CMP(a, ==, b, int64_t, "%" PRId64)
#define ASSERT_NE(a, b) ASSERT__CMP(a, !=, b, int64_t, "%" PRId64)
#define ASSERT_LT(a, b) ASSERT__CMP(a, <, b, int64_t, "%" PRId64)
#define ASSERT_LE(a, b) ASSERT__CMP(a, <=, b, int64_t, "%" PRId64)
#define ASSERT_GT(a, b) ASSERT__CMP(a, >, b, int64_t, "%" PRId64)
#define ASSERT_GE(a, b) ASSERT__CMP(a, >=, b, int64_t, "%" PRId64)
#define ASSERT_EQ_U(a, b) ASSERT__CMP(a, ==, b, uint64_t, "%" PRIu64)
#define ASSERT_LE_U(a, b) ASSERT__CMP(a, <=, b, uint64_t, "%" PRIu64)
#define ASSERT_GE_U(a, b) ASSERT__CMP(a, >=, b, uint64_t, "%" PRIu64)
#define ASSERT_OK(a) ASSERT__CMP(a, ==, 0, int64_t, "%" PRId64)
#define ASSERT_NULL(a) ASSERT__CMP(a, ==, NULL, const void *, "%p")
#define ASSERT_NOT_NULL(a) ASSERT__CMP(a, !=, NULL, const void *, "%p")
#define ASSERT_TRUE(a) ASSERT(a)
#define ASSERT_FALSE(a) ASSERT(!(a))

#define ASSERT_NEAR(a, b, eps)                                             \
	do {                                                               \
		double a_ = (double)(a), b_ = (double)(b), e_ = (eps);     \
		if (!(a_ - b_ <= e_ && b_ - a_ <= e_))                     \
			TEST__FAIL("%s ~ %s (eps %g): %.9g vs %.9g", #a, #b, \
				   e_, a_, b_);                            \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                                \
	do {                                                               \
		const char *a_ = (a), *b_ = (b);                           \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)       \
			TEST__FAIL("%s == %s: \"%s\" vs \"%s\"", #a, #b,   \
				   a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

/* Compares a length-delimited byte string with a C string. */
#define ASSERT_MEM_STR(ptr, len, s)                                        \
	do {                                                               \
		const char *s_ = (s);                                      \
		size_t l_ = (len);                                         \
		if (l_ != strlen(s_) || memcmp((ptr), s_, l_) != 0)        \
			TEST__FAIL("%s == \"%s\": \"%.*s\"", #ptr, s_,     \
				   (int)(l_ > 200 ? 200 : l_),             \
				   (const char *)(ptr));                   \
	} while (0)

#define ASSERT_MEM_EQ(a, b, n)                                             \
	do {                                                               \
		if (memcmp((a), (b), (n)) != 0)                            \
			TEST__FAIL("memcmp(%s, %s, %zu) != 0", #a, #b,     \
				   (size_t)(n));                           \
	} while (0)

static void test__on_alarm(int sig)
{
	(void)sig;
	test__alarmed = 1;
}

/* The runner is asked to stop (Ctrl-C, meson's timeout): take the running
 * test's process group with it, then die of the same signal. */
static void test__on_stop(int sig)
{
	if (test__child > 0)
		kill(-(pid_t)test__child, SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

static inline unsigned test__timeout(const struct test_entry *t)
{
	const char *env = getenv("TERN_TEST_TIMEOUT");
	if (env != NULL && *env != '\0')
		return (unsigned)strtoul(env, NULL, 10);
	unsigned s = t->timeout_s ? t->timeout_s : TEST_TIMEOUT_DEFAULT_S;
	const char *vg = getenv("TERN_UNDER_VALGRIND");
	if (vg != NULL && strcmp(vg, "1") == 0)
		s *= 10;
	return s;
}

static inline double test__now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs one test in a child process. Returns 0 (passed), 1 (failed) or
 * TEST__EXIT_SKIP, and writes why into why[0..len). */
static inline int test__fork_one(const struct test_entry *t, char *why, size_t len)
{
	int fds[2];
	why[0] = '\0';
	if (pipe(fds) != 0) {
		snprintf(why, len, "pipe: %s", strerror(errno));
		return 1;
	}
	/* Not inherited by what the test execs (ternd), nor a read that waits. */
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fflush(NULL); /* or the child flushes our buffered output again */
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(why, len, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return 1;
	}
	if (pid == 0) {
		setpgid(0, 0);
#ifdef __linux__
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* the runner died: so do we */
#endif
		signal(SIGALRM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		close(fds[0]);
		test__skip_fd = fds[1];
		test__current_failed = false;
		t->fn();
		exit(test__current_failed ? 1 : 0);
	}
	setpgid(pid, pid); /* no race with the child's own call */
	close(fds[1]);
	test__child = pid;
	unsigned timeout = test__timeout(t);
	test__alarmed = 0;
	alarm(timeout);
	int status = 0;
	bool timed_out = false;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
		if (test__alarmed && !timed_out) {
			timed_out = true;
			kill(-pid, SIGKILL);
		}
	}
	alarm(0);
	test__child = 0;
	/* Whatever the test left running (a ternd after a failed assert). */
	kill(-pid, SIGKILL);

	ssize_t n = read(fds[0], why, len - 1);
	close(fds[0]);
	why[n > 0 ? (size_t)n : 0] = '\0';
	if (timed_out) {
		snprintf(why, len, "timed out after %u s", timeout);
		return 1;
	}
	if (status == -1) {
		snprintf(why, len, "waitpid: %s", strerror(errno));
		return 1;
	}
	if (WIFSIGNALED(status)) {
		snprintf(why, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
		return 1;
	}
	int code = WEXITSTATUS(status);
	if (code == 0 || code == TEST__EXIT_SKIP)
		return code;
	if (why[0] == '\0')
		snprintf(why, len, "exit status %d%s", code,
			 code == 99 ? " (valgrind found errors or leaks)" : "");
	return 1;
}

static inline int test__run(const struct test_entry *tests, size_t n, int argc,
			    char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--list") == 0) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", tests[i].name);
		return 0;
	}
	const char *nf = getenv("TERN_TEST_NOFORK");
	bool nofork = nf != NULL && strcmp(nf, "1") == 0;
	if (!nofork) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = test__on_alarm; /* no SA_RESTART: waitpid returns */
		sigaction(SIGALRM, &sa, NULL);
		signal(SIGINT, test__on_stop);
		signal(SIGTERM, test__on_stop);
		signal(SIGHUP, test__on_stop);
	}
	size_t ran = 0, passed = 0, skipped = 0;
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
			continue;
		ran++;
		char why[512] = "";
		double t0 = test__now();
		int r;
		if (nofork) {
			test__current_failed = false;
			tests[i].fn();
			r = test__current_failed ? 1 : 0;
		} else {
			r = test__fork_one(&tests[i], why, sizeof why);
		}
		double took = test__now() - t0;
		if (r == 0) {
			passed++;
			fprintf(stderr, "ok %zu - %s (%.2f s)\n", i + 1, tests[i].name, took);
		} else if (r == TEST__EXIT_SKIP) {
			skipped++;
			fprintf(stderr, "ok %zu - %s # SKIP %s\n", i + 1, tests[i].name,
				why[0] ? why : "(no reason given)");
		} else {
			test__failed++;
			fprintf(stderr, "not ok %zu - %s # FAIL%s%s (%.2f s)\n", i + 1,
				tests[i].name, why[0] ? ": " : "", why, took);
		}
	}
	if (ran == 0) {
		fprintf(stderr, "no test named %s\n", argc > 1 ? argv[1] : "");
		return 1;
	}
	fprintf(stderr, "%zu passed, %d failed, %zu skipped\n", passed, test__failed,
		skipped);
	if (test__failed)
		return 1;
	return skipped == ran ? TEST__EXIT_SKIP : 0;
}

#define TEST_MAIN(...)                                                     \
	int main(int argc, char **argv)                                    \
	{                                                                  \
		static const struct test_entry tests_[] = { __VA_ARGS__ }; \
		return test__run(tests_, sizeof tests_ / sizeof tests_[0], \
				 argc, argv);                              \
	}

#endif /* TERN_TESTS_HARNESS_H */
