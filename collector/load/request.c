/* request.c: realistic OTLP requests for load, benches and tests. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "load/load.h"
#include "util/hash.h"

struct otlp_batch *col_load_batch(unsigned n, const char *service, uint64_t seed)
{
	static const char *const routes[] = { "/api/users/{id}", "/api/orders", "/api/cart",
					      "/healthz", "/api/search" };
	static const char *const names[] = { "GET /api/users/{id}", "POST /api/orders",
					     "GET /api/cart", "GET /healthz", "GET /api/search" };
	struct otlp_builder bd;
	if (otlp_builder_init(&bd) != 0)
		return NULL;
	otlp_build_resource(&bd, service ? service : "tern-load");
	otlp_build_str(&bd, OTLP_TO_RESOURCE, "host.name", "load-host-1");
	otlp_build_scope(&bd, "tern.load", "0.1.0");

	uint64_t rng = seed;
	/* Spans happen now (they end within the last few ms), so what a load
	 * run sends shows up in the windows a user then queries. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t t0 = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec -
		      (uint64_t)n * 1000 - 5000000;
	uint8_t trace_id[16] = { 0 };
	uint8_t root_id[8] = { 0 };
	for (unsigned i = 0; i < n && bd.err == 0; i++) {
		if (i % 8 == 0) {
			uint64_t a = util_splitmix64(&rng), c = util_splitmix64(&rng);
			memcpy(trace_id, &a, 8);
			memcpy(trace_id + 8, &c, 8);
		}
		uint64_t sid = util_splitmix64(&rng) | 1;
		uint8_t span_id[8];
		memcpy(span_id, &sid, 8);
		bool root = i % 8 == 0;
		if (root)
			memcpy(root_id, span_id, 8);
		/* Drawn in this order (span id, name, duration) so a seed gives
		 * the same spans it always gave. */
		unsigned r = (unsigned)(util_splitmix64(&rng) % 5);
		uint64_t start = t0 + (uint64_t)i * 1000;
		uint64_t end = start + 1000 + util_splitmix64(&rng) % 5000000;
		bool error = i % 50 == 0;
		otlp_build_span(&bd, trace_id, span_id, root ? NULL : root_id, names[r],
				root ? OTLP_SPAN_KIND_SERVER : OTLP_SPAN_KIND_CLIENT, start, end);
		otlp_build_status(&bd, error ? OTLP_STATUS_ERROR : OTLP_STATUS_UNSET, NULL);
		otlp_build_str(&bd, OTLP_TO_SPAN, "http.method", r == 1 ? "POST" : "GET");
		otlp_build_str(&bd, OTLP_TO_SPAN, "http.route", routes[r]);
		otlp_build_int(&bd, OTLP_TO_SPAN, "http.status_code", error ? 500 : 200);
		otlp_build_str(&bd, OTLP_TO_SPAN, "net.peer.name", "10.1.2.3");
		otlp_build_int(&bd, OTLP_TO_SPAN, "net.peer.port", 40000 + (int64_t)(i % 1000));
		otlp_build_str(&bd, OTLP_TO_SPAN, "user_agent.original", "tern-load/0.1");
		otlp_build_int(&bd, OTLP_TO_SPAN, "thread.id", (int64_t)(i % 16));
		otlp_build_str(&bd, OTLP_TO_SPAN, "component", "http");
		otlp_build_event(&bd, start + 500, "handler.start");
		otlp_build_int(&bd, OTLP_TO_EVENT, "queue.depth", (int64_t)(i % 7));
	}
	return otlp_builder_take(&bd);
}

int col_load_request(unsigned n, const char *service, uint64_t seed, uint8_t **out,
		     size_t *len)
{
	struct otlp_batch *b = col_load_batch(n, service, seed);
	if (b == NULL)
		return -ENOMEM;
	int r = otlp_encode_proto(b, out, len);
	otlp_batch_free(b);
	return r;
}
