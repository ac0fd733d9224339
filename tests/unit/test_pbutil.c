/*
 * test_pbutil.c - CUnit suites for daemon/pbutil.c on its own: the arena,
 * and the conversions of database text into Lighthouse messages, with
 * well-formed rows and with malformed ones (text that is not a number or
 * not JSON, JSON of the wrong shape, members of the wrong type, NaN and
 * out-of-range times). A malformed column must give an empty or absent
 * field, never a crash, a made-up value or a read past the text.
 */
#include <CUnit/CUnit.h>
#include <stdint.h>
#include <string.h>

#include "pbutil.h"
#include "unit.h"

static void
test_arena(void)
{
	struct pbutil_arena a = { 0 };
	unsigned char *p;
	char *s;
	void **v;
	size_t i;

	p = pbutil_alloc(&a, 64);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 0; i < 64; i++)
		CU_ASSERT_EQUAL(p[i], 0);
	s = pbutil_strdup(&a, "hello");
	CU_ASSERT_STRING_EQUAL(s, "hello");
	CU_ASSERT_STRING_EQUAL(pbutil_strdup(&a, NULL), "");
	CU_ASSERT_STRING_EQUAL(pbutil_strdup(&a, ""), "");
	/* An empty array is still somewhere to write nothing to. */
	v = pbutil_ptrs(&a, 0);
	CU_ASSERT_PTR_NOT_NULL(v);
	CU_ASSERT_FALSE(pbutil_arena_failed(&a));
	/* A size no allocator can give is a failure, remembered. */
	CU_ASSERT_PTR_NULL(pbutil_alloc(&a, SIZE_MAX - 8));
	CU_ASSERT_TRUE(pbutil_arena_failed(&a));
	CU_ASSERT_PTR_NULL(pbutil_ptrs(&a, SIZE_MAX / 2));
	pbutil_arena_free(&a);
	CU_ASSERT_FALSE(pbutil_arena_failed(&a));
	CU_ASSERT_PTR_NULL(a.blocks);
	/* Reusable after being freed. */
	CU_ASSERT_STRING_EQUAL(pbutil_strdup(&a, "again"), "again");
	pbutil_arena_free(&a);
}

static void
test_ts_epoch(void)
{
	static const char *const bad[] = { "abc", "-1", "-0.5", "253402300800",
		"1e300", "Infinity", "-Infinity", "NaN", "nan", "12abc",
		"1700000000.5 ", " ", "0x10", "1,5" };
	struct pbutil_arena a = { 0 };
	Google__Protobuf__Timestamp *ts;
	size_t i;

	ts = pbutil_ts_epoch(&a, "1700000000.123456");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
	CU_ASSERT_EQUAL(ts->seconds, 1700000000);
	CU_ASSERT_EQUAL(ts->nanos, 123456000);
	ts = pbutil_ts_epoch(&a, "0");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
	CU_ASSERT_EQUAL(ts->seconds, 0);
	CU_ASSERT_EQUAL(ts->nanos, 0);
	/* The last second of 9999, the largest a Timestamp may hold. */
	ts = pbutil_ts_epoch(&a, "253402300799");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
	CU_ASSERT_EQUAL(ts->seconds, PBUTIL_TS_MAX_SECONDS);
	/* Rounding to the microsecond carries into the seconds. */
	ts = pbutil_ts_epoch(&a, "1700000000.9999996");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
	CU_ASSERT_EQUAL(ts->seconds, 1700000001);
	CU_ASSERT_EQUAL(ts->nanos, 0);
	/* ... but not past the last second of 9999. */
	CU_ASSERT_PTR_NULL(pbutil_ts_epoch(&a, "253402300799.9999996"));
	ts = pbutil_ts_epoch(&a, "253402300799.5");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ts);
	CU_ASSERT_EQUAL(ts->seconds, PBUTIL_TS_MAX_SECONDS);
	CU_ASSERT_EQUAL(ts->nanos, 500000000);
	CU_ASSERT_PTR_NULL(pbutil_ts_epoch(&a, NULL));
	CU_ASSERT_PTR_NULL(pbutil_ts_epoch(&a, ""));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ts = pbutil_ts_epoch(&a, bad[i]);
		if (ts != NULL)
			fprintf(stderr, "\n  \"%s\" gave %lld.%09d\n", bad[i],
			    (long long)ts->seconds, (int)ts->nanos);
		CU_ASSERT_PTR_NULL(ts);
	}
	CU_ASSERT_FALSE(pbutil_arena_failed(&a));
	pbutil_arena_free(&a);
}

static void
test_ll(void)
{
	CU_ASSERT_EQUAL(pbutil_ll("42"), 42);
	CU_ASSERT_EQUAL(pbutil_ll("-7"), -7);
	CU_ASSERT_EQUAL(pbutil_ll("0"), 0);
	CU_ASSERT_EQUAL(pbutil_ll("9223372036854775807"), INT64_MAX);
	/* Not a number, or not only one: 0, as the header says. */
	CU_ASSERT_EQUAL(pbutil_ll(NULL), 0);
	CU_ASSERT_EQUAL(pbutil_ll(""), 0);
	CU_ASSERT_EQUAL(pbutil_ll("x"), 0);
	CU_ASSERT_EQUAL(pbutil_ll("12x"), 0);
	CU_ASSERT_EQUAL(pbutil_ll("1.5"), 0);
	CU_ASSERT_EQUAL(pbutil_ll("99999999999999999999"), 0);
	CU_ASSERT_EQUAL(pbutil_ll("-99999999999999999999"), 0);
}

/* The value of key in a tool call's parameter map, or NULL. */
static const char *
param_of(const Lighthouse__V1__LighthouseToolCall *tc, const char *key)
{
	size_t i;

	for (i = 0; i < tc->n_parameters; i++)
		if (strcmp(tc->parameters[i]->key, key) == 0)
			return tc->parameters[i]->value;
	return NULL;
}

static void
test_tool_calls(void)
{
	static const char good[] =
	    "[{\"name\":\"station_status\",\"parameters\":{\"a\":\"x\","
	    "\"b\":1,\"c\":null,\"d\":{\"e\":[1,true]}},\"result\":\"ok\","
	    "\"duration_ms\":12,\"success\":true,\"at\":1700000000.5},"
	    "{\"name\":\"list_runs\",\"result\":{\"runs\":[]},"
	    "\"success\":false}]";
	struct pbutil_arena a = { 0 };
	Lighthouse__V1__LighthouseToolCall **tc;
	size_t n = 99;

	tc = pbutil_tool_calls(&a, good, &n);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tc);
	CU_ASSERT_STRING_EQUAL(tc[0]->tool_name, "station_status");
	CU_ASSERT_EQUAL(tc[0]->n_parameters, 4);
	CU_ASSERT_STRING_EQUAL(param_of(tc[0], "a"), "x");
	CU_ASSERT_STRING_EQUAL(param_of(tc[0], "b"), "1");
	CU_ASSERT_STRING_EQUAL(param_of(tc[0], "c"), "null");
	CU_ASSERT_STRING_EQUAL(param_of(tc[0], "d"), "{\"e\":[1,true]}");
	CU_ASSERT_STRING_EQUAL(tc[0]->result, "ok");
	CU_ASSERT_EQUAL(tc[0]->duration_ms, 12);
	CU_ASSERT_TRUE(tc[0]->success);
	CU_ASSERT_PTR_NOT_NULL_FATAL(tc[0]->timestamp);
	CU_ASSERT_EQUAL(tc[0]->timestamp->seconds, 1700000000);
	CU_ASSERT_EQUAL(tc[0]->timestamp->nanos, 500000000);
	/* A result that is not a string is kept as its JSON text. */
	CU_ASSERT_STRING_EQUAL(tc[1]->result, "{\"runs\":[]}");
	CU_ASSERT_EQUAL(tc[1]->n_parameters, 0);
	CU_ASSERT_FALSE(tc[1]->success);
	CU_ASSERT_EQUAL(tc[1]->duration_ms, 0);
	CU_ASSERT_PTR_NULL(tc[1]->timestamp);
	CU_ASSERT_FALSE(pbutil_arena_failed(&a));
	pbutil_arena_free(&a);
}

static void
test_tool_calls_malformed(void)
{
	/* Text that is no array of anything: none, *n = 0. */
	static const char *const none[] = { "", "not json", "{}", "\"[]\"", "[",
		"[1,", "null", "42" };
	/*
	 * An array whose elements are not calls, or whose members have the
	 * wrong types: one call per element, each field empty or absent.
	 */
	static const char odd[] =
	    "[1,null,\"x\",[],{},{\"name\":5,\"parameters\":\"str\","
	    "\"result\":null,\"success\":\"yes\",\"duration_ms\":\"12\","
	    "\"at\":\"NaN\"},{\"success\":1,\"duration_ms\":true,"
	    "\"at\":\"2026-11-24\",\"parameters\":[1,2]},"
	    "{\"at\":-5,\"duration_ms\":1e300},{\"at\":1e300}]";
	struct pbutil_arena a = { 0 };
	Lighthouse__V1__LighthouseToolCall **tc;
	size_t i, n;

	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		n = 99;
		tc = pbutil_tool_calls(&a, none[i], &n);
		CU_ASSERT_EQUAL(n, 0);
		if (n != 0)
			fprintf(stderr, "\n  \"%s\" gave %zu\n", none[i], n);
		(void)tc;
	}
	n = 99;
	CU_ASSERT_PTR_NULL(pbutil_tool_calls(&a, NULL, &n));
	CU_ASSERT_EQUAL(n, 0);
	n = 99;
	tc = pbutil_tool_calls(&a, "[]", &n);
	CU_ASSERT_EQUAL(n, 0);

	tc = pbutil_tool_calls(&a, odd, &n);
	CU_ASSERT_EQUAL_FATAL(n, 9);
	for (i = 0; i < n; i++) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(tc[i]);
		CU_ASSERT_PTR_NOT_NULL(tc[i]->tool_name);
		CU_ASSERT_PTR_NOT_NULL(tc[i]->result);
		CU_ASSERT_EQUAL(tc[i]->n_parameters, 0);
		/* Only JSON true is a success. */
		CU_ASSERT_FALSE(tc[i]->success);
		/* Only a JSON number is a time. */
		CU_ASSERT_PTR_NULL(tc[i]->timestamp);
	}
	for (i = 0; i < 5; i++) {
		CU_ASSERT_STRING_EQUAL(tc[i]->tool_name, "");
		CU_ASSERT_STRING_EQUAL(tc[i]->result, "");
	}
	/* A name that is no string is its JSON text, as a result is. */
	CU_ASSERT_STRING_EQUAL(tc[5]->tool_name, "5");
	CU_ASSERT_STRING_EQUAL(tc[5]->result, "");
	/* Only a JSON number is a duration; one too large is clamped. */
	CU_ASSERT_EQUAL(tc[5]->duration_ms, 0);
	CU_ASSERT_EQUAL(tc[6]->duration_ms, 0);
	CU_ASSERT_EQUAL(tc[7]->duration_ms, INT64_MAX);
	CU_ASSERT_FALSE(pbutil_arena_failed(&a));
	pbutil_arena_free(&a);
}

static void
test_steps(void)
{
	static const char good[] =
	    "[{\"seq\":1,\"kind\":\"llm_call\",\"payload\":{\"step\":1,"
	    "\"stop_reason\":\"tool_use\",\"duration_ms\":250},"
	    "\"at\":1700000001},"
	    "{\"seq\":2,\"kind\":\"tool_call\",\"payload\":{\"name\":"
	    "\"station_status\",\"success\":true,\"duration_ms\":3},"
	    "\"at\":1700000002.25},"
	    "{\"seq\":3,\"kind\":\"tool_call\",\"payload\":{\"name\":"
	    "\"get_run\",\"success\":false}}]";
	struct pbutil_arena a = { 0 };
	Lighthouse__V1__ExecutionStep **st;
	size_t n = 99;

	st = pbutil_steps(&a, good, &n);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT_EQUAL(st[0]->step_number, 1);
	CU_ASSERT_EQUAL(
	    st[0]->type, LIGHTHOUSE__V1__STEP_TYPE__STEP_TYPE_LLM_CALL);
	CU_ASSERT_STRING_EQUAL(
	    st[0]->description, "model call 1 (stop: tool_use)");
	CU_ASSERT_EQUAL(st[0]->duration_ms, 250);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st[0]->timestamp);
	CU_ASSERT_EQUAL(st[0]->timestamp->seconds, 1700000001);
	CU_ASSERT_EQUAL(st[1]->step_number, 2);
	CU_ASSERT_EQUAL(
	    st[1]->type, LIGHTHOUSE__V1__STEP_TYPE__STEP_TYPE_TOOL_CALL);
	CU_ASSERT_STRING_EQUAL(st[1]->description, "tool station_status (ok)");
	CU_ASSERT_EQUAL(st[1]->duration_ms, 3);
	CU_ASSERT_PTR_NOT_NULL_FATAL(st[1]->timestamp);
	CU_ASSERT_EQUAL(st[1]->timestamp->nanos, 250000000);
	CU_ASSERT_STRING_EQUAL(st[2]->description, "tool get_run (failed)");
	CU_ASSERT_PTR_NULL(st[2]->timestamp);
	pbutil_arena_free(&a);
}

static void
test_steps_malformed(void)
{
	char long_name[400], text[600];
	struct pbutil_arena a = { 0 };
	Lighthouse__V1__ExecutionStep **st;
	size_t i, n = 99;

	CU_ASSERT_PTR_NULL(pbutil_steps(&a, "{\"kind\":\"tool_call\"}", &n));
	CU_ASSERT_EQUAL(n, 0);
	st = pbutil_steps(&a,
	    "[1,null,{},{\"kind\":7,\"payload\":3},"
	    "{\"kind\":\"tool_call\",\"payload\":[]},"
	    "{\"kind\":\"tool_call\",\"payload\":{\"name\":{\"x\":1},"
	    "\"success\":\"true\",\"duration_ms\":\"9\"},\"at\":\"NaN\"}]",
	    &n);
	CU_ASSERT_EQUAL_FATAL(n, 6);
	for (i = 0; i < n; i++) {
		CU_ASSERT_EQUAL(st[i]->step_number, (int32_t)(i + 1));
		CU_ASSERT_EQUAL(st[i]->duration_ms, 0);
		CU_ASSERT_PTR_NULL(st[i]->timestamp);
	}
	/* Anything but a tool call is reported as a model call. */
	CU_ASSERT_STRING_EQUAL(st[0]->description, "model call  (stop: )");
	CU_ASSERT_EQUAL(
	    st[3]->type, LIGHTHOUSE__V1__STEP_TYPE__STEP_TYPE_LLM_CALL);
	CU_ASSERT_STRING_EQUAL(st[4]->description, "tool  (failed)");
	/* "true" in quotes is no success. */
	CU_ASSERT_STRING_EQUAL(st[5]->description, "tool {\"x\":1} (failed)");

	/* A long name is cut to 100 bytes in the description. */
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	snprintf(text, sizeof(text),
	    "[{\"kind\":\"tool_call\",\"payload\":{\"name\":\"%s\"}}]",
	    long_name);
	st = pbutil_steps(&a, text, &n);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(
	    strlen(st[0]->description), strlen("tool  (failed)") + 100);
	pbutil_arena_free(&a);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "arena", "alloc, strdup, ptrs, failure, reuse", test_arena },
		{ "text", "epoch times", test_ts_epoch },
		{ "text", "integers", test_ll },
		{ "json", "tool calls", test_tool_calls },
		{ "json", "tool calls: malformed", test_tool_calls_malformed },
		{ "json", "execution steps", test_steps },
		{ "json", "execution steps: malformed", test_steps_malformed },
	};

	return unit_run(tests, UNIT_COUNT(tests));
}
