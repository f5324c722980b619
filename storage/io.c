/*
 * io.c: the store's one file I/O layer, with the fault-injection hook.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"

struct hook_state {
	store_io_hook fn;
	void *arg;
};

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook_state hook;
static atomic_bool hook_set;

void store_io_set_hook(store_io_hook fn, void *arg)
{
	pthread_mutex_lock(&hook_lock);
	hook.fn = fn;
	hook.arg = arg;
	atomic_store(&hook_set, fn != NULL);
	pthread_mutex_unlock(&hook_lock);
}

static int ask(enum store_io_op op, const char *path, size_t *len)
{
	if (!atomic_load_explicit(&hook_set, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&hook_lock);
	int rc = hook.fn ? hook.fn(hook.arg, op, path, len) : 0;
	pthread_mutex_unlock(&hook_lock);
	return rc;
}

int store__io_open(const char *path, int flags, mode_t mode)
{
	int rc = ask(STORE_IO_OPEN, path, NULL);
	if (rc < 0)
		return rc;
	int fd;
	do
		fd = open(path, flags | O_CLOEXEC, mode);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int store__io_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	while (len > 0) {
		size_t n = len;
		int rc = ask(STORE_IO_WRITE, NULL, &n);
		if (rc < 0)
			return rc;
		if (n == 0 || n > len)
			n = len;
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

ssize_t store__io_pread(int fd, void *buf, size_t len, uint64_t off)
{
	int rc = ask(STORE_IO_READ, NULL, &len);
	if (rc < 0)
		return rc;
	size_t got = 0;
	while (got < len) {
		ssize_t r = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int store__io_sync(int fd)
{
	int rc = ask(STORE_IO_SYNC, NULL, NULL);
	if (rc < 0)
		return rc;
	return fdatasync(fd) < 0 ? -errno : 0;
}

int store__io_truncate(int fd, uint64_t size)
{
	int rc = ask(STORE_IO_TRUNCATE, NULL, NULL);
	if (rc < 0)
		return rc;
	return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
}

int store__io_rename(const char *from, const char *to)
{
	int rc = ask(STORE_IO_RENAME, from, NULL);
	if (rc < 0)
		return rc;
	return rename(from, to) < 0 ? -errno : 0;
}

int store__io_unlink(const char *path)
{
	int rc = ask(STORE_IO_UNLINK, path, NULL);
	if (rc < 0)
		return rc;
	return unlink(path) < 0 ? -errno : 0;
}

int store__io_sync_dir(const char *dir)
{
	int fd = store__io_open(dir, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0)
		return fd;
	int rc = ask(STORE_IO_SYNC, dir, NULL);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	store__io_close(fd);
	return rc;
}

int64_t store__io_size(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_size;
}

void store__io_close(int fd)
{
	if (fd >= 0)
		close(fd);
}
