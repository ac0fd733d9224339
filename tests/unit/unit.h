/*
 * unit.h - the main() every CUnit suite of tests/unit shares: registers
 * a table of tests (grouped into suites by consecutive suite names), runs
 * them verbosely and turns the result into an exit status for make check.
 * Every suite of tests/unit uses it; set-up and tear-down (a database, a
 * config, curl) stay in the suite's own main(), around unit_run().
 */
#ifndef BERTH_TESTS_UNIT_H
#define BERTH_TESTS_UNIT_H

#include <stddef.h>

#include <CUnit/CUnit.h>

struct unit_test {
	const char *suite;
	const char *name;
	CU_TestFunc fn;
};

/* Runs the n tests; 0 when all pass, 1 when any fails, 99 (a hard error
 * for automake) when CUnit itself fails. */
int unit_run(const struct unit_test *tests, size_t n);

#define UNIT_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
