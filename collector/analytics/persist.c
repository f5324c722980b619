/*
 * persist.c: persistence of analytics: hours read back from their blobs,
 * the start-up (index, warm-up of the recently-seen spans, replay of the
 * log after the checkpoint), checkpoints made on the loop and written on
 * the thread pool at quiet moments, eviction of old hours, and the timers
 * (checkpoints, the end of the settle time). docs/analytics.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics_int.h"
#include "util/container_of.h"

struct an_hour *an_hour_read(struct col_analytics *a, int64_t hour, enum parse_mode mode,
				 int *err)
{
	char key[48];
	void *d;
	size_t len;
	uint8_t slot = 0;
	an_hour_persisted(a, hour, &slot);
	an_blob_key(key, sizeof(key), hour, slot);
	*err = store_meta_get(a->store, key, &d, &len);
	if (*err != 0)
		return NULL;
	struct an_hour *h = an_hour_parse(a, d, len, hour, mode, err);
	free(d);
	if (h)
		a->st.loaded_hours++;
	return h;
}

struct an_hour *an_hour_get(struct col_analytics *a, int64_t hour, bool create)
{
	struct an_hour *h = an_hour_resident(a, hour);
	if (h != NULL || !create)
		return h;
	if (a->store != NULL && an_hour_persisted(a, hour, NULL)) {
		int err;
		/* The last two hours live; older ones keep minutes serialised. */
		int64_t now_hour = (int64_t)(time(NULL) / 3600);
		h = an_hour_read(a, hour, hour >= now_hour - 1 ? P_LIVE : P_COMPACT, &err);
		if (h != NULL) {
			/* The blob also covers everything before the index's base. */
			h->has_pos = true;
			if (store_pos_cmp(h->pos, a->base) < 0)
				h->pos = a->base;
		}
	}
	if (h == NULL)
		h = an_hour_new(hour);
	if (h == NULL)
		return NULL;
	if (an_hour_link(a, h) != 0) {
		an_hour_free(h);
		return NULL;
	}
	return h;
}

/* Reads the log from `from` to its end: AN_WARM only remembers the spans,
 * AN_REPLAY counts them. *records: records read; *bad: unreadable ones. */
static int read_log(struct col_analytics *a, struct store_pos from, enum an_mode mode,
		    uint64_t *records, uint32_t *bad)
{
	struct store_reader *r;
	int rc = store_reader_new(a->store, from, &r);
	if (rc != 0)
		return rc;
	for (;;) {
		struct otlp_batch *b;
		struct store_pos at, next;
		rc = store_reader_next(r, &b, &at, &next);
		if (rc == -EAGAIN)
			break;
		if (rc == -ERANGE || rc == -EBADMSG) {
			/* Retention may have dropped the start of the warm-up. */
			if (rc == -EBADMSG || mode != AN_WARM)
				(*bad)++;
			continue;
		}
		if (rc != 0)
			break;
		if (mode == AN_WARM && store_pos_cmp(at, a->base) >= 0) {
			otlp_batch_free(b);
			break;
		}
		an_observe(a, b, mode, &at);
		otlp_batch_free(b);
		(*records)++;
	}
	store_reader_free(r);
	return rc == -EAGAIN ? 0 : rc;
}

/* Forgets what a bad index left half-read (waiting spans it restored, and
 * hours that some of them, pushed out by a lower cap, were counted in). */
static int index_reset(struct col_analytics *a)
{
	for (uint32_t i = 0; i < a->nhours; i++)
		an_hour_free(a->hours[i]);
	a->nhours = 0;
	a->nphours = 0;
	a->base = (struct store_pos){ 0, 0 };
	a->warm = a->base;
	an_obs_done(a);
	memset(&a->pend, 0, sizeof(a->pend));
	a->seen = NULL;
	return an_obs_init(a);
}

int col_an_load(struct col_analytics *a, struct store *st, char *msg, size_t msglen)
{
	a->store = st;
	void *d;
	size_t len;
	int rc = store_meta_get(st, INDEX_KEY, &d, &len);
	if (rc == 0) {
		rc = an_index_parse(a, d, len);
		free(d);
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	const char *note = "";
	if (rc != 0) {
		note = " (index unreadable: rebuilt from the whole log)";
		if (index_reset(a) != 0)
			return -ENOMEM;
		rc = 0;
	}
	/* Load the recent hours now (older ones on demand). */
	int64_t now_hour = (int64_t)(time(NULL) / 3600);
	for (uint32_t i = 0; i < a->nphours; i++) {
		if (a->phours[i] < now_hour - (int64_t)a->o.mem_hours)
			continue;
		if (an_hour_get(a, a->phours[i], true) == NULL)
			return -ENOMEM;
	}
	uint64_t waiting = a->pend.n, warm_records = 0, records = 0;
	uint32_t bad = 0;
	/* The spans before the checkpoint: parents and originals of what
	 * comes next, remembered but not counted again. */
	if (store_pos_cmp(a->warm, a->base) < 0)
		rc = read_log(a, a->warm, AN_WARM, &warm_records, &bad);
	if (rc == 0)
		rc = read_log(a, a->base, AN_REPLAY, &records, &bad);
	for (uint32_t i = 0; i < a->nhours; i++)
		a->hours[i]->has_pos = false;
	a->whist[0] = (struct an_warm){ 0, a->warm };
	a->whist[1] = (struct an_warm){ an_now_ms(), a->base };
	a->nwhist = 2;
	snprintf(msg, msglen,
		 "analytics: %u persisted hours (%llu loaded), %llu spans waiting for a parent, "
		 "replayed %llu records / %llu spans from the log after %llu:%llu (%llu records "
		 "before it remembered)%s%s",
		 a->nphours, (unsigned long long)a->st.loaded_hours, (unsigned long long)waiting,
		 (unsigned long long)records, (unsigned long long)a->st.replayed_spans,
		 (unsigned long long)a->base.seg, (unsigned long long)a->base.off,
		 (unsigned long long)warm_records, bad ? " (some records unreadable, skipped)" : "",
		 note);
	return rc;
}

/* A checkpoint: blobs made on the loop, written on the thread pool. */
struct an_ckpt {
	uv_work_t work;
	struct col_analytics *a;
	struct store *store;
	uint32_t n;
	int64_t *hours;
	uint8_t *slots; /* the blob of hours[i] goes to this slot */
	struct abuf *blobs;
	struct abuf index;
	struct store_pos pos, warm;
	int status;
};

static void ckpt_free(struct an_ckpt *c)
{
	if (c == NULL)
		return;
	for (uint32_t i = 0; i < c->n; i++)
		free(c->blobs[i].p);
	free(c->blobs);
	free(c->hours);
	free(c->slots);
	free(c->index.p);
	free(c);
}

/* How far before a checkpoint the warm-up at start-up begins, at least. */
#define WARM_MIN_MS 60000u

/* The warm-up position of a checkpoint made now: the newest checkpoint at
 * least a settle time (and a minute) old, so that after a restart a child
 * that comes up to a settle time after its parent still finds it, and a
 * resend its original. Forgets the older ones. */
static struct store_pos warm_pos(struct col_analytics *a, uint64_t now_ms)
{
	if (a->nwhist == 0)
		return a->base;
	uint64_t span = a->o.settle_ms > WARM_MIN_MS ? a->o.settle_ms : WARM_MIN_MS;
	uint32_t k = 0;
	for (uint32_t i = 0; i < a->nwhist; i++)
		if (a->whist[i].ms + span <= now_ms)
			k = i;
	memmove(a->whist, a->whist + k, (a->nwhist - k) * sizeof(*a->whist));
	a->nwhist -= k;
	return a->whist[0].pos;
}

static void warm_push(struct col_analytics *a, uint64_t ms, struct store_pos pos)
{
	if (a->nwhist == WARM_HISTORY) {
		/* Keep the oldest (the warm-up position in use): drop the second. */
		memmove(a->whist + 1, a->whist + 2, (WARM_HISTORY - 2) * sizeof(*a->whist));
		a->nwhist--;
	}
	a->whist[a->nwhist++] = (struct an_warm){ ms, pos };
}

/* Snapshot on the loop. NULL with *err. Marks the hours clean. Each dirty
 * hour goes to the slot its current blob is not in: until the index names
 * it, the old blob is the one a restart reads. */
static struct an_ckpt *ckpt_make(struct col_analytics *a, int *err)
{
	struct an_ckpt *c = calloc(1, sizeof(*c));
	*err = -ENOMEM;
	if (c == NULL)
		return NULL;
	c->a = a;
	c->store = a->store;
	c->pos = store_end_pos(a->store);
	c->warm = warm_pos(a, an_now_ms());
	uint32_t nd = 0;
	for (uint32_t i = 0; i < a->nhours; i++)
		nd += a->hours[i]->dirty;
	c->hours = calloc(nd ? nd : 1, sizeof(*c->hours));
	c->blobs = calloc(nd ? nd : 1, sizeof(*c->blobs));
	c->slots = calloc(nd ? nd : 1, sizeof(*c->slots));
	if (c->hours == NULL || c->blobs == NULL || c->slots == NULL)
		goto out_free;
	for (uint32_t i = 0; i < a->nhours; i++) {
		struct an_hour *h = a->hours[i];
		if (!h->dirty)
			continue;
		c->hours[c->n] = h->hour;
		uint8_t cur;
		c->slots[c->n] = an_hour_persisted(a, h->hour, &cur) ? (uint8_t)!cur : 0;
		*err = an_hour_serialize(a, h, c->pos, &c->blobs[c->n]);
		c->n++;
		if (*err != 0)
			goto out_free;
	}
	*err = an_index_serialize(a, c->pos, c->warm, c->hours, c->slots, c->n, &c->index);
	if (*err != 0)
		goto out_free;
	for (uint32_t i = 0; i < a->nhours; i++)
		a->hours[i]->dirty = false;
	a->pend_dirty = false;
	return c;
out_free:
	ckpt_free(c);
	return NULL;
}

/* Any thread. */
static void ckpt_write(struct an_ckpt *c)
{
	char key[48];
	c->status = 0;
	for (uint32_t i = 0; i < c->n && c->status == 0; i++) {
		an_blob_key(key, sizeof(key), c->hours[i], c->slots[i]);
		c->status = store_meta_put(c->store, key, c->blobs[i].p, c->blobs[i].n);
	}
	/* The index (with the new base) only once every hour is on disk. */
	if (c->status == 0)
		c->status = store_meta_put(c->store, INDEX_KEY, c->index.p, c->index.n);
}

/* Loop: applies the outcome and frees c. */
static int ckpt_finish(struct col_analytics *a, struct an_ckpt *c)
{
	int rc = c->status;
	if (rc == 0) {
		for (uint32_t i = 0; i < c->n; i++)
			if (an_phours_add(a, c->hours[i], c->slots[i]) != 0)
				rc = -ENOMEM;
		a->base = c->pos;
		a->warm = c->warm;
		warm_push(a, an_now_ms(), c->pos);
		a->st.checkpoints++;
	} else {
		a->st.checkpoint_errors++;
		a->pend_dirty = true;
		for (uint32_t i = 0; i < c->n; i++) {
			struct an_hour *h = an_hour_resident(a, c->hours[i]);
			if (h)
				h->dirty = true;
		}
	}
	ckpt_free(c);
	return rc;
}

static void hour_compact(struct an_hour *h)
{
	bool all = true;
	for (uint32_t i = 0; i < h->nseries; i++)
		for (int m = 0; m < MIN_PER_HOUR; m++)
			if (an_cell_compact(&h->series[i]->m[m]) != 0)
				all = false;
	h->compact = all;
}

/* Frees resident hours past the memory window that are on disk, and
 * serialises the minutes of hours older than the last two. */
static void evict(struct col_analytics *a)
{
	int64_t now_hour = (int64_t)(time(NULL) / 3600);
	int64_t oldest = now_hour - (int64_t)a->o.mem_hours;
	uint32_t j = 0;
	for (uint32_t i = 0; i < a->nhours; i++) {
		struct an_hour *h = a->hours[i];
		if (!h->compact && h->hour < now_hour - 1)
			hour_compact(h);
		if (h->hour < oldest && !h->dirty && an_hour_persisted(a, h->hour, NULL) && a->store)
			an_hour_free(h);
		else
			a->hours[j++] = h;
	}
	a->nhours = j;
}

int col_an_checkpoint(struct col_analytics *a)
{
	if (a->store == NULL)
		return -ENOTCONN;
	int err;
	struct an_ckpt *c = ckpt_make(a, &err);
	if (c == NULL)
		return err;
	ckpt_write(c);
	err = ckpt_finish(a, c);
	if (err == 0)
		evict(a);
	return err;
}

static void ckpt_work(uv_work_t *w)
{
	ckpt_write(container_of(w, struct an_ckpt, work));
}

static void stop_finish(struct col_analytics *a);

static void ckpt_after(uv_work_t *w, int status)
{
	struct an_ckpt *c = container_of(w, struct an_ckpt, work);
	struct col_analytics *a = c->a;
	if (status != 0)
		c->status = status;
	a->inflight = NULL;
	if (ckpt_finish(a, c) == 0)
		evict(a);
	if (a->stopping)
		stop_finish(a);
}

/* Whether a checkpoint has something to write. */
static bool any_dirty(const struct col_analytics *a)
{
	if (a->pend_dirty)
		return true;
	for (uint32_t i = 0; i < a->nhours; i++)
		if (a->hours[i]->dirty)
			return true;
	return false;
}

static void start_ckpt(struct col_analytics *a);

/* After each loop iteration's callbacks, while a checkpoint is due: the
 * moments between an ack and the next submit are the quiet ones. */
static void on_check(uv_check_t *ch)
{
	struct col_analytics *a = ch->data;
	if (a->quiescent && !a->quiescent(a->qarg))
		return;
	uv_check_stop(&a->check);
	start_ckpt(a);
}

static void on_timer(uv_timer_t *t)
{
	struct col_analytics *a = t->data;
	if (a->inflight || a->store == NULL || !any_dirty(a) || uv_is_active((uv_handle_t *)&a->check))
		return;
	if (a->quiescent && !a->quiescent(a->qarg)) {
		a->st.checkpoint_waits++;
		uv_check_start(&a->check, on_check);
		return;
	}
	start_ckpt(a);
}

static void start_ckpt(struct col_analytics *a)
{
	int err;
	struct an_ckpt *c = ckpt_make(a, &err);
	if (c == NULL) {
		a->st.checkpoint_errors++;
		return;
	}
	if (uv_queue_work(a->loop, &c->work, ckpt_work, ckpt_after) != 0) {
		ckpt_write(c);
		ckpt_finish(a, c);
		return;
	}
	a->inflight = c;
}

static void on_settle(uv_timer_t *t)
{
	struct col_analytics *a = t->data;
	col_an_expire(a, 0);
}

int col_an_start(struct col_analytics *a, uv_loop_t *loop, bool (*quiescent)(void *arg),
		 void *arg)
{
	a->loop = loop;
	a->quiescent = quiescent;
	a->qarg = arg;
	int rc = uv_timer_init(loop, &a->timer);
	if (rc != 0)
		return rc;
	a->timer.data = a;
	a->timer_on = true;
	rc = uv_check_init(loop, &a->check);
	if (rc != 0)
		return rc;
	a->check.data = a;
	a->check_on = true;
	rc = uv_timer_init(loop, &a->settle_timer);
	if (rc != 0)
		return rc;
	a->settle_timer.data = a;
	a->settle_on = true;
	/* A wait ends at most a tenth of the settle time (and 1 s) late. */
	uint64_t tick = a->o.settle_ms / 10;
	tick = tick < 50 ? 50 : tick > 1000 ? 1000 : tick;
	rc = uv_timer_start(&a->settle_timer, on_settle, tick, tick);
	if (rc != 0)
		return rc;
	/* Ticks are short so that a busy stream still finds a quiet moment. */
	uint64_t every = a->o.checkpoint_ms ? a->o.checkpoint_ms : 10000;
	return uv_timer_start(&a->timer, on_timer, every, every);
}

static void stop_finish(struct col_analytics *a)
{
	if (a->store != NULL && any_dirty(a) && (a->quiescent == NULL || a->quiescent(a->qarg)))
		col_an_checkpoint(a);
	a->stopping = false;
	void (*done)(void *) = a->stop_done;
	a->stop_done = NULL;
	if (done)
		done(a->stop_arg);
}

void col_an_stop(struct col_analytics *a, void (*done)(void *arg), void *arg)
{
	a->stop_done = done;
	a->stop_arg = arg;
	if (a->timer_on) {
		a->timer_on = false;
		uv_timer_stop(&a->timer);
		uv_close((uv_handle_t *)&a->timer, NULL);
	}
	if (a->settle_on) {
		a->settle_on = false;
		uv_timer_stop(&a->settle_timer);
		uv_close((uv_handle_t *)&a->settle_timer, NULL);
	}
	if (a->check_on) {
		a->check_on = false;
		uv_check_stop(&a->check);
		uv_close((uv_handle_t *)&a->check, NULL);
	}
	if (a->inflight) {
		a->stopping = true;
		return;
	}
	stop_finish(a);
}

