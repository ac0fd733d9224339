-- 006_ai_credentials.sql - AI provider credentials obtained by
-- `berth auth anthropic login` (OAuth authorization code with PKCE), for
-- berthd's run workers on any host.
--
-- One row per provider. The tokens (access token, refresh token and the
-- expiry they were issued with) are one JSON document sealed with
-- AES-256-GCM under the master key (shared/crypto.h), never stored in the
-- clear: ciphertext with the 16-byte tag appended, a unique 96-bit IV, the
-- id of the master key that sealed it. The additional data names the
-- provider ("berth-ai-credential-v1", shared/aicred.c), so a row copied to
-- another provider does not open. expires_at and refreshable repeat what
-- the sealed document says, for `berth auth anthropic status` without the
-- key; the runner decides from the sealed copy. A refresh happens under
-- SELECT ... FOR UPDATE on the row, so two workers never refresh at once.
CREATE TABLE ai_credentials (
	provider      text PRIMARY KEY CHECK (provider IN ('anthropic')),
	kind          text NOT NULL DEFAULT 'oauth' CHECK (kind IN ('oauth')),
	ciphertext    bytea NOT NULL CHECK (length(ciphertext) > 16),
	iv            bytea NOT NULL UNIQUE CHECK (length(iv) = 12),
	key_id        text NOT NULL CHECK (length(key_id) BETWEEN 1 AND 64),
	expires_at    timestamptz,
	refreshable   boolean NOT NULL DEFAULT false,
	scopes        text NOT NULL DEFAULT '' CHECK (length(scopes) <= 1000),
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	refreshed_at  timestamptz
);
