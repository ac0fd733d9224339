/*
 * test_request.c - CUnit suite for fcgi/request.c: request_init()'s one
 * pass over the FastCGI parameters and its refusals, and the response
 * heads request_reply() and request_stream_open() write. No web server:
 * the FCGX_Request is built here, its envp an array of "NAME=value"
 * strings and its out stream a writer into a buffer of this suite's, so
 * every byte Berth would send to nginx is checked.
 */
#define _GNU_SOURCE /* memmem */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

#include "limit.h"
#include "log.h"
#include "request.h"
#include "unit.h"

/* --- a FastCGI request without a connection -------------------------- */

/* The writer's whole output; a full buffer closes the stream (FCGX_PutStr
 * then fails) rather than loop. */
static unsigned char test_out[64 * 1024];

static void
test_out_empty(FCGX_Stream *s, int do_close)
{
	if (s->wrNext == s->stop)
		s->isClosed = 1;
}

struct test_req {
	FCGX_Request fcgx;
	FCGX_Stream out;
	struct request req;
};

/* A request with the parameters envp (NULL-terminated), output to
 * test_out; request_init()'s result in *rc. */
static void
test_req_init(struct test_req *t, char **envp, berr *rc)
{
	memset(t, 0, sizeof(*t));
	memset(test_out, 0, sizeof(test_out));
	t->out.wrNext = test_out;
	t->out.rdNext = test_out + sizeof(test_out) - 1;
	t->out.stop = test_out + sizeof(test_out) - 1; /* a NUL stays */
	t->out.emptyBuffProc = test_out_empty;
	t->fcgx.out = &t->out;
	t->fcgx.envp = envp;
	t->fcgx.ipcFd = -1;
	*rc = request_init(&t->req, &t->fcgx);
}

/* What was written, as a string. */
static const char *
test_written(const struct test_req *t)
{
	(void)t;
	return (const char *)test_out;
}

/* --- tests --------------------------------------------------------------- */

/* Every parameter Berth reads is found by its own name, and only by it. */
static void
test_hdr_names(void)
{
	static const char *const names[REQ__COUNT] = {
		[REQ_CONTENT_TYPE] = "CONTENT_TYPE",
		[REQ_AUTHORIZATION] = "HTTP_AUTHORIZATION",
		[REQ_HOST] = "HTTP_HOST",
		[REQ_ORIGIN] = "HTTP_ORIGIN",
		[REQ_ACCEPT] = "HTTP_ACCEPT",
		[REQ_MCP_PROTOCOL_VERSION] = "HTTP_MCP_PROTOCOL_VERSION",
		[REQ_MCP_SESSION_ID] = "HTTP_MCP_SESSION_ID",
		[REQ_MCP_METHOD] = "HTTP_MCP_METHOD",
		[REQ_MCP_NAME] = "HTTP_MCP_NAME",
		[REQ_X_REQUEST_ID] = "HTTP_X_REQUEST_ID",
		[REQ_REQUEST_METHOD] = "REQUEST_METHOD",
		[REQ_REMOTE_ADDR] = "REMOTE_ADDR",
		[REQ_REQUEST_URI] = "REQUEST_URI",
		[REQ_DOCUMENT_URI] = "DOCUMENT_URI",
		[REQ_CONTENT_LENGTH] = "CONTENT_LENGTH",
	};
	static const char *const others[] = { "", "HTTP_", "HTTP_HOS",
		"HTTP_HOSTS", "http_host", "HTTP_HOST ", "REQUEST_URJ",
		"REMOTE_PORT", "SCRIPT_NAME", "HTTP_MCP_PROTOCOL_VERSIONS",
		"HTTP_MCP_PROTOCOL_VERSIO", "QUERY_STRING", "HTTP_COOKIE",
		"HTTP_USER_AGENT", "SERVER_PROTOCOL", "CONTENT_TYPF" };
	char buf[64];
	size_t i;

	for (i = 0; i < REQ__COUNT; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(names[i]);
		CU_ASSERT_EQUAL(request_hdr_of(names[i], strlen(names[i])), i);
		/* Not NUL-terminated: only its n bytes count. */
		snprintf(buf, sizeof(buf), "%s=x", names[i]);
		CU_ASSERT_EQUAL(request_hdr_of(buf, strlen(names[i])), i);
		CU_ASSERT_EQUAL(
		    request_hdr_of(buf, strlen(names[i]) + 1), REQ__COUNT);
		if (strlen(names[i]) > 1)
			CU_ASSERT_EQUAL(
			    request_hdr_of(names[i], strlen(names[i]) - 1),
			    REQ__COUNT);
	}
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		CU_ASSERT_EQUAL(
		    request_hdr_of(others[i], strlen(others[i])), REQ__COUNT);
	memset(buf, 'A', sizeof(buf));
	CU_ASSERT_EQUAL(request_hdr_of(buf, sizeof(buf)), REQ__COUNT);
}

/* The parameters a request is read from, and the first of a name wins. */
static void
test_init_params(void)
{
	char *envp[] = { "NO_EQUALS_SIGN", "HTTP_HOST=first.example",
		"REQUEST_METHOD=POST", "HTTP_HOST=second.example",
		"REQUEST_URI=/mcp?a=1&b=2", "DOCUMENT_URI=/ignored",
		"CONTENT_LENGTH=42", "HTTP_MCP_NAME=", "REMOTE_ADDR=192.0.2.7",
		"HTTP_X_REQUEST_ID=0123456789abcdef", "HTTP_COOKIE=c=1", NULL };
	struct test_req t;
	berr rc;

	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL(rc, OK);
	CU_ASSERT_STRING_EQUAL(
	    request_param(&t.req, REQ_HOST), "first.example");
	CU_ASSERT_STRING_EQUAL(t.req.method, "POST");
	CU_ASSERT_STRING_EQUAL(t.req.path, "/mcp");
	CU_ASSERT_STRING_EQUAL(t.req.query, "a=1&b=2");
	CU_ASSERT_STRING_EQUAL(t.req.remote_addr, "192.0.2.7");
	CU_ASSERT_EQUAL(t.req.content_length, 42);
	CU_ASSERT_STRING_EQUAL(t.req.request_id, "0123456789abcdef");
	/* Present but empty is not absent. */
	CU_ASSERT_PTR_NOT_NULL(request_param(&t.req, REQ_MCP_NAME));
	CU_ASSERT_STRING_EQUAL(request_param(&t.req, REQ_MCP_NAME), "");
	CU_ASSERT_PTR_NULL(request_param(&t.req, REQ_AUTHORIZATION));
	CU_ASSERT_PTR_NULL(request_param(&t.req, REQ__COUNT));
	CU_ASSERT_FALSE(t.req.replied);
	CU_ASSERT_EQUAL(test_out[0], 0);
}

/* No parameters at all: GET /, no length, an id of Berth's own. */
static void
test_init_defaults(void)
{
	char *envp[] = { "HTTP_X_REQUEST_ID=bad id\r\nX: 1", NULL };
	struct test_req t;
	berr rc;

	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL(rc, OK);
	CU_ASSERT_STRING_EQUAL(t.req.method, "GET");
	CU_ASSERT_STRING_EQUAL(t.req.path, "/");
	CU_ASSERT_STRING_EQUAL(t.req.query, "");
	CU_ASSERT_EQUAL(t.req.content_length, -1);
	/* An unsafe client id is replaced, never echoed. */
	CU_ASSERT_EQUAL(strlen(t.req.request_id), 16);
	CU_ASSERT_PTR_NULL(strchr(t.req.request_id, ' '));

	/* The longest id kept is REQUEST_ID_MAX bytes; one more is replaced. */
	envp[0] = "HTTP_X_REQUEST_ID=0123456789abcdef0123456789ABCDEF";
	test_req_init(&t, envp, &rc);
	CU_ASSERT_STRING_EQUAL(t.req.request_id, envp[0] + 18);
	envp[0] = "HTTP_X_REQUEST_ID=0123456789abcdef0123456789ABCDEF_";
	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL(strlen(t.req.request_id), 16);
	CU_ASSERT_PTR_NULL(strstr(t.req.request_id, "0123456789abcdef0"));
}

/* request_init's refusals: status, JSON error, and no second answer. */
static void
test_init_refusals(void)
{
	static char big_header[LIMIT_HEADER_BYTES + 128];
	static char long_uri[LIMIT_PATH_BYTES + 64];
	static char many[8][LIMIT_HEADER_BYTES];
	static const struct {
		const char *param;
		berr rc;
		const char *status;
		const char *code;
	} cases[] = {
		{ "CONTENT_LENGTH=12x", ERR_INVALID, "Status: 400 ",
		    "\"bad_request\"" },
		{ "CONTENT_LENGTH=-1", ERR_INVALID, "Status: 400 ",
		    "\"bad_request\"" },
		{ "CONTENT_LENGTH=99999999999999999999999", ERR_INVALID,
		    "Status: 400 ", "\"bad_request\"" },
		{ "CONTENT_LENGTH=1048577", ERR_TOO_BIG, "Status: 413 ",
		    "\"payload_too_large\"" },
		{ big_header, ERR_TOO_BIG, "Status: 431 ",
		    "\"headers_too_large\"" },
		{ long_uri, ERR_TOO_BIG, "Status: 414 ", "\"uri_too_long\"" },
	};
	char *envp[4 + 8];
	struct test_req t;
	size_t i, j;
	berr rc;

	memset(big_header, 'a', sizeof(big_header) - 1);
	memcpy(big_header, "HTTP_X_BIG=", 11);
	memset(long_uri, 'u', sizeof(long_uri) - 1);
	memcpy(long_uri, "REQUEST_URI=/", 13);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		envp[0] = "REQUEST_METHOD=POST";
		envp[1] = (char *)cases[i].param;
		envp[2] = NULL;
		test_req_init(&t, envp, &rc);
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_TRUE(t.req.replied);
		CU_ASSERT_PTR_NOT_NULL(
		    strstr(test_written(&t), cases[i].status));
		CU_ASSERT_PTR_NOT_NULL(strstr(test_written(&t), cases[i].code));
		CU_ASSERT_PTR_NOT_NULL(strstr(
		    test_written(&t), "Content-Type: application/json\r\n"));
		if (strstr(test_written(&t), cases[i].status) == NULL)
			fprintf(stderr, "case %zu wrote: %.200s\n", i,
			    test_written(&t));
	}

	/* Headers each within the cap but together beyond it: 431. */
	envp[0] = "REQUEST_METHOD=GET";
	for (j = 0; j < 8; j++) {
		memset(many[j], 'h', sizeof(many[j]) - 1);
		snprintf(many[j], 16, "HTTP_X_%zu=", j);
		many[j][strlen(many[j])] = 'h';
		envp[1 + j] = many[j];
	}
	envp[9] = NULL;
	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL(rc, ERR_TOO_BIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(test_written(&t), "Status: 431 "));
	/* The same size in parameters that are not HTTP headers is fine. */
	for (j = 0; j < 8; j++)
		memcpy(many[j], "XTTP", 4);
	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL(rc, OK);
}

/* The head request_reply() writes, byte for byte, and its guards. */
static void
test_reply_head(void)
{
	char *envp[] = { "REQUEST_METHOD=POST", "REQUEST_URI=/mcp",
		"HTTP_X_REQUEST_ID=00000000000000aa", NULL };
	static char extra[4096];
	struct test_req t;
	berr rc;

	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL_FATAL(rc, OK);
	request_reply(
	    &t.req, 200, "application/json", "{}", 2, "Mcp-Session-Id: s1\r\n");
	CU_ASSERT_STRING_EQUAL(test_written(&t),
	    "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: 2\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Request-Id: 00000000000000aa\r\n"
	    "Mcp-Session-Id: s1\r\n"
	    "\r\n"
	    "{}");
	/* A second answer is refused: nothing more is written. */
	request_reply(&t.req, 500, NULL, "x", 1, NULL);
	CU_ASSERT_PTR_NULL(strstr(test_written(&t), "500"));

	/* A handler's own Cache-Control replaces no-store; 202 without a
	 * body or a Content-Type. */
	test_req_init(&t, envp, &rc);
	request_reply(
	    &t.req, 202, NULL, NULL, 0, "Cache-Control: max-age=60\r\n");
	CU_ASSERT_STRING_EQUAL(test_written(&t),
	    "Status: 202 Accepted\r\n"
	    "Content-Length: 0\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Request-Id: 00000000000000aa\r\n"
	    "Cache-Control: max-age=60\r\n"
	    "\r\n");

	/* A head that does not fit: a bare 500, never a cut head. */
	memset(extra, 'x', sizeof(extra) - 1);
	memcpy(extra, "X-Long: ", 8);
	test_req_init(&t, envp, &rc);
	request_reply(&t.req, 200, "application/json", "{}", 2, extra);
	CU_ASSERT_STRING_EQUAL(test_written(&t),
	    "Status: 500 Internal Server Error\r\n"
	    "Content-Length: 0\r\n\r\n");
	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL(
	    request_stream_open(&t.req, 200, "text/event-stream", extra),
	    ERR_INTERNAL);
	CU_ASSERT_EQUAL(test_out[0], 0);

	/* A stream's head, and no reply after it. */
	test_req_init(&t, envp, &rc);
	CU_ASSERT_EQUAL(
	    request_stream_open(&t.req, 200, "text/event-stream", NULL), OK);
	CU_ASSERT_STRING_EQUAL(test_written(&t),
	    "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "X-Request-Id: 00000000000000aa\r\n"
	    "\r\n");
	request_reply(&t.req, 200, "application/json", "{}", 2, NULL);
	CU_ASSERT_PTR_NULL(strstr(test_written(&t), "{}"));
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "request", "parameter names", test_hdr_names },
		{ "request", "parameters, first of a name wins",
		    test_init_params },
		{ "request", "no parameters", test_init_defaults },
		{ "request", "refusals: 400, 413, 414, 431",
		    test_init_refusals },
		{ "request", "response heads", test_reply_head },
	};

	log_init("test_request", LOG_LVL_ERROR);
	return unit_run(tests, UNIT_COUNT(tests));
}
