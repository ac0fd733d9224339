/*
 * test_dotprompt.c - CUnit suite for shared/dotprompt.c (Station's .prompt
 * files). The cases are data files in tests/fixtures/dotprompt/:
 *   good/NAME.prompt + NAME.expect.json  fields, body line, and a render
 *                                        with "vars" giving "messages";
 *   bad/NAME.prompt + NAME.expect        "LINE<TAB>text the error holds".
 * The checks below that are not files are about caps and hostile sizes.
 */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "dotprompt.h"
#include "unit.h"

static char test_dir[1024];

static char *
test_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf != NULL) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

/* Compares a field of dp (as JSON) with expect[key]; prints a mismatch. */
static void
test_field(const char *file, const char *key, struct json_object *expect,
    struct json_object *got)
{
	struct json_object *want = NULL;

	json_object_object_get_ex(expect, key, &want);
	if (!json_object_equal(want, got)) {
		fprintf(stderr, "%s: %s: want %s, got %s\n", file, key,
		    json_object_to_json_string(want),
		    json_object_to_json_string(got));
		CU_FAIL("field differs");
	} else {
		CU_PASS("field matches");
	}
}

static void
test_good_one(const char *name)
{
	char path[1200];
	struct dotprompt dp;
	struct dotprompt_error err;
	struct json_object *expect, *v, *vars = NULL, *messages = NULL;
	char *text, base[256];
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/good/%s.prompt", test_dir, name);
	text = test_slurp(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	snprintf(path, sizeof(path), "%s/good/%s.expect.json", test_dir, name);
	expect = json_object_from_file(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(expect);
	snprintf(base, sizeof(base), "%s", name);
	if (dotprompt_parse(text, len, base, &dp, &err) != OK) {
		fprintf(
		    stderr, "%s: refused: %d: %s\n", name, err.line, err.msg);
		CU_FAIL("good file refused");
		goto out;
	}
	v = json_object_new_string(dp.name);
	test_field(name, "name", expect, v);
	json_object_put(v);
	v = json_object_new_string(dp.description);
	test_field(name, "description", expect, v);
	json_object_put(v);
	v = dp.model ? json_object_new_string(dp.model) : NULL;
	test_field(name, "model", expect, v);
	json_object_put(v);
	v = json_object_new_int(dp.max_steps);
	test_field(name, "max_steps", expect, v);
	json_object_put(v);
	v = json_object_new_int(dp.body_line);
	test_field(name, "body_line", expect, v);
	json_object_put(v);
	test_field(name, "tools", expect, dp.tools);
	test_field(name, "allowed_tools", expect, dp.allowed_tools);
	test_field(name, "denied_tools", expect, dp.denied_tools);
	test_field(name, "input_schema", expect, dp.input_schema);
	json_object_object_get_ex(expect, "vars", &vars);
	CU_ASSERT_EQUAL(
	    dotprompt_render(dp.template, vars, &messages, &err), OK);
	test_field(name, "messages", expect, messages);
	json_object_put(messages);
out:
	dotprompt_free(&dp);
	json_object_put(expect);
	free(text);
}

static void
test_bad_one(const char *name)
{
	char path[1200], want[256], *tab, *nl;
	struct dotprompt dp;
	struct dotprompt_error err;
	char *text, *exp;
	size_t len = 0, elen = 0;
	int line;
	berr rc;

	snprintf(path, sizeof(path), "%s/bad/%s.prompt", test_dir, name);
	text = test_slurp(path, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	snprintf(path, sizeof(path), "%s/bad/%s.expect", test_dir, name);
	exp = test_slurp(path, &elen);
	CU_ASSERT_PTR_NOT_NULL_FATAL(exp);
	line = atoi(exp);
	tab = strchr(exp, '\t');
	CU_ASSERT_PTR_NOT_NULL_FATAL(tab);
	snprintf(want, sizeof(want), "%s", tab + 1);
	if ((nl = strchr(want, '\n')) != NULL)
		*nl = '\0';
	rc = dotprompt_parse(text, len, name, &dp, &err);
	if (rc != ERR_INVALID || err.line != line ||
	    strstr(err.msg, want) == NULL) {
		fprintf(stderr,
		    "%s: want %d \"%s\", got rc %d line %d \"%s\"\n", name,
		    line, want, rc, err.line, err.msg);
		CU_FAIL("bad file not refused as expected");
	} else {
		CU_PASS("refused with line and reason");
	}
	/* A refused parse leaves nothing behind. */
	CU_ASSERT_PTR_NULL(dp.name);
	CU_ASSERT_PTR_NULL(dp.template);
	dotprompt_free(&dp);
	free(text);
	free(exp);
}

static void
test_each(const char *sub, void (*fn)(const char *))
{
	char dir[1100], name[256];
	struct dirent *de;
	DIR *d;
	size_t n;
	int count = 0;

	snprintf(dir, sizeof(dir), "%s/%s", test_dir, sub);
	d = opendir(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (n <= 7 || strcmp(de->d_name + n - 7, ".prompt") != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 7), de->d_name);
		fn(name);
		count++;
	}
	closedir(d);
	CU_ASSERT(count >= 4);
}

static void
test_good_files(void)
{
	test_each("good", test_good_one);
}

static void
test_bad_files(void)
{
	test_each("bad", test_bad_one);
}

static void
test_caps(void)
{
	struct dotprompt dp;
	struct dotprompt_error err;
	struct json_object *vars, *messages = NULL;
	size_t big = DOTPROMPT_MAX_BYTES + 1, i;
	char *s = malloc(big + 1), *t;

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(s, 'a', big);
	s[big] = '\0';
	CU_ASSERT_EQUAL(dotprompt_parse(s, big, "x", &dp, &err), ERR_TOO_BIG);
	dotprompt_free(&dp);

	/* Nesting past the cap is refused before libyaml builds a tree. */
	t = s;
	t += sprintf(t, "---\nname: deep\nx: ");
	for (i = 0; i < 100; i++)
		*t++ = '[';
	for (i = 0; i < 100; i++)
		*t++ = ']';
	t += sprintf(t, "\n---\nhi\n");
	CU_ASSERT_EQUAL(
	    dotprompt_parse(s, (size_t)(t - s), "x", &dp, &err), ERR_INVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nested deeper"));
	dotprompt_free(&dp);

	/* A render that would grow past its cap stops with ERR_TOO_BIG. */
	memset(s, 'b', 200000);
	s[200000] = '\0';
	vars = json_object_new_object();
	json_object_object_add(vars, "v", json_object_new_string(s));
	t = s;
	for (i = 0; i < 10; i++)
		t += sprintf(t, "{{v}}");
	CU_ASSERT_EQUAL(
	    dotprompt_render(s, vars, &messages, &err), ERR_TOO_BIG);
	CU_ASSERT_PTR_NULL(messages);
	json_object_put(vars);
	free(s);
}

/* Renders t with {"v": "X"}; the one message's content into out. */
static void
render1(const char *t, char *out, size_t cap)
{
	struct dotprompt_error err;
	struct json_object *vars, *messages = NULL, *c;

	out[0] = '\0';
	vars = json_object_new_object();
	json_object_object_add(vars, "v", json_object_new_string("X"));
	CU_ASSERT_EQUAL_FATAL(dotprompt_render(t, vars, &messages, &err), OK);
	if (json_object_array_length(messages) == 1 &&
	    json_object_object_get_ex(
	        json_object_array_get_idx(messages, 0), "content", &c))
		snprintf(out, cap, "%s", json_object_get_string(c));
	json_object_put(messages);
	json_object_put(vars);
}

/* Handlebars' whitespace control: {{~ trims before, ~}} after. */
static void
test_whitespace_control(void)
{
	static const char *const cases[][2] = {
		{ "a  \n {{v}} \n b", "a  \n X \n b" },
		{ "a  \n {{~v}} \n b", "aX \n b" },
		{ "a  \n {{v~}} \n b", "a  \n Xb" },
		{ "a \t{{~ v ~}}\n\n b", "aXb" },
		{ "a {{{~v~}}} b", "aXb" },
		{ "a {{~! gone ~}} b {{v}}", "ab X" },
		/* Only template text is trimmed, never a variable's value. */
		{ "{{v}}  {{~v}}", "XX" },
		{ "\\{{~v}} c", "{{~v}} c" },
	};
	char got[128];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		render1(cases[i][0], got, sizeof(got));
		CU_ASSERT_STRING_EQUAL(got, cases[i][1]);
	}
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "dotprompt", "good files parse and render", test_good_files },
		{ "dotprompt", "whitespace control", test_whitespace_control },
		{ "dotprompt", "bad files name line and reason",
		    test_bad_files },
		{ "dotprompt", "caps", test_caps },
	};
	const char *src = getenv("BERTH_SRCDIR");

	snprintf(test_dir, sizeof(test_dir), "%s/tests/fixtures/dotprompt",
	    src ? src : ".");
	return unit_run(tests, UNIT_COUNT(tests));
}
