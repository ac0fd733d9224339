/*
 * test_crypto.c - CUnit suite for shared/crypto.c (AES-256-GCM sealing of
 * upstream keys, master key sources) and the token shape of
 * shared/session.c. No database.
 *
 * The known-answer test uses the AES-256-GCM vector of NIST's GCM spec
 * (McGrew & Viega, test case 16), so sealing is checked against an
 * independent implementation, not only against crypto_open().
 */
#define _GNU_SOURCE /* memmem */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config.h"
#include "crypto.h"
#include "digest.h"
#include "hex.h"
#include "log.h"
#include "session.h"
#include "unit.h"

/* base64 of 32 bytes 0x00..0x1f, and of 32 bytes 0xff. */
static const char test_key_a[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char test_key_b[] = "//////////////////////////////////////////8=";

static void
test_key_formats(void)
{
	static const char *const bad[] = {
		"",
		"   ",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",   /* no pad */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",  /* 31 bytes */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=A", /* 45 */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8AAAA=", /* 33 */
		"AAECAwQFBgcICQoLDA0O!xAREhMUFRYXGBkaGxwdHh8=", /* bad char */
		"AAECAwQFBgcICQoLDA0O xAREhMUFRYXGBkaGxwdHh8=", /* space in */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=Hh8=", /* pad inside */
		"0123456789abcdef0123456789abcdef", /* hex-ish, 32 chars */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	};
	struct crypto_key k, k2;
	size_t i;

	CU_ASSERT_EQUAL(crypto_key_from_base64(test_key_a, &k), OK);
	CU_ASSERT_EQUAL(k.key[0], 0);
	CU_ASSERT_EQUAL(k.key[31], 31);
	CU_ASSERT_EQUAL(strlen(k.id), CRYPTO_KEY_ID_LEN);
	CU_ASSERT_EQUAL(strspn(k.id, "0123456789abcdef"), CRYPTO_KEY_ID_LEN);
	/* Surrounding whitespace (a key file's newline) is fine. */
	CU_ASSERT_EQUAL(
	    crypto_key_from_base64(
	        " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", &k2),
	    OK);
	CU_ASSERT_STRING_EQUAL(k.id, k2.id);
	CU_ASSERT_EQUAL(crypto_key_from_base64(test_key_b, &k2), OK);
	CU_ASSERT_STRING_NOT_EQUAL(k.id, k2.id);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CU_ASSERT_EQUAL(
		    crypto_key_from_base64(bad[i], &k2), ERR_INVALID);
		CU_ASSERT_EQUAL(k2.id[0], '\0');
	}
	CU_ASSERT_EQUAL(crypto_key_from_base64(NULL, &k2), ERR_INVALID);
	crypto_key_wipe(&k);
	CU_ASSERT_EQUAL(k.key[31], 0);
}

/* Seals s for (user, upstream) under k; asserts OK. */
static void
test_seal(const struct crypto_key *k, const char *s, long long user,
    const char *up, unsigned char iv[CRYPTO_IV_LEN], unsigned char **ct,
    size_t *ctlen)
{
	unsigned char ad[CRYPTO_AD_MAX];
	size_t adlen = crypto_ad(user, up, ad, sizeof(ad));

	CU_ASSERT_FATAL(adlen > 0);
	CU_ASSERT_EQUAL_FATAL(crypto_seal(k, (const unsigned char *)s,
	                          strlen(s), ad, adlen, iv, ct, ctlen),
	    OK);
}

/* crypto_open() of (user, upstream); returns its result, frees pt. */
static berr
test_open(const struct crypto_key *k, const char *key_id,
    const unsigned char iv[CRYPTO_IV_LEN], const unsigned char *ct,
    size_t ctlen, long long user, const char *up, const char *want)
{
	unsigned char ad[CRYPTO_AD_MAX], *pt = NULL;
	size_t adlen = crypto_ad(user, up, ad, sizeof(ad)), ptlen = 99;
	berr rc = crypto_open(k, key_id, iv, ct, ctlen, ad, adlen, &pt, &ptlen);

	if (rc == OK) {
		CU_ASSERT_PTR_NOT_NULL(pt);
		if (want != NULL && pt != NULL) {
			CU_ASSERT_EQUAL(ptlen, strlen(want));
			CU_ASSERT_STRING_EQUAL((char *)pt, want);
		}
	} else {
		CU_ASSERT_PTR_NULL(pt);
		CU_ASSERT_EQUAL(ptlen, 0);
	}
	free(pt);
	return rc;
}

static void
test_round_trip(void)
{
	struct crypto_key k;
	unsigned char iv[CRYPTO_IV_LEN], iv2[CRYPTO_IV_LEN], *ct, *ct2;
	size_t ctlen, ctlen2;
	const char *secret = "tsk_live_0123456789abcdefghij";

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &k), OK);
	test_seal(&k, secret, 42, "touchstone", iv, &ct, &ctlen);
	CU_ASSERT_EQUAL(ctlen, strlen(secret) + CRYPTO_TAG_LEN);
	/* Not the plaintext. */
	CU_ASSERT_PTR_NULL(memmem(ct, ctlen, "tsk_live", 8));
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, ctlen, 42, "touchstone", secret), OK);
	/* The same secret sealed twice: other IV, other ciphertext. */
	test_seal(&k, secret, 42, "touchstone", iv2, &ct2, &ctlen2);
	CU_ASSERT_NOT_EQUAL(memcmp(iv, iv2, CRYPTO_IV_LEN), 0);
	CU_ASSERT_NOT_EQUAL(memcmp(ct, ct2, ctlen), 0);
	free(ct);
	free(ct2);
	crypto_key_wipe(&k);
}

static void
test_unique_ivs(void)
{
	enum { N = 2000 };
	static unsigned char ivs[N][CRYPTO_IV_LEN];
	struct crypto_key k;
	unsigned char *ct;
	size_t ctlen, i, j, dup = 0;

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &k), OK);
	for (i = 0; i < N; i++) {
		test_seal(&k, "x", 1, "u", ivs[i], &ct, &ctlen);
		free(ct);
	}
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++)
			dup += memcmp(ivs[i], ivs[j], CRYPTO_IV_LEN) == 0;
	CU_ASSERT_EQUAL(dup, 0);
}

static void
test_tamper(void)
{
	struct crypto_key k;
	unsigned char iv[CRYPTO_IV_LEN], *ct;
	size_t ctlen, i;
	const char *secret = "upstream-key-value";

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &k), OK);
	test_seal(&k, secret, 7, "up", iv, &ct, &ctlen);
	/* Every single bit of ciphertext and tag matters. */
	for (i = 0; i < ctlen * 8; i++) {
		ct[i / 8] ^= (unsigned char)(1u << (i % 8));
		CU_ASSERT_EQUAL(
		    test_open(&k, k.id, iv, ct, ctlen, 7, "up", NULL),
		    ERR_DENIED);
		ct[i / 8] ^= (unsigned char)(1u << (i % 8));
	}
	for (i = 0; i < CRYPTO_IV_LEN * 8; i++) {
		iv[i / 8] ^= (unsigned char)(1u << (i % 8));
		CU_ASSERT_EQUAL(
		    test_open(&k, k.id, iv, ct, ctlen, 7, "up", NULL),
		    ERR_DENIED);
		iv[i / 8] ^= (unsigned char)(1u << (i % 8));
	}
	/* Truncated: tag cut, or nothing but the tag. */
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, ctlen - 1, 7, "up", NULL), ERR_DENIED);
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, CRYPTO_TAG_LEN, 7, "up", NULL),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, 0, 7, "up", NULL), ERR_INVALID);
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, ctlen, 7, "up", secret), OK);
	free(ct);
}

static void
test_wrong_ad(void)
{
	struct crypto_key k;
	unsigned char iv[CRYPTO_IV_LEN], *ct;
	size_t ctlen;

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &k), OK);
	test_seal(&k, "alice-key", 1, "touchstone", iv, &ct, &ctlen);
	/* Copied to bob's row, or to another upstream: does not open. */
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, ctlen, 2, "touchstone", NULL),
	    ERR_DENIED);
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, ctlen, 1, "other", NULL), ERR_DENIED);
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, ctlen, 11, "touchstone", NULL),
	    ERR_DENIED);
	/* Length prefixes: (1, "2x") and (12, "x") must differ. */
	CU_ASSERT_EQUAL(
	    test_open(&k, k.id, iv, ct, ctlen, 1, "touchstone", "alice-key"),
	    OK);
	free(ct);
}

static void
test_wrong_key(void)
{
	struct crypto_key a, b;
	unsigned char iv[CRYPTO_IV_LEN], *ct;
	size_t ctlen;

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &a), OK);
	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_b, &b), OK);
	test_seal(&a, "secret", 1, "u", iv, &ct, &ctlen);
	/* Sealed under a, opened naming a's id with b: the id check. */
	CU_ASSERT_EQUAL(
	    test_open(&b, a.id, iv, ct, ctlen, 1, "u", NULL), ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(
	    test_open(&a, "", iv, ct, ctlen, 1, "u", NULL), ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(
	    test_open(&a, NULL, iv, ct, ctlen, 1, "u", NULL), ERR_NOT_FOUND);
	/* b opened under its own id (a row whose id was edited): the tag. */
	CU_ASSERT_EQUAL(
	    test_open(&b, b.id, iv, ct, ctlen, 1, "u", NULL), ERR_DENIED);
	/* During a rotation b carries a as its previous key: a's rows open
	 * through b, and b still seals under its own id. */
	b.previous = &a;
	CU_ASSERT_EQUAL(
	    test_open(&b, a.id, iv, ct, ctlen, 1, "u", "secret"), OK);
	CU_ASSERT_EQUAL(
	    test_open(&b, "0000000000000000", iv, ct, ctlen, 1, "u", NULL),
	    ERR_NOT_FOUND);
	free(ct);
}

/* NIST GCM test case 16: AES-256, 96-bit IV, with additional data. */
static void
test_known_answer(void)
{
	static const char key_b64[] =
	    "/v/pkoZlcxxtao+UZzCDCP7/6ZKGZXMcbWqPlGcwgwg=";
	static const unsigned char iv[12] = { 0xca, 0xfe, 0xba, 0xbe, 0xfa,
		0xce, 0xdb, 0xad, 0xde, 0xca, 0xf8, 0x88 };
	static const unsigned char pt[] = { 0xd9, 0x31, 0x32, 0x25, 0xf8, 0x84,
		0x06, 0xe5, 0xa5, 0x59, 0x09, 0xc5, 0xaf, 0xf5, 0x26, 0x9a,
		0x86, 0xa7, 0xa9, 0x53, 0x15, 0x34, 0xf7, 0xda, 0x2e, 0x4c,
		0x30, 0x3d, 0x8a, 0x31, 0x8a, 0x72, 0x1c, 0x3c, 0x0c, 0x95,
		0x95, 0x68, 0x09, 0x53, 0x2f, 0xcf, 0x0e, 0x24, 0x49, 0xa6,
		0xb5, 0x25, 0xb1, 0x6a, 0xed, 0xf5, 0xaa, 0x0d, 0xe6, 0x57,
		0xba, 0x63, 0x7b, 0x39 };
	static const unsigned char ad[] = { 0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad,
		0xbe, 0xef, 0xfe, 0xed, 0xfa, 0xce, 0xde, 0xad, 0xbe, 0xef,
		0xab, 0xad, 0xda, 0xd2 };
	static const unsigned char ct[] = { 0x52, 0x2d, 0xc1, 0xf0, 0x99, 0x56,
		0x7d, 0x07, 0xf4, 0x7f, 0x37, 0xa3, 0x2a, 0x84, 0x42, 0x7d,
		0x64, 0x3a, 0x8c, 0xdc, 0xbf, 0xe5, 0xc0, 0xc9, 0x75, 0x98,
		0xa2, 0xbd, 0x25, 0x55, 0xd1, 0xaa, 0x8c, 0xb0, 0x8e, 0x48,
		0x59, 0x0d, 0xbb, 0x3d, 0xa7, 0xb0, 0x8b, 0x10, 0x56, 0x82,
		0x88, 0x38, 0xc5, 0xf6, 0x1e, 0x63, 0x93, 0xba, 0x7a, 0x0a,
		0xbc, 0xc9, 0xf6, 0x62,
		/* tag */
		0x76, 0xfc, 0x6e, 0xce, 0x0f, 0x4e, 0x17, 0x68, 0xcd, 0xdf,
		0x88, 0x53, 0xbb, 0x2d, 0x55, 0x1b };
	struct crypto_key k;
	unsigned char *out = NULL;
	size_t outlen = 0;

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(key_b64, &k), OK);
	CU_ASSERT_EQUAL_FATAL(crypto_open(&k, k.id, iv, ct, sizeof(ct), ad,
	                          sizeof(ad), &out, &outlen),
	    OK);
	CU_ASSERT_EQUAL(outlen, sizeof(pt));
	CU_ASSERT_EQUAL(memcmp(out, pt, sizeof(pt)), 0);
	free(out);
}

static void
test_seal_arguments(void)
{
	struct crypto_key k;
	unsigned char iv[CRYPTO_IV_LEN], *ct = (unsigned char *)"x";
	static unsigned char big[CRYPTO_MAX_PLAINTEXT + 1];
	size_t ctlen = 1;

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &k), OK);
	CU_ASSERT_EQUAL(
	    crypto_seal(&k, big, 0, NULL, 0, iv, &ct, &ctlen), ERR_INVALID);
	CU_ASSERT_PTR_NULL(ct);
	CU_ASSERT_EQUAL(
	    crypto_seal(&k, big, sizeof(big), NULL, 0, iv, &ct, &ctlen),
	    ERR_INVALID);
	CU_ASSERT_EQUAL(
	    crypto_seal(&k, NULL, 3, NULL, 0, iv, &ct, &ctlen), ERR_INVALID);
	/* crypto_ad refuses what does not fit. */
	{
		unsigned char ad[16];

		CU_ASSERT_EQUAL(crypto_ad(1, "touchstone", ad, sizeof(ad)), 0);
	}
}

/* Writes text to a fresh file of mode mode; returns its path (static). */
static const char *
test_key_file(const char *text, mode_t mode)
{
	static char path[64];
	FILE *f;

	snprintf(
	    path, sizeof(path), "/tmp/berth-test-crypto.%d", (int)getpid());
	(void)unlink(path);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	fclose(f);
	CU_ASSERT_EQUAL(chmod(path, mode), 0);
	return path;
}

static void
test_key_sources(void)
{
	struct config *cfg = NULL;
	struct crypto_key k, want;
	char buf[256], yaml[256];
	const char *why, *path;

	CU_ASSERT_EQUAL_FATAL(crypto_key_from_base64(test_key_a, &want), OK);
	unsetenv("BERTH_ENCRYPTION_KEY");
	unsetenv("TS_MCP_ENCRYPTION_KEY");
	/* Nothing configured. */
	CU_ASSERT_EQUAL(
	    crypto_key_load(NULL, &k, buf, sizeof(buf), &why), ERR_NOT_FOUND);
	CU_ASSERT_PTR_NOT_NULL(why);
	/* The alias, then the main name winning over it. */
	setenv("TS_MCP_ENCRYPTION_KEY", test_key_b, 1);
	CU_ASSERT_EQUAL(crypto_key_load(NULL, &k, buf, sizeof(buf), &why), OK);
	CU_ASSERT_STRING_NOT_EQUAL(k.id, want.id);
	setenv("BERTH_ENCRYPTION_KEY", test_key_a, 1);
	CU_ASSERT_EQUAL(crypto_key_load(NULL, &k, buf, sizeof(buf), &why), OK);
	CU_ASSERT_STRING_EQUAL(k.id, want.id);
	/* Malformed: refused, and the message does not hold the value. */
	setenv("BERTH_ENCRYPTION_KEY", "c2hvcnQ=", 1);
	CU_ASSERT_EQUAL(
	    crypto_key_load(NULL, &k, buf, sizeof(buf), &why), ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL_FATAL(why);
	CU_ASSERT_PTR_NULL(strstr(why, "c2hvcnQ"));
	unsetenv("BERTH_ENCRYPTION_KEY");
	unsetenv("TS_MCP_ENCRYPTION_KEY");

	/* The key file: 0600 fine, 0640 and 0604 refused, bad content. */
	path = test_key_file(test_key_a, 0600);
	snprintf(yaml, sizeof(yaml), "encryption:\n  key_file: %s\n", path);
	CU_ASSERT_EQUAL_FATAL(
	    config_load_buffer("k", yaml, strlen(yaml), &cfg, NULL), OK);
	CU_ASSERT_EQUAL(crypto_key_load(cfg, &k, buf, sizeof(buf), &why), OK);
	CU_ASSERT_STRING_EQUAL(k.id, want.id);
	CU_ASSERT_EQUAL(chmod(path, 0400), 0);
	CU_ASSERT_EQUAL(crypto_key_load(cfg, &k, buf, sizeof(buf), &why), OK);
	CU_ASSERT_EQUAL(chmod(path, 0640), 0);
	CU_ASSERT_EQUAL(
	    crypto_key_load(cfg, &k, buf, sizeof(buf), &why), ERR_CONFIG);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "chmod 600"));
	CU_ASSERT_EQUAL(chmod(path, 0604), 0);
	CU_ASSERT_EQUAL(
	    crypto_key_load(cfg, &k, buf, sizeof(buf), &why), ERR_CONFIG);
	(void)test_key_file("not a key\n", 0600);
	CU_ASSERT_EQUAL(
	    crypto_key_load(cfg, &k, buf, sizeof(buf), &why), ERR_CONFIG);
	CU_ASSERT_PTR_NULL(strstr(why, "not a key"));
	CU_ASSERT_EQUAL(unlink(path), 0);
	CU_ASSERT_EQUAL(
	    crypto_key_load(cfg, &k, buf, sizeof(buf), &why), ERR_CONFIG);
	/* The environment wins over the file. */
	setenv("BERTH_ENCRYPTION_KEY", test_key_b, 1);
	CU_ASSERT_EQUAL(crypto_key_load(cfg, &k, buf, sizeof(buf), &why), OK);
	unsetenv("BERTH_ENCRYPTION_KEY");
	config_free(cfg);
}

static void
test_session_token_shape(void)
{
	static const char good[] =
	    "bst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
	char bad[64], hex[65];

	CU_ASSERT_EQUAL(strlen(good), SESSION_TOKEN_LEN);
	CU_ASSERT_TRUE(session_well_formed(good));
	CU_ASSERT_FALSE(session_well_formed(NULL));
	CU_ASSERT_FALSE(session_well_formed(""));
	CU_ASSERT_FALSE(session_well_formed("bst_"));
	CU_ASSERT_FALSE(session_well_formed(
	    "sk-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
	snprintf(bad, sizeof(bad), "%sA", good);
	CU_ASSERT_FALSE(session_well_formed(bad));
	snprintf(bad, sizeof(bad), "%s", good);
	bad[10] = '+';
	CU_ASSERT_FALSE(session_well_formed(bad));
	bad[10] = '\x01';
	CU_ASSERT_FALSE(session_well_formed(bad));
	bad[SESSION_TOKEN_LEN - 1] = '\0';
	CU_ASSERT_FALSE(session_well_formed(bad));
	/* SHA-256("abc"), FIPS 180-2. */
	session_digest_hex("abc", hex);
	CU_ASSERT_STRING_EQUAL(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* hex.h: what stored ciphertexts and audit hashes go through. */
static void
test_hex(void)
{
	static const unsigned char bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab,
		0xff };
	unsigned char out[6], *back;
	char *h = hex_encode(bytes, sizeof(bytes));
	size_t n = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_STRING_EQUAL(h, "00017f80abff");
	{
		char to[2 * sizeof(bytes) + 2];

		memset(to, 'x', sizeof(to));
		hex_encode_to(bytes, 3, to);
		CU_ASSERT_STRING_EQUAL(to, "00017f");
		CU_ASSERT_EQUAL(to[7], 'x'); /* nothing past the NUL */
	}
	back = hex_decode(h, &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(back);
	CU_ASSERT_EQUAL(n, sizeof(bytes));
	CU_ASSERT_EQUAL(memcmp(back, bytes, n), 0);
	free(back);
	free(h);
	CU_ASSERT_TRUE(hex_decode_to("00017F80ABff", out, sizeof(out)));
	CU_ASSERT_EQUAL(memcmp(out, bytes, sizeof(out)), 0);
	/* Wrong length, odd length, not hex. */
	CU_ASSERT_FALSE(hex_decode_to("00017f80ab", out, sizeof(out)));
	CU_ASSERT_PTR_NULL(hex_decode("abc", &n));
	CU_ASSERT_PTR_NULL(hex_decode("0g", &n));
	CU_ASSERT_PTR_NULL(hex_decode("0 ", &n));
	back = hex_decode("", &n);
	CU_ASSERT_PTR_NOT_NULL(back);
	CU_ASSERT_EQUAL(n, 0);
	free(back);
}

/* digest.h: SHA-256 against FIPS 180-2's vectors, and the fetched
 * algorithm against OpenSSL's own (EVP_sha256()) on a longer input. */
static void
test_digest(void)
{
	static const char abc[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char empty[] =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char two_blocks[] =
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
	unsigned char d[DIGEST_SHA256_LEN], ref[EVP_MAX_MD_SIZE], buf[1000];
	unsigned int n = 0;
	char hex[2 * DIGEST_SHA256_LEN + 1];
	size_t i;

	CU_ASSERT_TRUE(digest_sha256_hex("abc", 3, hex));
	CU_ASSERT_STRING_EQUAL(hex, abc);
	CU_ASSERT_TRUE(digest_sha256_hex("", 0, hex));
	CU_ASSERT_STRING_EQUAL(hex, empty);
	CU_ASSERT_TRUE(digest_sha256_hex(
	    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    hex));
	CU_ASSERT_STRING_EQUAL(hex, two_blocks);
	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7);
	CU_ASSERT_TRUE(digest_sha256(buf, sizeof(buf), d));
	CU_ASSERT_EQUAL_FATAL(
	    EVP_Digest(buf, sizeof(buf), ref, &n, EVP_sha256(), NULL), 1);
	CU_ASSERT_EQUAL(n, DIGEST_SHA256_LEN);
	CU_ASSERT_EQUAL(memcmp(d, ref, DIGEST_SHA256_LEN), 0);
	CU_ASSERT_EQUAL(EVP_MD_get_size(digest_sha256_md()), DIGEST_SHA256_LEN);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "crypto", "key formats", test_key_formats },
		{ "crypto", "round trip", test_round_trip },
		{ "crypto", "unique IVs", test_unique_ivs },
		{ "crypto", "tampered ciphertext, tag, IV", test_tamper },
		{ "crypto", "wrong additional data", test_wrong_ad },
		{ "crypto", "wrong key or key id", test_wrong_key },
		{ "crypto", "NIST GCM test case 16", test_known_answer },
		{ "crypto", "seal arguments", test_seal_arguments },
		{ "crypto", "key sources and file mode", test_key_sources },
		{ "crypto", "hex encoding", test_hex },
		{ "crypto", "SHA-256 (digest.h)", test_digest },
		{ "session", "token shape and digest",
		    test_session_token_shape },
	};

	log_init("test_crypto", LOG_LVL_ERROR);
	return unit_run(tests, UNIT_COUNT(tests));
}
