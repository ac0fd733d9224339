/*
 * validate.h - length and character checks on user-supplied text, with
 * Station's documented bounds, and errors that name the field.
 */
#ifndef BERTH_VALIDATE_H
#define BERTH_VALIDATE_H

#include <stddef.h>

#include "err.h"

/* Station's bounds, in characters (UTF-8 code points). */
#define VALIDATE_NAME_MAX        100
#define VALIDATE_DESCRIPTION_MAX 500
#define VALIDATE_TASK_MAX        2000

/*
 * Checks that value is valid UTF-8 without control characters (tab and
 * newline allowed unless single_line) and has min..max code points. OK, or
 * ERR_INVALID with why (may be NULL) e.g. "name: must be 1 to 100
 * characters (got 0)".
 */
berr validate_text(const char *field, const char *value, size_t min, size_t max,
    int single_line, char *why, size_t whylen)
    __attribute__((warn_unused_result));

/* Shorthands with Station's bounds: name (single line), description, task. */
berr validate_name(const char *field, const char *value, char *why,
    size_t whylen) __attribute__((warn_unused_result));
berr validate_description(const char *value, char *why, size_t whylen)
    __attribute__((warn_unused_result));
berr validate_task(const char *value, char *why, size_t whylen)
    __attribute__((warn_unused_result));

#endif
