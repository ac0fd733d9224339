-- 009_auth_cache.sql - what lets a responder keep credentials between
-- requests without weakening revocation (shared/authcache.h).
--
-- Every change that can take something away from a credential bumps
-- auth_epoch.gen (one row: the row lock orders concurrent changes, so the
-- numbers follow commit order) and sends NOTIFY berth_auth with the new
-- number. Each berth-fcgi worker that caches LISTENs, empties its cache on
-- every notification, and acknowledges the number in auth_caches. A worker
-- may serve from its cache only while it holds a lease there (lease_until,
-- renewed by its own statements). berth_auth_barrier(), called by whoever
-- made the change after its commit, returns once every worker with a
-- live lease has acknowledged the change or its lease has run out: from
-- then on no worker anywhere can answer from a cache that predates it.

CREATE TABLE auth_epoch (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	gen bigint NOT NULL DEFAULT 0
);
INSERT INTO auth_epoch DEFAULT VALUES;

-- One row per caching worker connection (holder = its backend pid, unique
-- among live connections of this server). Rows whose lease ran out long
-- ago are deleted by maintenance; an expired row is ignored meanwhile.
CREATE TABLE auth_caches (
	holder      integer PRIMARY KEY,
	acked       bigint NOT NULL,
	lease_until timestamptz NOT NULL
);

-- Bumps the epoch once per transaction (a revocation of 1,000 sessions is
-- one notification) and notifies. Trigger function for rows or statements.
CREATE FUNCTION berth_auth_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	g bigint;
BEGIN
	IF current_setting('berth.auth_bumped_in', true) IS
	   DISTINCT FROM txid_current()::text THEN
		UPDATE auth_epoch SET gen = gen + 1 RETURNING gen INTO g;
		PERFORM pg_notify('berth_auth', g::text);
		PERFORM set_config('berth.auth_bumped_in', txid_current()::text, true);
	END IF;
	RETURN NULL;
END
$$;

-- What a principal is made of (shared/principal.c's statements): the key,
-- the login session, the user, the user's roles, and the lockout of an
-- address. last_used_at writes are not listed: they change nothing.
CREATE TRIGGER api_keys_auth AFTER UPDATE OF key_digest, user_id, expires_at,
	revoked_at OR DELETE ON api_keys
	FOR EACH ROW EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER sessions_auth AFTER UPDATE OF token_digest, user_id, expires_at
	OR DELETE ON sessions
	FOR EACH ROW EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER users_auth AFTER UPDATE OF username, email, org_id, disabled
	OR DELETE ON users
	FOR EACH ROW EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER user_roles_auth AFTER INSERT OR UPDATE OR DELETE ON user_roles
	FOR EACH ROW EXECUTE FUNCTION berth_auth_changed();
-- A lockout that starts (not every failure counted while it lasts).
CREATE TRIGGER auth_failures_auth AFTER INSERT ON auth_failures FOR EACH ROW
	WHEN (NEW.scope = 'address' AND NEW.locked_until IS NOT NULL)
	EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER auth_failures_auth_update AFTER UPDATE OF locked_until
	ON auth_failures FOR EACH ROW
	WHEN (NEW.scope = 'address' AND NEW.locked_until IS NOT NULL
	      AND NEW.locked_until IS DISTINCT FROM OLD.locked_until)
	EXECUTE FUNCTION berth_auth_changed();
-- 2025-era MCP sessions, which berth-fcgi keeps too (shared/mcp_session.c):
-- a session deleted (DELETE /mcp, housekeeping, a user revoked) or its log
-- level changed. last_used_at writes are not listed.
CREATE TRIGGER mcp_sessions_auth AFTER UPDATE OF id, user_id, auth_method,
	protocol_version, log_level, environment, expires_at OR DELETE
	ON mcp_sessions FOR EACH ROW EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER mcp_sessions_auth_truncate AFTER TRUNCATE ON mcp_sessions
	FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER api_keys_auth_truncate AFTER TRUNCATE ON api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER sessions_auth_truncate AFTER TRUNCATE ON sessions
	FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER users_auth_truncate AFTER TRUNCATE ON users
	FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();
CREATE TRIGGER user_roles_auth_truncate AFTER TRUNCATE ON user_roles
	FOR EACH STATEMENT EXECUTE FUNCTION berth_auth_changed();

-- Waits (at most max_wait seconds) until every other worker with a live
-- lease has acknowledged the current epoch. Call it after the commit of a
-- change, outside that transaction. true: done; false: max_wait passed
-- first (a lease is never longer than what berth-fcgi asks for, so a
-- max_wait above auth.cache_lease cannot end so).
CREATE FUNCTION berth_auth_barrier(max_wait double precision) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	g bigint;
	deadline timestamptz := clock_timestamp()
		+ make_interval(secs => least(greatest(max_wait, 0), 3600));
BEGIN
	SELECT gen INTO g FROM auth_epoch;
	LOOP
		IF NOT EXISTS (SELECT 1 FROM auth_caches
		               WHERE holder <> pg_backend_pid() AND acked < g
		               AND lease_until > clock_timestamp()) THEN
			RETURN true;
		END IF;
		IF clock_timestamp() >= deadline THEN
			RETURN false;
		END IF;
		PERFORM pg_sleep(0.002);
	END LOOP;
END
$$;

-- Agents listed as tools (shared/agent_tools.c) are cached the same way
-- but without a barrier: a changed agent is a listing a moment old, never
-- a permission.
CREATE FUNCTION berth_agents_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('berth_agents', '');
	RETURN NULL;
END
$$;
CREATE TRIGGER agents_list AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON agents FOR EACH STATEMENT EXECUTE FUNCTION berth_agents_changed();
