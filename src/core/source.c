/* Source keys and the once-per-source log. */
#include "core/source.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/net.h"

int wm_source_key(const char *peer, char out[WM_SOURCE_KEY_MAX])
{
	struct wm_endpoint e;

	if (!peer || !*peer)
		return -EINVAL;
	if (wm_endpoint_parse(peer, &e) < 0) {
		snprintf(out, WM_SOURCE_KEY_MAX, "%s", peer);
		return 0;
	}
	wm_endpoint_unmap(&e);
	if (e.ip.family == AF_INET)
		return wm_prefix_format_addr(&e.ip, out, WM_SOURCE_KEY_MAX) < 0 ? -EINVAL : 0;
	/* One host usually holds a whole /64 (SLAAC, privacy addresses): counting
	 * addresses would let it open as many sources as it likes. */
	e.ip.len = 64;
	struct wm_prefix net = wm_prefix_network(&e.ip);
	return wm_prefix_format(&net, out, WM_SOURCE_KEY_MAX) < 0 ? -EINVAL : 0;
}

void wm_logonce_init(struct wm_logonce *l, int64_t interval_ms)
{
	memset(l, 0, sizeof(*l));
	l->interval_ms = interval_ms;
}

bool wm_logonce_due(struct wm_logonce *l, const char *key, int64_t now_ms)
{
	size_t oldest = 0;

	for (size_t i = 0; i < WM_LOGONCE_SLOTS; i++) {
		if (l->slot[i].used && strncmp(l->slot[i].key, key, WM_SOURCE_KEY_MAX - 1) == 0) {
			if (now_ms - l->slot[i].at_ms < l->interval_ms)
				return false;
			l->slot[i].at_ms = now_ms;
			return true;
		}
		if (!l->slot[i].used ||
		    (l->slot[oldest].used && l->slot[i].at_ms < l->slot[oldest].at_ms))
			oldest = i;
	}
	if (l->slot[oldest].used && now_ms - l->slot[oldest].at_ms < l->interval_ms)
		return false;
	l->slot[oldest].used = true;
	l->slot[oldest].at_ms = now_ms;
	snprintf(l->slot[oldest].key, WM_SOURCE_KEY_MAX, "%s", key);
	return true;
}
