/*
 * cmd_proxy.c - berth proxy [SERVER]: an MCP server on stdio that forwards
 * every message to SERVER's /mcp (Streamable HTTP) with the session token
 * `berth login` stored, for MCP clients that can only launch commands.
 *
 * stdio side (MCP's stdio transport): one JSON-RPC message per line in,
 * one per line out; nothing else is ever written to stdout (diagnostics go
 * to stderr). HTTP side: each line is one POST; the Mcp-Session-Id the
 * server gives at initialize and the negotiated MCP-Protocol-Version are
 * sent on every later request; a JSON answer is written as one line, an
 * SSE answer as one line per event; 202 writes nothing. When the server
 * cannot be reached (connection refused, reset, or the web server's
 * 502/503 while berth-fcgi restarts), the POST is retried with a growing
 * pause for up to $BERTH_PROXY_RETRY_SECONDS (default 30): the MCP session
 * lives in PostgreSQL, so it continues on the restarted server. At EOF the
 * session is ended with DELETE.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "client.h"
#include "cmd.h"
#include "tokenstore.h"

/* Longest message line read from stdin. */
#define CMD_PROXY_MAX_LINE (4 * 1024 * 1024)
/* Seconds one forwarded request may take (a tool call may be slow). */
#define CMD_PROXY_TIMEOUT 300

struct cmd_proxy {
	char url[1100]; /* SERVER/mcp */
	char *token;
	char session_id[256];
	char version[64];
	int retry_seconds;
};

/* Writes one message (compact JSON) and a newline to stdout. */
static void
cmd_proxy_emit(struct json_object *msg)
{
	const char *s = json_object_to_json_string_ext(
	    msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	fputs(s, stdout);
	fputc('\n', stdout);
	fflush(stdout);
}

/* A JSON-RPC error answer to request id (NULL: it was a notification and
 * gets nothing). */
static void
cmd_proxy_error(struct json_object *id, int code, const char *message)
{
	struct json_object *o, *e;

	if (id == NULL)
		return;
	o = json_object_new_object();
	e = json_object_new_object();
	json_object_object_add(o, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(e, "code", json_object_new_int(code));
	json_object_object_add(e, "message", json_object_new_string(message));
	json_object_object_add(o, "error", e);
	cmd_proxy_emit(o);
	json_object_put(o);
}

/* Notes the protocol version an initialize result carries. */
static void
cmd_proxy_learn(struct cmd_proxy *p, struct json_object *msg)
{
	struct json_object *r, *v;

	if (json_object_is_type(msg, json_type_object) &&
	    json_object_object_get_ex(msg, "result", &r) &&
	    json_object_is_type(r, json_type_object) &&
	    json_object_object_get_ex(r, "protocolVersion", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(p->version, sizeof(p->version), "%s",
		    json_object_get_string(v));
}

/* Writes a server message (text) to stdout when it is JSON. */
static void
cmd_proxy_forward(struct cmd_proxy *p, const char *text, bool initialize)
{
	struct json_object *m = json_tokener_parse(text);

	if (m == NULL) {
		fprintf(stderr,
		    "berth proxy: the server sent a message that "
		    "is not JSON; dropped\n");
		return;
	}
	if (initialize)
		cmd_proxy_learn(p, m);
	cmd_proxy_emit(m);
	json_object_put(m);
}

/* Splits an SSE body into events and forwards each data payload. */
static void
cmd_proxy_sse(struct cmd_proxy *p, char *body, bool initialize)
{
	char *line, *save = NULL, *data = NULL;
	size_t len = 0;

	for (line = strtok_r(body, "\n", &save);;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t n = line ? strlen(line) : 0;

		if (line != NULL && n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		/* strtok_r skips empty lines: an event ends at the next
		 * "event:"/"id:" field or at the end, so flush on those. */
		if (line == NULL || strncmp(line, "event:", 6) == 0 ||
		    strncmp(line, "id:", 3) == 0) {
			if (data != NULL && len > 0)
				cmd_proxy_forward(p, data, initialize);
			free(data);
			data = NULL;
			len = 0;
			if (line == NULL)
				break;
			continue;
		}
		if (strncmp(line, "data:", 5) == 0) {
			const char *d = line + 5;
			size_t dn;
			char *nd;

			if (*d == ' ')
				d++;
			dn = strlen(d);
			if ((nd = realloc(data, len + dn + 2)) == NULL)
				break;
			data = nd;
			if (len > 0)
				data[len++] = '\n';
			memcpy(data + len, d, dn + 1);
			len += dn;
		}
	}
	free(data);
}

/* Sleeps ms milliseconds. */
static void
cmd_proxy_sleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/*
 * POSTs one message (text) and writes what comes back. Retries while the
 * server is unreachable, within the retry budget.
 */
static void
cmd_proxy_post(struct cmd_proxy *p, const char *text, struct json_object *id,
    bool initialize)
{
	char h_sid[300], h_ver[100], why[512];
	const char *hdrs[5];
	struct client_resp r = { 0 };
	struct timespec t0, now;
	long pause = 100;
	size_t k;
	berr rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		k = 0;
		hdrs[k++] = "Content-Type: application/json";
		hdrs[k++] = "Accept: application/json, text/event-stream";
		if (p->session_id[0] != '\0') {
			snprintf(h_sid, sizeof(h_sid), "Mcp-Session-Id: %s",
			    p->session_id);
			hdrs[k++] = h_sid;
		}
		if (p->version[0] != '\0') {
			snprintf(h_ver, sizeof(h_ver),
			    "MCP-Protocol-Version: %s", p->version);
			hdrs[k++] = h_ver;
		}
		hdrs[k] = NULL;
		rc = client_request("POST", p->url, p->token, hdrs, text,
		    CMD_PROXY_TIMEOUT, &r, why, sizeof(why));
		if (rc == OK && r.status != 502 && r.status != 503)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= p->retry_seconds) {
			fprintf(stderr,
			    "berth proxy: %s unreachable for %d s (%s); "
			    "giving up on this message\n",
			    p->url, p->retry_seconds,
			    rc == OK ? "HTTP 502/503" : why);
			cmd_proxy_error(
			    id, -32603, "the Berth server is unreachable");
			client_resp_free(&r);
			return;
		}
		fprintf(stderr, "berth proxy: %s: %s; retrying\n", p->url,
		    rc == OK ? (r.status == 502 ? "HTTP 502" : "HTTP 503")
		             : why);
		client_resp_free(&r);
		cmd_proxy_sleep(pause);
		if (pause < 2000)
			pause *= 2;
	}
	if (r.session_id[0] != '\0')
		snprintf(
		    p->session_id, sizeof(p->session_id), "%s", r.session_id);
	if (r.status == 202 || r.status == 204 || r.len == 0) {
		if (r.status >= 400)
			cmd_proxy_error(id, -32603, "the Berth server refused");
	} else if (r.status == 401) {
		cmd_proxy_error(id, -32001,
		    "the Berth session expired or was revoked: run berth "
		    "login");
	} else if (strncmp(r.content_type, "text/event-stream", 17) == 0) {
		cmd_proxy_sse(p, r.body, initialize);
	} else {
		struct json_object *m = json_tokener_parse(r.body), *v;

		/* A JSON-RPC answer passes through, whatever the status;
		 * a plain HTTP error becomes a JSON-RPC error. */
		if (m != NULL && json_object_is_type(m, json_type_object) &&
		    json_object_object_get_ex(m, "jsonrpc", &v))
			cmd_proxy_forward(p, r.body, initialize);
		else if (m != NULL && json_object_is_type(m, json_type_array))
			cmd_proxy_forward(p, r.body, initialize);
		else {
			char msg[300];

			snprintf(msg, sizeof(msg),
			    "HTTP %ld from the Berth "
			    "server",
			    r.status);
			cmd_proxy_error(id, -32603, msg);
		}
		json_object_put(m);
	}
	client_resp_free(&r);
}

int
cmd_proxy(int argc, char **argv, const char *config_path)
{
	struct cmd_proxy p = { .retry_seconds = 30 };
	char server[1024], why[512], *line = NULL;
	const char *env = getenv("BERTH_PROXY_RETRY_SECONDS");
	size_t cap = 0;
	ssize_t n;

	(void)config_path;
	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: berth proxy [SERVER]\n");
		return 2;
	}
	if (env != NULL) {
		char *end;
		long v = strtol(env, &end, 10);

		if (*end == '\0' && v > 0 && v <= 3600)
			p.retry_seconds = (int)v;
	}
	if (cmd_session_resolve("proxy", argc == 2 ? argv[1] : NULL, server,
	        sizeof(server)) != 0)
		return 1;
	if (tokenstore_load(server, &p.token) != OK) {
		fprintf(stderr,
		    "berth proxy: no session for %s: run berth login %s\n",
		    server, server);
		return 1;
	}
	snprintf(p.url, sizeof(p.url), "%s/mcp", server);
	fprintf(stderr, "berth proxy: forwarding stdio to %s\n", p.url);
	while ((n = getline(&line, &cap, stdin)) >= 0) {
		struct json_object *m, *id = NULL, *method = NULL;
		bool init;

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		if (n > CMD_PROXY_MAX_LINE) {
			fprintf(stderr,
			    "berth proxy: message over %d bytes "
			    "dropped\n",
			    CMD_PROXY_MAX_LINE);
			continue;
		}
		if ((m = json_tokener_parse(line)) == NULL) {
			/* JSON-RPC: a parse error is answered with id
			 * null. */
			fputs("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{"
			      "\"code\":-32700,\"message\":\"Parse error\"}}\n",
			    stdout);
			fflush(stdout);
			continue;
		}
		if (json_object_is_type(m, json_type_object)) {
			(void)json_object_object_get_ex(m, "id", &id);
			(void)json_object_object_get_ex(m, "method", &method);
		}
		init = method != NULL &&
		    json_object_is_type(method, json_type_string) &&
		    strcmp(json_object_get_string(method), "initialize") == 0;
		/* Responses from the client (no method) carry an id but
		 * expect nothing back. */
		cmd_proxy_post(&p, line, method != NULL ? id : NULL, init);
		json_object_put(m);
	}
	if (p.session_id[0] != '\0') {
		char h_sid[300], h_ver[100];
		const char *hdrs[3] = { h_sid, NULL, NULL };
		struct client_resp r = { 0 };

		snprintf(
		    h_sid, sizeof(h_sid), "Mcp-Session-Id: %s", p.session_id);
		if (p.version[0] != '\0') {
			snprintf(h_ver, sizeof(h_ver),
			    "MCP-Protocol-Version: %s", p.version);
			hdrs[1] = h_ver;
		}
		if (client_request("DELETE", p.url, p.token, hdrs, NULL, 10, &r,
		        why, sizeof(why)) == OK)
			client_resp_free(&r);
	}
	free(line);
	OPENSSL_cleanse(p.token, strlen(p.token));
	free(p.token);
	return 0;
}
