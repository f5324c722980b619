/*
 * test_recovery.c: what start-up does with a crashed writer (no index
 * file), a torn tail, a corrupt segment in the middle, a bad index file.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>

#include "fx.h"
#include "harness.h"

#define T0 1700000000000000000ull

static struct otlp_batch *batch(int from, int to, const char *svc)
{
	return fx_batch(svc, from, to, T0, 1000, 500);
}

static int append(struct store *s, int from, int to)
{
	struct otlp_batch *b = batch(from, to, "svc");
	int rc = store_append(s, b);
	otlp_batch_free(b);
	return rc;
}

static int count_traces(struct store *s, int from, int to)
{
	int found = 0;
	for (int t = from; t < to; t++) {
		uint8_t id[16];
		struct otlp_batch *b = NULL;
		fx_tid(id, (uint64_t)t);
		if (store_get_trace(s, id, &b) == 0 && b->n_spans == 1)
			found++;
		otlp_batch_free(b);
	}
	return found;
}

static void seg_path(char *out, size_t n, const char *dir, uint64_t id, const char *ext)
{
	snprintf(out, n, "%s/%016llx.%s", dir, (unsigned long long)id, ext);
}

static off_t file_size(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static void flip_byte(const char *p, off_t at)
{
	int fd = open(p, O_RDWR);
	uint8_t c;
	if (fd < 0 || pread(fd, &c, 1, at) != 1)
		abort();
	c ^= 0x5a;
	if (pwrite(fd, &c, 1, at) != 1)
		abort();
	close(fd);
}

/* A child process appends and dies without closing: the open segment
 * has no index file and the parent must rebuild it from the log. */
TEST(crashed_writer_rebuilds_index)
{
	char dir[256];
	fx_tmpdir(dir, sizeof dir, "crash");
	pid_t pid = fork();
	if (pid == 0) {
		struct store *s;
		if (fx_open(dir, &s, NULL) != 0)
			_exit(2);
		for (int i = 0; i < 100; i += 10)
			if (append(s, i, i + 10) != 0)
				_exit(3);
		_exit(0);
	}
	int status;
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	struct store *s;
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.indexes_rebuilt, 1);
	ASSERT_EQ(rec.spans, 100);
	ASSERT_EQ(rec.truncated_bytes, 0);
	ASSERT(strstr(rec.msg, "1 rebuilt") != NULL);
	ASSERT_EQ(count_traces(s, 0, 100), 100);
	/* new data goes to a new segment and both are searchable */
	ASSERT_OK(append(s, 100, 110));
	ASSERT_EQ(count_traces(s, 0, 110), 110);
	store_close(s);
	/* and the rebuilt index was saved */
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.indexes_rebuilt, 0);
	ASSERT_EQ(rec.indexes_loaded, 2);
	store_close(s);
	fx_rmtree(dir);
}

TEST(torn_tail_is_cut)
{
	char dir[256], p[512], ip[512];
	fx_tmpdir(dir, sizeof dir, "torn");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	for (int i = 0; i < 50; i += 10)
		ASSERT_OK(append(s, i, i + 10));
	store_close(s);
	seg_path(p, sizeof p, dir, 1, "seg");
	seg_path(ip, sizeof ip, dir, 1, "idx");
	off_t size = file_size(p);
	/* a crash in the middle of the last record: cut 5 bytes off it and
	 * lose the index file the crash would not have written */
	ASSERT_OK(truncate(p, size - 5));
	unlink(ip);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_GT(rec.truncated_bytes, 0);
	ASSERT_EQ(rec.corrupt_segments, 0);
	ASSERT_EQ(rec.spans, 40);
	ASSERT_EQ(count_traces(s, 0, 40), 40);
	ASSERT_EQ(count_traces(s, 40, 50), 0);
	store_close(s);
	ASSERT_LT(file_size(p), size - 5);
	/* garbage after the last record (a torn header) */
	int fd = open(p, O_WRONLY | O_APPEND);
	ASSERT(fd >= 0);
	ASSERT_EQ(write(fd, "TRC1garbage", 11), 11);
	close(fd);
	unlink(ip);
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.truncated_bytes, 11);
	ASSERT_EQ(count_traces(s, 0, 40), 40);
	store_close(s);
	fx_rmtree(dir);
}

TEST(corrupt_middle_segment_is_skipped_and_reported)
{
	char dir[256], p[512], ip[512];
	fx_tmpdir(dir, sizeof dir, "mid");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	for (int seg = 0; seg < 3; seg++) {
		for (int i = 0; i < 30; i += 10)
			ASSERT_OK(append(s, seg * 30 + i, seg * 30 + i + 10));
		ASSERT_OK(store_roll(s));
	}
	store_close(s);
	/* damage the second record of segment 2 and drop its index */
	seg_path(p, sizeof p, dir, 2, "seg");
	seg_path(ip, sizeof ip, dir, 2, "idx");
	off_t size = file_size(p);
	off_t third = size / 3;
	flip_byte(p, third + 60);
	unlink(ip);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.corrupt_segments, 1);
	ASSERT_GT(rec.skipped_bytes, 0);
	ASSERT_EQ(rec.segments, 3);
	ASSERT(strstr(rec.msg, "1 corrupt") != NULL);
	ASSERT_EQ(count_traces(s, 0, 30), 30);
	ASSERT_EQ(count_traces(s, 60, 90), 30);
	int mid = count_traces(s, 30, 60);
	ASSERT_GE(mid, 10); /* the records before the damage */
	ASSERT_LT(mid, 30);
	ASSERT_EQ(file_size(p), size); /* never rewritten */
	/* a reader goes through: the bad part is reported once, then on */
	struct store_reader *r;
	ASSERT_OK(store_reader_new(s, (struct store_pos){ 0, 0 }, &r));
	int good = 0, bad = 0, rc;
	struct otlp_batch *b;
	struct store_pos at, next;
	while ((rc = store_reader_next(r, &b, &at, &next)) != -EAGAIN) {
		if (rc == 0) {
			good += (int)b->n_spans;
			otlp_batch_free(b);
		} else if (rc == -EBADMSG) {
			bad++;
		} else {
			break;
		}
	}
	store_reader_free(r);
	ASSERT_EQ(rc, -EAGAIN);
	ASSERT_EQ(good, 60 + mid);
	ASSERT_LE(bad, 1);
	/* ingest goes on */
	ASSERT_OK(append(s, 90, 100));
	ASSERT_EQ(count_traces(s, 90, 100), 10);
	store_close(s);
	/* the next start finds the same, from the index file */
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.corrupt_segments, 1);
	ASSERT_EQ(rec.indexes_rebuilt, 0);
	ASSERT_EQ(count_traces(s, 30, 60), mid);
	store_close(s);
	fx_rmtree(dir);
}

TEST(bad_header_and_bad_index)
{
	char dir[256], p[512], ip[512];
	fx_tmpdir(dir, sizeof dir, "hdr");
	struct store *s;
	ASSERT_OK(fx_open(dir, &s, NULL));
	for (int seg = 0; seg < 3; seg++) {
		ASSERT_OK(append(s, seg * 10, seg * 10 + 10));
		ASSERT_OK(store_roll(s));
	}
	store_close(s);
	seg_path(p, sizeof p, dir, 1, "seg");
	flip_byte(p, 2); /* segment 1's magic */
	seg_path(ip, sizeof ip, dir, 3, "idx");
	flip_byte(ip, 70); /* segment 3's index: checksum fails, rebuilt */
	char tmp[512];
	seg_path(tmp, sizeof tmp, dir, 2, "idx.tmp"); /* left by a crash mid-seal */
	int tfd = open(tmp, O_WRONLY | O_CREAT, 0644);
	ASSERT(tfd >= 0);
	ASSERT_EQ(write(tfd, "half", 4), 4);
	close(tfd);
	struct store_recovery rec;
	ASSERT_OK(fx_open(dir, &s, &rec));
	ASSERT_EQ(rec.corrupt_segments, 1);
	ASSERT_EQ(rec.segments, 2);
	ASSERT_EQ(rec.indexes_rebuilt, 1);
	ASSERT_EQ(rec.indexes_loaded, 1);
	ASSERT_EQ(count_traces(s, 0, 10), 0);
	ASSERT_EQ(count_traces(s, 10, 30), 20);
	ASSERT_EQ(file_size(tmp), -1); /* removed */
	ASSERT_OK(append(s, 30, 40));
	ASSERT_EQ(count_traces(s, 30, 40), 10);
	store_close(s);
	fx_rmtree(dir);
}

TEST_MAIN(TEST_ENTRY(crashed_writer_rebuilds_index), TEST_ENTRY(torn_tail_is_cut),
	  TEST_ENTRY(corrupt_middle_segment_is_skipped_and_reported),
	  TEST_ENTRY(bad_header_and_bad_index))
