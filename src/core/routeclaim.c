/* Overlapping routes of different nodes: who may take whose traffic. */
#include "core/routeclaim.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Does self advertise route already? Then it takes nothing new: a node that
 * comes back with the routes it had must not need rights over routes others
 * put later (an exit node's /0 overlaps every route). */
static bool held(const char *self, const struct wm_prefix *route,
		 const struct wm_route_claim *claims, size_t n_claims)
{
	struct wm_prefix r = wm_prefix_network(route);

	for (size_t j = 0; self && j < n_claims; j++) {
		if (!claims[j].owner || strcmp(claims[j].owner, self) != 0)
			continue;
		struct wm_prefix c = wm_prefix_network(&claims[j].prefix);
		if (wm_prefix_equal(&r, &c))
			return true;
	}
	return false;
}

int wm_route_claims_check(const char *self, const struct wm_prefix *routes, size_t n_routes,
			  const struct wm_route_claim *claims, size_t n_claims,
			  wm_route_override_fn may, void *ctx, size_t *route, size_t *claim)
{
	if ((n_routes && !routes) || (n_claims && !claims) || !may)
		return -EINVAL;
	for (size_t i = 0; i < n_routes; i++) {
		if (held(self, &routes[i], claims, n_claims))
			continue;
		for (size_t j = 0; j < n_claims; j++) {
			const struct wm_route_claim *c = &claims[j];
			if (!c->owner || (self && strcmp(c->owner, self) == 0))
				continue;
			if (!wm_prefix_overlaps(&routes[i], &c->prefix))
				continue;
			if (may(ctx, c->owner))
				continue;
			if (route)
				*route = i;
			if (claim)
				*claim = j;
			return -EACCES;
		}
	}
	return 0;
}

bool wm_route_overrides_has(void *ctx, const char *owner)
{
	const struct wm_route_overrides *o = ctx;

	if (o->any)
		return true;
	for (size_t i = 0; i < o->n_owners; i++)
		if (o->owners[i] && strcmp(o->owners[i], owner) == 0)
			return true;
	return false;
}

void wm_route_claim_why(const struct wm_prefix *route, const struct wm_route_claim *claim,
			char *out, size_t len)
{
	char r[WM_PREFIX_STRLEN] = "?", c[WM_PREFIX_STRLEN] = "?";
	struct wm_prefix rn = wm_prefix_network(route), cn = wm_prefix_network(&claim->prefix);

	wm_prefix_format(&rn, r, sizeof(r));
	wm_prefix_format(&cn, c, sizeof(c));
	snprintf(out, len, "route %s overlaps %s of node %.64s: putting it needs put routes %.64s",
		 r, c, claim->owner, claim->owner);
}
