/*
 * aicred.c - see aicred.h.
 *
 * The sealed document is {"a": access, "r": refresh, "e": expires_at,
 * "s": scopes}; the additional data is "berth-ai-credential-v1\n<len>:
 * <provider>", a label no other sealed secret uses (crypto_ad() starts
 * with "berth-upstream-key-v1"), so neither kind of row opens as the
 * other. Every buffer that held a token is cleansed before it is freed or
 * goes out of scope.
 */
#include "aicred.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config.h"
#include "crypto.h"
#include "digest.h"
#include "hex.h"
#include "http.h"
#include "limit.h"
#include "log.h"

#define AICRED_AD_LABEL "berth-ai-credential-v1"
/* Seconds allowed for the TCP/TLS connect, within the total timeout. */
#define AICRED_CONNECT_TIMEOUT 10
/* A refresh that failed still leaves a token this fresh usable. */
#define AICRED_STALE_OK 60
/* expires_in beyond ten years is nonsense. */
#define AICRED_MAX_LIFETIME (10LL * 366 * 24 * 3600)

static const char aicred_sql_get[] =
    "SELECT encode(ciphertext, 'hex') AS ct, encode(iv, 'hex') AS iv, "
    "key_id FROM ai_credentials WHERE provider = $1";
static const char aicred_sql_lock[] =
    "SELECT encode(ciphertext, 'hex') AS ct, encode(iv, 'hex') AS iv, "
    "key_id FROM ai_credentials WHERE provider = $1 FOR UPDATE";
static const char aicred_sql_put[] =
    "INSERT INTO ai_credentials (provider, ciphertext, iv, key_id, "
    "expires_at, refreshable, scopes) VALUES ($1, decode($2, 'hex'), "
    "decode($3, 'hex'), $4, CASE WHEN $5::bigint = 0 THEN NULL ELSE "
    "to_timestamp($5::bigint) END, $6::boolean, $7) "
    "ON CONFLICT (provider) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, "
    "iv = EXCLUDED.iv, key_id = EXCLUDED.key_id, expires_at = "
    "EXCLUDED.expires_at, refreshable = EXCLUDED.refreshable, scopes = "
    "EXCLUDED.scopes, updated_at = now(), refreshed_at = CASE $8 WHEN "
    "'refresh' THEN now() WHEN 'keep' THEN ai_credentials.refreshed_at "
    "END";
static const char aicred_sql_status[] =
    "SELECT coalesce(extract(epoch FROM expires_at)::bigint, 0) AS exp, "
    "refreshable, key_id, scopes, to_char(updated_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD HH24:MI:SS') || ' UTC' AS updated, "
    "coalesce(to_char(refreshed_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD HH24:MI:SS') || ' UTC', '') AS refreshed "
    "FROM ai_credentials WHERE provider = $1";
static const char aicred_sql_delete[] =
    "DELETE FROM ai_credentials WHERE provider = $1 RETURNING provider";

/* A token endpoint's answer, in one capped buffer. */
struct aicred_buf {
	char *data; /* LIMIT_AI_OAUTH_RESPONSE_BYTES + 1, wiped on free */
	size_t len;
	bool too_big;
};

void
aicred_tokens_wipe(struct aicred_tokens *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
}

/* Unpadded base64url of n bytes into out (room for 4 * ceil(n/3) + 1). */
static void
aicred_b64url(const unsigned char *in, size_t n, char *out)
{
	char *p;

	(void)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	for (p = out; *p != '\0'; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
		else if (*p == '=')
			*p = '\0';
	}
}

void
aicred_pkce_challenge(const char *verifier, char *out)
{
	unsigned char d[DIGEST_SHA256_LEN];
	char enc[48];

	(void)!digest_sha256(verifier, strlen(verifier), d);
	aicred_b64url(d, sizeof(d), enc);
	/* 32 bytes are always 43 characters. */
	memcpy(out, enc, AICRED_PKCE_LEN);
	out[AICRED_PKCE_LEN] = '\0';
}

berr
aicred_pkce_new(struct aicred_pkce *out)
{
	unsigned char r[64];
	char enc[96];

	memset(out, 0, sizeof(*out));
	if (RAND_bytes(r, sizeof(r)) != 1)
		return ERR_INTERNAL;
	/* RFC 7636: 32 octets give a 43-character verifier. */
	aicred_b64url(r, 32, enc);
	memcpy(out->verifier, enc, AICRED_PKCE_LEN);
	aicred_b64url(r + 32, 32, enc);
	memcpy(out->state, enc, AICRED_PKCE_LEN);
	OPENSSL_cleanse(r, sizeof(r));
	OPENSSL_cleanse(enc, sizeof(enc));
	aicred_pkce_challenge(out->verifier, out->challenge);
	return OK;
}

/* Appends s percent-encoded (RFC 3986 unreserved kept) to b at *n. */
static bool
aicred_pct(char *b, size_t size, size_t *n, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (*n + 4 > size)
			return false;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' ||
		    c == '~') {
			b[(*n)++] = (char)c;
		} else {
			b[(*n)++] = '%';
			b[(*n)++] = hex[c >> 4];
			b[(*n)++] = hex[c & 15];
		}
	}
	b[*n] = '\0';
	return true;
}

/* Appends the literal s to b at *n. */
static bool
aicred_lit(char *b, size_t size, size_t *n, const char *s)
{
	size_t l = strlen(s);

	if (*n + l + 1 > size)
		return false;
	memcpy(b + *n, s, l + 1);
	*n += l;
	return true;
}

berr
aicred_authorize_url(
    const struct config *cfg, const struct aicred_pkce *p, char **url)
{
	const struct strlist *sc = &cfg->ai_oauth.scopes;
	size_t size = 3 *
	    (strlen(cfg->ai_oauth.authorize_url) +
	        strlen(cfg->ai_oauth.client_id) +
	        strlen(cfg->ai_oauth.redirect_uri) + 512),
	       n = 0, i;
	char *b, *scopes;
	bool ok;

	*url = NULL;
	for (i = 0; i < sc->n; i++)
		size += 3 * (strlen(sc->v[i]) + 1);
	if ((b = malloc(size)) == NULL)
		return ERR_NOMEM;
	if ((scopes = calloc(1, size)) == NULL) {
		free(b);
		return ERR_NOMEM;
	}
	for (i = 0; i < sc->n; i++) {
		if (i > 0)
			strcat(scopes, " ");
		strcat(scopes, sc->v[i]);
	}
	ok = aicred_lit(b, size, &n, cfg->ai_oauth.authorize_url) &&
	    aicred_lit(b, size, &n,
	        strchr(cfg->ai_oauth.authorize_url, '?') ? "&" : "?") &&
	    aicred_lit(b, size, &n, "code=true&client_id=") &&
	    aicred_pct(b, size, &n, cfg->ai_oauth.client_id) &&
	    aicred_lit(b, size, &n, "&response_type=code&redirect_uri=") &&
	    aicred_pct(b, size, &n, cfg->ai_oauth.redirect_uri) &&
	    aicred_lit(b, size, &n, "&scope=") &&
	    aicred_pct(b, size, &n, scopes) &&
	    aicred_lit(b, size, &n, "&code_challenge=") &&
	    aicred_pct(b, size, &n, p->challenge) &&
	    aicred_lit(b, size, &n, "&code_challenge_method=S256&state=") &&
	    aicred_pct(b, size, &n, p->state);
	free(scopes);
	if (!ok) {
		free(b);
		return ERR_NOMEM; /* the size above always fits */
	}
	*url = b;
	return OK;
}

/* A code or token: 1..max printable ASCII characters without blanks. */
static bool
aicred_word_ok(const char *s, size_t len, size_t max)
{
	size_t i;

	if (len == 0 || len > max)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

berr
aicred_parse_code(const char *pasted, const struct aicred_pkce *p, char *code,
    size_t size, const char **why)
{
	const char *s = pasted, *e, *hash;
	size_t n, slen = strlen(p->state);

	*code = '\0';
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	hash = memchr(s, '#', (size_t)(e - s));
	if (hash == NULL) {
		*why = "expected CODE#STATE, as the page shows it";
		return ERR_INVALID;
	}
	n = (size_t)(hash - s);
	if (!aicred_word_ok(s, n, size - 1) ||
	    !aicred_word_ok(hash + 1, (size_t)(e - hash - 1), 256) ||
	    memchr(hash + 1, '#', (size_t)(e - hash - 1)) != NULL) {
		*why = "the pasted code is empty, too long or has odd "
		       "characters";
		return ERR_INVALID;
	}
	/* The length of a state is no secret; its bytes are compared in
	 * constant time. */
	if ((size_t)(e - hash - 1) != slen ||
	    CRYPTO_memcmp(hash + 1, p->state, slen) != 0) {
		*why = "the state does not match this login (a code from "
		       "another attempt, or tampered with): nothing stored";
		return ERR_DENIED;
	}
	memcpy(code, s, n);
	code[n] = '\0';
	return OK;
}

/* https, or http to a loopback address (tests, a local proxy). */
static bool
aicred_url_ok(const char *url)
{
	static const char *const loop[] = { "http://127.0.0.1",
		"http://localhost", "http://[::1]" };
	size_t i, l;

	if (strncasecmp(url, "https://", 8) == 0)
		return true;
	for (i = 0; i < sizeof(loop) / sizeof(loop[0]); i++) {
		l = strlen(loop[i]);
		if (strncasecmp(url, loop[i], l) == 0 &&
		    (url[l] == '\0' || url[l] == ':' || url[l] == '/'))
			return true;
	}
	return false;
}

static size_t
aicred_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct aicred_buf *b = arg;
	size_t n = size * nmemb;

	if (n > LIMIT_AI_OAUTH_RESPONSE_BYTES - b->len) {
		b->too_big = true;
		return 0; /* aborts the transfer */
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Copies a printable cut of s (at most 120 bytes) into out. */
static void
aicred_clean(const char *s, char *out, size_t size)
{
	size_t n = strnlen(s, 120), i;

	if (n + 1 > size)
		n = size - 1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	out[n] = '\0';
}

/* The string at key of o, or NULL. */
static const char *
aicred_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return NULL;
}

/*
 * Reads a token answer (status 200, JSON) into *out. old_refresh is kept
 * when a refresh answer names no new refresh token.
 */
static berr
aicred_parse_answer(long status, struct aicred_buf *b, const char *ctype,
    const char *old_refresh, struct aicred_tokens *out, char *why,
    size_t whylen)
{
	struct json_object *o = NULL, *v;
	const char *at, *rt, *err, *desc, *sc, *tt;
	char c1[128], c2[128];
	long long ein;
	berr rc = ERR_INVALID;

	if (b->len > 0)
		o = json_tokener_parse(b->data);
	if (status != 200) {
		if (o != NULL && json_object_is_type(o, json_type_object) &&
		    (err = aicred_str(o, "error")) != NULL) {
			desc = aicred_str(o, "error_description");
			aicred_clean(err, c1, sizeof(c1));
			aicred_clean(desc ? desc : "", c2, sizeof(c2));
			snprintf(why, whylen,
			    "the token endpoint refused (HTTP %ld): %s%s%s",
			    status, c1, *c2 ? ": " : "", c2);
		} else {
			snprintf(why, whylen,
			    "the token endpoint answered HTTP %ld", status);
		}
		rc = status >= 500 ? ERR_IO : ERR_DENIED;
		goto out;
	}
	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		aicred_clean(ctype ? ctype : "none", c1, sizeof(c1));
		snprintf(why, whylen,
		    "the token endpoint did not answer JSON (HTTP 200, "
		    "Content-Type %s)",
		    c1);
		goto out;
	}
	at = aicred_str(o, "access_token");
	rt = aicred_str(o, "refresh_token");
	tt = aicred_str(o, "token_type");
	if (at == NULL || !aicred_word_ok(at, strlen(at), AICRED_TOKEN_MAX) ||
	    (rt != NULL && !aicred_word_ok(rt, strlen(rt), AICRED_TOKEN_MAX))) {
		snprintf(why, whylen,
		    "the token endpoint's answer has no usable access_token "
		    "(missing, too long or odd characters)");
		goto out;
	}
	if (tt != NULL && strcasecmp(tt, "bearer") != 0) {
		snprintf(why, whylen,
		    "the token endpoint issued a token of another type than "
		    "Bearer");
		goto out;
	}
	snprintf(out->access, sizeof(out->access), "%s", at);
	snprintf(out->refresh, sizeof(out->refresh), "%s",
	    rt ? rt : (old_refresh ? old_refresh : ""));
	out->expires_at = 0;
	if (json_object_object_get_ex(o, "expires_in", &v)) {
		if (!json_object_is_type(v, json_type_int) ||
		    (ein = json_object_get_int64(v)) < 0 ||
		    ein > AICRED_MAX_LIFETIME) {
			snprintf(why, whylen,
			    "the token endpoint's expires_in is not a "
			    "sensible number of seconds");
			aicred_tokens_wipe(out);
			goto out;
		}
		out->expires_at = (long long)time(NULL) + ein;
	}
	sc = aicred_str(o, "scope");
	if (sc != NULL)
		aicred_clean(sc, out->scopes, sizeof(out->scopes));
	rc = OK;
out:
	json_object_put(o);
	return rc;
}

/*
 * POSTs the JSON body to ai_oauth.token_url and reads a token answer.
 */
static berr
aicred_post(const struct config *cfg, const char *body, const char *old_refresh,
    struct aicred_tokens *out, char *why, size_t whylen)
{
	struct aicred_buf b = { 0 };
	struct curl_slist *h = NULL, *h2;
	char errbuf[CURL_ERROR_SIZE] = "";
	const char *ctype = NULL;
	long timeout = cfg->ai_oauth.timeout > 0 ? cfg->ai_oauth.timeout : 30;
	long status = 0;
	CURL *c = NULL;
	CURLcode cc;
	berr rc = ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if (!aicred_url_ok(cfg->ai_oauth.token_url)) {
		snprintf(why, whylen,
		    "ai_oauth.token_url must be https (plain http only to a "
		    "loopback address)");
		return ERR_CONFIG;
	}
	if ((b.data = malloc(LIMIT_AI_OAUTH_RESPONSE_BYTES + 1)) == NULL)
		goto out;
	b.data[0] = '\0';
	if ((h = curl_slist_append(NULL, "Content-Type: application/json")) ==
	        NULL ||
	    (h2 = curl_slist_append(h, "Accept: application/json")) == NULL)
		goto out;
	h = h2;
	rc = ERR_INTERNAL;
	if ((c = http_easy(&(struct http_opts){ .url = cfg->ai_oauth.token_url,
	         .timeout_ms = timeout * 1000L,
	         .connect_timeout_ms = AICRED_CONNECT_TIMEOUT * 1000L,
	         .max_bytes = LIMIT_AI_OAUTH_RESPONSE_BYTES,
	         .user_agent = "berth",
	         .errbuf = errbuf })) == NULL ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, aicred_write) !=
	        CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK) {
		snprintf(why, whylen, "libcurl setup failed");
		goto out;
	}
	cc = curl_easy_perform(c);
	if (b.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, whylen,
		    "the token endpoint's answer is over %d bytes",
		    LIMIT_AI_OAUTH_RESPONSE_BYTES);
		rc = ERR_TOO_BIG;
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(why, whylen, "the token endpoint is unreachable: %s",
		    cc == CURLE_OPERATION_TIMEDOUT ? "timed out"
		        : errbuf[0]                ? errbuf
		                                   : curl_easy_strerror(cc));
		rc = ERR_IO;
		goto out;
	}
	(void)curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	(void)curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
	rc = aicred_parse_answer(
	    status, &b, ctype, old_refresh, out, why, whylen);
out:
	if (rc != OK)
		aicred_tokens_wipe(out);
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (b.data != NULL) {
		OPENSSL_cleanse(b.data, LIMIT_AI_OAUTH_RESPONSE_BYTES + 1);
		free(b.data);
	}
	return rc;
}

/* Serialises o into a malloc'ed string for a request body, or NULL. */
static char *
aicred_body(struct json_object *o)
{
	const char *s =
	    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

	return s ? strdup(s) : NULL;
}

/* Frees a body that held secrets. */
static void
aicred_body_free(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/*
 * Wipes the strings of a JSON object that held secrets before it is
 * released (json-c's own copies).
 */
static void
aicred_json_wipe_put(struct json_object *o)
{
	if (o == NULL)
		return;
	json_object_object_foreach(o, k, v)
	{
		(void)k;
		if (json_object_is_type(v, json_type_string))
			OPENSSL_cleanse((void *)json_object_get_string(v),
			    (size_t)json_object_get_string_len(v));
	}
	json_object_put(o);
}

berr
aicred_exchange(const struct config *cfg, const char *code,
    const struct aicred_pkce *p, struct aicred_tokens *out, char *why,
    size_t whylen)
{
	struct json_object *o = json_object_new_object();
	char *body = NULL;
	berr rc = ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if (o == NULL ||
	    json_object_object_add(o, "grant_type",
	        json_object_new_string("authorization_code")) ||
	    json_object_object_add(o, "code", json_object_new_string(code)) ||
	    json_object_object_add(
	        o, "state", json_object_new_string(p->state)) ||
	    json_object_object_add(o, "client_id",
	        json_object_new_string(cfg->ai_oauth.client_id)) ||
	    json_object_object_add(o, "redirect_uri",
	        json_object_new_string(cfg->ai_oauth.redirect_uri)) ||
	    json_object_object_add(
	        o, "code_verifier", json_object_new_string(p->verifier)) ||
	    (body = aicred_body(o)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	rc = aicred_post(cfg, body, NULL, out, why, whylen);
out:
	aicred_body_free(body);
	aicred_json_wipe_put(o);
	return rc;
}

/* grant_type=refresh_token for t->refresh; *out the new tokens. */
static berr
aicred_refresh(const struct config *cfg, const struct aicred_tokens *t,
    struct aicred_tokens *out, char *why, size_t whylen)
{
	struct json_object *o = json_object_new_object();
	char *body = NULL;
	berr rc = ERR_NOMEM;

	memset(out, 0, sizeof(*out));
	if (o == NULL ||
	    json_object_object_add(
	        o, "grant_type", json_object_new_string("refresh_token")) ||
	    json_object_object_add(
	        o, "refresh_token", json_object_new_string(t->refresh)) ||
	    json_object_object_add(o, "client_id",
	        json_object_new_string(cfg->ai_oauth.client_id)) ||
	    (body = aicred_body(o)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	rc = aicred_post(cfg, body, t->refresh, out, why, whylen);
	if (rc == OK && out->scopes[0] == '\0')
		snprintf(out->scopes, sizeof(out->scopes), "%s", t->scopes);
out:
	aicred_body_free(body);
	aicred_json_wipe_put(o);
	return rc;
}

berr
aicred_prepare(struct db *db)
{
	berr rc;

	if ((rc = db_prepare(db, "aicred_get", aicred_sql_get, 1)) != OK ||
	    (rc = db_prepare(db, "aicred_lock", aicred_sql_lock, 1)) != OK ||
	    (rc = db_prepare(db, "aicred_put", aicred_sql_put, 8)) != OK ||
	    (rc = db_prepare(db, "aicred_status", aicred_sql_status, 1)) != OK)
		return rc;
	return db_prepare(db, "aicred_delete", aicred_sql_delete, 1);
}

/* The additional data of provider's row; its length, 0 when too long. */
static size_t
aicred_ad(const char *provider, unsigned char *buf, size_t size)
{
	int n = snprintf((char *)buf, size, AICRED_AD_LABEL "\n%zu:%s",
	    strlen(provider), provider);

	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

static bool
aicred_provider_ok(const char *provider)
{
	return provider != NULL && strcmp(provider, "anthropic") == 0;
}

/* Seals t and writes provider's row; why is "login", "refresh" (sets
 * refreshed_at) or "keep" (a re-seal keeps it). */
static berr
aicred_put(struct db *db, const struct crypto_key *k, const char *provider,
    const struct aicred_tokens *t, const char *why)
{
	struct json_object *o = json_object_new_object();
	unsigned char ad[CRYPTO_AD_MAX], iv[CRYPTO_IV_LEN], *ct = NULL;
	char *pt = NULL, *cthex = NULL, *ivhex = NULL, exp[24];
	const char *v[8];
	size_t ctlen = 0, adlen;
	berr rc = ERR_NOMEM;

	if (!aicred_provider_ok(provider) || t->access[0] == '\0') {
		rc = ERR_INVALID;
		goto out;
	}
	if ((adlen = aicred_ad(provider, ad, sizeof(ad))) == 0) {
		rc = ERR_INVALID;
		goto out;
	}
	if (o == NULL ||
	    json_object_object_add(o, "a", json_object_new_string(t->access)) ||
	    json_object_object_add(
	        o, "r", json_object_new_string(t->refresh)) ||
	    json_object_object_add(
	        o, "e", json_object_new_int64(t->expires_at)) ||
	    json_object_object_add(o, "s", json_object_new_string(t->scopes)) ||
	    (pt = aicred_body(o)) == NULL)
		goto out;
	if ((rc = crypto_seal(k, (const unsigned char *)pt, strlen(pt), ad,
	         adlen, iv, &ct, &ctlen)) != OK)
		goto out;
	if ((cthex = hex_encode(ct, ctlen)) == NULL ||
	    (ivhex = hex_encode(iv, sizeof(iv))) == NULL) {
		rc = ERR_NOMEM;
		goto out;
	}
	snprintf(exp, sizeof(exp), "%lld", t->expires_at);
	v[0] = provider;
	v[1] = cthex;
	v[2] = ivhex;
	v[3] = k->id;
	v[4] = exp;
	v[5] = t->refresh[0] ? "true" : "false";
	v[6] = t->scopes;
	v[7] = why;
	if ((rc = aicred_prepare(db)) != OK)
		goto out;
	rc = db_exec(db, "aicred_put", 8, v, NULL);
out:
	aicred_body_free(pt);
	aicred_json_wipe_put(o);
	free(ct);
	free(cthex);
	free(ivhex);
	return rc;
}

berr
aicred_store(struct db *db, const struct crypto_key *k, const char *provider,
    const struct aicred_tokens *t)
{
	return aicred_put(db, k, provider, t, "login");
}

/*
 * Opens the row in res (from aicred_get or aicred_lock) into *out.
 * ERR_DB for a malformed row, crypto_open()'s errors otherwise.
 */
static berr
aicred_open_row(PGresult *res, const struct crypto_key *k, const char *provider,
    struct aicred_tokens *out)
{
	struct json_object *o = NULL, *v;
	unsigned char ad[CRYPTO_AD_MAX], *ct = NULL, *iv = NULL, *pt = NULL;
	size_t ctlen = 0, ivlen = 0, ptlen = 0, adlen;
	const char *s;
	berr rc = ERR_DB;

	memset(out, 0, sizeof(*out));
	if (PQfnumber(res, "ct") < 0 || PQfnumber(res, "iv") < 0 ||
	    PQfnumber(res, "key_id") < 0 ||
	    (ct = hex_decode(
	         PQgetvalue(res, 0, PQfnumber(res, "ct")), &ctlen)) == NULL ||
	    (iv = hex_decode(
	         PQgetvalue(res, 0, PQfnumber(res, "iv")), &ivlen)) == NULL ||
	    ivlen != CRYPTO_IV_LEN)
		goto out;
	if ((adlen = aicred_ad(provider, ad, sizeof(ad))) == 0) {
		rc = ERR_INVALID;
		goto out;
	}
	if ((rc = crypto_open(k, PQgetvalue(res, 0, PQfnumber(res, "key_id")),
	         iv, ct, ctlen, ad, adlen, &pt, &ptlen)) != OK)
		goto out;
	rc = ERR_DB;
	if ((o = json_tokener_parse((const char *)pt)) == NULL ||
	    (s = aicred_str(o, "a")) == NULL || strlen(s) > AICRED_TOKEN_MAX)
		goto out;
	snprintf(out->access, sizeof(out->access), "%s", s);
	if ((s = aicred_str(o, "r")) != NULL && strlen(s) <= AICRED_TOKEN_MAX)
		snprintf(out->refresh, sizeof(out->refresh), "%s", s);
	if (json_object_object_get_ex(o, "e", &v))
		out->expires_at = json_object_get_int64(v);
	if ((s = aicred_str(o, "s")) != NULL)
		snprintf(out->scopes, sizeof(out->scopes), "%s", s);
	rc = OK;
out:
	if (rc != OK)
		aicred_tokens_wipe(out);
	if (pt != NULL) {
		OPENSSL_cleanse(pt, ptlen);
		free(pt);
	}
	aicred_json_wipe_put(o);
	free(ct);
	free(iv);
	return rc;
}

/* Runs the statement name for provider; ERR_NOT_FOUND without a row. */
static berr
aicred_row(
    struct db *db, const char *name, const char *provider, PGresult **res)
{
	const char *v[1] = { provider };
	berr rc;

	*res = NULL;
	if ((rc = aicred_prepare(db)) != OK ||
	    (rc = db_exec(db, name, 1, v, res)) != OK)
		return rc;
	if (PQntuples(*res) != 1) {
		PQclear(*res);
		*res = NULL;
		return ERR_NOT_FOUND;
	}
	return OK;
}

berr
aicred_open(struct db *db, const struct crypto_key *k, const char *provider,
    struct aicred_tokens *out)
{
	PGresult *res = NULL;
	berr rc;

	memset(out, 0, sizeof(*out));
	if ((rc = aicred_row(db, "aicred_get", provider, &res)) != OK)
		return rc;
	rc = aicred_open_row(res, k, provider, out);
	PQclear(res);
	return rc;
}

berr
aicred_status(struct db *db, const char *provider, struct aicred_info *out)
{
	PGresult *res = NULL;
	berr rc;

	memset(out, 0, sizeof(*out));
	if ((rc = aicred_row(db, "aicred_status", provider, &res)) != OK)
		return rc;
	out->expires_at =
	    strtoll(PQgetvalue(res, 0, PQfnumber(res, "exp")), NULL, 10);
	out->refreshable =
	    strcmp(PQgetvalue(res, 0, PQfnumber(res, "refreshable")), "t") == 0;
	snprintf(out->key_id, sizeof(out->key_id), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "key_id")));
	snprintf(out->scopes, sizeof(out->scopes), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "scopes")));
	snprintf(out->updated_at, sizeof(out->updated_at), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "updated")));
	snprintf(out->refreshed_at, sizeof(out->refreshed_at), "%s",
	    PQgetvalue(res, 0, PQfnumber(res, "refreshed")));
	PQclear(res);
	return OK;
}

berr
aicred_delete(struct db *db, const char *provider)
{
	PGresult *res = NULL;
	berr rc = aicred_row(db, "aicred_delete", provider, &res);

	PQclear(res);
	return rc;
}

/* Seconds of life left in t (a large number when no expiry is known). */
static long long
aicred_left(const struct aicred_tokens *t)
{
	return t->expires_at == 0 ? (long long)AICRED_MAX_LIFETIME
	                          : t->expires_at - (long long)time(NULL);
}

/* The refresh transaction of aicred_get(). */
struct aicred_tx {
	const struct config *cfg;
	const struct crypto_key *k;
	const char *provider;
	struct aicred_tokens *out;
	char *why;
	size_t whylen;
	berr refresh_rc; /* the token endpoint's verdict, kept past rollback */
	bool refreshed;
};

static berr
aicred_refresh_tx(struct db *db, void *arg)
{
	struct aicred_tx *x = arg;
	struct aicred_tokens cur, fresh;
	PGresult *res = NULL;
	berr rc;

	memset(&cur, 0, sizeof(cur));
	memset(&fresh, 0, sizeof(fresh));
	x->refresh_rc = OK;
	x->refreshed = false;
	if ((rc = aicred_row(db, "aicred_lock", x->provider, &res)) != OK)
		goto out;
	if ((rc = aicred_open_row(res, x->k, x->provider, &cur)) != OK)
		goto out;
	/* Another worker may have refreshed while this one waited. */
	if (aicred_left(&cur) > x->cfg->ai_oauth.refresh_margin ||
	    cur.refresh[0] == '\0') {
		*x->out = cur;
		goto out;
	}
	if ((rc = aicred_refresh(x->cfg, &cur, &fresh, x->why, x->whylen)) !=
	    OK) {
		x->refresh_rc = rc;
		if (aicred_left(&cur) > AICRED_STALE_OK) {
			log_warn("ai credentials: %s: refresh failed (%s); "
			         "the current token has %lld s left",
			    x->provider, x->why, aicred_left(&cur));
			*x->out = cur;
			rc = OK;
		}
		goto out;
	}
	if ((rc = aicred_put(db, x->k, x->provider, &fresh, "refresh")) != OK)
		goto out;
	*x->out = fresh;
	x->refreshed = true;
out:
	aicred_tokens_wipe(&cur);
	aicred_tokens_wipe(&fresh);
	PQclear(res);
	return rc;
}

berr
aicred_get(struct db *db, const struct config *cfg, const struct crypto_key *k,
    const char *provider, struct aicred_tokens *out, char *why, size_t whylen)
{
	struct aicred_tx x = { 0 };
	PGresult *res = NULL;
	berr rc;

	memset(out, 0, sizeof(*out));
	if ((rc = aicred_row(db, "aicred_get", provider, &res)) != OK) {
		if (rc != ERR_NOT_FOUND)
			snprintf(why, whylen,
			    "stored %s credentials: database error", provider);
		return rc;
	}
	if (k == NULL) {
		snprintf(why, whylen,
		    "stored %s credentials (berth auth %s login) cannot be "
		    "opened: no master key (BERTH_ENCRYPTION_KEY or "
		    "encryption.key_file)",
		    provider, provider);
		rc = ERR_CONFIG;
		goto out;
	}
	if ((rc = aicred_open_row(res, k, provider, out)) != OK) {
		snprintf(why, whylen,
		    "stored %s credentials do not open with this master key "
		    "(%s): log in again with berth auth %s login",
		    provider,
		    rc == ERR_NOT_FOUND ? "sealed under another key"
		        : rc == ERR_DENIED
		        ? "tag mismatch: another key or a tampered row"
		        : err_str(rc),
		    provider);
		log_error("ai credentials: %s: the row does not open (%s)",
		    provider, err_str(rc));
		rc = ERR_DENIED;
		goto out;
	}
	if (aicred_left(out) > cfg->ai_oauth.refresh_margin)
		goto out;
	if (out->refresh[0] == '\0') {
		if (aicred_left(out) > 0)
			goto out;
		snprintf(why, whylen,
		    "the stored %s token has expired and there is no refresh "
		    "token: log in again with berth auth %s login",
		    provider, provider);
		rc = ERR_CONFLICT;
		goto out;
	}
	aicred_tokens_wipe(out);
	x.cfg = cfg;
	x.k = k;
	x.provider = provider;
	x.out = out;
	x.why = why;
	x.whylen = whylen;
	rc = db_tx(db, aicred_refresh_tx, &x);
	if (rc == OK && x.refreshed)
		log_info("ai credentials: %s tokens refreshed (%lld s left)",
		    provider, aicred_left(out));
	if (rc != OK && x.refresh_rc != OK) {
		char tail[256];

		snprintf(tail, sizeof(tail), "%s", why);
		snprintf(why, whylen,
		    "refreshing the stored %s token failed: %s", provider,
		    tail);
		log_error("ai credentials: %s", why);
		rc = x.refresh_rc;
	} else if (rc == ERR_NOT_FOUND) {
		snprintf(why, whylen, "stored %s credentials were removed",
		    provider);
	} else if (rc != OK && rc != ERR_DB && rc != ERR_DB_DOWN) {
		snprintf(why, whylen, "stored %s credentials do not open (%s)",
		    provider, err_str(rc));
	} else if (rc != OK) {
		snprintf(why, whylen,
		    "stored %s credentials: database error while refreshing",
		    provider);
	}
out:
	if (rc != OK)
		aicred_tokens_wipe(out);
	PQclear(res);
	return rc;
}

/* The re-seal transaction of aicred_reseal(). */
struct aicred_reseal_tx {
	const struct crypto_key *k;
	const char *provider;
	bool *resealed;
};

static berr
aicred_reseal_fn(struct db *db, void *arg)
{
	struct aicred_reseal_tx *x = arg;
	struct aicred_tokens t;
	PGresult *res = NULL;
	berr rc;

	memset(&t, 0, sizeof(t));
	*x->resealed = false;
	if ((rc = aicred_row(db, "aicred_lock", x->provider, &res)) != OK)
		goto out;
	if (strcmp(PQgetvalue(res, 0, PQfnumber(res, "key_id")), x->k->id) == 0)
		goto out;
	if ((rc = aicred_open_row(res, x->k, x->provider, &t)) != OK ||
	    (rc = aicred_put(db, x->k, x->provider, &t, "keep")) != OK)
		goto out;
	*x->resealed = true;
out:
	aicred_tokens_wipe(&t);
	PQclear(res);
	return rc;
}

berr
aicred_reseal(struct db *db, const struct crypto_key *k, const char *provider,
    bool *resealed)
{
	struct aicred_reseal_tx x = { k, provider, resealed };
	berr rc;

	*resealed = false;
	if ((rc = aicred_prepare(db)) != OK)
		return rc;
	rc = db_tx(db, aicred_reseal_fn, &x);
	return rc == ERR_NOT_FOUND ? OK : rc;
}
