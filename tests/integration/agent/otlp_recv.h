/*
 * otlp_recv.h: drive tests/integration/helper/otlp_receiver.py (an
 * independent Python grpcio OTLP receiver) from a C test and read back
 * what it stored. Test code: not thread-safe.
 */
#ifndef TERN_TESTS_OTLP_RECV_H
#define TERN_TESTS_OTLP_RECV_H

#include "otlp.h"

#include <sys/types.h>

/* Path of otlp_receiver.py; set by the test's main(). */
extern const char *recv_script;

struct recv {
	pid_t pid;
	int in_fd;
	char dir[64];
	int port;
	char endpoint[64]; /* http://127.0.0.1:PORT */
};

/** Starts the receiver in mode (see otlp_receiver.py). 0 or -errno. */
int recv_start(struct recv *r, const char *mode);
/** Stops it and removes what it stored. */
void recv_stop(struct recv *r);
/**
 * Decodes every stored request (arrival order) into b (suffix ".bin"), or,
 * with b NULL, returns the first ".md" file's text in *md_out (malloc'ed).
 * Returns the number of files, or -1 on a decode error.
 */
int recv_load(struct recv *r, struct otlp_batch *b, const char *suffix, char **md_out);
/** The last span named name in b; *count says how many there are. */
const struct otlp_span *find_span(const struct otlp_batch *b, const char *name, int *count);
/** An attribute by key, or NULL. */
const struct otlp_any *attr(const struct otlp_attrs *a, const char *key);

#endif
