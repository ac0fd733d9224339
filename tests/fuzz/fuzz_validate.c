/* fuzz_validate.c - UTF-8 and length validation of user text. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "log.h"
#include "validate.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256], *s;

	log_set_level(LOG_LVL_ERROR);
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	(void)!validate_name("name", s, why, sizeof(why));
	(void)!validate_description(s, why, sizeof(why));
	(void)!validate_task(s, why, sizeof(why));
	free(s);
	return 0;
}
