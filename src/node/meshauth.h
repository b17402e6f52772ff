/* This node's authentication settings against the mesh's replicated ones
 * (core/meshauth.h): what a bootstrap records, what a server checks. */
#ifndef WM_NODE_MESHAUTH_H
#define WM_NODE_MESHAUTH_H

#include <stddef.h>

#include "core/config.h"
#include "core/meshauth.h"

/* The methods cfg enables, with mtls the fingerprint of its --ca-file.
 * -EINVAL with err when the CA file cannot be read. */
int wm_node_local_auth(const struct wm_config *cfg, struct wm_mesh_auth_local *out, char *err,
		       size_t errlen);
/* For a server (bootstrap, voter, observer, --serve): 0 when cfg enforces
 * mesh exactly; else -EPERM with err naming what to change. */
int wm_node_check_mesh_auth(const struct wm_config *cfg, const struct wm_mesh_auth *mesh, char *err,
			    size_t errlen);
/* Says loudly (warnings) that the mesh is open, or which methods it uses. */
void wm_node_log_mesh_auth(const struct wm_mesh_auth *mesh);

#endif
