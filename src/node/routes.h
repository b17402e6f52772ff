/* What a node does on the host for the traffic of its peers beyond the
 * WireGuard device itself: kernel routes for networks behind other nodes and
 * for an exit node (with endpoint pins), IP forwarding when it carries
 * traffic for others, and masquerading towards the networks it advertises.
 * A component: created by the daemon's composition, given what it reads at
 * each sync, freed (its routes and NAT tables removed) before the interface
 * goes. */
#ifndef WM_NODE_ROUTES_H
#define WM_NODE_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/mesh.h"
#include "core/net.h"
#include "core/wgconf.h"
#include "wg/wg.h"

struct wm_routes;

struct wm_routes_config {
	const struct wm_config *cfg; /* interface, routes, use-exit-node; borrowed */
	struct wm_wg *wg;	     /* NULL or the null backend: nothing is done */
	/* What the servers compute for this node (whether it forwards, the
	 * networks it advertises, at most WM_MAX_ROUTES), read from the local
	 * replica: asked until wm_routes_set_self is called. NULL, or nothing
	 * filled in: no replica. */
	void (*self_from_replica)(void *data, bool *forwarding, struct wm_prefix *own,
				  size_t *n_own);
	void *data;
};

/* 0 or -ENOMEM. */
int wm_routes_new(const struct wm_routes_config *c, struct wm_routes **out);
/* Brings the host in line with desired (the peers and their allowed IPs)
 * and what the servers said about this node (wm_routes_set_self). Called
 * after every peer update; cheap when nothing changed. Failures are logged
 * and retried on the next call; returns the first one. r NULL: nothing. */
int wm_routes_sync(struct wm_routes *r, const struct wm_wg_device *desired,
		   const struct wm_mesh_info *mesh);
/* What the servers computed for this node: whether it carries traffic for
 * others, and every network it advertises (PeerConfigurations.forwarding and
 * .own_routes, or the JoinResponse's). Takes effect on the next sync. */
void wm_routes_set_self(struct wm_routes *r, bool forwarding, char *const *own_routes,
			size_t n_own_routes);
/* Removes every route and NAT table sync installed and frees r (NULL ok).
 * IP forwarding is left as it is: other software may rely on it by then. */
void wm_routes_free(struct wm_routes *r);

#endif
