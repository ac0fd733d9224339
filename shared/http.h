/*
 * http.h - the one way Berth sets up an outgoing HTTP request: a libcurl
 * easy handle with the options every caller needs, so that no caller can
 * forget one.
 *
 * Who owns what: http_easy() returns a handle the caller owns and frees
 * with curl_easy_cleanup(); the caller adds what is its own (method,
 * headers, body, write and header callbacks) and performs it. The callers:
 * ai.c (the AI provider), aicred.c (the provider's OAuth token endpoint),
 * oauth.c (token introspection), upstream.c (the TS-MCP upstream API) and
 * the CLI's client.c (berth-fcgi's /auth endpoints).
 *
 * What every handle has, and why (docs/SECURITY.md):
 *   - http and https only (no file:, gopher:, ...), for the request and
 *     for any redirect;
 *   - redirects not followed: a 3xx is the caller's answer to judge, so a
 *     credential is never sent to a host the configuration did not name;
 *   - TLS peer and host verification on, whatever libcurl's build default;
 *   - no signals (CURLOPT_NOSIGNAL), as berth-fcgi and berthd are not
 *     single-request programs and handle their own signals;
 *   - a total and a connect timeout, and optionally a cap on the answer's
 *     size (read no further) and an error buffer.
 *
 * Call curl_global_init() once per process before any of this (every
 * program does it in main()).
 */
#ifndef BERTH_HTTP_H
#define BERTH_HTTP_H

#include <curl/curl.h>

struct http_opts {
	const char *url;
	long timeout_ms;         /* the whole transfer; > 0 */
	long connect_timeout_ms; /* > 0; at most timeout_ms is used */
	curl_off_t max_bytes;    /* the answer's size cap; 0: none */
	const char *user_agent;  /* NULL: libcurl sends none */
	char *errbuf;            /* CURL_ERROR_SIZE bytes, or NULL */
};

/* A new easy handle for o, or NULL (nothing to free) when libcurl has no
 * memory or refuses an option (a URL libcurl cannot take, say). */
CURL *http_easy(const struct http_opts *o);

#endif
