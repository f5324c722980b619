/*
 * cli/trace.c: tern trace ID: one trace as an indented waterfall, its
 * critical path marked (docs/cli.md says how it is found).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

struct tspan {
	const char *id, *parent, *service, *op; /* strings of the trace JSON */
	int64_t start, dur;                     /* µs */
	bool error;
	int parent_ix; /* -1: root (or parent missing) */
	int *kids;     /* in start order */
	int nkids;
	bool critical;
};

/* The spans of a trace, their tree, and the order of their starts. */
struct tree {
	int n;
	struct tspan *s;
	int *kids;  /* every span's children, laid out contiguously */
	int *order; /* span indexes by start time */
};

static void tree_free(struct tree *t)
{
	free(t->s);
	free(t->kids);
	free(t->order);
}

static int cmp_start(const void *a, const void *b, void *arg)
{
	const struct tspan *s = arg;
	int x = *(const int *)a, y = *(const int *)b;
	return s[x].start < s[y].start ? -1 : s[x].start > s[y].start;
}

/* One span of Jaeger's trace JSON (procs: its processes). */
static void read_span(json_object *sp, json_object *procs, struct tspan *s)
{
	s->id = cli_str(sp, "spanID");
	s->op = cli_str(sp, "operationName");
	s->start = (int64_t)cli_num(sp, "startTime");
	s->dur = (int64_t)cli_num(sp, "duration");
	s->service = cli_str(cli_field(procs, cli_str(sp, "processID")), "serviceName");
	s->parent_ix = -1;
	json_object *refs = cli_field(sp, "references");
	for (size_t k = 0; refs && k < json_object_array_length(refs); k++) {
		json_object *ref = json_object_array_get_idx(refs, k);
		if (strcmp(cli_str(ref, "refType"), "CHILD_OF") == 0)
			s->parent = cli_str(ref, "spanID");
	}
	json_object *tags = cli_field(sp, "tags");
	for (size_t k = 0; tags && k < json_object_array_length(tags); k++) {
		json_object *t = json_object_array_get_idx(tags, k);
		if (strcmp(cli_str(t, "key"), "error") == 0 &&
		    json_object_get_boolean(cli_field(t, "value")))
			s->error = true;
	}
}

/* Finds each span's parent and lists each span's children by start. */
static void link_tree(struct tree *t, int *cnt)
{
	struct tspan *s = t->s;
	for (int i = 0; i < t->n; i++) {
		if (s[i].parent == NULL)
			continue;
		for (int k = 0; k < t->n; k++)
			if (k != i && strcmp(s[k].id, s[i].parent) == 0) {
				s[i].parent_ix = k;
				break;
			}
	}
	for (int i = 0; i < t->n; i++)
		if (s[i].parent_ix >= 0)
			cnt[s[i].parent_ix]++;
	int off = 0;
	for (int i = 0; i < t->n; i++) {
		s[i].kids = t->kids + off;
		off += cnt[i];
	}
	for (int k = 0; k < t->n; k++) {
		int i = t->order[k];
		if (s[i].parent_ix >= 0) {
			struct tspan *p = &s[s[i].parent_ix];
			p->kids[p->nkids++] = i;
		}
	}
}

/* Reads the spans of trace tr into t. 0 or -ENOMEM. */
static int tree_build(json_object *tr, struct tree *t)
{
	json_object *spans = cli_field(tr, "spans"), *procs = cli_field(tr, "processes");
	memset(t, 0, sizeof(*t));
	t->n = spans ? (int)json_object_array_length(spans) : 0;
	size_t m = (size_t)(t->n > 0 ? t->n : 1);
	t->s = calloc(m, sizeof(*t->s));
	t->kids = calloc(m, sizeof(*t->kids));
	t->order = calloc(m, sizeof(*t->order));
	int *cnt = calloc(m, sizeof(*cnt));
	if (t->s == NULL || t->kids == NULL || t->order == NULL || cnt == NULL) {
		free(cnt);
		tree_free(t);
		return -1;
	}
	for (int i = 0; i < t->n; i++) {
		read_span(json_object_array_get_idx(spans, i), procs, &t->s[i]);
		t->order[i] = i;
	}
	qsort_r(t->order, (size_t)t->n, sizeof(*t->order), cmp_start, t->s);
	link_tree(t, cnt);
	free(cnt);
	return 0;
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
	printf("%-52.52s %9s %s|%s|\n", label, cli_fmt_ms(d, sizeof(d), s[i].dur / 1000.0),
	       s[i].error ? "!" : " ", bar);
	for (int k = 0; k < s[i].nkids; k++)
		draw(s, s[i].kids[k], depth + 1, t0, total, width);
}

static void print_waterfall(json_object *tr, struct tree *t)
{
	int64_t t0 = INT64_MAX, t1 = 0;
	for (int i = 0; i < t->n; i++) {
		if (t->s[i].start < t0)
			t0 = t->s[i].start;
		if (t->s[i].start + t->s[i].dur > t1)
			t1 = t->s[i].start + t->s[i].dur;
	}
	char d[24];
	printf("trace %s: %d spans, %s\n", cli_str(tr, "traceID"), t->n,
	       cli_fmt_ms(d, sizeof(d), t->n ? (t1 - t0) / 1000.0 : 0));
	printf("(* and # mark the critical path, ! an error)\n");
	for (int k = 0; k < t->n; k++) {
		int i = t->order[k];
		if (t->s[i].parent_ix < 0) {
			critical(t->s, i, t->s[i].start, t->s[i].start + t->s[i].dur);
			draw(t->s, i, 0, t0, t1 - t0, 50);
		}
	}
}

int cli_cmd_trace(struct cli *c)
{
	if (c->argc != 1)
		return cli_usage_error("trace: give exactly one trace id (try tern trace --help)");
	char enc[256], path[300];
	cli_urlenc(enc, sizeof(enc), c->argv[0]);
	snprintf(path, sizeof(path), "/api/traces/%s", enc);
	json_object *o;
	int r = cli_get_json(c, path, &o);
	if (r != 0)
		return r;
	json_object *tr = json_object_array_get_idx(cli_field(o, "data"), 0);
	struct tree t;
	if (c->json) {
		cli_print_json(tr);
	} else if (tree_build(tr, &t) != 0) {
		r = cli_usage_error("out of memory");
	} else {
		print_waterfall(tr, &t);
		tree_free(&t);
	}
	json_object_put(o);
	return r;
}
