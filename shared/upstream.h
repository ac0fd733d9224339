/*
 * upstream.h - the upstream API of the TS-MCP "cloud mode": the credential
 * exchange of /auth/login, and calls made with a user's own API key.
 *
 * Everything about the upstream comes from the upstream.* config keys: base
 * URL, login path and method, the JSON field names of the login request,
 * the dotted path of the API key in its answer, and the header that carries
 * the key on later calls (Touchstone: POST /api/auth {username, password}
 * -> {"api_key": ...}, then X-API-Key). libcurl does the HTTP: http and
 * https only, no redirects followed, TLS verification on, a total timeout
 * of upstream.timeout seconds, and answers capped at
 * LIMIT_UPSTREAM_RESPONSE_BYTES (read no further).
 *
 * Call curl_global_init() once per process before any of this (berth-fcgi
 * and berth do it in main()).
 */
#ifndef BERTH_UPSTREAM_H
#define BERTH_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct config;

/* Why a call did not give an answer the caller can use. */
enum upstream_fail {
	UPSTREAM_OK = 0,
	UPSTREAM_REFUSED,  /* the upstream answered 401/403: bad credentials */
	UPSTREAM_DOWN,     /* connection refused, DNS, TLS, reset */
	UPSTREAM_TIMEOUT,  /* no complete answer within upstream.timeout */
	UPSTREAM_TOO_BIG,  /* answer larger than the cap */
	UPSTREAM_GARBAGE,  /* not JSON, no key where the config says, 5xx */
	UPSTREAM_INTERNAL, /* out of memory, libcurl setup */
};

/* A short, client-safe description of f ("upstream timed out"). */
const char *upstream_fail_str(enum upstream_fail f);

/* True when cfg names an upstream (upstream.base_url set). */
bool upstream_configured(const struct config *cfg);

/*
 * Exchanges username and password with the upstream for an API key. On
 * UPSTREAM_OK *api_key is a malloc'ed NUL-terminated key (1 to
 * LIMIT_UPSTREAM_KEY_BYTES printable ASCII bytes) the caller wipes and
 * frees; otherwise *api_key is NULL and detail (size >= 1) holds a short
 * reason for the log (never the password, never the key). Neither the
 * password nor the key is ever logged here.
 */
enum upstream_fail upstream_login(const struct config *cfg,
    const char *username, const char *password, char **api_key, char *detail,
    size_t detail_size) __attribute__((warn_unused_result));

/*
 * One call to the upstream with api_key in upstream.api_key_header: method
 * ("GET", "POST", ...), path (absolute, already escaped) appended to the
 * base URL, body (NULL = none; sent as application/json). On UPSTREAM_OK
 * (any HTTP status; 401/403 give UPSTREAM_REFUSED) *status is the HTTP
 * status and *resp a malloc'ed NUL-terminated body (*resp_len bytes) the
 * caller frees. Otherwise *resp is NULL and detail says why.
 */
enum upstream_fail upstream_call(const struct config *cfg, const char *method,
    const char *path, const char *api_key, const char *body, long *status,
    char **resp, size_t *resp_len, char *detail, size_t detail_size)
    __attribute__((warn_unused_result));

#endif
