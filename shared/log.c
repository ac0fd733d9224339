/* log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "berth";
static enum log_level log_level_cur = LOG_LVL_INFO;

void
log_init(const char *progname, enum log_level level)
{
	log_prog = progname;
	log_level_cur = level;
}

void
log_set_level(enum log_level level)
{
	log_level_cur = level;
}

enum log_level
log_get_level(void)
{
	return log_level_cur;
}

/* Formats the whole line first so one write() keeps lines from interleaving. */
static void
log_emit(enum log_level level, const char *fmt, va_list ap)
{
	static const char *names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	char line[2048];
	char ts[32];
	struct tm tm;
	time_t now;
	int n, m;

	if (level > log_level_cur)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %s[%d] %s ", ts, log_prog,
	    (int)getpid(), names[level]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, (size_t)n);
}

#define LOG_FN(fn, lvl)                 \
	void fn(const char *fmt, ...)   \
	{                               \
		va_list ap;             \
		va_start(ap, fmt);      \
		log_emit(lvl, fmt, ap); \
		va_end(ap);             \
	}
LOG_FN(log_error, LOG_LVL_ERROR)
LOG_FN(log_warn, LOG_LVL_WARN)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_debug, LOG_LVL_DEBUG)

const char *
log_secret_prefix(const char *secret, char *buf, size_t size)
{
	char shown[7];
	size_t i;

	if (secret == NULL || *secret == '\0') {
		snprintf(buf, size, "(none)");
		return buf;
	}
	/* Client bytes go into log lines: anything but printable ASCII
	 * becomes '?', so a token cannot forge or garble a line. */
	for (i = 0; i < 6 && secret[i] != '\0'; i++)
		shown[i] =
		    (secret[i] > ' ' && secret[i] < 0x7f) ? secret[i] : '?';
	shown[i] = '\0';
	snprintf(buf, size, "%s…", shown);
	return buf;
}
