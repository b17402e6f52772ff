/* The entry of webmesh-ice.so: ice.c's functions in the table of
 * ice_module.h, the only symbol the module exports. */
#include "nat/ice_module.h"

static int ice_new(const struct wm_ice_config *cfg, void **out, char *err, size_t errlen)
{
	struct wm_ice *ice = NULL;
	int rc = wm_ice_new(cfg, &ice, err, errlen);

	*out = ice;
	return rc;
}

static void ice_free(void *ice, void (*done_cb)(void *data), void *data)
{
	wm_ice_free(ice, done_cb, data);
}

static int peer_open(void *ice, const char *peer_id, void *peer_data, struct wm_ice_peer **out,
		     uint16_t *relay_port)
{
	return wm_ice_peer_open(ice, peer_id, peer_data, out, relay_port);
}

__attribute__((visibility("default"))) const struct wm_ice_module wm_ice_module_v1 = {
	.header = {.abi = WM_ICE_MODULE_ABI, .size = sizeof(struct wm_ice_module)},
	.ice_new = ice_new,
	.ice_free = ice_free,
	.peer_open = peer_open,
	.peer_close = wm_ice_peer_close,
	.peer_start = wm_ice_peer_start,
	.peer_set_remote = wm_ice_peer_set_remote,
	.peer_stop = wm_ice_peer_stop,
	.peer_status = wm_ice_peer_status,
};
