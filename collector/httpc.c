/* httpc.c: the HTTP client on libcurl (httpc.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "httpc.h"

#define DEFAULT_MAX_BODY (256u << 20)
#define MAX_HEADER_BYTES (64u << 10)
#define DEFAULT_CONNECT_MS 10000u

/* What one transfer collects; shared by both shapes. */
struct col_hxfer {
	CURL *easy;
	struct curl_slist *hdrs;
	void *tag;
	bool running;             /* multi: added and not yet returned */
	struct col_hxfer *next;   /* multi: running or done list */
	size_t max_body, body_cap, head_cap;
	bool too_big;
	char errbuf[CURL_ERROR_SIZE];
	struct col_hresult res;
};

struct col_hmulti {
	CURLM *multi;
	struct col_hxfer *done;   /* finished, not yet handed out */
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int ensure_global(void)
{
	pthread_once(&global_once, global_init);
	return global_rc == CURLE_OK ? 0 : -ENOMEM;
}

/* Appends n bytes to *buf (NUL-terminated), growing it; false past max. */
static bool buf_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n, size_t max)
{
	if (n > max || *len > max - n)
		return false;
	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap : 1024;
		while (nc < *len + n + 1)
			nc *= 2;
		char *b = realloc(*buf, nc);
		if (b == NULL)
			return false;
		*buf = b;
		*cap = nc;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return true;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct col_hxfer *x = arg;
	if (!buf_append(&x->res.body, &x->res.body_len, &x->body_cap, p, size * n, x->max_body)) {
		x->too_big = true;
		return 0; /* libcurl aborts the transfer */
	}
	return size * n;
}

/* Keeps only the final answer's header block: interim 1xx answers and
 * their headers are dropped when the next status line starts. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct col_hxfer *x = arg;
	size_t len = size * n;
	size_t have = x->res.headers ? strlen(x->res.headers) : 0;
	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
		have = 0;
	if (!buf_append(&x->res.headers, &have, &x->head_cap, p, len, MAX_HEADER_BYTES)) {
		x->too_big = true;
		return 0;
	}
	return len;
}

static int errno_of(CURLcode rc, bool too_big)
{
	switch (rc) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_WRITE_ERROR:
		return too_big ? -E2BIG : -EIO;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EINVAL;
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return -EPIPE;
	default:
		return -EPROTO; /* TLS, certificate, HTTP framing */
	}
}

/* "Name: value\r\n..." to a curl list, plus "Expect:" so that a body is
 * sent at once (no 1 s wait for a 100 Continue some servers never send). */
static int header_list(const char *text, struct curl_slist **out)
{
	struct curl_slist *l = curl_slist_append(NULL, "Expect:");
	if (l == NULL)
		return -ENOMEM;
	for (const char *p = text; p && *p;) {
		const char *eol = strstr(p, "\r\n");
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		if (n > 0 && n < 8192) {
			char line[8192];
			memcpy(line, p, n);
			line[n] = '\0';
			struct curl_slist *t = curl_slist_append(l, line);
			if (t == NULL) {
				curl_slist_free_all(l);
				return -ENOMEM;
			}
			l = t;
		}
		p = eol ? eol + 2 : NULL;
	}
	*out = l;
	return 0;
}

/* Clears what a previous transfer on x left (keeps the easy handle). */
static void xfer_clear(struct col_hxfer *x)
{
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	free(x->res.body);
	free(x->res.headers);
	memset(&x->res, 0, sizeof(x->res));
	x->body_cap = x->head_cap = 0;
	x->too_big = false;
	x->errbuf[0] = '\0';
}

/* Sets x->easy up for one request. */
static int xfer_setup(struct col_hxfer *x, const char *method, const char *url,
		      const char *headers, const void *body, size_t len,
		      const struct col_hopts *o)
{
	CURL *e = x->easy;
	xfer_clear(x);
	int rc = header_list(headers, &x->hdrs);
	if (rc != 0)
		return rc;
	x->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	unsigned connect_ms = o->connect_timeout_ms ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
	if (o->timeout_ms && connect_ms > o->timeout_ms)
		connect_ms = o->timeout_ms;

	CURLcode c = CURLE_OK;
#define SET(opt, v) \
	if (c == CURLE_OK) \
	c = curl_easy_setopt(e, opt, v)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SET(CURLOPT_HTTPHEADER, x->hdrs);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_ERRORBUFFER, x->errbuf);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)o->low_speed_bytes);
	SET(CURLOPT_LOW_SPEED_TIME, (long)o->low_speed_s);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (o->ca_file && *o->ca_file)
		SET(CURLOPT_CAINFO, o->ca_file);
	if (o->cert_file && *o->cert_file) {
		SET(CURLOPT_SSLCERT, o->cert_file);
		SET(CURLOPT_SSLKEY, o->key_file);
	}
	if (!strcmp(method, "GET") && len == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else {
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		SET(CURLOPT_POSTFIELDS, len ? body : "");
		if (strcmp(method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, method);
	}
#undef SET
	return c == CURLE_OK ? 0 : errno_of(c, false);
}

/* Fills x->res after libcurl said rc. */
static void xfer_finish(struct col_hxfer *x, CURLcode rc)
{
	x->res.rc = errno_of(rc, x->too_big);
	if (x->res.rc == 0) {
		long st = 0;
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &st);
		x->res.status = (int)st;
		if (x->res.body == NULL)
			buf_append(&x->res.body, &x->res.body_len, &x->body_cap, "", 0, 1);
		if (x->res.headers == NULL) {
			size_t z = 0;
			buf_append(&x->res.headers, &z, &x->head_cap, "", 0, 1);
		}
		if (x->res.body == NULL || x->res.headers == NULL)
			x->res.rc = -ENOMEM;
	} else {
		snprintf(x->res.error, sizeof(x->res.error), "%s",
			 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
	}
}

/* ---- blocking ---- */

int col_hclient_init(struct col_hclient *c, const char *addr)
{
	memset(c, 0, sizeof(*c));
	const char *scheme = "http://";
	if (!strncasecmp(addr, "http://", 7)) {
		addr += 7;
	} else if (!strncasecmp(addr, "https://", 8)) {
		scheme = "https://";
		addr += 8;
	}
	const char *colon = strrchr(addr, ':');
	if (colon == NULL || colon == addr || colon[1] == '\0')
		return -EINVAL;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port <= 0 || port > 65535)
		return -EINVAL;
	if (snprintf(c->_base, sizeof(c->_base), "%s%s", scheme, addr) >= (int)sizeof(c->_base))
		return -EINVAL;
	return 0;
}

void col_hclient_close(struct col_hclient *c)
{
	if (c->_easy)
		curl_easy_cleanup(c->_easy);
	c->_easy = NULL;
}

int col_hclient_request(struct col_hclient *c, const char *method, const char *path,
			const char *extra_headers, const void *req_body, size_t req_len,
			int timeout_ms, int *status, char **headers, char **body,
			size_t *body_len)
{
	if (ensure_global() != 0)
		return -ENOMEM;
	if (c->_easy == NULL && (c->_easy = curl_easy_init()) == NULL)
		return -ENOMEM;
	char url[1024];
	if (snprintf(url, sizeof(url), "%s%s", c->_base, path) >= (int)sizeof(url))
		return -E2BIG;
	struct col_hopts o = c->opts;
	if (timeout_ms > 0)
		o.timeout_ms = (unsigned)timeout_ms;
	/* keeps the connection cache; clears the previous request's options */
	curl_easy_reset(c->_easy);
	struct col_hxfer x = { .easy = c->_easy };
	int rc = xfer_setup(&x, method, url, extra_headers, req_body, req_len, &o);
	if (rc == 0) {
		xfer_finish(&x, curl_easy_perform(c->_easy));
		rc = x.res.rc;
	}
	curl_slist_free_all(x.hdrs);
	if (rc != 0) {
		free(x.res.body);
		free(x.res.headers);
		return rc;
	}
	*status = x.res.status;
	*body = x.res.body;
	*body_len = x.res.body_len;
	if (headers != NULL)
		*headers = x.res.headers;
	else
		free(x.res.headers);
	return 0;
}

/* ---- many at once ---- */

struct col_hmulti *col_hmulti_new(unsigned max_host_conns)
{
	if (ensure_global() != 0)
		return NULL;
	struct col_hmulti *m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->multi = curl_multi_init();
	if (m->multi == NULL) {
		free(m);
		return NULL;
	}
	curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	if (max_host_conns)
		curl_multi_setopt(m->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_host_conns);
	return m;
}

void col_hxfer_free(struct col_hmulti *m, struct col_hxfer *x)
{
	if (x == NULL)
		return;
	if (x->running)
		curl_multi_remove_handle(m->multi, x->easy);
	curl_easy_cleanup(x->easy);
	xfer_clear(x);
	free(x);
}

void col_hmulti_free(struct col_hmulti *m)
{
	if (m == NULL)
		return;
	while (m->done) {
		struct col_hxfer *x = m->done;
		m->done = x->next;
		col_hxfer_free(m, x);
	}
	/* Transfers still running belong to their callers, who free them
	 * first; the multi handle itself goes last. */
	curl_multi_cleanup(m->multi);
	free(m);
}

int col_hmulti_post(struct col_hmulti *m, const char *url, const char *headers,
		    const void *body, size_t len, const struct col_hopts *o, void *tag,
		    struct col_hxfer **out)
{
	struct col_hxfer *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -ENOMEM;
	x->easy = curl_easy_init();
	if (x->easy == NULL) {
		free(x);
		return -ENOMEM;
	}
	x->tag = tag;
	int rc = xfer_setup(x, "POST", url, headers, body, len, o);
	if (rc == 0)
		rc = curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x) == CURLE_OK ? 0 : -EINVAL;
	if (rc == 0 && curl_multi_add_handle(m->multi, x->easy) != CURLM_OK)
		rc = -ENOMEM;
	if (rc != 0) {
		col_hxfer_free(m, x);
		return rc;
	}
	x->running = true;
	*out = x;
	return 0;
}

int col_hmulti_run(struct col_hmulti *m, int timeout_ms)
{
	int running = 0;
	if (curl_multi_perform(m->multi, &running) != CURLM_OK)
		return -EIO;
	if (running > 0 && timeout_ms > 0) {
		if (curl_multi_poll(m->multi, NULL, 0, timeout_ms, NULL) != CURLM_OK)
			return -EIO;
		if (curl_multi_perform(m->multi, &running) != CURLM_OK)
			return -EIO;
	}
	CURLMsg *msg;
	int left;
	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct col_hxfer *x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		CURLcode rc = msg->data.result; /* msg is invalid after remove */
		curl_multi_remove_handle(m->multi, x->easy);
		x->running = false;
		xfer_finish(x, rc);
		x->next = m->done;
		m->done = x;
	}
	return running;
}

struct col_hxfer *col_hmulti_next(struct col_hmulti *m, void **tag,
				  const struct col_hresult **res)
{
	struct col_hxfer *x = m->done;
	if (x == NULL)
		return NULL;
	m->done = x->next;
	x->next = NULL;
	*tag = x->tag;
	*res = &x->res;
	return x;
}
