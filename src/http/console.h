/* The web console's static files on the HTTP listener: GET of every path
 * not mounted otherwise, behind the console session (http.h). */
#ifndef WM_HTTP_CONSOLE_H
#define WM_HTTP_CONSOLE_H

#include <stddef.h>

#include "http/http.h"

struct wm_http_console;

/* Serves the files under dir (copied; it need not exist yet: requests then
 * get 404 saying the console is not installed). "/" is index.html; a path
 * without an extension that names no file is index.html too (the page's
 * own routes); FILE.gz is sent instead of FILE with Content-Encoding: gzip
 * when the client accepts gzip. Nothing outside dir is served: no "..",
 * no symbolic link out of it. 0 or -errno; *out is freed with
 * wm_http_console_free after the server closed. */
int wm_http_console_mount(struct wm_http *srv, const char *dir, struct wm_http_console **out);
void wm_http_console_free(struct wm_http_console *c);

/* The content type of a file name, by its extension
 * ("application/octet-stream" if unknown). */
const char *wm_http_content_type(const char *name);
/* Percent-decodes a request path and checks it names a file below the root:
 * '/'-separated, no "." or ".." segment, no empty segment inside, no NUL or
 * backslash or control character. Copies it without the leading '/' into
 * out: 0 or -EINVAL. "/" gives "". */
int wm_http_clean_path(const char *path, char *out, size_t outlen);

#endif
