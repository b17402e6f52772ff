/* A growable NUL-terminated string for building output. */
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void wm_strbuf_init(struct wm_strbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void wm_strbuf_free(struct wm_strbuf *b)
{
	free(b->s);
	wm_strbuf_init(b);
}

static bool reserve(struct wm_strbuf *b, size_t extra)
{
	if (b->failed)
		return false;
	if (b->len + extra + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1)
		cap *= 2;
	char *s = realloc(b->s, cap);
	if (!s) {
		b->failed = true;
		return false;
	}
	b->s = s;
	b->cap = cap;
	return true;
}

void wm_strbuf_add(struct wm_strbuf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return;
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void wm_strbuf_puts(struct wm_strbuf *b, const char *s)
{
	wm_strbuf_add(b, s, strlen(s));
}

void wm_strbuf_printf(struct wm_strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void wm_strbuf_json_string(struct wm_strbuf *b, const char *s)
{
	wm_strbuf_add(b, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"':
			wm_strbuf_puts(b, "\\\"");
			break;
		case '\\':
			wm_strbuf_puts(b, "\\\\");
			break;
		case '\n':
			wm_strbuf_puts(b, "\\n");
			break;
		case '\r':
			wm_strbuf_puts(b, "\\r");
			break;
		case '\t':
			wm_strbuf_puts(b, "\\t");
			break;
		default:
			if (*p < 0x20)
				wm_strbuf_printf(b, "\\u%04x", *p);
			else
				wm_strbuf_add(b, (const char *)p, 1);
		}
	}
	wm_strbuf_add(b, "\"", 1);
}

char *wm_strbuf_take(struct wm_strbuf *b)
{
	char *s = b->failed ? NULL : b->s;
	if (b->failed)
		free(b->s);
	if (s == NULL && !b->failed)
		s = strdup("");
	wm_strbuf_init(b);
	return s;
}
