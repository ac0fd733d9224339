/*
 * client.c - the CLI's HTTP client. See client.h.
 */
#include "client.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "http.h"

struct client_buf {
	struct client_resp *r;
	size_t cap;
	bool too_big;
};

static size_t
client_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct client_buf *b = arg;
	struct client_resp *r = b->r;
	size_t n = size * nmemb;
	char *p;

	if (n > CLIENT_MAX_BODY - r->len) {
		b->too_big = true;
		return 0;
	}
	if (r->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < r->len + n + 1)
			cap *= 2;
		if ((p = realloc(r->body, cap)) == NULL)
			return 0;
		r->body = p;
		b->cap = cap;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* Copies the value of header line (name: value\r\n) into dst when the
 * name matches. */
static void
client_header_value(
    const char *line, size_t n, const char *name, char *dst, size_t size)
{
	size_t k = strlen(name), v;

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return;
	line += k + 1;
	n -= k + 1;
	while (n > 0 && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)line[n - 1]))
		n--;
	v = n < size - 1 ? n : size - 1;
	memcpy(dst, line, v);
	dst[v] = '\0';
}

static size_t
client_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct client_resp *r = arg;
	size_t n = size * nmemb;

	client_header_value(
	    ptr, n, "Content-Type", r->content_type, sizeof(r->content_type));
	client_header_value(
	    ptr, n, "Mcp-Session-Id", r->session_id, sizeof(r->session_id));
	client_header_value(
	    ptr, n, "Retry-After", r->retry_after, sizeof(r->retry_after));
	return n;
}

void
client_resp_free(struct client_resp *r)
{
	if (r == NULL)
		return;
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

berr
client_request(const char *method, const char *url, const char *bearer,
    const char *const *headers, const char *body, long timeout_s,
    struct client_resp *out, char *err, size_t errsize)
{
	struct client_buf b = { .r = out };
	struct curl_slist *h = NULL, *t;
	char errbuf[CURL_ERROR_SIZE] = "", *auth = NULL;
	size_t i, n;
	CURLcode cc;
	CURL *c = NULL;
	berr rc = ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (bearer != NULL) {
		n = strlen(bearer) + 32;
		if ((auth = malloc(n)) == NULL)
			goto out;
		snprintf(auth, n, "Authorization: Bearer %s", bearer);
		if ((t = curl_slist_append(h, auth)) == NULL)
			goto out;
		h = t;
	}
	for (i = 0; headers != NULL && headers[i] != NULL; i++) {
		if ((t = curl_slist_append(h, headers[i])) == NULL)
			goto out;
		h = t;
	}
	if ((t = curl_slist_append(h, "Expect:")) == NULL)
		goto out;
	h = t;
	if ((c = http_easy(&(struct http_opts){ .url = url,
	         .timeout_ms = timeout_s * 1000L,
	         .connect_timeout_ms = 10000L,
	         .user_agent = "berth-cli",
	         .errbuf = errbuf })) == NULL)
		goto out;
	rc = ERR_IO;
	if (curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, client_write) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, client_header) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HEADERDATA, out) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    (body != NULL &&
	        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK)) {
		snprintf(err, errsize, "libcurl setup failed");
		goto out;
	}
	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		if (b.too_big) {
			snprintf(err, errsize, "answer over %d bytes",
			    CLIENT_MAX_BODY);
			rc = ERR_TOO_BIG;
		} else {
			snprintf(err, errsize, "%s",
			    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		}
		goto out;
	}
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
	if (out->body == NULL && (out->body = calloc(1, 1)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	rc = OK;
out:
	if (rc != OK)
		client_resp_free(out);
	if (auth != NULL) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}
