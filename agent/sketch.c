/*
 * sketch.c: the log-bucket relative-error sketch (see tern_sketch.h).
 *
 * Store: one dense array of counters covering bucket indexes
 * [off, off + cap). lo..hi are the non-empty extremes. The array grows with
 * slack toward the side that needed it, and never beyond max_buckets; a
 * value that would widen the range past that folds the lowest buckets
 * into the lowest kept one.
 */
#include "tern_sketch.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct tern_sketch {
	double accuracy;
	double gamma;
	double inv_log_gamma;
	uint32_t max_buckets;
	uint64_t count;
	uint64_t zero;      /* values below TERN_SKETCH_MIN_VALUE */
	uint64_t collapsed; /* values moved into a higher bucket */
	double sum, min, max;
	uint64_t *b; /* counters for indexes off .. off + cap - 1 */
	int32_t off;
	uint32_t cap;
	int32_t lo, hi; /* non-empty extremes; valid when nb > 0 */
	uint64_t nb;    /* values in buckets (count - zero) */
};

/* Bucket indexes are kept well inside int32 whatever the double. */
#define IDX_LIMIT (1 << 22)

struct tern_sketch *tern_sketch_new(double rel_accuracy, uint32_t max_buckets)
{
	if (rel_accuracy == 0)
		rel_accuracy = TERN_SKETCH_DEFAULT_ACCURACY;
	if (max_buckets == 0)
		max_buckets = TERN_SKETCH_DEFAULT_MAX_BUCKETS;
	if (!(rel_accuracy > 0 && rel_accuracy < 0.5) || max_buckets < 16 ||
	    max_buckets > TERN_SKETCH_MAX_BUCKETS_LIMIT)
		return NULL;
	struct tern_sketch *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->accuracy = rel_accuracy;
	s->gamma = (1 + rel_accuracy) / (1 - rel_accuracy);
	s->inv_log_gamma = 1.0 / log(s->gamma);
	/* An accuracy so small that gamma rounds to 1 (a deserialised one
	 * can be anything) has no usable buckets: log(1) * inf is NaN. */
	if (!(s->gamma > 1.0 && isfinite(s->inv_log_gamma))) {
		free(s);
		return NULL;
	}
	s->max_buckets = max_buckets;
	tern_sketch_reset(s);
	return s;
}

void tern_sketch_free(struct tern_sketch *s)
{
	if (s == NULL)
		return;
	free(s->b);
	free(s);
}

void tern_sketch_reset(struct tern_sketch *s)
{
	s->count = s->zero = s->collapsed = s->nb = 0;
	s->sum = 0;
	s->min = s->max = NAN;
	if (s->b != NULL)
		memset(s->b, 0, s->cap * sizeof *s->b);
	s->lo = s->hi = 0;
}

static int32_t index_of(const struct tern_sketch *s, double v)
{
	double k = ceil(log(v) * s->inv_log_gamma);
	/* Written so a NaN (never expected: see tern_sketch_new()) clamps
	 * instead of reaching the int conversion, which would be undefined. */
	if (!(k <= IDX_LIMIT))
		k = IDX_LIMIT;
	if (!(k >= -IDX_LIMIT))
		k = -IDX_LIMIT;
	return (int32_t)k;
}

static double value_of(const struct tern_sketch *s, int32_t k)
{
	/* The point of bucket (gamma^(k-1), gamma^k] with equal relative
	 * distance to both ends. */
	return 2.0 * pow(s->gamma, k) / (s->gamma + 1.0);
}

/*
 * Makes index k addressable, collapsing the lowest buckets if the range
 * would exceed max_buckets. *kout is where k's values must go (k, or the
 * lowest kept index when k itself was folded). Returns 0 or -ENOMEM (the
 * sketch is unchanged then).
 */
static int store_fit(struct tern_sketch *s, int32_t k, int32_t *kout)
{
	if (s->b != NULL && k >= s->off && (int64_t)k < (int64_t)s->off + s->cap &&
	    (s->nb == 0 || (int64_t)s->hi - (k < s->lo ? k : s->lo) < s->max_buckets)) {
		*kout = k;
		return 0;
	}
	int32_t lo = s->nb ? (k < s->lo ? k : s->lo) : k;
	int32_t hi = s->nb ? (k > s->hi ? k : s->hi) : k;
	if ((int64_t)hi - lo + 1 > s->max_buckets)
		lo = hi - (int32_t)s->max_buckets + 1;
	if (k < lo)
		k = lo;
	uint32_t width = (uint32_t)(hi - lo + 1);
	uint32_t ncap = width + width / 2;
	if (ncap < 64)
		ncap = 64;
	if (ncap > s->max_buckets)
		ncap = s->max_buckets;
	if (ncap < width)
		ncap = width;
	/* Slack goes on the side that grew; a collapsing store only grows up. */
	int32_t noff;
	if (s->nb && k < s->lo && (int64_t)hi - lo + 1 < s->max_buckets)
		noff = hi - (int32_t)ncap + 1;
	else
		noff = lo;
	uint64_t *nbk = calloc(ncap, sizeof *nbk);
	if (nbk == NULL)
		return -ENOMEM;
	if (s->nb) {
		for (int32_t i = s->lo; i <= s->hi; i++) {
			uint64_t c = s->b[i - s->off];
			if (c == 0)
				continue;
			int32_t j = i;
			if (j < lo) {
				j = lo;
				s->collapsed += c;
			}
			nbk[j - noff] += c;
		}
		if (s->lo < lo)
			s->lo = lo;
	}
	free(s->b);
	s->b = nbk;
	s->off = noff;
	s->cap = ncap;
	*kout = k;
	return 0;
}

static int add_index(struct tern_sketch *s, int32_t k, uint64_t n)
{
	int32_t kk;
	int rc = store_fit(s, k, &kk);
	if (rc != 0)
		return rc;
	if (kk != k)
		s->collapsed += n;
	s->b[kk - s->off] += n;
	if (s->nb == 0) {
		s->lo = s->hi = kk;
	} else {
		if (kk < s->lo)
			s->lo = kk;
		if (kk > s->hi)
			s->hi = kk;
	}
	s->nb += n;
	return 0;
}

int tern_sketch_add_n(struct tern_sketch *s, double v, uint64_t n)
{
	if (isnan(v))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (v < 0)
		v = 0;
	if (v >= TERN_SKETCH_MIN_VALUE) {
		int rc = add_index(s, index_of(s, v), n);
		if (rc != 0)
			return rc;
	} else {
		s->zero += n;
	}
	if (s->count == 0 || v < s->min)
		s->min = v;
	if (s->count == 0 || v > s->max)
		s->max = v;
	s->count += n;
	s->sum += v * (double)n;
	return 0;
}

int tern_sketch_add(struct tern_sketch *s, double v)
{
	return tern_sketch_add_n(s, v, 1);
}

int tern_sketch_merge(struct tern_sketch *dst, const struct tern_sketch *src)
{
	if (dst->accuracy != src->accuracy)
		return -EINVAL;
	if (src->count == 0)
		return 0;
	if (src->nb) {
		/* Make room first so the adds below cannot fail halfway. */
		int32_t k;
		int rc = store_fit(dst, src->hi, &k);
		if (rc == 0)
			rc = store_fit(dst, src->lo, &k);
		if (rc != 0)
			return rc;
		for (int32_t i = src->lo; i <= src->hi; i++) {
			uint64_t c = src->b[i - src->off];
			if (c != 0 && add_index(dst, i, c) != 0)
				return -ENOMEM; /* cannot happen after the fits */
		}
	}
	dst->zero += src->zero;
	dst->collapsed += src->collapsed;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->count == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
	return 0;
}

double tern_sketch_quantile(const struct tern_sketch *s, double q)
{
	if (s->count == 0 || !(q >= 0 && q <= 1))
		return NAN;
	double rank = q * (double)(s->count - 1);
	double v;
	if (rank < (double)s->zero) {
		v = 0;
	} else {
		uint64_t cum = s->zero;
		v = s->max;
		for (int32_t i = s->lo; i <= s->hi; i++) {
			cum += s->b[i - s->off];
			if ((double)cum > rank) {
				v = value_of(s, i);
				break;
			}
		}
	}
	if (v < s->min)
		v = s->min;
	if (v > s->max)
		v = s->max;
	return v;
}

uint64_t tern_sketch_count(const struct tern_sketch *s) { return s->count; }
double tern_sketch_min(const struct tern_sketch *s) { return s->min; }
double tern_sketch_max(const struct tern_sketch *s) { return s->max; }
double tern_sketch_sum(const struct tern_sketch *s) { return s->sum; }
uint64_t tern_sketch_collapsed(const struct tern_sketch *s) { return s->collapsed; }
double tern_sketch_accuracy(const struct tern_sketch *s) { return s->accuracy; }

/* --- serialisation ------------------------------------------------------
 * "TSK" 0x01 | accuracy f64 | max_buckets varint | count varint |
 * zero varint | collapsed varint | sum f64 | min f64 | max f64 |
 * nbuckets varint | [lo zigzag varint | nbuckets counts varint]
 * f64 are IEEE-754 bit patterns, little-endian.
 */
#define SK_MAGIC "TSK\x01"

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static uint8_t *put_f64(uint8_t *p, double d)
{
	uint64_t u;
	memcpy(&u, &d, 8);
	for (int i = 0; i < 8; i++)
		*p++ = (uint8_t)(u >> (8 * i));
	return p;
}

int tern_sketch_serialize(const struct tern_sketch *s, uint8_t **out, size_t *out_len)
{
	uint32_t nbk = s->nb ? (uint32_t)(s->hi - s->lo + 1) : 0;
	size_t cap = 4 + 8 + 10 * 4 + 8 * 3 + 10 + 10 + (size_t)nbk * 10;
	uint8_t *buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	uint8_t *p = buf;
	memcpy(p, SK_MAGIC, 4);
	p += 4;
	p = put_f64(p, s->accuracy);
	p = put_varint(p, s->max_buckets);
	p = put_varint(p, s->count);
	p = put_varint(p, s->zero);
	p = put_varint(p, s->collapsed);
	p = put_f64(p, s->sum);
	p = put_f64(p, s->min);
	p = put_f64(p, s->max);
	p = put_varint(p, nbk);
	if (nbk) {
		uint32_t zz = ((uint32_t)s->lo << 1) ^ (uint32_t)(s->lo >> 31);
		p = put_varint(p, zz);
		for (int32_t i = s->lo; i <= s->hi; i++)
			p = put_varint(p, s->b[i - s->off]);
	}
	*out = buf;
	*out_len = (size_t)(p - buf);
	return 0;
}

struct rd {
	const uint8_t *p, *end;
};

static int get_varint(struct rd *r, uint64_t *v)
{
	uint64_t x = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end)
			return -EINVAL;
		uint8_t c = *r->p++;
		if (shift == 63 && c > 1)
			return -EINVAL;
		x |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -EINVAL;
}

static int get_f64(struct rd *r, double *d)
{
	if (r->end - r->p < 8)
		return -EINVAL;
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)r->p[i] << (8 * i);
	r->p += 8;
	memcpy(d, &u, 8);
	return 0;
}

int tern_sketch_deserialize(const uint8_t *buf, size_t len, struct tern_sketch **out)
{
	struct rd r = { buf, buf + len };
	double acc, sum, mn, mx;
	uint64_t maxb, count, zero, collapsed, nbk;
	*out = NULL;
	if (len < 4 || memcmp(buf, SK_MAGIC, 4) != 0)
		return -EINVAL;
	r.p += 4;
	if (get_f64(&r, &acc) || get_varint(&r, &maxb) || get_varint(&r, &count) ||
	    get_varint(&r, &zero) || get_varint(&r, &collapsed) || get_f64(&r, &sum) ||
	    get_f64(&r, &mn) || get_f64(&r, &mx) || get_varint(&r, &nbk))
		return -EINVAL;
	if (!(acc > 0 && acc < 0.5) || maxb < 16 || maxb > TERN_SKETCH_MAX_BUCKETS_LIMIT ||
	    nbk > maxb || zero > count || collapsed > count || isnan(sum))
		return -EINVAL;
	if (count > 0 && (isnan(mn) || isnan(mx) || mn < 0 || mx < mn))
		return -EINVAL;
	if ((nbk == 0) != (zero == count))
		return -EINVAL;
	/* Each bucket needs at least one byte: cheap reject before allocating. */
	if (nbk > (uint64_t)(r.end - r.p))
		return -EINVAL;
	struct tern_sketch *s = tern_sketch_new(acc, (uint32_t)maxb);
	if (s == NULL)
		return -ENOMEM;
	int rc = -EINVAL;
	if (nbk) {
		uint64_t zz;
		if (get_varint(&r, &zz) || zz > 2u * IDX_LIMIT)
			goto out_free_sketch;
		int32_t lo = (int32_t)(zz >> 1) ^ -(int32_t)(zz & 1);
		int32_t hi = lo + (int32_t)nbk - 1;
		if (hi > IDX_LIMIT)
			goto out_free_sketch;
		s->b = calloc(nbk, sizeof *s->b);
		if (s->b == NULL) {
			rc = -ENOMEM;
			goto out_free_sketch;
		}
		s->off = lo;
		s->cap = (uint32_t)nbk;
		uint64_t total = 0;
		bool any = false;
		for (uint64_t i = 0; i < nbk; i++) {
			uint64_t c;
			if (get_varint(&r, &c) || c > count - zero - total)
				goto out_free_sketch;
			s->b[i] = c;
			total += c;
			if (c) {
				if (!any)
					s->lo = lo + (int32_t)i;
				s->hi = lo + (int32_t)i;
				any = true;
			}
		}
		if (total != count - zero)
			goto out_free_sketch;
		s->nb = total;
	}
	if (r.p != r.end)
		goto out_free_sketch;
	s->count = count;
	s->zero = zero;
	s->collapsed = collapsed;
	s->sum = sum;
	s->min = count ? mn : NAN;
	s->max = count ? mx : NAN;
	*out = s;
	return 0;

out_free_sketch:
	tern_sketch_free(s);
	return rc;
}
