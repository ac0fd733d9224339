-- 007_mcp_subscriptions.sql - resources/subscribe of 2025-era MCP sessions.
--
-- A session is served by any responder on any host, so what it subscribed
-- to lives with it here, not in one worker's memory; the rows go with their
-- session (CASCADE: DELETE /mcp, expiry purged by `berth maintenance`).
-- shared/mcp_session.c caps a session at LIMIT_MCP_SUBSCRIPTIONS rows and
-- URIs at LIMIT_MCP_URI bytes (shared/limit.h); the CHECK is the backstop.
--
-- The session's environment (mcp_sessions.environment, in 001 since the
-- start) is now filled: /mcp?environment=NAME binds a session to NAME.
CREATE TABLE mcp_subscriptions (
	session_id  text NOT NULL REFERENCES mcp_sessions (id) ON DELETE CASCADE,
	uri         text NOT NULL CHECK (length(uri) BETWEEN 1 AND 1024),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (session_id, uri)
);

-- Server-to-client requests (sampling/createMessage, elicitation/create) of
-- a tool running in one worker, answered by the client's POST that any
-- responder may receive: the worker inserts the pending row (only when the
-- session declared the capability), the answering responder fills
-- response, the worker takes it (DELETE ... RETURNING) polling a few times
-- a second. Rows older than ten minutes are dropped on each insert and a
-- session holds at most 100, like mcp_cancels (005).
CREATE TABLE mcp_server_requests (
	session_id  text NOT NULL REFERENCES mcp_sessions (id) ON DELETE CASCADE,
	request_id  text NOT NULL CHECK (length(request_id) BETWEEN 1 AND 200),
	response    jsonb CHECK (response IS NULL OR jsonb_typeof(response) = 'object'),
	created_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (session_id, request_id)
);
