/* Daemon logging to stderr: levels, timestamps, one line per event. */
#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* Process-wide by nature: one stderr, one level set by main (-log-level) before
 * any loop runs; modules keep their own copies and never log (see
 * docs/ARCHITECTURE.md). */
static enum wm_log_level min_level = WM_LOG_INFO;
static char log_name[64];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int wm_log_parse_level(const char *s, enum wm_log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum wm_log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void wm_log_set_level(enum wm_log_level level)
{
	min_level = level;
}

void wm_log_set_name(const char *name)
{
	snprintf(log_name, sizeof(log_name), "%s", name ? name : "");
}

void wm_log(enum wm_log_level level, const char *fmt, ...)
{
	if (level < min_level)
		return;
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	/* One fprintf per line keeps concurrent writers (a daemon and its
	 * wireguard-go child share stderr) from interleaving mid-line. */
	char line[2048];
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s%s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level], log_name,
			 log_name[0] ? ": " : "");
	if (n < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	if ((size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
