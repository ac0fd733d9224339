-- 005_mcp.sql - cancel markers for 2025-era MCP requests.
--
-- notifications/cancelled arrives on its own POST, which nginx or Apache may
-- hand to any responder on any host, while the request it names runs in one
-- worker somewhere else (a long tools/call answered on an SSE stream). The
-- notification leaves a marker here; the waiting worker looks for it about
-- once a second. A table rather than LISTEN/NOTIFY: a NOTIFY is lost when
-- the worker is between two looks, a row is not; and a cancel that arrives
-- before its request has started still finds it.
--
-- request_id is the JSON text of the JSON-RPC id ("\"abc\"" or "42"), so a
-- string "42" and a number 42 stay apart. Markers go with their session
-- (CASCADE) and are short-lived: each insert deletes its session's markers
-- older than ten minutes, and a session holds at most 100 at a time, so a
-- client sending cancels in a loop cannot grow the table.
CREATE TABLE mcp_cancels (
	session_id  text NOT NULL REFERENCES mcp_sessions (id) ON DELETE CASCADE,
	request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (session_id, request_id)
);
