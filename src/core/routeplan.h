/* Which kernel routes a node needs beside its WireGuard peers (pure).
 *
 * WireGuard's allowed IPs decide which peer a packet goes to once it is in the
 * interface; the kernel's routing table decides whether it goes into the
 * interface at all. The mesh networks get there by the interface addresses'
 * prefix routes. Everything else a peer carries (networks advertised behind
 * nodes, an exit node's default route) needs a route of its own, and a
 * default route through the mesh must not capture the tunnel's own packets to
 * the peers' endpoints: those get host routes pinned to the underlay.
 */
#ifndef WM_CORE_ROUTEPLAN_H
#define WM_CORE_ROUTEPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"
#include "core/wgconf.h"

/* A route of the main table as the planner sees it. */
struct wm_route {
	struct wm_prefix dst;	  /* network form */
	struct wm_prefix gateway; /* family 0: on-link */
	int ifindex;
	uint32_t metric;
	uint8_t protocol; /* RTPROT_* of whoever installed it */
};

struct wm_route_plan_in {
	const struct wm_wg_device *desired; /* peers, their allowed IPs and endpoints */
	const struct wm_prefix *mesh;	    /* the mesh networks */
	size_t n_mesh;
	/* This host's own addresses outside the tunnel: a network containing one
	 * is one the host is on, and is never routed into the tunnel. */
	const struct wm_prefix *local;
	size_t n_local;
	bool use_exit; /* send default traffic to the peer that carries 0.0.0.0/0 (::/0) */
	/* The underlay: main-table routes, without the tunnel's and the pins. */
	const struct wm_route *underlay;
	size_t n_underlay;
};

struct wm_route_plan {
	/* Routes into the tunnel, sorted and unique. A default route is planned
	 * as its two halves (0.0.0.0/1 and 128.0.0.0/1, ::/1 and 8000::/1): more
	 * specific than the host's default route, which stays untouched, so
	 * removing them restores the host exactly and a crash leaves no hole. */
	struct wm_prefix *tunnel;
	size_t n_tunnel;
	/* Host routes (/32, /128) to every peer endpoint that a tunnel route
	 * covers, through the underlay route that carries it now (longest
	 * prefix, then lowest metric); sorted by destination. */
	struct wm_route *pins;
	size_t n_pins;
	size_t n_unpinned;     /* covered endpoints with no underlay route at all */
	size_t n_skipped;      /* allowed IPs left out: containing a local address */
	bool exit_v4, exit_v6; /* default traffic goes into the tunnel */
};

/* Fills out (freed with wm_route_plan_free). 0, -EINVAL, -ENOMEM. */
int wm_route_plan(const struct wm_route_plan_in *in, struct wm_route_plan *out);
void wm_route_plan_free(struct wm_route_plan *plan);
/* The underlay route a packet to addr takes (longest prefix, lowest metric),
 * or NULL. */
const struct wm_route *wm_route_lookup(const struct wm_route *routes, size_t n,
				       const struct wm_prefix *addr);

#endif
