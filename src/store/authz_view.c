/* Views over an authorization snapshot (store/authz.h): pure, so that the
 * daemon has them without loading the store module. */
#include "store/authz.h"

#include <stdlib.h>
#include <string.h>

void wm_authz_snapshot_free(struct wm_authz_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_strings; i++)
		free(s->strings[i]);
	free(s->strings);
	free(s->roles);
	free(s->bindings);
	free(s->groups);
	free(s->acls);
	free(s->denied);
	memset(s, 0, sizeof(*s));
}

bool wm_authz_denied(const struct wm_authz_snapshot *s, const char *node_id)
{
	for (size_t i = 0; node_id && i < s->n_denied; i++)
		if (strcmp(s->denied[i], node_id) == 0)
			return true;
	return false;
}

struct wm_rbac_policy wm_authz_policy(const struct wm_authz_snapshot *s)
{
	struct wm_rbac_policy p = {s->roles,	  s->n_roles, s->bindings,
				   s->n_bindings, s->groups,  s->n_groups};
	return p;
}

static bool node_in_group(void *ctx, const char *group, const char *node_id)
{
	const struct wm_authz_snapshot *s = ctx;
	struct wm_rbac_policy p = wm_authz_policy(s);
	struct wm_rbac_who who = {.id = node_id, .kind = WM_ID_NODE};
	return wm_rbac_in_group(&p, &who, group);
}

struct wm_acl_set wm_authz_acl_set(const struct wm_authz_snapshot *s)
{
	struct wm_acl_set a = {s->acls, s->n_acls, s->default_accept, node_in_group, (void *)s};
	return a;
}
