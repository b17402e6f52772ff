/* The null backend: keeps the device in memory and records what it applies. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/crypto.h"
#include "wg/uapi.h"
#include "wg/wg_int.h"

int wm_wg_null_open(struct wm_wg *wg)
{
	wg->null_dev = wm_wg_device_new(wg->ifname);
	return wg->null_dev ? 0 : -ENOMEM;
}

/* Appends one record: a header line, then the update in UAPI text with the
 * private key redacted (the record is for people and tests, never a secret). */
static int record(struct wm_wg *wg, const struct wm_wg_device *dev)
{
	struct wm_wg_device *copy;
	char head[128], *txt = NULL;
	size_t len = 0;
	int fd, n, ret;

	copy = wm_wg_device_dup(dev);
	if (!copy)
		return -ENOMEM;
	copy->flags &= ~(uint32_t)WM_WGDEV_HAS_PRIVATE_KEY;
	ret = wm_uapi_encode_set(copy, &txt, &len);
	wm_wg_device_free(copy);
	if (ret < 0)
		return ret;
	n = snprintf(head, sizeof(head), "# set %lu %s peers=%zu\n%s", wg->null_sets, wg->ifname,
		     dev->n_peers,
		     (dev->flags & WM_WGDEV_HAS_PRIVATE_KEY) ? "private_key=(redacted)\n" : "");
	fd = open(wg->null_record_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -errno;
		free(txt);
		return ret;
	}
	/* Drop the "set=1" line: the header replaced it. */
	if (write(fd, head, (size_t)n) != n || write(fd, txt + 6, len - 6) != (ssize_t)(len - 6))
		ret = -EIO;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	free(txt);
	return ret;
}

int wm_wg_null_set(struct wm_wg *wg, const struct wm_wg_device *dev)
{
	int ret;

	wg->null_sets++;
	if (wg->null_record_path) {
		ret = record(wg, dev);
		if (ret < 0)
			return ret;
	}
	return wm_wg_device_apply(wg->null_dev, dev);
}

int wm_wg_null_get(struct wm_wg *wg, struct wm_wg_device **out)
{
	struct wm_wg_device *dev = wm_wg_device_dup(wg->null_dev);

	if (!dev)
		return -ENOMEM;
	memcpy(dev->name, wg->ifname, sizeof(dev->name));
	if ((dev->flags & WM_WGDEV_HAS_PRIVATE_KEY) &&
	    wm_x25519_public(dev->private_key, dev->public_key) < 0)
		memset(dev->public_key, 0, WM_KEY_LEN);
	*out = dev;
	return 0;
}

void wm_wg_null_close(struct wm_wg *wg)
{
	wm_wg_device_free(wg->null_dev);
	wg->null_dev = NULL;
}
