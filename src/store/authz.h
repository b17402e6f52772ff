/* The stored RBAC objects and network ACLs: a snapshot the pure evaluators
 * of core/rbac.h and core/acl.h take, and the shortcuts callers need. */
#ifndef WM_STORE_AUTHZ_H
#define WM_STORE_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>

#include "core/acl.h"
#include "core/meshauth.h"
#include "core/rbac.h"
#include "store/store.h"

struct wm_fsm;

/* Everything, sorted by name; owns its strings. */
struct wm_authz_snapshot {
	struct wm_rbac_role *roles;
	size_t n_roles;
	struct wm_rbac_binding *bindings;
	size_t n_bindings;
	struct wm_rbac_group *groups;
	size_t n_groups;
	struct wm_acl *acls;
	size_t n_acls;
	bool bootstrapped;   /* BootstrapAuthzCommand applied */
	bool default_accept; /* the default network policy */
	bool has_mesh_auth;  /* the mesh recorded its authentication settings */
	struct wm_mesh_auth mesh_auth;
	const char **denied; /* node IDs an administrator removed, sorted */
	size_t n_denied;
	char **strings; /* every string above, freed with the snapshot */
	size_t n_strings, cap_strings;
};

/* The snapshot of the FSM's state (fsm_read.c). */
int wm_fsm_authz_load(struct wm_fsm *f, struct wm_authz_snapshot *out);
/* True when node_id is on the snapshot's deny list. */
bool wm_authz_denied(const struct wm_authz_snapshot *snap, const char *node_id);
void wm_authz_snapshot_free(struct wm_authz_snapshot *snap);

/* Views over a snapshot for the evaluators (borrowing its strings). */
struct wm_rbac_policy wm_authz_policy(const struct wm_authz_snapshot *snap);
/* ACL node groups are the stored RBAC groups (node subjects). */
struct wm_acl_set wm_authz_acl_set(const struct wm_authz_snapshot *snap);

/* The snapshot of a store: wm_store_authz_load (store_api.def). */

/* One-shot check against the current state: 1 allowed, 0 denied, negative on
 * a read error (callers deny). Written over the store's functions, here, so
 * that it serves the store linked in (tests) and the loaded module (webmeshd)
 * alike and no store provider has to write it. */
static inline int wm_store_rbac_check(struct wm_store *s, const struct wm_rbac_who *who,
				      const char *verb, const char *resource, const char *name)
{
	struct wm_authz_snapshot snap;
	int r = wm_store_authz_load(s, &snap);
	if (r < 0)
		return r;
	struct wm_rbac_policy p = wm_authz_policy(&snap);
	r = wm_rbac_allowed(&p, who, verb, resource, name) ? 1 : 0;
	wm_authz_snapshot_free(&snap);
	return r;
}

#endif
