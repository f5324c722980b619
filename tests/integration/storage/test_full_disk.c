/*
 * test_full_disk.c: the real ternd (--sink store) on a 4 MiB tmpfs. When
 * the disk fills, Export is refused with UNAVAILABLE (retryable) and
 * ternd keeps running; when space returns, ingest resumes by itself;
 * every acked span is readable afterwards and none is there twice.
 *
 * Needs to mount a tmpfs (root, or CAP_SYS_ADMIN): skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <time.h>

#include <grpc/status.h>

#include "harness.h"
#include "reqs.h"
#include "ternd_proc.h"

#define GRPC_UNAVAILABLE 14

static char mnt[256];
static bool mounted;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static int export_one(struct otlp_grpc_conn *c, uint32_t seq)
{
	uint8_t *req;
	size_t len;
	if (build_request(0, 0, seq, &req, &len) != 0)
		return -1;
	int st = export_status(c, req, len, 10);
	free(req);
	return st;
}

static uint32_t acked[100000];
static size_t nacked;

static void unmount(void)
{
	if (mounted)
		umount2(mnt, MNT_DETACH);
	rmdir(mnt);
}

TEST(full_disk_refuses_then_recovers)
{
	/* ternd under valgrind is too slow to fill a disk in time; the
	 * injected-ENOSPC unit test covers the same paths under valgrind. */
	const char *vg = getenv("TERN_UNDER_VALGRIND");
	if (vg && strcmp(vg, "1") == 0)
		TEST_SKIP("ternd under valgrind is too slow to fill a disk (test_faults covers ENOSPC)");
	const char *t = getenv("TMPDIR");
	snprintf(mnt, sizeof mnt, "%s/tern-fulldisk-XXXXXX", t && *t ? t : "/tmp");
	ASSERT(mkdtemp(mnt) != NULL);
	atexit(unmount);
	if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m") != 0)
		TEST_SKIP("cannot mount a tmpfs (%s): needs root or CAP_SYS_ADMIN", strerror(errno));
	mounted = true;
	signal(SIGPIPE, SIG_IGN);
	char data[300], filler[300];
	snprintf(data, sizeof data, "%s/data", mnt);
	snprintf(filler, sizeof filler, "%s/filler", mnt);
	/* 1 MiB of filler we can delete later to "free space" */
	int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT(fd >= 0);
	static char chunk[65536];
	memset(chunk, 0xab, sizeof chunk);
	for (int i = 0; i < 16; i++)
		ASSERT_EQ(write(fd, chunk, sizeof chunk), (ssize_t)sizeof chunk);
	close(fd);

	const char *args[] = { "--sink", "store", NULL };
	struct ternd_proc_opts o = { .args = args, .data_dir = data };
	struct ternd_proc p;
	ASSERT_OK(ternd_proc_start(&p, &o));
	struct otlp_grpc_conn *c = otlp_grpc_connect(p.grpc_addr, false);
	uint32_t seq = 0;
	int st = 0;
	while (seq < 100000 && (st = export_one(c, seq)) == 0)
		acked[nacked++] = seq++;
	fprintf(stderr, "disk full after %zu acked requests: status %d\n", nacked, st);
	ASSERT_EQ(st, GRPC_UNAVAILABLE);
	ASSERT_GT(nacked, 10);
	seq++;
	/* still full: refused again, and ternd is alive */
	sleep_ms(1200);
	ASSERT_EQ(export_one(c, seq++), GRPC_UNAVAILABLE);
	ASSERT_OK(kill(p.pid, 0));
	/* space returns: within a few retries ingest resumes */
	ASSERT_OK(unlink(filler));
	int resumed = -1;
	for (int i = 0; i < 40 && resumed != 0; i++) {
		sleep_ms(250);
		resumed = export_one(c, seq);
		if (resumed == 0)
			acked[nacked++] = seq;
		seq++;
	}
	ASSERT_EQ(resumed, 0);
	for (int i = 0; i < 5; i++, seq++)
		if (export_one(c, seq) == 0)
			acked[nacked++] = seq;
	otlp_grpc_close(c);
	ASSERT_EQ(ternd_proc_stop(&p), 0);

	struct store *s;
	struct store_recovery rec;
	ASSERT_OK(fx_open(data, &s, &rec));
	fprintf(stderr, "%s\n", rec.msg);
	size_t missing = 0, wrong = 0;
	for (size_t a = 0; a < nacked; a++)
		for (int k = 0; k < TRACES_PER_REQ; k++) {
			uint8_t tid[16], sid[8];
			ids(tid, sid, 0, 0, acked[a], k, 0);
			struct otlp_batch *b = NULL;
			int rc = store_get_trace(s, tid, &b);
			if (rc != 0)
				missing++;
			else if (b->n_spans != SPANS_PER_TRACE)
				wrong++;
			otlp_batch_free(b);
		}
	store_close(s);
	ASSERT_EQ(missing, 0);
	ASSERT_EQ(wrong, 0);
}

TEST_MAIN(TEST_ENTRY(full_disk_refuses_then_recovers))
