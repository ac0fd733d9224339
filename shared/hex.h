/*
 * hex.h - bytes to lowercase hex text and back, for what Berth keeps as
 * hex in PostgreSQL (ciphertexts and IVs of stored secrets, audit hashes).
 *
 * Ownership: hex_encode() and hex_decode() return malloc'ed buffers the
 * caller frees; hex_encode_to() and hex_decode_to() write into the
 * caller's. No state.
 */
#ifndef BERTH_HEX_H
#define BERTH_HEX_H

#include <stdbool.h>
#include <stddef.h>

/* The lowercase hex of n bytes (2n characters and a NUL), or NULL. */
char *hex_encode(const unsigned char *p, size_t n);

/* The same into out, which has room for 2n + 1 bytes (no allocation: for
 * the per-request paths). */
void hex_encode_to(const unsigned char *p, size_t n, char *out);

/*
 * Decodes hex text (either case, even length) into a new buffer of *n
 * bytes (one spare byte past them); NULL when s is not hex or out of
 * memory.
 */
unsigned char *hex_decode(const char *s, size_t *n);

/* Decodes exactly 2n hex digits of s into out; false otherwise. */
bool hex_decode_to(const char *s, unsigned char *out, size_t n);

#endif
