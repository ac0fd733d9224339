/*
 * log.h - one-line logs to stderr (or a file), with program name and pid.
 *
 * Format: "2026-11-24T02:18:06Z berth-fcgi[123] ERROR message". Never pass a
 * secret: use log_secret_prefix() to show at most its first 6 characters.
 * The module keeps only the program name (a static pointer the caller owns)
 * and the level; it allocates nothing.
 */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Sets the program name (not copied; pass a string literal) and level. */
void log_init(const char *progname, enum log_level level);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Writes into buf (size >= 12) at most the first 6 characters of secret
 * (bytes other than printable ASCII shown as "?")
 * followed by "…", or "(none)" for NULL/empty. Returns buf.
 */
const char *log_secret_prefix(const char *secret, char *buf, size_t size);

#endif
