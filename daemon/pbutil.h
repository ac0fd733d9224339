/*
 * pbutil.h - an arena for building protobuf-c messages, and conversions
 * (PostgreSQL text and the runner's JSON records to protobuf messages).
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
#include "lighthouse.pb-c.h"

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

/* The last second a Timestamp may hold: 9999-12-31T23:59:59Z. */
#define PBUTIL_TS_MAX_SECONDS 253402300799LL

/*
 * A Timestamp from PostgreSQL's epoch text ("1700000000.123456", to the
 * microsecond), or NULL for NULL, empty or any other text, and for a time
 * before 1970 or after 9999.
 */
Google__Protobuf__Timestamp *pbutil_ts_epoch(
    struct pbutil_arena *a, const char *epoch);

/* A Timestamp for now. */
Google__Protobuf__Timestamp *pbutil_ts_now(struct pbutil_arena *a);

/* s as a number (PostgreSQL's integer text); 0 when s is not wholly one
 * or does not fit. */
long long pbutil_ll(const char *s);

/*
 * A run's recorded tool calls (the JSON text of runs.tool_calls: objects
 * with name, parameters, result, duration_ms, success, at) as
 * LighthouseToolCall messages owned by a; *n set. Parameters become a
 * string map (strings as they are, other values as JSON text). Text that
 * is not such an array gives none. A member of the wrong type is left
 * out: success is only JSON true, duration_ms and at only JSON numbers.
 */
Lighthouse__V1__LighthouseToolCall **pbutil_tool_calls(
    struct pbutil_arena *a, const char *json, size_t *n);

/*
 * A run's llm_call and tool_call events (JSON array of seq, kind,
 * payload, at) as ExecutionStep messages owned by a; *n set. Members of
 * the wrong type are left out, as for pbutil_tool_calls().
 */
Lighthouse__V1__ExecutionStep **pbutil_steps(
    struct pbutil_arena *a, const char *json, size_t *n);

bool pbutil_arena_failed(const struct pbutil_arena *a);

/* Frees everything a holds; a can be reused afterwards. */
void pbutil_arena_free(struct pbutil_arena *a);

#endif
