/* fuzz_dotprompt.c - Station's .prompt parser, then a render of what
 * parsed with variables taken from the input's tail. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dotprompt.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dotprompt dp;
	struct dotprompt_error err;
	struct json_object *vars, *messages = NULL;

	if (dotprompt_parse((const char *)data, size, "fuzz", &dp, &err) ==
	    OK) {
		vars = json_object_new_object();
		json_object_object_add(vars, "userInput",
		    json_object_new_string_len(
		        (const char *)data, (int)(size > 64 ? 64 : size)));
		if (dotprompt_render(dp.template, vars, &messages, &err) == OK)
			json_object_put(messages);
		json_object_put(vars);
	}
	dotprompt_free(&dp);
	return 0;
}
