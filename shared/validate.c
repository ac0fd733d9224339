/*
 * validate.c - see validate.h.
 *
 * Lengths are counted in code points, as Station counts characters, so
 * "é" is one character however many bytes it takes. The UTF-8 decoder is
 * strict (RFC 3629): overlong forms, UTF-16 surrogates (U+D800..U+DFFF),
 * anything past U+10FFFF and truncated sequences are rejected, because a
 * lenient decoder lets two spellings of one name past a uniqueness check
 * or a byte-level filter. Control characters (C0, DEL and C1) are
 * rejected: they corrupt logs and terminals and have no place in a name;
 * tab and newline are allowed in multi-line fields (description, task)
 * only. Carriage return is not: clients send "\n" line ends.
 *
 * The first problem found is reported, in this order: invalid UTF-8, a
 * control character, then the length. Nothing allocates.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static void validate_why(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
validate_why(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/*
 * Decodes one code point at s (NUL-terminated) into *cp. Returns its
 * length in bytes (1..4), or 0 when s does not start with a well-formed
 * UTF-8 sequence. The ranges of the second byte are those of RFC 3629's
 * table; they exclude overlong forms, surrogates and values past U+10FFFF.
 */
static size_t
validate_utf8_next(const unsigned char *s, unsigned long *cp)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		*cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		*cp = s[0] & 0x0f;
		if (s[0] == 0xe0)
			lo = 0xa0; /* below: overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* above: surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		*cp = s[0] & 0x07;
		if (s[0] == 0xf0)
			lo = 0x90; /* below: overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* above: past U+10FFFF */
	} else {
		return 0; /* continuation byte, C0, C1 or F5..FF lead */
	}
	/* A NUL ends the string and fails the range test: no overread. */
	for (i = 1; i < n; i++) {
		if (s[i] < (i == 1 ? lo : 0x80) || s[i] > (i == 1 ? hi : 0xbf))
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	return n;
}

/* C0 controls, DEL and C1 controls: Unicode's general category Cc. */
static bool
validate_is_control(unsigned long cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

berr
validate_text(const char *field, const char *value, size_t min, size_t max,
    int single_line, char *why, size_t whylen)
{
	const unsigned char *s;
	unsigned long cp;
	size_t n, count = 0;

	if (field == NULL)
		field = "value";
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	s = (const unsigned char *)(value != NULL ? value : "");
	while (*s != '\0') {
		if ((n = validate_utf8_next(s, &cp)) == 0) {
			validate_why(
			    why, whylen, "%s: is not valid UTF-8", field);
			return ERR_INVALID;
		}
		if (validate_is_control(cp) &&
		    (single_line || (cp != '\t' && cp != '\n'))) {
			validate_why(why, whylen,
			    "%s: contains a control character", field);
			return ERR_INVALID;
		}
		count++;
		s += n;
	}
	if (count < min || count > max) {
		validate_why(why, whylen,
		    "%s: must be %zu to %zu characters (got %zu)", field, min,
		    max, count);
		return ERR_INVALID;
	}
	return OK;
}

berr
validate_name(const char *field, const char *value, char *why, size_t whylen)
{
	return validate_text(
	    field, value, 1, VALIDATE_NAME_MAX, 1, why, whylen);
}

berr
validate_description(const char *value, char *why, size_t whylen)
{
	return validate_text(
	    "description", value, 1, VALIDATE_DESCRIPTION_MAX, 0, why, whylen);
}

berr
validate_task(const char *value, char *why, size_t whylen)
{
	return validate_text(
	    "task", value, 1, VALIDATE_TASK_MAX, 0, why, whylen);
}
