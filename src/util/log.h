/* Daemon logging to stderr: levels, timestamps, one line per event. */
#ifndef WM_UTIL_LOG_H
#define WM_UTIL_LOG_H

enum wm_log_level { WM_LOG_DEBUG, WM_LOG_INFO, WM_LOG_WARN, WM_LOG_ERROR };

/* "debug", "info", "warn", "error" -> level; -EINVAL otherwise. */
int wm_log_parse_level(const char *s, enum wm_log_level *out);
void wm_log_set_level(enum wm_log_level level);
/* Prefix printed before every line, e.g. the node ID; copied. */
void wm_log_set_name(const char *name);
void wm_log(enum wm_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define wm_debug(...) wm_log(WM_LOG_DEBUG, __VA_ARGS__)
#define wm_info(...) wm_log(WM_LOG_INFO, __VA_ARGS__)
#define wm_warn(...) wm_log(WM_LOG_WARN, __VA_ARGS__)
#define wm_error(...) wm_log(WM_LOG_ERROR, __VA_ARGS__)

#endif
