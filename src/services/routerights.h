/* Rights to routes (issue 10): advertising routes needs put routes on the
 * node they go behind, and a route that overlaps another node's needs put
 * routes on that node too (core/routeclaim.h says why). The leader decides
 * from the caller's rights and writes its decision into the command; the FSM
 * checks the command against the state it meets (wm_fsm_route_claims_check),
 * so a route another node puts between the two is refused on every replica
 * alike. Only the leader knows the caller; a right revoked between its
 * decision and the entry is not seen again: the entry carries what the caller
 * held when it asked. */
#ifndef WM_SERVICES_ROUTERIGHTS_H
#define WM_SERVICES_ROUTERIGHTS_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth.h"
#include "store/store.h"

struct wm_services;

/* The owners whose routes a command's routes may overlap. */
struct wm_route_rights {
	bool any;      /* the caller may put routes over every node's */
	char **owners; /* node IDs (into ids), for the command's route_overrides */
	size_t n_owners;
	char (*ids)[64];
};

/* Decides, on the leader, with the caller of the running handler
 * (wm_gate_caller): 0 with out filled (free it with wm_route_rights_free),
 * 1 when this server does not lead (out empty: the write is forwarded and the
 * leader decides), -EACCES with the refusal in why (the first route that
 * overlaps another node's without the right), or another negative error. */
int wm_route_rights_decide(struct wm_services *s, struct wm_rpc_call *call, const char *node_id,
			   char *const *routes, size_t n_routes, struct wm_route_rights *out,
			   char *why, size_t whylen);
void wm_route_rights_free(struct wm_route_rights *r);

/* The gate's rule for a Join that advertises routes: 0 when id may put
 * routes on node, else PERMISSION_DENIED with why. */
int wm_gate_join_routes(struct wm_store *store, const struct wm_identity *id, const char *node,
			char *why, size_t whylen);

#endif
