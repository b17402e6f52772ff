/* UAPI over the daemon's unix socket: blocking I/O with a timeout per call. */
#include "wg/uapi.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/error.h"
#include "core/key.h"
#include "util/crypto.h"

/* A local daemon answers in microseconds; a large set may take wireguard-go a
 * while to apply, so allow it a few seconds per read or write. */
#define IO_TIMEOUT_MS 5000

int wm_uapi_sock_path(const char *dir, const char *ifname, char *buf, size_t len)
{
	int n;

	if (!ifname || !*ifname || strchr(ifname, '/'))
		return -EINVAL;
	n = snprintf(buf, len, "%s/%s.sock", dir && *dir ? dir : "/run/wireguard", ifname);
	if (n < 0 || (size_t)n >= len || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	return 0;
}

int wm_uapi_connect(const char *dir, const char *ifname)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, ret;

	ret = wm_uapi_sock_path(dir, ifname, sun.sun_path, sizeof(sun.sun_path));
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* connect() on a unix stream socket does not block for long: it either
	 * finds a listener (queued in the backlog) or fails at once. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int wait_fd(int fd, short events)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	int n;

	do
		n = poll(&pfd, 1, IO_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return 0;
}

int wm_uapi_write_all(int fd, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int ret = wait_fd(fd, POLLOUT);

			if (ret < 0)
				return ret;
			continue;
		}
		return n < 0 ? -errno : -EPIPE;
	}
	return 0;
}

/* Reads until the reply's terminating blank line ("\n\n"); *out is malloc'd. */
static int read_reply(int fd, char **out, size_t *outlen)
{
	size_t len = 0, cap = 4096, scan = 0;
	char *buf = malloc(cap);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= WM_UAPI_MAX_REPLY) {
				ret = -EMSGSIZE;
				break;
			}
			nb = malloc(cap * 2);
			if (!nb) {
				ret = -ENOMEM;
				break;
			}
			/* The reply may hold the private key: wipe what we drop. */
			memcpy(nb, buf, len);
			wm_wipe(buf, cap);
			free(buf);
			buf = nb;
			cap *= 2;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ret = wait_fd(fd, POLLIN);
			if (ret < 0)
				break;
			continue;
		}
		if (n < 0) {
			ret = -errno;
			break;
		}
		if (n == 0) {
			/* Closed before the blank line: not a whole reply. */
			ret = len ? -WM_EPROTOCOL : -ECONNRESET;
			break;
		}
		len += (size_t)n;
		/* The blank line is the only "\n\n" a reply can hold. */
		while (scan + 1 < len && !(buf[scan] == '\n' && buf[scan + 1] == '\n'))
			scan++;
		if (scan + 1 < len) {
			if (scan + 2 != len) {
				ret = -WM_EPROTOCOL; /* more after the end */
				break;
			}
			*out = buf;
			*outlen = len;
			return 0;
		}
	}
	wm_wipe(buf, cap);
	free(buf);
	return ret;
}

int wm_uapi_set(const char *dir, const char *ifname, const struct wm_wg_device *dev)
{
	char *req = NULL, *reply = NULL;
	size_t reqlen = 0, replylen = 0;
	int fd, ret, wret;

	ret = wm_uapi_encode_set(dev, &req, &reqlen);
	if (ret < 0)
		return ret;
	fd = wm_uapi_connect(dir, ifname);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	wret = wm_uapi_write_all(fd, req, reqlen);
	/* wireguard-go stops reading at the first bad line and answers at once;
	 * a broken pipe therefore still has an errno reply worth reading. */
	if (wret < 0 && wret != -EPIPE && wret != -ECONNRESET) {
		ret = wret;
		goto out;
	}
	ret = read_reply(fd, &reply, &replylen);
	if (ret == 0)
		ret = wm_uapi_parse_errno(reply, replylen);
	else if (wret < 0)
		ret = wret;
out:
	if (fd >= 0)
		close(fd);
	if (req) {
		wm_wipe(req, reqlen);
		free(req);
	}
	free(reply);
	return ret;
}

int wm_uapi_get(const char *dir, const char *ifname, struct wm_wg_device **out, char *err,
		size_t errlen)
{
	static const char req[] = "get=1\n\n";
	char *reply = NULL;
	size_t replylen = 0;
	int fd, ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	fd = wm_uapi_connect(dir, ifname);
	if (fd < 0)
		return fd;
	ret = wm_uapi_write_all(fd, req, sizeof(req) - 1);
	if (ret == 0)
		ret = read_reply(fd, &reply, &replylen);
	close(fd);
	if (ret < 0)
		return ret;
	ret = wm_uapi_parse_get(reply, replylen, ifname, out, err, errlen);
	wm_wipe(reply, replylen);
	free(reply);
	if (ret == 0 && ((*out)->flags & WM_WGDEV_HAS_PRIVATE_KEY) &&
	    wm_x25519_public((*out)->private_key, (*out)->public_key) < 0)
		memset((*out)->public_key, 0, WM_KEY_LEN);
	return ret;
}
