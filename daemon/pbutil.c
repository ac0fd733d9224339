/*
 * pbutil.c - a linked list of blocks, one per allocation: responses are
 * small (a few hundred pieces at most, capped by LIMIT_LH_LIST), so the
 * simplest arena does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

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

/*
 * A Timestamp for v seconds since the epoch, or NULL when v is not a time
 * a Timestamp may hold (NaN, negative, past 9999-12-31T23:59:59Z).
 */
static Google__Protobuf__Timestamp *
pbutil_ts_of(struct pbutil_arena *a, double v)
{
	Google__Protobuf__Timestamp *ts;
	int64_t seconds, micros;

	/* The cast below is only defined for what fits; NaN fails too. */
	if (!(v >= 0 && v < (double)(PBUTIL_TS_MAX_SECONDS + 1)))
		return NULL;
	seconds = (int64_t)v;
	/* Microseconds are what PostgreSQL keeps; past them is float noise. */
	micros = (int64_t)((v - (double)seconds) * 1e6 + 0.5);
	if (micros >= 1000000) {
		seconds++;
		micros = 0;
	}
	/* 253402300799.9999996 rounds to the first second of 10000. */
	if (seconds > PBUTIL_TS_MAX_SECONDS)
		return NULL;
	if ((ts = pbutil_alloc(a, sizeof(*ts))) == NULL)
		return NULL;
	google__protobuf__timestamp__init(ts);
	ts->seconds = seconds;
	ts->nanos = (int32_t)micros * 1000;
	return ts;
}

Google__Protobuf__Timestamp *
pbutil_ts_epoch(struct pbutil_arena *a, const char *epoch)
{
	double v;
	char *end;

	/* PostgreSQL's epoch text: digits and a point, nothing strtod()
	 * would also take (signs, exponents, hex, "inf", "nan", spaces). */
	if (epoch == NULL || *epoch == '\0' ||
	    epoch[strspn(epoch, "0123456789.")] != '\0')
		return NULL;
	/* An overflow (HUGE_VAL) is refused by pbutil_ts_of()'s range. */
	v = strtod(epoch, &end);
	if (end == epoch || *end != '\0')
		return NULL;
	return pbutil_ts_of(a, v);
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
	errno = 0;
	v = strtoll(s, &end, 10);
	return end == s || *end != '\0' || errno == ERANGE ? 0 : v;
}

/* o[key] when it is a JSON number, else NULL. */
static struct json_object *
pbutil_jnum(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    (!json_object_is_type(v, json_type_int) &&
	        !json_object_is_type(v, json_type_double)))
		return NULL;
	return v;
}

/* o[key] as an integer when it is a JSON number (clamped to int64),
 * else 0. */
static int64_t
pbutil_jint(struct json_object *o, const char *key)
{
	struct json_object *v = pbutil_jnum(o, key);

	return v != NULL ? json_object_get_int64(v) : 0;
}

/* The time in o[key] when it is a JSON number (seconds since the epoch),
 * else NULL. */
static Google__Protobuf__Timestamp *
pbutil_jts(struct pbutil_arena *a, struct json_object *o, const char *key)
{
	struct json_object *v = pbutil_jnum(o, key);

	return v != NULL ? pbutil_ts_of(a, json_object_get_double(v)) : NULL;
}

/* Is o[key] JSON true (not merely something json-c would call true)? */
static bool
pbutil_jtrue(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_boolean) &&
	    json_object_get_boolean(v);
}

static const char *
pbutil_jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return "";
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string(v);
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

/* The JSON array in json, or NULL (freed by the caller). */
static struct json_object *
pbutil_array(const char *json, size_t *n)
{
	struct json_object *arr;

	*n = 0;
	if (json == NULL || *json == '\0')
		return NULL;
	arr = json_tokener_parse(json);
	if (arr == NULL || !json_object_is_type(arr, json_type_array)) {
		json_object_put(arr);
		return NULL;
	}
	return arr;
}

/* The string map of a tool call's parameters object. */
static Lighthouse__V1__LighthouseToolCall__ParametersEntry **
pbutil_params(struct pbutil_arena *a, struct json_object *params, size_t *n)
{
	Lighthouse__V1__LighthouseToolCall__ParametersEntry **out, *e;
	size_t i = 0;

	*n = 0;
	if (params == NULL || !json_object_is_type(params, json_type_object))
		return NULL;
	out =
	    (Lighthouse__V1__LighthouseToolCall__ParametersEntry **)pbutil_ptrs(
	        a, (size_t)json_object_object_length(params));
	if (out == NULL)
		return NULL;
	json_object_object_foreach(params, k, v)
	{
		if ((e = pbutil_alloc(a, sizeof(*e))) == NULL)
			return NULL;
		lighthouse__v1__lighthouse_tool_call__parameters_entry__init(e);
		e->key = pbutil_strdup(a, k);
		e->value = pbutil_strdup(a,
		    v == NULL ? "null"
		        : json_object_is_type(v, json_type_string)
		        ? json_object_get_string(v)
		        : json_object_to_json_string_ext(
		              v, JSON_C_TO_STRING_PLAIN));
		out[i++] = e;
	}
	*n = i;
	return out;
}

Lighthouse__V1__LighthouseToolCall **
pbutil_tool_calls(struct pbutil_arena *a, const char *json, size_t *n)
{
	Lighthouse__V1__LighthouseToolCall **out = NULL, *tc;
	struct json_object *arr = pbutil_array(json, n), *o, *v;
	size_t i, len;

	if (arr == NULL)
		return NULL;
	len = json_object_array_length(arr);
	out = (Lighthouse__V1__LighthouseToolCall **)pbutil_ptrs(a, len);
	for (i = 0; out != NULL && i < len; i++) {
		o = json_object_array_get_idx(arr, i);
		if ((tc = pbutil_alloc(a, sizeof(*tc))) == NULL)
			break;
		lighthouse__v1__lighthouse_tool_call__init(tc);
		tc->tool_name = pbutil_strdup(a, pbutil_jstr(o, "name"));
		json_object_object_get_ex(o, "parameters", &v);
		tc->parameters = pbutil_params(a, v, &tc->n_parameters);
		tc->result = pbutil_strdup(a, pbutil_jstr(o, "result"));
		tc->duration_ms = pbutil_jint(o, "duration_ms");
		tc->success = pbutil_jtrue(o, "success");
		tc->timestamp = pbutil_jts(a, o, "at");
		out[(*n)++] = tc;
	}
	json_object_put(arr);
	return out;
}

Lighthouse__V1__ExecutionStep **
pbutil_steps(struct pbutil_arena *a, const char *json, size_t *n)
{
	Lighthouse__V1__ExecutionStep **out = NULL, *st;
	struct json_object *arr = pbutil_array(json, n), *o, *p;
	size_t i, len;
	const char *kind;
	char desc[160];

	if (arr == NULL)
		return NULL;
	len = json_object_array_length(arr);
	out = (Lighthouse__V1__ExecutionStep **)pbutil_ptrs(a, len);
	for (i = 0; out != NULL && i < len; i++) {
		o = json_object_array_get_idx(arr, i);
		if ((st = pbutil_alloc(a, sizeof(*st))) == NULL)
			break;
		lighthouse__v1__execution_step__init(st);
		json_object_object_get_ex(o, "payload", &p);
		kind = pbutil_jstr(o, "kind");
		st->step_number = (int32_t)(i + 1);
		if (strcmp(kind, "tool_call") == 0) {
			st->type =
			    LIGHTHOUSE__V1__STEP_TYPE__STEP_TYPE_TOOL_CALL;
			snprintf(desc, sizeof(desc), "tool %.100s (%s)",
			    pbutil_jstr(p, "name"),
			    pbutil_jtrue(p, "success") ? "ok" : "failed");
		} else {
			st->type =
			    LIGHTHOUSE__V1__STEP_TYPE__STEP_TYPE_LLM_CALL;
			snprintf(desc, sizeof(desc),
			    "model call %s (stop: %.60s)",
			    pbutil_jstr(p, "step"),
			    pbutil_jstr(p, "stop_reason"));
		}
		st->description = pbutil_strdup(a, desc);
		st->duration_ms = pbutil_jint(p, "duration_ms");
		st->timestamp = pbutil_jts(a, o, "at");
		out[(*n)++] = st;
	}
	json_object_put(arr);
	return out;
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
