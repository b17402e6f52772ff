/* The daemon's side of NAT traversal, as a component (docs/ARCHITECTURE.md,
 * "The module pattern"): the NAT layer (nat.c) on the WireGuard device, and
 * this node's endpoints, discovered at start (interfaces, public first, and
 * STUN's server-reflexive address) and again every endpoint-refresh seconds,
 * so that a node that moves (a laptop changing networks) tells the mesh where
 * it is now. What the rest of the daemon must do about it arrives through
 * the callbacks given at init. */
#ifndef WM_NODE_TRAVERSAL_H
#define WM_NODE_TRAVERSAL_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "core/config.h"
#include "core/net.h"
#include "node/nat.h"
#include "rpc/rpc.h"
#include "wg/wg.h"

struct wm_traversal_config {
	uv_loop_t *loop;
	const struct wm_config *cfg; /* borrowed, outlives the component */
	const char *node_id;
	struct wm_wg *wg; /* the open device; the null backend: no NAT layer */
	/* The node's advertised endpoints (owned by the caller): discovery
	 * rewrites them in place, before calling endpoints_cb. */
	struct wm_endpoint *endpoints;
	size_t *n_endpoints;
	/* The server to signal through (a member's: the one it follows),
	 * asked anew for every signal; NULL while there is none. A node that
	 * serves the Signaling service itself (serves_signaling true: a
	 * server) signals through a client of its local socket, kept here. */
	struct wm_rpc_client *(*signaling_client)(void *data);
	bool (*serves_signaling)(void *data);
	/* A peer's path changed (it moved to ICE): the device's endpoints for
	 * it must be rewritten (wm_node_nat_rewrite) and applied. */
	void (*nat_changed_cb)(void *data);
	/* A later discovery round finished (not the first, which goes to
	 * wm_traversal_discover's done); changed: the endpoints differ from
	 * the round before. The mesh may still lack an earlier change. */
	void (*endpoints_cb)(void *data, bool changed);
	/* False once the node is stopping: no new round starts. */
	bool (*running)(void *data);
	/* The libp2p host (NULL without libp2p): pairs go over it where the
	 * path machine says so (WireGuard over libp2p). */
	struct wm_p2p *p2p;
	void *data;
};

struct wm_traversal {
	struct wm_traversal_config c;
	struct wm_node_nat *nat;	       /* NULL with the null backend */
	struct wm_nat_discover_req *discovery; /* running now */
	void (*discovered)(void *data);	       /* the first discovery is done */
	uv_timer_t timer;		       /* endpoints discovered again (roaming) */
	struct wm_rpc_client *local_client;    /* our own socket, on a server */
	bool closed;
};

/* Starts the NAT layer on c->wg (nothing with the null backend) and the
 * refresh timer; 0, or -errno with err filled. Close it even on failure. */
int wm_traversal_init(struct wm_traversal *t, const struct wm_traversal_config *c, char *err,
		      size_t errlen);
/* Discovers this node's endpoints (interfaces, STUN), then calls done(data)
 * once (from within this call when there is nothing to discover); later
 * rounds, every endpoint-refresh seconds, go to endpoints_cb. */
void wm_traversal_discover(struct wm_traversal *t, void (*done)(void *data));
/* Shutdown: ends ICE sessions (BYE to the peers); done_cb once all is gone. */
void wm_traversal_close(struct wm_traversal *t, void (*done_cb)(void *data), void *data);

#endif
