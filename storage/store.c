/*
 * store.c: the segment log, the writer thread (group commit), recovery,
 * index files, retention, readers, cursors and the meta blobs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>
#include <zstd.h>

#include "io.h"
#include "record.h"
#include "store_int.h"

#define IDX_MAGIC "TERNIDX1"
#define IDX_HDR 72u
#define IDX_VERSION 2u
#define IDX_ENT 45u
#define MAX_SEGMENT_BYTES (1ull << 30) /* rec_off is 32-bit */

struct job {
	struct job *next;
	const struct otlp_batch *b;
	store_done_cb cb;
	void *arg;
	size_t mem;
	uint8_t *rec;
	size_t rec_len;
	uint64_t off;
	int status;
};

void store_options_default(struct store_options *o)
{
	memset(o, 0, sizeof *o);
	o->retention_age_s = 7 * 24 * 3600;
	o->retention_bytes = 10ull << 30;
	o->segment_bytes = 64ull << 20;
	o->max_queue_bytes = 256u << 20;
	o->zstd_level = 1;
	o->retry_after_ms = 1000;
}

static char *path_of(const struct store *s, uint64_t id, const char *ext)
{
	size_t n = strlen(s->dir) + 40;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%016" PRIx64 ".%s", s->dir, id, ext);
	return p;
}

static void seg_free(struct seg *g)
{
	if (g == NULL)
		return;
	store__io_close(g->fd);
	store__seg_index_free(g);
	free(g);
}

static int segs_push(struct store *s, struct seg *g)
{
	if (s->nsegs == s->capsegs) {
		size_t cap = s->capsegs ? s->capsegs * 2 : 16;
		struct seg **v = realloc(s->segs, cap * sizeof *v);
		if (v == NULL)
			return -ENOMEM;
		s->segs = v;
		s->capsegs = cap;
	}
	s->segs[s->nsegs++] = g;
	return 0;
}

/* The segment being appended to, or NULL. Changed only by the writer
 * (or by roll/close while the writer is kept out), under the write lock. */
static struct seg *open_seg(struct store *s)
{
	return s->open;
}

/* ---- index files ---- */

/* Writes DIR/ID.idx for a segment whose index is complete (lock held
 * shared or exclusive by the caller, or no other thread yet). */
static int idx_write_locked(struct store *s, struct seg *g);

/* The dictionary is read under the store lock, or under dict_mu while
 * recovery threads share it. */
static void dict_lock(struct store *s)
{
	if (s->dict_mu)
		pthread_mutex_lock(s->dict_mu);
	else
		pthread_rwlock_rdlock(&s->lock);
}

static void dict_unlock(struct store *s)
{
	if (s->dict_mu)
		pthread_mutex_unlock(s->dict_mu);
	else
		pthread_rwlock_unlock(&s->lock);
}

/* Writes DIR/ID.idx. g's summaries must not change meanwhile: g is sealed,
 * or the caller is the writer sealing its own open segment. Holds the
 * store lock only while it copies the operation table. */
static int idx_write(struct store *s, struct seg *g)
{
	if (g->partial)
		return -ENOMEM; /* never save an index that misses spans */
	dict_lock(s);
	int rc = idx_write_locked(s, g);
	return rc;
}

/* Called with the dictionary locked; unlocks it once the op table is out. */
static int idx_write_locked(struct store *s, struct seg *g)
{
	/* local op table: global op -> local number */
	uint32_t *local = malloc((s->nops ? s->nops : 1) * sizeof *local);
	if (local == NULL) {
		dict_unlock(s);
		return -ENOMEM;
	}
	memset(local, 0xff, (s->nops ? s->nops : 1) * sizeof *local);
	size_t size = IDX_HDR + (size_t)g->n * IDX_ENT + 4;
	uint32_t nlocal = 0;
	for (uint32_t op = 0; op < g->nbyop && op < s->nops; op++)
		if (g->byop[op].n) {
			local[op] = nlocal++;
			const struct op *o = &s->ops[op];
			size += 12 + s->svc_len[o->svc] + o->name_len;
		}
	uint8_t *buf = malloc(size);
	if (buf == NULL) {
		free(local);
		dict_unlock(s);
		return -ENOMEM;
	}
	uint8_t *p = buf;
	memcpy(p, IDX_MAGIC, 8);
	store__put32(p + 8, IDX_VERSION);
	store__put32(p + 12, nlocal);
	store__put64(p + 16, g->id);
	store__put64(p + 24, g->end);
	store__put64(p + 32, g->file_bytes);
	store__put64(p + 40, g->n);
	store__put64(p + 48, g->records);
	store__put64(p + 56, g->last_ns);
	p += IDX_HDR;
	for (uint32_t op = 0; op < g->nbyop && op < s->nops; op++)
		if (local[op] != NO_ENT) {
			const struct op *o = &s->ops[op];
			store__put32(p, (uint32_t)o->kind);
			store__put32(p + 4, (uint32_t)s->svc_len[o->svc]);
			store__put32(p + 8, (uint32_t)o->name_len);
			memcpy(p + 12, s->svcs[o->svc], s->svc_len[o->svc]);
			p += 12 + s->svc_len[o->svc];
			memcpy(p, o->name, o->name_len);
			p += o->name_len;
		}
	dict_unlock(s);
	for (uint32_t i = 0; i < g->n; i++) {
		const struct ent *e = &g->ents[i];
		memcpy(p, e->trace_id, 16);
		store__put64(p + 16, e->start);
		store__put64(p + 24, e->dur);
		store__put32(p + 32, e->rec_off);
		store__put32(p + 36, e->span_no);
		store__put32(p + 40, local[e->op]);
		p[44] = e->err;
		p += IDX_ENT;
	}
	free(local);
	/* The body (op table + entries) is zstd-compressed: trace ids are
	 * random, but times, offsets and op numbers shrink well. */
	size_t raw_body = (size_t)(p - buf) - IDX_HDR;
	store__put64(buf + 64, raw_body);
	size_t zcap = ZSTD_compressBound(raw_body);
	uint8_t *zbuf = malloc(IDX_HDR + zcap + 4);
	if (zbuf == NULL) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(zbuf, buf, IDX_HDR);
	size_t z = ZSTD_compress(zbuf + IDX_HDR, zcap, buf + IDX_HDR, raw_body, 3);
	free(buf);
	if (ZSTD_isError(z)) {
		free(zbuf);
		return -ENOMEM;
	}
	buf = zbuf;
	p = buf + IDX_HDR + z;
	store__put32(p, (uint32_t)crc32(0, buf, (uInt)(p - buf)));
	p += 4;

	char *path = path_of(s, g->id, "idx");
	char *tmp = path_of(s, g->id, "idx.tmp");
	int rc = -ENOMEM;
	if (path == NULL || tmp == NULL)
		goto out_free;
	int fd = store__io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if ((rc = fd) < 0)
		goto out_free;
	rc = store__io_pwrite(fd, buf, (size_t)(p - buf), 0);
	if (rc == 0)
		rc = store__io_sync(fd);
	store__io_close(fd);
	if (rc == 0)
		rc = store__io_rename(tmp, path);
	if (rc < 0) {
		store__io_unlink(tmp);
	} else if (s->dict_mu) {
		g->idx_bytes = (uint64_t)(p - buf); /* recovery: g is this thread's */
	} else {
		pthread_rwlock_wrlock(&s->lock);
		g->idx_bytes = (uint64_t)(p - buf);
		pthread_rwlock_unlock(&s->lock);
	}
out_free:
	free(path);
	free(tmp);
	free(buf);
	return rc;
}

/* Buffers reused across the segments one recovery worker loads: index
 * bodies are tens of MB, and a fresh malloc of that size is a fresh mmap
 * whose every page faults again. */
struct scratch {
	void *p[2];
	size_t cap[2];
};

static void *scratch(struct scratch *sc, int which, size_t n)
{
	if (sc->cap[which] < n) {
		free(sc->p[which]);
		sc->p[which] = malloc(n);
		sc->cap[which] = sc->p[which] ? n : 0;
	}
	return sc->p[which];
}

static void scratch_free(struct scratch *sc)
{
	for (int i = 0; i < 2; i++) {
		free(sc->p[i]);
		sc->p[i] = NULL;
		sc->cap[i] = 0;
	}
}

/* Loads DIR/ID.idx if it is intact and matches the segment file. */
static int idx_load(struct store *s, struct seg *g, struct scratch *sc)
{
	char *path = path_of(s, g->id, "idx");
	if (path == NULL)
		return -ENOMEM;
	int fd = store__io_open(path, O_RDONLY, 0);
	free(path);
	if (fd < 0)
		return fd;
	int64_t size = store__io_size(fd);
	uint8_t *buf = NULL, *body = NULL;
	uint32_t *map = NULL;
	int rc = -EBADMSG;
	if (size < (int64_t)IDX_HDR + 4 || size > (int64_t)4 << 30)
		goto out_close;
	buf = scratch(sc, 0, (size_t)size);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	if (store__io_pread(fd, buf, (size_t)size, 0) != size)
		goto out_close;
	const uint8_t *p = buf, *end = buf + size - 4;
	if (memcmp(p, IDX_MAGIC, 8) != 0 || store__get32(p + 8) != IDX_VERSION ||
	    store__get64(p + 16) != g->id || store__get64(p + 32) != g->file_bytes ||
	    (uint32_t)crc32(0, buf, (uInt)(size - 4)) != store__get32(end))
		goto out_close;
	uint32_t nlocal = store__get32(p + 12);
	uint64_t segend = store__get64(p + 24), n = store__get64(p + 40);
	uint64_t raw_body = store__get64(p + 64);
	unsigned long long fs = ZSTD_getFrameContentSize(p + IDX_HDR, (size_t)(end - p) - IDX_HDR);
	if (raw_body > (4ull << 30) || fs != raw_body)
		goto out_close;
	g->records = store__get64(p + 48);
	g->last_ns = store__get64(p + 56);
	body = scratch(sc, 1, raw_body ? raw_body : 1);
	if (body == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	size_t z = ZSTD_decompress(body, raw_body, p + IDX_HDR, (size_t)(end - p) - IDX_HDR);
	if (ZSTD_isError(z) || z != raw_body)
		goto out_close;
	p = body;
	end = body + raw_body;
	if (segend > g->file_bytes || segend < STORE__SEG_HDR || n > (uint64_t)(end - p) / IDX_ENT ||
	    nlocal > (uint64_t)(end - p) / 12)
		goto out_close;
	map = malloc((nlocal ? nlocal : 1) * sizeof *map);
	if (map == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	for (uint32_t i = 0; i < nlocal; i++) {
		if (end - p < 12)
			goto out_close;
		uint32_t kind = store__get32(p), sl = store__get32(p + 4), nl = store__get32(p + 8);
		p += 12;
		if ((uint64_t)(end - p) < (uint64_t)sl + nl)
			goto out_close;
		rc = store__op_id(s, p, sl, p + sl, nl, (int)kind, &map[i]);
		if (rc < 0)
			goto out_close;
		rc = -EBADMSG;
		p += sl + nl;
	}
	if ((uint64_t)(end - p) != n * IDX_ENT)
		goto out_close;
	if ((rc = store__seg_reserve(g, (uint32_t)n)) < 0)
		goto out_index;
	rc = -EBADMSG;
	for (uint64_t i = 0; i < n; i++, p += IDX_ENT) {
		struct ent e;
		memcpy(e.trace_id, p, 16);
		e.start = store__get64(p + 16);
		e.dur = store__get64(p + 24);
		e.rec_off = store__get32(p + 32);
		e.span_no = store__get32(p + 36);
		uint32_t lop = store__get32(p + 40);
		e.err = p[44] != 0;
		if (lop >= nlocal || e.rec_off < STORE__SEG_HDR || e.rec_off >= segend)
			goto out_index;
		e.op = map[lop];
		if ((rc = store__seg_push(g, &e)) < 0)
			goto out_index;
		rc = -EBADMSG;
	}
	g->end = segend;
	g->corrupt = segend != g->file_bytes;
	g->idx_bytes = (uint64_t)size;
	rc = 0;
	goto out_close;
out_index:
	store__seg_index_free(g);
out_close:
	free(map);
	store__io_close(fd);
	return rc;
}

/* ---- recovery ---- */

/* Indexes a segment from its records. Stops at the first bad record:
 * *bad_off gets its offset (or the file size when all were good). */
static int scan_seg(struct store *s, struct seg *g, uint64_t *bad_off)
{
	uint64_t size = g->file_bytes;
	uint8_t *buf = malloc(size ? size : 1);
	if (buf == NULL)
		return -ENOMEM;
	ssize_t r = store__io_pread(g->fd, buf, size, 0);
	if (r < 0) {
		free(buf);
		return (int)r;
	}
	size = (uint64_t)r;
	uint64_t off = STORE__SEG_HDR;
	int rc = 0;
	while (off + STORE__REC_HDR <= size) {
		struct store__rec_hdr h;
		if (store__rec_hdr_parse(buf + off, &h) < 0 ||
		    h.stored_len > size - off - STORE__REC_HDR)
			break;
		struct otlp_batch *b = otlp_batch_new();
		if (b == NULL) {
			rc = -ENOMEM;
			break;
		}
		int drc = store__rec_decode(buf + off, &h, buf + off + STORE__REC_HDR, b);
		if (drc == 0)
			drc = store__seg_add_batch(s, g, b, (uint32_t)off);
		otlp_batch_free(b);
		if (drc == -ENOMEM) {
			rc = drc;
			break;
		}
		if (drc < 0)
			break;
		g->records++;
		if (h.time_ns > g->last_ns)
			g->last_ns = h.time_ns;
		off += STORE__REC_HDR + h.stored_len;
	}
	free(buf);
	*bad_off = off > size ? size : off;
	if (off + STORE__REC_HDR > size && off < size)
		*bad_off = off; /* a partial header at the end */
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int list_segments(const char *dir, uint64_t **ids, size_t *n)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return -errno;
	size_t cap = 0;
	*ids = NULL;
	*n = 0;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		if (l == 24 && strcmp(e->d_name + 16, ".idx.tmp") == 0) {
			/* an index file a crash interrupted: never renamed, unused */
			char p[4096];
			snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
			store__io_unlink(p);
			continue;
		}
		if (l != 20 || strcmp(e->d_name + 16, ".seg") != 0)
			continue;
		char *end;
		uint64_t id = strtoull(e->d_name, &end, 16);
		if (end != e->d_name + 16)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *v = realloc(*ids, cap * sizeof *v);
			if (v == NULL) {
				rc = -ENOMEM;
				break;
			}
			*ids = v;
		}
		(*ids)[(*n)++] = id;
	}
	closedir(d);
	if (rc == 0 && *n > 1)
		qsort(*ids, *n, sizeof **ids, cmp_u64);
	return rc;
}

static int recover_one(struct store *s, uint64_t id, bool last, struct store_recovery *rec,
		       struct scratch *sc, struct seg **out)
{
	*out = NULL;
	char *path = path_of(s, id, "seg");
	if (path == NULL)
		return -ENOMEM;
	int fd = store__io_open(path, O_RDWR, 0);
	if (fd < 0) {
		free(path);
		return fd;
	}
	struct seg *g = calloc(1, sizeof *g);
	if (g == NULL) {
		store__io_close(fd);
		free(path);
		return -ENOMEM;
	}
	g->fd = fd;
	g->id = id;
	g->sealed = true;
	int64_t size = store__io_size(fd);
	uint8_t hb[STORE__SEG_HDR];
	uint64_t hid;
	int rc = 0;
	if (size < (int64_t)STORE__SEG_HDR ||
	    store__io_pread(fd, hb, sizeof hb, 0) != (ssize_t)sizeof hb ||
	    store__seg_hdr_parse(hb, &hid) < 0 || hid != id) {
		/* Nothing readable. A header torn at creation of the last
		 * segment is a torn tail: remove it. Else keep the file for
		 * a human and report it. */
		if (last && size < (int64_t)STORE__SEG_HDR) {
			rec->truncated_bytes += size > 0 ? (uint64_t)size : 0;
			store__io_unlink(path);
		} else {
			rec->corrupt_segments++;
			rec->skipped_bytes += size > 0 ? (uint64_t)size : 0;
		}
		seg_free(g);
		free(path);
		return 0;
	}
	g->file_bytes = (uint64_t)size;
	g->created_ns = store__get64(hb + 24);
	if (idx_load(s, g, sc) == 0) {
		rec->indexes_loaded++;
		if (g->corrupt) {
			rec->corrupt_segments++;
			rec->skipped_bytes += g->file_bytes - g->end;
		}
	} else {
		uint64_t bad = 0;
		rc = scan_seg(s, g, &bad);
		if (rc < 0)
			goto out_free;
		g->end = bad;
		if (bad < g->file_bytes) {
			if (last) {
				rec->truncated_bytes += g->file_bytes - bad;
				if ((rc = store__io_truncate(fd, bad)) < 0 ||
				    (rc = store__io_sync(fd)) < 0)
					goto out_free;
				g->file_bytes = bad;
			} else {
				g->corrupt = true;
				rec->corrupt_segments++;
				rec->skipped_bytes += g->file_bytes - bad;
			}
		}
		rec->indexes_rebuilt++;
		/* Best effort: without it the next start scans again. */
		idx_write(s, g);
	}
	rec->segments++;
	rec->records += g->records;
	rec->spans += g->n;
	*out = g;
	free(path);
	return 0;
out_free:
	seg_free(g);
	free(path);
	return rc;
}

/* Segments are recovered by a few threads at once (index files load
 * while the last segment is re-indexed); the dictionary is shared, under
 * dict_mu while they run. */
struct recover_job {
	struct store *s;
	const uint64_t *ids;
	size_t n;
	struct seg **out;
	pthread_mutex_t mu;
	size_t next;
};

struct recover_worker {
	struct recover_job *job;
	pthread_t th;
	struct store_recovery rec;
	int rc;
};

static void *recover_main(void *arg)
{
	struct recover_worker *w = arg;
	struct recover_job *j = w->job;
	struct scratch sc = { { NULL, NULL }, { 0, 0 } };
	for (;;) {
		pthread_mutex_lock(&j->mu);
		size_t i = w->rc == 0 ? j->next++ : j->n;
		pthread_mutex_unlock(&j->mu);
		if (i >= j->n)
			break;
		w->rc = recover_one(j->s, j->ids[i], i + 1 == j->n, &w->rec, &sc, &j->out[i]);
	}
	scratch_free(&sc);
	return NULL;
}

static int recover_all(struct store *s, const uint64_t *ids, size_t n, struct store_recovery *rec)
{
	if (n == 0)
		return 0;
	struct recover_job j = { s, ids, n, calloc(n, sizeof(struct seg *)),
				 PTHREAD_MUTEX_INITIALIZER, 0 };
	if (j.out == NULL)
		return -ENOMEM;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nw = cpus < 1 ? 1 : cpus > 4 ? 4 : (size_t)cpus;
	if (nw > n)
		nw = n;
	struct recover_worker w[4];
	memset(w, 0, sizeof w);
	pthread_mutex_t dict_mu = PTHREAD_MUTEX_INITIALIZER;
	s->dict_mu = &dict_mu;
	size_t started = 0;
	for (size_t i = 0; i < nw; i++) {
		w[i].job = &j;
		if (i > 0 && pthread_create(&w[i].th, NULL, recover_main, &w[i]) != 0)
			break;
		started++;
	}
	recover_main(&w[0]); /* this thread is worker 0 */
	for (size_t i = 1; i < started; i++)
		pthread_join(w[i].th, NULL);
	s->dict_mu = NULL;
	pthread_mutex_destroy(&dict_mu);
	int rc = 0;
	for (size_t i = 0; i < started; i++) {
		if (w[i].rc < 0 && rc == 0)
			rc = w[i].rc;
		rec->segments += w[i].rec.segments;
		rec->indexes_loaded += w[i].rec.indexes_loaded;
		rec->indexes_rebuilt += w[i].rec.indexes_rebuilt;
		rec->corrupt_segments += w[i].rec.corrupt_segments;
		rec->records += w[i].rec.records;
		rec->spans += w[i].rec.spans;
		rec->truncated_bytes += w[i].rec.truncated_bytes;
		rec->skipped_bytes += w[i].rec.skipped_bytes;
	}
	for (size_t i = 0; i < n; i++) {
		if (j.out[i] == NULL)
			continue;
		if (rc == 0 && (rc = segs_push(s, j.out[i])) == 0)
			continue;
		seg_free(j.out[i]);
	}
	free(j.out);
	return rc;
}

/* ---- the open segment ---- */

static int new_segment(struct store *s, struct seg **out)
{
	uint64_t id = s->next_seg_id;
	char *path = path_of(s, id, "seg");
	if (path == NULL)
		return -ENOMEM;
	struct seg *g = calloc(1, sizeof *g);
	int rc = -ENOMEM;
	if (g == NULL)
		goto out_path;
	g->id = id;
	g->fd = store__io_open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if ((rc = g->fd) < 0)
		goto out_seg;
	uint8_t hb[STORE__SEG_HDR];
	g->created_ns = store__now_ns(s);
	store__seg_hdr_write(hb, id, g->created_ns);
	if ((rc = store__io_pwrite(g->fd, hb, sizeof hb, 0)) < 0 ||
	    (rc = store__io_sync(g->fd)) < 0 || (rc = store__io_sync_dir(s->dir)) < 0)
		goto out_unlink;
	g->end = g->file_bytes = STORE__SEG_HDR;
	pthread_rwlock_wrlock(&s->lock);
	rc = segs_push(s, g);
	if (rc == 0) {
		s->open = g;
		s->next_seg_id++;
	}
	pthread_rwlock_unlock(&s->lock);
	if (rc < 0)
		goto out_unlink;
	free(path);
	*out = g;
	return 0;
out_unlink:
	store__io_unlink(path);
	pthread_rwlock_wrlock(&s->lock);
	s->next_seg_id++; /* never reuse a name we may have half-written */
	pthread_rwlock_unlock(&s->lock);
out_seg:
	seg_free(g);
out_path:
	free(path);
	return rc;
}

/* Seals the open segment: its index file, then read-only from here on.
 * Writer thread (or close, when the writer has stopped). */
static int seal(struct store *s)
{
	struct seg *g = open_seg(s);
	if (g == NULL)
		return 0;
	int rc = idx_write(s, g);
	pthread_rwlock_wrlock(&s->lock);
	g->sealed = true;
	s->open = NULL;
	pthread_rwlock_unlock(&s->lock);
	return rc;
}

/* Seals the open segment at once and leaves its index file to the sealer
 * thread, so acks do not wait for it (~0.2 s per 64 MiB segment).
 * Retention leaves a segment alone until its index file is written. */
static void seal_async(struct store *s)
{
	struct seg *g = open_seg(s);
	if (g == NULL)
		return;
	if (!s->sealer_started) {
		seal(s);
		return;
	}
	pthread_mutex_lock(&s->smu);
	if (s->sqn == s->sqcap) {
		size_t cap = s->sqcap ? s->sqcap * 2 : 8;
		struct seg **v = realloc(s->sq, cap * sizeof *v);
		if (v == NULL) {
			pthread_mutex_unlock(&s->smu);
			seal(s);
			return;
		}
		s->sq = v;
		s->sqcap = cap;
	}
	pthread_rwlock_wrlock(&s->lock);
	g->sealed = true;
	g->sealing = true;
	s->open = NULL;
	pthread_rwlock_unlock(&s->lock);
	s->sq[s->sqn++] = g;
	pthread_cond_signal(&s->scond);
	pthread_mutex_unlock(&s->smu);
}

static void *sealer_main(void *arg)
{
	struct store *s = arg;
	pthread_mutex_lock(&s->smu);
	for (;;) {
		while (s->sqn == 0 && !s->sstop)
			pthread_cond_wait(&s->scond, &s->smu);
		if (s->sqn == 0)
			break;
		struct seg *g = s->sq[0];
		memmove(s->sq, s->sq + 1, (s->sqn - 1) * sizeof *s->sq);
		s->sqn--;
		pthread_mutex_unlock(&s->smu);
		/* Best effort: without it the next start re-indexes g. */
		idx_write(s, g);
		pthread_rwlock_wrlock(&s->lock);
		g->sealing = false;
		pthread_rwlock_unlock(&s->lock);
		pthread_mutex_lock(&s->smu);
	}
	pthread_mutex_unlock(&s->smu);
	return NULL;
}

/* ---- retention ---- */

static uint64_t seg_bytes(const struct seg *g)
{
	return g->file_bytes + g->idx_bytes;
}

static void store__cursors_count_lost(struct store *s, const struct seg *g);

int store_retention_run(struct store *s, uint64_t now_ns)
{
	if (now_ns == 0)
		now_ns = store__now_ns(s);
	struct seg **drop = NULL;
	size_t ndrop = 0;
	pthread_rwlock_wrlock(&s->lock);
	uint64_t total = 0;
	for (size_t i = 0; i < s->nsegs; i++)
		total += seg_bytes(s->segs[i]);
	size_t k = 0;
	for (; k < s->nsegs; k++) {
		struct seg *g = s->segs[k];
		if (!g->sealed || g->sealing)
			break;
		uint64_t newest = g->last_ns > g->created_ns ? g->last_ns : g->created_ns;
		bool old = s->o.retention_age_s &&
			   newest + s->o.retention_age_s * 1000000000ull < now_ns;
		bool big = s->o.retention_bytes && total > s->o.retention_bytes;
		if (!old && !big)
			break;
		total -= seg_bytes(g);
	}
	if (k > 0) {
		drop = malloc(k * sizeof *drop);
		if (drop) {
			ndrop = k;
			memcpy(drop, s->segs, k * sizeof *drop);
			memmove(s->segs, s->segs + k, (s->nsegs - k) * sizeof *s->segs);
			s->nsegs -= k;
			/* Count what cursors lose while no reader can have seen
			 * the segments go (and moved its cursor past them). */
			pthread_mutex_lock(&s->clock_);
			for (size_t i = 0; i < k; i++)
				store__cursors_count_lost(s, drop[i]);
			pthread_mutex_unlock(&s->clock_);
		}
	}
	pthread_rwlock_unlock(&s->lock);
	for (size_t i = 0; i < ndrop; i++) {
		struct seg *g = drop[i];
		bool behind = store_cursor_behind(s, g->id);
		char *p1 = path_of(s, g->id, "seg"), *p2 = path_of(s, g->id, "idx");
		if (p1)
			store__io_unlink(p1);
		if (p2)
			store__io_unlink(p2);
		free(p1);
		free(p2);
		pthread_mutex_lock(&s->clock_);
		s->st.dropped_segments++;
		if (behind)
			s->st.dropped_behind_cursor++;
		pthread_mutex_unlock(&s->clock_);
		seg_free(g);
	}
	free(drop);
	return (int)ndrop;
}

/* ---- writer ---- */

static void fail_state(struct store *s, int err)
{
	pthread_mutex_lock(&s->qlock);
	s->last_error = err;
	s->fail_until_ns = store__now_ns(s) + (uint64_t)s->o.retry_after_ms * 1000000u;
	pthread_mutex_unlock(&s->qlock);
	pthread_mutex_lock(&s->clock_);
	s->st.write_errors++;
	s->st.last_error = err;
	pthread_mutex_unlock(&s->clock_);
}

/* Appends and syncs one group; sets each job's status. */
static void write_group(struct store *s, struct job *list)
{
	uint64_t now = store__now_ns(s);
	size_t total = 0;
	for (struct job *j = list; j; j = j->next) {
		j->status = store__rec_build_ctx(j->b, s->o.zstd_level, now, s->cctx, &j->rec,
						 &j->rec_len);
		if (j->status == 0)
			total += j->rec_len;
	}
	if (total == 0)
		return;
	int rc = 0;
	struct seg *g = open_seg(s);
	if (g && g->end > STORE__SEG_HDR && g->end + total > s->o.segment_bytes) {
		seal_async(s);
		g = NULL;
	}
	if (g == NULL && (rc = new_segment(s, &g)) < 0)
		goto out_fail;
	uint64_t off = g->end;
	for (struct job *j = list; j && rc == 0; j = j->next) {
		if (j->status < 0)
			continue;
		j->off = off;
		rc = store__io_pwrite(g->fd, j->rec, j->rec_len, off);
		off += j->rec_len;
	}
	if (rc == 0)
		rc = store__io_sync(g->fd);
	if (rc < 0) {
		/* Unknown what reached the disk: cut back to the last synced
		 * end and never append to this file again. */
		if (store__io_truncate(g->fd, g->end) == 0)
			g->file_bytes = g->end;
		else
			g->file_bytes = off;
		seal(s);
		goto out_fail;
	}
	pthread_rwlock_wrlock(&s->lock);
	uint64_t spans = 0, recs = 0;
	for (struct job *j = list; j; j = j->next) {
		if (j->status < 0)
			continue;
		/* The record is durable either way. A summary that did not
		 * fit in memory comes back from the log at the next start:
		 * no index file is written for this segment, so it is
		 * re-indexed then. */
		if (store__seg_add_batch(s, g, j->b, (uint32_t)j->off) < 0)
			g->partial = true;
		spans += j->b->n_spans;
		recs++;
	}
	g->end = g->file_bytes = off;
	g->records += recs;
	g->last_ns = now;
	pthread_rwlock_unlock(&s->lock);
	pthread_mutex_lock(&s->clock_);
	s->st.spans += spans;
	s->st.records += recs;
	pthread_mutex_unlock(&s->clock_);
	return;
out_fail:
	fail_state(s, rc);
	for (struct job *j = list; j; j = j->next)
		if (j->status == 0)
			j->status = rc;
}

static void *writer_main(void *arg)
{
	struct store *s = arg;
	pthread_mutex_lock(&s->qlock);
	for (;;) {
		while (s->qhead == NULL && !s->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&s->qcond, &s->qlock, &ts);
			if (s->qhead == NULL) {
				pthread_mutex_unlock(&s->qlock);
				uint64_t now = store__now_ns(s);
				if (now - s->last_retention_ns > 10000000000ull) {
					s->last_retention_ns = now;
					store_retention_run(s, now);
				}
				pthread_mutex_lock(&s->qlock);
			}
		}
		struct job *list = s->qhead;
		s->qhead = NULL;
		s->qtail = &s->qhead;
		if (list == NULL && s->stopping)
			break;
		s->writing = true;
		pthread_mutex_unlock(&s->qlock);

		struct seg *before = open_seg(s);
		write_group(s, list);
		size_t freed = 0;
		while (list) {
			struct job *j = list;
			list = j->next;
			freed += j->mem;
			free(j->rec);
			j->cb(j->arg, j->status);
			free(j);
		}
		if (open_seg(s) != before) {
			s->last_retention_ns = store__now_ns(s);
			store_retention_run(s, s->last_retention_ns);
		}
		pthread_mutex_lock(&s->qlock);
		s->qbytes -= freed;
		s->writing = false;
		pthread_cond_broadcast(&s->idle);
	}
	pthread_mutex_unlock(&s->qlock);
	return NULL;
}

int store_submit(struct store *s, const struct otlp_batch *b, store_done_cb cb, void *arg)
{
	struct job *j = calloc(1, sizeof *j);
	if (j == NULL)
		return -ENOMEM;
	j->b = b;
	j->cb = cb;
	j->arg = arg;
	j->mem = otlp_batch_mem(b) + sizeof *j;
	int rc = 0;
	pthread_mutex_lock(&s->qlock);
	if (s->stopping)
		rc = -ESHUTDOWN;
	else if (s->fail_until_ns && store__now_ns(s) < s->fail_until_ns)
		rc = s->last_error;
	else if (s->qbytes && s->qbytes + j->mem > s->o.max_queue_bytes)
		rc = -EAGAIN;
	if (rc == 0) {
		s->qbytes += j->mem;
		bool was_empty = s->qhead == NULL;
		*s->qtail = j;
		s->qtail = &j->next;
		if (was_empty)
			pthread_cond_signal(&s->qcond);
	}
	pthread_mutex_unlock(&s->qlock);
	if (rc < 0)
		free(j);
	return rc;
}

struct waiter {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool done;
	int status;
};

static void waiter_done(void *arg, int status)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->m);
	w->done = true;
	w->status = status;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

int store_append(struct store *s, const struct otlp_batch *b)
{
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };
	int rc = store_submit(s, b, waiter_done, &w);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&w.m);
	while (!w.done)
		pthread_cond_wait(&w.c, &w.m);
	pthread_mutex_unlock(&w.m);
	pthread_mutex_destroy(&w.m);
	pthread_cond_destroy(&w.c);
	return w.status;
}

int store_roll(struct store *s)
{
	/* A roll is rare: wait until the writer is idle with nothing queued,
	 * and hold the queue lock so it stays out while this seals. */
	pthread_mutex_lock(&s->qlock);
	while (s->qhead != NULL || s->writing)
		pthread_cond_wait(&s->idle, &s->qlock);
	int rc = seal(s);
	pthread_mutex_unlock(&s->qlock);
	return rc;
}

/* ---- open / close ---- */

static int mkdir_p(const char *dir)
{
	char *p = strdup(dir);
	if (p == NULL)
		return -ENOMEM;
	for (char *c = p + 1; *c; c++) {
		if (*c != '/')
			continue;
		*c = 0;
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = -errno;
			free(p);
			return e;
		}
		*c = '/';
	}
	int rc = mkdir(p, 0755) < 0 && errno != EEXIST ? -errno : 0;
	free(p);
	return rc;
}

void store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->writer_started) {
		pthread_mutex_lock(&s->qlock);
		s->stopping = true;
		pthread_cond_signal(&s->qcond);
		pthread_mutex_unlock(&s->qlock);
		pthread_join(s->writer, NULL);
		seal(s);
	}
	if (s->sealer_started) {
		pthread_mutex_lock(&s->smu);
		s->sstop = true;
		pthread_cond_signal(&s->scond);
		pthread_mutex_unlock(&s->smu);
		pthread_join(s->sealer, NULL);
	}
	free(s->sq);
	for (size_t i = 0; i < s->nsegs; i++)
		seg_free(s->segs[i]);
	free(s->segs);
	store__dict_free(s);
	for (size_t i = 0; i < s->ncursors; i++)
		free(s->cursors[i].name);
	free(s->cursors);
	pthread_rwlock_destroy(&s->lock);
	pthread_mutex_destroy(&s->qlock);
	pthread_cond_destroy(&s->qcond);
	pthread_cond_destroy(&s->idle);
	pthread_mutex_destroy(&s->clock_);
	pthread_mutex_destroy(&s->smu);
	pthread_cond_destroy(&s->scond);
	store__io_close(s->lock_fd);
	ZSTD_freeCCtx(s->cctx);
	free(s->dir);
	free(s);
}

int store_open(const struct store_options *o, struct store **out, struct store_recovery *recp)
{
	struct store_recovery rec0, *rec = recp ? recp : &rec0;
	memset(rec, 0, sizeof *rec);
	if (o->dir == NULL || *o->dir == 0)
		return -EINVAL;
	struct store *s = calloc(1, sizeof *s);
	if (s == NULL)
		return -ENOMEM;
	s->o = *o;
	if (s->o.segment_bytes == 0 || s->o.segment_bytes > MAX_SEGMENT_BYTES)
		s->o.segment_bytes = s->o.segment_bytes ? MAX_SEGMENT_BYTES : 64ull << 20;
	if (s->o.max_queue_bytes == 0)
		s->o.max_queue_bytes = 256u << 20;
	pthread_rwlock_init(&s->lock, NULL);
	pthread_mutex_init(&s->qlock, NULL);
	pthread_cond_init(&s->qcond, NULL);
	pthread_cond_init(&s->idle, NULL);
	pthread_mutex_init(&s->clock_, NULL);
	pthread_mutex_init(&s->smu, NULL);
	pthread_cond_init(&s->scond, NULL);
	s->qtail = &s->qhead;
	s->lock_fd = -1;
	s->dir = strdup(o->dir);
	int rc = -ENOMEM;
	if (s->dir == NULL)
		goto out_close;
	if ((rc = mkdir_p(s->dir)) < 0)
		goto out_close;
	/* One process per data directory: a second ternd (or a tool) must
	 * not append to or truncate the log under the first. */
	char lpath[4096];
	snprintf(lpath, sizeof lpath, "%s/LOCK", s->dir);
	if ((rc = s->lock_fd = store__io_open(lpath, O_RDWR | O_CREAT, 0644)) < 0)
		goto out_close;
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out_close;
	}
	uint64_t *ids = NULL;
	size_t n = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((rc = list_segments(s->dir, &ids, &n)) < 0)
		goto out_close;
	rc = recover_all(s, ids, n, rec);
	s->next_seg_id = n ? ids[n - 1] + 1 : 1;
	free(ids);
	if (rc < 0)
		goto out_close;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	snprintf(rec->msg, sizeof rec->msg,
		 "store %s: %u segments (%u indexes loaded, %u rebuilt), %" PRIu64
		 " records, %" PRIu64 " spans, torn tail %" PRIu64 " bytes cut, %u corrupt "
		 "segments (%" PRIu64 " bytes skipped), %.3f s",
		 s->dir, rec->segments, rec->indexes_loaded, rec->indexes_rebuilt, rec->records,
		 rec->spans, rec->truncated_bytes, rec->corrupt_segments, rec->skipped_bytes, secs);
	for (size_t i = 0; i < s->nsegs; i++) {
		s->st.spans += s->segs[i]->n;
		s->st.records += s->segs[i]->records;
	}
	s->last_retention_ns = store__now_ns(s);
	store_retention_run(s, 0);
	s->cctx = ZSTD_createCCtx(); /* NULL is fine: then one per record */
	if ((rc = -pthread_create(&s->sealer, NULL, sealer_main, s)) < 0)
		goto out_close;
	s->sealer_started = true;
	if ((rc = -pthread_create(&s->writer, NULL, writer_main, s)) < 0)
		goto out_close;
	s->writer_started = true;
	*out = s;
	return 0;
out_close:
	store_close(s);
	return rc;
}

/* ---- statistics ---- */

void store_stats(struct store *s, struct store_stats *st)
{
	pthread_mutex_lock(&s->clock_);
	*st = s->st;
	pthread_mutex_unlock(&s->clock_);
	pthread_rwlock_rdlock(&s->lock);
	st->segments = s->nsegs;
	st->bytes = 0;
	for (size_t i = 0; i < s->nsegs; i++)
		st->bytes += seg_bytes(s->segs[i]);
	pthread_rwlock_unlock(&s->lock);
}

/* ---- positions and readers ---- */

struct store_pos store_oldest_pos(struct store *s)
{
	struct store_pos p;
	pthread_rwlock_rdlock(&s->lock);
	if (s->nsegs)
		p = (struct store_pos){ s->segs[0]->id, STORE__SEG_HDR };
	else
		p = (struct store_pos){ s->next_seg_id, STORE__SEG_HDR };
	pthread_rwlock_unlock(&s->lock);
	return p;
}

int store_pos_cmp(struct store_pos a, struct store_pos b)
{
	if (a.seg != b.seg)
		return a.seg < b.seg ? -1 : 1;
	if (a.off != b.off)
		return a.off < b.off ? -1 : 1;
	return 0;
}

struct store_pos store_end_pos(struct store *s)
{
	struct store_pos p;
	pthread_rwlock_rdlock(&s->lock);
	struct seg *g = open_seg(s);
	if (g)
		p = (struct store_pos){ g->id, g->end };
	else
		p = (struct store_pos){ s->next_seg_id, STORE__SEG_HDR };
	pthread_rwlock_unlock(&s->lock);
	return p;
}

struct store_reader {
	struct store *s;
	struct store_pos pos;
	struct seg view; /* fd of the segment being read + its end */
};

int store_reader_new(struct store *s, struct store_pos pos, struct store_reader **out)
{
	struct store_reader *r = calloc(1, sizeof *r);
	if (r == NULL)
		return -ENOMEM;
	r->s = s;
	r->pos = pos;
	if (pos.seg == 0 && pos.off == 0)
		r->pos = store_oldest_pos(s);
	r->view.fd = -1;
	*out = r;
	return 0;
}

void store_reader_free(struct store_reader *r)
{
	if (r == NULL)
		return;
	store__io_close(r->view.fd);
	free(r);
}

int store_reader_next(struct store_reader *r, struct otlp_batch **out,
		      struct store_pos *at, struct store_pos *next)
{
	struct store *s = r->s;
	int ret = 0;
	for (;;) {
		pthread_rwlock_rdlock(&s->lock);
		struct seg *g = NULL;
		size_t i = 0;
		for (; i < s->nsegs; i++)
			if (s->segs[i]->id >= r->pos.seg)
				break;
		if (i < s->nsegs)
			g = s->segs[i];
		uint64_t oldest = s->nsegs ? s->segs[0]->id : s->next_seg_id;
		if (r->pos.seg < oldest) {
			/* Retention dropped where we were. */
			r->pos = (struct store_pos){ oldest, STORE__SEG_HDR };
			pthread_rwlock_unlock(&s->lock);
			if (at)
				*at = r->pos;
			if (next)
				*next = r->pos;
			return -ERANGE;
		}
		if (g == NULL) {
			pthread_rwlock_unlock(&s->lock);
			return -EAGAIN;
		}
		if (g->id != r->pos.seg)
			r->pos = (struct store_pos){ g->id, STORE__SEG_HDR };
		if (r->pos.off < STORE__SEG_HDR)
			r->pos.off = STORE__SEG_HDR;
		if (r->pos.off >= g->end) {
			/* At the end of a sealed segment with a newer one: go
			 * on there. At the end of the open one: wait. */
			bool more = i + 1 < s->nsegs && g->sealed;
			pthread_rwlock_unlock(&s->lock);
			if (!more)
				return -EAGAIN;
			r->pos = (struct store_pos){ g->id + 1, STORE__SEG_HDR };
			continue;
		}
		if (r->view.fd < 0 || r->view.id != g->id) {
			store__io_close(r->view.fd);
			char *path = path_of(s, g->id, "seg");
			r->view.fd = path ? store__io_open(path, O_RDONLY, 0) : -ENOMEM;
			free(path);
			r->view.id = g->id;
			if (r->view.fd < 0) {
				int e = r->view.fd;
				pthread_rwlock_unlock(&s->lock);
				return e;
			}
		}
		r->view.end = g->end;
		pthread_rwlock_unlock(&s->lock);
		break;
	}
	struct otlp_batch *b = otlp_batch_new();
	if (b == NULL)
		return -ENOMEM;
	uint64_t nx;
	ret = store__read_record(&r->view, r->pos.off, b, &nx);
	if (at)
		*at = r->pos;
	if (ret == -EBADMSG) {
		otlp_batch_free(b);
		/* The rest of this segment cannot be framed: go on with the
		 * next one. */
		r->pos = (struct store_pos){ r->pos.seg + 1, STORE__SEG_HDR };
		if (next)
			*next = r->pos;
		return ret;
	}
	if (ret < 0) {
		otlp_batch_free(b);
		return ret;
	}
	r->pos.off = nx;
	if (next)
		*next = r->pos;
	*out = b;
	return 0;
}

/* ---- cursors ---- */

int store_cursor_set(struct store *s, const char *name, struct store_pos pos)
{
	int rc = 0;
	pthread_mutex_lock(&s->clock_);
	size_t i = 0;
	for (; i < s->ncursors; i++)
		if (strcmp(s->cursors[i].name, name) == 0)
			break;
	if (i == s->ncursors) {
		struct cursor *v = realloc(s->cursors, (s->ncursors + 1) * sizeof *v);
		char *nm = strdup(name);
		if (v)
			s->cursors = v;
		if (v == NULL || nm == NULL) {
			free(nm);
			rc = -ENOMEM;
			goto out_unlock;
		}
		s->cursors[i].name = nm;
		s->cursors[i].lost = 0;
		s->ncursors++;
	}
	s->cursors[i].pos = pos;
out_unlock:
	pthread_mutex_unlock(&s->clock_);
	return rc;
}

void store_cursor_remove(struct store *s, const char *name)
{
	pthread_mutex_lock(&s->clock_);
	for (size_t i = 0; i < s->ncursors; i++)
		if (strcmp(s->cursors[i].name, name) == 0) {
			free(s->cursors[i].name);
			s->cursors[i] = s->cursors[--s->ncursors];
			break;
		}
	pthread_mutex_unlock(&s->clock_);
}

bool store_cursor_behind(struct store *s, uint64_t seg)
{
	bool behind = false;
	pthread_mutex_lock(&s->clock_);
	for (size_t i = 0; i < s->ncursors; i++)
		if (s->cursors[i].pos.seg <= seg)
			behind = true;
	pthread_mutex_unlock(&s->clock_);
	return behind;
}

/* ---- meta blobs ---- */

static char *meta_path(struct store *s, const char *key, const char *suffix)
{
	size_t l = strlen(key);
	if (l == 0 || l > 64)
		return NULL;
	for (size_t i = 0; i < l; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return NULL;
	}
	if (key[0] == '.')
		return NULL;
	size_t n = strlen(s->dir) + l + 32;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/meta/%s%s", s->dir, key, suffix);
	return p;
}

int store_meta_put(struct store *s, const char *key, const void *data, size_t len)
{
	char *path = meta_path(s, key, ""), *tmp = meta_path(s, key, ".tmp");
	int rc = -EINVAL;
	if (path == NULL || tmp == NULL)
		goto out_free;
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/meta", s->dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		goto out_free;
	}
	int fd = store__io_open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if ((rc = fd) < 0)
		goto out_free;
	rc = store__io_pwrite(fd, data, len, 0);
	if (rc == 0)
		rc = store__io_sync(fd);
	store__io_close(fd);
	if (rc == 0)
		rc = store__io_rename(tmp, path);
	if (rc == 0)
		rc = store__io_sync_dir(dir);
	else
		store__io_unlink(tmp);
out_free:
	free(path);
	free(tmp);
	return rc;
}

int store_meta_get(struct store *s, const char *key, void **data, size_t *len)
{
	char *path = meta_path(s, key, "");
	if (path == NULL)
		return -EINVAL;
	int fd = store__io_open(path, O_RDONLY, 0);
	free(path);
	if (fd < 0)
		return fd;
	int64_t size = store__io_size(fd);
	int rc = (int)size;
	if (size < 0)
		goto out_close;
	void *buf = malloc(size ? (size_t)size : 1);
	rc = -ENOMEM;
	if (buf == NULL)
		goto out_close;
	ssize_t r = store__io_pread(fd, buf, (size_t)size, 0);
	if (r != size) {
		free(buf);
		rc = r < 0 ? (int)r : -EIO;
		goto out_close;
	}
	*data = buf;
	*len = (size_t)size;
	rc = 0;
out_close:
	store__io_close(fd);
	return rc;
}

/* ---- forwarder support: lost spans and backlog ---- */

/* Index entries of g in records at or after off (entries are in append order). */
static uint64_t seg_spans_from(const struct seg *g, uint64_t off)
{
	uint32_t lo = 0, hi = g->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (g->ents[mid].rec_off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return g->n - lo;
}

/* g is leaving the segment list (s->lock held exclusively, clock_ held). */
static void store__cursors_count_lost(struct store *s, const struct seg *g)
{
	for (size_t i = 0; i < s->ncursors; i++) {
		struct cursor *c = &s->cursors[i];
		if (c->pos.seg < g->id)
			c->lost += g->n;
		else if (c->pos.seg == g->id)
			c->lost += seg_spans_from(g, c->pos.off);
	}
}

uint64_t store_cursor_lost(struct store *s, const char *name)
{
	uint64_t lost = 0;
	pthread_mutex_lock(&s->clock_);
	for (size_t i = 0; i < s->ncursors; i++)
		if (strcmp(s->cursors[i].name, name) == 0)
			lost = s->cursors[i].lost;
	pthread_mutex_unlock(&s->clock_);
	return lost;
}

int store_backlog(struct store *s, struct store_pos pos, struct store_backlog *out)
{
	int ret = 0;
	memset(out, 0, sizeof(*out));
	uint64_t now = store__now_ns(s);
	pthread_rwlock_rdlock(&s->lock);
	uint64_t oldest = s->nsegs ? s->segs[0]->id : s->next_seg_id;
	if (pos.seg < oldest) {
		ret = -ERANGE;
		pos = (struct store_pos){ oldest, STORE__SEG_HDR };
	}
	uint64_t total = 0;
	for (size_t i = 0; i < s->nsegs; i++) {
		const struct seg *g = s->segs[i];
		total += seg_bytes(g);
		if (g->id < pos.seg)
			continue;
		if (g->id == pos.seg) {
			out->seg_created_ns = g->created_ns;
			out->spans += seg_spans_from(g, pos.off);
			out->bytes += g->end > pos.off ? g->end - pos.off : 0;
		} else {
			if (out->seg_created_ns == 0 && g->end > STORE__SEG_HDR)
				out->seg_created_ns = g->created_ns;
			out->spans += g->n;
			out->bytes += g->end;
		}
	}
	/* Retention as store_retention_run() does it, with 10% more size and age. */
	uint64_t age = s->o.retention_age_s * 1000000000ull;
	uint64_t limit = s->o.retention_bytes;
	uint64_t t = total + limit / 10;
	for (size_t k = 0; k < s->nsegs; k++) {
		const struct seg *g = s->segs[k];
		if (!g->sealed)
			break;
		uint64_t newest = g->last_ns > g->created_ns ? g->last_ns : g->created_ns;
		bool old = age && newest + age - age / 10 < now;
		bool big = limit && t > limit;
		if (!old && !big)
			break;
		if (g->id >= pos.seg) {
			out->at_risk = true;
			break;
		}
		t -= seg_bytes(g);
	}
	pthread_rwlock_unlock(&s->lock);
	return ret;
}
