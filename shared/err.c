/* err.c - names for berr values. */
#include "err.h"

const char *
err_str(berr rc)
{
	switch (rc) {
	case OK: return "ok";
	case ERR_NOMEM: return "out of memory";
	case ERR_IO: return "i/o error";
	case ERR_CONFIG: return "invalid configuration";
	case ERR_DB_DOWN: return "database unreachable";
	case ERR_DB: return "database error";
	case ERR_INVALID: return "invalid input";
	case ERR_TOO_BIG: return "input too large";
	case ERR_NOT_FOUND: return "not found";
	case ERR_DENIED: return "denied";
	case ERR_CONFLICT: return "conflict";
	case ERR_INTERNAL: return "internal error";
	}
	return "unknown error";
}
