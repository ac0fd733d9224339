/*
 * mcp.c - the MCP protocol core of /mcp: both eras, one entry point.
 *
 * How a POST is read (spec passages in quotes; "2026" is
 * docs/specification/2026-07-28, "2025" is docs/specification/2025-11-25):
 *
 *  1. The body is parsed with json-c, nesting capped (LIMIT_JSON_DEPTH):
 *     unparsable -> -32700, HTTP 400.
 *  2. The era. MCP-Protocol-Version names one: a value we do not speak is
 *     400 with UnsupportedProtocolVersionError, -32022, data {supported,
 *     requested} (2026 basic/versioning and transports "Protocol Version
 *     Header"; 2025 transports: "invalid or unsupported
 *     MCP-Protocol-Version ... 400 Bad Request" - we send the modern error
 *     body to legacy clients too, it is the better diagnostic). 2026-07-28
 *     selects the modern era. No header: "MAY treat a request that omits
 *     the header as protocol version 2025-03-26" - unless the body carries
 *     the modern _meta protocolVersion, which is a modern request missing
 *     its required header: HeaderMismatch (-32020, 400, "A required
 *     standard header ... is missing").
 *  3. Modern era: for a request, params._meta must be an object whose
 *     "io.modelcontextprotocol/protocolVersion" equals the header, else
 *     HeaderMismatch; Mcp-Method is required and must equal method;
 *     Mcp-Name is required for tools/call, resources/read, prompts/get and
 *     must equal params.name / params.uri, after decoding the
 *     "=?base64?...?=" sentinel. "Header requirements for notification
 *     POSTs are not defined by this revision": notifications are only
 *     checked when they do send Mcp-Method. Unknown method: -32601 with
 *     HTTP 404 ("MUST respond with 404 Not Found"). Results carry
 *     resultType "complete" and _meta["io.modelcontextprotocol/serverInfo"];
 *     list results and server/discover also ttlMs and cacheScope
 *     (CacheableResult). ping and logging/setLevel were removed in
 *     2026-07-28 (changelog, major change 5): unknown methods there.
 *     Mcp-Session-Id is ignored ("ignore it, and do not mint or echo").
 *  4. Legacy era: initialize creates a session (Mcp-Session-Id); every
 *     other message needs one: none -> 400, unknown, expired or another
 *     principal's -> 404 (2025 transports, "Session Management"). Unknown
 *     method: -32601 in an HTTP 200 answer. A header naming a supported
 *     version is accepted even if it differs from the negotiated one (real
 *     clients send older ones); without the header the session's version
 *     is used, else 2025-03-26.
 *  5. Batches: only 2025-03-26 allowed them (2025-06-18 changelog removed
 *     JSON-RPC batching; 2026: "The body ... MUST be a single JSON-RPC
 *     request or notification"). Elsewhere an array is -32600, 400.
 *  6. Notifications and (legacy) client responses: 202 without a body.
 *     A response posted in the modern era is -32600, 400 ("The client MUST
 *     NOT send JSON-RPC responses").
 *
 * Error responses whose id is unknown carry no id: 2026 and 2025-11-25
 * make JSONRPCErrorResponse.id optional ("a JSON-RPC error response that
 * has no id"), where plain JSON-RPC 2.0 would say null.
 *
 * Ids: a string, or an integer within +-(2^53-1) (MCP's RequestId is
 * string | number; JSON-RPC 2.0 "Numbers SHOULD NOT contain fractional
 * parts"; clients are mostly JavaScript, where larger integers lose
 * precision and would not round-trip). null, fractions, exponents and
 * larger values are -32600.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "autoconf.h"
#include "authz.h"
#include "clock.h"
#include "limit.h"
#include "log.h"
#include "mcp.h"
#include "principal.h"
#include "prompts.h"
#include "tools.h"

/* Tools per tools/list page. */
#define MCP_PAGE_SIZE 50
/* Bodies up to this size leave mcp_parse()'s tokener kept for the next. */
#define MCP_TOKENER_KEEP (64 * 1024)

#define MCP_MODERN         "2026-07-28"
#define MCP_LEGACY_LATEST  "2025-11-25"
#define MCP_LEGACY_DEFAULT "2025-03-26"

#define RPC_PARSE_ERROR      -32700
#define RPC_INVALID_REQUEST  -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS   -32602
#define RPC_INTERNAL_ERROR   -32603
/* Implementation-defined range (-32000..-32019); as the official SDKs. */
#define RPC_SERVER_ERROR      -32000 /* Accept, busy */
#define RPC_SESSION_NOT_FOUND -32001
/* server/resources "Error Handling": "Resource not found: -32002". */
#define RPC_RESOURCE_NOT_FOUND  -32002
#define RPC_HEADER_MISMATCH     -32020
#define RPC_UNSUPPORTED_VERSION -32022

#define META_VERSION     "io.modelcontextprotocol/protocolVersion"
#define META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define META_CLIENT_CAPS "io.modelcontextprotocol/clientCapabilities"
#define META_SERVER_INFO "io.modelcontextprotocol/serverInfo"
#define META_LOG_LEVEL   "io.modelcontextprotocol/logLevel"

/* Longest request id (as JSON text) a notifications/cancelled can name;
 * a request with a longer id cannot be cancelled that way. */
#define MCP_REQUEST_KEY_MAX 200
/* Longest string progressToken accepted (it is echoed in every event). */
#define MCP_PROGRESS_TOKEN_MAX 256
/* How often a waiting request looks for a cancel marker, milliseconds. */
#define MCP_CANCEL_CHECK_MS      1000
#define MCP_KEEPALIVE_DEFAULT_MS 15000
/* A server-to-client request: how long its answer is awaited, and how
 * often the store is asked for it (milliseconds). */
#define MCP_ASK_TIMEOUT_MS 60000
#define MCP_ASK_POLL_MS    100
/* Ids of server-to-client requests: this prefix and 16 hex digits. */
#define MCP_ASK_PREFIX "berth-ask-"

const char *const mcp_versions[] = { "2026-07-28", "2025-11-25", "2025-06-18",
	"2025-03-26", NULL };

static const char *const mcp_log_levels[] = { "debug", "info", "notice",
	"warning", "error", "critical", "alert", "emergency", NULL };

static const char mcp_instructions[] =
    "Berth is a self-hosted CloudShip station. Use station_status to see "
    "whether it is linked to Lighthouse, list_agents to see the agents of "
    "this environment, and list_runs/get_run for their run history.";

/* One request being answered. */
struct mcp_call {
	const struct mcp_ctx *ctx;
	const struct principal *p;
	const struct mcp_request *rq;
	bool modern;
	const char *version;      /* effective protocol version */
	struct mcp_session *sess; /* legacy era, after initialize; else NULL */
	struct mcp_response *rs;
	bool in_batch;          /* no streaming inside a 2025-03-26 batch */
	bool accept_sse;        /* Accept names text/event-stream */
	struct json_object *id; /* the request being dispatched (borrowed) */
	bool result_whole;      /* the result already carries the 2026 fields */
	/* A long tools/call (see "Streaming" below). */
	bool sse;       /* answering on an SSE stream */
	bool gone;      /* the stream broke: the client left */
	bool cancelled; /* notifications/cancelled named this request */
	struct json_object *progress_token; /* borrowed; NULL = none */
	int log_min; /* index into mcp_log_levels; -1 = send no logs */
	double last_write_ms, last_check_ms, last_progress;
	char request_key[MCP_REQUEST_KEY_MAX + 1]; /* "" = not cancellable */
};

/* A JSON-RPC error about to be sent. */
struct mcp_err {
	int code;
	int status; /* HTTP status; 0 = decided by the code */
	char message[320];
	struct json_object *data; /* owned; may be NULL */
};

static void mcp_err_set(struct mcp_err *e, int code, int status,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
mcp_err_set(struct mcp_err *e, int code, int status, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->status = status;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

static bool
mcp_version_supported(const char *v)
{
	size_t i;

	for (i = 0; mcp_versions[i] != NULL; i++)
		if (strcmp(mcp_versions[i], v) == 0)
			return true;
	return false;
}

static bool
mcp_version_legacy(const char *v)
{
	return mcp_version_supported(v) && strcmp(v, MCP_MODERN) != 0;
}

/*
 * Reads an Accept header (RFC 9110 12.5.1): does it admit application/json
 * (*json) and text/event-stream (*sse), counting "*\/\*" and "type/\*"
 * ranges, and does it name text/event-stream itself (*sse_named)? A range
 * with q=0 admits nothing. Both transports' rule is "The client MUST
 * include an Accept header listing both"; a POST whose Accept leaves one
 * out is refused with 406 (as the official SDK servers do). A request
 * without any Accept header "implies that the user agent will accept any
 * media type" (RFC 9110), so it passes, and is answered with JSON; so is
 * a client that only matched through a wildcard: only one that names
 * text/event-stream gets a stream.
 */
static void
mcp_accept(const char *accept, bool *json, bool *sse, bool *sse_named)
{
	const char *p = accept, *end, *semi, *q;
	char range[64];
	size_t n;

	*sse_named = false;
	if (accept == NULL) {
		*json = *sse = true;
		return;
	}
	*json = *sse = false;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		semi = memchr(p, ';', (size_t)(end - p));
		n = (size_t)((semi != NULL ? semi : end) - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n < sizeof(range)) {
			bool refused = false;

			memcpy(range, p, n);
			range[n] = '\0';
			/* q=0, q=0.0, q=0.000: "not acceptable". */
			for (q = semi; q != NULL && q < end;
			     q = memchr(q + 1, ';', (size_t)(end - q - 1))) {
				const char *v = q + 1;

				while (*v == ' ' || *v == '\t')
					v++;
				if ((v[0] == 'q' || v[0] == 'Q') &&
				    v[1] == '=' && v[2] == '0') {
					for (v += 3; *v == '.' || *v == '0';
					     v++)
						;
					refused = v >= end || *v == ' ' ||
					    *v == ';' || *v == ',' ||
					    *v == '\t';
				}
			}
			if (!refused) {
				bool any = strcmp(range, "*/*") == 0;

				if (any ||
				    !strcasecmp(range, "application/*") ||
				    !strcasecmp(range, "application/json"))
					*json = true;
				if (any || !strcasecmp(range, "text/*") ||
				    !strcasecmp(range, "text/event-stream"))
					*sse = true;
				if (!strcasecmp(range, "text/event-stream"))
					*sse_named = true;
			}
		}
		p = end;
	}
}

/* ---------------------------------------------------------------------
 * Response bodies.
 */

/* rs answers status with the JSON body (taken, n bytes). */
static void
mcp_body_set(struct mcp_response *rs, int status, char *body, size_t n)
{
	free(rs->body);
	rs->body = body;
	rs->body_len = n;
	rs->status = status;
	rs->content_type = "application/json";
}

/*
 * mcp_send() of {"jsonrpc":"2.0","id":ID,"result":R} (mcp_envelope()'s
 * order) where R's text is kept (tools_render_once()): the body is written
 * around that text at once, byte for byte as json-c renders it, instead of
 * rendered into a growing buffer and copied. false when o is not such an
 * answer; else ERR_NOMEM, ERR_TOO_BIG or OK.
 */
static bool
mcp_send_kept(
    struct mcp_response *rs, int status, struct json_object *o, berr *rc)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	static const char mid[] = ",\"result\":";
	struct json_object *id, *result;
	const char *text, *idtext;
	size_t ilen, tlen, n;
	char *body;

	if (!json_object_is_type(o, json_type_object) ||
	    json_object_object_length(o) != 3 ||
	    !json_object_object_get_ex(o, "id", &id) ||
	    !json_object_object_get_ex(o, "result", &result) ||
	    (text = tools_rendered_text(result)) == NULL)
		return false;
	idtext = json_object_to_json_string_length(
	    id, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &ilen);
	if (idtext == NULL) {
		*rc = ERR_NOMEM;
		return true;
	}
	tlen = strlen(text);
	n = sizeof(head) - 1 + ilen + sizeof(mid) - 1 + tlen + 1;
	if (n > LIMIT_RESPONSE_BYTES) {
		*rc = ERR_TOO_BIG;
		return true;
	}
	if ((body = malloc(n + 1)) == NULL) {
		*rc = ERR_NOMEM;
		return true;
	}
	memcpy(body, head, sizeof(head) - 1);
	memcpy(body + sizeof(head) - 1, idtext, ilen);
	memcpy(body + sizeof(head) - 1 + ilen, mid, sizeof(mid) - 1);
	memcpy(body + n - 1 - tlen, text, tlen);
	body[n - 1] = '}';
	body[n] = '\0';
	mcp_body_set(rs, status, body, n);
	*rc = OK;
	return true;
}

/* Serialises o into rs (status, JSON body). ERR_NOMEM, ERR_TOO_BIG. */
static berr
mcp_send(struct mcp_response *rs, int status, struct json_object *o)
{
	const char *s;
	char *copy;
	size_t n;
	berr rc;

	if (mcp_send_kept(rs, status, o, &rc))
		return rc;
	s = json_object_to_json_string_ext(
	    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		return ERR_NOMEM;
	n = strlen(s);
	if (n > LIMIT_RESPONSE_BYTES)
		return ERR_TOO_BIG;
	if ((copy = strdup(s)) == NULL)
		return ERR_NOMEM;
	mcp_body_set(rs, status, copy, n);
	return OK;
}

/*
 * Adds v (taken) to o under key, a string literal: json-c keeps the
 * pointer instead of a copy of the key.
 */
static void
mcp_put(struct json_object *o, const char *key, struct json_object *v)
{
	json_object_object_add_ex(o, key, v, JSON_C_OBJECT_ADD_CONSTANT_KEY);
}

/* A new reference to the string s kept in *slot (made on first use), or
 * NULL when out of memory. Kept values are shared and never changed. */
static struct json_object *
mcp_kept_string(struct json_object **slot, const char *s)
{
	if (*slot == NULL)
		*slot = json_object_new_string(s);
	return json_object_get(*slot);
}

/* {"jsonrpc":"2.0","id":id,...}: id may be NULL (left out). */
static struct json_object *
mcp_envelope(struct json_object *id)
{
	static struct json_object *version;
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	mcp_put(o, "jsonrpc", mcp_kept_string(&version, "2.0"));
	if (id != NULL)
		mcp_put(o, "id", json_object_get(id));
	return o;
}

static int
mcp_err_status(const struct mcp_call *c, const struct mcp_err *e)
{
	if (e->status != 0)
		return e->status;
	switch (e->code) {
	case RPC_PARSE_ERROR:
	case RPC_INVALID_REQUEST:
	case RPC_HEADER_MISMATCH:
	case RPC_UNSUPPORTED_VERSION: return 400;
	case RPC_METHOD_NOT_FOUND: return c != NULL && c->modern ? 404 : 200;
	default: return 200;
	}
}

/* The error object of e (data taken). NULL when out of memory. */
static struct json_object *
mcp_err_object(struct json_object *id, struct mcp_err *e)
{
	struct json_object *o, *err;

	if ((o = mcp_envelope(id)) == NULL ||
	    (err = json_object_new_object()) == NULL) {
		json_object_put(o);
		return NULL;
	}
	json_object_object_add(err, "code", json_object_new_int(e->code));
	json_object_object_add(
	    err, "message", json_object_new_string(e->message));
	if (e->data != NULL) {
		json_object_object_add(err, "data", e->data);
		e->data = NULL;
	}
	mcp_put(o, "error", err);
	return o;
}

static berr
mcp_send_err(const struct mcp_call *c, struct mcp_response *rs,
    struct json_object *id, struct mcp_err *e)
{
	struct json_object *o = mcp_err_object(id, e);
	berr rc;

	if (o == NULL)
		return ERR_NOMEM;
	rc = mcp_send(rs, mcp_err_status(c, e), o);
	json_object_put(o);
	return rc;
}

/* The UnsupportedProtocolVersion error for requested. */
static void
mcp_err_version(struct mcp_err *e, const char *requested)
{
	struct json_object *sup = json_object_new_array();
	size_t i;

	mcp_err_set(
	    e, RPC_UNSUPPORTED_VERSION, 400, "Unsupported protocol version");
	for (i = 0; sup != NULL && mcp_versions[i] != NULL; i++)
		json_object_array_add(
		    sup, json_object_new_string(mcp_versions[i]));
	if ((e->data = json_object_new_object()) != NULL) {
		json_object_object_add(e->data, "supported", sup);
		json_object_object_add(
		    e->data, "requested", json_object_new_string(requested));
	} else {
		json_object_put(sup);
	}
}

/* ---------------------------------------------------------------------
 * Message shape.
 */

/* An id MCP accepts: string, or integer in JavaScript's safe range. */
static bool
mcp_id_valid(struct json_object *id)
{
	int64_t v;

	if (json_object_is_type(id, json_type_string))
		return true;
	if (!json_object_is_type(id, json_type_int))
		return false;
	errno = 0;
	v = json_object_get_int64(id);
	/* json-c clamps what does not fit int64; the range check catches it. */
	return v <= 9007199254740991LL && v >= -9007199254740991LL;
}

enum mcp_kind { MCP_REQUEST, MCP_NOTIFICATION, MCP_RESPONSE };

/*
 * Checks msg is a JSON-RPC 2.0 request, notification or response; sets
 * *kind, *id (borrowed; NULL for notifications), *method and *params
 * (borrowed; NULL when absent). -32600 otherwise, with *id set when the
 * id itself was fine (so the error can carry it).
 */
static bool
mcp_shape(struct json_object *msg, enum mcp_kind *kind, struct json_object **id,
    const char **method, struct json_object **params, struct mcp_err *e)
{
	struct json_object *v, *m = NULL;
	bool has_id;

	*id = NULL;
	*method = NULL;
	*params = NULL;
	if (!json_object_is_type(msg, json_type_object)) {
		mcp_err_set(e, RPC_INVALID_REQUEST, 0,
		    "Invalid Request: a message must be a JSON object");
		return false;
	}
	has_id = json_object_object_get_ex(msg, "id", &v);
	if (has_id) {
		if (!mcp_id_valid(v)) {
			mcp_err_set(e, RPC_INVALID_REQUEST, 0,
			    "Invalid Request: id must be a string or an "
			    "integer between -(2^53-1) and 2^53-1");
			return false;
		}
		*id = v;
	}
	if (!json_object_object_get_ex(msg, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		mcp_err_set(e, RPC_INVALID_REQUEST, 0,
		    "Invalid Request: jsonrpc must be \"2.0\"");
		return false;
	}
	if (!json_object_object_get_ex(msg, "method", &m)) {
		bool res = json_object_object_get_ex(msg, "result", NULL);
		bool err = json_object_object_get_ex(msg, "error", NULL);

		if (has_id && res != err) {
			*kind = MCP_RESPONSE;
			return true;
		}
		mcp_err_set(e, RPC_INVALID_REQUEST, 0,
		    "Invalid Request: method is required");
		return false;
	}
	if (!json_object_is_type(m, json_type_string) ||
	    json_object_get_string_len(m) == 0) {
		mcp_err_set(e, RPC_INVALID_REQUEST, 0,
		    "Invalid Request: method must be a non-empty string");
		return false;
	}
	*method = json_object_get_string(m);
	if (json_object_object_get_ex(msg, "params", &v)) {
		/* MCP: params is an object ({ [key: string]: any }). */
		if (!json_object_is_type(v, json_type_object)) {
			mcp_err_set(e, RPC_INVALID_REQUEST, 0,
			    "Invalid Request: params must be an object");
			return false;
		}
		*params = v;
	}
	*kind = has_id ? MCP_REQUEST : MCP_NOTIFICATION;
	return true;
}

/* params.name etc.: the member or NULL. */
static struct json_object *
mcp_param(struct json_object *params, const char *name)
{
	struct json_object *v = NULL;

	if (params == NULL || !json_object_object_get_ex(params, name, &v))
		return NULL;
	return v;
}

/* ---------------------------------------------------------------------
 * Modern (2026) header checks.
 */

/* A header value: visible ASCII, space, tab (RFC 9110 field-value). */
static bool
mcp_header_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 0x20 && *s <= 0x7E) || *s == '\t'))
			return false;
	return true;
}

/*
 * Decodes an Mcp-Name value: "=?base64?...?=" is Base64 of UTF-8, anything
 * else is taken as is. Returns a malloc'ed string, or NULL when the
 * sentinel holds bad Base64 (or no memory): the caller reports a mismatch.
 */
static char *
mcp_header_decode(const char *s)
{
	size_t len = strlen(s), n;
	unsigned char *out;
	int m;

	if (len < 11 || strncmp(s, "=?base64?", 9) != 0 ||
	    strcmp(s + len - 2, "?=") != 0)
		return strdup(s);
	s += 9;
	n = len - 11;
	if (n % 4 != 0 || (out = malloc(n / 4 * 3 + 1)) == NULL)
		return NULL;
	if ((m = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n)) < 0) {
		free(out);
		return NULL;
	}
	/* EVP_DecodeBlock counts padding as output bytes. */
	if (n > 0 && s[n - 1] == '=')
		m--;
	if (n > 1 && s[n - 2] == '=')
		m--;
	out[m] = '\0';
	if (strlen((char *)out) != (size_t)m) { /* an embedded NUL */
		free(out);
		return NULL;
	}
	return (char *)out;
}

/*
 * The 2026 request metadata checks (see the top of the file). OK, or
 * false with e set to HeaderMismatch.
 */
static bool
mcp_modern_headers(const struct mcp_request *rq, enum mcp_kind kind,
    const char *method, struct json_object *params, struct mcp_err *e)
{
	struct json_object *meta, *v, *caps;
	const char *want = NULL;
	char *name;
	bool same;

	if (rq->mcp_method != NULL && !mcp_header_clean(rq->mcp_method)) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: Mcp-Method holds invalid characters");
		return false;
	}
	if (kind == MCP_NOTIFICATION) {
		if (rq->mcp_method != NULL &&
		    strcmp(rq->mcp_method, method) != 0) {
			mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
			    "Header mismatch: Mcp-Method header does not "
			    "match the body's method");
			return false;
		}
		return true;
	}
	meta = mcp_param(params, "_meta");
	if (meta == NULL || !json_object_is_type(meta, json_type_object) ||
	    !json_object_object_get_ex(meta, META_VERSION, &v) ||
	    !json_object_is_type(v, json_type_string)) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: MCP-Protocol-Version header is not "
		    "matched by params._meta[\"" META_VERSION "\"]");
		return false;
	}
	if (strcmp(json_object_get_string(v), rq->protocol_version) != 0) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: MCP-Protocol-Version header value '%s' "
		    "does not match body value '%.32s'",
		    rq->protocol_version, json_object_get_string(v));
		return false;
	}
	/*
	 * clientCapabilities is "Required" in RequestMetaObject, but the
	 * spec names no error for its absence; we read it as {} (an empty
	 * object "means the client supports no optional capabilities") and
	 * only refuse a value of the wrong type.
	 */
	if (json_object_object_get_ex(meta, META_CLIENT_CAPS, &caps) &&
	    !json_object_is_type(caps, json_type_object)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 200,
		    "Invalid params: params._meta[\"" META_CLIENT_CAPS
		    "\"] must be an object");
		return false;
	}
	if (rq->mcp_method == NULL) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: required header Mcp-Method is missing");
		return false;
	}
	if (strcmp(rq->mcp_method, method) != 0) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: Mcp-Method header value '%.64s' does "
		    "not match body value '%.64s'",
		    rq->mcp_method, method);
		return false;
	}
	if (!strcmp(method, "tools/call") || !strcmp(method, "prompts/get"))
		v = mcp_param(params, "name");
	else if (!strcmp(method, "resources/read"))
		v = mcp_param(params, "uri");
	else
		return true;
	/* A body without the name is -32602 later, not a header fault. */
	if (v == NULL || !json_object_is_type(v, json_type_string))
		return true;
	want = json_object_get_string(v);
	if (rq->mcp_name == NULL) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: required header Mcp-Name is missing");
		return false;
	}
	if (!mcp_header_clean(rq->mcp_name)) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: Mcp-Name holds invalid characters");
		return false;
	}
	name = mcp_header_decode(rq->mcp_name);
	same = name != NULL && strcmp(name, want) == 0;
	free(name);
	if (!same) {
		mcp_err_set(e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: Mcp-Name header does not match the "
		    "body value");
		return false;
	}
	return true;
}

/* ---------------------------------------------------------------------
 * Methods. Each returns OK with *result set, or OK with e->code set, or
 * ERR_NOMEM.
 */

/* serverInfo, the same for every answer: a new reference to one object
 * kept for the process (shared: not to be changed). NULL: no memory. */
static struct json_object *
mcp_server_info(void)
{
	static struct json_object *kept;
	struct json_object *o;

	if (kept == NULL) {
		if ((o = json_object_new_object()) == NULL)
			return NULL;
		json_object_object_add(
		    o, "name", json_object_new_string("berth"));
		json_object_object_add(
		    o, "title", json_object_new_string("Berth"));
		json_object_object_add(
		    o, "version", json_object_new_string(PACKAGE_VERSION));
		(void)tools_render_once(o);
		kept = o;
	}
	return json_object_get(kept);
}

/*
 * The server's capabilities. resources.subscribe only in the 2025 era
 * (2026-07-28 replaced resources/subscribe with subscriptions/listen,
 * which Berth does not serve) and only when the store keeps
 * subscriptions.
 */
static struct json_object *
mcp_capabilities(const struct mcp_ctx *ctx, bool modern)
{
	struct json_object *o = json_object_new_object(), *tools, *res;

	if (o == NULL)
		return NULL;
	tools = json_object_new_object();
	json_object_object_add(
	    tools, "listChanged", json_object_new_boolean(0));
	json_object_object_add(o, "tools", tools);
	json_object_object_add(o, "prompts", json_object_new_object());
	res = json_object_new_object();
	if (!modern && ctx->store->subscribe != NULL &&
	    ctx->store->unsubscribe != NULL)
		json_object_object_add(
		    res, "subscribe", json_object_new_boolean(1));
	json_object_object_add(o, "resources", res);
	json_object_object_add(o, "logging", json_object_new_object());
	json_object_object_add(o, "completions", json_object_new_object());
	return o;
}

/* JSON text of v (an object) or "{}"; for the session store. */
static const char *
mcp_json_text(struct json_object *v)
{
	if (v == NULL || !json_object_is_type(v, json_type_object))
		return "{}";
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

static void mcp_modern_result(const char *method, struct json_object *r);

/*
 * Kept tools/list results: the whole result around a page tools_list()
 * keeps (tools_page_kept()), per era, its text rendered once, so a repeated
 * listing costs neither building nor rendering it. Matched by the page's
 * identity, which is held so no other array can take its address, and the
 * era; a kept page's nextCursor is fixed with it. Pages the registry
 * forgets (a provider change) are never returned again, so their results
 * just age out of these slots.
 */
#define MCP_KEPT_RESULTS 4
static struct mcp_kept {
	struct json_object *page;   /* held; NULL: free slot */
	struct json_object *result; /* held, rendered once */
	bool modern;
} mcp_kept_results[MCP_KEPT_RESULTS];
static size_t mcp_kept_next;

/* A new reference to the kept result of page in this era, or NULL. */
static struct json_object *
mcp_kept_find(const struct json_object *page, bool modern)
{
	size_t i;

	for (i = 0; i < MCP_KEPT_RESULTS; i++)
		if (mcp_kept_results[i].page == page &&
		    mcp_kept_results[i].modern == modern)
			return json_object_get(mcp_kept_results[i].result);
	return NULL;
}

/* Keeps result (a reference is taken) for page; a result that cannot be
 * rendered is simply not kept. */
static void
mcp_kept_add(struct json_object *page, bool modern, struct json_object *result)
{
	struct mcp_kept *k = &mcp_kept_results[mcp_kept_next];

	if (!tools_render_once(result))
		return;
	json_object_put(k->page);
	json_object_put(k->result);
	k->page = json_object_get(page);
	k->result = json_object_get(result);
	k->modern = modern;
	mcp_kept_next = (mcp_kept_next + 1) % MCP_KEPT_RESULTS;
}

/* Maps a store error into e (503 when the database is down). */
static void
mcp_err_store(struct mcp_err *e, berr rc)
{
	if (rc == ERR_DB_DOWN)
		mcp_err_set(e, RPC_INTERNAL_ERROR, 503,
		    "Service temporarily unavailable");
	else
		mcp_err_set(e, RPC_INTERNAL_ERROR, 500, "Internal error");
}

static berr
mcp_initialize(struct mcp_call *c, struct json_object *params,
    struct json_object **result, struct mcp_err *e, struct mcp_response *rs)
{
	struct json_object *pv, *info, *caps, *r;
	struct mcp_session s;
	const char *want, *version;
	berr rc;

	pv = mcp_param(params, "protocolVersion");
	if (pv == NULL || !json_object_is_type(pv, json_type_string)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.protocolVersion must be a string");
		return OK;
	}
	/*
	 * capabilities and clientInfo are required by the schema; clients
	 * that leave them out are served anyway ({}), wrong types refused.
	 */
	caps = mcp_param(params, "capabilities");
	info = mcp_param(params, "clientInfo");
	if (caps != NULL && !json_object_is_type(caps, json_type_object)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.capabilities must be an object");
		return OK;
	}
	if (info != NULL && !json_object_is_type(info, json_type_object)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.clientInfo must be an object");
		return OK;
	}
	/*
	 * 2025 lifecycle: "If the server supports the requested protocol
	 * version, it MUST respond with the same version. Otherwise, the
	 * server MUST respond with another protocol version it supports.
	 * This SHOULD be the latest version supported by the server." Only
	 * legacy versions have an initialize, so 2026-07-28 is answered with
	 * the latest legacy one.
	 */
	want = json_object_get_string(pv);
	version = mcp_version_legacy(want) ? want : MCP_LEGACY_LATEST;
	memset(&s, 0, sizeof(s));
	rc =
	    c->ctx->store->create(c->ctx->store->arg, c->p, c->ctx->environment,
	        version, mcp_json_text(info), mcp_json_text(caps), &s);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc != OK) {
		mcp_err_store(e, rc);
		return OK;
	}
	snprintf(rs->session_id, sizeof(rs->session_id), "%s", s.id);
	if ((r = json_object_new_object()) == NULL)
		return ERR_NOMEM;
	json_object_object_add(
	    r, "protocolVersion", json_object_new_string(version));
	json_object_object_add(
	    r, "capabilities", mcp_capabilities(c->ctx, false));
	json_object_object_add(r, "serverInfo", mcp_server_info());
	json_object_object_add(
	    r, "instructions", json_object_new_string(mcp_instructions));
	*result = r;
	return OK;
}

static struct tool_call_ctx
mcp_tool_ctx(const struct mcp_call *c)
{
	struct tool_call_ctx t = { 0 };

	t.cfg = c->ctx->cfg;
	t.db = c->ctx->db;
	t.principal = c->p;
	t.environment = c->ctx->environment;
	t.request_id = c->rq->request_id;
	t.client_ip = c->rq->client_ip;
	return t;
}

static berr
mcp_tools_list(struct mcp_call *c, struct json_object *params,
    struct json_object **result, struct mcp_err *e)
{
	struct tool_call_ctx t = mcp_tool_ctx(c);
	struct json_object *cur = mcp_param(params, "cursor"), *tools, *r;
	char *next = NULL;
	bool kept;
	berr rc;

	if (cur != NULL && !json_object_is_type(cur, json_type_string)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.cursor must be a string");
		return OK;
	}
	rc = tools_list(&t, cur != NULL ? json_object_get_string(cur) : NULL,
	    MCP_PAGE_SIZE, &tools, &next);
	if (rc == ERR_INVALID) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.cursor is not a valid cursor");
		return OK;
	}
	if (rc == ERR_NOMEM)
		return rc;
	if (rc != OK) {
		mcp_err_store(e, rc);
		return OK;
	}
	kept = tools_page_kept(tools);
	if (kept && (*result = mcp_kept_find(tools, c->modern)) != NULL) {
		c->result_whole = true;
		json_object_put(tools);
		free(next);
		return OK;
	}
	if ((r = json_object_new_object()) == NULL) {
		json_object_put(tools);
		free(next);
		return ERR_NOMEM;
	}
	mcp_put(r, "tools", tools);
	if (next != NULL)
		mcp_put(r, "nextCursor", json_object_new_string(next));
	free(next);
	if (c->modern)
		mcp_modern_result("tools/list", r);
	c->result_whole = true;
	if (kept)
		mcp_kept_add(tools, c->modern, r);
	*result = r;
	return OK;
}

/* ---------------------------------------------------------------------
 * Streaming: a tools/call that may take long (tools_call_waits(), e.g.
 * get_run with wait_seconds).
 *
 * Such a call first takes a slot from the transport (mcp_stream_ops
 * acquire: a cap shared by all workers of a responder, so clients that
 * wait, or never read their stream, cannot hold every worker); at the cap
 * it is refused with 503 (-32000, Retry-After) rather than queued. When
 * the client's Accept names text/event-stream, the answer is an SSE
 * stream: progress notifications (only when the request's
 * _meta.progressToken is set: 2025 and 2026 basic/utilities/progress),
 * log notifications (notifications/message at or above the session's
 * logging/setLevel level in the 2025 era; in the 2026 era only when the
 * request's _meta["io.modelcontextprotocol/logLevel"] asks, as its
 * changelog requires), ":" keep-alive comments on a quiet stream, then the
 * response as the last event. Events carry no "id:": a stream lives in
 * one worker and is not stored, so it cannot be resumed with
 * Last-Event-ID (2025: "MAY attach an id"; 2026: resumption removed); a
 * client that loses a stream asks again.
 *
 * Cancellation: 2026 "Closing the SSE response stream MUST be treated by
 * the server as cancellation": a failed write, or the web server closing
 * the FastCGI connection, sets gone. 2025: notifications/cancelled arrives
 * on another POST, maybe at another responder; it leaves a marker in
 * PostgreSQL (mcp_store cancel, table mcp_cancels), and the waiting call
 * looks for it once a second. Either way the tool stops, and no response
 * follows ("SHOULD NOT send a response for the cancelled request").
 */

/* Writes msg as one event of c's stream; a failure means the client left. */
static void
mcp_stream_write(struct mcp_call *c, struct json_object *msg)
{
	const struct mcp_stream_ops *ops = c->ctx->stream;
	const char *s;
	size_t n;

	if (!c->sse || c->gone || ops == NULL || msg == NULL)
		return;
	s = json_object_to_json_string_ext(
	    msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s == NULL)
		return;
	n = strlen(s);
	if (n > LIMIT_RESPONSE_BYTES) {
		log_error("mcp: event over %d bytes dropped (request %s)",
		    LIMIT_RESPONSE_BYTES,
		    c->rq->request_id != NULL ? c->rq->request_id : "-");
		return;
	}
	if (ops->event(ops->arg, s, n) != OK)
		c->gone = true;
	c->last_write_ms = clock_ms_frac();
}

/* {"jsonrpc":"2.0","method":method,"params":params (taken)}. */
static struct json_object *
mcp_notification(const char *method, struct json_object *params)
{
	struct json_object *o = mcp_envelope(NULL);

	if (o == NULL) {
		json_object_put(params);
		return NULL;
	}
	json_object_object_add(o, "method", json_object_new_string(method));
	json_object_object_add(o, "params", params);
	return o;
}

/* A whole number as an int (so it prints as 3, not 3.0), else a double. */
static struct json_object *
mcp_number(double v)
{
	if (v == (double)(int64_t)v && v < 9007199254740991.0 &&
	    v > -9007199254740991.0)
		return json_object_new_int64((int64_t)v);
	return json_object_new_double(v);
}

static void
mcp_ts_progress(void *arg, double progress, double total, const char *message)
{
	struct mcp_call *c = arg;
	struct json_object *pa, *o;

	/* Progress "MUST increase with each notification". */
	if (c->progress_token == NULL || !c->sse || c->gone ||
	    progress <= c->last_progress)
		return;
	c->last_progress = progress;
	if ((pa = json_object_new_object()) == NULL)
		return;
	json_object_object_add(
	    pa, "progressToken", json_object_get(c->progress_token));
	json_object_object_add(pa, "progress", mcp_number(progress));
	if (total > 0)
		json_object_object_add(pa, "total", mcp_number(total));
	if (message != NULL)
		json_object_object_add(
		    pa, "message", json_object_new_string(message));
	o = mcp_notification("notifications/progress", pa);
	mcp_stream_write(c, o);
	json_object_put(o);
}

/* Index of level in mcp_log_levels, or -1. */
static int
mcp_log_index(const char *level)
{
	int i;

	for (i = 0; level != NULL && mcp_log_levels[i] != NULL; i++)
		if (strcmp(mcp_log_levels[i], level) == 0)
			return i;
	return -1;
}

static void
mcp_ts_log(void *arg, const char *level, const char *message)
{
	struct mcp_call *c = arg;
	struct json_object *pa, *o;
	int i = mcp_log_index(level);

	if (i < 0 || c->log_min < 0 || i < c->log_min || !c->sse || c->gone)
		return;
	if ((pa = json_object_new_object()) == NULL)
		return;
	json_object_object_add(pa, "level", json_object_new_string(level));
	json_object_object_add(pa, "logger", json_object_new_string("berth"));
	json_object_object_add(pa, "data", json_object_new_string(message));
	o = mcp_notification("notifications/message", pa);
	mcp_stream_write(c, o);
	json_object_put(o);
}

static bool
mcp_ts_cancelled(void *arg)
{
	struct mcp_call *c = arg;
	const struct mcp_stream_ops *ops = c->ctx->stream;
	const struct mcp_store *st = c->ctx->store;
	int keepalive = c->ctx->keepalive_ms > 0 ? c->ctx->keepalive_ms
	                                         : MCP_KEEPALIVE_DEFAULT_MS;
	double now = clock_ms_frac();
	bool yes = false;

	if (c->gone || c->cancelled)
		return true;
	if (ops != NULL && ops->gone != NULL && ops->gone(ops->arg))
		c->gone = true;
	if (c->sse && !c->gone && ops != NULL &&
	    now - c->last_write_ms >= keepalive) {
		if (ops->comment(ops->arg) != OK)
			c->gone = true;
		c->last_write_ms = now;
	}
	if (!c->modern && c->sess != NULL && c->request_key[0] != '\0' &&
	    st != NULL && st->cancelled != NULL &&
	    now - c->last_check_ms >= MCP_CANCEL_CHECK_MS) {
		c->last_check_ms = now;
		if (st->cancelled(st->arg, c->sess->id, c->request_key, &yes) ==
		        OK &&
		    yes)
			c->cancelled = true;
	}
	return c->gone || c->cancelled;
}

/*
 * Reads params._meta of a tools/call for streaming: progressToken (a
 * string of at most MCP_PROGRESS_TOKEN_MAX bytes or an integer within
 * +-(2^53-1), like an id) and, 2026 era, logLevel. false with e set
 * (-32602) for a value of the wrong shape.
 */
/*
 * tool_stream request: a server-to-client request on this call's SSE
 * stream (2025 era only: 2026-07-28 embeds such requests in results
 * instead). The pending request is recorded in the store first, and only
 * when the session's client declared capability, so the client's answer
 * - a POST that may reach any responder - finds it (mcp_message); this
 * worker then polls for it, keeping the stream alive and watching for
 * cancellation meanwhile.
 */
static berr
mcp_ts_request(void *arg, const char *method, const char *capability,
    struct json_object *params, struct json_object **result)
{
	struct mcp_call *c = arg;
	const struct mcp_store *st = c->ctx->store;
	struct json_object *msg = NULL, *ans = NULL, *v;
	unsigned char raw[8];
	char rid[sizeof(MCP_ASK_PREFIX) + 16], key[sizeof(rid) + 2];
	char *text = NULL;
	struct timespec nap = { 0, MCP_ASK_POLL_MS * 1000000L };
	double deadline;
	size_t i, k;
	berr rc;

	*result = NULL;
	if (c->modern || c->sess == NULL || !c->sse || c->gone ||
	    st->ask == NULL || st->answered == NULL) {
		rc = ERR_NOT_FOUND;
		goto out;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		rc = ERR_INTERNAL;
		goto out;
	}
	i = (size_t)snprintf(rid, sizeof(rid), "%s", MCP_ASK_PREFIX);
	for (k = 0; k < sizeof(raw) && i + 2 < sizeof(rid); k++, i += 2)
		snprintf(rid + i, sizeof(rid) - i, "%02x", raw[k]);
	snprintf(key, sizeof(key), "\"%s\"", rid);
	if ((rc = st->ask(st->arg, c->sess->id, key, capability)) != OK)
		goto out; /* ERR_DENIED: no such capability */
	if ((msg = mcp_envelope(NULL)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	json_object_object_add(msg, "id", json_object_new_string(rid));
	json_object_object_add(msg, "method", json_object_new_string(method));
	json_object_object_add(msg, "params", params);
	params = NULL;
	mcp_stream_write(c, msg);
	deadline = clock_ms_frac() + MCP_ASK_TIMEOUT_MS;
	for (;;) {
		if (mcp_ts_cancelled(c) || clock_ms_frac() > deadline) {
			rc = ERR_IO;
			goto out;
		}
		rc = st->answered(st->arg, c->sess->id, key, &text);
		if (rc != OK)
			goto out;
		if (text != NULL)
			break;
		nanosleep(&nap, NULL);
	}
	ans = json_tokener_parse(text);
	if (ans != NULL && json_object_object_get_ex(ans, "result", &v) &&
	    json_object_is_type(v, json_type_object)) {
		*result = json_object_get(v);
		rc = OK;
	} else {
		rc = ERR_DENIED; /* an error response, or nonsense */
	}
out:
	free(text);
	json_object_put(ans);
	json_object_put(msg);
	json_object_put(params);
	return rc;
}

static bool
mcp_stream_meta(
    struct mcp_call *c, struct json_object *params, struct mcp_err *e)
{
	struct json_object *meta = mcp_param(params, "_meta"), *v;

	c->progress_token = NULL;
	c->log_min = -1;
	if (!c->modern && c->sess != NULL)
		c->log_min = mcp_log_index(c->sess->log_level);
	if (meta == NULL || !json_object_is_type(meta, json_type_object))
		return true;
	if (json_object_object_get_ex(meta, "progressToken", &v)) {
		if (!mcp_id_valid(v) ||
		    (json_object_is_type(v, json_type_string) &&
		        json_object_get_string_len(v) >
		            MCP_PROGRESS_TOKEN_MAX)) {
			mcp_err_set(e, RPC_INVALID_PARAMS, 0,
			    "Invalid params: params._meta.progressToken must "
			    "be a string of at most %d bytes or an integer "
			    "between -(2^53-1) and 2^53-1",
			    MCP_PROGRESS_TOKEN_MAX);
			return false;
		}
		c->progress_token = v;
	}
	if (c->modern && json_object_object_get_ex(meta, META_LOG_LEVEL, &v)) {
		if (!json_object_is_type(v, json_type_string) ||
		    (c->log_min = mcp_log_index(json_object_get_string(v))) <
		        0) {
			mcp_err_set(e, RPC_INVALID_PARAMS, 0,
			    "Invalid params: params._meta[\"" META_LOG_LEVEL
			    "\"] must be one of debug, info, notice, warning, "
			    "error, critical, alert, emergency");
			return false;
		}
	}
	return true;
}

/*
 * params.name (a string) and params.arguments (an object, or absent: NULL)
 * of tools/call and prompts/get; false with e set when either has the
 * wrong type.
 */
static bool
mcp_named_params(struct json_object *params, struct json_object **name,
    struct json_object **args, struct mcp_err *e)
{
	*name = mcp_param(params, "name");
	*args = mcp_param(params, "arguments");
	if (*name == NULL || !json_object_is_type(*name, json_type_string)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.name must be a string");
		return false;
	}
	if (*args != NULL && !json_object_is_type(*args, json_type_object)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.arguments must be an object");
		return false;
	}
	return true;
}

static berr
mcp_tools_call(struct mcp_call *c, struct json_object *params,
    struct json_object **result, struct mcp_err *e)
{
	struct tool_call_ctx t = mcp_tool_ctx(c);
	struct json_object *name;
	struct json_object *args;
	const struct mcp_stream_ops *ops = c->ctx->stream;
	struct tool_stream ts = { c, mcp_ts_progress, mcp_ts_log,
		mcp_ts_cancelled, mcp_ts_request };
	const char *key;
	bool slot = false;
	berr rc;

	if (!mcp_named_params(params, &name, &args, e))
		return OK;
	if (!mcp_stream_meta(c, params, e))
		return OK;
	if (tools_call_waits(c->ctx->cfg, json_object_get_string(name), args)) {
		if (ops != NULL) {
			if (!ops->acquire(ops->arg)) {
				mcp_err_set(e, RPC_SERVER_ERROR, 503,
				    "Server busy: too many long-running "
				    "requests in progress; retry later");
				return OK;
			}
			slot = true;
		}
		c->request_key[0] = '\0';
		if (c->id != NULL &&
		    (key = json_object_to_json_string_ext(
		         c->id, JSON_C_TO_STRING_PLAIN)) != NULL &&
		    strlen(key) <= MCP_REQUEST_KEY_MAX)
			snprintf(
			    c->request_key, sizeof(c->request_key), "%s", key);
		c->last_write_ms = c->last_check_ms = clock_ms_frac();
		c->last_progress = 0;
		if (ops != NULL && c->accept_sse && !c->in_batch) {
			c->sse = true;
			c->rs->streamed = true;
			if (ops->open(ops->arg) != OK)
				c->gone = true;
		}
		t.stream = &ts;
	}
	rc = tools_call(&t, json_object_get_string(name), args, result);
	if (slot)
		ops->release(ops->arg);
	if (rc == ERR_NOT_FOUND) {
		/*
		 * Every era's server/tools page lists "Unknown tools" under
		 * Protocol Errors, with this very example (-32602, "Unknown
		 * tool: NAME"). A tool that exists but is forbidden stays an
		 * isError result with the permission it needs (the issue's
		 * rule; built-in tool names are public), and so do bad
		 * arguments: 2025-11-25 and 2026 call input validation a
		 * Tool Execution Error, and Berth answers older versions the
		 * same way (README, "Errors").
		 */
		mcp_err_set(e, RPC_INVALID_PARAMS, 0, "Unknown tool: %.64s",
		    json_object_get_string(name));
		return OK;
	}
	return rc;
}

static berr
mcp_set_level(struct mcp_call *c, struct json_object *params,
    struct json_object **result, struct mcp_err *e)
{
	struct json_object *lv = mcp_param(params, "level");
	size_t i;
	berr rc;

	for (i = 0; lv != NULL && json_object_is_type(lv, json_type_string) &&
	     mcp_log_levels[i] != NULL;
	     i++)
		if (strcmp(mcp_log_levels[i], json_object_get_string(lv)) == 0)
			break;
	if (lv == NULL || !json_object_is_type(lv, json_type_string) ||
	    mcp_log_levels[i] == NULL) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.level must be one of debug, info, "
		    "notice, warning, error, critical, alert, emergency");
		return OK;
	}
	rc = c->ctx->store->set_log_level(
	    c->ctx->store->arg, c->p, c->sess->id, mcp_log_levels[i]);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc == ERR_NOT_FOUND) {
		mcp_err_set(e, RPC_SESSION_NOT_FOUND, 404, "Session not found");
		return OK;
	}
	if (rc != OK) {
		mcp_err_store(e, rc);
		return OK;
	}
	*result = json_object_new_object();
	return *result == NULL ? ERR_NOMEM : OK;
}

static berr
mcp_complete(
    struct json_object *params, struct json_object **result, struct mcp_err *e)
{
	struct json_object *ref = mcp_param(params, "ref");
	struct json_object *arg = mcp_param(params, "argument");
	struct json_object *r, *comp;

	if (ref == NULL || !json_object_is_type(ref, json_type_object)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.ref must be an object");
		return OK;
	}
	if (arg == NULL || !json_object_is_type(arg, json_type_object)) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.argument must be an object");
		return OK;
	}
	/* CompleteResult: {completion: {values, total?, hasMore?}}. */
	if ((r = json_object_new_object()) == NULL ||
	    (comp = json_object_new_object()) == NULL) {
		json_object_put(r);
		return ERR_NOMEM;
	}
	json_object_object_add(comp, "values", json_object_new_array());
	json_object_object_add(comp, "total", json_object_new_int(0));
	json_object_object_add(comp, "hasMore", json_object_new_boolean(0));
	json_object_object_add(r, "completion", comp);
	*result = r;
	return OK;
}

static berr
mcp_discover(const struct mcp_ctx *ctx, struct json_object **result)
{
	struct json_object *r, *v;
	size_t i;

	if ((r = json_object_new_object()) == NULL ||
	    (v = json_object_new_array()) == NULL) {
		json_object_put(r);
		return ERR_NOMEM;
	}
	for (i = 0; mcp_versions[i] != NULL; i++)
		json_object_array_add(
		    v, json_object_new_string(mcp_versions[i]));
	json_object_object_add(r, "supportedVersions", v);
	json_object_object_add(r, "capabilities", mcp_capabilities(ctx, true));
	/*
	 * DiscoverResult names no serverInfo member (identity goes in
	 * _meta, added for every modern result); Result allows extra
	 * members, and some clients read it here, so it is in both.
	 */
	json_object_object_add(r, "serverInfo", mcp_server_info());
	json_object_object_add(
	    r, "instructions", json_object_new_string(mcp_instructions));
	*result = r;
	return OK;
}

/* ---------------------------------------------------------------------
 * Prompts and resources (shared/prompts.h).
 */

static struct prompts_ctx
mcp_prompts_ctx(const struct mcp_call *c)
{
	struct prompts_ctx t = { c->ctx->cfg, c->p, c->ctx->environment };

	return t;
}

/*
 * {"<key>": [...]} from list. The lists are short and static: one page,
 * no nextCursor; a cursor (which Berth never hands out) is -32602, as for
 * tools/list.
 */
static berr
mcp_list(struct mcp_call *c, struct json_object *params, const char *key,
    berr (*list)(const struct prompts_ctx *, struct json_object **),
    struct json_object **result, struct mcp_err *e)
{
	struct prompts_ctx t = mcp_prompts_ctx(c);
	struct json_object *cur = mcp_param(params, "cursor"), *a, *r;
	berr rc;

	if (cur != NULL) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.cursor is not a valid cursor");
		return OK;
	}
	if ((rc = list(&t, &a)) != OK)
		return rc;
	if ((r = json_object_new_object()) == NULL) {
		json_object_put(a);
		return ERR_NOMEM;
	}
	json_object_object_add(r, key, a);
	*result = r;
	return OK;
}

static berr
mcp_prompts_get(struct mcp_call *c, struct json_object *params,
    struct json_object **result, struct mcp_err *e)
{
	struct prompts_ctx t = mcp_prompts_ctx(c);
	struct json_object *name;
	struct json_object *args;
	char why[160];
	berr rc;

	if (!mcp_named_params(params, &name, &args, e))
		return OK;
	rc = prompts_get(
	    &t, json_object_get_string(name), args, result, why, sizeof(why));
	/* server/prompts "Error Handling": invalid prompt name, missing
	 * required arguments: -32602. */
	if (rc == ERR_NOT_FOUND) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: unknown prompt: %.64s",
		    json_object_get_string(name));
		return OK;
	}
	if (rc == ERR_INVALID) {
		mcp_err_set(
		    e, RPC_INVALID_PARAMS, 0, "Invalid params: %s", why);
		return OK;
	}
	return rc;
}

/* params.uri as a string, or NULL with e set. */
static const char *
mcp_uri_param(struct json_object *params, struct mcp_err *e)
{
	struct json_object *uri = mcp_param(params, "uri");

	if (uri == NULL || !json_object_is_type(uri, json_type_string) ||
	    json_object_get_string_len(uri) == 0) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.uri must be a non-empty string");
		return NULL;
	}
	return json_object_get_string(uri);
}

/* Resource not found: -32002 with data {uri} (server/resources). */
static void
mcp_err_resource(struct mcp_err *e, const char *uri)
{
	mcp_err_set(e, RPC_RESOURCE_NOT_FOUND, 0, "Resource not found");
	if ((e->data = json_object_new_object()) != NULL)
		json_object_object_add(
		    e->data, "uri", json_object_new_string(uri));
}

static berr
mcp_resources_read(struct mcp_call *c, struct json_object *params,
    struct json_object **result, struct mcp_err *e)
{
	struct prompts_ctx t = mcp_prompts_ctx(c);
	const char *uri = mcp_uri_param(params, e);
	berr rc;

	if (uri == NULL)
		return OK;
	rc = resources_read(&t, uri, result);
	if (rc == ERR_NOT_FOUND) {
		mcp_err_resource(e, uri);
		return OK;
	}
	return rc;
}

/*
 * resources/subscribe and resources/unsubscribe (2025 era; see
 * mcp_capabilities()). The subscription lives with the session in the
 * store, so any responder sees it and it ends with the session. Only a
 * resource the caller could read may be subscribed to (else -32002, as
 * resources/read); unsubscribing is always allowed.
 */
static berr
mcp_subscribe(struct mcp_call *c, struct json_object *params, bool on,
    struct json_object **result, struct mcp_err *e)
{
	struct prompts_ctx t = mcp_prompts_ctx(c);
	const struct mcp_store *st = c->ctx->store;
	const char *uri = mcp_uri_param(params, e);
	berr rc;

	if (uri == NULL)
		return OK;
	if (strlen(uri) > LIMIT_MCP_URI) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: params.uri is longer than %d bytes",
		    LIMIT_MCP_URI);
		return OK;
	}
	if (on && !resources_exists(&t, uri)) {
		mcp_err_resource(e, uri);
		return OK;
	}
	rc = on ? st->subscribe(st->arg, c->sess->id, uri)
	        : st->unsubscribe(st->arg, c->sess->id, uri);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc == ERR_TOO_BIG) {
		mcp_err_set(e, RPC_INVALID_PARAMS, 0,
		    "Invalid params: this session holds the most "
		    "subscriptions allowed (%d)",
		    LIMIT_MCP_SUBSCRIPTIONS);
		return OK;
	}
	if (rc != OK) {
		mcp_err_store(e, rc);
		return OK;
	}
	*result = json_object_new_object();
	return *result == NULL ? ERR_NOMEM : OK;
}

/* Is method one whose result is a CacheableResult (2026)? */
static bool
mcp_cacheable(const char *method)
{
	return !strcmp(method, "tools/list") ||
	    !strcmp(method, "prompts/list") ||
	    !strcmp(method, "resources/list") ||
	    !strcmp(method, "resources/templates/list") ||
	    !strcmp(method, "server/discover");
}

/* Adds what every 2026 result carries. */
static void
mcp_modern_result(const char *method, struct json_object *r)
{
	static struct json_object *kept_meta, *complete, *scope[2];
	struct json_object *meta;

	mcp_put(r, "resultType", mcp_kept_string(&complete, "complete"));
	if (json_object_object_get_ex(r, "_meta", &meta))
		json_object_object_add(
		    meta, META_SERVER_INFO, mcp_server_info());
	else {
		/* The usual _meta, {serverInfo} alone: kept and shared, like
		 * serverInfo itself. */
		if (kept_meta == NULL &&
		    (meta = json_object_new_object()) != NULL) {
			json_object_object_add(
			    meta, META_SERVER_INFO, mcp_server_info());
			(void)tools_render_once(meta);
			kept_meta = meta;
		}
		mcp_put(r, "_meta", json_object_get(kept_meta));
	}
	if (mcp_cacheable(method)) {
		bool discover = strcmp(method, "server/discover") == 0;

		/*
		 * Lists depend on the caller's roles: private, and stale at
		 * once so a role change shows on the next request. Discovery
		 * is the same for everyone.
		 */
		mcp_put(r, "ttlMs", json_object_new_int(discover ? 300000 : 0));
		mcp_put(r, "cacheScope",
		    discover ? mcp_kept_string(&scope[0], "public")
		             : mcp_kept_string(&scope[1], "private"));
	}
}

/* Dispatches one request; see "Methods" above. */
static berr
mcp_dispatch(struct mcp_call *c, const char *method, struct json_object *params,
    struct json_object **result, struct mcp_err *e, struct mcp_response *rs)
{
	berr rc = OK;

	*result = NULL;
	c->result_whole = false;
	if (!c->modern && strcmp(method, "initialize") == 0)
		rc = mcp_initialize(c, params, result, e, rs);
	else if (!c->modern && strcmp(method, "ping") == 0)
		rc = (*result = json_object_new_object()) ? OK : ERR_NOMEM;
	else if (!c->modern && strcmp(method, "logging/setLevel") == 0)
		rc = mcp_set_level(c, params, result, e);
	else if (c->modern && strcmp(method, "server/discover") == 0)
		rc = mcp_discover(c->ctx, result);
	else if (strcmp(method, "tools/list") == 0)
		rc = mcp_tools_list(c, params, result, e);
	else if (strcmp(method, "tools/call") == 0)
		rc = mcp_tools_call(c, params, result, e);
	else if (strcmp(method, "prompts/list") == 0)
		rc = mcp_list(c, params, "prompts", prompts_list, result, e);
	else if (strcmp(method, "prompts/get") == 0)
		rc = mcp_prompts_get(c, params, result, e);
	else if (strcmp(method, "resources/list") == 0)
		rc =
		    mcp_list(c, params, "resources", resources_list, result, e);
	else if (strcmp(method, "resources/templates/list") == 0)
		rc = mcp_list(c, params, "resourceTemplates",
		    resources_templates_list, result, e);
	else if (strcmp(method, "resources/read") == 0)
		rc = mcp_resources_read(c, params, result, e);
	else if (!c->modern && c->ctx->store->subscribe != NULL &&
	    c->ctx->store->unsubscribe != NULL &&
	    (strcmp(method, "resources/subscribe") == 0 ||
	        strcmp(method, "resources/unsubscribe") == 0))
		rc = mcp_subscribe(c, params,
		    strcmp(method, "resources/subscribe") == 0, result, e);
	else if (strcmp(method, "completion/complete") == 0)
		rc = mcp_complete(params, result, e);
	else
		mcp_err_set(e, RPC_METHOD_NOT_FOUND, 0,
		    "Method not found: %.64s", method);
	if (rc == OK && *result != NULL && c->modern && !c->result_whole)
		mcp_modern_result(method, *result);
	return rc;
}

/* ---------------------------------------------------------------------
 * Messages.
 */

/*
 * notifications/cancelled (2025 era): leaves a marker for the request it
 * names in this session, for whichever responder runs it. "Invalid
 * cancellation notifications SHOULD be ignored", and a request that is
 * unknown or already finished is simply never looked for: a requestId that
 * is not a valid id, or too long to be a key, is dropped; a store error is
 * logged (the notification is still answered 202: the client cannot do
 * better by sending it again).
 */
static void
mcp_note_cancel(struct mcp_call *c, struct json_object *params)
{
	const struct mcp_store *st = c->ctx->store;
	struct json_object *rid = mcp_param(params, "requestId");
	const char *key;
	berr rc;

	if (rid == NULL || !mcp_id_valid(rid) || st->cancel == NULL)
		return;
	key = json_object_to_json_string_ext(rid, JSON_C_TO_STRING_PLAIN);
	if (key == NULL || strlen(key) > MCP_REQUEST_KEY_MAX)
		return;
	if ((rc = st->cancel(st->arg, c->sess->id, key)) != OK)
		log_warn("mcp: cancel marker not stored (request %s): %s",
		    c->rq->request_id != NULL ? c->rq->request_id : "-",
		    err_str(rc));
}

/*
 * Answers one parsed message. *out is the response object (NULL for a
 * notification or a client response: 202), *status its HTTP status.
 */
static berr
mcp_message(struct mcp_call *c, struct json_object *msg, bool in_batch,
    struct json_object **out, int *status, struct mcp_response *rs)
{
	struct mcp_err e = { 0 };
	struct json_object *id, *params, *result = NULL;
	enum mcp_kind kind;
	const char *method;
	berr rc = OK;

	*out = NULL;
	*status = 202;
	if (!mcp_shape(msg, &kind, &id, &method, &params, &e))
		goto fail;
	if (kind != MCP_RESPONSE && c->modern &&
	    !mcp_modern_headers(c->rq, kind, method, params, &e))
		goto fail;
	if (kind == MCP_RESPONSE) {
		if (c->modern) {
			mcp_err_set(&e, RPC_INVALID_REQUEST, 0,
			    "Invalid Request: clients must not send responses");
			goto fail;
		}
		/*
		 * The answer to one of our server-to-client requests
		 * (mcp_ts_request), for whichever worker waits on it: stored
		 * with the session this principal owns. Anything else awaits
		 * nothing; either way 202.
		 */
		if (c->sess != NULL && c->ctx->store->answer != NULL &&
		    id != NULL && json_object_is_type(id, json_type_string) &&
		    strncmp(json_object_get_string(id), MCP_ASK_PREFIX,
		        strlen(MCP_ASK_PREFIX)) == 0) {
			const char *key = json_object_to_json_string_ext(
			    id, JSON_C_TO_STRING_PLAIN);
			const char *text = json_object_to_json_string_ext(
			    msg, JSON_C_TO_STRING_PLAIN);

			if (key != NULL && text != NULL &&
			    c->ctx->store->answer(c->ctx->store->arg,
			        c->sess->id, key, text) == ERR_DB_DOWN)
				log_warn("mcp: a client's answer was lost: "
				         "database down (request %s)",
				    c->rq->request_id != NULL
				        ? c->rq->request_id
				        : "-");
		}
		return OK;
	}
	if (kind == MCP_NOTIFICATION) {
		if (!c->modern && c->sess != NULL &&
		    strcmp(method, "notifications/cancelled") == 0)
			mcp_note_cancel(c, params);
		return OK; /* initialized, ...: nothing to do */
	}
	if (in_batch && strcmp(method, "initialize") == 0) {
		/* 2025-03-26 lifecycle: not part of a batch. */
		mcp_err_set(&e, RPC_INVALID_REQUEST, 0,
		    "Invalid Request: initialize must not be part of a batch");
		goto fail;
	}
	c->id = id;
	c->in_batch = in_batch;
	if ((rc = mcp_dispatch(c, method, params, &result, &e, rs)) != OK)
		goto out;
	if (e.code != 0)
		goto fail;
	if ((*out = mcp_envelope(id)) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	mcp_put(*out, "result", result);
	result = NULL;
	*status = 200;
	goto out;
fail:
	if ((*out = mcp_err_object(id, &e)) == NULL)
		rc = ERR_NOMEM;
	*status = mcp_err_status(c, &e);
out:
	if (c->sse) {
		/* The headers went out with the stream: the answer is its
		 * last event, unless the client left or cancelled it. */
		if (!c->gone && !c->cancelled)
			mcp_stream_write(c, *out);
		json_object_put(*out);
		*out = NULL;
		*status = 200;
		c->sse = false;
	}
	json_object_put(result);
	json_object_put(e.data);
	return rc;
}

/* The method of msg when it is an object with a string method, or NULL. */
static const char *
mcp_peek_method(struct json_object *msg)
{
	struct json_object *m;

	if (!json_object_is_type(msg, json_type_object) ||
	    !json_object_object_get_ex(msg, "method", &m) ||
	    !json_object_is_type(m, json_type_string))
		return NULL;
	return json_object_get_string(m);
}

/* The usable id of msg (for errors before dispatch), or NULL. */
static struct json_object *
mcp_peek_id(struct json_object *msg)
{
	struct json_object *id;

	if (!json_object_is_type(msg, json_type_object) ||
	    !json_object_object_get_ex(msg, "id", &id) || !mcp_id_valid(id))
		return NULL;
	return id;
}

/* The body's _meta protocolVersion when it is a string, else NULL. */
static const char *
mcp_peek_meta_version(struct json_object *msg)
{
	struct json_object *p, *m, *v;

	if (!json_object_is_type(msg, json_type_object) ||
	    !json_object_object_get_ex(msg, "params", &p) ||
	    !json_object_is_type(p, json_type_object) ||
	    !json_object_object_get_ex(p, "_meta", &m) ||
	    !json_object_is_type(m, json_type_object) ||
	    !json_object_object_get_ex(m, META_VERSION, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Parses the body; NULL (and e set) when it is not JSON within the caps. */
static struct json_object *
mcp_parse(const struct mcp_request *rq, struct mcp_err *e)
{
	/*
	 * One tokener per process, reset for each body: making one costs
	 * about a tenth of parsing a small message. It keeps the buffer of
	 * its longest string, so after a body over MCP_TOKENER_KEEP it is
	 * freed instead (a worker stays small). Single-threaded, as is
	 * every caller (mcp.h).
	 */
	static struct json_tokener *kept;
	struct json_tokener *tok;
	struct json_object *o = NULL;
	size_t n = rq->body != NULL ? rq->body_len : 0, end, used;

	if (n == 0 || n > INT32_MAX) {
		mcp_err_set(e, RPC_PARSE_ERROR, 400, "Parse error: empty body");
		return NULL;
	}
	if (kept != NULL) {
		tok = kept;
		kept = NULL;
		json_tokener_reset(tok);
	} else if ((tok = json_tokener_new_ex(LIMIT_JSON_DEPTH)) == NULL) {
		mcp_err_set(e, RPC_INTERNAL_ERROR, 500, "Internal error");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	o = json_tokener_parse_ex(tok, rq->body, (int)n);
	used = json_tokener_get_parse_end(tok);
	/* A bare number at the very end is only complete at end of input. */
	if (o == NULL && json_tokener_get_error(tok) == json_tokener_continue) {
		o = json_tokener_parse_ex(tok, "", 1);
		used = n;
	}
	if (json_tokener_get_error(tok) == json_tokener_success && o == NULL) {
		/* The body was JSON null: valid JSON, not a message. */
		mcp_err_set(e, RPC_INVALID_REQUEST, 400,
		    "Invalid Request: a message must be a JSON object");
		goto out;
	}
	if (o != NULL && json_tokener_get_error(tok) == json_tokener_success) {
		/* Only white space may follow the value. */
		for (end = used; end < n; end++)
			if (!strchr(" \t\r\n", rq->body[end]))
				break;
		if (end == n)
			goto out;
	}
	json_object_put(o);
	o = NULL;
	mcp_err_set(e, RPC_PARSE_ERROR, 400,
	    json_tokener_get_error(tok) == json_tokener_error_depth
	        ? "Parse error: nested too deeply"
	        : "Parse error: not a single valid JSON value");
out:
	if (n <= MCP_TOKENER_KEEP)
		kept = tok;
	else
		json_tokener_free(tok);
	return o;
}

/* Is the session id something we could have issued (visible ASCII)? */
static bool
mcp_session_id_ok(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++, n++)
		if (*s < 0x21 || *s > 0x7E || n >= 128)
			return false;
	return n > 0;
}

/* Loads the session of rq into sess; e set (400/404/503) when not OK. */
static bool
mcp_load_session(const struct mcp_ctx *ctx, const struct principal *p,
    const struct mcp_request *rq, struct mcp_session *sess, struct mcp_err *e)
{
	berr rc;

	if (rq->session_id == NULL || rq->session_id[0] == '\0') {
		mcp_err_set(e, RPC_INVALID_REQUEST, 400,
		    "Bad Request: Mcp-Session-Id header is required");
		return false;
	}
	if (!mcp_session_id_ok(rq->session_id)) {
		mcp_err_set(e, RPC_SESSION_NOT_FOUND, 404, "Session not found");
		return false;
	}
	memset(sess, 0, sizeof(*sess));
	rc = ctx->store->load(ctx->store->arg, p, rq->session_id, sess);
	/*
	 * A session is bound to the environment it was created in, as to
	 * its principal: used with another (/mcp?environment=OTHER) it is
	 * "not found" there - 404, which tells a client to initialize a new
	 * session for that environment (2025 transports), where 400 would
	 * call the request malformed. Its tools, roles and subscriptions
	 * belong to the first environment and must not leak into the other.
	 */
	if (rc == OK && ctx->environment != NULL &&
	    strcmp(sess->environment, ctx->environment) != 0)
		rc = ERR_NOT_FOUND;
	if (rc == OK)
		return true;
	if (rc == ERR_NOT_FOUND)
		mcp_err_set(e, RPC_SESSION_NOT_FOUND, 404, "Session not found");
	else
		mcp_err_store(e, rc);
	return false;
}

/* A POST: everything in the comment at the top of the file. */
static berr
mcp_post(const struct mcp_ctx *ctx, const struct principal *p,
    const struct mcp_request *rq, struct mcp_response *rs)
{
	struct mcp_call c = { .ctx = ctx,
		.p = p,
		.rq = rq,
		.version = MCP_LEGACY_DEFAULT,
		.rs = rs,
		.log_min = -1 };
	bool accept_json, accept_sse;
	struct mcp_session sess;
	struct mcp_err e = { 0 };
	struct json_object *msg = NULL, *out = NULL, *one, *first = NULL;
	const char *method, *mv;
	int status = 202, st;
	size_t i, n;
	berr rc = OK;

	if (rq->content_type == NULL ||
	    strncasecmp(rq->content_type, "application/json", 16) != 0 ||
	    (rq->content_type[16] != '\0' && rq->content_type[16] != ';' &&
	        rq->content_type[16] != ' ')) {
		mcp_err_set(&e, RPC_INVALID_REQUEST, 415,
		    "Unsupported Media Type: Content-Type must be "
		    "application/json");
		goto fail;
	}
	mcp_accept(rq->accept, &accept_json, &accept_sse, &c.accept_sse);
	if (!accept_json || !accept_sse) {
		mcp_err_set(&e, RPC_SERVER_ERROR, 406,
		    "Not Acceptable: Client must accept both "
		    "application/json and text/event-stream");
		goto fail;
	}
	if ((msg = mcp_parse(rq, &e)) == NULL)
		goto fail;
	first = json_object_is_type(msg, json_type_array)
	    ? (json_object_array_length(msg) > 0
	              ? json_object_array_get_idx(msg, 0)
	              : NULL)
	    : msg;
	mv = mcp_peek_meta_version(first);
	if (rq->protocol_version != NULL) {
		if (!mcp_version_supported(rq->protocol_version)) {
			mcp_err_version(&e, rq->protocol_version);
			goto fail;
		}
		c.version = rq->protocol_version;
		c.modern = strcmp(rq->protocol_version, MCP_MODERN) == 0;
		if (!c.modern && mv != NULL &&
		    strcmp(mv, rq->protocol_version) != 0) {
			mcp_err_set(&e, RPC_HEADER_MISMATCH, 400,
			    "Header mismatch: MCP-Protocol-Version header "
			    "value '%s' does not match body value '%.32s'",
			    rq->protocol_version, mv);
			goto fail;
		}
	} else if (mv != NULL) {
		mcp_err_set(&e, RPC_HEADER_MISMATCH, 400,
		    "Header mismatch: required header MCP-Protocol-Version "
		    "is missing");
		goto fail;
	}
	method = mcp_peek_method(first);
	if (!c.modern &&
	    !(method != NULL && strcmp(method, "initialize") == 0 &&
	        !json_object_is_type(msg, json_type_array))) {
		if (!mcp_load_session(ctx, p, rq, &sess, &e))
			goto fail;
		c.sess = &sess;
		/* No header: the version the session agreed on. */
		if (rq->protocol_version == NULL)
			c.version = sess.protocol_version;
	}
	if (!json_object_is_type(msg, json_type_array)) {
		if ((rc = mcp_message(&c, msg, false, &out, &status, rs)) != OK)
			goto out;
		goto send;
	}
	/* A batch. */
	if (c.modern || strcmp(c.version, "2025-03-26") != 0) {
		mcp_err_set(&e, RPC_INVALID_REQUEST, 400,
		    "Invalid Request: batches are not supported in protocol "
		    "version %s",
		    c.version);
		goto fail;
	}
	n = json_object_array_length(msg);
	if (n == 0 || n > LIMIT_MCP_BATCH) {
		mcp_err_set(&e, RPC_INVALID_REQUEST, 400,
		    "Invalid Request: a batch holds 1 to %d messages",
		    LIMIT_MCP_BATCH);
		goto fail;
	}
	if ((out = json_object_new_array()) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		rc = mcp_message(
		    &c, json_object_array_get_idx(msg, i), true, &one, &st, rs);
		if (rc != OK)
			goto out;
		if (one != NULL)
			json_object_array_add(out, one);
	}
	status = 200;
	if (json_object_array_length(out) == 0) {
		json_object_put(out);
		out = NULL;
		status = 202;
	}
send:
	if (out == NULL) {
		rs->status = status; /* 202: no body */
		goto out;
	}
	rc = mcp_send(rs, status, out);
	goto out;
fail:
	rc = mcp_send_err(&c, rs, mcp_peek_id(first), &e);
out:
	if (rc == ERR_TOO_BIG) {
		struct mcp_err big = { 0 };

		log_error("mcp: response over %d bytes (request %s)",
		    LIMIT_RESPONSE_BYTES,
		    rq->request_id != NULL ? rq->request_id : "-");
		mcp_err_set(&big, RPC_INTERNAL_ERROR, 500, "Internal error");
		rc = mcp_send_err(&c, rs, mcp_peek_id(first), &big);
	}
	json_object_put(e.data);
	json_object_put(out);
	json_object_put(msg);
	return rc;
}

/* DELETE: ends a legacy session (2025 transports, "Session Management"). */
static berr
mcp_delete(const struct mcp_ctx *ctx, const struct principal *p,
    const struct mcp_request *rq, struct mcp_response *rs)
{
	struct mcp_session sess;
	struct mcp_err e = { 0 };
	berr rc;

	if (!mcp_load_session(ctx, p, rq, &sess, &e))
		goto fail;
	rc = ctx->store->remove(ctx->store->arg, p, sess.id);
	if (rc == ERR_NOMEM)
		return rc;
	if (rc == ERR_NOT_FOUND) {
		mcp_err_set(
		    &e, RPC_SESSION_NOT_FOUND, 404, "Session not found");
		goto fail;
	}
	if (rc != OK) {
		mcp_err_store(&e, rc);
		goto fail;
	}
	/* The spec names no success status; 204: done, nothing to say. */
	rs->status = 204;
	return OK;
fail:
	rc = mcp_send_err(NULL, rs, NULL, &e);
	json_object_put(e.data);
	return rc;
}

berr
mcp_handle(const struct mcp_ctx *ctx, const struct principal *p,
    const struct mcp_request *rq, struct mcp_response *rs)
{
	struct mcp_err e = { 0 };
	berr rc;

	memset(rs, 0, sizeof(*rs));
	if (rq->http_method != NULL && strcmp(rq->http_method, "POST") == 0)
		rc = mcp_post(ctx, p, rq, rs);
	else if (rq->http_method != NULL &&
	    strcmp(rq->http_method, "DELETE") == 0)
		rc = mcp_delete(ctx, p, rq, rs);
	else {
		/*
		 * GET would open the standalone SSE stream of the 2025 era;
		 * "the server MUST either return Content-Type:
		 * text/event-stream ... or else return HTTP 405". We offer
		 * none (yet), and 2026 removed it.
		 */
		mcp_err_set(&e, RPC_INVALID_REQUEST, 405, "Method Not Allowed");
		rc = mcp_send_err(NULL, rs, NULL, &e);
		rs->allow = "POST, DELETE";
	}
	if (rc == ERR_NOMEM) {
		mcp_response_free(rs);
		rs->status = 500;
	}
	return rc;
}

void
mcp_response_free(struct mcp_response *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
	rs->content_type = NULL;
}
