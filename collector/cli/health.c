/* cli/health.c: tern health: GET /healthz; exit 0 when ternd is healthy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_cmd_health(struct cli *c)
{
	/* Unlike the query commands, health asks the local ternd unless
	 * told otherwise: $TERN_ADDR does not apply. */
	const char *addr = cli_value(c, "addr");
	if (addr == NULL)
		addr = "127.0.0.1:16686";
	int status;
	char *body;
	size_t len;
	int r = cli_http_get(addr, NULL, "/healthz", 5000, &status, &body, &len);
	if (r == -EINVAL)
		return cli_usage_error("--addr '%s' is not HOST:PORT", addr);
	if (r != 0)
		return cli_fail(CLI_EXIT_FINDING, "cannot reach ternd at %s: %s", addr, strerror(-r));
	printf("%d %s", status, body);
	if (len == 0 || body[len - 1] != '\n')
		putchar('\n');
	free(body);
	return status == 200 ? 0 : CLI_EXIT_FINDING;
}
