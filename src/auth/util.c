/* Helpers of the authenticators: file versions, whole-file reads, Basic headers. */
#include "auth/auth_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base64.h"
#include "core/key.h"

int wm_auth_file_id(const char *path, struct wm_file_id *out)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	memset(out, 0, sizeof(*out));
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	out->size = st.st_size;
	out->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	out->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	return 0;
}

bool wm_auth_file_id_equal(const struct wm_file_id *a, const struct wm_file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

int wm_auth_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t cap = 4096, n = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (n == cap) {
			if (cap > max) {
				break;
			}
			char *p = realloc(buf, cap * 2 + 1);
			if (!p) {
				wm_wipe(buf, n);
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = p;
			cap *= 2;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;
			wm_wipe(buf, n);
			free(buf);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		wm_wipe(buf, n);
		free(buf);
		return -E2BIG;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

void wm_auth_wipe_free(char *s)
{
	if (!s)
		return;
	wm_wipe(s, strlen(s));
	free(s);
}

int wm_auth_parse_basic(const char *header, char *user, size_t userlen, char **pass)
{
	unsigned char *dec;
	size_t declen = 0, hl;
	const char *b64, *colon;

	*pass = NULL;
	if (!header || strncasecmp(header, "basic ", 6) != 0)
		return -ENOENT;
	b64 = header + 6;
	while (*b64 == ' ')
		b64++;
	hl = strlen(b64);
	if (hl == 0 || hl > 2048)
		return -EINVAL;
	dec = malloc(hl);
	if (!dec)
		return -ENOMEM;
	if (wm_base64_decode(b64, hl, dec, hl, &declen) != 0) {
		free(dec);
		return -EINVAL;
	}
	colon = memchr(dec, ':', declen);
	int r = -EINVAL;
	if (!colon || colon == (const char *)dec || (size_t)(colon - (const char *)dec) >= userlen)
		goto out;
	for (size_t i = 0; i < declen; i++)
		if (dec[i] < 0x20 || dec[i] == 0x7f)
			goto out;
	memcpy(user, dec, (size_t)(colon - (const char *)dec));
	user[colon - (const char *)dec] = '\0';
	*pass = strndup(colon + 1, declen - (size_t)(colon + 1 - (const char *)dec));
	r = *pass ? 0 : -ENOMEM;
out:
	wm_wipe(dec, declen);
	free(dec);
	return r;
}
