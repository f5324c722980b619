/* listen.c: TCP listeners that refuse early and never stop accepting. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ingest/listen.h"
#include "log.h"

/* One spare descriptor for the whole process, as libuv keeps one. */
static int spare_fd = -1;

static void spare_open(void)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

uint64_t col_raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	return rl.rlim_cur;
}

static uint64_t nofile_now(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return UINT32_MAX;
	return rl.rlim_cur;
}

static void note_fail(struct col_listener *l, int err)
{
	uv_loop_t *loop = l->poll.loop;
	uint64_t now = uv_now(loop);
	l->last_fail_ms = now ? now : 1;
	l->last_err = err;
	l->unlogged++;
	if (l->refused_total != NULL)
		atomic_fetch_add_explicit(l->refused_total, 1, memory_order_relaxed);
	if (l->last_log_ms != 0 && now - l->last_log_ms < 1000)
		return;
	col_log(COL_LOG_WARN, "%s: %llu connection(s) refused (%s); still listening", l->name,
		(unsigned long long)l->unlogged,
		err == EMFILE || err == ENFILE ? "too many open files" : strerror(err));
	l->last_log_ms = now ? now : 1;
	l->unlogged = 0;
}

static void on_readable(uv_poll_t *p, int status, int events)
{
	struct col_listener *l = p->data;
	(void)events;
	if (status != 0)
		return;
	/* A bounded batch per wakeup so one listener cannot starve the loop. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK)
				return;
			if (e == EINTR || e == ECONNABORTED)
				continue;
			if ((e == EMFILE || e == ENFILE) && spare_fd >= 0) {
				/* Out of descriptors all the same: accept with the
				 * spare and close, so the client hears at once and
				 * the backlog does not wake us forever. */
				close(spare_fd);
				spare_fd = -1;
				int c = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
				if (c >= 0)
					close(c);
				spare_open();
			}
			l->refused++;
			note_fail(l, e);
			if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
				return; /* the next wakeup tries again */
			continue;
		}
		uint64_t limit = nofile_now();
		limit = limit > l->fd_reserve ? limit - l->fd_reserve : 0;
		if (l->max_fds != 0 && l->max_fds < limit)
			limit = l->max_fds;
		if ((uint64_t)fd >= limit) {
			close(fd);
			l->refused++;
			note_fail(l, EMFILE);
			continue;
		}
		l->accepted++;
		l->on_conn(l, fd);
	}
}

int col_listener_open(struct col_listener *l, uv_loop_t *loop, const char *name,
		      const char *addr, char *bound, size_t boundlen, char *err, size_t errlen)
{
	char host[256];
	const char *c = strrchr(addr, ':');
	l->fd = -1;
	l->name = name;
	if (c == NULL || (size_t)(c - addr) >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", addr);
		return -EINVAL;
	}
	const char *hs = addr;
	size_t hl = (size_t)(c - addr);
	if (hl >= 2 && hs[0] == '[' && hs[hl - 1] == ']') {
		hs++;
		hl -= 2;
	}
	memcpy(host, hs, hl);
	host[hl] = '\0';
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *res;
	int r = getaddrinfo(host[0] ? host : NULL, c + 1, &hints, &res);
	if (r != 0) {
		snprintf(err, errlen, "cannot resolve '%s': %s", addr, gai_strerror(r));
		return -EINVAL;
	}
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(res);
		snprintf(err, errlen, "socket: %s", strerror(-r));
		return r;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		r = -errno;
		freeaddrinfo(res);
		close(fd);
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(-r));
		return r;
	}
	freeaddrinfo(res);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	char ip[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(s6, ip, sizeof(ip));
		snprintf(bound, boundlen, "[%s]:%d", ip, ntohs(s6->sin6_port));
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		uv_ip4_name(s4, ip, sizeof(ip));
		snprintf(bound, boundlen, "%s:%d", ip, ntohs(s4->sin_port));
	}
	r = uv_poll_init(loop, &l->poll, fd);
	if (r != 0) {
		close(fd);
		snprintf(err, errlen, "uv_poll_init: %s", uv_strerror(r));
		return r;
	}
	l->poll.data = l;
	l->fd = fd;
	spare_open();
	return 0;
}

int col_listener_start(struct col_listener *l, col_listener_fn on_conn)
{
	l->on_conn = on_conn;
	return uv_poll_start(&l->poll, UV_READABLE, on_readable);
}

void col_listener_close(struct col_listener *l, uv_close_cb done)
{
	if (l->fd < 0)
		return;
	uv_poll_stop(&l->poll);
	uv_close((uv_handle_t *)&l->poll, done);
	close(l->fd);
	l->fd = -1;
}

bool col_listener_troubled(const struct col_listener *l, uint64_t now_ms, uint64_t window_ms,
			   char *why, size_t whylen)
{
	if (l->last_fail_ms == 0 || now_ms - l->last_fail_ms > window_ms)
		return false;
	snprintf(why, whylen, "%s listener refused connections %llu ms ago (%s)", l->name,
		 (unsigned long long)(now_ms - l->last_fail_ms),
		 l->last_err == EMFILE || l->last_err == ENFILE ? "too many open files" :
								  strerror(l->last_err));
	return true;
}
