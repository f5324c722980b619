/* httpc.c: the blocking HTTP/1.1 client (httpc.h). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpc.h"


int col_hclient_init(struct col_hclient *c, const char *addr)
{
	c->fd = -1;
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || (size_t)(colon - addr) >= sizeof(c->host))
		return -EINVAL;
	memcpy(c->host, addr, (size_t)(colon - addr));
	c->host[colon - addr] = '\0';
	c->port = atoi(colon + 1);
	if (c->port <= 0 || c->port > 65535)
		return -EINVAL;
	return 0;
}

void col_hclient_close(struct col_hclient *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int hc_connect(struct col_hclient *c)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	char port[16];
	snprintf(port, sizeof(port), "%d", c->port);
	if (getaddrinfo(c->host, port, &hints, &res) != 0)
		return -EHOSTUNREACH;
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		freeaddrinfo(res);
		return -errno;
	}
	if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
		int e = errno;
		close(fd);
		freeaddrinfo(res);
		return -e;
	}
	freeaddrinfo(res);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -EPIPE;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_some(int fd, char *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int pr = poll(&p, 1, timeout_ms);
	if (pr == 0)
		return -ETIMEDOUT;
	if (pr < 0)
		return -errno;
	ssize_t n = recv(fd, buf, cap, 0);
	if (n < 0)
		return -errno;
	return (int)n;
}

static int hc_once(struct col_hclient *c, const char *method, const char *path,
		   const char *extra, const void *rb, size_t rl, int timeout_ms, int *status,
		   char **headers, char **body, size_t *body_len)
{
	char head[2048];
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %zu\r\n%s\r\n",
			 method, path, c->host, c->port, rl, extra ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		return -E2BIG;
	int r = write_all(c->fd, head, (size_t)n);
	if (r == 0 && rl > 0)
		r = write_all(c->fd, rb, rl);
	if (r != 0)
		return r;

	size_t cap = 8192, len = 0;
	char *buf = malloc(cap + 1);
	if (buf == NULL)
		return -ENOMEM;
	char *hend = NULL;
	while (hend == NULL) {
		if (len == cap) {
			free(buf);
			return -E2BIG;
		}
		int got = read_some(c->fd, buf + len, cap - len, timeout_ms);
		if (got <= 0) {
			free(buf);
			return got == 0 ? -EPIPE : got;
		}
		len += (size_t)got;
		buf[len] = '\0';
		hend = strstr(buf, "\r\n\r\n");
	}
	size_t hlen = (size_t)(hend - buf) + 4;
	if (sscanf(buf, "HTTP/1.%*d %d", status) != 1) {
		free(buf);
		return -EPROTO;
	}
	size_t clen = 0;
	bool close_after = false;
	for (char *line = strstr(buf, "\r\n") + 2; line < hend; line = strstr(line, "\r\n") + 2) {
		if (strncasecmp(line, "content-length:", 15) == 0)
			clen = strtoull(line + 15, NULL, 10);
		else if (strncasecmp(line, "connection:", 11) == 0 && strstr(line, "close") &&
			 strstr(line, "close") < strstr(line, "\r\n"))
			close_after = true;
	}
	if (clen > (256u << 20)) {
		free(buf);
		return -E2BIG;
	}
	char *b = malloc(clen + 1);
	if (b == NULL) {
		free(buf);
		return -ENOMEM;
	}
	size_t have = len - hlen;
	if (have > clen)
		have = clen;
	memcpy(b, buf + hlen, have);
	while (have < clen) {
		int got = read_some(c->fd, b + have, clen - have, timeout_ms);
		if (got <= 0) {
			free(b);
			free(buf);
			return got == 0 ? -EPIPE : got;
		}
		have += (size_t)got;
	}
	b[clen] = '\0';
	*body = b;
	*body_len = clen;
	if (headers != NULL) {
		buf[hlen] = '\0';
		*headers = buf;
	} else {
		free(buf);
	}
	if (close_after)
		col_hclient_close(c);
	return 0;
}

int col_hclient_request(struct col_hclient *c, const char *method, const char *path,
			const char *extra_headers, const void *req_body, size_t req_len,
			int timeout_ms, int *status, char **headers, char **body,
			size_t *body_len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		bool fresh = false;
		if (c->fd < 0) {
			int r = hc_connect(c);
			if (r != 0)
				return r;
			fresh = true;
		}
		int r = hc_once(c, method, path, extra_headers, req_body, req_len, timeout_ms,
				status, headers, body, body_len);
		if (r == 0)
			return 0;
		col_hclient_close(c);
		if (fresh || r == -ETIMEDOUT || r == -ENOMEM)
			return r;
	}
	return -EPIPE;
}
