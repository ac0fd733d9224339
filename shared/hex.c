/*
 * hex.c - hex encoding: a table for the digits out, ranges for the
 * digits in.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
hex_encode(const unsigned char *p, size_t n)
{
	char *s;

	if (n > (SIZE_MAX - 1) / 2 || (s = malloc(2 * n + 1)) == NULL)
		return NULL;
	hex_encode_to(p, n, s);
	return s;
}

void
hex_encode_to(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

bool
hex_decode_to(const char *s, unsigned char *out, size_t n)
{
	int hi, lo;
	size_t i;

	if (strlen(s) != 2 * n)
		return false;
	for (i = 0; i < n; i++) {
		hi = hex_digit(s[2 * i]);
		lo = hex_digit(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return true;
}

unsigned char *
hex_decode(const char *s, size_t *n)
{
	size_t len = strlen(s);
	unsigned char *p;

	if (len % 2 != 0 || (p = malloc(len / 2 + 1)) == NULL)
		return NULL;
	if (!hex_decode_to(s, p, len / 2)) {
		free(p);
		return NULL;
	}
	*n = len / 2;
	return p;
}
