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

static int wg_open(void *p, const char *peer_id, char *const *addrs, size_t naddrs,
		   uint16_t wg_port, void **out, uint16_t *relay_port, char *err, size_t errlen)
{
	struct wm_p2p_wg *w = NULL;
	int rc = wm_p2p_wg_open(p, peer_id, addrs, naddrs, wg_port, &w, relay_port, err, errlen);

	*out = w;
	return rc;
}

static void wg_close(void *w)
{
	wm_p2p_wg_close(w);
}

static void wg_status(const void *w, struct wm_p2p_wg_status *out)
{
	wm_p2p_wg_status(w, out);
}

static void wg_listen(void *p, int (*incoming)(void *data, const char *peer_id), void *data)
{
	wm_p2p_wg_listen(p, incoming, data);
}

__attribute__((visibility("default"))) const struct wm_p2p_module wm_p2p_module_v1 = {
	.header = {.abi = WM_P2P_MODULE_ABI, .size = sizeof(struct wm_p2p_module)},
	.config_size = sizeof(struct wm_p2p_config),
	.status_size = sizeof(struct wm_p2p_status),
	.p2p_new = p2p_new,
	.p2p_free = p2p_free,
	.p2p_status = p2p_status,
	.wg_status_size = sizeof(struct wm_p2p_wg_status),
	.wg_open = wg_open,
	.wg_close = wg_close,
	.wg_status = wg_status,
	.wg_listen = wg_listen,
};
