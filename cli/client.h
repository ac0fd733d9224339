/*
 * client.h - the CLI's HTTP client (libcurl) for talking to a Berth
 * server: the /auth/ endpoints and /mcp.
 *
 * One request at a time, TLS verification on, no redirects, a total
 * timeout, and answers capped at CLIENT_MAX_BODY. Call curl_global_init()
 * once in main() before using it.
 */
#ifndef BERTH_CLI_CLIENT_H
#define BERTH_CLI_CLIENT_H

#include <stddef.h>

#include "err.h"

#define CLIENT_MAX_BODY (16 * 1024 * 1024)

/* An answer. body is malloc'ed and NUL-terminated (never NULL after OK);
 * client_resp_free() releases it. */
struct client_resp {
	long status;
	char *body;
	size_t len;
	char content_type[128];
	char session_id[256]; /* Mcp-Session-Id, "" when none */
	char retry_after[16]; /* Retry-After, "" when none */
};

/*
 * Sends method to url with, when not NULL, "Authorization: Bearer
 * <bearer>", the extra header lines of headers (NULL-terminated array of
 * "Name: value", may be NULL) and body (sent as given; set the
 * Content-Type in headers). OK when an HTTP answer came (any status);
 * ERR_IO when none did (connection refused, timeout, TLS: err says which),
 * ERR_TOO_BIG over the cap, ERR_NOMEM. *out is zeroed first; on error
 * nothing is left to free.
 */
berr client_request(const char *method, const char *url, const char *bearer,
    const char *const *headers, const char *body, long timeout_s,
    struct client_resp *out, char *err, size_t errsize)
    __attribute__((warn_unused_result));

void client_resp_free(struct client_resp *r);

#endif
