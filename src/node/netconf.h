/* The WireGuard interface as a component (docs/ARCHITECTURE.md, "The module
 * pattern"): the device, its addresses, and the peers of the last peer set
 * applied as a difference against what the device holds. What it reads of
 * the node (key, addresses, endpoints) is borrowed at init; what it needs of
 * the components below it (the NAT layer, routes) comes through callbacks. */
#ifndef WM_NODE_NETCONF_H
#define WM_NODE_NETCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/config.h"
#include "core/key.h"
#include "core/mbb.h"
#include "core/mesh.h"
#include "core/net.h"
#include "node/nat.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "wg/wg.h"

/* A peer as last configured: to name WireGuard peers in status. */
struct wm_peer_name {
	wm_key key;
	char id[WM_NODE_ID_MAX + 1];
	struct wm_prefix ipv4; /* its mesh address; family 0: none */
	int raft_role;	       /* enum wm_raft_role, as the server said */
};

struct wm_netconf_config {
	uv_loop_t *loop;
	const struct wm_config *cfg; /* borrowed, outlives the component */
	/* The node's own facts, owned by the caller and read at every use:
	 * the addresses are set once the node has a lease, the endpoints are
	 * rewritten by the traversal. */
	const uint8_t *private_key, *public_key; /* WM_KEY_LEN bytes each */
	const struct wm_mesh_info *mesh;
	const struct wm_prefix *ipv4; /* our lease; family 0: none yet */
	const struct wm_prefix *ipv6;
	const struct wm_endpoint *endpoints;
	const size_t *n_endpoints;
	/* The NAT layer, asked anew at every use (it starts after the
	 * interface and goes before it); NULL: none. */
	struct wm_node_nat *(*nat)(void *data);
	/* The device's peers were synced to desired (kept until the next
	 * sync): what depends on them (routes) follows. Only once the
	 * addresses are set. */
	void (*synced_cb)(void *data, const struct wm_wg_device *desired);
	/* False once the node is stopping: ICE path changes are not applied. */
	bool (*running)(void *data);
	void *data;
};

/* A peer added while we had others: kicked at due_ms (uv_now) if no
 * handshake with it happened by then, and added again if there is still
 * none WM_KICK_RECHECK_MS after the kick (core/kick.h). */
struct wm_pending_kick {
	wm_key key;
	uint64_t due_ms;
	bool kicked;
};

struct wm_netconf {
	struct wm_netconf_config c;
	struct wm_wg *wg;
	bool addresses_set;
	/* The peer set as computed (after NAT rewrites), and what the device
	 * should hold now: the same, or on the embedded backend the make-before-
	 * break plan towards it (core/mbb.h), replanned on mbb_timer. */
	struct wm_wg_device *target;
	struct wm_wg_device *desired;
	struct wm_mbb mbb;
	bool mbb_on;
	uv_timer_t mbb_timer;
	bool mbb_timer_open;
	bool apply_failed;	   /* the last apply of desired did not complete */
	uint64_t peers_saved_hash; /* of STATE_DIR/peers.state */
	/* the peers of the last peer set, by key */
	struct wm_peer_name *peer_names;
	size_t n_peer_names;
	uv_timer_t kick_timer;
	bool kick_timer_open;
	struct wm_pending_kick *kicks;
	size_t n_kicks, cap_kicks;
	void (*close_cb)(void *data);
	void *close_data;
};

/* Opens the interface (cfg's backend) with our key and port and no peers; 0,
 * or -errno with err filled. Close it even on failure. */
int wm_netconf_init(struct wm_netconf *nc, const struct wm_netconf_config *c, char *err,
		    size_t errlen);
/* Puts the node's addresses on the interface (nothing before a lease, or on
 * the null backend). */
int wm_netconf_set_addresses(struct wm_netconf *nc);
/* Turns peer messages into the desired device and applies the difference. */
int wm_netconf_apply_peers(struct wm_netconf *nc, Webmesh__V1__WireGuardPeer *const *peers,
			   size_t n);
/* The same, with the WireGuard keys (base64) of peers of the last set whose
 * node left the mesh (PeerConfigurations.gone_keys): their tunnels end at
 * once instead of after the make-before-break hold (core/mbb.h). */
int wm_netconf_apply_peers_gone(struct wm_netconf *nc, Webmesh__V1__WireGuardPeer *const *peers,
				size_t n, char *const *gone_keys, size_t n_gone_keys);
/* Applies STATE_DIR/peers.state, the last peer set this node had (none: 0). */
int wm_netconf_restore_peers(struct wm_netconf *nc);
/* A peer moved to ICE: its endpoint changes on the device. */
void wm_netconf_nat_changed(struct wm_netconf *nc);
/* The open device (NULL before init and after close), lent to the rows
 * above and to status. */
struct wm_wg *wm_netconf_wg(const struct wm_netconf *nc);
/* The peers of the last peer set (valid until the next one). */
const struct wm_peer_name *wm_netconf_peers(const struct wm_netconf *nc, size_t *n);
/* Closes the device and frees the peer set; done_cb once, after the last
 * handle. */
void wm_netconf_close(struct wm_netconf *nc, void (*done_cb)(void *data), void *data);

/* The endpoints to advertise: --endpoints, else this host's addresses at the
 * WireGuard port (at most WM_MAX_ENDPOINTS). */
int wm_netconf_detect_endpoints(const struct wm_config *cfg, struct wm_endpoint *endpoints,
				size_t *n);

#endif
