/* What a node must know before it can reach the mesh again: its networks
 * and addresses (STATE_DIR/mesh.state, meshstate.c). */
#ifndef WM_NODE_MESHSTATE_H
#define WM_NODE_MESHSTATE_H

#include "core/mesh.h"
#include "core/net.h"

int wm_meshstate_load(const char *state_dir, struct wm_mesh_info *mesh, struct wm_prefix *ipv4,
		      struct wm_prefix *ipv6);
int wm_meshstate_save(const char *state_dir, const struct wm_mesh_info *mesh,
		      const struct wm_prefix *ipv4, const struct wm_prefix *ipv6);
int wm_meshstate_remove(const char *state_dir);

#endif
