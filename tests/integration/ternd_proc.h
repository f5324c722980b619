/*
 * ternd_proc.h: start and stop the real ternd binary from a test.
 *
 *   struct ternd_proc p;
 *   ASSERT_OK(ternd_proc_start(&p, NULL));        // ports 0, temp data dir
 *   ... talk to p.grpc_addr / p.http_addr / p.query_addr ...
 *   ASSERT_EQ(ternd_proc_stop(&p), 0);            // SIGTERM, exit status
 *
 * The binary is $TERND (meson passes it: `env: ternd_test_env`). When the
 * test itself runs under valgrind (TERN_UNDER_VALGRIND=1) or TERND_VALGRIND=1
 * is set, ternd runs under valgrind too, with leak errors turned into exit
 * status 99, so a clean stop also proves a leak-free shutdown.
 *
 * ternd's stderr goes to the test's stderr. Not thread-safe: one thread per
 * struct ternd_proc. Functions return 0 or a negative errno and print one
 * line on stderr saying why when they fail (this is test code).
 */
#ifndef TERN_TESTS_TERND_PROC_H
#define TERN_TESTS_TERND_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct ternd_proc_opts {
	/* Extra command-line arguments after the defaults, NULL-terminated;
	 * later flags win, so "--otlp-grpc", "127.0.0.1:4999" overrides. */
	const char *const *args;
	/* Extra environment "NAME=VALUE" entries, NULL-terminated. */
	const char *const *env;
	/* Data directory. NULL: a fresh mkdtemp dir, removed by stop(). */
	const char *data_dir;
	/* Do not pass the default --otlp-grpc/--otlp-http/--query/--data
	 * flags (to test env / config file precedence). */
	bool no_default_args;
	/* Seconds to wait for the listening lines; 0: 20 (x10 under valgrind). */
	int start_timeout_s;
};

struct ternd_proc {
	pid_t pid;
	int out_fd;              /* ternd's stdout (pipe) */
	char grpc_addr[128];     /* "127.0.0.1:PORT" from "listening otlp-grpc" */
	char http_addr[128];     /* from "listening otlp-http" */
	char query_addr[128];    /* from "listening query" */
	char data_dir[256];
	bool own_data_dir;       /* made by start(); removed by stop() */
	bool valgrind;
	/* What ternd wrote on stdout after the listening lines, read when it
	 * exited (ternd prints "stopped accepted_spans N ..." at a clean exit). */
	char final_output[1024];
};

/** Starts ternd with ports 0 and a temp data dir. opts may be NULL. */
int ternd_proc_start(struct ternd_proc *p, const struct ternd_proc_opts *opts);

/**
 * Sends SIGTERM and waits (60 s, x10 under valgrind) for the exit.
 * Returns the exit status (0 = clean), 128+signal if it died of a signal,
 * or -ETIMEDOUT (then it is SIGKILLed). Removes its own data dir.
 */
int ternd_proc_stop(struct ternd_proc *p);

/** Sends signal sig without waiting (e.g. SIGTERM during load). 0 or -errno. */
int ternd_proc_signal(struct ternd_proc *p, int sig);

/** Waits for exit like stop() without sending anything; same returns. */
int ternd_proc_wait(struct ternd_proc *p, int timeout_s);

/**
 * SIGKILLs ternd (a crash) and reaps it. Keeps the data dir so a restart can
 * use it (opts.data_dir = p->data_dir); remove it afterwards with
 * ternd_proc_remove_dir(). Returns 0.
 */
int ternd_proc_kill(struct ternd_proc *p);

/** Removes dir and everything under it (best effort). */
void ternd_proc_remove_dir(const char *dir);

/** Splits "HOST:PORT" into host (NUL-terminated) and port. 0 or -EINVAL. */
int ternd_proc_split_addr(const char *addr, char *host, size_t hostlen, int *port);

#endif /* TERN_TESTS_TERND_PROC_H */
