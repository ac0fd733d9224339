/*
 * mcp_endpoint.c - POST/GET/DELETE /mcp. See mcp_endpoint.h.
 *
 * The order of the checks is the order of their cost and of what they
 * protect: Host and Origin first (a browser tricked into calling us is
 * refused before anything else, and before a database round trip), then
 * authentication, then the media type, then the body within its cap. What
 * the protocol means is mcp_handle()'s business; this file only translates
 * between FastCGI and struct mcp_request/mcp_response.
 *
 * Origin and Host rule (DNS-rebinding protection, MCP "Security Warning"
 * of the Streamable HTTP transport):
 *
 *   Origin  When the request has an Origin header, it must equal (scheme
 *           and host case-insensitively, default ports dropped, no path)
 *           the origin of http.public_url or one entry of
 *           http.allowed_origins; otherwise 403. "null" and anything that
 *           is not scheme://host[:port] are refused. Requests without
 *           Origin (non-browser clients) pass.
 *   Host    Checked when http.allowed_hosts is non-empty, or when
 *           http.public_url names a loopback or private address
 *           (localhost, *.localhost, 127.0.0.0/8, ::1, 10/8, 172.16/12,
 *           192.168/16, 169.254/16, fc00::/7, fe80::/10): those are the
 *           deployments a rebound DNS name can reach from a victim's
 *           browser. The Host header must then name public_url's host and
 *           port (the scheme's default port when none is written), or an
 *           entry of http.allowed_hosts ("name" matches any port,
 *           "name:port" that port only; a Host without a port means
 *           public_url's default port); a missing or malformed Host is
 *           refused too. Otherwise 403. A public deployment behind a real
 *           name is not reachable through rebinding in any way the attacker
 *           could not use directly, and proxies there may rewrite Host, so
 *           it is not checked unless allowed_hosts asks for it.
 *
 * Both refusals are 403 with a JSON-RPC error body, id null, code -32000
 * ("server error", implementation-defined range) as the official SDK's own
 * transports answer them (webStandardStreamableHttp.js and
 * hostHeaderValidation.js of @modelcontextprotocol/sdk); -32600 would claim
 * the JSON-RPC message itself was invalid, which nobody has looked at yet.
 * Nothing the client sent is echoed in those bodies or in any header.
 */
#include "mcp_endpoint.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "guard.h"
#include "limit.h"
#include "log.h"
#include "mcp.h"
#include "mcp_session.h"
#include "server.h"

/* JSON-RPC codes the transport itself uses. */
#define MCP_ENDPOINT_SERVER_ERROR (-32000) /* Origin, Host, media type */
#define MCP_ENDPOINT_INVALID_REQ  (-32600) /* a malformed MCP header */
#define MCP_ENDPOINT_INTERNAL     (-32603)
/* Longest host (name or bracketed IPv6) and port we parse. */
#define MCP_ENDPOINT_HOST_MAX   255
#define MCP_ENDPOINT_ORIGIN_MAX (MCP_ENDPOINT_HOST_MAX + 32)

/* A parsed "scheme://host[:port]", lower-cased, port always set. */
struct mcp_endpoint_origin {
	char scheme[8]; /* "http" or "https" */
	char host[MCP_ENDPOINT_HOST_MAX + 1];
	unsigned port;
};

berr
mcp_endpoint_init(struct worker_ctx *ctx)
{
	berr rc;

	if ((rc = guard_init(ctx)) != OK)
		return rc;
	return mcp_session_prepare(ctx->db);
}

/*
 * Answers status with {"jsonrpc":"2.0","id":null,"error":{code, message}}.
 * message is ours (static), never client text.
 */
static void
mcp_endpoint_reply_rpc_error(
    struct request *req, int status, int code, const char *message)
{
	char body[512];
	int n;

	n = snprintf(body, sizeof(body),
	    "{\"jsonrpc\":\"2.0\",\"id\":null,"
	    "\"error\":{\"code\":%d,\"message\":\"%s\"}}",
	    code, message);
	if (n < 0 || (size_t)n >= sizeof(body))
		n = 0;
	request_reply(req, status, "application/json", body, (size_t)n, NULL);
}

/* The default port of scheme ("http" or "https"), 0 for others. */
static unsigned
mcp_endpoint_default_port(const char *scheme)
{
	if (strcmp(scheme, "http") == 0)
		return 80;
	if (strcmp(scheme, "https") == 0)
		return 443;
	return 0;
}

/*
 * Parses "host[:port]" (len bytes of s; host a DNS name, an IPv4 literal or
 * a bracketed IPv6 literal) into host (lower-cased, brackets kept) and
 * *port (0 when none is written). false for anything else: empty, too
 * long, bytes outside the host grammar, a bad port.
 */
static bool
mcp_endpoint_parse_hostport(const char *s, size_t len,
    char host[MCP_ENDPOINT_HOST_MAX + 1], unsigned *port)
{
	size_t hlen, i;
	const char *colon = NULL;
	unsigned long p = 0;

	*port = 0;
	if (len == 0 || len > MCP_ENDPOINT_HOST_MAX + 6)
		return false;
	if (s[0] == '[') {
		const char *end = memchr(s, ']', len);

		if (end == NULL)
			return false;
		hlen = (size_t)(end - s) + 1;
		if (hlen < len) {
			if (s[hlen] != ':')
				return false;
			colon = s + hlen;
		}
		for (i = 1; i + 1 < hlen; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != ':' &&
			    s[i] != '.')
				return false;
	} else {
		colon = memchr(s, ':', len);
		hlen = colon != NULL ? (size_t)(colon - s) : len;
		for (i = 0; i < hlen; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
			    s[i] != '.')
				return false;
	}
	if (hlen == 0 || hlen > MCP_ENDPOINT_HOST_MAX)
		return false;
	if (colon != NULL) {
		const char *q = colon + 1, *end = s + len;

		if (q == end || end - q > 5)
			return false;
		for (; q < end; q++) {
			if (!isdigit((unsigned char)*q))
				return false;
			p = p * 10 + (unsigned long)(*q - '0');
		}
		if (p == 0 || p > 65535)
			return false;
	}
	for (i = 0; i < hlen; i++)
		host[i] = (char)tolower((unsigned char)s[i]);
	host[hlen] = '\0';
	/* "example.com." and "example.com" are one name. */
	if (hlen > 1 && host[hlen - 1] == '.')
		host[hlen - 1] = '\0';
	*port = (unsigned)p;
	return true;
}

/*
 * Parses the origin part of a URL or an Origin header: "scheme://host[:port]"
 * followed, when with_path, by an optional path, query or fragment (which
 * is dropped). Only http and https; no userinfo. false for anything else.
 */
static bool
mcp_endpoint_parse_origin(
    const char *s, bool with_path, struct mcp_endpoint_origin *o)
{
	const char *p, *end;
	size_t n;

	if (s == NULL)
		return false;
	if (strncasecmp(s, "http://", 7) == 0) {
		strcpy(o->scheme, "http");
		p = s + 7;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		strcpy(o->scheme, "https");
		p = s + 8;
	} else {
		return false;
	}
	n = strnlen(p, MCP_ENDPOINT_ORIGIN_MAX + 1);
	if (n > MCP_ENDPOINT_ORIGIN_MAX && !with_path)
		return false;
	end = p;
	while (*end != '\0' && *end != '/' && *end != '?' && *end != '#' &&
	    end - p <= MCP_ENDPOINT_ORIGIN_MAX)
		end++;
	if (!with_path && *end != '\0')
		return false;
	if (!mcp_endpoint_parse_hostport(
	        p, (size_t)(end - p), o->host, &o->port))
		return false;
	if (o->port == 0)
		o->port = mcp_endpoint_default_port(o->scheme);
	return true;
}

static bool
mcp_endpoint_origin_eq(
    const struct mcp_endpoint_origin *a, const struct mcp_endpoint_origin *b)
{
	return strcmp(a->scheme, b->scheme) == 0 &&
	    strcmp(a->host, b->host) == 0 && a->port == b->port;
}

/* True when the Origin header value origin may call us (see the top). */
static bool
mcp_endpoint_origin_allowed(const struct config *cfg, const char *origin)
{
	struct mcp_endpoint_origin got, ok;
	size_t i;

	if (!mcp_endpoint_parse_origin(origin, false, &got))
		return false;
	if (mcp_endpoint_parse_origin(cfg->http.public_url, true, &ok) &&
	    mcp_endpoint_origin_eq(&got, &ok))
		return true;
	for (i = 0; i < cfg->http.allowed_origins.n; i++)
		if (mcp_endpoint_parse_origin(
		        cfg->http.allowed_origins.v[i], true, &ok) &&
		    mcp_endpoint_origin_eq(&got, &ok))
			return true;
	return false;
}

/*
 * True when host (lower-case, IPv6 in brackets) is a loopback or private
 * address, or a localhost name: where DNS rebinding is the threat.
 */
static bool
mcp_endpoint_host_internal(const char *host)
{
	unsigned char a[16];
	char v6[MCP_ENDPOINT_HOST_MAX + 1];
	size_t n = strlen(host);

	if (strcmp(host, "localhost") == 0 ||
	    (n > 10 && strcmp(host + n - 10, ".localhost") == 0))
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127 || a[0] == 10 ||
		    (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		    (a[0] == 192 && a[1] == 168) ||
		    (a[0] == 169 && a[1] == 254) || a[0] == 0;
	if (host[0] == '[' && n >= 2 && n - 2 < sizeof(v6)) {
		memcpy(v6, host + 1, n - 2);
		v6[n - 2] = '\0';
		if (inet_pton(AF_INET6, v6, a) != 1)
			return false;
		if ((a[0] & 0xfe) == 0xfc ||
		    (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
			return true;
		/* ::1, ::, and IPv4-mapped loopback/private. */
		return memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) == 0 ||
		    (memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
		        (a[12] == 127 || a[12] == 10 ||
		            (a[12] == 192 && a[13] == 168) ||
		            (a[12] == 172 && (a[13] & 0xf0) == 16)));
	}
	return false;
}

/* True when the Host header value may reach us (see the top). */
static bool
mcp_endpoint_host_allowed(const struct config *cfg, const char *hosthdr)
{
	struct mcp_endpoint_origin pub;
	char host[MCP_ENDPOINT_HOST_MAX + 1], want[MCP_ENDPOINT_HOST_MAX + 1];
	unsigned port, wport;
	bool have_pub;
	size_t i;

	have_pub = mcp_endpoint_parse_origin(cfg->http.public_url, true, &pub);
	if (cfg->http.allowed_hosts.n == 0 &&
	    (!have_pub || !mcp_endpoint_host_internal(pub.host)))
		return true; /* not checked: see the rule at the top */
	if (hosthdr == NULL ||
	    !mcp_endpoint_parse_hostport(hosthdr,
	        strnlen(hosthdr, MCP_ENDPOINT_ORIGIN_MAX + 1), host, &port))
		return false;
	/* No port written: the default port of public_url's scheme. */
	if (port == 0)
		port =
		    mcp_endpoint_default_port(have_pub ? pub.scheme : "http");
	if (have_pub && strcmp(host, pub.host) == 0 && port == pub.port)
		return true;
	for (i = 0; i < cfg->http.allowed_hosts.n; i++) {
		const char *e = cfg->http.allowed_hosts.v[i];

		if (!mcp_endpoint_parse_hostport(e, strlen(e), want, &wport))
			continue;
		if (strcmp(host, want) == 0 && (wport == 0 || wport == port))
			return true;
	}
	return false;
}

/* True when the Content-Type is application/json (parameters allowed). */
static bool
mcp_endpoint_is_json(const char *ctype)
{
	size_t n = strlen("application/json");

	if (ctype == NULL || strncasecmp(ctype, "application/json", n) != 0)
		return false;
	return ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ' ||
	    ctype[n] == '\t';
}

/* True when s is NULL or a header value we may copy into an answer: visible
 * ASCII and spaces only (no CR, LF, NUL or control bytes). */
static bool
mcp_endpoint_header_safe(const char *s, size_t max)
{
	size_t i;

	if (s == NULL)
		return true;
	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] < ' ' || s[i] > '~')
			return false;
	return true;
}

/*
 * The SSE side of mcp_stream_ops over one FastCGI request. Each event is
 * flushed through libfcgi at once; nginx passes it on because /mcp has
 * fastcgi_buffering off and the answer says X-Accel-Buffering: no, Apache
 * because of flushpackets=on. A write that fails, or the web server
 * closing the connection (its client left), is reported as ERR_IO, which
 * the core takes for cancellation.
 */
struct mcp_endpoint_stream {
	struct request *req;
	const struct config *cfg;
	bool open;
};

static bool
mcp_endpoint_acquire(void *arg)
{
	struct mcp_endpoint_stream *st = arg;

	if (server_stream_acquire(st->cfg->mcp.max_streams))
		return true;
	log_warn("mcp: request %s refused: %d long-running requests in "
	         "progress (mcp.max_streams)",
	    st->req->request_id, st->cfg->mcp.max_streams);
	return false;
}

static void
mcp_endpoint_release(void *arg)
{
	(void)arg;
	server_stream_release();
}

static berr
mcp_endpoint_open(void *arg)
{
	struct mcp_endpoint_stream *st = arg;

	st->open = true;
	return request_stream_open(
	    st->req, 200, "text/event-stream", "X-Accel-Buffering: no\r\n");
}

static berr
mcp_endpoint_event(void *arg, const char *json, size_t len)
{
	struct mcp_endpoint_stream *st = arg;
	static const char head[] = "event: message\ndata: ";
	berr rc;

	/* json is one line: json-c escapes every control character. */
	if (request_peer_gone(st->req))
		return ERR_IO;
	if ((rc = request_stream_write(st->req, head, sizeof(head) - 1)) !=
	        OK ||
	    (rc = request_stream_write(st->req, json, len)) != OK)
		return rc;
	return request_stream_write(st->req, "\n\n", 2);
}

static berr
mcp_endpoint_comment(void *arg)
{
	struct mcp_endpoint_stream *st = arg;
	static const char ka[] = ": keep-alive\n\n";

	if (request_peer_gone(st->req))
		return ERR_IO;
	return request_stream_write(st->req, ka, sizeof(ka) - 1);
}

/*
 * The client left, or this worker was told to stop (SIGTERM): a long call
 * ends at once rather than outlive the supervisor's grace period; its
 * client sees the stream end without an answer and may ask again.
 */
static bool
mcp_endpoint_gone(void *arg)
{
	struct mcp_endpoint_stream *st = arg;

	return server_worker_stopping() || request_peer_gone(st->req);
}

/*
 * The environment a request addresses (see mcp_endpoint.h): the value of
 * the query parameter "environment" when there is one, else the first
 * configured environment. The value is compared byte for byte with the
 * configured names (no percent-decoding: environment names are plain
 * words), so "*" or an encoded name is simply unknown. Sets *env to the
 * configured string (never the client's), or returns the HTTP status to
 * refuse with: 400 for a repeated or empty parameter, 404 for a name that
 * is not configured.
 */
static int
mcp_endpoint_environment(
    const struct config *cfg, const char *query, const char **env)
{
	const char *p = query, *val = NULL, *amp;
	size_t vlen = 0, n, i;
	static const char key[] = "environment=";

	*env = cfg->environments.n > 0 ? cfg->environments.v[0] : "default";
	while (p != NULL && *p != '\0') {
		amp = strchr(p, '&');
		n = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (n >= sizeof(key) - 1 &&
		    memcmp(p, key, sizeof(key) - 1) == 0) {
			if (val != NULL)
				return 400;
			val = p + sizeof(key) - 1;
			vlen = n - (sizeof(key) - 1);
		} else if (n == sizeof(key) - 2 &&
		    memcmp(p, key, sizeof(key) - 2) == 0) {
			return 400; /* "environment" without a value */
		}
		p = amp != NULL ? amp + 1 : NULL;
	}
	if (val == NULL)
		return 0;
	if (vlen == 0)
		return 400;
	for (i = 0; i < cfg->environments.n; i++) {
		const char *e = cfg->environments.v[i];

		if (strlen(e) == vlen && memcmp(e, val, vlen) == 0) {
			*env = e;
			return 0;
		}
	}
	return 404;
}

/* Sends rs. A bodyless error gets a JSON-RPC body so clients can read it. */
static void
mcp_endpoint_send(struct request *req, const struct mcp_response *rs)
{
	char extra[256];
	size_t off = 0;
	int n;

	extra[0] = '\0';
	if (rs->session_id[0] != '\0') {
		/* Ours, from the store; checked anyway, as it becomes a header. */
		if (!mcp_session_id_well_formed(rs->session_id)) {
			log_error("bug: malformed session id from mcp_handle "
			          "(request %s)",
			    req->request_id);
			mcp_endpoint_reply_rpc_error(
			    req, 500, MCP_ENDPOINT_INTERNAL, "Internal error");
			return;
		}
		n = snprintf(extra + off, sizeof(extra) - off,
		    "Mcp-Session-Id: %s\r\n", rs->session_id);
		off += n > 0 ? (size_t)n : 0;
	}
	if (rs->allow != NULL && mcp_endpoint_header_safe(rs->allow, 64) &&
	    off < sizeof(extra)) {
		n = snprintf(extra + off, sizeof(extra) - off, "Allow: %s\r\n",
		    rs->allow);
		off += n > 0 ? (size_t)n : 0;
	}
	if (rs->content_type != NULL &&
	    strncmp(rs->content_type, "text/event-stream", 17) == 0 &&
	    off < sizeof(extra)) {
		/* nginx must pass each event on at once. */
		n = snprintf(extra + off, sizeof(extra) - off,
		    "X-Accel-Buffering: no\r\n");
		off += n > 0 ? (size_t)n : 0;
	}
	/* Database down or out of resources: say when to come back, as the
	 * auth gate does. */
	if (rs->status == 503 && off < sizeof(extra))
		snprintf(
		    extra + off, sizeof(extra) - off, "Retry-After: 5\r\n");
	if (rs->body == NULL && rs->status >= 400) {
		char body[160];

		n = snprintf(body, sizeof(body),
		    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
		    "{\"code\":%d,\"message\":\"%s\"}}",
		    rs->status >= 500 ? MCP_ENDPOINT_INTERNAL
		                      : MCP_ENDPOINT_INVALID_REQ,
		    request_status_text(rs->status));
		request_reply(req, rs->status, "application/json", body,
		    n > 0 ? (size_t)n : 0, extra);
		return;
	}
	/* A bodyless answer (202, 204) carries no Content-Type. */
	request_reply(req, rs->status, rs->content_type, rs->body,
	    rs->body != NULL ? rs->body_len : 0, extra);
}

void
mcp_endpoint_handle(struct worker_ctx *ctx, struct request *req)
{
	const struct config *cfg = ctx->cfg;
	struct mcp_session_backend backend = { .db = ctx->db, .cfg = cfg };
	struct mcp_response rs = { 0 };
	struct mcp_request rq = { 0 };
	struct mcp_store store;
	struct mcp_ctx mctx = { 0 };
	struct mcp_endpoint_stream st = { req, cfg, false };
	const struct mcp_stream_ops ops = { &st, mcp_endpoint_acquire,
		mcp_endpoint_release, mcp_endpoint_open, mcp_endpoint_event,
		mcp_endpoint_comment, mcp_endpoint_gone };
	struct principal p;
	const char *origin, *env;
	bool post = strcmp(req->method, "POST") == 0;
	int st_env;

	if (!mcp_endpoint_host_allowed(cfg, request_param(req, REQ_HOST))) {
		log_info("mcp: request %s refused: Host not allowed",
		    req->request_id);
		mcp_endpoint_reply_rpc_error(req, 403,
		    MCP_ENDPOINT_SERVER_ERROR, "Forbidden: host not allowed");
		goto out;
	}
	origin = request_param(req, REQ_ORIGIN);
	if (origin != NULL && !mcp_endpoint_origin_allowed(cfg, origin)) {
		log_info("mcp: request %s refused: Origin not allowed",
		    req->request_id);
		mcp_endpoint_reply_rpc_error(req, 403,
		    MCP_ENDPOINT_SERVER_ERROR, "Forbidden: origin not allowed");
		goto out;
	}
	if (guard_principal(ctx, req, &p) != OK)
		goto out; /* answered: 401, 429 or 503 */
	/*
	 * After authentication, so that only a client with a credential
	 * learns which environment names exist. Never echoed.
	 */
	if ((st_env = mcp_endpoint_environment(cfg, req->query, &env)) != 0) {
		log_info("mcp: request %s refused: %s environment parameter",
		    req->request_id, st_env == 404 ? "unknown" : "malformed");
		mcp_endpoint_reply_rpc_error(req, st_env,
		    st_env == 404 ? MCP_ENDPOINT_SERVER_ERROR
		                  : MCP_ENDPOINT_INVALID_REQ,
		    st_env == 404 ? "Not Found: unknown environment"
		                  : "Bad Request: malformed environment "
		                    "parameter");
		goto out;
	}

	rq.http_method = req->method;
	rq.content_type = request_param(req, REQ_CONTENT_TYPE);
	rq.accept = request_param(req, REQ_ACCEPT);
	rq.protocol_version = request_param(req, REQ_MCP_PROTOCOL_VERSION);
	rq.session_id = request_param(req, REQ_MCP_SESSION_ID);
	rq.mcp_method = request_param(req, REQ_MCP_METHOD);
	rq.mcp_name = request_param(req, REQ_MCP_NAME);
	rq.client_ip = req->remote_addr;
	rq.request_id = req->request_id;

	/*
	 * A session id that cannot be one of ours is a malformed header, not
	 * an unknown session: 400 here, so the core only ever sees ids the
	 * table could hold (and CR, LF or control bytes never go further).
	 */
	if (rq.session_id != NULL &&
	    !mcp_session_id_well_formed(rq.session_id)) {
		mcp_endpoint_reply_rpc_error(req, 400, MCP_ENDPOINT_INVALID_REQ,
		    "Bad Request: malformed Mcp-Session-Id header");
		goto out;
	}
	if (post) {
		if (!mcp_endpoint_is_json(rq.content_type)) {
			mcp_endpoint_reply_rpc_error(req, 415,
			    MCP_ENDPOINT_SERVER_ERROR,
			    "Unsupported Media Type: Content-Type must be "
			    "application/json");
			goto out;
		}
		if (request_read_body(req, LIMIT_BODY_BYTES) != OK)
			goto out; /* answered: 413, 400 or 500 */
		rq.body = req->body;
		rq.body_len = req->body_len;
	}

	/* The environment chosen above: tools/list, authz (roles are per
	 * environment) and session binding all use it. */
	mcp_session_store(&backend, &store);
	mctx.cfg = cfg;
	mctx.db = ctx->db;
	mctx.store = &store;
	mctx.environment = env;
	mctx.stream = &ops;
	mctx.keepalive_ms = cfg->mcp.keepalive_seconds * 1000;
	if (mcp_handle(&mctx, &p, &rq, &rs) != OK) {
		if (st.open)
			goto out; /* the stream simply ends */
		log_error("mcp: request %s: out of memory", req->request_id);
		mcp_endpoint_reply_rpc_error(
		    req, 500, MCP_ENDPOINT_INTERNAL, "Internal error");
		goto out;
	}
	if (!rs.streamed)
		mcp_endpoint_send(req, &rs);
out:
	mcp_response_free(&rs);
}
