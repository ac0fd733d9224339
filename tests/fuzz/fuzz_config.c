/* fuzz_config.c - the config loader (YAML, ${VAR} expansion, validation). */
#include <stdlib.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	char *diag = NULL;

	log_set_level(LOG_LVL_ERROR);
	if (config_load_buffer(
	        "fuzz.yaml", (const char *)data, size, &cfg, &diag) == OK) {
		FILE *null = fopen("/dev/null", "w");

		if (null != NULL) {
			config_show(cfg, null);
			fclose(null);
		}
	}
	config_free(cfg);
	free(diag);
	return 0;
}
