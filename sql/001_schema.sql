-- 001_schema.sql - Berth's first schema: every table of the architecture.
--
-- Applied by `berth migrate` inside one transaction and recorded in
-- schema_migrations (which the migrator creates itself). Never edit this file
-- once applied anywhere: the migrator refuses a changed checksum. Add
-- 002_*.sql instead.
--
-- Conventions:
--   * Times are timestamptz, compared with the database's now(), not a
--     host's clock: responders on several hosts must agree on expiry.
--   * Secrets never appear in the clear: tokens and keys are stored as their
--     SHA-256 digest (bytea of 32 bytes, checked), upstream credentials as
--     AES-256-GCM ciphertext with the 12-byte IV and the id of the key.
--   * Foreign keys say on purpose what a deletion does: credentials go with
--     their user (CASCADE); history keeps its rows and loses the link
--     (SET NULL); a run whose report Lighthouse has not acknowledged cannot
--     be deleted at all (RESTRICT).
--   * CHECK constraints state the invariants the code relies on, so a bug
--     fails loudly at the INSERT instead of leaving a row nobody can read.
--   * Names of environments and roles come from config.yaml and are not
--     foreign keys: the config, not the database, defines them.

-- Keeps updated_at honest whatever the UPDATE forgets to set.
CREATE FUNCTION berth_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------
-- Identity: users, their roles per environment, API keys, login sessions.
-- ---------------------------------------------------------------------------

-- A person or service. Users are disabled, not deleted, in normal operation
-- (`berth user revoke`), so the audit log and run history keep their owner.
CREATE TABLE users (
	id            bigserial PRIMARY KEY,
	username      text NOT NULL UNIQUE
	              CHECK (length(username) BETWEEN 1 AND 100
	                     AND username !~ '[[:space:][:cntrl:]]'),
	email         text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 320),
	-- Local password: scrypt, with its parameters in the string
	-- ("scrypt$N$r$p$salt$hash", base64). NULL: no local password (the
	-- user signs in through the upstream or OAuth, or not at all).
	password_hash text CHECK (password_hash IS NULL OR password_hash LIKE 'scrypt$%'),
	org_id        text,
	-- Where the user came from: created by an admin, on first upstream
	-- login, or on first sight of an OAuth token.
	auth_source   text NOT NULL DEFAULT 'local'
	              CHECK (auth_source IN ('local', 'upstream', 'oauth')),
	-- The identity at that source (OAuth "sub"/user_id, upstream user id).
	external_id   text,
	disabled      boolean NOT NULL DEFAULT false,
	disabled_at   timestamptz,
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	CHECK (disabled = (disabled_at IS NOT NULL))
);
-- One Berth user per external identity: two first sightings of the same
-- OAuth subject racing each other must not create two users.
CREATE UNIQUE INDEX users_external_key ON users (auth_source, external_id)
	WHERE external_id IS NOT NULL;
CREATE TRIGGER users_touch BEFORE UPDATE ON users
	FOR EACH ROW EXECUTE FUNCTION berth_touch_updated_at();

-- A user's role in one environment ("alice: development=admin"). Role names
-- are the built-in admin/developer/viewer, custom roles from config, or
-- "none". environment '*' is the role in every environment not listed.
CREATE TABLE user_roles (
	user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	environment text NOT NULL CHECK (environment ~ '^([A-Za-z0-9_.-]{1,64}|\*)$'),
	role        text NOT NULL CHECK (role ~ '^[A-Za-z0-9_.-]{1,64}$'),
	granted_at  timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (user_id, environment)
);

-- Station-compatible API keys ("sk-" + 256 bits), shown once, stored as the
-- SHA-256 of the whole key. The hot path looks a key up by its digest.
CREATE TABLE api_keys (
	id           bigserial PRIMARY KEY,
	user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	name         text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
	key_digest   bytea NOT NULL UNIQUE CHECK (length(key_digest) = 32),
	-- The first characters ("sk-AbC1"), to tell keys apart in listings.
	key_prefix   text NOT NULL CHECK (length(key_prefix) BETWEEN 1 AND 16),
	created_at   timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz CHECK (expires_at IS NULL OR expires_at > created_at),
	last_used_at timestamptz,
	revoked_at   timestamptz
);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- Login sessions of /auth/login (the TS-MCP "cloud mode"). The token is
-- returned once and stored as its SHA-256. The user's upstream API key,
-- when the login went through the upstream, is kept here encrypted with
-- AES-256-GCM: ciphertext with the 16-byte tag appended, a unique 96-bit
-- IV, the id of the master key (for rotation) and the upstream's name (part
-- of the additional data, with the user id, so a copied row won't decrypt).
CREATE TABLE sessions (
	id                bigserial PRIMARY KEY,
	token_digest      bytea NOT NULL UNIQUE CHECK (length(token_digest) = 32),
	user_id           bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at        timestamptz NOT NULL DEFAULT now(),
	expires_at        timestamptz NOT NULL,
	last_used_at      timestamptz NOT NULL DEFAULT now(),
	client_ip         inet,
	upstream_name     text,
	upstream_key_ciphertext bytea CHECK (length(upstream_key_ciphertext) > 16),
	upstream_key_iv   bytea UNIQUE CHECK (length(upstream_key_iv) = 12),
	upstream_key_id   text CHECK (length(upstream_key_id) BETWEEN 1 AND 64),
	CHECK (expires_at > created_at),
	-- All four describe one secret: all present or all absent.
	CHECK ((upstream_key_ciphertext IS NULL) = (upstream_key_iv IS NULL)
	   AND (upstream_key_ciphertext IS NULL) = (upstream_key_id IS NULL)
	   AND (upstream_key_ciphertext IS NULL) = (upstream_name IS NULL))
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
-- Key rotation walks the rows still under an old key.
CREATE INDEX sessions_key_id_idx ON sessions (upstream_key_id)
	WHERE upstream_key_id IS NOT NULL;

-- Failed authentications counted per account and per client address, for
-- the brute-force lockout shared by every responder.
CREATE TABLE auth_failures (
	scope        text NOT NULL CHECK (scope IN ('account', 'address')),
	-- The username tried (it may not exist) or the client address.
	subject      text NOT NULL CHECK (length(subject) BETWEEN 1 AND 256),
	window_start timestamptz NOT NULL DEFAULT now(),
	failures     integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
	locked_until timestamptz,
	PRIMARY KEY (scope, subject)
);
CREATE INDEX auth_failures_window_idx ON auth_failures (window_start);

-- ---------------------------------------------------------------------------
-- MCP: sessions of the 2025 protocol era, the OAuth introspection cache.
-- ---------------------------------------------------------------------------

-- An Mcp-Session-Id, served by any responder. Bound to the principal that
-- created it: a request with this id but another principal is a 404, so the
-- id alone is never trusted. user_id is NULL only without authentication
-- (local_mode).
CREATE TABLE mcp_sessions (
	-- Visible ASCII as the specification requires, and long enough to be
	-- unguessable.
	id               text PRIMARY KEY CHECK (id ~ '^[!-~]{16,128}$'),
	user_id          bigint REFERENCES users (id) ON DELETE CASCADE,
	auth_method      text NOT NULL
	                 CHECK (auth_method IN ('api_key', 'session', 'oauth', 'none')),
	-- The credential that created it: api_keys.id, sessions.id, or the
	-- hex of an OAuth token's digest.
	token_id         text,
	environment      text,
	protocol_version text NOT NULL CHECK (protocol_version ~ '^\d{4}-\d{2}-\d{2}$'),
	client_info      jsonb NOT NULL DEFAULT '{}'
	                 CHECK (jsonb_typeof(client_info) = 'object'),
	capabilities     jsonb NOT NULL DEFAULT '{}'
	                 CHECK (jsonb_typeof(capabilities) = 'object'),
	-- logging/setLevel, with the syslog levels MCP uses.
	log_level        text NOT NULL DEFAULT 'info'
	                 CHECK (log_level IN ('debug', 'info', 'notice', 'warning',
	                        'error', 'critical', 'alert', 'emergency')),
	initialized      boolean NOT NULL DEFAULT false,
	created_at       timestamptz NOT NULL DEFAULT now(),
	last_used_at     timestamptz NOT NULL DEFAULT now(),
	-- The absolute timeout; the idle one is last_used_at + config.
	expires_at       timestamptz NOT NULL,
	CHECK ((user_id IS NULL) = (auth_method = 'none')),
	CHECK (expires_at > created_at)
);
CREATE INDEX mcp_sessions_user_idx ON mcp_sessions (user_id);
CREATE INDEX mcp_sessions_expires_idx ON mcp_sessions (expires_at);
CREATE INDEX mcp_sessions_last_used_idx ON mcp_sessions (last_used_at);

-- RFC 7662 introspection results shared by every responder, keyed by the
-- token's SHA-256 (never the token). An entry lives at most 5 minutes and
-- never past the token's exp; a negative (active = false) one briefly, so
-- a flood of bad tokens does not flood the authorization server. Compute
-- expires_at in SQL from now(): the check compares with cached_at.
CREATE TABLE token_cache (
	token_digest bytea PRIMARY KEY CHECK (length(token_digest) = 32),
	active       boolean NOT NULL,
	-- The introspection answer (sub, org_id, scope, aud, exp...).
	claims       jsonb CHECK (claims IS NULL OR jsonb_typeof(claims) = 'object'),
	-- The Berth user the token maps to, once known.
	user_id      bigint REFERENCES users (id) ON DELETE CASCADE,
	cached_at    timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz NOT NULL,
	CHECK (expires_at <= cached_at + interval '5 minutes'),
	CHECK (active OR user_id IS NULL)
);
CREATE INDEX token_cache_expires_idx ON token_cache (expires_at);
CREATE INDEX token_cache_user_idx ON token_cache (user_id) WHERE user_id IS NOT NULL;

-- ---------------------------------------------------------------------------
-- Agents and runs.
-- ---------------------------------------------------------------------------

-- Agent definitions loaded from <workspace>/environments/<env>/agents/*.prompt
-- (Station's dotprompt), so every responder sees the same set.
CREATE TABLE agents (
	id           bigserial PRIMARY KEY,
	environment  text NOT NULL CHECK (environment ~ '^[A-Za-z0-9_.-]{1,64}$'),
	name         text NOT NULL
	             CHECK (length(name) BETWEEN 1 AND 100 AND name !~ '[[:cntrl:]]'),
	description  text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
	model        text,
	max_steps    integer NOT NULL DEFAULT 5 CHECK (max_steps BETWEEN 1 AND 1000),
	-- Names of the registry tools the agent may call, and the per-agent
	-- allow/deny lists of Station's security guide.
	tools        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tools) = 'array'),
	allowed_tools jsonb CHECK (allowed_tools IS NULL OR jsonb_typeof(allowed_tools) = 'array'),
	denied_tools jsonb CHECK (denied_tools IS NULL OR jsonb_typeof(denied_tools) = 'array'),
	-- JSON Schema of the input variables from the front matter.
	input_schema jsonb NOT NULL DEFAULT '{"type": "object"}'
	             CHECK (jsonb_typeof(input_schema) = 'object'),
	template     text NOT NULL,
	source_path  text,
	-- SHA-256 (hex) of the .prompt file: a sync skips unchanged files.
	checksum     text CHECK (checksum IS NULL OR checksum ~ '^[0-9a-f]{64}$'),
	created_at   timestamptz NOT NULL DEFAULT now(),
	updated_at   timestamptz NOT NULL DEFAULT now(),
	UNIQUE (environment, name)
);
CREATE TRIGGER agents_touch BEFORE UPDATE ON agents
	FOR EACH ROW EXECUTE FUNCTION berth_touch_updated_at();

-- One agent run. Queued by whoever asks (a /mcp call, Lighthouse
-- execute_agent, `berth agent run`) and claimed by berthd's workers with
-- SELECT ... FOR UPDATE SKIP LOCKED. agent_name is kept beside agent_id so
-- the history survives a removed agent, and so a run of an unknown agent
-- (Lighthouse asking for one we lack) can exist and fail with a reason.
CREATE TABLE runs (
	id               bigserial PRIMARY KEY,
	agent_id         bigint REFERENCES agents (id) ON DELETE SET NULL,
	agent_name       text NOT NULL CHECK (length(agent_name) BETWEEN 1 AND 100),
	environment      text NOT NULL CHECK (environment ~ '^[A-Za-z0-9_.-]{1,64}$'),
	status           text NOT NULL DEFAULT 'queued'
	                 CHECK (status IN ('queued', 'running', 'succeeded',
	                        'failed', 'cancelled')),
	-- {"task": "...", "variables": {...}}
	input            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(input) = 'object'),
	requested_by     bigint REFERENCES users (id) ON DELETE SET NULL,
	source           text NOT NULL CHECK (source IN ('mcp', 'lighthouse', 'cli')),
	-- Set when the client that asked goes away: the worker stops the run.
	cancel_requested boolean NOT NULL DEFAULT false,
	-- The worker ("host:pid:n") holding the run, and its liveness: a run
	-- whose heartbeat stops is found and resumed or failed.
	claimed_by       text,
	claimed_at       timestamptz,
	heartbeat_at     timestamptz,
	started_at       timestamptz,
	finished_at      timestamptz,
	steps            integer NOT NULL DEFAULT 0 CHECK (steps >= 0),
	-- [{name, parameters, result, duration_ms, success}, ...]
	tool_calls       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tool_calls) = 'array'),
	input_tokens     integer NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
	output_tokens    integer NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
	total_tokens     integer NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
	model            text,
	final_response   text,
	error            text,
	-- Lighthouse's ids for a remote run: its run id (reports carry it) and
	-- the management request id status updates are sent back on.
	lighthouse_run_id     text UNIQUE,
	lighthouse_request_id text,
	created_at       timestamptz NOT NULL DEFAULT now(),
	updated_at       timestamptz NOT NULL DEFAULT now(),
	-- Finished exactly when in a final state.
	CHECK ((status IN ('succeeded', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
	-- A running run has an owner and a start.
	CHECK (status <> 'running' OR (claimed_by IS NOT NULL AND started_at IS NOT NULL)),
	-- A failed run says why.
	CHECK (status <> 'failed' OR error IS NOT NULL),
	CHECK (finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at)
);
-- The queue: workers take the oldest queued run; the index holds only those.
CREATE INDEX runs_queued_idx ON runs (created_at, id) WHERE status = 'queued';
-- Stale-run detection: running runs whose heartbeat stopped.
CREATE INDEX runs_running_idx ON runs (heartbeat_at) WHERE status = 'running';
CREATE INDEX runs_agent_idx ON runs (agent_id, created_at);
CREATE INDEX runs_requested_by_idx ON runs (requested_by);
-- Listing (newest first) and retention (oldest first).
CREATE INDEX runs_created_idx ON runs (created_at);
CREATE TRIGGER runs_touch BEFORE UPDATE ON runs
	FOR EACH ROW EXECUTE FUNCTION berth_touch_updated_at();

-- Progress of a run (steps, tool calls, log lines), in order, for streaming
-- to a client that follows it and for `berth run show`. NOTIFY tells
-- listeners a new event is here; the row is the event.
CREATE TABLE run_events (
	run_id  bigint NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	seq     integer NOT NULL CHECK (seq >= 0),
	kind    text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$'),
	payload jsonb NOT NULL DEFAULT '{}',
	at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (run_id, seq)
);

-- ---------------------------------------------------------------------------
-- Lighthouse: the durable outbox of run reports, the link's state.
-- ---------------------------------------------------------------------------

-- A report waiting for Lighthouse. Written in the transaction that finishes
-- the run; marked acked only on send_run_response; resent (same run id)
-- until then. RESTRICT: retention cannot delete a run whose report is still
-- here, so delete the acknowledged outbox rows first, in the same
-- transaction as their runs.
CREATE TABLE lighthouse_outbox (
	id              bigserial PRIMARY KEY,
	run_id          bigint NOT NULL REFERENCES runs (id) ON DELETE RESTRICT,
	kind            text NOT NULL DEFAULT 'send_run'
	                CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$'),
	payload         jsonb NOT NULL DEFAULT '{}',
	created_at      timestamptz NOT NULL DEFAULT now(),
	attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	sent_at         timestamptz,
	acked_at        timestamptz,
	last_error      text,
	-- One report of each kind per run: enqueueing twice is a bug.
	UNIQUE (run_id, kind),
	CHECK (acked_at IS NULL OR attempts > 0)
);
-- What the sender looks at: unacknowledged rows due for an attempt.
CREATE INDEX lighthouse_outbox_due_idx ON lighthouse_outbox (next_attempt_at)
	WHERE acked_at IS NULL;

-- The Lighthouse link as the active berthd sees it, one row per station
-- name; read by /auth/status, station_status on /mcp and `berth status`.
CREATE TABLE station_status (
	name               text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 200),
	connected          boolean NOT NULL DEFAULT false,
	station_id         text,
	org_id             text,
	endpoint           text,
	-- The daemon holding the station ("host:pid").
	daemon             text,
	heartbeat_interval_s integer CHECK (heartbeat_interval_s > 0),
	connected_at       timestamptz,
	last_heartbeat     timestamptz,
	last_error         text,
	-- Lighthouse said another station took the name: do not reconnect.
	replaced           boolean NOT NULL DEFAULT false,
	updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER station_status_touch BEFORE UPDATE ON station_status
	FOR EACH ROW EXECUTE FUNCTION berth_touch_updated_at();

-- ---------------------------------------------------------------------------
-- Audit log.
-- ---------------------------------------------------------------------------

-- Station's audit format (timestamp, user_id, action, resource, environment,
-- ip_address, success, details), made tamper-evident: row_hash is the
-- SHA-256 over prev_hash and the row's content, prev_hash the row_hash of
-- the row written before it. Retention deletes the oldest rows: the first
-- remaining row's prev_hash is then the anchor a verifier starts from.
--
-- user_id has no foreign key on purpose: deleting a user must not rewrite
-- (SET NULL) or forbid (RESTRICT) history, and a failed login may name a user
-- that does not exist; username keeps the name as it was.
CREATE TABLE audit_log (
	id          bigserial PRIMARY KEY,
	ts          timestamptz NOT NULL DEFAULT now(),
	user_id     bigint,
	username    text,
	action      text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]{0,63}$'),
	resource    text,
	environment text,
	ip_address  inet,
	success     boolean NOT NULL,
	details     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object'),
	prev_hash   bytea CHECK (length(prev_hash) = 32),
	row_hash    bytea NOT NULL CHECK (length(row_hash) = 32)
);
-- The chain cannot fork: two writers that read the same last row cannot
-- both append after it (one gets a unique violation and retries), and there
-- is one first row.
CREATE UNIQUE INDEX audit_log_prev_hash_key ON audit_log (prev_hash);
CREATE UNIQUE INDEX audit_log_one_genesis ON audit_log ((prev_hash IS NULL))
	WHERE prev_hash IS NULL;
CREATE INDEX audit_log_ts_idx ON audit_log (ts);
CREATE INDEX audit_log_user_ts_idx ON audit_log (user_id, ts);
CREATE INDEX audit_log_action_ts_idx ON audit_log (action, ts);

-- Append-only: an UPDATE is always a bug (or tampering, which the chain
-- catches anyway). DELETE stays allowed for retention.
CREATE FUNCTION berth_audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_log is append-only'
		USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
	FOR EACH ROW EXECUTE FUNCTION berth_audit_log_append_only();
