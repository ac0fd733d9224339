/*
 * parse.c - see parse.h.
 *
 * strtol() does the conversion and the overflow check; the checks around it
 * make it refuse what it would otherwise accept silently: leading blanks,
 * an empty string (which it reads as 0) and trailing bytes.
 */
#include "parse.h"

#include <errno.h>
#include <stdlib.h>

berr
parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (s == NULL || !(*s == '-' || *s == '+' || (*s >= '0' && *s <= '9')))
		return ERR_INVALID;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return ERR_INVALID;
	*out = v;
	return OK;
}

berr
parse_int(const char *s, int min, int max, int *out)
{
	long v;
	berr rc;

	if ((rc = parse_long(s, min, max, &v)) != OK)
		return rc;
	*out = (int)v;
	return OK;
}

berr
parse_digits(const char **p, size_t n, int *out)
{
	const char *s = *p;
	int v = 0;
	size_t i;

	if (n < 1 || n > 9)
		return ERR_INVALID;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return ERR_INVALID;
		v = v * 10 + (s[i] - '0');
	}
	*p = s + n;
	*out = v;
	return OK;
}
