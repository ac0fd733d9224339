/*
 * pbutil.c - a linked list of blocks, one per allocation: responses are
 * small (a few hundred pieces at most, capped by LIMIT_LH_LIST), so the
 * simplest arena does.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pbutil.h"

struct pbutil_block {
	struct pbutil_block *next;
	max_align_t data[];
};

void *
pbutil_alloc(struct pbutil_arena *a, size_t size)
{
	struct pbutil_block *b;

	if (size > SIZE_MAX / 2 || (b = calloc(1, sizeof(*b) + size)) == NULL) {
		a->failed = true;
		return NULL;
	}
	b->next = a->blocks;
	a->blocks = b;
	return b->data;
}

char *
pbutil_strdup(struct pbutil_arena *a, const char *s)
{
	static char empty[1];
	size_t n;
	char *out;

	if (s == NULL || *s == '\0')
		return empty;
	n = strlen(s);
	if ((out = pbutil_alloc(a, n + 1)) == NULL)
		return empty;
	memcpy(out, s, n + 1);
	return out;
}

void **
pbutil_ptrs(struct pbutil_arena *a, size_t n)
{
	if (n > SIZE_MAX / sizeof(void *)) {
		a->failed = true;
		return NULL;
	}
	return pbutil_alloc(a, (n ? n : 1) * sizeof(void *));
}

Google__Protobuf__Timestamp *
pbutil_ts_epoch(struct pbutil_arena *a, const char *epoch)
{
	Google__Protobuf__Timestamp *ts;
	double v;
	char *end;

	if (epoch == NULL || *epoch == '\0')
		return NULL;
	v = strtod(epoch, &end);
	if (end == epoch || v < 0 || v > 253402300799.0)
		return NULL;
	if ((ts = pbutil_alloc(a, sizeof(*ts))) == NULL)
		return NULL;
	google__protobuf__timestamp__init(ts);
	ts->seconds = (int64_t)v;
	ts->nanos = (int32_t)((v - (double)ts->seconds) * 1e9);
	if (ts->nanos < 0 || ts->nanos > 999999999)
		ts->nanos = 0;
	return ts;
}

Google__Protobuf__Timestamp *
pbutil_ts_now(struct pbutil_arena *a)
{
	Google__Protobuf__Timestamp *ts;
	struct timespec now;

	if ((ts = pbutil_alloc(a, sizeof(*ts))) == NULL)
		return NULL;
	google__protobuf__timestamp__init(ts);
	clock_gettime(CLOCK_REALTIME, &now);
	ts->seconds = now.tv_sec;
	ts->nanos = (int32_t)now.tv_nsec;
	return ts;
}

long long
pbutil_ll(const char *s)
{
	char *end;
	long long v;

	if (s == NULL)
		return 0;
	v = strtoll(s, &end, 10);
	return end == s ? 0 : v;
}

bool
pbutil_arena_failed(const struct pbutil_arena *a)
{
	return a->failed;
}

void
pbutil_arena_free(struct pbutil_arena *a)
{
	struct pbutil_block *b;

	while ((b = a->blocks) != NULL) {
		a->blocks = b->next;
		free(b);
	}
	a->failed = false;
}
