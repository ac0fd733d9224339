/*
 * request.h - one FastCGI request as berth-fcgi's handlers see it, and the
 * helpers that answer it.
 *
 * A struct request borrows its FCGX_Request and every string in it from
 * libfcgi (valid until FCGX_Finish_r); only body is owned by the request and
 * freed by request_release(). Every answer goes through request_reply*() so
 * status line, Content-Type, Content-Length, Cache-Control and X-Request-Id
 * are always present and a handler cannot answer twice.
 */
#ifndef BERTH_FCGI_REQUEST_H
#define BERTH_FCGI_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <fcgiapp.h>
#include <json-c/json.h>

#include "err.h"

/*
 * The FastCGI parameters Berth reads, found in one pass over the request's
 * parameters by request_init(): libfcgi's FCGX_GetParam() scans all of
 * them for each lookup, which a /mcp request did a dozen times.
 */
enum request_hdr {
	REQ_CONTENT_TYPE = 0,     /* CONTENT_TYPE */
	REQ_AUTHORIZATION,        /* HTTP_AUTHORIZATION */
	REQ_HOST,                 /* HTTP_HOST */
	REQ_ORIGIN,               /* HTTP_ORIGIN */
	REQ_ACCEPT,               /* HTTP_ACCEPT */
	REQ_MCP_PROTOCOL_VERSION, /* HTTP_MCP_PROTOCOL_VERSION */
	REQ_MCP_SESSION_ID,       /* HTTP_MCP_SESSION_ID */
	REQ_MCP_METHOD,           /* HTTP_MCP_METHOD */
	REQ_MCP_NAME,             /* HTTP_MCP_NAME */
	REQ_X_REQUEST_ID,         /* HTTP_X_REQUEST_ID */
	/* request_init()'s own */
	REQ_REQUEST_METHOD, /* REQUEST_METHOD */
	REQ_REMOTE_ADDR,    /* REMOTE_ADDR */
	REQ_REQUEST_URI,    /* REQUEST_URI */
	REQ_DOCUMENT_URI,   /* DOCUMENT_URI */
	REQ_CONTENT_LENGTH, /* CONTENT_LENGTH */
	REQ__COUNT
};

/* The longest X-Request-Id kept from the web server; a longer one, or one
 * with other characters than [A-Za-z0-9_-], is replaced by Berth's own. */
#define REQUEST_ID_MAX 32

struct request {
	FCGX_Request *fcgx;
	const char *method;      /* "GET", ... never NULL */
	char path[2048 + 1];     /* REQUEST_URI up to '?', never empty */
	const char *query;       /* after '?', or "" */
	const char *remote_addr; /* or "" */
	long content_length;     /* -1 when the web server gave none */
	char request_id[REQUEST_ID_MAX + 1]; /* X-Request-Id (client's if sane) */
	char *body; /* owned; NUL-terminated; NULL until read */
	size_t body_len;
	bool replied;
	const char *param[REQ__COUNT]; /* request_param(); NULL: absent */
};

/*
 * Fills req from fcgx and checks the request-wide caps of limit.h: path
 * length, each header and all headers together, declared body size. On a
 * violation it answers (414, 431 or 413 with a JSON body) itself and
 * returns ERR_TOO_BIG; the caller must then only request_release().
 */
berr request_init(struct request *req, FCGX_Request *fcgx)
    __attribute__((warn_unused_result));

/*
 * Reads the body (at most cap bytes; a cap over LIMIT_BODY_BYTES is lowered
 * to it) into req->body. Answers 413 itself and
 * returns ERR_TOO_BIG when there is more; ERR_IO when the stream breaks
 * (answered 400); ERR_NOMEM (answered 500).
 */
berr request_read_body(struct request *req, size_t cap)
    __attribute__((warn_unused_result));

/* A parameter (an HTTP request header, for most) of the request, or NULL
 * when the web server sent none. */
const char *request_param(const struct request *req, enum request_hdr h);

/* Which of enum request_hdr the FastCGI parameter name of n bytes (not
 * NUL-terminated) is: REQ__COUNT for a name Berth does not read. */
enum request_hdr request_hdr_of(const char *name, size_t n);

/*
 * Answers with status and body (len bytes, may be 0; content_type NULL
 * sends no Content-Type, for 202/204). extra_headers, when
 * not NULL, is one or more "Name: value\r\n" lines; when the first is a
 * Cache-Control line it replaces the default "no-store". A second reply is
 * ignored and logged as a bug.
 */
void request_reply(struct request *req, int status, const char *content_type,
    const char *body, size_t len, const char *extra_headers);

/*
 * Starts a streamed answer (Server-Sent Events): the status line and the
 * usual headers without Content-Length (the web server frames the body),
 * flushed at once. The request counts as answered. OK, or ERR_IO when the
 * connection is gone.
 */
berr request_stream_open(struct request *req, int status,
    const char *content_type, const char *extra_headers)
    __attribute__((warn_unused_result));

/* Writes len bytes of a streamed answer and flushes them through libfcgi
 * (FCGX_FFlush). ERR_IO when the web server has closed the connection. */
berr request_stream_write(struct request *req, const char *data, size_t len)
    __attribute__((warn_unused_result));

/* True when the web server has closed (or half-closed) the connection of
 * req: its client went away. Does not block. */
bool request_peer_gone(const struct request *req);

/* Answers with obj serialised as JSON. Takes no ownership of obj. */
void request_reply_json(struct request *req, int status,
    struct json_object *obj, const char *extra_headers);

/*
 * Answers {"error": code, "message": message, "request_id": id} with status.
 * code is a short snake_case word ("not_found").
 */
void request_reply_error(struct request *req, int status, const char *code,
    const char *message, const char *extra_headers);

/* Drains what remains of the body so a kept-alive connection stays in step,
 * and frees what the request owns. */
void request_release(struct request *req);

/* The reason phrase of an HTTP status ("Not Found"). */
const char *request_status_text(int status);

#endif
