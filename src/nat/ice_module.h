/* The table the ICE module (webmesh-ice.so: ice.c, relay.c, libnice, GLib)
 * exports, and through which the daemon's loader (ice_loader.c) calls it.
 * Each entry is the ice.h function of the same name, with the module's
 * struct wm_ice as an opaque pointer. Change the table: bump the ABI. */
#ifndef WM_NAT_ICE_MODULE_H
#define WM_NAT_ICE_MODULE_H

#include "nat/ice.h"
#include "util/module.h"

#define WM_ICE_MODULE_NAME "webmesh-ice"
#define WM_ICE_MODULE_SYMBOL "wm_ice_module_v1"
#define WM_ICE_MODULE_ABI 3 /* 2: wm_ice_status lists candidates; 3: unanswered_ms */

struct wm_ice_module {
	struct wm_module_header header;
	int (*ice_new)(const struct wm_ice_config *cfg, void **out, char *err, size_t errlen);
	void (*ice_free)(void *ice, void (*done_cb)(void *data), void *data);
	int (*peer_open)(void *ice, const char *peer_id, void *peer_data, struct wm_ice_peer **out,
			 uint16_t *relay_port);
	void (*peer_close)(struct wm_ice_peer *p);
	int (*peer_start)(struct wm_ice_peer *p, const struct wm_ice_session_config *sc);
	int (*peer_set_remote)(struct wm_ice_peer *p, uint64_t session,
			       const struct wm_ice_params *remote);
	void (*peer_stop)(struct wm_ice_peer *p);
	void (*peer_status)(const struct wm_ice_peer *p, struct wm_ice_status *out);
};

#endif
