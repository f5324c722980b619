/*
 * Fuzz target: ternd's YAML config file (collector/config.c with
 * collector/yaml_tree.c and the `forwarders:` list of
 * collector/forward/config.c). The input is the file: it is written to a
 * memfd and loaded through its /proc/self/fd path by col_config_load_file,
 * the function `ternd --config FILE` calls, so the file reading, the size
 * and node bounds, and every option's value parser all run as in ternd.
 * Checks: a failure has a message; a success leaves at most COL_FWD_MAX
 * forwarders and NUL-terminated strings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("config_yaml", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();

	static struct col_config c; /* large: not on the stack */
	char err[512] = "";
	col_config_defaults(&c);
	int rc = col_config_load_file(&c, path, err, sizeof(err));
	if (rc > 0 || (rc < 0 && err[0] == '\0') || memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (rc == 0 && (c.n_forwarders > COL_FWD_MAX ||
			memchr(c.forward, '\0', sizeof(c.forward)) == NULL))
		abort();
	return 0;
}
