/* NAT traversal in the daemon: per peer, direct WireGuard or ICE (the decision
 * is src/core/path.c's), ICE sessions (src/nat/ice.h), the signaling with a
 * server (Signaling service), TURN credentials (static, or handed out by the
 * server), and the rewriting of ICE peers' WireGuard endpoints to their
 * loopback relays.
 *
 * The daemon's side is a handful of calls (see the end of this comment). Everything
 * runs on the daemon's loop; libnice's thread is hidden in src/nat.
 *
 * Which path each peer takes (direct, ICE, back to direct) is decided by the
 * pure state machine of core/path.h, one per peer; docs/PATHS.md tells the
 * whole story. This layer feeds it and does the I/O it asks for: nat.c (the
 * sessions), nat_resolve.c (names, on libuv's threadpool), nat_turn.c (TURN
 * credentials), nat_signal.c (signals).
 *
 * Hooks for the daemon (src/node):
 *   wm_node_nat_init    after the WireGuard device is open and the RPC client
 *                       to the server exists (servers: a client on their own
 *                       local socket);
 *   wm_node_nat_apply   in wm_netconf_apply_peers, on the desired device, just
 *                       before it is diffed against the device;
 *   wm_node_nat_rewrite from changed_cb, on the same desired device, then the
 *                       diff again;
 *   wm_node_nat_fill_peer_status  in the Status' per-peer loop;
 *   wm_node_nat_close   in the shutdown, before the WireGuard device closes.
 */
#ifndef WM_NODE_NAT_H
#define WM_NODE_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/config.h"
#include "core/key.h"
#include "core/net.h"
#include "core/wgconf.h"
#include "nat/discover.h"
#include "rpc/rpc.h"
#include "util/arena.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/node.pb-c.h"

struct wm_wg;
struct wm_node_nat;
struct wm_p2p;

struct wm_node_nat_config {
	uv_loop_t *loop;
	/* stun-servers, turn-servers, turn-username/-password,
	 * ice-handshake-timeout, wireguard-port, interface, endpoints (borrowed:
	 * must outlive the NAT layer) */
	const struct wm_config *cfg;
	const char *node_id;
	struct wm_wg *wg; /* read for handshakes */
	/* The server to signal through, asked anew for every call: a member's
	 * upstream client, or on a server a client on its own local socket.
	 * NULL while there is none (ICE then waits). */
	struct wm_rpc_client *(*signaling_client)(void *data);
	/* Peers' endpoints must change (a peer moved to ICE): call
	 * wm_node_nat_apply on the desired device again and apply the diff. */
	void (*changed_cb)(void *data);
	void *data;
	/* The libp2p host, NULL without libp2p: pairs that the path machine
	 * puts on libp2p get a WireGuard link there (p2p/wglink.h). */
	struct wm_p2p *p2p;
	/* Tests and benchmarks: every peer over ICE; only TURN-relayed pairs. */
	bool force_ice;
	bool force_relay;
};

/* Checks the STUN and TURN server URIs (err says which is wrong), starts
 * their lookups (numeric ones are done at once; names on libuv's threadpool,
 * never blocking the loop), the ICE thread (now when no name is pending, else
 * once the lookups are done) and the signal stream. */
int wm_node_nat_init(const struct wm_node_nat_config *c, struct wm_node_nat **out, char *err,
		     size_t errlen);

/* The current peers (as the server sent them) and this node's advertised
 * endpoints; rewrites the endpoint (127.0.0.1:RELAY) and keepalive of every
 * peer of desired that goes over ICE. Starts ICE for peers that need it now
 * (changed_cb follows once their relay exists). n NULL: nothing to do (no
 * NAT layer). Returns 0 or -ENOMEM. */
int wm_node_nat_apply(struct wm_node_nat *n, Webmesh__V1__WireGuardPeer *const *peers,
		      size_t n_peers, const struct wm_endpoint *self, size_t n_self,
		      struct wm_wg_device *desired);

/* Rewrites the ICE peers' endpoints and keepalives in desired, without a new
 * peer set: what changed_cb's caller does before applying the diff (and
 * after wireguard-go came back empty). n NULL: nothing. */
void wm_node_nat_rewrite(struct wm_node_nat *n, struct wm_wg_device *desired);

/* Fills the NAT fields of a peer's status (path, candidates, ICE state and
 * bytes), matching the peer by key. Strings from a. */
void wm_node_nat_fill_peer_status(struct wm_node_nat *n, const wm_key key,
				  Webmesh__V1__PeerStatus *ps, struct wm_arena *a);

/* Endpoint discovery with this node's STUN servers, --endpoints and
 * WireGuard port (see nat/discover.h); cb and req as there. */
int wm_node_nat_discover(struct wm_node_nat *n, wm_nat_discover_cb cb, void *data,
			 struct wm_nat_discover_req **req);

/* The resolved STUN and TURN servers in the configured order (for netcheck):
 * copies up to max of each, returns how many (n NULL: none). */
size_t wm_node_nat_stun_servers(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max);
size_t wm_node_nat_turn_servers(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max);

/* Ends every session (BYE to the peers), stops the ICE thread and frees n;
 * done_cb (may be NULL) runs from the loop once all of it is gone. */
void wm_node_nat_close(struct wm_node_nat *n, void (*done_cb)(void *data), void *data);

#endif
