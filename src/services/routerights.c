/* The leader's half of route rights: which other nodes' routes a write may
 * overlap, from the caller's RBAC rights. */
#include "services/routerights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/routeclaim.h"
#include "services/gate.h"
#include "services/services_int.h"
#include "util/log.h"

_Static_assert(sizeof(((struct wm_route_rights *)0)->ids[0]) >= WM_NODE_ID_MAX + 1,
	       "route owner IDs fit");

struct decide_ctx {
	struct wm_store *store;
	const struct wm_identity *id;
	struct wm_route_rights *out;
	size_t cap;
};

/* Asked once per overlapping pair: a yes is remembered in out, so an owner's
 * right is looked up once. */
static bool may_override(void *data, const char *owner)
{
	struct decide_ctx *c = data;
	struct wm_route_rights *o = c->out;

	for (size_t i = 0; i < o->n_owners; i++)
		if (strcmp(o->owners[i], owner) == 0)
			return true;
	if (!wm_gate_allowed(c->store, c->id, "put", "routes", owner))
		return false;
	if (o->n_owners == c->cap)
		return false; /* cannot happen: one slot per node */
	snprintf(o->ids[o->n_owners], sizeof(o->ids[0]), "%s", owner);
	o->owners[o->n_owners] = o->ids[o->n_owners];
	o->n_owners++;
	return true;
}

int wm_route_rights_decide(struct wm_services *s, struct wm_rpc_call *call, const char *node_id,
			   char *const *routes, size_t n_routes, struct wm_route_rights *out,
			   char *why, size_t whylen)
{
	const struct wm_identity *id = wm_gate_caller(call);
	struct wm_store_status st;
	struct wm_mesh_node *nodes = NULL;
	struct wm_route_claim *claims = NULL;
	struct wm_prefix p[WM_MAX_ROUTES];
	size_t n = 0, n_claims = 0, bad_route = 0, bad_claim = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if (n_routes == 0)
		return 0;
	if (!s->cfg.store)
		return 1;
	wm_store_status(s->cfg.store, &st);
	if (!st.is_leader)
		return 1;
	/* Not behind the gate: only the local socket registers methods so. The
	 * local administrator and an open mesh may do everything. */
	if (!id || id->local || id->anonymous ||
	    wm_gate_allowed(s->cfg.store, id, "put", "routes", "*")) {
		out->any = true;
		return 0;
	}
	if (n_routes > WM_MAX_ROUTES)
		return -EINVAL;
	for (size_t i = 0; i < n_routes; i++)
		if (wm_route_parse(routes[i], &p[i]) < 0)
			return -EINVAL;
	r = wm_store_list_nodes(s->cfg.store, &nodes, &n);
	if (r < 0)
		return r;
	claims = calloc(n * WM_MAX_ROUTES + 1, sizeof(*claims));
	out->ids = calloc(n + 1, sizeof(*out->ids));
	out->owners = calloc(n + 1, sizeof(*out->owners));
	if (!claims || !out->ids || !out->owners) {
		r = -ENOMEM;
		goto done;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < nodes[i].n_routes; k++)
			claims[n_claims++] =
				(struct wm_route_claim){nodes[i].id, nodes[i].routes[k]};
	struct decide_ctx c = {s->cfg.store, id, out, n};
	r = wm_route_claims_check(node_id, p, n_routes, claims, n_claims, may_override, &c,
				  &bad_route, &bad_claim);
	if (r == -EACCES)
		wm_route_claim_why(&p[bad_route], &claims[bad_claim], why, whylen);
done:
	free(claims);
	free(nodes);
	if (r < 0)
		wm_route_rights_free(out);
	return r;
}

void wm_route_rights_free(struct wm_route_rights *r)
{
	free(r->owners);
	free(r->ids);
	memset(r, 0, sizeof(*r));
}

int wm_gate_join_routes(struct wm_store *store, const struct wm_identity *id, const char *node,
			char *why, size_t whylen)
{
	if (wm_gate_allowed(store, id, "put", "routes", node))
		return 0;
	snprintf(why, whylen, "%.64s may not advertise routes: it needs put routes %.64s",
		 id->id[0] ? id->id : id->method, node);
	return WM_GRPC_PERMISSION_DENIED;
}
