/* Small file helpers: directories, atomic writes with a mode, whole-file reads. */
#ifndef WM_UTIL_FSUTIL_H
#define WM_UTIL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* mkdir -p with mode for the directories it creates. */
int wm_mkdir_p(const char *path, mode_t mode);
/* Writes data to path via a temporary file in the same directory, fsync and
 * rename, so readers see the old or the new content, never half. The file
 * gets exactly mode (umask does not apply). */
int wm_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);
/* Reads a whole file (at most max bytes, else -EFBIG) into a NUL-terminated
 * malloc'd buffer. */
int wm_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
