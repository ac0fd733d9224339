/*
 * test_http.c - CUnit suite for shared/http.c: the options every outgoing
 * request has. A small HTTP server on 127.0.0.1 (a thread of this test)
 * answers each connection with a canned reply and keeps the request it
 * read, so the suite sees what libcurl sent and what it did with the
 * answer: no redirect followed, no protocol but http and https, the size
 * cap, the timeout, the User-Agent.
 */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "unit.h"

/* --- a one-connection-at-a-time HTTP server ---------------------------- */

static int test_listen_fd = -1;
static int test_port;
static const char *test_reply; /* sent after the request's head */
static int test_reply_delay_ms;
static char test_request[8192]; /* the last request's head */

static void *
test_serve(void *arg)
{
	(void)arg;
	for (;;) {
		size_t got = 0;
		ssize_t n;
		int fd = accept(test_listen_fd, NULL, NULL);

		if (fd < 0)
			return NULL;
		memset(test_request, 0, sizeof(test_request));
		while (got < sizeof(test_request) - 1 &&
		    strstr(test_request, "\r\n\r\n") == NULL &&
		    (n = read(fd, test_request + got,
		         sizeof(test_request) - 1 - got)) > 0)
			got += (size_t)n;
		if (test_reply_delay_ms > 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			/* Until the client gives up (and closes), or the delay. */
			(void)poll(&p, 1, test_reply_delay_ms);
		}
		if (test_reply != NULL)
			(void)!write(fd, test_reply, strlen(test_reply));
		close(fd);
	}
}

static int
test_start(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	pthread_t t;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((test_listen_fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    bind(test_listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(test_listen_fd, 4) != 0 ||
	    getsockname(test_listen_fd, (struct sockaddr *)&a, &len) != 0 ||
	    pthread_create(&t, NULL, test_serve, NULL) != 0)
		return -1;
	pthread_detach(t);
	test_port = ntohs(a.sin_port);
	return 0;
}

/* The answer's body, up to 64 KiB. */
struct test_body {
	char data[65536];
	size_t len;
};

static size_t
test_write(char *p, size_t size, size_t n, void *arg)
{
	struct test_body *b = arg;
	size_t k = size * n;

	if (k > sizeof(b->data) - 1 - b->len)
		return 0;
	memcpy(b->data + b->len, p, k);
	b->len += k;
	b->data[b->len] = '\0';
	return k;
}

/* Performs a GET of path on the test server, or of where when it is a
 * whole URL, with o (url filled in here); the status in *status, the body
 * in *b. */
static CURLcode
test_get(
    struct http_opts *o, const char *path, long *status, struct test_body *b)
{
	char url[128];
	CURLcode cc;
	CURL *c;

	if (path[0] == '/')
		snprintf(
		    url, sizeof(url), "http://127.0.0.1:%d%s", test_port, path);
	else
		snprintf(url, sizeof(url), "%s", path);
	o->url = url;
	*status = 0;
	memset(b, 0, sizeof(*b));
	if ((c = http_easy(o)) == NULL)
		return CURLE_FAILED_INIT;
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, test_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	return cc;
}

/* --- tests --------------------------------------------------------------- */

static void
test_refuses_bad_options(void)
{
	CU_ASSERT_PTR_NULL(
	    http_easy(&(struct http_opts){ .timeout_ms = 1000 }));
	CU_ASSERT_PTR_NULL(
	    http_easy(&(struct http_opts){ .url = "http://127.0.0.1/" }));
	CU_ASSERT_PTR_NULL(http_easy(&(struct http_opts){
	    .url = "http://127.0.0.1/", .timeout_ms = -1 }));
}

/* The request carries the User-Agent; the answer arrives whole. */
static void
test_plain_get(void)
{
	struct http_opts o = { .timeout_ms = 5000, .user_agent = "berth-test" };
	static struct test_body b;
	long status;

	test_reply_delay_ms = 0;
	test_reply = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	             "Connection: close\r\n\r\nhello";
	CU_ASSERT_EQUAL(test_get(&o, "/ok", &status, &b), CURLE_OK);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_STRING_EQUAL(b.data, "hello");
	CU_ASSERT_PTR_NOT_NULL(strstr(test_request, "GET /ok HTTP/1.1\r\n"));
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(test_request, "\r\nUser-Agent: berth-test\r\n"));
}

/* A redirect is the caller's answer, not followed, whatever its target. */
static void
test_no_redirect(void)
{
	struct http_opts o = { .timeout_ms = 5000 };
	static struct test_body b;
	long status;

	test_reply_delay_ms = 0;
	test_reply = "HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\n"
	             "Content-Length: 0\r\nConnection: close\r\n\r\n";
	CU_ASSERT_EQUAL(test_get(&o, "/moved", &status, &b), CURLE_OK);
	CU_ASSERT_EQUAL(status, 302);
	CU_ASSERT_PTR_NOT_NULL(strstr(test_request, "GET /moved "));
	CU_ASSERT_PTR_NULL(strstr(test_request, "/elsewhere"));
}

/* Neither file: nor any other scheme than http and https. */
static void
test_protocols(void)
{
	struct http_opts o = { .timeout_ms = 5000 };
	static struct test_body b;
	long status;

	CU_ASSERT_EQUAL(test_get(&o, "file:///etc/hostname", &status, &b),
	    CURLE_UNSUPPORTED_PROTOCOL);
	CU_ASSERT_EQUAL(b.len, 0);
}

/* An answer announced beyond max_bytes is not read. */
static void
test_size_cap(void)
{
	struct http_opts o = { .timeout_ms = 5000, .max_bytes = 1000 };
	static struct test_body b;
	long status;

	test_reply_delay_ms = 0;
	test_reply = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n"
	             "Connection: close\r\n\r\n0123456789";
	CU_ASSERT_EQUAL(
	    test_get(&o, "/big", &status, &b), CURLE_FILESIZE_EXCEEDED);
	CU_ASSERT_EQUAL(b.len, 0);
	/* Within the cap, the same answer is read. */
	o.max_bytes = 0;
	test_reply = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
	             "Connection: close\r\n\r\n0123456789";
	CU_ASSERT_EQUAL(test_get(&o, "/small", &status, &b), CURLE_OK);
	CU_ASSERT_EQUAL(b.len, 10);
}

/* A server that never answers is given up on after timeout_ms. */
static void
test_timeout(void)
{
	struct http_opts o = { .timeout_ms = 300, .connect_timeout_ms = 5000 };
	static struct test_body b;
	struct timespec t0, t1;
	long status, ms;

	test_reply_delay_ms = 5000;
	test_reply = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CU_ASSERT_EQUAL(
	    test_get(&o, "/slow", &status, &b), CURLE_OPERATION_TIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	/* Not a timing assertion: only that it did not wait for the server's
	 * five seconds (nor hang). */
	CU_ASSERT_TRUE(ms < 4500);
	test_reply_delay_ms = 0;
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "http", "bad options", test_refuses_bad_options },
		{ "http", "GET with User-Agent", test_plain_get },
		{ "http", "redirect not followed", test_no_redirect },
		{ "http", "http and https only", test_protocols },
		{ "http", "size cap", test_size_cap },
		{ "http", "timeout", test_timeout },
	};
	int rc;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    test_start() != 0)
		return 99;
	rc = unit_run(tests, UNIT_COUNT(tests));
	curl_global_cleanup();
	return rc;
}
