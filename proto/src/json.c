/*
 * json.c: OTLP/JSON. Placeholder until the json-c codec lands.
 */
#include <errno.h>

#include "internal.h"

int otlp_decode_json(struct otlp_batch *b, const char *buf, size_t len,
		     const struct otlp_limits *lim, char *err, size_t errlen)
{
	return otlp__err(err, errlen, -ENOSYS, "OTLP/JSON is not implemented yet");
}

int otlp_encode_json(const struct otlp_batch *b, char **out, size_t *out_len)
{
	return -ENOSYS;
}

int otlp_encode_response_json(const struct otlp_response *r, char **out, size_t *out_len)
{
	return -ENOSYS;
}
