/*
 * config.h: ternd's configuration. Sources, highest precedence first:
 * command-line flags, environment (TERND_<OPTION>), the YAML file
 * (--config FILE or TERND_CONFIG), built-in defaults.
 * Not thread-safe (used once at start).
 */
#ifndef TERN_COLLECTOR_CONFIG_H
#define TERN_COLLECTOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "forward/forward.h"
#include "log.h"

struct col_config {
	char otlp_grpc[256];   /* HOST:PORT; port 0 picks a free port */
	char otlp_http[256];
	char query[256];
	char data[1024];
	char sink[64];
	char config_file[1024]; /* "" when none */
	uint64_t memory_limit;
	uint64_t max_request_bytes;
	uint32_t max_attrs_per_span;
	uint64_t max_attr_value_bytes;
	uint32_t max_queued_batches;
	uint32_t shutdown_timeout_ms;
	uint32_t grpc_calls; /* requested gRPC calls kept outstanding */
	uint32_t max_connections;  /* open descriptors past which listeners refuse */
	uint32_t fd_reserve;       /* descriptors listeners always leave free */
	uint32_t max_streams;      /* concurrent HTTP/2 streams per connection */
	uint32_t idle_timeout_ms;  /* a connection without a complete request */
	uint32_t request_timeout_ms; /* HTTP: holding unfinished requests this long */
	uint32_t max_connection_age_ms; /* gRPC: GOAWAY after this long */
	uint64_t grpc_memory;      /* gRPC core's resource quota (its buffers) */
	char tls_cert[1024];       /* PEM chain for the HTTP listeners; "" plaintext */
	char tls_key[1024];
	char tls_client_ca[1024];  /* PEM roots clients must be signed by; "" none */
	char ingest_token[256];    /* bearer token for OTLP; "" when none */
	char query_token[256];     /* bearer token for the query API; "" when none */
	enum col_log_level log_level;
	char forward[2048];  /* --forward URL (forward.h); "" when none */
	struct col_fwd_config forwarders[COL_FWD_MAX]; /* YAML "forwarders:" list */
	uint32_t n_forwarders;
	uint32_t analytics_max_operations; /* per service; past it: __other__ */
	uint32_t analytics_memory_hours;   /* hours of minute sketches kept in memory */
	uint32_t analytics_checkpoint_ms;  /* how often analytics are persisted */
	uint32_t analytics_max_services;   /* past it: service __other__ */
	uint32_t analytics_settle_ms;      /* how long a child waits for its parent */
	uint32_t analytics_max_pending;    /* children waiting at most */
};

/** Fills c with the defaults. */
void col_config_defaults(struct col_config *c);

/**
 * Sets one option by its long name ("memory-limit"; "memory_limit" works
 * too) from text. Returns 0, -ENOENT for an unknown name, or -EINVAL with a
 * message in err ("'12x' is not a size (e.g. 512MiB)").
 */
int col_config_set(struct col_config *c, const char *name, const char *value,
		   char *err, size_t errlen);

/**
 * Applies a YAML file: one mapping of option names to scalar values.
 * Returns 0 or a negative errno with "FILE:LINE: what" in err.
 */
int col_config_load_file(struct col_config *c, const char *path, char *err,
			 size_t errlen);

/**
 * Builds the whole configuration: defaults, then the file, then envp
 * (NULL-terminated "NAME=VALUE" list, e.g. environ), then argv. Returns 0;
 * 1 when --help was asked (usage not printed); or a negative errno with a
 * one-line message in err. Resets getopt state, so it may be called again.
 */
int col_config_load(struct col_config *c, int argc, char **argv, char *const *envp,
		    char *err, size_t errlen);

/** Writes the --help text to f (a FILE *). */
void col_config_usage(void *f, const char *prog);

/**
 * Parses a byte size: a decimal number with an optional suffix B, K/KB
 * (1000), KiB (1024), M/MB, MiB, G/GB, GiB, T/TB, TiB (case-insensitive).
 * Returns 0 or -EINVAL (junk, overflow, empty).
 */
int col_parse_size(const char *s, uint64_t *out);

#endif /* TERN_COLLECTOR_CONFIG_H */
