/*
 * password.c - scrypt password hashes. See password.h.
 *
 * The stored string is parsed with a bounded cursor and every field is
 * checked before scrypt runs: a malformed or hostile string (from a bad
 * import, or an edited row) must not make a responder allocate gigabytes
 * or spin for minutes.
 */
#include "password.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"

/* Base64 (standard alphabet, padded) lengths of the two binary fields. */
#define PASSWORD_SALT_B64 24 /* 16 bytes */
#define PASSWORD_HASH_B64 44 /* 32 bytes */

static const char password_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Memory scrypt needs for N, r, p (OpenSSL's own accounting: B and V). */
static uint64_t
password_scrypt_mem(uint64_t n, uint64_t r, uint64_t p)
{
	return 128 * r * p + 128 * r * (n + 2);
}

/*
 * Runs scrypt. maxmem is what the parameters need (plus slack), never
 * more than PASSWORD_SCRYPT_MAXMEM: the bounds checked by the callers keep
 * it there. OK or ERR_INTERNAL.
 */
static berr
password_scrypt(const char *pw, size_t pwlen, const unsigned char *salt,
    uint64_t n, uint64_t r, uint64_t p, unsigned char *out, size_t outlen)
{
	uint64_t mem = password_scrypt_mem(n, r, p) + 64 * 1024;

	if (mem > PASSWORD_SCRYPT_MAXMEM)
		return ERR_INVALID;
	if (EVP_PBE_scrypt(pw, pwlen, salt, PASSWORD_SALT_LEN, n, r, p, mem,
	        out, outlen) != 1) {
		log_error("password: scrypt failed (N=%llu r=%llu p=%llu)",
		    (unsigned long long)n, (unsigned long long)r,
		    (unsigned long long)p);
		return ERR_INTERNAL;
	}
	return OK;
}

/* Value of a base64 character, or -1. */
static int
password_b64_value(char c)
{
	const char *q;

	if (c == '\0' || (q = strchr(password_b64, c)) == NULL)
		return -1;
	return (int)(q - password_b64);
}

/*
 * Strict, padded base64 of exactly outlen bytes from s[0..len): the length
 * must be that of outlen bytes, padding only at the end, and the unused
 * bits of the last character zero (so each value has one spelling). true on
 * success.
 */
static bool
password_b64_decode(
    const char *s, size_t len, unsigned char *out, size_t outlen)
{
	size_t i, o = 0, pad = (3 - outlen % 3) % 3;
	unsigned v;
	int k, j;

	if (len != (outlen + 2) / 3 * 4)
		return false;
	for (i = 0; i < len; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			char c = s[i + j];

			if (i + 4 == len && j >= 4 - (int)pad) {
				if (c != '=')
					return false;
				k = 0;
			} else if ((k = password_b64_value(c)) < 0) {
				return false;
			}
			v = v << 6 | (unsigned)k;
		}
		for (j = 0; j < 3 && o < outlen; j++)
			out[o++] = (unsigned char)(v >> (16 - 8 * j));
		if (i + 4 == len && pad > 0 &&
		    (v & ((1u << (8 * pad)) - 1)) != 0)
			return false;
	}
	return o == outlen;
}

/*
 * Reads a decimal in [lo, hi] at *cur (no sign, no leading zero, at most 8
 * digits) followed by '$' within end; advances past the '$'.
 */
static bool
password_read_uint(
    const char **cur, const char *end, uint64_t lo, uint64_t hi, uint64_t *v)
{
	const char *s = *cur;
	uint64_t n = 0;
	int digits = 0;

	if (s >= end || *s < '0' || *s > '9' ||
	    (*s == '0' && s + 1 < end && s[1] != '$'))
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		if (++digits > 8)
			return false;
		n = n * 10 + (uint64_t)(*s - '0');
		s++;
	}
	if (s >= end || *s != '$' || n < lo || n > hi)
		return false;
	*v = n;
	*cur = s + 1;
	return true;
}

/* Returns the length of password when acceptable (1..PASSWORD_MAX_LEN), 0
 * otherwise; never reads past PASSWORD_MAX_LEN + 1 bytes. */
static size_t
password_len(const char *password)
{
	size_t n;

	if (password == NULL)
		return 0;
	n = strnlen(password, PASSWORD_MAX_LEN + 1);
	return n > PASSWORD_MAX_LEN ? 0 : n;
}

berr
password_hash(const char *password, char *out, size_t size)
{
	unsigned char salt[PASSWORD_SALT_LEN], hash[PASSWORD_KEY_LEN];
	char salt64[PASSWORD_SALT_B64 + 1], hash64[PASSWORD_HASH_B64 + 1];
	size_t len = password_len(password);
	berr rc;
	int n;

	if (out == NULL || size < PASSWORD_HASH_MAX)
		return ERR_INTERNAL;
	out[0] = '\0';
	if (len == 0)
		return ERR_INVALID;
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		log_error("password: the random generator failed");
		rc = ERR_INTERNAL;
		goto out;
	}
	if ((rc = password_scrypt(password, len, salt, PASSWORD_SCRYPT_N,
	         PASSWORD_SCRYPT_R, PASSWORD_SCRYPT_P, hash, sizeof(hash))) !=
	    OK)
		goto out;
	EVP_EncodeBlock((unsigned char *)salt64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)hash64, hash, sizeof(hash));
	n = snprintf(out, size, "scrypt$%d$%d$%d$%s$%s", PASSWORD_SCRYPT_N,
	    PASSWORD_SCRYPT_R, PASSWORD_SCRYPT_P, salt64, hash64);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		rc = ERR_INTERNAL;
	}
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	OPENSSL_cleanse(hash64, sizeof(hash64));
	return rc;
}

berr
password_verify(const char *password, const char *stored)
{
	unsigned char salt[PASSWORD_SALT_LEN], want[PASSWORD_KEY_LEN];
	unsigned char got[PASSWORD_KEY_LEN];
	const char *cur, *end, *dollar;
	uint64_t n, r, p;
	size_t len, slen;
	berr rc = ERR_INVALID;

	if (stored == NULL)
		return ERR_INVALID;
	slen = strnlen(stored, PASSWORD_HASH_MAX);
	if (slen >= PASSWORD_HASH_MAX || strncmp(stored, "scrypt$", 7) != 0)
		return ERR_INVALID;
	cur = stored + 7;
	end = stored + slen;
	if (!password_read_uint(
	        &cur, end, PASSWORD_SCRYPT_N_MIN, PASSWORD_SCRYPT_N_MAX, &n) ||
	    (n & (n - 1)) != 0 ||
	    !password_read_uint(&cur, end, 1, PASSWORD_SCRYPT_R_MAX, &r) ||
	    !password_read_uint(&cur, end, 1, PASSWORD_SCRYPT_P_MAX, &p))
		goto out;
	if ((dollar = memchr(cur, '$', (size_t)(end - cur))) == NULL ||
	    !password_b64_decode(
	        cur, (size_t)(dollar - cur), salt, sizeof(salt)))
		goto out;
	cur = dollar + 1;
	if (!password_b64_decode(cur, (size_t)(end - cur), want, sizeof(want)))
		goto out;
	if (password_scrypt_mem(n, r, p) + 64 * 1024 > PASSWORD_SCRYPT_MAXMEM)
		goto out;
	/* Only now is the stored form known good: a bad password against a
	 * bad hash says ERR_INVALID, so the operator hears of the hash. */
	if ((len = password_len(password)) == 0) {
		rc = ERR_DENIED;
		goto out;
	}
	if ((rc = password_scrypt(
	         password, len, salt, n, r, p, got, sizeof(got))) != OK)
		goto out;
	rc = CRYPTO_memcmp(got, want, sizeof(want)) == 0 ? OK : ERR_DENIED;
out:
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}
