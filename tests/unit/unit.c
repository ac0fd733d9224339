/*
 * unit.c - see unit.h.
 */
#include "unit.h"

#include <string.h>

#include <CUnit/Basic.h>

int
unit_run(const struct unit_test *tests, size_t n)
{
	CU_pSuite suite = NULL;
	const char *current = NULL;
	unsigned failures;
	size_t i;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 99;
	for (i = 0; i < n; i++) {
		if (current == NULL || strcmp(current, tests[i].suite) != 0) {
			current = tests[i].suite;
			if ((suite = CU_add_suite(current, NULL, NULL)) == NULL)
				goto fail;
		}
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			goto fail;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	if (CU_basic_run_tests() != CUE_SUCCESS)
		goto fail;
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
fail:
	CU_cleanup_registry();
	return 99;
}
