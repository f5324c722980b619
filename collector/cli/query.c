/*
 * cli_query.c: the tern commands that talk to ternd's query API:
 * services, stats, trace, search, report, check, compare (docs/cli.md).
 *
 * Exit status: 0 done (check: all targets hold; compare: no regression),
 * 1 a finding (check violation, compare regression, trace not found),
 * 2 usage or connection errors, with one line on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/query.h"
#include "httpc.h"
#include "load/load.h"

#define EXIT_FINDING 1
#define EXIT_USAGE 2

struct cli {
	const char *addr;
	bool json;
	const char *since;
	const char *start, *end; /* as given */
	char range[160];         /* query-string part for the window */
};

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("tern: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return EXIT_USAGE;
}

/* Go-style durations as the API takes them: 500ms, 1.5s, 2m, 1h30m. */
static int parse_dur(const char *s, double *ns)
{
	if (s == NULL || *s == '\0')
		return -EINVAL;
	double total = 0;
	const char *p = s;
	while (*p) {
		char *e;
		double v = strtod(p, &e);
		if (e == p || v < 0)
			return -EINVAL;
		p = e;
		if (strncmp(p, "ns", 2) == 0) {
			p += 2;
		} else if (strncmp(p, "us", 2) == 0) {
			v *= 1e3;
			p += 2;
		} else if (strncmp(p, "ms", 2) == 0) {
			v *= 1e6;
			p += 2;
		} else if (*p == 's') {
			v *= 1e9;
			p++;
		} else if (*p == 'm') {
			v *= 60e9;
			p++;
		} else if (*p == 'h') {
			v *= 3600e9;
			p++;
		} else if (*p == 'd') {
			v *= 86400e9;
			p++;
		} else {
			return -EINVAL;
		}
		total += v;
	}
	*ns = total;
	return 0;
}

/* A time: unix seconds (may be fractional) or RFC 3339 UTC
 * (2026-11-21T06:00:00Z). Out: µs. */
static int parse_time(const char *s, int64_t *us)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (e != NULL && (*e == 'Z' || *e == '\0') && (*e == '\0' || e[1] == '\0')) {
		*us = (int64_t)timegm(&tm) * 1000000;
		return 0;
	}
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0' || v < 0 || v > 1e13)
		return -EINVAL;
	*us = (int64_t)(v * 1e6);
	return 0;
}

static void urlenc(char *out, size_t len, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t w = 0;
	for (; *s && w + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[w++] = (char)c;
		} else {
			out[w++] = '%';
			out[w++] = hex[c >> 4];
			out[w++] = hex[c & 15];
		}
	}
	out[w] = '\0';
}

/* Appends &name=value (encoded) to q. */
static void qadd(char *q, size_t len, const char *name, const char *value)
{
	if (value == NULL)
		return;
	char enc[1024];
	urlenc(enc, sizeof(enc), value);
	size_t n = strlen(q);
	int w = snprintf(q + n, len - n, "%s%s=%s", n ? "&" : "", name, enc);
	if (w < 0 || (size_t)w >= len - n)
		q[n] = '\0'; /* does not fit: leave it out rather than cut it */
}

/* Builds the window part from --since / --start / --end. */
static int window(struct cli *c)
{
	c->range[0] = '\0';
	char tmp[32];
	if (c->start || c->end) {
		int64_t s = 0, e = 0;
		if (c->start && parse_time(c->start, &s) != 0)
			return fail("--start '%s' is not a time (unix seconds or 2026-11-21T06:00:00Z)",
				    c->start);
		if (c->end && parse_time(c->end, &e) != 0)
			return fail("--end '%s' is not a time (unix seconds or 2026-11-21T06:00:00Z)",
				    c->end);
		if (c->start) {
			snprintf(tmp, sizeof(tmp), "%" PRId64, s);
			qadd(c->range, sizeof(c->range), "start", tmp);
		}
		if (c->end) {
			snprintf(tmp, sizeof(tmp), "%" PRId64, e);
			qadd(c->range, sizeof(c->range), "end", tmp);
		}
		if (!c->start)
			qadd(c->range, sizeof(c->range), "lookback", c->since ? c->since : "15m");
		return 0;
	}
	double ns;
	const char *since = c->since ? c->since : "15m";
	if (parse_dur(since, &ns) != 0 || ns <= 0)
		return fail("--since '%s' is not a duration (e.g. 15m, 1h, 500ms)", since);
	qadd(c->range, sizeof(c->range), "lookback", since);
	return 0;
}

/*
 * GETs path and parses the JSON. Returns 0 with *out (caller puts), or
 * prints one line and returns EXIT_USAGE (connection, bad parameter) or
 * EXIT_FINDING (404).
 */
static int get_json(const struct cli *c, const char *path, json_object **out)
{
	struct col_hclient h;
	if (col_hclient_init(&h, c->addr) != 0)
		return fail("--addr '%s' is not HOST:PORT", c->addr);
	int status;
	char *body = NULL;
	size_t len;
	int r = col_hclient_request(&h, "GET", path, "Connection: close\r\n", NULL, 0, 30000,
				    &status, NULL, &body, &len);
	col_hclient_close(&h);
	if (r != 0)
		return fail("cannot reach ternd at %s: %s", c->addr, strerror(-r));
	json_object *o = json_tokener_parse(body);
	if (status != 200) {
		const char *msg = body;
		json_object *errs, *e0, *m;
		if (o && json_object_object_get_ex(o, "errors", &errs) &&
		    json_object_is_type(errs, json_type_array) && json_object_array_length(errs) > 0 &&
		    (e0 = json_object_array_get_idx(errs, 0)) &&
		    json_object_object_get_ex(e0, "msg", &m))
			msg = json_object_get_string(m);
		fprintf(stderr, "tern: %s: HTTP %d: %s\n", path, status, msg);
		json_object_put(o);
		free(body);
		return status == 404 ? EXIT_FINDING : EXIT_USAGE;
	}
	free(body);
	if (o == NULL)
		return fail("%s: the answer is not JSON", path);
	*out = o;
	return 0;
}

static json_object *field(json_object *o, const char *k)
{
	json_object *v = NULL;
	if (o)
		json_object_object_get_ex(o, k, &v);
	return v;
}

static double fnum(json_object *o, const char *k)
{
	json_object *v = field(o, k);
	return v ? json_object_get_double(v) : 0;
}

static const char *fstr(json_object *o, const char *k)
{
	json_object *v = field(o, k);
	return v ? json_object_get_string(v) : "";
}

static void print_json(json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* "12.3ms", "1.20s", "850us". */
static const char *fmt_ms(char *buf, size_t len, double ms)
{
	if (ms >= 1000)
		snprintf(buf, len, "%.2fs", ms / 1000);
	else if (ms >= 1)
		snprintf(buf, len, "%.1fms", ms);
	else
		snprintf(buf, len, "%.0fus", ms * 1000);
	return buf;
}

/* Common option parsing: fills c, returns the next index of positional
 * arguments, or -1 (usage printed). extra: command options handled by
 * on_opt (returns 0, or EXIT_USAGE). */
enum { O_ADDR = 1000, O_JSON, O_SINCE, O_START, O_END, O_HELP };

#define COMMON_OPTS                                            \
	{ "addr", required_argument, NULL, O_ADDR },           \
	{ "json", no_argument, NULL, O_JSON },                 \
	{ "since", required_argument, NULL, O_SINCE },         \
	{ "start", required_argument, NULL, O_START },         \
	{ "end", required_argument, NULL, O_END },             \
	{ "help", no_argument, NULL, O_HELP }

static void cli_init(struct cli *c)
{
	memset(c, 0, sizeof(*c));
	c->addr = getenv("TERN_ADDR");
	if (c->addr == NULL || *c->addr == '\0')
		c->addr = "127.0.0.1:16686";
}

/* Returns 1 when ch was a common option, 0 when not, -1 for --help. */
static int common_opt(struct cli *c, int ch)
{
	switch (ch) {
	case O_ADDR: c->addr = optarg; return 1;
	case O_JSON: c->json = true; return 1;
	case O_SINCE: c->since = optarg; return 1;
	case O_START: c->start = optarg; return 1;
	case O_END: c->end = optarg; return 1;
	case O_HELP: return -1;
	default: return 0;
	}
}

static const char common_help[] =
	"  --addr HOST:PORT   ternd's query API (default $TERN_ADDR or 127.0.0.1:16686)\n"
	"  --since D          window ending now (default 15m); or --start T [--end T]\n"
	"                     (T: unix seconds or 2026-11-21T06:00:00Z)\n"
	"  --json             machine-readable output\n";

/* ---- services ---- */

int col_cli_services(int argc, char **argv)
{
	struct cli c;
	cli_init(&c);
	static const struct option lo[] = { COMMON_OPTS, { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		int r = common_opt(&c, ch);
		if (r < 0) {
			printf("usage: tern services [--addr HOST:PORT] [--json]\n");
			return 0;
		}
		if (r == 0)
			return fail("services: unknown option (try tern services --help)");
	}
	json_object *o;
	int r = get_json(&c, "/api/services", &o);
	if (r != 0)
		return r;
	json_object *d = field(o, "data");
	if (c.json) {
		print_json(d);
	} else {
		size_t n = d ? json_object_array_length(d) : 0;
		for (size_t i = 0; i < n; i++)
			puts(json_object_get_string(json_object_array_get_idx(d, i)));
	}
	json_object_put(o);
	return 0;
}

/* ---- stats ---- */

static void stats_table(json_object *rows, bool ops)
{
	char a[24], b[24], cc[24], d[24], e[24];
	size_t n = rows ? json_object_array_length(rows) : 0;
	if (ops)
		printf("%-16s %-28s %-8s %8s %9s %7s %9s %9s %9s %9s %9s %6s\n", "SERVICE", "OPERATION",
		       "KIND", "CALLS", "RATE/s", "ERR%", "AVG", "P50", "P95", "P99", "MAX", "SHARE");
	else
		printf("%-16s %8s %9s %7s %9s %9s %9s %9s %9s %6s\n", "SERVICE", "CALLS", "RATE/s",
		       "ERR%", "AVG", "P50", "P95", "P99", "MAX", "SHARE");
	for (size_t i = 0; i < n; i++) {
		json_object *r = json_object_array_get_idx(rows, i);
		if (ops)
			printf("%-16.16s %-28.28s %-8s ", fstr(r, "service"), fstr(r, "operation"),
			       fstr(r, "span_kind"));
		else
			printf("%-16.16s ", fstr(r, "service"));
		printf("%8.0f %9.2f %6.2f%% %9s %9s %9s %9s %9s %5.1f%%\n", fnum(r, "calls"),
		       fnum(r, "rate_per_s"), 100 * fnum(r, "error_rate"),
		       fmt_ms(a, sizeof(a), fnum(r, "avg_ms")), fmt_ms(b, sizeof(b), fnum(r, "p50_ms")),
		       fmt_ms(cc, sizeof(cc), fnum(r, "p95_ms")), fmt_ms(d, sizeof(d), fnum(r, "p99_ms")),
		       fmt_ms(e, sizeof(e), fnum(r, "max_ms")), 100 * fnum(r, "time_share"));
	}
}

/* GET /api/tern/summary with the window and filters. */
static int summary(struct cli *c, const char *service, const char *operation, const char *version,
		   const char *kind, json_object **out)
{
	char path[2048] = "", q[1800] = "";
	snprintf(q, sizeof(q), "%s", c->range);
	qadd(q, sizeof(q), "service", service);
	qadd(q, sizeof(q), "operation", operation);
	qadd(q, sizeof(q), "version", version);
	qadd(q, sizeof(q), "spanKind", kind);
	snprintf(path, sizeof(path), "/api/tern/summary?%s", q);
	return get_json(c, path, out);
}

int col_cli_stats(int argc, char **argv)
{
	struct cli c;
	cli_init(&c);
	const char *service = NULL, *operation = NULL, *version = NULL, *kind = NULL;
	static const struct option lo[] = { COMMON_OPTS,
					    { "service", required_argument, NULL, 's' },
					    { "operation", required_argument, NULL, 'o' },
					    { "version", required_argument, NULL, 'v' },
					    { "kind", required_argument, NULL, 'k' },
					    { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:o:", lo, NULL)) != -1) {
		int r = common_opt(&c, ch);
		if (r < 0) {
			printf("usage: tern stats [--service S] [--operation O] [--version V] "
			       "[--kind server|client|...]\n%s", common_help);
			return 0;
		}
		if (r == 1)
			continue;
		if (ch == 's')
			service = optarg;
		else if (ch == 'o')
			operation = optarg;
		else if (ch == 'v')
			version = optarg;
		else if (ch == 'k')
			kind = optarg;
		else
			return fail("stats: unknown option (try tern stats --help)");
	}
	int r = window(&c);
	if (r != 0)
		return r;
	json_object *o;
	r = summary(&c, service, operation, version, kind, &o);
	if (r != 0)
		return r;
	json_object *d = field(o, "data");
	if (c.json) {
		print_json(d);
	} else {
		printf("window %.0f s\n\nservices (entry spans)\n", fnum(d, "window_s"));
		stats_table(field(d, "services"), false);
		printf("\noperations\n");
		stats_table(field(d, "operations"), true);
	}
	json_object_put(o);
	return 0;
}

/* ---- trace ---- */

struct tspan {
	const char *id, *parent, *service, *op;
	int64_t start, dur; /* µs */
	bool error;
	int parent_ix;      /* -1: root (or parent missing) */
	int *kids;
	int nkids;
	bool critical;
};

static int cmp_start(const void *a, const void *b, void *arg)
{
	const struct tspan *s = arg;
	int x = *(const int *)a, y = *(const int *)b;
	return s[x].start < s[y].start ? -1 : s[x].start > s[y].start;
}

/*
 * Critical path: from span i, take the child that ends last (children are
 * first clamped to their parent's interval, as Jaeger does for children
 * that outlive their parent), then the child that ends last before that
 * child's start, and so on; recurse into each taken child with its clamped
 * interval.
 */
static void critical(struct tspan *s, int i, int64_t lo, int64_t hi)
{
	s[i].critical = true;
	int64_t limit = hi;
	for (;;) {
		int best = -1;
		int64_t best_end = 0;
		for (int k = 0; k < s[i].nkids; k++) {
			int c = s[i].kids[k];
			int64_t st = s[c].start < lo ? lo : s[c].start;
			int64_t end = s[c].start + s[c].dur > hi ? hi : s[c].start + s[c].dur;
			if (s[c].critical || end > limit || st > end)
				continue;
			if (best < 0 || end > best_end) {
				best = c;
				best_end = end;
			}
		}
		if (best < 0)
			break;
		int64_t bst = s[best].start < lo ? lo : s[best].start;
		critical(s, best, bst, best_end);
		limit = bst;
	}
}

static void draw(const struct tspan *s, int i, int depth, int64_t t0, int64_t total, int width)
{
	char d[24];
	int from = total > 0 ? (int)((s[i].start - t0) * width / total) : 0;
	int len = total > 0 ? (int)(s[i].dur * width / total) : width;
	if (len < 1)
		len = 1;
	if (from > width - 1)
		from = width - 1;
	if (from + len > width)
		len = width - from;
	char bar[256];
	for (int k = 0; k < width; k++)
		bar[k] = k >= from && k < from + len ? (s[i].critical ? '#' : '=') : ' ';
	bar[width] = '\0';
	char label[160];
	snprintf(label, sizeof(label), "%*s%s %s: %s", depth * 2, "", s[i].critical ? "*" : " ",
		 s[i].service, s[i].op);
	printf("%-52.52s %9s %s|%s|\n", label, fmt_ms(d, sizeof(d), s[i].dur / 1000.0),
	       s[i].error ? "!" : " ", bar);
	for (int k = 0; k < s[i].nkids; k++)
		draw(s, s[i].kids[k], depth + 1, t0, total, width);
}

int col_cli_trace(int argc, char **argv)
{
	struct cli c;
	cli_init(&c);
	static const struct option lo[] = { COMMON_OPTS, { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		int r = common_opt(&c, ch);
		if (r < 0) {
			printf("usage: tern trace TRACE_ID [--addr HOST:PORT] [--json]\n"
			       "  draws the trace as a waterfall; '*' and '#' mark the critical path\n");
			return 0;
		}
		if (r == 0)
			return fail("trace: unknown option (try tern trace --help)");
	}
	if (optind != argc - 1)
		return fail("trace: give exactly one trace id (try tern trace --help)");
	char enc[256], path[300];
	urlenc(enc, sizeof(enc), argv[optind]);
	snprintf(path, sizeof(path), "/api/traces/%s", enc);
	json_object *o;
	int r = get_json(&c, path, &o);
	if (r != 0)
		return r;
	json_object *tr = json_object_array_get_idx(field(o, "data"), 0);
	if (c.json) {
		print_json(tr);
		json_object_put(o);
		return 0;
	}
	json_object *spans = field(tr, "spans"), *procs = field(tr, "processes");
	int n = spans ? (int)json_object_array_length(spans) : 0;
	struct tspan *s = calloc((size_t)(n > 0 ? n : 1), sizeof(*s));
	int *kids = calloc((size_t)(n > 0 ? n : 1), sizeof(*kids));
	if (s == NULL || kids == NULL) {
		free(s);
		free(kids);
		json_object_put(o);
		return fail("out of memory");
	}
	for (int i = 0; i < n; i++) {
		json_object *sp = json_object_array_get_idx(spans, i);
		s[i].id = fstr(sp, "spanID");
		s[i].op = fstr(sp, "operationName");
		s[i].start = (int64_t)fnum(sp, "startTime");
		s[i].dur = (int64_t)fnum(sp, "duration");
		s[i].service = fstr(field(procs, fstr(sp, "processID")), "serviceName");
		s[i].parent_ix = -1;
		json_object *refs = field(sp, "references");
		for (size_t k = 0; refs && k < json_object_array_length(refs); k++) {
			json_object *ref = json_object_array_get_idx(refs, k);
			if (strcmp(fstr(ref, "refType"), "CHILD_OF") == 0)
				s[i].parent = fstr(ref, "spanID");
		}
		json_object *tags = field(sp, "tags");
		for (size_t k = 0; tags && k < json_object_array_length(tags); k++) {
			json_object *t = json_object_array_get_idx(tags, k);
			if (strcmp(fstr(t, "key"), "error") == 0 &&
			    json_object_get_boolean(field(t, "value")))
				s[i].error = true;
		}
	}
	/* children lists, by start time */
	int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof(*order));
	for (int i = 0; order && i < n; i++)
		order[i] = i;
	if (order)
		qsort_r(order, (size_t)n, sizeof(*order), cmp_start, s);
	int *cnt = calloc((size_t)(n > 0 ? n : 1), sizeof(*cnt));
	for (int i = 0; i < n; i++) {
		if (s[i].parent == NULL)
			continue;
		for (int k = 0; k < n; k++)
			if (k != i && strcmp(s[k].id, s[i].parent) == 0) {
				s[i].parent_ix = k;
				break;
			}
	}
	/* lay out kids contiguously in start order */
	int off = 0;
	for (int i = 0; cnt && i < n; i++)
		if (s[i].parent_ix >= 0)
			cnt[s[i].parent_ix]++;
	for (int i = 0; cnt && i < n; i++) {
		s[i].kids = kids + off;
		off += cnt[i];
	}
	for (int k = 0; order && k < n; k++) {
		int i = order[k];
		if (s[i].parent_ix >= 0) {
			struct tspan *p = &s[s[i].parent_ix];
			p->kids[p->nkids++] = i;
		}
	}
	int64_t t0 = INT64_MAX, t1 = 0;
	for (int i = 0; i < n; i++) {
		if (s[i].start < t0)
			t0 = s[i].start;
		if (s[i].start + s[i].dur > t1)
			t1 = s[i].start + s[i].dur;
	}
	char d[24];
	printf("trace %s: %d spans, %s\n", fstr(tr, "traceID"), n,
	       fmt_ms(d, sizeof(d), n ? (t1 - t0) / 1000.0 : 0));
	printf("(* and # mark the critical path, ! an error)\n");
	for (int k = 0; order && k < n; k++) {
		int i = order[k];
		if (s[i].parent_ix < 0) {
			critical(s, i, s[i].start, s[i].start + s[i].dur);
			draw(s, i, 0, t0, t1 - t0, 50);
		}
	}
	free(cnt);
	free(order);
	free(kids);
	free(s);
	json_object_put(o);
	return 0;
}

/* ---- search ---- */

int col_cli_search(int argc, char **argv)
{
	struct cli c;
	cli_init(&c);
	const char *service = NULL, *operation = NULL, *minD = NULL, *maxD = NULL, *limit = NULL;
	const char *tags[8];
	int ntags = 0;
	static const struct option lo[] = { COMMON_OPTS,
					    { "service", required_argument, NULL, 's' },
					    { "operation", required_argument, NULL, 'o' },
					    { "tag", required_argument, NULL, 't' },
					    { "min-duration", required_argument, NULL, 'm' },
					    { "max-duration", required_argument, NULL, 'M' },
					    { "limit", required_argument, NULL, 'l' },
					    { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:o:t:", lo, NULL)) != -1) {
		int r = common_opt(&c, ch);
		if (r < 0) {
			printf("usage: tern search --service S [--operation O] [--tag KEY:VALUE]... "
			       "[--min-duration D] [--max-duration D] [--limit N]\n%s", common_help);
			return 0;
		}
		if (r == 1)
			continue;
		switch (ch) {
		case 's': service = optarg; break;
		case 'o': operation = optarg; break;
		case 't':
			if (ntags == 8)
				return fail("search: at most 8 --tag");
			if (strchr(optarg, ':') == NULL)
				return fail("search: --tag '%s' is not KEY:VALUE", optarg);
			tags[ntags++] = optarg;
			break;
		case 'm': minD = optarg; break;
		case 'M': maxD = optarg; break;
		case 'l': limit = optarg; break;
		default: return fail("search: unknown option (try tern search --help)");
		}
	}
	if (service == NULL)
		return fail("search: --service is required");
	if (c.since == NULL && c.start == NULL)
		c.since = "1h";
	int r = window(&c);
	if (r != 0)
		return r;
	char q[3000] = "", path[3100];
	/* /api/traces takes start/end in µs and lookback as a duration. */
	snprintf(q, sizeof(q), "%s", c.range);
	qadd(q, sizeof(q), "service", service);
	qadd(q, sizeof(q), "operation", operation);
	qadd(q, sizeof(q), "minDuration", minD);
	qadd(q, sizeof(q), "maxDuration", maxD);
	qadd(q, sizeof(q), "limit", limit);
	for (int i = 0; i < ntags; i++)
		qadd(q, sizeof(q), "tag", tags[i]);
	snprintf(path, sizeof(path), "/api/traces?%s", q);
	json_object *o;
	r = get_json(&c, path, &o);
	if (r != 0)
		return r;
	json_object *d = field(o, "data");
	if (c.json) {
		print_json(d);
		json_object_put(o);
		return 0;
	}
	size_t n = d ? json_object_array_length(d) : 0;
	printf("%-32s %-40s %6s %10s %6s %s\n", "TRACE ID", "ROOT", "SPANS", "DURATION", "ERRORS",
	       "START (UTC)");
	for (size_t i = 0; i < n; i++) {
		json_object *tr = json_object_array_get_idx(d, i);
		json_object *spans = field(tr, "spans"), *procs = field(tr, "processes");
		size_t ns = spans ? json_object_array_length(spans) : 0;
		int64_t t0 = INT64_MAX, t1 = 0;
		int errors = 0;
		const char *root = "";
		char rootbuf[160] = "";
		for (size_t k = 0; k < ns; k++) {
			json_object *sp = json_object_array_get_idx(spans, k);
			int64_t st = (int64_t)fnum(sp, "startTime"), du = (int64_t)fnum(sp, "duration");
			if (st < t0) {
				t0 = st;
				snprintf(rootbuf, sizeof(rootbuf), "%s: %s",
					 fstr(field(procs, fstr(sp, "processID")), "serviceName"),
					 fstr(sp, "operationName"));
				root = rootbuf;
			}
			if (st + du > t1)
				t1 = st + du;
			json_object *stags = field(sp, "tags");
			for (size_t j = 0; stags && j < json_object_array_length(stags); j++)
				if (strcmp(fstr(json_object_array_get_idx(stags, j), "key"), "error") == 0)
					errors++;
		}
		char dur[24], when[40] = "";
		time_t ts = (time_t)(t0 / 1000000);
		struct tm tm;
		if (ns && gmtime_r(&ts, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%-32s %-40.40s %6zu %10s %6d %s\n", fstr(tr, "traceID"), root, ns,
		       fmt_ms(dur, sizeof(dur), ns ? (t1 - t0) / 1000.0 : 0), errors, when);
	}
	json_object_put(o);
	return 0;
}

/* ---- report ---- */

int col_cli_report(int argc, char **argv)
{
	struct cli c;
	cli_init(&c);
	const char *service = NULL;
	double crit = 2e9, high = 1e9, med = 0.5e9;
	int top = 0;
	static const struct option lo[] = { COMMON_OPTS,
					    { "service", required_argument, NULL, 's' },
					    { "critical", required_argument, NULL, 'c' },
					    { "high", required_argument, NULL, 'H' },
					    { "medium", required_argument, NULL, 'm' },
					    { "top", required_argument, NULL, 'n' },
					    { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:", lo, NULL)) != -1) {
		int r = common_opt(&c, ch);
		if (r < 0) {
			printf("usage: tern report [--service S] [--critical 2s] [--high 1s] "
			       "[--medium 500ms] [--top N]\n"
			       "  operations ranked by total time, in tiers by average latency\n%s",
			       common_help);
			return 0;
		}
		if (r == 1)
			continue;
		double *dst = ch == 'c' ? &crit : ch == 'H' ? &high : ch == 'm' ? &med : NULL;
		if (dst) {
			if (parse_dur(optarg, dst) != 0)
				return fail("report: '%s' is not a duration (e.g. 500ms, 2s)", optarg);
		} else if (ch == 's') {
			service = optarg;
		} else if (ch == 'n') {
			top = atoi(optarg);
		} else {
			return fail("report: unknown option (try tern report --help)");
		}
	}
	if (!(crit >= high && high >= med))
		return fail("report: thresholds must be --critical >= --high >= --medium");
	int r = window(&c);
	if (r != 0)
		return r;
	json_object *o;
	r = summary(&c, service, NULL, NULL, NULL, &o);
	if (r != 0)
		return r;
	json_object *ops = field(field(o, "data"), "operations");
	size_t n = ops ? json_object_array_length(ops) : 0;
	if (top > 0 && (size_t)top < n)
		n = (size_t)top;
	static const char *const tier[4] = { "critical", "high", "medium", "low" };
	static const char *const advice[4] = {
		"these dominate user-facing time: profile them first; look for serial calls that "
		"could run in parallel, missing indexes, and retries",
		"look at their critical path (tern trace) for the slowest child and for N+1 calls; "
		"consider caching",
		"watch their p99 against p50: a wide gap points at contention or cold caches",
		"no action needed",
	};
	double thr[3] = { crit, high, med };
	json_object *out = json_object_new_object();
	json_object *tiers[4];
	for (int t = 0; t < 4; t++) {
		tiers[t] = json_object_new_array();
		json_object_object_add(out, tier[t], tiers[t]);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(ops, i);
		double avg_ns = fnum(row, "avg_ms") * 1e6;
		int t = 3;
		for (int k = 0; k < 3; k++)
			if (avg_ns > thr[k]) {
				t = k;
				break;
			}
		json_object_array_add(tiers[t], json_object_get(row));
	}
	if (c.json) {
		print_json(out);
	} else {
		printf("operations ranked by total time (window %.0f s)\n", fnum(field(o, "data"), "window_s"));
		for (int t = 0; t < 4; t++) {
			size_t m = json_object_array_length(tiers[t]);
			char a[24];
			if (t < 3)
				printf("\n%s (avg > %s): %zu operations\n", tier[t], fmt_ms(a, sizeof(a), thr[t] / 1e6), m);
			else
				printf("\nlow: %zu operations\n", m);
			if (m == 0)
				continue;
			printf("  -> %s\n", advice[t]);
			stats_table(tiers[t], true);
		}
	}
	json_object_put(out);
	json_object_put(o);
	return 0;
}

/* ---- check ---- */

int col_cli_check(int argc, char **argv)
{
	struct cli c;
	cli_init(&c);
	const char *service = NULL, *operation = NULL;
	double lim[4] = { -1, -1, -1, -1 }; /* p50, p95, p99 (ns), error rate */
	static const struct option lo[] = { COMMON_OPTS,
					    { "service", required_argument, NULL, 's' },
					    { "operation", required_argument, NULL, 'o' },
					    { "p50", required_argument, NULL, '5' },
					    { "p95", required_argument, NULL, '9' },
					    { "p99", required_argument, NULL, '1' },
					    { "error-rate", required_argument, NULL, 'e' },
					    { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:o:", lo, NULL)) != -1) {
		int r = common_opt(&c, ch);
		if (r < 0) {
			printf("usage: tern check --service S [--operation O] [--p50 D] [--p95 D] "
			       "[--p99 D] [--error-rate P%%]\n"
			       "  exit 0 when every target holds, 1 with the violations\n%s",
			       common_help);
			return 0;
		}
		if (r == 1)
			continue;
		int k = ch == '5' ? 0 : ch == '9' ? 1 : ch == '1' ? 2 : -1;
		if (k >= 0) {
			if (parse_dur(optarg, &lim[k]) != 0)
				return fail("check: '%s' is not a duration (e.g. 500ms, 1s)", optarg);
		} else if (ch == 'e') {
			char *e;
			double v = strtod(optarg, &e);
			if (e == optarg || (*e && strcmp(e, "%") != 0) || v < 0)
				return fail("check: --error-rate '%s' is not a percentage (e.g. 1%%)", optarg);
			lim[3] = v / 100;
		} else if (ch == 's') {
			service = optarg;
		} else if (ch == 'o') {
			operation = optarg;
		} else {
			return fail("check: unknown option (try tern check --help)");
		}
	}
	if (service == NULL)
		return fail("check: --service is required");
	if (lim[0] < 0 && lim[1] < 0 && lim[2] < 0 && lim[3] < 0)
		return fail("check: give at least one target (--p50, --p95, --p99, --error-rate)");
	int r = window(&c);
	if (r != 0)
		return r;
	json_object *o;
	r = summary(&c, service, operation, NULL, NULL, &o);
	if (r != 0)
		return r;
	/* The service's own latency (entry spans), or the operation's (all
	 * kinds merged is not possible from rows: take the busiest kind). */
	json_object *d = field(o, "data"), *row = NULL;
	json_object *rows = field(d, operation ? "operations" : "services");
	for (size_t i = 0; rows && i < json_object_array_length(rows); i++) {
		json_object *x = json_object_array_get_idx(rows, i);
		if (row == NULL || fnum(x, "calls") > fnum(row, "calls"))
			row = x;
	}
	static const char *const name[4] = { "p50", "p95", "p99", "error_rate" };
	static const char *const key[4] = { "p50_ms", "p95_ms", "p99_ms", "error_rate" };
	json_object *res = json_object_new_object(), *viol = json_object_new_array();
	json_object_object_add(res, "service", json_object_new_string(service));
	if (operation)
		json_object_object_add(res, "operation", json_object_new_string(operation));
	json_object_object_add(res, "calls", json_object_new_int64(row ? (int64_t)fnum(row, "calls") : 0));
	bool nodata = row == NULL || fnum(row, "calls") == 0;
	for (int k = 0; k < 4 && !nodata; k++) {
		if (lim[k] < 0)
			continue;
		double actual = fnum(row, key[k]);
		double target = k < 3 ? lim[k] / 1e6 : lim[k];
		if (actual > target) {
			json_object *v = json_object_new_object();
			json_object_object_add(v, "target", json_object_new_string(name[k]));
			json_object_object_add(v, "limit", json_object_new_double(target));
			json_object_object_add(v, "actual", json_object_new_double(actual));
			json_object_array_add(viol, v);
		}
	}
	json_object_object_add(res, "no_data", json_object_new_boolean(nodata));
	json_object_object_add(res, "violations", viol);
	size_t nv = json_object_array_length(viol);
	bool ok = !nodata && nv == 0;
	json_object_object_add(res, "ok", json_object_new_boolean(ok));
	if (c.json) {
		print_json(res);
	} else if (nodata) {
		printf("FAIL: no spans of %s%s%s in the window\n", service, operation ? " / " : "",
		       operation ? operation : "");
	} else if (ok) {
		printf("OK: %s%s%s meets every target (%.0f calls)\n", service, operation ? " / " : "",
		       operation ? operation : "", fnum(row, "calls"));
	} else {
		printf("FAIL: %zu target(s) violated for %s%s%s (%.0f calls)\n", nv, service,
		       operation ? " / " : "", operation ? operation : "", fnum(row, "calls"));
		printf("%-12s %12s %12s\n", "TARGET", "LIMIT", "ACTUAL");
		for (size_t i = 0; i < nv; i++) {
			json_object *v = json_object_array_get_idx(viol, i);
			char a[24], b[24];
			bool er = strcmp(fstr(v, "target"), "error_rate") == 0;
			if (er)
				printf("%-12s %11.2f%% %11.2f%%\n", "error_rate", 100 * fnum(v, "limit"),
				       100 * fnum(v, "actual"));
			else
				printf("%-12s %12s %12s\n", fstr(v, "target"), fmt_ms(a, sizeof(a), fnum(v, "limit")),
				       fmt_ms(b, sizeof(b), fnum(v, "actual")));
		}
	}
	json_object_put(res);
	json_object_put(o);
	return ok ? 0 : EXIT_FINDING;
}

/* ---- compare ---- */

struct side {
	const char *version;      /* version=V */
	char start[32], end[32];  /* window=START,END (µs) */
};

static int parse_side(const char *s, struct side *sd)
{
	memset(sd, 0, sizeof(*sd));
	if (strncmp(s, "version=", 8) == 0 && s[8]) {
		sd->version = s + 8;
		return 0;
	}
	if (strncmp(s, "window=", 7) == 0) {
		char buf[128];
		snprintf(buf, sizeof(buf), "%s", s + 7);
		char *comma = strchr(buf, ',');
		if (comma == NULL)
			return -EINVAL;
		*comma = '\0';
		int64_t a, b;
		if (parse_time(buf, &a) != 0 || parse_time(comma + 1, &b) != 0 || b <= a)
			return -EINVAL;
		snprintf(sd->start, sizeof(sd->start), "%" PRId64, a);
		snprintf(sd->end, sizeof(sd->end), "%" PRId64, b);
		return 0;
	}
	return -EINVAL;
}

static int side_summary(struct cli *c, const char *service, const struct side *sd,
			json_object **out)
{
	struct cli cc = *c;
	if (sd->start[0]) {
		cc.range[0] = '\0';
		qadd(cc.range, sizeof(cc.range), "start", sd->start);
		qadd(cc.range, sizeof(cc.range), "end", sd->end);
	}
	return summary(&cc, service, NULL, sd->version, NULL, out);
}

static double pct(double base, double cur)
{
	if (base == 0)
		return cur == 0 ? 0 : INFINITY;
	return (cur - base) / base * 100;
}

int col_cli_compare(int argc, char **argv)
{
	struct cli c;
	cli_init(&c);
	const char *service = NULL, *bs = NULL, *cs = NULL;
	double threshold = 5;
	static const struct option lo[] = { COMMON_OPTS,
					    { "service", required_argument, NULL, 's' },
					    { "baseline", required_argument, NULL, 'b' },
					    { "current", required_argument, NULL, 'c' },
					    { "threshold", required_argument, NULL, 't' },
					    { NULL, 0, NULL, 0 } };
	int ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "s:", lo, NULL)) != -1) {
		int r = common_opt(&c, ch);
		if (r < 0) {
			printf("usage: tern compare --service S --baseline SIDE --current SIDE "
			       "[--threshold 5%%]\n"
			       "  SIDE: version=V (service.version, over --since/--start/--end)\n"
			       "        or window=START,END (unix seconds or RFC 3339)\n"
			       "  exit 1 when an operation regressed beyond the threshold\n%s",
			       common_help);
			return 0;
		}
		if (r == 1)
			continue;
		if (ch == 's') {
			service = optarg;
		} else if (ch == 'b') {
			bs = optarg;
		} else if (ch == 'c') {
			cs = optarg;
		} else if (ch == 't') {
			char *e;
			threshold = strtod(optarg, &e);
			if (e == optarg || (*e && strcmp(e, "%") != 0) || threshold < 0)
				return fail("compare: --threshold '%s' is not a percentage", optarg);
		} else {
			return fail("compare: unknown option (try tern compare --help)");
		}
	}
	if (service == NULL || bs == NULL || cs == NULL)
		return fail("compare: --service, --baseline and --current are required");
	struct side b, cur;
	if (parse_side(bs, &b) != 0)
		return fail("compare: --baseline '%s' is not version=V or window=START,END", bs);
	if (parse_side(cs, &cur) != 0)
		return fail("compare: --current '%s' is not version=V or window=START,END", cs);
	if (c.since == NULL && c.start == NULL)
		c.since = "24h";
	int r = window(&c);
	if (r != 0)
		return r;
	json_object *ob, *oc;
	if ((r = side_summary(&c, service, &b, &ob)) != 0)
		return r;
	if ((r = side_summary(&c, service, &cur, &oc)) != 0) {
		json_object_put(ob);
		return r;
	}
	json_object *rb = field(field(ob, "data"), "operations");
	json_object *rc = field(field(oc, "data"), "operations");
	if (rb == NULL || json_object_array_length(rb) == 0 || rc == NULL ||
	    json_object_array_length(rc) == 0) {
		/* Nothing to compare is not a pass for a CI gate. */
		printf("FAIL: no spans of %s in the %s side\n", service,
		       rb == NULL || json_object_array_length(rb) == 0 ? "baseline" : "current");
		json_object_put(ob);
		json_object_put(oc);
		return EXIT_FINDING;
	}
	json_object *out = json_object_new_array();
	int regressions = 0;
	static const char *const keys[4] = { "p50_ms", "p95_ms", "p99_ms", "error_rate" };
	for (size_t i = 0; rc && i < json_object_array_length(rc); i++) {
		json_object *x = json_object_array_get_idx(rc, i), *y = NULL;
		for (size_t j = 0; rb && j < json_object_array_length(rb) && !y; j++) {
			json_object *z = json_object_array_get_idx(rb, j);
			if (strcmp(fstr(z, "operation"), fstr(x, "operation")) == 0 &&
			    strcmp(fstr(z, "span_kind"), fstr(x, "span_kind")) == 0)
				y = z;
		}
		json_object *e = json_object_new_object();
		json_object_object_add(e, "operation", json_object_new_string(fstr(x, "operation")));
		json_object_object_add(e, "span_kind", json_object_new_string(fstr(x, "span_kind")));
		json_object_object_add(e, "calls", json_object_new_int64((int64_t)fnum(x, "calls")));
		const char *verdict = "new";
		if (y != NULL) {
			bool worse = false, better = false;
			for (int k = 0; k < 4; k++) {
				double bv = fnum(y, keys[k]), cv = fnum(x, keys[k]);
				double ch2 = pct(bv, cv);
				char kb[32], kc[32], kp[32];
				snprintf(kb, sizeof(kb), "baseline_%s", keys[k]);
				snprintf(kc, sizeof(kc), "current_%s", keys[k]);
				snprintf(kp, sizeof(kp), "change_pct_%s", keys[k]);
				json_object_object_add(e, kb, json_object_new_double(bv));
				json_object_object_add(e, kc, json_object_new_double(cv));
				json_object_object_add(e, kp, isfinite(ch2) ? json_object_new_double(ch2) : NULL);
				if (ch2 > threshold)
					worse = true;
				else if (ch2 < -threshold)
					better = true;
			}
			verdict = worse ? "regression" : better ? "improvement" : "same";
			regressions += worse;
		}
		json_object_object_add(e, "verdict", json_object_new_string(verdict));
		json_object_array_add(out, e);
	}
	if (c.json) {
		json_object *res = json_object_new_object();
		json_object_object_add(res, "threshold_pct", json_object_new_double(threshold));
		json_object_object_add(res, "regressions", json_object_new_int(regressions));
		json_object_object_add(res, "operations", json_object_get(out));
		print_json(res);
		json_object_put(res);
	} else {
		printf("%s: baseline %s vs current %s (threshold %.1f%%)\n", service, bs, cs, threshold);
		printf("%-28s %-8s %-21s %-21s %-21s %-19s %s\n", "OPERATION", "KIND", "P50 base/cur (chg)",
		       "P95 base/cur (chg)", "P99 base/cur (chg)", "ERR% base/cur", "VERDICT");
		for (size_t i = 0; i < json_object_array_length(out); i++) {
			json_object *e = json_object_array_get_idx(out, i);
			printf("%-28.28s %-8s ", fstr(e, "operation"), fstr(e, "span_kind"));
			for (int k = 0; k < 3; k++) {
				char kb[32], kc[32], kp[32], a[24], bb[24], col[64];
				snprintf(kb, sizeof(kb), "baseline_%s", keys[k]);
				snprintf(kc, sizeof(kc), "current_%s", keys[k]);
				snprintf(kp, sizeof(kp), "change_pct_%s", keys[k]);
				if (field(e, kb) == NULL) {
					printf("%-21s ", "-");
					continue;
				}
				snprintf(col, sizeof(col), "%s/%s (%+.0f%%)", fmt_ms(a, sizeof(a), fnum(e, kb)),
					 fmt_ms(bb, sizeof(bb), fnum(e, kc)), fnum(e, kp));
				printf("%-21s ", col);
			}
			if (field(e, "baseline_error_rate"))
				printf("%6.2f/%-6.2f       ", 100 * fnum(e, "baseline_error_rate"),
				       100 * fnum(e, "current_error_rate"));
			else
				printf("%-19s ", "-");
			printf("%s\n", fstr(e, "verdict"));
		}
		printf("%d regression(s)\n", regressions);
	}
	json_object_put(out);
	json_object_put(ob);
	json_object_put(oc);
	return regressions ? EXIT_FINDING : 0;
}
