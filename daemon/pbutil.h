/*
 * pbutil.h - an arena for building protobuf-c messages, and conversions.
 *
 * protobuf-c messages hold plain pointers (strings, sub-messages, arrays);
 * building a response allocates many small pieces. They all come from one
 * arena, freed at once with pbutil_arena_free() after the message is
 * packed. An allocation failure is remembered (pbutil_arena_failed()) and
 * returns a static empty string or NULL, so builders check once at the end.
 */
#ifndef BERTH_PBUTIL_H
#define BERTH_PBUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/timestamp.pb-c.h"

struct pbutil_arena {
	struct pbutil_block *blocks;
	bool failed;
};

/* Zeroed memory owned by a; NULL (and a->failed) when out of memory. */
void *pbutil_alloc(struct pbutil_arena *a, size_t size);

/* A copy of s (NULL = "") owned by a; "" when out of memory. */
char *pbutil_strdup(struct pbutil_arena *a, const char *s);

/* An array of n pointers owned by a. */
void **pbutil_ptrs(struct pbutil_arena *a, size_t n);

/*
 * A Timestamp from PostgreSQL's epoch text ("1700000000.123456"), or NULL
 * for NULL/empty text.
 */
Google__Protobuf__Timestamp *pbutil_ts_epoch(
    struct pbutil_arena *a, const char *epoch);

/* A Timestamp for now. */
Google__Protobuf__Timestamp *pbutil_ts_now(struct pbutil_arena *a);

/* s as a number (PostgreSQL's integer text); 0 when not one. */
long long pbutil_ll(const char *s);

bool pbutil_arena_failed(const struct pbutil_arena *a);

/* Frees everything a holds; a can be reused afterwards. */
void pbutil_arena_free(struct pbutil_arena *a);

#endif
