/*
 * upstream.c - credential exchange and calls to the upstream API with
 * libcurl. See upstream.h.
 *
 * One easy handle per call: a responder makes few upstream calls, and a
 * fresh handle cannot carry a previous user's cookies or key. The answer is
 * collected in a buffer that refuses to grow past the cap; libcurl then
 * aborts the transfer (CURLE_WRITE_ERROR), so a 10 MB answer costs at most
 * the cap in memory.
 */
#include "upstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include "config.h"
#include "http.h"
#include "limit.h"
#include "log.h"

/* Seconds allowed for the TCP/TLS connect, within the total timeout. */
#define UPSTREAM_CONNECT_TIMEOUT 5

struct upstream_buf {
	char *data;
	size_t len, cap;
	bool too_big;
};

const char *
upstream_fail_str(enum upstream_fail f)
{
	switch (f) {
	case UPSTREAM_OK: return "ok";
	case UPSTREAM_REFUSED: return "the upstream refused the credentials";
	case UPSTREAM_DOWN: return "the upstream is unreachable";
	case UPSTREAM_TIMEOUT: return "the upstream did not answer in time";
	case UPSTREAM_TOO_BIG: return "the upstream's answer is too large";
	case UPSTREAM_GARBAGE:
		return "the upstream answered something unusable";
	case UPSTREAM_INTERNAL: break;
	}
	return "the upstream call failed on the server side";
}

bool
upstream_configured(const struct config *cfg)
{
	return cfg != NULL && cfg->upstream.base_url != NULL &&
	    cfg->upstream.base_url[0] != '\0';
}

static size_t
upstream_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct upstream_buf *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (n > LIMIT_UPSTREAM_RESPONSE_BYTES - b->len) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;

		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/*
 * Performs one request. url is complete; headers may be NULL. On
 * UPSTREAM_OK *status and b are filled (b->data may be NULL for an empty
 * answer).
 */
static enum upstream_fail
upstream_perform(const struct config *cfg, const char *method, const char *url,
    struct curl_slist *headers, const char *body, long *status,
    struct upstream_buf *b, char *detail, size_t detail_size)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	enum upstream_fail f = UPSTREAM_INTERNAL;
	long timeout = cfg->upstream.timeout > 0 ? cfg->upstream.timeout : 10;
	CURL *c;
	CURLcode cc;

	*status = 0;
	if ((c = http_easy(&(struct http_opts){ .url = url,
	         .timeout_ms = timeout * 1000L,
	         .connect_timeout_ms = UPSTREAM_CONNECT_TIMEOUT * 1000L,
	         .max_bytes = LIMIT_UPSTREAM_RESPONSE_BYTES,
	         .user_agent = "berth",
	         .errbuf = errbuf })) == NULL) {
		snprintf(detail, detail_size, "libcurl setup failed");
		return UPSTREAM_INTERNAL;
	}
	if (curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, upstream_write) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, b) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
	    (headers != NULL &&
	        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers) != CURLE_OK) ||
	    (body != NULL &&
	        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK)) {
		snprintf(detail, detail_size, "curl setup failed");
		goto out;
	}
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		f = UPSTREAM_OK;
	} else if (b->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(detail, detail_size, "answer over %d bytes",
		    LIMIT_UPSTREAM_RESPONSE_BYTES);
		f = UPSTREAM_TOO_BIG;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(detail, detail_size, "timed out after %ld s", timeout);
		f = UPSTREAM_TIMEOUT;
	} else if (cc == CURLE_OUT_OF_MEMORY || cc == CURLE_WRITE_ERROR) {
		snprintf(detail, detail_size, "%s", curl_easy_strerror(cc));
		f = UPSTREAM_INTERNAL;
	} else {
		snprintf(detail, detail_size, "%s",
		    errbuf[0] ? errbuf : curl_easy_strerror(cc));
		f = UPSTREAM_DOWN;
	}
out:
	curl_easy_cleanup(c);
	return f;
}

/* base_url + path, or NULL. */
static char *
upstream_url(const struct config *cfg, const char *path)
{
	size_t n = strlen(cfg->upstream.base_url) + strlen(path) + 1;
	char *u = malloc(n);

	if (u != NULL)
		snprintf(u, n, "%s%s", cfg->upstream.base_url, path);
	return u;
}

/* The string at a dotted path ("data.api_key") of o, or NULL. */
static const char *
upstream_dotted(struct json_object *o, const char *path)
{
	char part[128];
	const char *p = path, *dot;
	struct json_object *v;
	size_t n;

	while (o != NULL && *p != '\0') {
		dot = strchr(p, '.');
		n = dot ? (size_t)(dot - p) : strlen(p);
		if (n == 0 || n >= sizeof(part) ||
		    !json_object_is_type(o, json_type_object))
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		if (!json_object_object_get_ex(o, part, &v))
			return NULL;
		o = v;
		p = dot ? dot + 1 : p + n;
	}
	if (o == NULL || !json_object_is_type(o, json_type_string))
		return NULL;
	return json_object_get_string(o);
}

/* A usable key: 1..LIMIT_UPSTREAM_KEY_BYTES of printable ASCII (it goes
 * into an HTTP header later). */
static bool
upstream_key_ok(const char *k)
{
	size_t i;

	for (i = 0; k[i] != '\0'; i++)
		if (i >= LIMIT_UPSTREAM_KEY_BYTES || k[i] <= 0x20 ||
		    k[i] >= 0x7f)
			return false;
	return i > 0;
}

enum upstream_fail
upstream_login(const struct config *cfg, const char *username,
    const char *password, char **api_key, char *detail, size_t detail_size)
{
	struct upstream_buf b = { 0 };
	struct curl_slist *h = NULL, *t;
	struct json_object *req = NULL, *ans = NULL;
	struct json_tokener *tok = NULL;
	enum upstream_fail f = UPSTREAM_INTERNAL;
	const char *body, *key;
	char *url = NULL;
	long status = 0;

	*api_key = NULL;
	detail[0] = '\0';
	if (!upstream_configured(cfg)) {
		snprintf(detail, detail_size, "no upstream configured");
		return UPSTREAM_INTERNAL;
	}
	if ((req = json_object_new_object()) == NULL ||
	    json_object_object_add(req, cfg->upstream.username_field,
	        json_object_new_string(username)) != 0 ||
	    json_object_object_add(req, cfg->upstream.password_field,
	        json_object_new_string(password)) != 0 ||
	    (body = json_object_to_json_string_ext(
	         req, JSON_C_TO_STRING_PLAIN)) == NULL ||
	    (url = upstream_url(cfg, cfg->upstream.login_path)) == NULL) {
		snprintf(detail, detail_size, "out of memory");
		goto out;
	}
	if ((t = curl_slist_append(h, "Content-Type: application/json")) ==
	        NULL ||
	    (h = t, t = curl_slist_append(h, "Accept: application/json")) ==
	        NULL) {
		snprintf(detail, detail_size, "out of memory");
		goto out;
	}
	h = t;
	f = upstream_perform(cfg, cfg->upstream.login_method, url, h, body,
	    &status, &b, detail, detail_size);
	if (f != UPSTREAM_OK)
		goto out;
	if (status == 401 || status == 403) {
		snprintf(detail, detail_size, "HTTP %ld", status);
		f = UPSTREAM_REFUSED;
		goto out;
	}
	if (status < 200 || status > 299) {
		snprintf(detail, detail_size, "HTTP %ld", status);
		f = UPSTREAM_GARBAGE;
		goto out;
	}
	f = UPSTREAM_GARBAGE;
	if (b.data == NULL) {
		snprintf(
		    detail, detail_size, "empty answer (HTTP %ld)", status);
		goto out;
	}
	if ((tok = json_tokener_new_ex(LIMIT_JSON_DEPTH)) == NULL) {
		f = UPSTREAM_INTERNAL;
		goto out;
	}
	ans = json_tokener_parse_ex(tok, b.data, (int)b.len);
	if (ans == NULL ||
	    json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != b.len ||
	    !json_object_is_type(ans, json_type_object)) {
		snprintf(detail, detail_size,
		    "answer is not a JSON object (HTTP %ld)", status);
		goto out;
	}
	if ((key = upstream_dotted(ans, cfg->upstream.api_key_field)) == NULL ||
	    !upstream_key_ok(key)) {
		snprintf(detail, detail_size,
		    "answer has no usable string at \"%.64s\"",
		    cfg->upstream.api_key_field);
		goto out;
	}
	if ((*api_key = strdup(key)) == NULL) {
		f = UPSTREAM_INTERNAL;
		goto out;
	}
	f = UPSTREAM_OK;
out:
	if (b.data != NULL) {
		OPENSSL_cleanse(b.data, b.cap);
		free(b.data);
	}
	/* The request body holds the password. */
	if (req != NULL) {
		struct json_object *pw;

		if (json_object_object_get_ex(
		        req, cfg->upstream.password_field, &pw))
			OPENSSL_cleanse((void *)json_object_get_string(pw),
			    (size_t)json_object_get_string_len(pw));
	}
	json_object_put(req);
	json_object_put(ans);
	if (tok != NULL)
		json_tokener_free(tok);
	curl_slist_free_all(h);
	free(url);
	return f;
}

enum upstream_fail
upstream_call(const struct config *cfg, const char *method, const char *path,
    const char *api_key, const char *body, long *status, char **resp,
    size_t *resp_len, char *detail, size_t detail_size)
{
	struct upstream_buf b = { 0 };
	struct curl_slist *h = NULL, *t;
	enum upstream_fail f = UPSTREAM_INTERNAL;
	char *url = NULL, *hdr = NULL;
	size_t n;

	*resp = NULL;
	*resp_len = 0;
	*status = 0;
	detail[0] = '\0';
	if (!upstream_configured(cfg) || api_key == NULL ||
	    !upstream_key_ok(api_key) || path == NULL || path[0] != '/') {
		snprintf(detail, detail_size, "bad call");
		return UPSTREAM_INTERNAL;
	}
	n = strlen(cfg->upstream.api_key_header) + strlen(api_key) + 3;
	if ((url = upstream_url(cfg, path)) == NULL ||
	    (hdr = malloc(n)) == NULL) {
		snprintf(detail, detail_size, "out of memory");
		goto out;
	}
	snprintf(hdr, n, "%s: %s", cfg->upstream.api_key_header, api_key);
	if ((t = curl_slist_append(h, hdr)) == NULL ||
	    (h = t, t = curl_slist_append(h, "Accept: application/json")) ==
	        NULL ||
	    (h = t,
	        t = curl_slist_append(h,
	            body != NULL ? "Content-Type: application/json"
	                         : "Expect:")) == NULL) {
		snprintf(detail, detail_size, "out of memory");
		goto out;
	}
	h = t;
	f = upstream_perform(
	    cfg, method, url, h, body, status, &b, detail, detail_size);
	if (f != UPSTREAM_OK)
		goto out;
	if (*status == 401 || *status == 403) {
		snprintf(detail, detail_size, "HTTP %ld", *status);
		f = UPSTREAM_REFUSED;
		goto out;
	}
	if (b.data == NULL && (b.data = calloc(1, 1)) == NULL) {
		f = UPSTREAM_INTERNAL;
		goto out;
	}
	*resp = b.data;
	*resp_len = b.len;
	b.data = NULL;
out:
	free(b.data);
	if (hdr != NULL) {
		OPENSSL_cleanse(hdr, n);
		free(hdr);
	}
	curl_slist_free_all(h);
	free(url);
	return f;
}
