/*
 * digest.c - see digest.h.
 */
#include "digest.h"

#include <pthread.h>
#include <string.h>

#include "hex.h"

static pthread_once_t digest_once = PTHREAD_ONCE_INIT;
static const EVP_MD *digest_md;

static void
digest_fetch(void)
{
	/* Should the fetch fail (no memory at start), EVP_sha256() still
	 * works, only with the lookup on each use. */
	digest_md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	if (digest_md == NULL)
		digest_md = EVP_sha256();
}

const EVP_MD *
digest_sha256_md(void)
{
	pthread_once(&digest_once, digest_fetch);
	return digest_md;
}

bool
digest_sha256(const void *buf, size_t len, unsigned char out[DIGEST_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_Digest(buf, len, out, &n, digest_sha256_md(), NULL) == 1 &&
	    n == DIGEST_SHA256_LEN)
		return true;
	memset(out, 0, DIGEST_SHA256_LEN);
	return false;
}

bool
digest_sha256_hex(
    const void *buf, size_t len, char hex[2 * DIGEST_SHA256_LEN + 1])
{
	unsigned char d[DIGEST_SHA256_LEN];

	if (!digest_sha256(buf, len, d)) {
		hex[0] = '\0';
		return false;
	}
	hex_encode_to(d, sizeof(d), hex);
	return true;
}
