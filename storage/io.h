/*
 * io.h: every file operation of the store goes through these calls, so a
 * test can inject short writes, failed syncs and ENOSPC (store_io_set_hook).
 * Modelled on sqlite's os.h: a thin layer, no policy. All return 0 (or a
 * count) or a negative errno; none prints.
 */
#ifndef TERN_STORE_IO_H
#define TERN_STORE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/** open(2); returns the fd or a negative errno. */
int store__io_open(const char *path, int flags, mode_t mode);
/** Writes all len bytes at off (loops over short writes). 0 or -errno. */
int store__io_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/** Reads up to len bytes at off. Returns bytes read (short at EOF) or -errno. */
ssize_t store__io_pread(int fd, void *buf, size_t len, uint64_t off);
/** fdatasync(2). 0 or -errno. */
int store__io_sync(int fd);
/** ftruncate(2). 0 or -errno. */
int store__io_truncate(int fd, uint64_t size);
/** rename(2). 0 or -errno. */
int store__io_rename(const char *from, const char *to);
/** unlink(2). 0 or -errno. */
int store__io_unlink(const char *path);
/** Opens dir and fsyncs it (makes creates/renames/unlinks durable). */
int store__io_sync_dir(const char *dir);
/** File size via fstat. Returns size or -errno. */
int64_t store__io_size(int fd);
/** close(2), ignoring EINTR. Accepts -1. */
void store__io_close(int fd);

#endif /* TERN_STORE_IO_H */
