/*
 * mcp.h - the MCP protocol core of /mcp: both eras, one entry point.
 *
 * mcp_handle() takes the HTTP view of one request to /mcp (method, the
 * headers that matter, the body) and the authenticated principal, decides
 * the era (2025: 2025-03-26, 2025-06-18, 2025-11-25; 2026: 2026-07-28) as
 * the specification says, checks versions and headers, parses JSON-RPC 2.0
 * (json-c), dispatches the method and fills an HTTP answer. It knows
 * nothing of FastCGI: fcgi/mcp_endpoint.c feeds it, and unit tests call it
 * directly.
 *
 * 2025-era sessions live behind struct mcp_store (PostgreSQL in
 * production: shared/mcp_session.c; an in-memory fake in tests), so any
 * responder serves any session. A session is bound to the principal that
 * created it: load() with another principal must report "not found".
 *
 * Ownership: everything in struct mcp_request is borrowed. struct
 * mcp_response owns body (malloc'ed; free with mcp_response_free()). The
 * module keeps a JSON parser between calls, a few objects it answers with
 * unchanged (serverInfo, the usual 2026 _meta, constant strings, and the
 * last tools/list results around the pages tools_list() keeps, their text
 * rendered once), and the tool registry its caches (tools.h): one
 * mcp_handle() at a time per process, as in berth-fcgi's single-threaded
 * workers.
 */
#ifndef BERTH_MCP_H
#define BERTH_MCP_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"

struct config;
struct db;
struct principal;

/* Protocol versions this server speaks, newest first; NULL-terminated. */
extern const char *const mcp_versions[];

/* The HTTP request, as the transport saw it. Any header may be NULL. */
struct mcp_request {
	const char *http_method;      /* "POST", "GET", "DELETE", ... */
	const char *content_type;     /* Content-Type */
	const char *accept;           /* Accept */
	const char *protocol_version; /* MCP-Protocol-Version */
	const char *session_id;       /* Mcp-Session-Id */
	const char *mcp_method;       /* Mcp-Method (2026 era) */
	const char *mcp_name;         /* Mcp-Name (2026 era) */
	const char *body;             /* NUL-terminated; may be NULL */
	size_t body_len;
	const char *client_ip;  /* for the audit log; may be NULL */
	const char *request_id; /* for logs and the audit log */
};

/* One stored 2025-era session. */
struct mcp_session {
	char id[129];
	char protocol_version[16];
	char log_level[16];    /* "info" ... as set by logging/setLevel */
	char client_name[129]; /* clientInfo.name, for logs */
	char environment[65];  /* the environment it was created in */
};

/*
 * Session storage. Each function returns OK, ERR_NOT_FOUND (load/touch/
 * remove: unknown, expired, or another principal's), ERR_DB_DOWN, ERR_DB.
 * client_info and capabilities are JSON texts (may be "{}").
 */
struct mcp_store {
	void *arg;
	berr (*create)(void *arg, const struct principal *p,
	    const char *environment, const char *protocol_version,
	    const char *client_info, const char *capabilities,
	    struct mcp_session *out);
	berr (*load)(void *arg, const struct principal *p, const char *id,
	    struct mcp_session *out);
	berr (*set_log_level)(void *arg, const struct principal *p,
	    const char *id, const char *level);
	berr (*remove)(void *arg, const struct principal *p, const char *id);
	/*
	 * notifications/cancelled: records that request request_key (the
	 * request id as JSON text: "\"abc\"" or "42") of session id is
	 * cancelled, so whichever responder runs it stops; cancelled() asks
	 * whether such a marker exists. id is a session load() accepted for
	 * p. May be NULL (the store keeps no markers: nothing is cancelled).
	 */
	berr (*cancel)(void *arg, const char *id, const char *request_key);
	berr (*cancelled)(
	    void *arg, const char *id, const char *request_key, bool *yes);
	/*
	 * resources/subscribe and resources/unsubscribe (2025 era): records
	 * or drops the subscription of session id (one load() accepted for
	 * the caller) to uri. subscribe() is idempotent and ERR_TOO_BIG when
	 * the session holds its cap; unsubscribe() of a URI never subscribed
	 * is OK. NULL (both): the store keeps none, and the resources
	 * capability does not offer subscribe.
	 */
	berr (*subscribe)(void *arg, const char *id, const char *uri);
	berr (*unsubscribe)(void *arg, const char *id, const char *uri);
	/*
	 * Server-to-client requests (2025 era; sampling, elicitation) of
	 * session id, keyed by the request id's JSON text. ask() records a
	 * pending request, only when the session's client declared
	 * capability (else ERR_DENIED, also at the per-session cap);
	 * answer() stores the client's response message (JSON text of an
	 * object) for a pending request (ERR_NOT_FOUND when none); answered()
	 * takes it: OK with *response (malloc'ed JSON text) or NULL while
	 * none has arrived. NULL (all three): no server-to-client requests.
	 */
	berr (*ask)(void *arg, const char *id, const char *request_key,
	    const char *capability);
	berr (*answer)(void *arg, const char *id, const char *request_key,
	    const char *response);
	berr (*answered)(void *arg, const char *id, const char *request_key,
	    char **response);
};

/*
 * The transport's side of an SSE answer (fcgi/mcp_endpoint.c). A request
 * that may take long (tools_call_waits()) first takes a slot (acquire;
 * false at the configured cap: the request is refused with 503), and when
 * the client accepts text/event-stream the answer becomes a stream: open()
 * sends the status line and headers, event() one "event: message" with
 * the JSON text, comment() a ":" keep-alive line; each flushes at once and
 * returns ERR_IO when the client has gone. release() gives the slot back.
 */
struct mcp_stream_ops {
	void *arg;
	bool (*acquire)(void *arg);
	void (*release)(void *arg);
	berr (*open)(void *arg);
	berr (*event)(void *arg, const char *json, size_t len);
	berr (*comment)(void *arg);
	/* Has the client gone (connection closed)? Checked while a long call
	 * waits, also when it answers with JSON. May be NULL. */
	bool (*gone)(void *arg);
};

/* What the transport sends back. */
struct mcp_response {
	int status;               /* HTTP status */
	const char *content_type; /* static; NULL when there is no body */
	char *body;               /* owned; NULL for none (e.g. 202) */
	size_t body_len;
	char session_id[129]; /* non-empty: send Mcp-Session-Id */
	const char *allow;    /* for 405: the Allow header value */
	bool streamed; /* answered through mcp_ctx.stream: send nothing */
};

/* What mcp_handle needs besides the request. Borrowed. */
struct mcp_ctx {
	const struct config *cfg;
	struct db *db;
	const struct mcp_store *store;
	/* The environment this request addresses (the endpoint's choice:
	 * /mcp?environment=NAME, else the first configured one). A 2025-era
	 * session is bound to the one it was created in. */
	const char *environment;
	const struct mcp_stream_ops *stream; /* NULL: never stream */
	int keepalive_ms; /* ":" comment on a quiet stream; 0 = 15000 */
};

/*
 * Answers one request. Always fills *rs (even on error: a JSON-RPC error
 * body with the right HTTP status) and returns OK; returns ERR_NOMEM only
 * when even that failed (the transport then answers 500).
 */
berr mcp_handle(const struct mcp_ctx *ctx, const struct principal *p,
    const struct mcp_request *rq, struct mcp_response *rs)
    __attribute__((warn_unused_result));

void mcp_response_free(struct mcp_response *rs);

#endif
