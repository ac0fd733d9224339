/*
 * parse.h - whole-string integer parsing with bounds, for numbers that come
 * from outside the program: the environment, the command line, PostgreSQL
 * results. atoi() and sscanf("%d") cannot report garbage or overflow; these
 * refuse both.
 *
 * Nothing allocates. On failure *out is left as it was.
 */
#ifndef BERTH_PARSE_H
#define BERTH_PARSE_H

#include <stddef.h>

#include "err.h"

/*
 * Parses all of s as a decimal integer in min..max into *out: an optional
 * sign, then at least one digit, and nothing after. OK, or ERR_INVALID when
 * s is NULL, empty, has leading blanks or trailing bytes, overflows, or is
 * out of bounds.
 */
berr parse_long(const char *s, long min, long max, long *out)
    __attribute__((warn_unused_result));

/* parse_long() for an int. */
berr parse_int(const char *s, int min, int max, int *out)
    __attribute__((warn_unused_result));

/*
 * Reads exactly n (1..9) decimal digits at *p into *out and advances *p past
 * them. OK, or ERR_INVALID, leaving *p and *out as they were, when fewer
 * than n digits are there or n is out of range.
 */
berr parse_digits(const char **p, size_t n, int *out)
    __attribute__((warn_unused_result));

#endif
