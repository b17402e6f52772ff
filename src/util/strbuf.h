/* A growable NUL-terminated string for building output. */
#ifndef WM_UTIL_STRBUF_H
#define WM_UTIL_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct wm_strbuf {
	char *s; /* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
	bool failed; /* an allocation failed; further appends are dropped */
};

void wm_strbuf_init(struct wm_strbuf *b);
void wm_strbuf_free(struct wm_strbuf *b);
void wm_strbuf_add(struct wm_strbuf *b, const char *s, size_t n);
void wm_strbuf_puts(struct wm_strbuf *b, const char *s);
void wm_strbuf_printf(struct wm_strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal (quotes included, escapes as needed). */
void wm_strbuf_json_string(struct wm_strbuf *b, const char *s);
/* Takes the string (caller frees) and resets b; NULL if an allocation failed. */
char *wm_strbuf_take(struct wm_strbuf *b);

#endif
