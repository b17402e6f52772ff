/* The entry of webmesh-p2p.so: host.c's functions in the table of
 * p2p_module.h, the only symbol the module exports. */
#include "p2p/p2p_module.h"

static int p2p_new(const struct wm_p2p_config *cfg, void **out, char *err, size_t errlen)
{
	struct wm_p2p *p = NULL;
	int rc = wm_p2p_new(cfg, &p, err, errlen);

	*out = p;
	return rc;
}

static void p2p_free(void *p, void (*done_cb)(void *data), void *data)
{
	wm_p2p_free(p, done_cb, data);
}

static void p2p_status(const void *p, struct wm_p2p_status *out)
{
	wm_p2p_status(p, out);
}

__attribute__((visibility("default"))) const struct wm_p2p_module wm_p2p_module_v1 = {
	.header = {.abi = WM_P2P_MODULE_ABI, .size = sizeof(struct wm_p2p_module)},
	.config_size = sizeof(struct wm_p2p_config),
	.status_size = sizeof(struct wm_p2p_status),
	.p2p_new = p2p_new,
	.p2p_free = p2p_free,
	.p2p_status = p2p_status,
};
