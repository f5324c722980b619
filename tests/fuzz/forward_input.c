/*
 * forward_input.c: fuzz target for what a forwarder parses from outside:
 * the google.rpc.Status bytes of a grpc-status-details-bin trailer (the
 * destination's RetryInfo) and a forwarder URL (flag / environment).
 *
 * The RetryInfo delay must be -1 or a non-negative number of ms; a URL
 * that parses must give at least one endpoint and in-range settings. Any
 * other outcome aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "forward/forward.h"
#include "otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int64_t ms = otlp_retry_info_ms(data, size);
	if (ms < -1)
		abort();

	char *url = malloc(size + 1);
	if (url == NULL)
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	struct col_fwd_config c;
	char err[256];
	col_fwd_config_default(&c);
	int rc = col_fwd_config_parse_url(&c, url, err, sizeof(err));
	if (rc == 0) {
		if (c.n_endpoints < 1 || c.n_endpoints > COL_FWD_MAX_ENDPOINTS ||
		    c.batch_spans < 1 || c.concurrency < 1 || c.concurrency > 64 ||
		    !(c.sample_ratio >= 0 && c.sample_ratio <= 1) ||
		    c.n_headers > COL_FWD_MAX_HEADERS || c.n_services > COL_FWD_MAX_SERVICES ||
		    col_fwd_config_check(&c, err, sizeof(err)) != 0)
			abort();
		for (uint32_t i = 0; i < c.n_endpoints; i++)
			if (strchr(c.endpoints[i], ':') == NULL)
				abort();
	} else if (rc != -EINVAL || err[0] == '\0') {
		abort();
	}
	free(url);
	return 0;
}
