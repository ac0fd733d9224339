/*
 * ai.h - one chat-completion call with tools against an AI provider:
 * OpenAI's Chat Completions API (and any OpenAI-compatible server by base
 * URL), Anthropic's Messages API and Google's Gemini generateContent, over
 * libcurl.
 *
 * Callers speak one neutral format; this module translates it to and from
 * each provider's wire format. Messages are a JSON array of
 *   {"role": "system"|"user", "content": "text"}
 *   {"role": "assistant", "content": "text" (may be ""),
 *    "tool_calls": [{"id": "...", "name": "...", "arguments": {...}}]}
 *   {"role": "tool", "tool_call_id": "...", "content": "text"}
 * and tools a JSON array of {"name", "description", "input_schema"}.
 *
 * Behaviour on a misbehaving provider (the runner turns each into a failed
 * run with this text, never a hang): connect and total timeouts; 429, 500,
 * 502, 503, 504 and 529 retried with exponential backoff (1 s, 2 s, 4 s...,
 * Retry-After honoured up to 30 s) at most max_retries times; the response
 * body capped at AI_MAX_RESPONSE_BYTES; anything that is not the expected
 * JSON shape refused with a message that names what was wrong but never
 * echoes the key. TLS peers are verified.
 *
 * Ownership: struct ai_provider's strings belong to the caller and must
 * outlive the call. ai_complete() fills a struct ai_result the caller frees
 * with ai_result_free() (also after a failure). No state between calls.
 */
#ifndef BERTH_AI_H
#define BERTH_AI_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "err.h"

#define AI_MAX_RESPONSE_BYTES (8 * 1024 * 1024)

enum ai_kind {
	AI_OPENAI = 0, /* Chat Completions; also OpenAI-compatible servers */
	AI_ANTHROPIC,  /* Messages API */
	AI_GEMINI,     /* Gemini generateContent (v1beta) */
};

enum ai_auth {
	AI_AUTH_API_KEY = 0, /* OpenAI: Bearer key; Anthropic: x-api-key */
	AI_AUTH_OAUTH,       /* Anthropic OAuth token: Bearer + beta header */
};

struct ai_provider {
	enum ai_kind kind;
	enum ai_auth auth;
	const char *base_url;  /* e.g. https://api.openai.com/v1 */
	const char *api_key;   /* secret; never logged beyond 6 characters */
	int timeout_s;         /* whole request; <= 0 means 120 */
	int connect_timeout_s; /* <= 0 means 10 */
	int max_retries;       /* < 0 means 3 */
	long backoff_ms; /* first backoff; <= 0 means 1000 (tests lower it) */
};

struct ai_result {
	char *text;                     /* "" when the model said nothing */
	struct json_object *tool_calls; /* array, neutral format; maybe empty */
	char *stop_reason; /* provider's words: "stop", "tool_use"... */
	char *model;       /* the model that answered, "" if unsaid */
	long long prompt_tokens, completion_tokens;
	int attempts;     /* HTTP requests made */
	long http_status; /* of the last attempt, 0 if none */
};

/*
 * One completion. max_tokens <= 0 means 4096. Returns OK (*out filled);
 * ERR_INVALID (bad arguments, or the provider's answer was not the
 * expected shape), ERR_DENIED (401/403: bad key), ERR_TOO_BIG (answer over
 * the cap), ERR_IO (connection failed, timed out, or retries exhausted),
 * ERR_CONFLICT (another 4xx, e.g. unknown model), ERR_NOMEM. On any error
 * why (may be NULL) says what happened in one line, for the run's error.
 */
berr ai_complete(const struct ai_provider *p, const char *model,
    struct json_object *messages, struct json_object *tools, int max_tokens,
    struct ai_result *out, char *why, size_t whylen)
    __attribute__((warn_unused_result));

void ai_result_free(struct ai_result *r);

/* "openai", "openai-compatible", "ollama" / "anthropic", "claude" /
 * "gemini" → kind; false when unknown. */
bool ai_kind_from_name(const char *name, enum ai_kind *out);

/* The provider's public API base URL, for an empty ai_base_url. */
const char *ai_default_base_url(enum ai_kind kind);

#endif
