/*
 * err.h - the one error type of libberth.
 *
 * Every fallible library function returns a berr; OK is 0 so the house idiom
 * is `if ((rc = f()) != OK) goto out;`. err_str() returns a static string
 * (never NULL, never freed) suitable for logs and JSON error bodies.
 */
#ifndef BERTH_ERR_H
#define BERTH_ERR_H

typedef enum berr {
	OK = 0,
	ERR_NOMEM,     /* allocation failed */
	ERR_IO,        /* file or socket error (errno is meaningful) */
	ERR_CONFIG,    /* configuration is invalid */
	ERR_DB_DOWN,   /* database unreachable: callers answer 503 */
	ERR_DB,        /* database answered with an error */
	ERR_INVALID,   /* caller or client input is malformed */
	ERR_TOO_BIG,   /* input exceeds a cap from limit.h */
	ERR_NOT_FOUND, /* the thing asked for does not exist */
	ERR_DENIED,    /* authentication or authorization refused */
	ERR_CONFLICT,  /* state does not allow the operation */
	ERR_INTERNAL,  /* a broken invariant; a bug */
} berr;

/* Static, human-readable name of rc ("database unreachable", ...). */
const char *err_str(berr rc);

#endif
