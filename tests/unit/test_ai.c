/*
 * test_ai.c - CUnit suite for shared/ai.c against tests/integration/
 * ai-mock/ai_mock.py, a stand-in provider speaking OpenAI's and
 * Anthropic's real wire formats (run by tests/unit/test_ai.sh, which
 * exports AI_MOCK_URL, AI_MOCK_KEY and AI_MOCK_LOG). Each case checks what
 * came back and, from the mock's log, what went over the wire.
 */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "ai.h"
#include "log.h"
#include "unit.h"

static const char *mock_url, *mock_key, *mock_log;
static char openai_base[512], gemini_base[512];

static struct ai_provider
prov(enum ai_kind kind)
{
	struct ai_provider p = { 0 };

	p.kind = kind;
	p.base_url = kind == AI_OPENAI ? openai_base
	    : kind == AI_GEMINI        ? gemini_base
	                               : mock_url;
	p.api_key = mock_key;
	p.timeout_s = 10;
	p.max_retries = 2;
	p.backoff_ms = 10;
	return p;
}

/* The last request the mock saw, parsed (caller puts it). */
static struct json_object *
last_request(void)
{
	char line[65536], last[65536] = "";
	FILE *f = fopen(mock_log, "r");

	if (f == NULL)
		return NULL;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strlen(line) > 1)
			snprintf(last, sizeof(last), "%s", line);
	fclose(f);
	return json_tokener_parse(last);
}

static const char *
path_str(struct json_object *o, const char *path)
{
	char buf[256], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && o;
	     tok = strtok_r(NULL, ".", &save)) {
		if (*tok >= '0' && *tok <= '9')
			o = json_object_array_get_idx(o, (size_t)atoi(tok));
		else if (!json_object_object_get_ex(o, tok, &o))
			o = NULL;
	}
	return o ? json_object_get_string(o) : NULL;
}

static struct json_object *
conversation(void)
{
	return json_tokener_parse(
	    "[{\"role\":\"system\",\"content\":\"You run a station.\"},"
	    "{\"role\":\"user\",\"content\":\"How is the station?\"}]");
}

static struct json_object *
tools(void)
{
	return json_tokener_parse(
	    "[{\"name\":\"station_status\",\"description\":\"Link state\","
	    "\"input_schema\":{\"type\":\"object\",\"properties\":"
	    "{\"verbose\":{\"type\":\"boolean\"}}}}]");
}

/* The two-step tool conversation, for either provider. */
static void
tool_round_trip(enum ai_kind kind)
{
	struct ai_provider p = prov(kind);
	struct json_object *msgs = conversation(), *t = tools(), *req, *a, *tr;
	struct ai_result r;
	char why[256];

	CU_ASSERT_EQUAL_FATAL(
	    ai_complete(&p, "tool-then-text", msgs, t, 0, &r, why, sizeof(why)),
	    OK);
	CU_ASSERT_EQUAL(json_object_array_length(r.tool_calls), 1);
	CU_ASSERT_STRING_EQUAL(
	    path_str(r.tool_calls, "0.name"), "station_status");
	CU_ASSERT_STRING_EQUAL(
	    path_str(r.tool_calls, "0.arguments.verbose"), "true");
	CU_ASSERT_EQUAL(r.prompt_tokens, 11);
	CU_ASSERT_EQUAL(r.completion_tokens, 7);
	CU_ASSERT_EQUAL(r.attempts, 1);
	req = last_request();
	CU_ASSERT_PTR_NOT_NULL_FATAL(req);
	CU_ASSERT_STRING_EQUAL(path_str(req, "key_ok"), "true");
	if (kind == AI_GEMINI) {
		CU_ASSERT_STRING_EQUAL(path_str(req, "path"),
		    "/v1beta/models/tool-then-text:generateContent");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "auth_kind"), "x-goog-api-key");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.systemInstruction.parts.0.text"),
		    "You run a station.");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.contents.0.role"), "user");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req,
		        "body.tools.0.functionDeclarations.0.parameters.type"),
		    "OBJECT");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req,
		        "body.tools.0.functionDeclarations.0.parameters."
		        "properties.verbose.type"),
		    "BOOLEAN");
	} else if (kind == AI_OPENAI) {
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "path"), "/v1/chat/completions");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.tools.0.type"), "function");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.tools.0.function.parameters.type"),
		    "object");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.0.role"), "system");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.max_tokens"), "4096");
	} else {
		CU_ASSERT_STRING_EQUAL(path_str(req, "path"), "/v1/messages");
		CU_ASSERT_STRING_EQUAL(path_str(req, "auth_kind"), "x-api-key");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "anthropic_version"), "2023-06-01");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.system"), "You run a station.");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.0.content.0.text"),
		    "How is the station?");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.tools.0.input_schema.type"), "object");
	}
	json_object_put(req);

	/* The assistant's call and the tool's answer go back. */
	a = json_object_new_object();
	json_object_object_add(a, "role", json_object_new_string("assistant"));
	json_object_object_add(a, "content", json_object_new_string(r.text));
	json_object_object_add(a, "tool_calls", json_object_get(r.tool_calls));
	json_object_array_add(msgs, a);
	tr = json_object_new_object();
	json_object_object_add(tr, "role", json_object_new_string("tool"));
	json_object_object_add(tr, "tool_call_id",
	    json_object_new_string(path_str(r.tool_calls, "0.id")));
	json_object_object_add(
	    tr, "content", json_object_new_string("connected"));
	json_object_array_add(msgs, tr);
	ai_result_free(&r);
	CU_ASSERT_EQUAL_FATAL(
	    ai_complete(&p, "tool-then-text", msgs, t, 0, &r, why, sizeof(why)),
	    OK);
	CU_ASSERT_STRING_EQUAL(r.text, "The tool said: connected");
	CU_ASSERT_EQUAL(json_object_array_length(r.tool_calls), 0);
	req = last_request();
	if (kind == AI_GEMINI) {
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.contents.1.role"), "model");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.contents.1.parts.0.functionCall.name"),
		    "station_status");
		CU_ASSERT_STRING_EQUAL(
		    path_str(
		        req, "body.contents.2.parts.0.functionResponse.name"),
		    "station_status");
	} else if (kind == AI_OPENAI) {
		CU_ASSERT_STRING_EQUAL(
		    path_str(
		        req, "body.messages.2.tool_calls.0.function.arguments"),
		    "{\"verbose\":true}");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.3.role"), "tool");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.3.tool_call_id"), "call_01");
	} else {
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.1.role"), "assistant");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.1.content.1.type"),
		    "tool_use");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.2.content.0.type"),
		    "tool_result");
		CU_ASSERT_STRING_EQUAL(
		    path_str(req, "body.messages.2.content.0.tool_use_id"),
		    "toolu_01");
	}
	json_object_put(req);
	ai_result_free(&r);
	json_object_put(msgs);
	json_object_put(t);
}

static void
test_openai_tools(void)
{
	tool_round_trip(AI_OPENAI);
}

static void
test_anthropic_tools(void)
{
	tool_round_trip(AI_ANTHROPIC);
}

static void
test_gemini_tools(void)
{
	tool_round_trip(AI_GEMINI);
}

static void
test_anthropic_oauth(void)
{
	struct ai_provider p = prov(AI_ANTHROPIC);
	struct json_object *msgs = conversation(), *req;
	struct ai_result r;

	p.auth = AI_AUTH_OAUTH;
	CU_ASSERT_EQUAL(
	    ai_complete(&p, "text", msgs, NULL, 100, &r, NULL, 0), OK);
	req = last_request();
	CU_ASSERT_STRING_EQUAL(path_str(req, "auth_kind"), "bearer");
	CU_ASSERT_STRING_EQUAL(
	    path_str(req, "anthropic_beta"), "oauth-2025-04-20");
	CU_ASSERT_STRING_EQUAL(path_str(req, "body.max_tokens"), "100");
	json_object_put(req);
	ai_result_free(&r);
	json_object_put(msgs);
}

/* model → expected result code, attempts (0 = any), text in why. */
static void
expect_failure(enum ai_kind kind, const char *model, int timeout_s, berr want,
    int attempts, const char *text)
{
	struct ai_provider p = prov(kind);
	struct json_object *msgs = conversation();
	struct ai_result r;
	char why[256] = "";
	berr rc;

	if (timeout_s > 0) {
		p.timeout_s = timeout_s;
		p.max_retries = 0;
	}
	rc = ai_complete(&p, model, msgs, NULL, 0, &r, why, sizeof(why));
	if (rc != want || (attempts && r.attempts != attempts) ||
	    strstr(why, text) == NULL)
		fprintf(stderr,
		    "%s: rc %d (want %d), attempts %d, why \"%s\"\n", model, rc,
		    want, r.attempts, why);
	CU_ASSERT_EQUAL(rc, want);
	if (attempts)
		CU_ASSERT_EQUAL(r.attempts, attempts);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, text));
	CU_ASSERT_PTR_NULL(strstr(why, mock_key));
	CU_ASSERT_PTR_NULL(r.text);
	ai_result_free(&r);
	json_object_put(msgs);
}

static void
test_misbehaving(void)
{
	struct ai_provider p = prov(AI_OPENAI);
	struct json_object *msgs = conversation();
	struct ai_result r;

	/* A 429 with Retry-After: retried, then fine. */
	CU_ASSERT_EQUAL(
	    ai_complete(&p, "flaky-429", msgs, NULL, 0, &r, NULL, 0), OK);
	CU_ASSERT_EQUAL(r.attempts, 2);
	ai_result_free(&r);
	json_object_put(msgs);

	expect_failure(AI_OPENAI, "always-503", 0, ERR_IO, 3,
	    "HTTP 503 after retries: overloaded");
	expect_failure(AI_ANTHROPIC, "always-503", 0, ERR_IO, 3, "HTTP 503");
	expect_failure(AI_GEMINI, "always-503", 0, ERR_IO, 3,
	    "HTTP 503 after retries: overloaded");
	expect_failure(
	    AI_GEMINI, "bad/../model", 0, ERR_INVALID, 0, "URL cannot carry");
	expect_failure(
	    AI_OPENAI, "html", 0, ERR_INVALID, 1, "not a JSON object");
	expect_failure(AI_ANTHROPIC, "huge", 0, ERR_TOO_BIG, 1, "larger than");
	expect_failure(AI_OPENAI, "slow", 1, ERR_IO, 1, "imeout");
	expect_failure(
	    AI_OPENAI, "bad-shape", 0, ERR_INVALID, 1, "no choices[0].message");
	expect_failure(
	    AI_ANTHROPIC, "bad-shape", 0, ERR_INVALID, 1, "no content list");
	expect_failure(AI_ANTHROPIC, "unknown-model", 0, ERR_CONFLICT, 1,
	    "HTTP 404: model: unknown-model");
}

static void
test_bad_key_and_input(void)
{
	struct ai_provider p = prov(AI_OPENAI);
	struct json_object *msgs = conversation(), *bad;
	struct ai_result r;
	char why[256];

	p.api_key = "sk-wrong-key-0123456789";
	CU_ASSERT_EQUAL(
	    ai_complete(&p, "text", msgs, NULL, 0, &r, why, sizeof(why)),
	    ERR_DENIED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "HTTP 401"));
	CU_ASSERT_PTR_NULL(strstr(why, "wrong-key"));
	ai_result_free(&r);
	p.api_key = "sk-with\r\nX-Injected: 1";
	CU_ASSERT_EQUAL(
	    ai_complete(&p, "text", msgs, NULL, 0, &r, why, sizeof(why)),
	    ERR_INVALID);
	ai_result_free(&r);
	p.api_key = "";
	CU_ASSERT_EQUAL(
	    ai_complete(&p, "text", msgs, NULL, 0, &r, why, sizeof(why)),
	    ERR_INVALID);
	ai_result_free(&r);
	p.api_key = mock_key;
	bad = json_tokener_parse("[{\"role\":\"robot\",\"content\":\"x\"}]");
	CU_ASSERT_EQUAL(
	    ai_complete(&p, "text", bad, NULL, 0, &r, why, sizeof(why)),
	    ERR_INVALID);
	ai_result_free(&r);
	json_object_put(bad);
	/* Nothing listens on port 9 here: connection refused, retried. */
	p.base_url = "http://127.0.0.1:9/v1";
	CU_ASSERT_EQUAL(
	    ai_complete(&p, "text", msgs, NULL, 0, &r, why, sizeof(why)),
	    ERR_IO);
	CU_ASSERT_EQUAL(r.attempts, 3);
	ai_result_free(&r);
	json_object_put(msgs);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "ai", "OpenAI tool round trip", test_openai_tools },
		{ "ai", "Anthropic tool round trip", test_anthropic_tools },
		{ "ai", "Gemini tool round trip", test_gemini_tools },
		{ "ai", "Anthropic OAuth headers", test_anthropic_oauth },
		{ "ai", "misbehaving provider", test_misbehaving },
		{ "ai", "bad key and bad input", test_bad_key_and_input },
	};
	int status;

	mock_url = getenv("AI_MOCK_URL");
	mock_key = getenv("AI_MOCK_KEY");
	mock_log = getenv("AI_MOCK_LOG");
	if (mock_url == NULL || mock_key == NULL || mock_log == NULL) {
		fprintf(stderr, "run through tests/unit/test_ai.sh\n");
		return 77;
	}
	snprintf(openai_base, sizeof(openai_base), "%s/v1", mock_url);
	snprintf(gemini_base, sizeof(gemini_base), "%s/v1beta", mock_url);
	log_init("test_ai", LOG_LVL_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	status = unit_run(tests, UNIT_COUNT(tests));
	curl_global_cleanup();
	return status;
}
