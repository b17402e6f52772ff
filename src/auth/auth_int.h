/* Internals shared by the authenticators of src/auth. */
#ifndef WM_AUTH_INT_H
#define WM_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/auth.h"

/* What identifies one version of a file: re-read it when any of these changes. */
struct wm_file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
};
int wm_auth_file_id(const char *path, struct wm_file_id *out);
bool wm_auth_file_id_equal(const struct wm_file_id *a, const struct wm_file_id *b);
/* Reads a whole file of at most max bytes; *out malloc'd and NUL-terminated. */
int wm_auth_read_file(const char *path, size_t max, char **out, size_t *len);
/* "Basic base64(user:password)" (scheme case-insensitive): user into user,
 * *pass malloc'd (free with wm_auth_wipe_free). -ENOENT when header is NULL
 * or another scheme, -EINVAL when malformed (no ':', empty user, control
 * characters, too long). */
int wm_auth_parse_basic(const char *header, char *user, size_t userlen, char **pass);
void wm_auth_wipe_free(char *s);

#endif
