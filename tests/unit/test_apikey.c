/*
 * test_apikey.c - CUnit suites for the credential modules that need no
 * database: shared/apikey.c (key format, randomness, shape check, digest,
 * argument checks), shared/password.c (scrypt hash and verify, the stored
 * format's parser, bounds) and the syntax half of shared/principal.c
 * (header parsing before any lookup, role fallback).
 *
 * Known vectors come from independent implementations: SHA-256 from
 * FIPS 180-2 and Python's hashlib, the scrypt hashes from Python's
 * hashlib.scrypt, so the stored format is checked against someone else's
 * scrypt, not only against itself.
 */
#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apikey.h"
#include "limit.h"
#include "log.h"
#include "password.h"
#include "principal.h"
#include "unit.h"

/*
 * Interposes OpenSSL's CRYPTO_memcmp (the executable's definition wins over
 * libcrypto's) to prove password_verify() compares with it. Same contract:
 * constant time, 0 when equal.
 */
static unsigned long test_memcmp_calls;

int CRYPTO_memcmp(const void *a, const void *b, size_t len);

int
CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;
	unsigned char acc = 0;
	size_t i;

	test_memcmp_calls++;
	for (i = 0; i < len; i++)
		acc |= x[i] ^ y[i];
	return acc != 0;
}

/* Value of a base64url character, -1 when not one. */
static int
test_b64url_value(char c)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
	                        "tuvwxyz0123456789-_";
	const char *q = c ? strchr(a, c) : NULL;

	return q ? (int)(q - a) : -1;
}

static int
test_strcmp_qsort(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --- apikey ----------------------------------------------------------- */

#define TEST_NKEYS 2000

static void
test_generate_format(void)
{
	char key[APIKEY_LEN + 1], small[APIKEY_LEN];
	size_t i;

	CU_ASSERT_EQUAL_FATAL(apikey_generate(key, sizeof(key)), OK);
	CU_ASSERT_EQUAL(strlen(key), 46);
	CU_ASSERT_EQUAL(strlen(key), APIKEY_LEN);
	CU_ASSERT_EQUAL(strncmp(key, "sk-", 3), 0);
	for (i = 3; i < strlen(key); i++)
		CU_ASSERT(test_b64url_value(key[i]) >= 0);
	/* No padding: 32 bytes are 42 full characters and 4 bits. */
	CU_ASSERT_PTR_NULL(strchr(key, '='));
	CU_ASSERT((test_b64url_value(key[APIKEY_LEN - 1]) & 3) == 0);
	CU_ASSERT(apikey_well_formed(key));
	/* Refuses a buffer without room for the NUL. */
	CU_ASSERT_EQUAL(apikey_generate(small, sizeof(small)), ERR_INTERNAL);
	CU_ASSERT_EQUAL(apikey_generate(NULL, 100), ERR_INTERNAL);
}

/*
 * Many keys: all distinct, every character of the alphabet used in every
 * full position class, and the decoded bits close to half ones (256 000
 * bits: the standard deviation is 253, the tolerance 20 of them).
 */
static void
test_generate_entropy(void)
{
	static char keys[TEST_NKEYS][APIKEY_LEN + 1];
	char *sorted[TEST_NKEYS];
	unsigned long ones = 0, total = 0;
	int seen[64] = { 0 };
	size_t i, j, dups = 0, unseen = 0;

	for (i = 0; i < TEST_NKEYS; i++) {
		CU_ASSERT_EQUAL_FATAL(
		    apikey_generate(keys[i], sizeof(keys[i])), OK);
		sorted[i] = keys[i];
		for (j = 3; j < APIKEY_LEN; j++) {
			int v = test_b64url_value(keys[i][j]);
			int bits = j == APIKEY_LEN - 1 ? 4 : 6;

			CU_ASSERT_FATAL(v >= 0);
			if (j < APIKEY_LEN - 1)
				seen[v]++;
			else
				v >>= 2;
			total += (unsigned long)bits;
			while (v) {
				ones += (unsigned long)(v & 1);
				v >>= 1;
			}
		}
	}
	CU_ASSERT_EQUAL(total, (unsigned long)TEST_NKEYS * 256);
	CU_ASSERT(ones > total / 2 - 5000 && ones < total / 2 + 5000);
	for (i = 0; i < 64; i++)
		unseen += seen[i] == 0;
	CU_ASSERT_EQUAL(unseen, 0);
	qsort(sorted, TEST_NKEYS, sizeof(sorted[0]), test_strcmp_qsort);
	for (i = 1; i < TEST_NKEYS; i++)
		dups += strcmp(sorted[i - 1], sorted[i]) == 0;
	CU_ASSERT_EQUAL(dups, 0);
	/* Not even the shown prefix plus 10 characters repeat. */
	for (i = 1, dups = 0; i < TEST_NKEYS; i++)
		dups += strncmp(sorted[i - 1], sorted[i], 17) == 0;
	CU_ASSERT_EQUAL(dups, 0);
}

static void
test_well_formed_table(void)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", true },
		{ "sk-0123456789abcdef0123456789abcdef", true }, /* 32 */
		{ "sk-____________________________----", true }, /* 32 */
		{ "sk-0123456789abcdef0123456789abcde", false }, /* 31 */
		{ "sk-", false },
		{ "sk", false },
		{ "", false },
		{ "SK-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", false },
		{ "sk_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", false },
		{ "pk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", false },
		{ " sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ ", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ\n", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP\t", false },
		{ "sk-abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOP", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP=", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO+/", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO..", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN\xc3\xa9",
		    false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJK%00LM", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP\x7f", false },
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP\xff", false },
		{ "sk-'; DROP TABLE api_keys; --abcdefghijklmnopq", false },
		{ "Bearer sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
		    false },
		{ "sk-sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMN", true },
	};
	char buf[APIKEY_MAX_LEN + 2];
	char *huge;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool got = apikey_well_formed(cases[i].s);

		if (got != cases[i].ok)
			fprintf(stderr, "well_formed case %zu (%s): got %d\n",
			    i, cases[i].s, got);
		CU_ASSERT_EQUAL(got, cases[i].ok);
	}
	CU_ASSERT_FALSE(apikey_well_formed(NULL));

	/* The length bounds exactly: 128 after the prefix in, 129 out. */
	memcpy(buf, "sk-", 3);
	memset(buf + 3, 'A', 128);
	buf[3 + 128] = '\0';
	CU_ASSERT_TRUE(apikey_well_formed(buf));
	buf[3 + 128] = 'A';
	buf[3 + 129] = '\0';
	CU_ASSERT_FALSE(apikey_well_formed(buf));

	/* A NUL inside: what follows it is not part of the key. */
	memcpy(buf, "sk-abcdefghijklmnop\0qrstuvwxyzABCDEFGH", 39);
	CU_ASSERT_FALSE(apikey_well_formed(buf));

	/* 1 MiB of key characters: refused without walking all of it
	 * matters for time only; the answer must be false. */
	huge = malloc(1024 * 1024 + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(huge);
	memcpy(huge, "sk-", 3);
	memset(huge + 3, 'a', 1024 * 1024 - 3);
	huge[1024 * 1024] = '\0';
	CU_ASSERT_FALSE(apikey_well_formed(huge));
	free(huge);
}

static void
test_digest_vectors(void)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		/* FIPS 180-2 */
		{ "abc",
		    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410f"
		    "f61f20015ad" },
		{ "",
		    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991"
		    "b7852b855" },
		/* hashlib.sha256(b"sk-abc…NOPQ"): the whole key, prefix
		 * included. */
		{ "sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
		    "8c5f5040f81c4d99862e65fe7c5c1cc3199ad4540dc6db8ce6c1864eba"
		    "6420f2" },
	};
	unsigned char d[APIKEY_DIGEST_LEN], d2[APIKEY_DIGEST_LEN];
	char hex[2 * APIKEY_DIGEST_LEN + 1];
	size_t i, j;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		apikey_digest(v[i].in, d);
		for (j = 0; j < sizeof(d); j++)
			snprintf(hex + 2 * j, 3, "%02x", d[j]);
		CU_ASSERT_STRING_EQUAL(hex, v[i].hex);
	}
	/* One character more or less: another digest. */
	apikey_digest("sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", d);
	apikey_digest("sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP", d2);
	CU_ASSERT_NOT_EQUAL(memcmp(d, d2, sizeof(d)), 0);
	apikey_digest("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", d2);
	CU_ASSERT_NOT_EQUAL(memcmp(d, d2, sizeof(d)), 0);
}

/* Argument checks that answer before any database call (db is NULL). */
static void
test_create_arguments(void)
{
	char key[APIKEY_LEN + 1], name[102];
	long long id = -1;

	memset(name, 'n', 101);
	name[101] = '\0';
	memset(key, 'x', sizeof(key));
	CU_ASSERT_EQUAL(apikey_create(NULL, 1, name, 0, key, sizeof(key), &id),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(key[0], '\0'); /* wiped */
	CU_ASSERT_EQUAL(apikey_create(NULL, 1, "ci", -1, key, sizeof(key), &id),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(apikey_create(NULL, 1, "ci", 100LL * 400 * 86400, key,
	                    sizeof(key), &id),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(apikey_create(NULL, 0, "ci", 0, key, sizeof(key), &id),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(apikey_create(NULL, 1, "ci", 0, key, APIKEY_LEN, &id),
	    ERR_INTERNAL);
	CU_ASSERT_EQUAL(id, -1);
	CU_ASSERT_EQUAL(apikey_revoke(NULL, 0), ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(apikey_revoke(NULL, -5), ERR_NOT_FOUND);
}

/* --- password --------------------------------------------------------- */

/* From Python: hashlib.scrypt(b"correct horse battery staple",
 * salt=bytes(range(16)), n=1024, r=8, p=1, dklen=32). */
static const char test_vec_horse[] =
    "scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
    "mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=";
/* hashlib.scrypt(b"pw", salt=bytes(range(16)), n=1024, r=1, p=16). */
static const char test_vec_pw[] =
    "scrypt$1024$1$16$AAECAwQFBgcICQoLDA0ODw==$"
    "ZLf0YvN9gy2yzaNHV86ENnDcA6pt5N1+WtspBbnRvtQ=";

static void
test_password_round_trip(void)
{
	char h1[PASSWORD_HASH_MAX], h2[PASSWORD_HASH_MAX];
	unsigned long before;

	CU_ASSERT_EQUAL_FATAL(password_hash("s3cret pass", h1, sizeof(h1)), OK);
	CU_ASSERT_EQUAL(strncmp(h1, "scrypt$32768$8$1$", 17), 0);
	CU_ASSERT_EQUAL(strlen(h1), 17 + 24 + 1 + 44);
	before = test_memcmp_calls;
	CU_ASSERT_EQUAL(password_verify("s3cret pass", h1), OK);
	CU_ASSERT(test_memcmp_calls > before);
	before = test_memcmp_calls;
	CU_ASSERT_EQUAL(password_verify("s3cret pasS", h1), ERR_DENIED);
	CU_ASSERT(test_memcmp_calls > before);
	CU_ASSERT_EQUAL(password_verify("s3cret pass ", h1), ERR_DENIED);
	CU_ASSERT_EQUAL(password_verify("", h1), ERR_DENIED);
	CU_ASSERT_EQUAL(password_verify(NULL, h1), ERR_DENIED);
	/* A fresh salt each time. */
	CU_ASSERT_EQUAL_FATAL(password_hash("s3cret pass", h2, sizeof(h2)), OK);
	CU_ASSERT_STRING_NOT_EQUAL(h1, h2);
	CU_ASSERT_EQUAL(password_verify("s3cret pass", h2), OK);
	/* UTF-8 is bytes like any other. */
	CU_ASSERT_EQUAL_FATAL(
	    password_hash("p\xc3\xa4ssw\xc3\xb6rd", h1, sizeof(h1)), OK);
	CU_ASSERT_EQUAL(password_verify("p\xc3\xa4ssw\xc3\xb6rd", h1), OK);
	CU_ASSERT_EQUAL(password_verify("passwrd", h1), ERR_DENIED);
}

static void
test_password_vectors(void)
{
	CU_ASSERT_EQUAL(
	    password_verify("correct horse battery staple", test_vec_horse),
	    OK);
	CU_ASSERT_EQUAL(
	    password_verify("correct horse battery stapl", test_vec_horse),
	    ERR_DENIED);
	CU_ASSERT_EQUAL(password_verify("pw", test_vec_pw), OK);
	CU_ASSERT_EQUAL(password_verify("pW", test_vec_pw), ERR_DENIED);
}

static void
test_password_lengths(void)
{
	char h[PASSWORD_HASH_MAX], small[PASSWORD_HASH_MAX - 1];
	char *pw = malloc(PASSWORD_MAX_LEN + 2);

	CU_ASSERT_PTR_NOT_NULL_FATAL(pw);
	memset(pw, 'p', PASSWORD_MAX_LEN + 1);
	pw[PASSWORD_MAX_LEN + 1] = '\0';
	CU_ASSERT_EQUAL(password_hash(pw, h, sizeof(h)), ERR_INVALID);
	CU_ASSERT_EQUAL(h[0], '\0');
	/* Over-long never matches, even a hash of its first 1024 bytes. */
	pw[PASSWORD_MAX_LEN] = '\0';
	CU_ASSERT_EQUAL_FATAL(password_hash(pw, h, sizeof(h)), OK);
	CU_ASSERT_EQUAL(password_verify(pw, h), OK);
	pw[PASSWORD_MAX_LEN] = 'p';
	CU_ASSERT_EQUAL(password_verify(pw, h), ERR_DENIED);
	free(pw);

	CU_ASSERT_EQUAL(password_hash("", h, sizeof(h)), ERR_INVALID);
	CU_ASSERT_EQUAL(password_hash(NULL, h, sizeof(h)), ERR_INVALID);
	CU_ASSERT_EQUAL(password_hash("x", small, sizeof(small)), ERR_INTERNAL);
}

/* Every one of these is ERR_INVALID, whatever the password. */
static void
test_password_malformed(void)
{
	static const char *const bad[] = {
		"",
		"scrypt",
		"scrypt$",
		"bcrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"SCRYPT$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		/* N: not a power of two, too small, too big, zero, signs,
		 * leading zero, overflowing digits, empty */
		"scrypt$1023$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1536$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$512$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$2097152$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$0$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$+1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$-1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$01024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$18446744073709552640$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		" scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$ 1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		/* r and p out of bounds */
		"scrypt$1024$0$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$33$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$0$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$17$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		/* in bounds one by one, but 4 GiB together */
		"scrypt$1048576$32$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		/* fields missing or extra */
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$",
		"scrypt$1024$8$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$1$$mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=$",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=$x",
		/* salt: short, long, unpadded, bad characters, URL alphabet,
		 * non-zero unused bits */
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0O$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODxA=$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0OD*==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0OD===$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODx==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU=",
		/* hash: short, non-canonical, URL alphabet, bad padding */
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlR=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRV=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S_AXJlRU=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJl=U=",
		"scrypt$1024$8$1$AAECAwQFBgcICQoLDA0ODw==$"
		"mp90zEQd5XGhjEv4WArVH4Z0XRSzkGWtJK2S/AXJlRU= ",
	};
	char *longest;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		berr got =
		    password_verify("correct horse battery staple", bad[i]);

		if (got != ERR_INVALID)
			fprintf(stderr, "malformed case %zu (%s): got %d\n", i,
			    bad[i], (int)got);
		CU_ASSERT_EQUAL(got, ERR_INVALID);
	}
	CU_ASSERT_EQUAL(password_verify("x", NULL), ERR_INVALID);
	/* A malformed hash is reported as such even for a bad password. */
	CU_ASSERT_EQUAL(
	    password_verify("", "scrypt$1023$8$1$x$y"), ERR_INVALID);

	/* Longer than any stored form: refused unread past the cap. */
	longest = malloc(64 * 1024);
	CU_ASSERT_PTR_NOT_NULL_FATAL(longest);
	memset(longest, 'A', 64 * 1024 - 1);
	memcpy(longest, "scrypt$1024$8$1$", 16);
	longest[64 * 1024 - 1] = '\0';
	CU_ASSERT_EQUAL(password_verify("x", longest), ERR_INVALID);
	free(longest);
}

/* --- principal (syntax only: no database is reached) ------------------ */

static void
test_principal_syntax(void)
{
	static const struct {
		const char *header;
		berr rc;
		const char *reason;
		bool bearer;
	} cases[] = {
		{ NULL, ERR_DENIED, "missing", false },
		{ "", ERR_DENIED, "missing", false },
		{ "Bearer", ERR_DENIED, "missing", false },
		{ "Bearer ", ERR_DENIED, "missing", false },
		{ "Basic YWxpY2U6c2VjcmV0", ERR_DENIED, "scheme", false },
		{ "Bearerx sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
		    ERR_DENIED, "scheme", false },
		{ "Bearer\tsk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
		    ERR_DENIED, "scheme", false },
		{ "Token sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
		    ERR_DENIED, "scheme", false },
		{ "Bearer not-a-key", ERR_DENIED, "malformed", true },
		{ "bearer sk-short", ERR_DENIED, "malformed", true },
		{ "BEARER sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLM+PQ",
		    ERR_DENIED, "malformed", true },
		{ "Bearer  sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
		    ERR_DENIED, "malformed", true },
		{ "Bearer sk-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ x",
		    ERR_DENIED, "malformed", true },
		{ "Bearer eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HA",
		    ERR_DENIED, "malformed", true },
	};
	struct principal p;
	const char *why;
	char *big;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		berr rc = principal_resolve(
		    NULL, NULL, cases[i].header, NULL, &p, &why);

		CU_ASSERT_EQUAL(rc, cases[i].rc);
		CU_ASSERT_STRING_EQUAL(p.reason, cases[i].reason);
		CU_ASSERT_PTR_NOT_NULL(why);
		CU_ASSERT_EQUAL(p.user_id, 0);
		CU_ASSERT_EQUAL(
		    principal_has_bearer(cases[i].header), cases[i].bearer);
	}
	/* What the client reads says nothing of the token. */
	CU_ASSERT_EQUAL(
	    principal_resolve(NULL, NULL, "Bearer not-a-key", NULL, &p, &why),
	    ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(why, "invalid token");
	CU_ASSERT_EQUAL(
	    principal_resolve(NULL, NULL, NULL, NULL, &p, &why), ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(why, "missing credentials");

	/* Exactly the cap is looked at; one byte more is too big, even
	 * when the rest would be a key. */
	big = malloc(LIMIT_AUTH_HEADER_BYTES + 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memcpy(big, "Bearer sk-", 10);
	memset(big + 10, 'a', LIMIT_AUTH_HEADER_BYTES + 1 - 10);
	big[LIMIT_AUTH_HEADER_BYTES + 1] = '\0';
	CU_ASSERT_EQUAL(
	    principal_resolve(NULL, NULL, big, NULL, &p, &why), ERR_TOO_BIG);
	CU_ASSERT_STRING_EQUAL(p.reason, "too_big");
	big[LIMIT_AUTH_HEADER_BYTES] = '\0';
	CU_ASSERT_EQUAL(
	    principal_resolve(NULL, NULL, big, NULL, &p, &why), ERR_DENIED);
	CU_ASSERT_STRING_EQUAL(p.reason, "malformed");
	free(big);
}

static void
test_principal_method_names(void)
{
	CU_ASSERT_STRING_EQUAL(principal_method_name(AUTH_API_KEY), "api_key");
	CU_ASSERT_STRING_EQUAL(principal_method_name(AUTH_SESSION), "session");
	CU_ASSERT_STRING_EQUAL(principal_method_name(AUTH_OAUTH), "oauth");
	CU_ASSERT_STRING_EQUAL(principal_method_name(AUTH_NONE), "none");
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "apikey", "generate: format", test_generate_format },
		{ "apikey", "generate: entropy and uniqueness",
		    test_generate_entropy },
		{ "apikey", "well_formed: table", test_well_formed_table },
		{ "apikey", "digest: SHA-256 vectors", test_digest_vectors },
		{ "apikey", "create/revoke: arguments", test_create_arguments },
		{ "password", "hash and verify", test_password_round_trip },
		{ "password", "hashlib.scrypt vectors", test_password_vectors },
		{ "password", "lengths", test_password_lengths },
		{ "password", "malformed stored forms",
		    test_password_malformed },
		{ "principal", "header syntax", test_principal_syntax },
		{ "principal", "auth method names",
		    test_principal_method_names },
	};

	/* The refusals log at INFO; the suite's output is CUnit's. */
	log_init("test_apikey", LOG_LVL_ERROR);
	return unit_run(tests, UNIT_COUNT(tests));
}
