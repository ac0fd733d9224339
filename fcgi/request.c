/*
 * request.c - see request.h. Caps come from shared/limit.h only.
 */
/* POLLRDHUP (Linux): the web server closed its end of the connection. */
#define _GNU_SOURCE 1

#include "request.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "hex.h"
#include "limit.h"
#include "log.h"

/* How much of an unwanted body we are willing to drain to keep a kept-alive
 * FastCGI connection usable; beyond it libfcgi closes the connection. */
#define DRAIN_MAX (4 * LIMIT_BODY_BYTES)

const char *
request_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

/* A client-supplied request id is kept only when short and plain. */
static bool
request_id_sane(const char *s)
{
	size_t i;

	if (s == NULL || *s == '\0' || strlen(s) > REQUEST_ID_MAX)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		        (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/*
 * Request ids need to be unique and unguessable, not secret. One
 * RAND_bytes() call costs about as much as the rest of a small request's
 * own work (a DRBG round and a getpid() system call), so a worker draws
 * random bytes for 32 ids at a time. A forked child must not hand out its
 * parent's ids: the pool is emptied in the child (pthread_atfork).
 */
static unsigned char request_pool[32 * 8];
static size_t request_pool_next = sizeof(request_pool);

static void
request_pool_forget(void)
{
	request_pool_next = sizeof(request_pool);
}

static void
request_new_id(char *out, size_t size)
{
	static bool registered;
	size_t n = size > 2 * 8 ? 8 : (size - 1) / 2;

	if (!registered)
		registered =
		    pthread_atfork(NULL, NULL, request_pool_forget) == 0;
	if (request_pool_next + 8 > sizeof(request_pool)) {
		if (RAND_bytes(request_pool, sizeof(request_pool)) != 1)
			memset(request_pool, 0, sizeof(request_pool));
		request_pool_next = 0;
	}
	hex_encode_to(request_pool + request_pool_next, n, out);
	request_pool_next += 8;
}

/* Parses CONTENT_LENGTH strictly: digits only, no overflow. -1 if absent,
 * -2 if malformed. */
static long
request_parse_length(const char *s)
{
	long v = 0;

	if (s == NULL || *s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -2;
		if (v > (LONG_MAX - 9) / 10)
			return -2;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* enum request_hdr's names, in its order. */
static const struct request_name {
	const char *name;
	size_t len;
} request_names[REQ__COUNT] = {
#define REQUEST_NAME(s)          \
	{                        \
		s, sizeof(s) - 1 \
	}
	REQUEST_NAME("CONTENT_TYPE"),
	REQUEST_NAME("HTTP_AUTHORIZATION"),
	REQUEST_NAME("HTTP_HOST"),
	REQUEST_NAME("HTTP_ORIGIN"),
	REQUEST_NAME("HTTP_ACCEPT"),
	REQUEST_NAME("HTTP_MCP_PROTOCOL_VERSION"),
	REQUEST_NAME("HTTP_MCP_SESSION_ID"),
	REQUEST_NAME("HTTP_MCP_METHOD"),
	REQUEST_NAME("HTTP_MCP_NAME"),
	REQUEST_NAME("HTTP_X_REQUEST_ID"),
	REQUEST_NAME("REQUEST_METHOD"),
	REQUEST_NAME("REMOTE_ADDR"),
	REQUEST_NAME("REQUEST_URI"),
	REQUEST_NAME("DOCUMENT_URI"),
	REQUEST_NAME("CONTENT_LENGTH"),
#undef REQUEST_NAME
};

/*
 * request_names by length: the names of n bytes are request_by_len[n],
 * each as its enum request_hdr + 1, up to the first 0. A parameter is
 * compared with the one or two names of its own length instead of all
 * fifteen (nginx sends about 25 parameters per request). test_request
 * checks that every name is found, so a name added above and not here
 * fails it.
 */
#define REQUEST_MAX_NAME 25
#define REQUEST_PER_LEN  4
#define REQUEST_BY(h)    ((unsigned char)((h) + 1))
static const unsigned char request_by_len[REQUEST_MAX_NAME +
    1][REQUEST_PER_LEN] = {
	[9] = { REQUEST_BY(REQ_HOST) },
	[11] = { REQUEST_BY(REQ_ORIGIN), REQUEST_BY(REQ_ACCEPT),
	    REQUEST_BY(REQ_REMOTE_ADDR), REQUEST_BY(REQ_REQUEST_URI) },
	[12] = { REQUEST_BY(REQ_CONTENT_TYPE), REQUEST_BY(REQ_DOCUMENT_URI) },
	[13] = { REQUEST_BY(REQ_MCP_NAME) },
	[14] = { REQUEST_BY(REQ_REQUEST_METHOD),
	    REQUEST_BY(REQ_CONTENT_LENGTH) },
	[15] = { REQUEST_BY(REQ_MCP_METHOD) },
	[17] = { REQUEST_BY(REQ_X_REQUEST_ID) },
	[18] = { REQUEST_BY(REQ_AUTHORIZATION) },
	[19] = { REQUEST_BY(REQ_MCP_SESSION_ID) },
	[25] = { REQUEST_BY(REQ_MCP_PROTOCOL_VERSION) },
};
#undef REQUEST_BY

enum request_hdr
request_hdr_of(const char *name, size_t n)
{
	const unsigned char *c;
	size_t i;

	if (n > REQUEST_MAX_NAME)
		return REQ__COUNT;
	c = request_by_len[n];
	/* The length again (a name in the wrong row is then never read past
	 * its end), then the last byte: it tells apart most names of one
	 * length (SERVER_NAME, REMOTE_PORT, REQUEST_URI, HTTP_ACCEPT) without
	 * a call. */
	for (i = 0; i < REQUEST_PER_LEN && c[i] != 0; i++) {
		const struct request_name *e = &request_names[c[i] - 1];

		if (e->len == n && e->name[n - 1] == name[n - 1] &&
		    memcmp(e->name, name, n - 1) == 0)
			return (enum request_hdr)(c[i] - 1);
	}
	return REQ__COUNT;
}

/*
 * One pass over the parameters ("NAME=value"): notes those of enum
 * request_hdr (the first of a name wins, as with FCGX_GetParam()) and
 * checks the HTTP headers' sizes. false when they exceed limit.h's caps.
 */
static bool
request_scan(struct request *req, char **envp)
{
	size_t total = 0, len, n;
	enum request_hdr h;
	const char *eq;
	char **e;

	for (e = envp; e != NULL && *e != NULL; e++) {
		if ((eq = strchr(*e, '=')) == NULL)
			continue;
		n = (size_t)(eq - *e);
		h = request_hdr_of(*e, n);
		if (h != REQ__COUNT && req->param[h] == NULL)
			req->param[h] = eq + 1;
		if (n < 5 || memcmp(*e, "HTTP_", 5) != 0)
			continue;
		len = n + 1 + strlen(eq + 1);
		total += len;
		if (len > LIMIT_HEADER_BYTES + 64 ||
		    total > LIMIT_HEADERS_TOTAL_BYTES)
			return false;
	}
	return true;
}

berr
request_init(struct request *req, FCGX_Request *fcgx)
{
	const char *uri, *q, *id;
	size_t plen;
	bool sizes_ok;

	memset(req, 0, sizeof(*req));
	req->fcgx = fcgx;
	sizes_ok = request_scan(req, fcgx->envp);
	req->method = request_param(req, REQ_REQUEST_METHOD);
	if (req->method == NULL)
		req->method = "GET";
	req->remote_addr = request_param(req, REQ_REMOTE_ADDR);
	if (req->remote_addr == NULL)
		req->remote_addr = "";
	id = request_param(req, REQ_X_REQUEST_ID);
	if (request_id_sane(id))
		memcpy(req->request_id, id, strlen(id) + 1);
	else
		request_new_id(req->request_id, sizeof(req->request_id));

	uri = request_param(req, REQ_REQUEST_URI);
	if (uri == NULL || *uri == '\0')
		uri = request_param(req, REQ_DOCUMENT_URI);
	if (uri == NULL || *uri == '\0')
		uri = "/";
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	req->query = q ? q + 1 : "";
	if (plen > LIMIT_PATH_BYTES) {
		snprintf(req->path, sizeof(req->path), "/");
		request_reply_error(req, 414, "uri_too_long",
		    "request path exceeds the limit", NULL);
		return ERR_TOO_BIG;
	}
	memcpy(req->path, uri, plen);
	req->path[plen] = '\0';

	if (!sizes_ok) {
		request_reply_error(req, 431, "headers_too_large",
		    "request headers exceed the limit", NULL);
		return ERR_TOO_BIG;
	}

	req->content_length =
	    request_parse_length(request_param(req, REQ_CONTENT_LENGTH));
	if (req->content_length == -2) {
		req->content_length = -1;
		request_reply_error(
		    req, 400, "bad_request", "malformed Content-Length", NULL);
		return ERR_INVALID;
	}
	if (req->content_length > LIMIT_BODY_BYTES) {
		char msg[96];

		snprintf(msg, sizeof(msg), "request body exceeds %d bytes",
		    LIMIT_BODY_BYTES);
		request_reply_error(req, 413, "payload_too_large", msg, NULL);
		return ERR_TOO_BIG;
	}
	return OK;
}

berr
request_read_body(struct request *req, size_t cap)
{
	size_t want, size, len = 0;
	char *buf = NULL, *nbuf;
	int n;

	if (req->body != NULL)
		return OK;
	/* Bounded, so cap + 2 below cannot wrap and the buffer is never
	 * resized to 0 bytes. */
	if (cap > LIMIT_BODY_BYTES)
		cap = LIMIT_BODY_BYTES;
	if (req->content_length > 0 && (size_t)req->content_length > cap)
		goto too_big;
	/* Without a declared length read until EOF, never past cap + 1. */
	size =
	    req->content_length >= 0 ? (size_t)req->content_length + 1 : 4096;
	if ((buf = malloc(size)) == NULL)
		goto nomem;
	for (;;) {
		if (len + 1 >= size) {
			if (size > cap + 1)
				goto too_big;
			size = size * 2 > cap + 2 ? cap + 2 : size * 2;
			if ((nbuf = realloc(buf, size)) == NULL)
				goto nomem;
			buf = nbuf;
		}
		want = size - len - 1;
		n = FCGX_GetStr(buf + len, (int)want, req->fcgx->in);
		if (n < 0 || FCGX_GetError(req->fcgx->in) != 0) {
			free(buf);
			request_reply_error(req, 400, "bad_request",
			    "request body could not be read", NULL);
			return ERR_IO;
		}
		len += (size_t)n;
		if (len > cap)
			goto too_big;
		if ((size_t)n < want)
			break;
	}
	buf[len] = '\0';
	req->body = buf;
	req->body_len = len;
	return OK;
too_big:
	free(buf);
	{
		char msg[96];

		snprintf(
		    msg, sizeof(msg), "request body exceeds %zu bytes", cap);
		request_reply_error(req, 413, "payload_too_large", msg, NULL);
	}
	return ERR_TOO_BIG;
nomem:
	free(buf);
	request_reply_error(req, 500, "internal_error", "out of memory", NULL);
	return ERR_NOMEM;
}

const char *
request_param(const struct request *req, enum request_hdr h)
{
	return (unsigned)h < REQ__COUNT ? req->param[h] : NULL;
}

/*
 * A response head built by appending, since snprintf's format parsing was
 * one of the larger costs of a small answer. ok turns false, and stays so,
 * when something does not fit.
 */
struct head {
	char buf[2048];
	size_t len;
	bool ok;
};

static void
head_put(struct head *h, const char *s, size_t n)
{
	if (!h->ok || n > sizeof(h->buf) - h->len) {
		h->ok = false;
		return;
	}
	memcpy(h->buf + h->len, s, n);
	h->len += n;
}

static void
head_str(struct head *h, const char *s)
{
	head_put(h, s, strlen(s));
}

static void
head_size(struct head *h, size_t v)
{
	char d[24];
	size_t i = sizeof(d);

	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	head_put(h, d + i, sizeof(d) - i);
}

/* "Status: 200 OK\r\n" */
static void
head_status(struct head *h, int status)
{
	head_str(h, "Status: ");
	head_size(h, (size_t)(status >= 100 && status <= 999 ? status : 500));
	head_put(h, " ", 1);
	head_str(h, request_status_text(status));
	head_put(h, "\r\n", 2);
}

/* The headers every answer ends with, and the blank line. */
static void
head_end(struct head *h, const struct request *req, const char *extra_headers)
{
	head_str(h, "X-Content-Type-Options: nosniff\r\nX-Request-Id: ");
	head_str(h, req->request_id);
	head_put(h, "\r\n", 2);
	if (extra_headers != NULL)
		head_str(h, extra_headers);
	head_put(h, "\r\n", 2);
}

void
request_reply(struct request *req, int status, const char *content_type,
    const char *body, size_t len, const char *extra_headers)
{
	struct head h = { .ok = true };

	if (req->replied) {
		log_error("bug: second reply to request %s (status %d)",
		    req->request_id, status);
		return;
	}
	req->replied = true;
	head_status(&h, status);
	if (content_type != NULL) {
		head_str(&h, "Content-Type: ");
		head_str(&h, content_type);
		head_put(&h, "\r\n", 2);
	}
	head_str(&h, "Content-Length: ");
	head_size(&h, len);
	head_put(&h, "\r\n", 2);
	/* A handler may send its own Cache-Control as the first extra header
	 * (public metadata); otherwise nothing is cached. */
	if (extra_headers == NULL ||
	    strncasecmp(extra_headers, "Cache-Control:", 14) != 0)
		head_str(&h, "Cache-Control: no-store\r\n");
	head_end(&h, req, extra_headers);
	if (!h.ok) {
		static const char fallback[] =
		    "Status: 500 Internal Server Error\r\n"
		    "Content-Length: 0\r\n\r\n";

		log_error("bug: response head too long (request %s)",
		    req->request_id);
		FCGX_PutStr(
		    fallback, (int)sizeof(fallback) - 1, req->fcgx->out);
		return;
	}
	FCGX_PutStr(h.buf, (int)h.len, req->fcgx->out);
	if (len > 0 && strcmp(req->method, "HEAD") != 0)
		FCGX_PutStr(body, (int)len, req->fcgx->out);
}

berr
request_stream_open(struct request *req, int status, const char *content_type,
    const char *extra_headers)
{
	struct head h = { .ok = true };

	if (req->replied) {
		log_error("bug: stream opened after a reply (request %s)",
		    req->request_id);
		return ERR_INTERNAL;
	}
	req->replied = true;
	head_status(&h, status);
	head_str(&h, "Content-Type: ");
	head_str(&h, content_type);
	head_str(&h, "\r\nCache-Control: no-store\r\n");
	head_end(&h, req, extra_headers);
	if (!h.ok) {
		log_error(
		    "bug: stream head too long (request %s)", req->request_id);
		return ERR_INTERNAL;
	}
	return request_stream_write(req, h.buf, h.len);
}

berr
request_stream_write(struct request *req, const char *data, size_t len)
{
	if (len > INT_MAX)
		return ERR_TOO_BIG;
	if (FCGX_PutStr(data, (int)len, req->fcgx->out) != (int)len ||
	    FCGX_FFlush(req->fcgx->out) != 0 ||
	    FCGX_GetError(req->fcgx->out) != 0)
		return ERR_IO;
	return OK;
}

bool
request_peer_gone(const struct request *req)
{
	struct pollfd pfd;

	if (req->fcgx == NULL || req->fcgx->ipcFd < 0)
		return true;
	pfd.fd = req->fcgx->ipcFd;
	pfd.events = POLLRDHUP;
	pfd.revents = 0;
	if (poll(&pfd, 1, 0) < 0)
		return false;
	return (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

void
request_reply_json(struct request *req, int status, struct json_object *obj,
    const char *extra_headers)
{
	size_t len = 0;
	const char *text = json_object_to_json_string_length(
	    obj, JSON_C_TO_STRING_PLAIN, &len);

	if (text == NULL) {
		static const char oom[] = "{\"error\":\"internal_error\","
		                          "\"message\":\"out of memory\"}";
		request_reply(
		    req, 500, "application/json", oom, sizeof(oom) - 1, NULL);
		return;
	}
	request_reply(
	    req, status, "application/json", text, len, extra_headers);
}

void
request_reply_error(struct request *req, int status, const char *code,
    const char *message, const char *extra_headers)
{
	struct json_object *o = json_object_new_object();

	if (o != NULL) {
		json_object_object_add(
		    o, "error", json_object_new_string(code));
		json_object_object_add(
		    o, "message", json_object_new_string(message));
		json_object_object_add(
		    o, "request_id", json_object_new_string(req->request_id));
	}
	request_reply_json(req, status, o, extra_headers);
	json_object_put(o);
}

void
request_release(struct request *req)
{
	char sink[8192];
	size_t drained = 0;
	int n;

	if (req->fcgx != NULL && req->body == NULL &&
	    req->content_length != 0) {
		while (drained < DRAIN_MAX &&
		    (n = FCGX_GetStr(sink, sizeof(sink), req->fcgx->in)) > 0)
			drained += (size_t)n;
	}
	free(req->body);
	req->body = NULL;
	req->body_len = 0;
}
