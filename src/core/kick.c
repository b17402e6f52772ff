/* When to make WireGuard start a handshake with a new peer (kick.h). */
#include "core/kick.h"

#include <string.h>

uint64_t wm_kick_delay_ms(bool had_peers, const wm_key our_key, const wm_key their_key)
{
	if (!had_peers)
		return 0;
	return memcmp(our_key, their_key, sizeof(wm_key)) < 0 ? WM_KICK_WAIT_MS
							      : 2 * WM_KICK_WAIT_MS;
}

bool wm_kick_wanted(const struct wm_wg_peer *on_device)
{
	/* A peer new on the device starts with no handshake time; the device
	 * sets it on the first completed handshake, on either side. */
	return on_device && on_device->last_handshake_sec == 0 &&
	       on_device->last_handshake_nsec == 0;
}

bool wm_kick_crossed(const struct wm_wg_peer *on_device)
{
	return wm_kick_wanted(on_device) && on_device->rx_bytes > 0;
}

const struct wm_endpoint *wm_kick_readd_endpoint(const struct wm_wg_peer *want,
						 const struct wm_wg_peer *on_device)
{
	if (on_device && on_device->endpoint.ip.family)
		return &on_device->endpoint;
	return want && (want->flags & WM_WGPEER_HAS_ENDPOINT) ? &want->endpoint : NULL;
}
