/* The table the libp2p module (webmesh-p2p.so: host.c, Noise, yamux,
 * identify, circuit relay, the DHT, rendezvous, WireGuard links) exports,
 * and through which webmeshd's loader (p2p_loader.c) calls it. Each entry
 * is the host.h or wglink.h function of the same name. Change the table or
 * struct wm_p2p_config / wm_p2p_status / wm_p2p_wg_status: bump the ABI. */
#ifndef WM_P2P_MODULE_H
#define WM_P2P_MODULE_H

#include "p2p/host.h"
#include "p2p/wglink.h"
#include "util/module.h"

#define WM_P2P_MODULE_NAME "webmesh-p2p"
#define WM_P2P_MODULE_SYMBOL "wm_p2p_module_v1"
#define WM_P2P_MODULE_ABI 2 /* 2: relay, DHT, rendezvous and WireGuard links (wglink.h) */

struct wm_p2p_module {
	struct wm_module_header header;
	uint32_t config_size, status_size; /* the structs' sizes, checked too */
	int (*p2p_new)(const struct wm_p2p_config *cfg, void **out, char *err, size_t errlen);
	void (*p2p_free)(void *p, void (*done_cb)(void *data), void *data);
	void (*p2p_status)(const void *p, struct wm_p2p_status *out);
	int (*p2p_join_rendezvous)(void *p, const char *secret,
				   void (*cb)(void *ud, const char *hostport), void *ud);
	uint32_t wg_status_size; /* struct wm_p2p_wg_status */
	int (*wg_open)(void *p, const char *peer_id, char *const *addrs, size_t naddrs,
		       uint16_t wg_port, void **out, uint16_t *relay_port, char *err,
		       size_t errlen);
	void (*wg_close)(void *w);
	void (*wg_status)(const void *w, struct wm_p2p_wg_status *out);
	void (*wg_listen)(void *p, int (*incoming)(void *data, const char *peer_id), void *data);
};

#endif
