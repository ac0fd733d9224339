-- 008_audit_append.sql - one round trip per audit row.
--
-- An append used to be five statements from the client (BEGIN, the chain
-- lock, reading the last row_hash, INSERT, COMMIT): five round trips on
-- every tools/call. berth_audit_append() does the same work inside the
-- server, in the statement that calls it: it takes the same advisory lock
-- (1113944692, 2), reads the last row_hash after the lock is held (PL/pgSQL
-- takes a new snapshot for each statement of a VOLATILE function in READ
-- COMMITTED, so rows committed by the previous holder are seen), computes
-- row_hash exactly as shared/audit.c documents it (canonical encoding
-- version 1, which audit_verify() still recomputes in C from the stored
-- row), and inserts. Called on its own it is one implicit transaction and
-- the lock is released at its end; called inside a transaction, the row and
-- the lock belong to that transaction, as before.
--
-- F(text): its length in bytes, 4 bytes big-endian (int4send), then its
-- UTF-8 bytes (the client encoding Berth always connects with, so these are
-- the bytes a verifier reading the row back hashes); F(NULL) is FF FF FF FF.
CREATE FUNCTION berth_audit_field(t text) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT CASE WHEN t IS NULL THEN '\xffffffff'::bytea
	ELSE int4send(octet_length(convert_to(t, 'UTF8'))) ||
		convert_to(t, 'UTF8') END
$$;

-- ts is inserted as given; ts_us is the same instant in microseconds since
-- the epoch (decimal text), made by the caller from the same clock reading,
-- so the hash covers the stored value. Returns the new row's id.
CREATE FUNCTION berth_audit_append(p_ts timestamptz, p_ts_us text,
	p_user_id bigint, p_username text, p_action text, p_resource text,
	p_environment text, p_ip text, p_success boolean, p_details text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
	v_ip inet := p_ip::inet;
	v_details jsonb := coalesce(p_details, '{}')::jsonb;
	v_prev bytea;
	v_hash bytea;
	v_id bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(1113944692, 2);
	SELECT row_hash INTO v_prev FROM audit_log ORDER BY id DESC LIMIT 1;
	v_hash := sha256(
		coalesce(v_prev, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
		|| convert_to('berth-audit-v1', 'UTF8')
		|| berth_audit_field(p_ts_us)
		|| berth_audit_field(p_user_id::text)
		|| berth_audit_field(p_username)
		|| berth_audit_field(p_action)
		|| berth_audit_field(p_resource)
		|| berth_audit_field(p_environment)
		|| berth_audit_field(v_ip::text)
		|| berth_audit_field(CASE WHEN p_success THEN 't' ELSE 'f' END)
		|| berth_audit_field(v_details::text));
	INSERT INTO audit_log (ts, user_id, username, action, resource,
		environment, ip_address, success, details, prev_hash, row_hash)
	VALUES (p_ts, p_user_id, p_username, p_action, p_resource,
		p_environment, v_ip, p_success, v_details, v_prev, v_hash)
	RETURNING id INTO v_id;
	RETURN v_id;
END
$$;
