/*
 * limit.h - every cap on input that grows from a client, in one place.
 *
 * The web server configs in conf/ set their own edge limits a little above
 * these, so that Berth itself answers with a JSON error; see conf/nginx and
 * conf/apache. Change a cap here, not at the point of use.
 */
#ifndef BERTH_LIMIT_H
#define BERTH_LIMIT_H

/* Largest request body berth-fcgi reads (413 above it). */
#define LIMIT_BODY_BYTES (1024 * 1024)
/* Largest request body before authentication (login, unauthenticated /mcp). */
#define LIMIT_BODY_BYTES_UNAUTH (64 * 1024)
/* Largest single HTTP header value passed by the web server (431 above). */
#define LIMIT_HEADER_BYTES (8 * 1024)
/* Largest sum of all HTTP_* parameters of one request (431 above). */
#define LIMIT_HEADERS_TOTAL_BYTES (32 * 1024)
/* Longest Authorization header looked at (401 above, before any lookup). */
#define LIMIT_AUTH_HEADER_BYTES 4096
/* Largest RFC 7662 introspection answer read (oauth.c); more is refused as
 * a broken authorization server (503), never parsed. */
#define LIMIT_INTROSPECT_BYTES (64 * 1024)
/* Longest request path routed (414 above). */
#define LIMIT_PATH_BYTES 2048
/* Deepest JSON nesting accepted in a request body (json-c tokener depth). */
#define LIMIT_JSON_DEPTH 64
/* Most messages in one JSON-RPC batch (only 2025-03-26 has batches). */
#define LIMIT_MCP_BATCH 100
/* Longest resource URI a session may subscribe to (resources/subscribe),
 * and most subscriptions one 2025-era session holds (sql/007). */
#define LIMIT_MCP_URI           1024
#define LIMIT_MCP_SUBSCRIPTIONS 100
/* Largest response body produced in memory. */
#define LIMIT_RESPONSE_BYTES (4 * 1024 * 1024)
/* Largest upstream response read (login exchange, upstream calls): more is
 * a 502, never a bigger buffer. */
#define LIMIT_UPSTREAM_RESPONSE_BYTES (1024 * 1024)
/* Longest upstream API key accepted from an upstream's login answer. */
#define LIMIT_UPSTREAM_KEY_BYTES 1024
/* An answer of an OAuth token endpoint (aicred.h); a real one is < 2 KiB. */
#define LIMIT_AI_OAUTH_RESPONSE_BYTES (64 * 1024)
/* Largest JSON body of POST /auth/login. */
#define LIMIT_LOGIN_BODY_BYTES (8 * 1024)
/* Largest config.yaml read. */
#define LIMIT_CONFIG_BYTES (1024 * 1024)
/*
 * Most problems of each kind (errors, warnings) spelled out in one config
 * diagnostic; the rest are counted, so a hostile file cannot make the
 * diagnostics grow with it.
 */
#define LIMIT_CONFIG_DIAG 20
/*
 * Deepest nesting of mappings and lists in config.yaml (Berth's own keys
 * need 3). libyaml's scanner slows down with the square of the depth: 1 MB
 * of "[" took it minutes before this cap.
 */
#define LIMIT_CONFIG_DEPTH 32
/* Largest single migration file read. */
#define LIMIT_MIGRATION_BYTES (4 * 1024 * 1024)
/* Most berth-fcgi workers one parent runs. */
#define LIMIT_WORKERS 256
/* Credentials one berth-fcgi worker keeps resolved (authcache.h): about
 * 7 KB each, so 64 cost under 0.5 MB per worker, touched only as used. */
#define LIMIT_AUTHCACHE_ENTRIES 64

/*
 * The Lighthouse link (berthd). Largest message accepted from Lighthouse
 * (gRPC refuses bigger ones and ends the stream).
 */
#define LIMIT_LH_MSG_BYTES (4 * 1024 * 1024)
/* Most messages waiting to go out on the management stream. */
#define LIMIT_LH_SENDQ 256
/* Most agents or tools listed in one answer. */
#define LIMIT_LH_LIST 1000
/* Longest prompt accepted by update_agent_prompt. */
#define LIMIT_LH_PROMPT_BYTES (256 * 1024)
/* Most run reports in flight (sent, not yet acknowledged) at once. */
#define LIMIT_LH_OUTBOX_INFLIGHT 32
/*
 * HTTP/2 keepalive: a ping every KEEPALIVE_MS, the connection declared dead
 * when one is not answered within KEEPALIVE_TIMEOUT_MS. Their sum bounds how
 * long a frozen Lighthouse goes unnoticed (30 s is the promise).
 */
#define LIMIT_LH_KEEPALIVE_MS         15000
#define LIMIT_LH_KEEPALIVE_TIMEOUT_MS 10000

#endif
