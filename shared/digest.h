/*
 * digest.h - SHA-256, the one digest Berth uses: API key and session token
 * digests (looked up on every request), agent file checksums, migration
 * checksums, master key ids, PKCE challenges and the audit chain.
 *
 * OpenSSL 3 looks its algorithms up in the provider store each time one is
 * named by EVP_sha256() or SHA256() (a lock and a hash lookup, about half
 * the cost of hashing an API key); this module fetches SHA-256 once per
 * process and keeps it. Thread-safe (berthd hashes from several threads).
 *
 * Ownership: no allocation visible to callers; the fetched algorithm lives
 * until the process ends.
 */
#ifndef BERTH_DIGEST_H
#define BERTH_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#define DIGEST_SHA256_LEN 32

/* SHA-256 for EVP_DigestInit_ex() (incremental use); never NULL. */
const EVP_MD *digest_sha256_md(void);

/* SHA-256 of len bytes of buf into out. False only when OpenSSL is out of
 * memory; out is then all zeroes (a digest no input has in practice). */
bool digest_sha256(const void *buf, size_t len,
    unsigned char out[DIGEST_SHA256_LEN]) __attribute__((warn_unused_result));

/* The same as lowercase hex (64 characters and a NUL); "" on failure. */
bool digest_sha256_hex(const void *buf, size_t len,
    char hex[2 * DIGEST_SHA256_LEN + 1]) __attribute__((warn_unused_result));

#endif
