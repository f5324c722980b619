/*
 * analytics_blob.c: ternd's persisted analytics hours (an-h-* blobs in the
 * store's meta directory) are read back at start-up and for old windows;
 * a damaged disk must give -EINVAL, never a crash or an over-read.
 */
#include <stddef.h>
#include <stdint.h>

#include "analytics/analytics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)col_an_parse_blob(data, size);
	return 0;
}
