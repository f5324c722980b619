/*
 * options.c: options from the OpenTelemetry environment, tern_init,
 * tern_shutdown and fork handling.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Serialises tern_init and tern_shutdown against each other. */
static pthread_mutex_t life_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *env(const char *a, const char *b)
{
	const char *v = a ? getenv(a) : NULL;
	if (v != NULL && *v != '\0')
		return v;
	v = b ? getenv(b) : NULL;
	return v != NULL && *v != '\0' ? v : NULL;
}

static bool env_u32(const char *name, uint32_t *out)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		return false;
	char *end;
	errno = 0;
	unsigned long x = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || x > UINT32_MAX)
		return false;
	*out = (uint32_t)x;
	return true;
}

static bool parse_sampler(const char *v, enum tern_sampler *out)
{
	static const struct {
		const char *name;
		enum tern_sampler s;
	} tab[] = {
		{ "always_on", TERN_SAMPLER_ALWAYS_ON },
		{ "always_off", TERN_SAMPLER_ALWAYS_OFF },
		{ "traceidratio", TERN_SAMPLER_TRACEIDRATIO },
		{ "parentbased_always_on", TERN_SAMPLER_PARENTBASED_ALWAYS_ON },
		{ "parentbased_always_off", TERN_SAMPLER_PARENTBASED_ALWAYS_OFF },
		{ "parentbased_traceidratio", TERN_SAMPLER_PARENTBASED_TRACEIDRATIO },
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
		if (strcasecmp(v, tab[i].name) == 0) {
			*out = tab[i].s;
			return true;
		}
	}
	return false;
}

void tern_options_default(struct tern_options *o)
{
	memset(o, 0, sizeof *o);
	o->service_name = env("OTEL_SERVICE_NAME", NULL);
	o->resource_attributes = env("OTEL_RESOURCE_ATTRIBUTES", NULL);
	o->endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT");
	if (o->endpoint == NULL)
		o->endpoint = "http://localhost:4317";
	o->headers = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
	o->certificate = env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE");
	const char *c = env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION");
	o->gzip = c != NULL && strcasecmp(c, "gzip") == 0;
	o->export_timeout_ms = 10000;
	if (!env_u32("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", &o->export_timeout_ms))
		env_u32("OTEL_EXPORTER_OTLP_TIMEOUT", &o->export_timeout_ms);
	o->bsp_export_timeout_ms = 30000;
	env_u32("OTEL_BSP_EXPORT_TIMEOUT", &o->bsp_export_timeout_ms);
	o->sampler = TERN_SAMPLER_PARENTBASED_ALWAYS_ON;
	const char *s = env("OTEL_TRACES_SAMPLER", NULL);
	if (s != NULL)
		parse_sampler(s, &o->sampler);
	o->sampler_arg = 1.0;
	const char *a = env("OTEL_TRACES_SAMPLER_ARG", NULL);
	if (a != NULL) {
		char *end;
		double d = strtod(a, &end);
		if (*end == '\0' && d >= 0 && d <= 1)
			o->sampler_arg = d;
	}
	o->schedule_delay_ms = 5000;
	env_u32("OTEL_BSP_SCHEDULE_DELAY", &o->schedule_delay_ms);
	o->max_queue_size = 2048;
	env_u32("OTEL_BSP_MAX_QUEUE_SIZE", &o->max_queue_size);
	o->max_export_batch_size = 512;
	env_u32("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &o->max_export_batch_size);
	const char *d = env("OTEL_SDK_DISABLED", NULL);
	o->disabled = d != NULL && strcasecmp(d, "true") == 0;
	uint32_t ms;
	if (env_u32("TERN_SLOW_THRESHOLD_MS", &ms))
		o->slow_threshold_ns = (uint64_t)ms * 1000000u;
	const char *m = env("TERN_MEMORY_DELTA", NULL);
	o->memory_delta = m != NULL && (strcmp(m, "1") == 0 || strcasecmp(m, "true") == 0);
	o->export_enabled = true;
	o->poll_interval_ms = 10;
}

int tern__parse_endpoint(const char *ep, char *out, size_t outsz, bool *tls)
{
	/* gRPC ignores the path: http(s)://host:port[/...] -> host:port */
	const char *p = ep;
	*tls = false;
	if (strncasecmp(p, "http://", 7) == 0) {
		p += 7;
	} else if (strncasecmp(p, "https://", 8) == 0) {
		p += 8;
		*tls = true;
	} else if (strstr(p, "://") != NULL) {
		return -EINVAL;
	}
	size_t n = strcspn(p, "/");
	if (n == 0 || n >= outsz)
		return -EINVAL;
	memcpy(out, p, n);
	out[n] = '\0';
	if (strchr(out, ':') == NULL) {
		/* no port: OTLP/gRPC's default */
		if (n + 6 >= outsz)
			return -EINVAL;
		strcat(out, ":4317");
	}
	return 0;
}

/* Strings of the current options, owned by the agent. */
#define N_OWN 5
static char *own[N_OWN];

static void free_own(void)
{
	for (size_t i = 0; i < N_OWN; i++) {
		free(own[i]);
		own[i] = NULL;
	}
}

static const char *dup_own(size_t i, const char *s)
{
	if (s == NULL)
		return NULL;
	own[i] = strdup(s);
	return own[i];
}

static bool fork_child_of_started;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

void tern__exporter_fork_prepare(void);
void tern__exporter_fork_parent(void);

static void fork_prepare(void)
{
	tern__exporter_fork_prepare();
	pthread_mutex_lock(&tern__g.list_mu);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&tern__g.list_mu);
	tern__exporter_fork_parent();
}

/*
 * The child disables the agent: the exporter thread does not exist there
 * and the gRPC channel must not be used across fork. Rings of the other
 * threads (gone in the child) are freed; this thread's ring is emptied
 * (the parent exports what it held). Nothing here can block.
 */
static void fork_child(void)
{
	bool was = atomic_load(&tern__g.started);
	pthread_mutex_init(&tern__g.list_mu, NULL);
	pthread_mutex_init(&life_mu, NULL);
	tern__exporter_fork_child();
	tern__stats_fork_child();
	atomic_store(&tern__g.on, false);
	atomic_store(&tern__g.started, false);
	atomic_fetch_add(&tern__g.gen, 1);
	struct tern__ring *mine = tern__tls.ring, **pp = &tern__g.rings;
	while (*pp != NULL) {
		struct tern__ring *r = *pp;
		if (r == mine) {
			atomic_store(&r->head, 0);
			atomic_store(&r->tail, 0);
			r->tail_cache = 0;
			pp = &r->next;
		} else {
			*pp = r->next;
			free(r->buf);
			free(r);
		}
	}
	tern__tls.cur = NULL;
	if (was)
		fork_child_of_started = true;
}

static void atfork_register(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int init_locked(const struct tern_options *o);

int tern_init(const struct tern_options *o)
{
	pthread_mutex_lock(&life_mu);
	int rc = init_locked(o);
	pthread_mutex_unlock(&life_mu);
	return rc;
}

static int init_locked(const struct tern_options *o)
{
	struct tern_options def;
	if (atomic_load(&tern__g.started))
		return -EALREADY;
	if (fork_child_of_started)
		return -ENOTSUP; /* gRPC state inherited from the parent is unusable */
	if (o == NULL) {
		tern_options_default(&def);
		o = &def;
	}
	char target[256];
	bool tls;
	if (o->export_enabled && tern__parse_endpoint(o->endpoint ? o->endpoint
								: "http://localhost:4317",
						      target, sizeof target, &tls) != 0)
		return -EINVAL;
	if (o->sampler > TERN_SAMPLER_PARENTBASED_TRACEIDRATIO ||
	    !(o->sampler_arg >= 0 && o->sampler_arg <= 1))
		return -EINVAL;
	pthread_once(&atfork_once, atfork_register);
	tern__rings_init_once();
	tern__g.opt = *o;
	free_own();
	tern__g.opt.service_name = dup_own(0, o->service_name);
	tern__g.opt.resource_attributes = dup_own(1, o->resource_attributes);
	tern__g.opt.endpoint = dup_own(2, o->endpoint ? o->endpoint : "http://localhost:4317");
	tern__g.opt.headers = dup_own(3, o->headers);
	tern__g.opt.certificate = dup_own(4, o->certificate);
	if ((o->service_name && !own[0]) || (o->resource_attributes && !own[1]) || !own[2] ||
	    (o->headers && !own[3]) || (o->certificate && !own[4])) {
		free_own();
		return -ENOMEM;
	}
	struct tern_options *p = &tern__g.opt;
	if (p->max_queue_size == 0)
		p->max_queue_size = 2048;
	if (p->max_export_batch_size == 0 || p->max_export_batch_size > p->max_queue_size)
		p->max_export_batch_size = p->max_queue_size < 512 ? p->max_queue_size : 512;
	if (p->schedule_delay_ms == 0)
		p->schedule_delay_ms = 5000;
	if (p->export_timeout_ms == 0)
		p->export_timeout_ms = 10000;
	if (p->bsp_export_timeout_ms == 0)
		p->bsp_export_timeout_ms = 30000;
	if (p->poll_interval_ms == 0)
		p->poll_interval_ms = 10;
	/* About 128 bytes per span of the OpenTelemetry benchmark's shape. */
	uint64_t want = (uint64_t)p->max_queue_size * 128, rb = 4096;
	while (rb < want && rb < (1ull << 30))
		rb <<= 1;
	tern__g.ring_bytes = rb;
	tern__clock_init();
	tern__stats_init();
	atomic_fetch_add(&tern__g.gen, 1);
	atomic_store(&tern__g.started, true);
	int rc = tern__exporter_start();
	if (rc != 0) {
		atomic_store(&tern__g.started, false);
		free_own();
		return rc;
	}
	atomic_store(&tern__g.enabled, !p->disabled);
	atomic_store(&tern__g.on, !p->disabled);
	return 0;
}

int tern_shutdown(uint32_t timeout_ms)
{
	pthread_mutex_lock(&life_mu);
	if (!atomic_load(&tern__g.started)) {
		pthread_mutex_unlock(&life_mu);
		return -EINVAL;
	}
	atomic_store(&tern__g.on, false);
	int rc = tern__exporter_stop(timeout_ms);
	pthread_mutex_lock(&tern__g.list_mu);
	atomic_store(&tern__g.started, false);
	pthread_mutex_unlock(&tern__g.list_mu);
	free_own();
	pthread_mutex_unlock(&life_mu);
	return rc;
}

int tern_flush(uint32_t timeout_ms)
{
	if (!atomic_load(&tern__g.started))
		return -EINVAL;
	return tern__exporter_flush(timeout_ms);
}
