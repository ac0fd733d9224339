/*
 * crypto.c - AES-256-GCM with OpenSSL's EVP interface. See crypto.h.
 *
 * The key id is the first 8 bytes (16 hex) of SHA-256("berth-key-id" ||
 * key): it names a key without revealing it, and two different keys get
 * different ids with overwhelming odds.
 */
#include "crypto.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "config.h"
#include "digest.h"
#include "hex.h"

/* A key file larger than this is not a base64 key. */
#define CRYPTO_KEY_FILE_MAX 256

void
crypto_key_wipe(struct crypto_key *k)
{
	OPENSSL_cleanse(k, sizeof(*k));
}

/* Derives k->id from k->key. */
static void
crypto_key_id(struct crypto_key *k)
{
	static const char label[] = "berth-key-id";
	unsigned char buf[sizeof(label) - 1 + CRYPTO_KEY_LEN];
	unsigned char d[DIGEST_SHA256_LEN];

	memcpy(buf, label, sizeof(label) - 1);
	memcpy(buf + sizeof(label) - 1, k->key, CRYPTO_KEY_LEN);
	(void)!digest_sha256(buf, sizeof(buf), d);
	OPENSSL_cleanse(buf, sizeof(buf));
	hex_encode_to(d, CRYPTO_KEY_ID_LEN / 2, k->id);
}

berr
crypto_key_from_base64(const char *text, struct crypto_key *out)
{
	unsigned char raw[CRYPTO_KEY_FILE_MAX];
	char clean[CRYPTO_KEY_FILE_MAX + 1];
	size_t n = 0, i;
	int len, pad = 0;
	berr rc = ERR_INVALID;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		goto out;
	while (isspace((unsigned char)*text))
		text++;
	for (i = 0; text[i] != '\0'; i++) {
		if (n >= sizeof(clean) - 1)
			goto out;
		clean[n++] = text[i];
	}
	while (n > 0 && isspace((unsigned char)clean[n - 1]))
		n--;
	clean[n] = '\0';
	/* Base64 of 32 bytes is 44 characters with one '='. */
	if (n != 44)
		goto out;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)clean[i];

		if (c == '=' && i >= n - 2) {
			pad++;
			continue;
		}
		if (pad > 0 || !(isalnum(c) || c == '+' || c == '/'))
			goto out;
	}
	len = EVP_DecodeBlock(raw, (const unsigned char *)clean, (int)n);
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	if (len < 0 || len - pad != CRYPTO_KEY_LEN)
		goto out;
	memcpy(out->key, raw, CRYPTO_KEY_LEN);
	crypto_key_id(out);
	rc = OK;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(clean, sizeof(clean));
	if (rc != OK)
		crypto_key_wipe(out);
	return rc;
}

/* Reads the key file at path: a regular file, mode 0600 or stricter. */
static berr
crypto_key_file(const char *path, struct crypto_key *out, char *buf,
    size_t bufsize, const char **why)
{
	char text[CRYPTO_KEY_FILE_MAX + 1];
	struct stat st;
	ssize_t n;
	int fd;
	berr rc = ERR_CONFIG;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		snprintf(
		    buf, bufsize, "key file %s: %s", path, strerror(errno));
		*why = buf;
		return ERR_CONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(buf, bufsize, "key file %s: not a regular file", path);
		*why = buf;
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(buf, bufsize,
		    "key file %s: mode %04o lets others read it; "
		    "chmod 600 it",
		    path, (unsigned)(st.st_mode & 07777));
		*why = buf;
		goto out;
	}
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0 || (size_t)n >= sizeof(text) - 1) {
		snprintf(
		    buf, bufsize, "key file %s: unreadable or too long", path);
		*why = buf;
		goto out;
	}
	text[n] = '\0';
	if (crypto_key_from_base64(text, out) != OK) {
		snprintf(
		    buf, bufsize, "key file %s: not base64 of 32 bytes", path);
		*why = buf;
		goto out;
	}
	rc = OK;
out:
	OPENSSL_cleanse(text, sizeof(text));
	close(fd);
	return rc;
}

/* The key from the first set variable of envs[2], else from file. */
static berr
crypto_key_source(const char *const envs[2], const char *file_key,
    const char *file, struct crypto_key *out, char *buf, size_t bufsize,
    const char **why)
{
	const char *v;
	size_t i;

	*why = NULL;
	memset(out, 0, sizeof(*out));
	for (i = 0; i < 2; i++) {
		if ((v = getenv(envs[i])) == NULL || *v == '\0')
			continue;
		if (crypto_key_from_base64(v, out) != OK) {
			snprintf(buf, bufsize,
			    "$%s is not base64 of 32 bytes (make one with: "
			    "openssl rand -base64 32)",
			    envs[i]);
			*why = buf;
			return ERR_CONFIG;
		}
		return OK;
	}
	if (file != NULL && file[0] != '\0')
		return crypto_key_file(file, out, buf, bufsize, why);
	snprintf(buf, bufsize, "no encryption key: set $%s or %s", envs[0],
	    file_key);
	*why = buf;
	return ERR_NOT_FOUND;
}

berr
crypto_key_load(const struct config *cfg, struct crypto_key *out, char *buf,
    size_t bufsize, const char **why)
{
	static const char *const envs[2] = { "BERTH_ENCRYPTION_KEY",
		"TS_MCP_ENCRYPTION_KEY" };

	return crypto_key_source(envs, "encryption.key_file",
	    cfg != NULL ? cfg->encryption.key_file : NULL, out, buf, bufsize,
	    why);
}

berr
crypto_key_load_old(const struct config *cfg, struct crypto_key *out, char *buf,
    size_t bufsize, const char **why)
{
	static const char *const envs[2] = { "BERTH_ENCRYPTION_KEY_OLD",
		"TS_MCP_ENCRYPTION_KEY_OLD" };

	return crypto_key_source(envs, "encryption.old_key_file",
	    cfg != NULL ? cfg->encryption.old_key_file : NULL, out, buf,
	    bufsize, why);
}

size_t
crypto_ad(
    long long user_id, const char *upstream, unsigned char *buf, size_t size)
{
	int n;

	if (upstream == NULL)
		upstream = "";
	n = snprintf((char *)buf, size, "berth-upstream-key-v1\n%lld\n%zu:%s",
	    user_id, strlen(upstream), upstream);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

berr
crypto_seal(const struct crypto_key *k, const unsigned char *pt, size_t len,
    const unsigned char *ad, size_t adlen, unsigned char iv[CRYPTO_IV_LEN],
    unsigned char **ct, size_t *ctlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *out = NULL;
	int n, fin;
	berr rc = ERR_INTERNAL;

	*ct = NULL;
	*ctlen = 0;
	if (pt == NULL || len == 0 || len > CRYPTO_MAX_PLAINTEXT ||
	    adlen > INT_MAX)
		return ERR_INVALID;
	if ((out = malloc(len + CRYPTO_TAG_LEN)) == NULL)
		return ERR_NOMEM;
	if (RAND_bytes(iv, CRYPTO_IV_LEN) != 1)
		goto out;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(
	        ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_IV_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, iv) != 1)
		goto out;
	if (adlen > 0 && EVP_EncryptUpdate(ctx, NULL, &n, ad, (int)adlen) != 1)
		goto out;
	if (EVP_EncryptUpdate(ctx, out, &n, pt, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(ctx, out + n, &fin) != 1 ||
	    (size_t)n + (size_t)fin != len ||
	    EVP_CIPHER_CTX_ctrl(
	        ctx, EVP_CTRL_GCM_GET_TAG, CRYPTO_TAG_LEN, out + len) != 1)
		goto out;
	*ct = out;
	*ctlen = len + CRYPTO_TAG_LEN;
	out = NULL;
	rc = OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	free(out);
	return rc;
}

berr
crypto_open(const struct crypto_key *k, const char *key_id,
    const unsigned char iv[CRYPTO_IV_LEN], const unsigned char *ct,
    size_t ctlen, const unsigned char *ad, size_t adlen, unsigned char **pt,
    size_t *ptlen)
{
	EVP_CIPHER_CTX *ctx = NULL;
	unsigned char *out = NULL, tag[CRYPTO_TAG_LEN];
	size_t len;
	int n, fin;
	berr rc = ERR_INTERNAL;

	*pt = NULL;
	*ptlen = 0;
	if (key_id != NULL && strcmp(key_id, k->id) != 0 &&
	    k->previous != NULL && strcmp(key_id, k->previous->id) == 0)
		k = k->previous;
	if (key_id == NULL || strcmp(key_id, k->id) != 0)
		return ERR_NOT_FOUND;
	if (ct == NULL || ctlen <= CRYPTO_TAG_LEN ||
	    ctlen > CRYPTO_MAX_PLAINTEXT + CRYPTO_TAG_LEN || adlen > INT_MAX)
		return ERR_INVALID;
	len = ctlen - CRYPTO_TAG_LEN;
	memcpy(tag, ct + len, CRYPTO_TAG_LEN);
	if ((out = malloc(len + 1)) == NULL)
		return ERR_NOMEM;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(
	        ctx, EVP_CTRL_GCM_SET_IVLEN, CRYPTO_IV_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, iv) != 1)
		goto out;
	if (adlen > 0 && EVP_DecryptUpdate(ctx, NULL, &n, ad, (int)adlen) != 1)
		goto out;
	if (EVP_DecryptUpdate(ctx, out, &n, ct, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(
	        ctx, EVP_CTRL_GCM_SET_TAG, CRYPTO_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out + n, &fin) != 1) {
		rc = ERR_DENIED;
		goto out;
	}
	if ((size_t)n + (size_t)fin != len)
		goto out;
	out[len] = '\0';
	*pt = out;
	*ptlen = len;
	out = NULL;
	rc = OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	if (out != NULL) {
		OPENSSL_cleanse(out, len + 1);
		free(out);
	}
	return rc;
}
