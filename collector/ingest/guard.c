/* guard.c: what each HTTP connection makes h2o hold, bounded in bytes and time. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ingest/guard.h"
#include "log.h"
#include "metrics.h"

#define SWEEP_MS 100
#define SMALL_HOLD (64u << 10) /* held this much or less: not a trickle */

static unsigned peer_hash(const struct sockaddr *sa)
{
	uint32_t h = 2166136261u;
	const uint8_t *p;
	size_t n;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		p = (const uint8_t *)&s6->sin6_addr;
		n = sizeof(s6->sin6_addr);
		h = (h ^ s6->sin6_port) * 16777619u;
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		p = (const uint8_t *)&s4->sin_addr;
		n = sizeof(s4->sin_addr);
		h = (h ^ s4->sin_port) * 16777619u;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % COL_GUARD_BUCKETS;
}

static bool same_peer(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return false;
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
	return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
}

static void evict(struct col_guard *g, struct col_guarded *c, const char *why, uint64_t now)
{
	c->evicted = true;
	shutdown(c->fd, SHUT_RDWR); /* h2o reads EOF and closes it */
	g->evictions++;
	atomic_fetch_add_explicit(&g->m->conns_evicted, 1, memory_order_relaxed);
	if (g->last_log_ms == 0 || now - g->last_log_ms >= 1000) {
		col_log(COL_LOG_WARN, "http: closing a connection holding %llu bytes of unfinished "
				      "requests (%s); %llu closed so far",
			(unsigned long long)c->held, why, (unsigned long long)g->evictions);
		g->last_log_ms = now ? now : 1;
	}
}

static void sweep(uv_timer_t *t)
{
	struct col_guard *g = t->data;
	uint64_t now = uv_now(t->loop);
	uint64_t total = 0;
	for (struct col_guarded *c = g->all; c != NULL; c = c->next) {
		if (c->evicted || uv_is_closing(c->handle))
			continue;
		uint64_t rx = col_tcp_bytes_received(c->fd);
		c->quiet = rx == c->last_rx ? c->quiet + 1 : 0;
		c->last_rx = rx;
		/* The credit estimates headers; HPACK makes them smaller on the
		 * wire, so never credit past what arrived. A connection quiet
		 * for a second holding little has nothing unfinished: resync
		 * (control frames are not credited otherwise). */
		if (c->consumed > rx || (c->quiet >= 4 && rx - c->consumed <= SMALL_HOLD))
			c->consumed = rx;
		c->held = rx - c->consumed;
		if (c->held <= SMALL_HOLD)
			c->over_since = 0;
		else if (c->over_since == 0)
			c->over_since = now;
		if (c->over_since != 0 && now - c->over_since > g->request_timeout_ms) {
			evict(g, c, "--request-timeout-ms", now);
			continue;
		}
		/* h2o's buffers grow by doubling: up to twice what they hold. */
		total += 2 * c->held;
	}
	/* Count what h2o holds against --memory-limit, as decoded batches are. */
	if (total < g->reserved) {
		col_mem_release(g->m, g->reserved - total);
		g->reserved = total;
		return;
	}
	while (total > g->reserved && !col_mem_reserve(g->m, total - g->reserved)) {
		struct col_guarded *big = NULL;
		for (struct col_guarded *c = g->all; c != NULL; c = c->next)
			if (!c->evicted && !uv_is_closing(c->handle) &&
			    (big == NULL || c->held > big->held))
				big = c;
		if (big == NULL || big->held == 0)
			break;
		total -= 2 * big->held;
		evict(g, big, "--memory-limit", now);
	}
	if (total > g->reserved)
		g->reserved = total;
}

int col_guard_init(struct col_guard *g, uv_loop_t *loop, struct col_metrics *m,
		   uint64_t request_timeout_ms)
{
	memset(g, 0, sizeof(*g));
	g->m = m;
	g->request_timeout_ms = request_timeout_ms;
	int r = uv_timer_init(loop, &g->timer);
	if (r != 0)
		return r;
	g->timer.data = g;
	uv_unref((uv_handle_t *)&g->timer);
	return uv_timer_start(&g->timer, sweep, SWEEP_MS, SWEEP_MS);
}

void col_guard_close(struct col_guard *g, uv_close_cb done)
{
	uv_timer_stop(&g->timer);
	col_mem_release(g->m, g->reserved);
	g->reserved = 0;
	uv_close((uv_handle_t *)&g->timer, done);
}

void col_guard_add(struct col_guard *g, struct col_guarded *c, int fd, const uv_handle_t *handle)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->handle = handle;
	socklen_t sl = sizeof(c->peer);
	if (getpeername(fd, (struct sockaddr *)&c->peer, &sl) != 0)
		c->peer.ss_family = AF_UNSPEC;
	c->next = g->all;
	if (g->all != NULL)
		g->all->prev = c;
	g->all = c;
	if (c->peer.ss_family != AF_UNSPEC) {
		unsigned b = peer_hash((struct sockaddr *)&c->peer);
		c->hnext = g->by_peer[b];
		g->by_peer[b] = c;
	}
}

void col_guard_remove(struct col_guard *g, struct col_guarded *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else if (g->all == c)
		g->all = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->peer.ss_family != AF_UNSPEC) {
		struct col_guarded **pp = &g->by_peer[peer_hash((struct sockaddr *)&c->peer)];
		while (*pp != NULL && *pp != c)
			pp = &(*pp)->hnext;
		if (*pp == c)
			*pp = c->hnext;
	}
	c->prev = c->next = c->hnext = NULL;
}

struct col_guarded *col_guard_find(struct col_guard *g, const struct sockaddr *peer)
{
	for (struct col_guarded *c = g->by_peer[peer_hash(peer)]; c != NULL; c = c->hnext)
		if (same_peer(peer, &c->peer))
			return c;
	return NULL;
}

void col_guard_credit(struct col_guard *g, const struct sockaddr *peer, uint64_t wire_bytes)
{
	for (struct col_guarded *c = g->by_peer[peer_hash(peer)]; c != NULL; c = c->hnext) {
		if (same_peer(peer, &c->peer)) {
			c->consumed += wire_bytes;
			/* A real request finished: progress, not a trickle. (Tiny
			 * ones do not count, or a client could hold big partial
			 * streams forever by finishing small ones; the memory bound
			 * holds either way.) */
			if (wire_bytes >= SMALL_HOLD)
				c->over_since = 0;
			return;
		}
	}
}
