/* What a node does on the host for the traffic of its peers beyond the
 * WireGuard device itself: kernel routes for networks behind other nodes and
 * for an exit node (with endpoint pins), IP forwarding when it carries
 * traffic for others, and masquerading towards the networks it advertises. */
#ifndef WM_NODE_ROUTES_H
#define WM_NODE_ROUTES_H

#include <stdbool.h>
#include <stddef.h>

struct wm_daemon;

/* Brings the host in line with d->desired and what the servers said about
 * this node (wm_routes_set_self). Called by wm_netconf_apply_peers after every
 * peer update; cheap when nothing changed. Does nothing with the null
 * backend. Failures are logged and retried on the next call; returns the
 * first one. */
int wm_routes_sync(struct wm_daemon *d);
/* What the servers computed for this node: whether it carries traffic for
 * others, and every network it advertises (PeerConfigurations.forwarding and
 * .own_routes, or the JoinResponse's). Takes effect on the next sync. */
void wm_routes_set_self(struct wm_daemon *d, bool forwarding, char *const *own_routes,
			size_t n_own_routes);
/* Removes every route and NAT table sync installed and forgets d (shutdown,
 * before the interface goes). IP forwarding is left as it is: other software
 * may rely on it by then. Safe to call more than once, or never synced. */
void wm_routes_cleanup(struct wm_daemon *d);

#endif
