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

/*
 * Limits applied while decoding. A span that breaks a per-span limit is
 * rejected (left out of the batch and counted); its neighbours are kept.
 * For the uint32_t counts and max_name_bytes, 0 means no limit.
 *
 * Events and links: the OpenTelemetry SDKs keep 128 per span; collectors
 * (OTel Collector, Jaeger) keep what they get. tern keeps up to 1024 of
 * each, enough for spans that carry their logs as events, while one span
 * cannot make the decoder allocate without bound (an empty link is 2 bytes
 * on the wire and about 70 bytes decoded).
 */
struct otlp_limits {
	size_t max_request_bytes;       /* whole encoded request; default 64 MiB */
	uint32_t max_attrs_per_span;    /* span attributes; default 128 */
	size_t max_attr_value_bytes;    /* one string/bytes value; default 1 MiB */
	uint32_t max_value_depth;       /* nesting of array/kvlist; default 16 */
	uint32_t max_events_per_span;   /* default 1024 */
	uint32_t max_links_per_span;    /* default 1024 */
	uint32_t max_attrs_per_event;   /* attributes of one event or link; default 128 */
	/* Span and event names longer than this are cut at a UTF-8 character
	 * boundary and end in "\u2026" (the 3 bytes of U+2026 included), so the
	 * span is kept; default 1024. Counted in otlp_batch.n_truncated. */
	size_t max_name_bytes;
	/* Memory one decode call may allocate: the batch's arena, plus for
	 * OTLP/JSON the parse tree (otlp_json_parse_cost()). Past it the
	 * decode fails with -EMSGSIZE before allocating more. Default 256 MiB;
	 * 0: no limit. -EMSGSIZE means "never fits" only when this is the
	 * most the caller could ever give; a caller that passes what is free
	 * right now (less) must answer a request that would fit its maximum
	 * as load (retryable), not as poison. */
	size_t max_decoded_bytes;
};

/* Fills *lim with the defaults above. */
void otlp_limits_default(struct otlp_limits *lim);

struct otlp_batch {
	struct otlp_resource_spans *resource_spans; /* wire order */
	uint32_t n_resource_spans;
	uint64_t n_spans;    /* spans kept in the batch */
	uint64_t n_rejected; /* spans left out because they broke a limit */
	uint64_t n_replaced; /* invalid UTF-8 sequences and NULs made U+FFFD */
	uint64_t n_truncated; /* names cut to max_name_bytes */
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
 * arena. Freed with the batch. Returns NULL when out of memory. To build a
 * batch, use the builder below (otlp_build_*); this is for the decoders
 * and for values the builder leaves to the caller.
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

/*
 * Building a batch: a small builder that appends in wire order and keeps the
 * list tails, so callers (the agent's exporter, the forwarders, the load
 * generator, tests and benches) make the common shapes one call each:
 *
 *	struct otlp_builder bd;
 *	if (otlp_builder_init(&bd) != 0)
 *		return -ENOMEM;
 *	otlp_build_resource(&bd, "checkout");
 *	otlp_build_str(&bd, OTLP_TO_RESOURCE, "host.name", "web-1");
 *	otlp_build_scope(&bd, "tern", "0.1.0");
 *	otlp_build_span(&bd, tid, sid, NULL, "GET /", OTLP_SPAN_KIND_SERVER, t0, t1);
 *	otlp_build_int(&bd, OTLP_TO_SPAN, "http.status_code", 200);
 *	otlp_build_event(&bd, t0 + 5, "handler.start");
 *	struct otlp_batch *b = otlp_builder_take(&bd); // NULL if any call failed
 *
 * Strings passed in are copied into the batch's arena; the caller's
 * buffers may go right after each call. Errors are sticky: once a call
 * fails (-ENOMEM, or -EINVAL for a call with nothing to append to), every
 * later call returns the same error and appends nothing, so a caller may
 * check each call or only bd.err / otlp_builder_take() at the end.
 *
 * The current resource, scope, span, event and link are public: a caller
 * may set the fields the builder has no call for (flags, trace_state,
 * schema_url, dropped counts, or a whole borrowed attribute list) through
 * them. Lists must only grow through the builder, or its tails go stale;
 * an attribute appended to a list the caller set is linked after that
 * list's last element, so only do that to a list the batch owns.
 *
 * Thread safety: a builder is used by one thread at a time, like its batch.
 */

/* Which object an attribute goes to: the current one of that kind. */
enum otlp_build_to {
	OTLP_TO_RESOURCE,
	OTLP_TO_SCOPE,
	OTLP_TO_SPAN,
	OTLP_TO_EVENT,
	OTLP_TO_LINK,
};

struct otlp_builder {
	struct otlp_batch *batch;        /* the batch being built (owned) */
	struct otlp_resource_spans *rs;  /* the last appended of each, or NULL */
	struct otlp_scope_spans *ss;
	struct otlp_span *sp;
	struct otlp_event *ev;
	struct otlp_link *ln;
	int err;                         /* 0, or the first error (sticky) */
	struct otlp_kv *_kv_tail[5];     /* last attribute, per enum otlp_build_to */
	struct otlp_any *_list;          /* the array or kvlist last appended to */
	void *_list_tail;                /* its last item or entry */
	bool _shared;                    /* sp is a copy sharing another's lists */
};

/**
 * Sets up bd with a new, empty batch. Returns 0, or -ENOMEM (bd is then
 * in error and otlp_builder_done() is still safe). Appending to a builder
 * that was only zeroed fails with -EINVAL.
 */
int otlp_builder_init(struct otlp_builder *bd);

/**
 * Frees the batch still held by bd (none after otlp_builder_take()) and
 * zeroes bd. Accepts a zeroed or failed builder.
 */
void otlp_builder_done(struct otlp_builder *bd);

/**
 * Hands the batch to the caller, who frees it with otlp_batch_free(), and
 * leaves bd as otlp_builder_done() does. Returns NULL (and frees the batch)
 * if any call on bd failed.
 */
struct otlp_batch *otlp_builder_take(struct otlp_builder *bd);

/**
 * Appends a ResourceSpans. A non-NULL service_name becomes its first
 * attribute, service.name (a string). Returns 0 or the sticky error.
 */
int otlp_build_resource(struct otlp_builder *bd, const char *service_name);

/**
 * Appends a ScopeSpans to the current resource (an empty resource first if
 * there is none). name and version may be NULL (left empty). Returns 0 or
 * the sticky error.
 */
int otlp_build_scope(struct otlp_builder *bd, const char *name, const char *version);

/**
 * Appends a span to the current scope (an empty resource and scope first if
 * there are none) and counts it in the batch. parent_id NULL: a root span.
 * name may be NULL (left empty). Status, flags and the rest start at zero.
 * Returns 0 or the sticky error.
 */
int otlp_build_span(struct otlp_builder *bd, const uint8_t trace_id[16],
		    const uint8_t span_id[8], const uint8_t *parent_id, const char *name,
		    enum otlp_span_kind kind, uint64_t start_ns, uint64_t end_ns);

/**
 * Appends a shallow copy of src as a span of the current scope (made as
 * otlp_build_span() makes one): the copy shares src's strings, attributes,
 * events and links, so src's storage must outlive the batch. The copy takes
 * no attributes, events or links of its own (-EINVAL), so src never changes.
 * Returns 0 or the sticky error.
 */
int otlp_build_span_copy(struct otlp_builder *bd, const struct otlp_span *src);

/**
 * Sets the current span's status; msg may be NULL. Returns 0, -EINVAL when
 * there is no span yet, or the sticky error.
 */
int otlp_build_status(struct otlp_builder *bd, enum otlp_status_code code, const char *msg);

/**
 * Appends an event to the current span; name may be NULL. Returns 0,
 * -EINVAL when there is no span yet, or the sticky error.
 */
int otlp_build_event(struct otlp_builder *bd, uint64_t time_ns, const char *name);

/**
 * Appends a link to the current span (trace_state and flags: set them
 * through bd->ln). Returns 0, -EINVAL when there is no span yet, or the
 * sticky error.
 */
int otlp_build_link(struct otlp_builder *bd, const uint8_t trace_id[16],
		    const uint8_t span_id[8]);

/**
 * Appends an attribute with key (klen bytes, need not be NUL-terminated)
 * and an empty value to the current object named by to, and returns the
 * value for the caller to fill (a string it points at must live as long as
 * the batch: use otlp_batch_strdup()). NULL on error: no such object yet
 * (-EINVAL) or out of memory; bd->err says which.
 */
struct otlp_any *otlp_build_attr(struct otlp_builder *bd, enum otlp_build_to to,
				 const char *key, size_t klen);

/** Appends a string attribute (both strings NUL-terminated). 0 or the sticky error. */
int otlp_build_str(struct otlp_builder *bd, enum otlp_build_to to, const char *key,
		   const char *val);
/** Appends an int attribute. 0 or the sticky error. */
int otlp_build_int(struct otlp_builder *bd, enum otlp_build_to to, const char *key, int64_t val);
/** Appends a double attribute. 0 or the sticky error. */
int otlp_build_double(struct otlp_builder *bd, enum otlp_build_to to, const char *key,
		      double val);
/** Appends a bool attribute. 0 or the sticky error. */
int otlp_build_bool(struct otlp_builder *bd, enum otlp_build_to to, const char *key, bool val);
/** Appends a bytes attribute (len bytes of p, copied). 0 or the sticky error. */
int otlp_build_bytes(struct otlp_builder *bd, enum otlp_build_to to, const char *key,
		     const void *p, size_t len);

/**
 * Appends an empty element to the array value arr (an EMPTY value becomes
 * an empty array first) and returns it to fill. Appending to the same
 * array again is O(1); switching between arrays walks the list once.
 * NULL on error (-EINVAL when arr is neither EMPTY nor an array).
 */
struct otlp_any *otlp_build_item(struct otlp_builder *bd, struct otlp_any *arr);

/**
 * Appends an entry with key (klen bytes, copied) and an empty value to the
 * kvlist value map (an EMPTY value becomes an empty kvlist first) and
 * returns the entry's value to fill. NULL on error, as otlp_build_item().
 */
struct otlp_any *otlp_build_entry(struct otlp_builder *bd, struct otlp_any *map,
				  const char *key, size_t klen);

/*
 * The decoders' answers. Each tells the caller whether sending the same
 * bytes again can ever succeed:
 *
 *   0          decoded. Spans that broke a per-span limit are counted in
 *              b->n_rejected with the first reason in b->reject_msg (an
 *              OTLP partial_success); the rest are in b.
 *   -EINVAL    the bytes are not a valid request. Poison: never retryable
 *              (gRPC INVALID_ARGUMENT, HTTP 400).
 *   -EMSGSIZE  too big for the limits, however often it is sent: the
 *              request is longer than lim->max_request_bytes, or decoding
 *              it would need more than lim->max_decoded_bytes (too many
 *              elements, e.g. millions of empty events; for OTLP/JSON
 *              known before parsing). Poison, never retryable: HTTP 413
 *              or 400; gRPC INVALID_ARGUMENT, or RESOURCE_EXHAUSTED
 *              without RetryInfo (which OTLP clients do not retry).
 *   -ENOMEM    malloc failed: load, the only retryable answer here.
 *
 * On an error, err (if not NULL) holds a one-line message and b must only
 * be freed. Text fields (names, keys, string values, trace_state, status
 * messages, scope names, schema URLs; not bytes values or ids) come out as
 * valid UTF-8 without NUL bytes: each invalid sequence (its maximal
 * subpart, as WHATWG and Unicode 3.9 count them) and each NUL becomes
 * U+FFFD, counted in b->n_replaced. lim may be NULL for the defaults.
 * Any thread; no global state.
 */

/**
 * Decodes an ExportTraceServiceRequest (protobuf) into b, appending to what
 * b already holds. Strings point into buf (zero-copy) unless they had to
 * be repaired: keep buf alive as long as b, or attach it. Returns as
 * described above.
 */
int otlp_decode_proto(struct otlp_batch *b, const uint8_t *buf, size_t len,
		      const struct otlp_limits *lim, char *err, size_t errlen);

/**
 * Decodes the OTLP/JSON form of an ExportTraceServiceRequest (hex ids,
 * lowerCamelCase keys, integer enums, int64 as string or number), with the
 * same limits, rejection and return values as otlp_decode_proto(). Strings
 * are copied into the arena, so buf may be freed right after the call.
 * Before parsing, it refuses (-EMSGSIZE) a body whose otlp_json_parse_cost()
 * is over lim->max_decoded_bytes.
 */
int otlp_decode_json(struct otlp_batch *b, const char *buf, size_t len,
		     const struct otlp_limits *lim, char *err, size_t errlen);

/**
 * An upper estimate, in bytes, of the memory json-c's tree of buf takes
 * (about 800 bytes per object, 160 per array, 112 per other value, plus
 * the string bytes), from one lexical pass over buf that builds nothing.
 * A caller can reserve it against a memory limit before
 * otlp_decode_json(); the arena comes on top (bounded by
 * max_decoded_bytes too). Saturates at SIZE_MAX. Any thread.
 */
size_t otlp_json_parse_cost(const char *buf, size_t len);

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

/*
 * google.rpc.Status{code, message}: the body of an OTLP/HTTP error answer
 * (code is a gRPC status code; msg_len bytes of msg, need not be
 * NUL-terminated, should be UTF-8). Protobuf leaves zero fields out, as
 * proto3 does; JSON writes both, escaping msg (bytes that are not UTF-8
 * become U+FFFD). *out is malloc'ed (the JSON one NUL-terminated) and the
 * caller frees it. Return 0 or -ENOMEM. Any thread.
 */
int otlp_encode_status_proto(int32_t code, const char *msg, size_t msg_len, uint8_t **out,
			     size_t *out_len);
/** The OTLP/JSON form of otlp_encode_status_proto()'s message. */
int otlp_encode_status_json(int32_t code, const char *msg, size_t msg_len, char **out,
			    size_t *out_len);

/* Small helpers shared by every component. */

/**
 * The delay of google.rpc.RetryInfo inside a google.rpc.Status (the bytes
 * of a gRPC grpc-status-details-bin trailer), in ms; -1 when there is none
 * or the bytes are malformed. A bounded walk over untrusted bytes; any
 * thread.
 */
int64_t otlp_retry_info_ms(const uint8_t *buf, size_t len);

/* What otlp_encode_retry_status() adds to the message's length at most. */
#define OTLP_RETRY_STATUS_OVERHEAD 128

/**
 * Writes google.rpc.Status{code, message, details: [Any{RetryInfo{
 * retry_delay: delay_ms}}]}, the grpc-status-details-bin trailer that
 * tells an OTLP exporter to come back after delay_ms, into buf. Returns
 * its length, or 0 when cap is under OTLP_RETRY_STATUS_OVERHEAD + msg_len.
 * otlp_retry_info_ms() reads it back. Any thread.
 */
size_t otlp_encode_retry_status(uint8_t *buf, size_t cap, int32_t code, const char *msg,
				size_t msg_len, uint32_t delay_ms);

/** Finds a string attribute by key; NULL if absent or not a string. */
const struct otlp_any *otlp_attrs_find(const struct otlp_attrs *a, const char *key);

#ifdef __cplusplus
}
#endif

#endif /* TERN_OTLP_H */
