/* otlp_recv.c: see otlp_recv.h. */
#include "otlp_recv.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

const char *recv_script;


int recv_start(struct recv *r, const char *mode)
{
	strcpy(r->dir, "/tmp/tern-recv-XXXXXX");
	if (mkdtemp(r->dir) == NULL)
		return -errno;
	int in[2], out[2];
	if (pipe(in) != 0 || pipe(out) != 0)
		return -errno;
	r->pid = fork();
	if (r->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		/* argv[0] absolute: python3 finds its prefix from it, and a "python3"
		 * earlier on PATH (pyenv) would lend it a library without grpc. */
		execl("/usr/bin/python3", "/usr/bin/python3", recv_script, r->dir, mode, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	r->in_fd = in[1];
	char line[128];
	size_t n = 0;
	int timeout = getenv("TERN_UNDER_VALGRIND") ? 200000 : 20000;
	while (n < sizeof line - 1) {
		struct pollfd pfd = { out[0], POLLIN, 0 };
		if (poll(&pfd, 1, timeout) <= 0)
			break;
		ssize_t k = read(out[0], line + n, 1);
		if (k <= 0 || line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	if (sscanf(line, "listening grpc %d", &r->port) != 1) {
		fprintf(stderr, "receiver did not start: \"%s\"\n", line);
		return -EIO;
	}
	snprintf(r->endpoint, sizeof r->endpoint, "http://127.0.0.1:%d", r->port);
	return 0;
}

void recv_stop(struct recv *r)
{
	close(r->in_fd);
	int st;
	waitpid(r->pid, &st, 0);
	DIR *d = opendir(r->dir);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL) {
		char p[512];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", r->dir, e->d_name);
		unlink(p);
	}
	if (d != NULL)
		closedir(d);
	rmdir(r->dir);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Decodes every stored request (in arrival order) into one batch; returns
 * the number of requests, or -1. */
int recv_load(struct recv *r, struct otlp_batch *b, const char *suffix, char **md_out)
{
	char *names[256];
	int n = 0;
	DIR *d = opendir(r->dir);
	struct dirent *e;
	while (d != NULL && (e = readdir(d)) != NULL && n < 256) {
		size_t l = strlen(e->d_name);
		if (l > 4 && strcmp(e->d_name + l - strlen(suffix), suffix) == 0)
			names[n++] = strdup(e->d_name);
	}
	if (d != NULL)
		closedir(d);
	qsort(names, (size_t)n, sizeof names[0], cmp_str);
	int rc = n;
	for (int i = 0; i < n; i++) {
		char p[512];
		snprintf(p, sizeof p, "%s/%s", r->dir, names[i]);
		free(names[i]);
		FILE *f = fopen(p, "rb");
		if (f == NULL) {
			rc = -1;
			continue;
		}
		fseek(f, 0, SEEK_END);
		long len = ftell(f);
		fseek(f, 0, SEEK_SET);
		uint8_t *buf = malloc((size_t)len + 1);
		if (fread(buf, 1, (size_t)len, f) != (size_t)len)
			rc = -1;
		fclose(f);
		buf[len] = 0;
		if (b != NULL) {
			char err[256];
			if (otlp_decode_proto(b, buf, (size_t)len, NULL, err, sizeof err) != 0) {
				fprintf(stderr, "decode %s: %s\n", p, err);
				rc = -1;
			}
			otlp_batch_attach(b, buf, free);
		} else if (md_out != NULL && i == 0) {
			*md_out = (char *)buf;
		} else {
			free(buf);
		}
	}
	return rc;
}

const struct otlp_span *find_span(const struct otlp_batch *b, const char *name, int *count)
{
	const struct otlp_span *found = NULL;
	*count = 0;
	for (const struct otlp_resource_spans *rs = b->resource_spans; rs; rs = rs->next)
		for (const struct otlp_scope_spans *ss = rs->scope_spans; ss; ss = ss->next)
			for (const struct otlp_span *s = ss->spans; s; s = s->next)
				if (s->name.len == strlen(name) &&
				    memcmp(s->name.ptr, name, s->name.len) == 0) {
					found = s;
					++*count;
				}
	return found;
}

const struct otlp_any *attr(const struct otlp_attrs *a, const char *key)
{
	for (const struct otlp_kv *kv = a->head; kv; kv = kv->next)
		if (kv->key.len == strlen(key) && memcmp(kv->key.ptr, key, kv->key.len) == 0)
			return &kv->value;
	return NULL;
}

