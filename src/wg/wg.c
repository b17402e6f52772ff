/* The WireGuard front end: backend selection and dispatch. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "sys/sys.h"
#include "util/log.h"
#include "wg/netlink.h"
#include "wg/wg_int.h"

static const char *const backend_names[] = {
	[WM_WG_AUTO] = "auto", [WM_WG_KERNEL] = "kernel",     [WM_WG_USERSPACE] = "userspace",
	[WM_WG_NULL] = "null", [WM_WG_EMBEDDED] = "embedded",
};

int wm_wg_backend_parse(const char *s, enum wm_wg_backend *out)
{
	if (!s || !out)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(backend_names) / sizeof(backend_names[0]); i++) {
		if (strcmp(s, backend_names[i]) == 0) {
			*out = (enum wm_wg_backend)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int copy_field(char *dst, size_t dstlen, const char *src, const char *def)
{
	const char *s = src && *src ? src : def;

	if (strlen(s) >= dstlen)
		return -ENAMETOOLONG;
	strcpy(dst, s);
	return 0;
}

static int kernel_open(struct wm_wg *wg, char *err, size_t errlen)
{
	int ret = wm_sys_link_create_wireguard(wg->ifname);

	/* An existing link is reused: the daemon restarting keeps its tunnel. */
	if (ret < 0 && ret != -EEXIST) {
		wm_seterr(err, errlen, "creating WireGuard link %s: %s", wg->ifname,
			  wm_strerror(ret));
		return ret;
	}
	ret = wm_wgnl_family(&wg->family_id);
	if (ret < 0) {
		wm_seterr(err, errlen, "resolving the wireguard netlink family: %s",
			  wm_strerror(ret));
		return ret;
	}
	return 0;
}

int wm_wg_open(uv_loop_t *loop, const struct wm_wg_config *cfg, struct wm_wg **out, char *err,
	       size_t errlen)
{
	struct wm_wg *wg;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!loop || !cfg || !out) {
		wm_seterr(err, errlen, "wm_wg_open: missing argument");
		return -EINVAL;
	}
	*out = NULL;
	if (!cfg->ifname || !*cfg->ifname || strlen(cfg->ifname) >= WM_IFNAMSIZ ||
	    strchr(cfg->ifname, '/') || strchr(cfg->ifname, ' ')) {
		wm_seterr(err, errlen, "invalid interface name \"%s\" (1 to %d characters, no '/')",
			  cfg->ifname ? cfg->ifname : "", WM_IFNAMSIZ - 1);
		return -EINVAL;
	}
	if ((unsigned)cfg->backend > WM_WG_EMBEDDED) {
		wm_seterr(err, errlen, "unknown WireGuard backend %d", (int)cfg->backend);
		return -EINVAL;
	}
	wg = calloc(1, sizeof(*wg));
	if (!wg)
		return -ENOMEM;
	wg->loop = loop;
	strcpy(wg->ifname, cfg->ifname);
	wg->restarted_cb = cfg->restarted_cb;
	wg->emb_workers = cfg->workers;
	wg->data = cfg->data;
	if (copy_field(wg->uapi_dir, sizeof(wg->uapi_dir), cfg->uapi_dir, "/run/wireguard") < 0 ||
	    copy_field(wg->wireguard_go, sizeof(wg->wireguard_go), cfg->wireguard_go,
		       "wireguard-go") < 0) {
		wm_seterr(err, errlen, "uapi_dir or wireguard_go path too long");
		free(wg);
		return -ENAMETOOLONG;
	}
	if (cfg->null_record_path && *cfg->null_record_path) {
		wg->null_record_path = strdup(cfg->null_record_path);
		if (!wg->null_record_path) {
			free(wg);
			return -ENOMEM;
		}
	}

	switch (cfg->backend) {
	case WM_WG_NULL:
		wg->backend = WM_WG_NULL;
		ret = wm_wg_null_open(wg);
		break;
	case WM_WG_KERNEL:
		wg->backend = WM_WG_KERNEL;
		ret = kernel_open(wg, err, errlen);
		break;
	case WM_WG_USERSPACE:
		wg->backend = WM_WG_USERSPACE;
		ret = wm_wg_go_open(wg, err, errlen);
		break;
	case WM_WG_EMBEDDED:
		wg->backend = WM_WG_EMBEDDED;
		ret = wm_wg_emb_open(wg, err, errlen);
		break;
	case WM_WG_AUTO:
	default:
		ret = wm_sys_link_create_wireguard(wg->ifname);
		/* A link of that name may exist without the module (left by a
		 * wireguard-go): only a resolvable genetlink family means kernel. */
		if (ret == -EEXIST && wm_wgnl_family(&wg->family_id) < 0)
			ret = -EOPNOTSUPP;
		if (ret == -EOPNOTSUPP) {
			/* Our own WireGuard rather than a second program. */
			wm_info("wireguard: no kernel module, using the embedded WireGuard for %s",
				wg->ifname);
			wg->backend = WM_WG_EMBEDDED;
			ret = wm_wg_emb_open(wg, err, errlen);
		} else {
			wg->backend = WM_WG_KERNEL;
			ret = kernel_open(wg, err, errlen);
		}
		break;
	}
	if (ret < 0) {
		/* The userspace backend may still own loop handles (the child it
		 * started): let close finish them; it frees wg. */
		if (wg->backend == WM_WG_USERSPACE) {
			wm_wg_go_close(wg);
		} else {
			free(wg->null_record_path);
			free(wg);
		}
		if (err && errlen && !err[0])
			wm_seterr(err, errlen, "opening WireGuard device %s: %s", cfg->ifname,
				  wm_strerror(ret));
		return ret;
	}
	*out = wg;
	return 0;
}

int wm_wg_set(struct wm_wg *wg, const struct wm_wg_device *dev)
{
	if (!wg || !dev)
		return -EINVAL;
	switch (wg->backend) {
	case WM_WG_KERNEL: {
		/* The backend addresses the device by its name, whatever dev says. */
		struct wm_wg_device named = *dev;

		memcpy(named.name, wg->ifname, sizeof(named.name));
		return wm_wgnl_set(wg->family_id, &named);
	}
	case WM_WG_USERSPACE:
		return wm_wg_go_set(wg, dev);
	case WM_WG_EMBEDDED:
		return wm_wg_emb_set(wg, dev);
	case WM_WG_NULL:
		return wm_wg_null_set(wg, dev);
	default:
		return -EINVAL;
	}
}

int wm_wg_get(struct wm_wg *wg, struct wm_wg_device **out)
{
	if (!wg || !out)
		return -EINVAL;
	*out = NULL;
	switch (wg->backend) {
	case WM_WG_KERNEL:
		return wm_wgnl_get(wg->family_id, wg->ifname, out);
	case WM_WG_USERSPACE:
		return wm_wg_go_get(wg, out);
	case WM_WG_EMBEDDED:
		return wm_wg_emb_get(wg, out);
	case WM_WG_NULL:
		return wm_wg_null_get(wg, out);
	default:
		return -EINVAL;
	}
}

const char *wm_wg_backend_name(const struct wm_wg *wg)
{
	return wg ? backend_names[wg->backend] : "none";
}

const char *wm_wg_ifname(const struct wm_wg *wg)
{
	return wg ? wg->ifname : "";
}

int wm_wg_helper_pid(const struct wm_wg *wg)
{
	return wg && wg->backend == WM_WG_USERSPACE ? wm_wg_go_pid(wg) : 0;
}

void wm_wg_free_done(struct wm_wg *wg)
{
	void (*done_cb)(void *) = wg->done_cb;
	void *done_data = wg->done_data;

	free(wg->null_record_path);
	free(wg);
	if (done_cb)
		done_cb(done_data);
}

void wm_wg_close(struct wm_wg *wg, void (*done_cb)(void *data), void *data)
{
	int ret;

	if (!wg) {
		if (done_cb)
			done_cb(data);
		return;
	}
	wg->done_cb = done_cb;
	wg->done_data = data;
	switch (wg->backend) {
	case WM_WG_KERNEL:
		ret = wm_sys_link_delete(wg->ifname);
		if (ret < 0 && ret != -ENODEV)
			wm_warn("wireguard: deleting %s: %s", wg->ifname, wm_strerror(ret));
		wm_wg_free_done(wg);
		break;
	case WM_WG_USERSPACE:
		wm_wg_go_close(wg); /* ends in wm_wg_free_done */
		break;
	case WM_WG_EMBEDDED:
		wm_wg_emb_close(wg); /* deletes the TUN link with its fd */
		wm_wg_free_done(wg);
		break;
	case WM_WG_NULL:
	default:
		wm_wg_null_close(wg);
		wm_wg_free_done(wg);
		break;
	}
}
