/*
 * fuzz_auth.c - the Authorization header parser of principal_resolve():
 * size cap, scheme, token shape. Inputs that are well-formed API keys or
 * session tokens would go on to the database, which a fuzzer has not got,
 * so they stop here.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apikey.h"
#include "fuzz.h"
#include "log.h"
#include "principal.h"
#include "session.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct principal p;
	const char *why = NULL, *token;
	char *s;

	log_set_level(LOG_LVL_ERROR);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	token = strncasecmp(s, "Bearer ", 7) == 0 ? s + 7 : s;
	if (!apikey_well_formed(token) && !session_well_formed(token) &&
	    principal_resolve(NULL, NULL, s, "127.0.0.1", &p, &why) == OK)
		abort(); /* nothing without a database may succeed */
	(void)principal_has_bearer(s);
	free(s);
	return 0;
}
