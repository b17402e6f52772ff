/* The embedded backend: our own WireGuard (embedded/device.c) on a thread of
 * its own, configured over its UAPI socket exactly as wireguard-go is. */
#include <errno.h>

#include "core/error.h"
#include "util/log.h"
#include "wg/embedded/device.h"
#include "wg/uapi.h"
#include "wg/wg_int.h"

int wm_wg_emb_open(struct wm_wg *wg, char *err, size_t errlen)
{
	struct wge_config cfg = {
		.ifname = wg->ifname, .uapi_dir = wg->uapi_dir, .workers = (int)wg->emb_workers};

	char desc[160];
	int ret = wge_open(&cfg, &wg->emb, err, errlen);

	if (ret < 0)
		return ret;
	wge_describe(wg->emb, desc, sizeof(desc));
	wm_info("wireguard: embedded %s: %s", wg->ifname, desc);
	return 0;
}

int wm_wg_emb_set(struct wm_wg *wg, const struct wm_wg_device *dev)
{
	return wm_uapi_set(wg->uapi_dir, wg->ifname, dev);
}

int wm_wg_emb_get(struct wm_wg *wg, struct wm_wg_device **out)
{
	char err[128];
	int ret = wm_uapi_get(wg->uapi_dir, wg->ifname, out, err, sizeof(err));

	if (ret == -WM_EPROTOCOL)
		wm_warn("wireguard: %s", err);
	return ret;
}

void wm_wg_emb_close(struct wm_wg *wg)
{
	wge_close(wg->emb);
	wg->emb = NULL;
}
