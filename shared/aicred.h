/*
 * aicred.h - AI provider credentials kept in the database: the tokens of
 * `berth auth anthropic login` (OAuth 2 authorization code with PKCE S256,
 * the code pasted by the user), stored sealed under the master key
 * (crypto.h) in table ai_credentials (sql/006_ai_credentials.sql) so that
 * berthd's run workers on any host can use them, and refreshed before they
 * expire.
 *
 * Endpoints, client id, redirect URI and scopes come from the ai_oauth.*
 * config keys (Claude's public values by default). The token endpoint is
 * asked with libcurl: https only (plain http only to a loopback address,
 * for tests), no redirects, TLS verified, ai_oauth.timeout seconds, the
 * answer capped at LIMIT_AI_OAUTH_RESPONSE_BYTES and held in one buffer
 * that is wiped before it is freed. Nothing here logs or returns a token
 * in a message; why-strings are safe to print.
 *
 * Refresh: aicred_get() hands out a token with more than
 * ai_oauth.refresh_margin seconds left as is; otherwise it takes the row
 * with SELECT ... FOR UPDATE (one refresh at a time across every worker
 * and host; the others wait, then find the new tokens), asks the token
 * endpoint with grant_type=refresh_token and stores the new tokens in the
 * same transaction.
 *
 * Ownership: every struct here is a plain value owned by the caller; wipe
 * struct aicred_tokens with aicred_tokens_wipe() when done.
 */
#ifndef BERTH_AICRED_H
#define BERTH_AICRED_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"
#include "err.h"

struct config;
struct crypto_key;

/* An access or refresh token longer than this is refused. */
#define AICRED_TOKEN_MAX 1500
/* Verifier, challenge and state: 32 random bytes / a digest, base64url. */
#define AICRED_PKCE_LEN 43

struct aicred_tokens {
	char access[AICRED_TOKEN_MAX + 1];  /* secret */
	char refresh[AICRED_TOKEN_MAX + 1]; /* secret; "" when none */
	long long expires_at; /* Unix seconds; 0 when the server gave none */
	char scopes[512];     /* as granted, "" when unsaid */
};

struct aicred_pkce {
	char verifier[AICRED_PKCE_LEN + 1];  /* secret until used */
	char challenge[AICRED_PKCE_LEN + 1]; /* base64url(SHA-256(verifier)) */
	char state[AICRED_PKCE_LEN + 1];
};

/* What `berth auth anthropic status` shows: never a token. */
struct aicred_info {
	long long expires_at; /* 0 = unknown */
	bool refreshable;
	char key_id[65];
	char scopes[512];
	char updated_at[64];
	char refreshed_at[64]; /* "" = never refreshed */
};

/* Overwrites the tokens. */
void aicred_tokens_wipe(struct aicred_tokens *t);

/* Fresh verifier, S256 challenge and state (RAND_bytes). ERR_INTERNAL
 * when the random generator fails. */
berr aicred_pkce_new(struct aicred_pkce *out)
    __attribute__((warn_unused_result));

/* base64url(SHA-256(verifier)) into out (AICRED_PKCE_LEN + 1 bytes). */
void aicred_pkce_challenge(const char *verifier, char *out);

/*
 * The authorization URL the user opens: ai_oauth.authorize_url with
 * code=true, client_id, response_type=code, redirect_uri, scope,
 * code_challenge, code_challenge_method=S256 and state. *url is malloc'ed
 * (caller frees). ERR_NOMEM.
 */
berr aicred_authorize_url(const struct config *cfg, const struct aicred_pkce *p,
    char **url) __attribute__((warn_unused_result));

/*
 * Splits what the user pasted ("CODE#STATE", blanks around ignored) and
 * checks STATE against p->state in constant time. OK with the code in
 * code (size bytes); ERR_INVALID (no '#', empty or odd characters, too
 * long), ERR_DENIED (the state differs: not the answer to this login).
 * why (static) says which.
 */
berr aicred_parse_code(const char *pasted, const struct aicred_pkce *p,
    char *code, size_t size, const char **why)
    __attribute__((warn_unused_result));

/*
 * Exchanges code at ai_oauth.token_url (JSON body: grant_type
 * authorization_code, code, state, client_id, redirect_uri,
 * code_verifier). OK with *out filled; ERR_DENIED (the endpoint refused:
 * 4xx), ERR_IO (unreachable, timed out, 5xx), ERR_INVALID (not a JSON
 * token answer: HTML, no access_token, odd token), ERR_TOO_BIG (over the
 * cap), ERR_CONFIG (the URL is not https, nor http to loopback), ERR_NOMEM.
 * On error *out is wiped and why (whylen bytes) says what happened.
 */
berr aicred_exchange(const struct config *cfg, const char *code,
    const struct aicred_pkce *p, struct aicred_tokens *out, char *why,
    size_t whylen) __attribute__((warn_unused_result));

/* Registers the prepared statements on db. */
berr aicred_prepare(struct db *db) __attribute__((warn_unused_result));

/*
 * Seals t under k (additional data names provider) and inserts or
 * replaces provider's row. ERR_INVALID (unknown provider), ERR_NOMEM,
 * ERR_INTERNAL, ERR_DB, ERR_DB_DOWN. Works inside the caller's db_tx().
 */
berr aicred_store(struct db *db, const struct crypto_key *k,
    const char *provider, const struct aicred_tokens *t)
    __attribute__((warn_unused_result));

/* provider's row without its secret. ERR_NOT_FOUND when there is none. */
berr aicred_status(struct db *db, const char *provider, struct aicred_info *out)
    __attribute__((warn_unused_result));

/* Opens provider's stored tokens with k, without refreshing: OK,
 * ERR_NOT_FOUND, or crypto_open()'s errors. *out wiped on error. */
berr aicred_open(struct db *db, const struct crypto_key *k,
    const char *provider, struct aicred_tokens *out)
    __attribute__((warn_unused_result));

/*
 * For `berth keys rotate`: re-seals provider's row under k when another
 * key (k->previous) sealed it, under the row lock. OK (also when there is
 * no row or it is already under k; *resealed says whether it was
 * re-sealed), crypto_open()'s errors when it does not open, ERR_DB,
 * ERR_DB_DOWN.
 */
berr aicred_reseal(struct db *db, const struct crypto_key *k,
    const char *provider, bool *resealed) __attribute__((warn_unused_result));

/* Deletes provider's row. ERR_NOT_FOUND when there was none. */
berr aicred_delete(struct db *db, const char *provider)
    __attribute__((warn_unused_result));

/*
 * A usable token of provider for a run, refreshed first (see above) when
 * it has ai_oauth.refresh_margin seconds left or fewer. k may be NULL (no
 * master key configured). Returns OK (*out filled); ERR_NOT_FOUND (no row:
 * the caller tries the next source); with why set otherwise: ERR_CONFIG
 * (a row but no master key), ERR_DENIED (the row does not open with this
 * key), ERR_CONFLICT (expired and no refresh token), and
 * aicred_exchange()'s errors when the refresh failed (a token still valid
 * for over a minute is then used anyway, with a warning in the log), or
 * ERR_DB / ERR_DB_DOWN. *out wiped on error.
 */
berr aicred_get(struct db *db, const struct config *cfg,
    const struct crypto_key *k, const char *provider, struct aicred_tokens *out,
    char *why, size_t whylen) __attribute__((warn_unused_result));

#endif
