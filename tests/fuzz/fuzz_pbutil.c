/*
 * fuzz_pbutil.c - daemon/pbutil.c's conversions of database text (what a
 * run's row holds: epoch and integer text, the runner's JSON records of
 * tool calls and events) into Lighthouse messages. Every input is tried as
 * all four kinds of text. What comes out must be a message protobuf-c can
 * pack to the size it reports, with every string set and every time one a
 * Timestamp may hold (1970..9999, nanos below a second).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "pbutil.h"

static void
fuzz_check_ts(const Google__Protobuf__Timestamp *ts)
{
	if (ts == NULL)
		return;
	if (ts->seconds < 0 || ts->seconds > PBUTIL_TS_MAX_SECONDS ||
	    ts->nanos < 0 || ts->nanos > 999999999)
		abort();
}

/* Packs m (of any type) into a buffer of the size it reports. */
static void
fuzz_pack(const ProtobufCMessage *m)
{
	size_t len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(len ? len : 1);

	if (buf == NULL)
		return;
	if (protobuf_c_message_pack(m, buf) != len)
		abort();
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pbutil_arena a = { 0 };
	Lighthouse__V1__LighthouseToolCall **tc;
	Lighthouse__V1__ExecutionStep **st;
	char *text;
	size_t i, n;

	/* Database text is NUL-terminated: an embedded NUL ends it. */
	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	fuzz_check_ts(pbutil_ts_epoch(&a, text));
	(void)pbutil_ll(text);
	tc = pbutil_tool_calls(&a, text, &n);
	for (i = 0; tc != NULL && i < n; i++) {
		if (tc[i] == NULL || tc[i]->tool_name == NULL ||
		    tc[i]->result == NULL)
			abort();
		fuzz_check_ts(tc[i]->timestamp);
		fuzz_pack(&tc[i]->base);
	}
	st = pbutil_steps(&a, text, &n);
	for (i = 0; st != NULL && i < n; i++) {
		if (st[i] == NULL || st[i]->description == NULL ||
		    st[i]->step_number != (int32_t)(i + 1))
			abort();
		fuzz_check_ts(st[i]->timestamp);
		fuzz_pack(&st[i]->base);
	}
	pbutil_arena_free(&a);
	free(text);
	return 0;
}
