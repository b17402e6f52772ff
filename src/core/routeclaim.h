/* Routes as claims on address space: a route that overlaps a route another
 * node advertises takes traffic from it (longest prefix wins: 10.1.0.0/17 and
 * 10.1.128.0/17 take all of another node's 10.1.0.0/16; 0.0.0.0/1 and
 * 128.0.0.0/1 all of an exit node's 0.0.0.0/0), and a wider one competes with
 * it. So advertising a route that overlaps another node's, either way round,
 * needs the right to put routes over that node. Pure. */
#ifndef WM_CORE_ROUTECLAIM_H
#define WM_CORE_ROUTECLAIM_H

#include <stdbool.h>
#include <stddef.h>

#include "core/net.h"

/* One route a node advertises (its own or one put for it). */
struct wm_route_claim {
	const char *owner; /* node ID */
	struct wm_prefix prefix;
};

/* May the routes' writer put routes over owner's? */
typedef bool (*wm_route_override_fn)(void *ctx, const char *owner);

/* Checks the routes node self is to advertise against every claim (self's
 * own are skipped: a node does not take traffic from itself; so is a route
 * self advertises already: it takes nothing new). For each route
 * and each claim of another node that overlaps it (same family, one contains
 * the other: equal prefixes too), in that order, asks may(ctx, owner); stops
 * at the first no. Returns 0, or -EACCES with *route and *claim the indices
 * of that route and claim (either may be NULL). -EINVAL for NULL arguments
 * where n > 0. */
int wm_route_claims_check(const char *self, const struct wm_prefix *routes, size_t n_routes,
			  const struct wm_route_claim *claims, size_t n_claims,
			  wm_route_override_fn may, void *ctx, size_t *route, size_t *claim);

/* A wm_route_override_fn over a list of owners, for the FSM's re-check. */
struct wm_route_overrides {
	bool any; /* every owner */
	const char *const *owners;
	size_t n_owners;
};
bool wm_route_overrides_has(void *ctx, const char *owner);

/* The refusal: "route R overlaps P of node O: putting it needs put routes O". */
void wm_route_claim_why(const struct wm_prefix *route, const struct wm_route_claim *claim,
			char *out, size_t len);

#endif
