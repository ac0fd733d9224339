/*
 * test_session.c - CUnit suite for the database half of login sessions:
 * shared/session.c (create, digest storage, the sealed upstream key read
 * back for its owner only, re-sealing for a key rotation, delete) and the
 * lockout helpers shared/authfail.c adds for /auth/login (authfail_check,
 * authfail_clear).
 *
 * Needs a migrated PostgreSQL database in DATABASE_URL
 * (tests/unit/test_session.sh starts a private one and runs `berth
 * migrate`).
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authfail.h"
#include "crypto.h"
#include "db.h"
#include "log.h"
#include "session.h"
#include "unit.h"

static struct db *test_db;

static const char test_key_a[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char test_key_b[] = "//////////////////////////////////////////8=";

/* A fresh user; returns its id. */
static long long
test_user(const char *name)
{
	const char *values[1] = { name };
	PGresult *res = NULL;
	long long id = 0;

	CU_ASSERT_EQUAL_FATAL(db_exec_sql(test_db,
	                          "INSERT INTO users (username) VALUES ($1) "
	                          "RETURNING id",
	                          1, values, &res),
	    OK);
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return id;
}

/* One integer from sql with one text parameter. */
static long long
test_count(const char *sql, const char *param)
{
	const char *values[1] = { param };
	PGresult *res = NULL;
	long long n = -1;

	if (db_exec_sql(test_db, sql, 1, values, &res) == OK) {
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return n;
}

static void
test_authfail_check_clear(void)
{
	int retry = -1, i;

	/* Nothing recorded: not locked; no subjects at all: OK. */
	CU_ASSERT_EQUAL(authfail_check(test_db, "eve", "10.0.0.1", &retry), OK);
	CU_ASSERT_EQUAL(retry, 0);
	CU_ASSERT_EQUAL(authfail_check(test_db, NULL, NULL, &retry), OK);
	/* Defaults: 5 failures of an account lock it. */
	for (i = 0; i < 4; i++)
		CU_ASSERT_EQUAL(
		    authfail_record(test_db, NULL, "eve", NULL, &retry), OK);
	CU_ASSERT_EQUAL(authfail_check(test_db, "eve", NULL, &retry), OK);
	CU_ASSERT_EQUAL(
	    authfail_record(test_db, NULL, "eve", NULL, &retry), ERR_DENIED);
	CU_ASSERT_EQUAL(
	    authfail_check(test_db, "eve", "10.0.0.1", &retry), ERR_DENIED);
	CU_ASSERT(retry >= 1 && retry <= 900);
	/* Another account and another address are not locked. */
	CU_ASSERT_EQUAL(
	    authfail_check(test_db, "mallory", "10.0.0.1", &retry), OK);
	/* Clearing the account unlocks it. */
	CU_ASSERT_EQUAL(authfail_clear(test_db, "eve"), OK);
	CU_ASSERT_EQUAL(authfail_check(test_db, "eve", NULL, &retry), OK);
	CU_ASSERT_EQUAL(test_count("SELECT count(*) FROM auth_failures WHERE "
	                           "scope = 'account' AND subject = $1",
	                    "eve"),
	    0);
	CU_ASSERT_EQUAL(authfail_clear(test_db, NULL), OK);
	/* 20 failures of an address lock it; clearing an account does not
	 * clear the address. */
	for (i = 0; i < 20; i++)
		(void)!authfail_record(test_db, NULL, NULL, "10.0.0.2", &retry);
	CU_ASSERT_EQUAL(
	    authfail_check(test_db, "eve", "10.0.0.2", &retry), ERR_DENIED);
	CU_ASSERT_EQUAL(authfail_clear(test_db, "eve"), OK);
	CU_ASSERT_EQUAL(
	    authfail_check(test_db, NULL, "10.0.0.2", &retry), ERR_DENIED);
	/* An over-long subject is cut as stored, so it still matches. */
	{
		char big[400];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		for (i = 0; i < 5; i++)
			(void)!authfail_record(
			    test_db, NULL, big, NULL, &retry);
		CU_ASSERT_EQUAL(
		    authfail_check(test_db, big, NULL, &retry), ERR_DENIED);
		CU_ASSERT_EQUAL(authfail_clear(test_db, big), OK);
		CU_ASSERT_EQUAL(authfail_check(test_db, big, NULL, &retry), OK);
	}
}

/* Seals secret for (user, upstream) under k into sec (ct malloc'ed). */
static void
test_sealed(const struct crypto_key *k, long long user, const char *up,
    const char *secret, unsigned char iv[CRYPTO_IV_LEN], unsigned char **ct,
    struct session_secret *sec)
{
	unsigned char ad[CRYPTO_AD_MAX];
	size_t adlen = crypto_ad(user, up, ad, sizeof(ad)), ctlen = 0;

	CU_ASSERT_EQUAL_FATAL(crypto_seal(k, (const unsigned char *)secret,
	                          strlen(secret), ad, adlen, iv, ct, &ctlen),
	    OK);
	sec->upstream = up;
	sec->ct = *ct;
	sec->ctlen = ctlen;
	sec->iv = iv;
	sec->key_id = k->id;
}

static void
test_session_lifecycle(void)
{
	struct crypto_key a, b;
	struct session_secret sec;
	unsigned char iv[CRYPTO_IV_LEN], *ct = NULL;
	char token[SESSION_TOKEN_LEN + 1], token2[SESSION_TOKEN_LEN + 1];
	char hex[65], when[SESSION_TIME_MAX], *key = NULL;
	long long alice = test_user("s-alice"), bob = test_user("s-bob");
	long long id = 0, id2 = 0, after = 0, seen = 0, done = 0, failed = 0;

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &a), OK);
	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_b, &b), OK);
	test_sealed(&a, alice, "touchstone", "tsk-alice", iv, &ct, &sec);
	CU_ASSERT_EQUAL_FATAL(session_create(test_db, alice, 30, "127.0.0.1",
	                          &sec, token, sizeof(token), &id, when),
	    OK);
	free(ct);
	CU_ASSERT_TRUE(session_well_formed(token));
	CU_ASSERT(id > 0);
	CU_ASSERT_EQUAL(strlen(when), 20); /* 2026-12-24T05:30:02Z */
	/* Stored as the digest, never the token. */
	session_digest_hex(token, hex);
	CU_ASSERT_EQUAL(test_count("SELECT count(*) FROM sessions WHERE "
	                           "token_digest = decode($1, 'hex')",
	                    hex),
	    1);
	CU_ASSERT_EQUAL(test_count("SELECT count(*) FROM sessions WHERE "
	                           "position(convert_to($1, 'UTF8') IN "
	                           "token_digest) > 0",
	                    token),
	    0);
	/* A session without a key, for bob. */
	CU_ASSERT_EQUAL(session_create(test_db, bob, 1, NULL, NULL, token2,
	                    sizeof(token2), &id2, when),
	    OK);
	CU_ASSERT_STRING_NOT_EQUAL(token, token2);

	/* The key reads back for alice only, under the right key. */
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &a, alice, id, "touchstone", &key),
	    OK);
	CU_ASSERT_STRING_EQUAL(key ? key : "", "tsk-alice");
	free(key);
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &a, alice, 0, "touchstone", &key),
	    OK);
	free(key);
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &a, bob, 0, "touchstone", &key),
	    ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(key);
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &a, alice, id, "other", &key),
	    ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &b, alice, id, "touchstone", &key),
	    ERR_DENIED);
	CU_ASSERT_PTR_NULL(key);

	/* Rotation a -> b: one row re-sealed, then readable under b alone. */
	b.previous = &a;
	CU_ASSERT_EQUAL(
	    session_reseal(test_db, &b, 10, &after, &seen, &done, &failed), OK);
	CU_ASSERT_EQUAL(seen, 1);
	CU_ASSERT_EQUAL(done, 1);
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT_EQUAL(
	    session_reseal(test_db, &b, 10, &after, &seen, &done, &failed), OK);
	CU_ASSERT_EQUAL(seen, 0);
	b.previous = NULL;
	CU_ASSERT_EQUAL(
	    session_reseal(test_db, &b, 10, &after, &seen, &done, &failed),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &b, alice, id, "touchstone", &key),
	    OK);
	CU_ASSERT_STRING_EQUAL(key ? key : "", "tsk-alice");
	free(key);
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &a, alice, id, "touchstone", &key),
	    ERR_DENIED);

	/* Delete: once. */
	CU_ASSERT_EQUAL(session_delete(test_db, id), OK);
	CU_ASSERT_EQUAL(session_delete(test_db, id), ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(
	    session_upstream_key(test_db, &b, alice, 0, "touchstone", &key),
	    ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(session_delete(test_db, id2), OK);
	crypto_key_wipe(&a);
	crypto_key_wipe(&b);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "session", "authfail_check and authfail_clear",
		    test_authfail_check_clear },
		{ "session", "create, read back, rotate, delete",
		    test_session_lifecycle },
	};
	const char *url = getenv("DATABASE_URL");
	int status;

	log_init("test_session", LOG_LVL_ERROR);
	if (url == NULL || *url == '\0') {
		fprintf(
		    stderr, "test_session: DATABASE_URL not set; skipped\n");
		return 77;
	}
	if ((test_db = db_new(url, 5)) == NULL || db_connect(test_db) != OK) {
		fprintf(stderr, "test_session: cannot connect\n");
		db_free(test_db);
		return 1;
	}
	status = unit_run(tests, UNIT_COUNT(tests));
	db_free(test_db);
	return status;
}
