/* inflate.c: zlib inflate with a hard output bound. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <zlib.h>

#include "ingest/inflate.h"

int col_gunzip(const uint8_t *in, size_t inlen, size_t max_out, uint8_t **out,
	       size_t *outlen)
{
	return col_gunzip_reserve(in, inlen, max_out, out, outlen, NULL, NULL, NULL);
}

/*
 * The memory limit stopped the inflate after done bytes: is the request
 * too big anyway (-EMSGSIZE: final), or would it fit later (-ENOBUFS:
 * retry)? Inflates the rest into a scratch buffer, allocating nothing,
 * up to max_out in all.
 */
static int too_big_or_busy(z_stream *z, size_t done, size_t max_out)
{
	uint8_t scratch[16384];
	for (;;) {
		z->next_out = scratch;
		z->avail_out = sizeof(scratch);
		int zr = inflate(z, Z_NO_FLUSH);
		done += sizeof(scratch) - z->avail_out;
		if (done > max_out)
			return -EMSGSIZE;
		if (zr == Z_STREAM_END && z->avail_in > 0) {
			if (inflateReset(z) != Z_OK)
				return -EINVAL;
			continue;
		}
		if (zr == Z_STREAM_END)
			return -ENOBUFS;
		if (zr == Z_OK || (zr == Z_BUF_ERROR && z->avail_out == 0))
			continue;
		return zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
}

int col_gunzip_reserve(const uint8_t *in, size_t inlen, size_t max_out, uint8_t **out,
		       size_t *outlen, bool (*reserve)(void *arg, size_t n), void *arg,
		       size_t *reserved)
{
	z_stream z = { 0 };
	int ret;
	size_t dummy;
	if (reserved == NULL)
		reserved = &dummy;
	*reserved = 0;
	*out = NULL;
	*outlen = 0;
	if (inlen > UINT_MAX)
		return -EMSGSIZE;
	/* 32 + MAX_WBITS: gzip or zlib (gRPC's "deflate"), told by the header. */
	if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK)
		return -ENOMEM;

	size_t cap = inlen * 4 < 4096 ? 4096 : inlen * 4;
	if (cap > max_out)
		cap = max_out;
	if (cap == 0)
		cap = 1;
	uint8_t *buf = NULL;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	if (reserve != NULL && !reserve(arg, cap)) {
		ret = too_big_or_busy(&z, 0, max_out);
		goto out_end;
	}
	*reserved = cap;
	buf = malloc(cap);
	if (buf == NULL) {
		ret = -ENOMEM;
		goto out_end;
	}
	size_t len = 0;
	for (;;) {
		if (len == cap) {
			if (cap >= max_out) {
				/* Full at the bound: fine only if the stream ends here. */
				uint8_t probe;
				z.next_out = &probe;
				z.avail_out = 1;
				int zr = inflate(&z, Z_NO_FLUSH);
				if (zr == Z_STREAM_END && z.avail_out == 1 && z.avail_in == 0)
					break;
				if (zr == Z_STREAM_END && z.avail_out == 1) {
					if (inflateReset(&z) != Z_OK) {
						ret = -EINVAL;
						goto out_free_buf;
					}
					continue; /* the next member must be empty */
				}
				ret = (zr == Z_OK || zr == Z_BUF_ERROR || zr == Z_STREAM_END) ?
					      -EMSGSIZE : -EINVAL;
				goto out_free_buf;
			}
			size_t ncap = cap * 2 > max_out ? max_out : cap * 2;
			if (reserve != NULL && !reserve(arg, ncap - cap)) {
				ret = too_big_or_busy(&z, len, max_out);
				goto out_free_buf;
			}
			*reserved += ncap - cap;
			uint8_t *nb = realloc(buf, ncap);
			if (nb == NULL) {
				ret = -ENOMEM;
				goto out_free_buf;
			}
			buf = nb;
			cap = ncap;
		}
		size_t room = cap - len;
		if (room > UINT_MAX)
			room = UINT_MAX;
		z.next_out = buf + len;
		z.avail_out = (uInt)room;
		int zr = inflate(&z, Z_NO_FLUSH);
		len += room - z.avail_out;
		if (zr == Z_STREAM_END && z.avail_in > 0) {
			/* Another gzip member follows (as `cat a.gz b.gz`): go on, as
			 * gzip -d does, under the same bound. */
			if (inflateReset(&z) != Z_OK) {
				ret = -EINVAL;
				goto out_free_buf;
			}
			continue;
		}
		if (zr == Z_STREAM_END)
			break;
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && z.avail_out == 0)
			continue; /* needs more room */
		if (zr == Z_MEM_ERROR) {
			ret = -ENOMEM;
			goto out_free_buf;
		}
		/* Z_BUF_ERROR with room left: the input ended early. */
		ret = -EINVAL;
		goto out_free_buf;
	}
	inflateEnd(&z);
	*out = buf;
	*outlen = len;
	return 0;

out_free_buf:
	free(buf);
out_end:
	inflateEnd(&z);
	return ret;
}
