/*
 * otlp.h: tern's internal span model and the OTLP v1 trace codec.
 *
 * One ExportTraceServiceRequest decodes into one struct otlp_batch. Every
 * object of a batch (resource_spans, scope_spans, spans, attributes, events,
 * links, nested values) lives in the batch's arena and is freed with the
 * batch in one go. Sequences are singly linked lists in wire order, each
 * with its element count beside it, so decoding never reallocates.
 *
 * Byte strings (struct otlp_bytes) are NOT NUL-terminated. After
 * otlp_decode_proto() they may point into the caller's input buffer
 * (zero-copy); that buffer must then outlive the batch, or be handed to the
 * batch with otlp_batch_attach().
 *
 * Thread safety: a batch is not shared; one thread at a time may use it.
 * Distinct batches may be used from different threads at once. The codec
 * functions keep no global state.
 */
#ifndef TERN_OTLP_H
#define TERN_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct otlp_bytes {
	const uint8_t *ptr;
	size_t len;
};

enum otlp_value_type {
	OTLP_VALUE_EMPTY = 0, /* AnyValue with no field set */
	OTLP_VALUE_STRING,
	OTLP_VALUE_BOOL,
	OTLP_VALUE_INT,
	OTLP_VALUE_DOUBLE,
	OTLP_VALUE_ARRAY,
	OTLP_VALUE_KVLIST,
	OTLP_VALUE_BYTES,
};

struct otlp_kv;

/* opentelemetry.proto.common.v1.AnyValue */
struct otlp_any {
	enum otlp_value_type type;
	union {
		struct otlp_bytes str; /* STRING and BYTES */
		bool b;
		int64_t i;
		double d;
		struct {
			struct otlp_any_item *head;
			uint32_t n;
		} array;
		struct {
			struct otlp_kv *head;
			uint32_t n;
		} kvlist;
	} u;
};

/* One element of an ArrayValue. */
struct otlp_any_item {
	struct otlp_any_item *next;
	struct otlp_any value;
};

/* opentelemetry.proto.common.v1.KeyValue */
struct otlp_kv {
	struct otlp_kv *next;
	struct otlp_bytes key;
	struct otlp_any value;
};

/* A list of attributes plus the count the sender says it dropped. */
struct otlp_attrs {
	struct otlp_kv *head;
	uint32_t n;
	uint32_t dropped;
};

enum otlp_span_kind {
	OTLP_SPAN_KIND_UNSPECIFIED = 0,
	OTLP_SPAN_KIND_INTERNAL = 1,
	OTLP_SPAN_KIND_SERVER = 2,
	OTLP_SPAN_KIND_CLIENT = 3,
	OTLP_SPAN_KIND_PRODUCER = 4,
	OTLP_SPAN_KIND_CONSUMER = 5,
};

enum otlp_status_code {
	OTLP_STATUS_UNSET = 0,
	OTLP_STATUS_OK = 1,
	OTLP_STATUS_ERROR = 2,
};

/* Span.Event */
struct otlp_event {
	struct otlp_event *next;
	uint64_t time_unix_nano;
	struct otlp_bytes name;
	struct otlp_attrs attrs;
};

/* Span.Link */
struct otlp_link {
	struct otlp_link *next;
	uint8_t trace_id[16];
	uint8_t span_id[8];
	struct otlp_bytes trace_state;
	struct otlp_attrs attrs;
	uint32_t flags;
};

/* opentelemetry.proto.trace.v1.Span */
struct otlp_span {
	struct otlp_span *next;
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_span_id[8]; /* all zero: a root span */
	bool has_parent;           /* parent_span_id was present and 8 bytes */
	struct otlp_bytes trace_state;
	uint32_t flags;
	struct otlp_bytes name;
	enum otlp_span_kind kind; /* values outside 0..5 are kept as sent */
	uint64_t start_time_unix_nano;
	uint64_t end_time_unix_nano;
	struct otlp_attrs attrs;
	struct {
		struct otlp_event *head;
		uint32_t n;
		uint32_t dropped;
	} events;
	struct {
		struct otlp_link *head;
		uint32_t n;
		uint32_t dropped;
	} links;
	struct {
		enum otlp_status_code code;
		struct otlp_bytes message;
	} status;
};

/* opentelemetry.proto.common.v1.InstrumentationScope + its spans */
struct otlp_scope_spans {
	struct otlp_scope_spans *next;
	struct otlp_bytes scope_name;
	struct otlp_bytes scope_version;
	struct otlp_attrs scope_attrs;
	struct otlp_bytes schema_url;
	struct otlp_span *spans;
	uint32_t n_spans;
};

/* opentelemetry.proto.trace.v1.ResourceSpans */
struct otlp_resource_spans {
	struct otlp_resource_spans *next;
	struct otlp_attrs resource_attrs;
	struct otlp_bytes schema_url;
	struct otlp_scope_spans *scope_spans;
	uint32_t n_scope_spans;
};

/* Limits applied while decoding. A span that breaks a per-span limit is
 * rejected (left out of the batch and counted); its neighbours are kept. */
struct otlp_limits {
	size_t max_request_bytes;       /* whole encoded request; default 64 MiB */
	uint32_t max_attrs_per_span;    /* span attributes; default 128 */
	size_t max_attr_value_bytes;    /* one string/bytes value; default 1 MiB */
	uint32_t max_value_depth;       /* nesting of array/kvlist; default 16 */
};

/* Fills *lim with the defaults above. */
void otlp_limits_default(struct otlp_limits *lim);

struct otlp_batch {
	struct otlp_resource_spans *resource_spans; /* wire order */
	uint32_t n_resource_spans;
	uint64_t n_spans;    /* spans kept in the batch */
	uint64_t n_rejected; /* spans left out because they broke a limit */
	char reject_msg[256]; /* why the first span was rejected, or "" */
	struct otlp_batch_private *_priv; /* arena and attached buffers */
};

/**
 * Makes an empty batch. Returns NULL when out of memory.
 */
struct otlp_batch *otlp_batch_new(void);

/**
 * Frees the batch, everything in its arena, and every buffer attached to
 * it. Accepts NULL and a half-decoded batch.
 */
void otlp_batch_free(struct otlp_batch *b);

/**
 * Allocates n bytes, zeroed, aligned for any model struct, in the batch's
 * arena. Freed with the batch. Returns NULL when out of memory. Use it to
 * build a batch by hand (the agent, tests, load generators).
 */
void *otlp_batch_alloc(struct otlp_batch *b, size_t n);

/**
 * Copies len bytes into the arena and returns them as otlp_bytes. Returns
 * {NULL, 0} when out of memory (and for len 0).
 */
struct otlp_bytes otlp_batch_strdup(struct otlp_batch *b, const void *p, size_t len);

/**
 * Hands buf to the batch: otlp_batch_free() calls free_fn(buf). Use it
 * after a zero-copy decode so the input lives as long as the batch.
 * Returns 0 or -ENOMEM (then buf is NOT taken and the caller still owns it).
 */
int otlp_batch_attach(struct otlp_batch *b, void *buf, void (*free_fn)(void *));

/**
 * Bytes the batch holds: its arena plus attached buffers that reported a
 * size (see otlp_batch_attach_sized). Used for memory limits.
 */
size_t otlp_batch_mem(const struct otlp_batch *b);

/** As otlp_batch_attach(), and counts size bytes in otlp_batch_mem(). */
int otlp_batch_attach_sized(struct otlp_batch *b, void *buf, size_t size,
			    void (*free_fn)(void *));

/**
 * Decodes an ExportTraceServiceRequest (protobuf) into b, appending to what
 * b already holds. Strings point into buf (zero-copy): keep buf alive as
 * long as b, or attach it.
 *
 * Returns 0 when the request decoded; spans that broke a limit are then
 * counted in b->n_rejected with the first reason in b->reject_msg.
 * Returns -EMSGSIZE when len > lim->max_request_bytes, -EINVAL when the
 * bytes are not a valid request, -ENOMEM when out of memory; then err
 * (if not NULL) holds a one-line message and b must only be freed.
 * lim may be NULL for the defaults.
 */
int otlp_decode_proto(struct otlp_batch *b, const uint8_t *buf, size_t len,
		      const struct otlp_limits *lim, char *err, size_t errlen);

/**
 * Decodes the OTLP/JSON form of an ExportTraceServiceRequest (hex ids,
 * lowerCamelCase keys, integer enums, int64 as string or number), with the
 * same limits, rejection and return values as otlp_decode_proto(). Strings
 * are copied into the arena, so buf may be freed right after the call.
 */
int otlp_decode_json(struct otlp_batch *b, const char *buf, size_t len,
		     const struct otlp_limits *lim, char *err, size_t errlen);

/**
 * Encodes b as an ExportTraceServiceRequest (protobuf). On success *out is
 * a malloc'ed buffer the caller frees, *out_len its length. Returns 0 or
 * -ENOMEM.
 */
int otlp_encode_proto(const struct otlp_batch *b, uint8_t **out, size_t *out_len);

/** Exact size otlp_encode_proto() would produce. */
size_t otlp_encoded_size(const struct otlp_batch *b);

/**
 * Encodes b as OTLP/JSON. *out is malloc'ed and NUL-terminated; caller
 * frees. Returns 0 or -ENOMEM.
 */
int otlp_encode_json(const struct otlp_batch *b, char **out, size_t *out_len);

/* ExportTraceServiceResponse. rejected == 0 and msg empty: partial_success
 * is left unset, as the spec asks for full success. */
struct otlp_response {
	int64_t rejected_spans;
	char error_message[512];
};

/** Encodes a response as protobuf; *out malloc'ed (may be empty). 0 or -ENOMEM. */
int otlp_encode_response_proto(const struct otlp_response *r, uint8_t **out, size_t *out_len);
/** Encodes a response as OTLP/JSON; *out malloc'ed, NUL-terminated. 0 or -ENOMEM. */
int otlp_encode_response_json(const struct otlp_response *r, char **out, size_t *out_len);
/** Decodes a protobuf response (what an exporter reads back). 0 or -EINVAL. */
int otlp_decode_response_proto(struct otlp_response *r, const uint8_t *buf, size_t len);

/* Small helpers shared by every component. */

/**
 * The delay of google.rpc.RetryInfo inside a google.rpc.Status (the bytes
 * of a gRPC grpc-status-details-bin trailer), in ms; -1 when there is none
 * or the bytes are malformed. A bounded walk over untrusted bytes; any
 * thread.
 */
int64_t otlp_retry_info_ms(const uint8_t *buf, size_t len);

/** Finds a string attribute by key; NULL if absent or not a string. */
const struct otlp_any *otlp_attrs_find(const struct otlp_attrs *a, const char *key);

/** Writes 2*n lowercase hex digits and a NUL into out (size >= 2*n+1). */
void otlp_hex(char *out, const uint8_t *id, size_t n);

/** Parses exactly 2*n hex digits into id. Returns 0 or -EINVAL. */
int otlp_unhex(uint8_t *id, size_t n, const char *hex, size_t hexlen);

#ifdef __cplusplus
}
#endif

#endif /* TERN_OTLP_H */
