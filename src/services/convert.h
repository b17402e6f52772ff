/* Between the core mesh model and the API's protobuf messages. Strings of the
 * built messages live in the arena given; nothing else needs freeing. */
#ifndef WM_SERVICES_CONVERT_H
#define WM_SERVICES_CONVERT_H

#include <stddef.h>

#include "core/mesh.h"
#include "core/peers.h"
#include "store/store.h"
#include "util/arena.h"
#include "webmesh/v1/mesh.pb-c.h"

/* Builds an initialised MeshNode message for node. NULL on ENOMEM. */
Webmesh__V1__MeshNode *wm_pb_node_new(struct wm_arena *a, const struct wm_mesh_node *node);
/* The WireGuard peers of a computed peer set as messages (endpoint: the node's
 * first advertised endpoint). Returns 0 or -ENOMEM. */
int wm_pb_peers_new(struct wm_arena *a, const struct wm_mesh_node *nodes,
		    const struct wm_peer_set *set, Webmesh__V1__WireGuardPeer ***out,
		    size_t *n_out);
/* Text forms from the arena; "" for an unset prefix. */
char *wm_pb_prefix(struct wm_arena *a, const struct wm_prefix *p);
char *wm_pb_endpoint(struct wm_arena *a, const struct wm_endpoint *e);

/* The gRPC status for one of our negative error codes. */
int wm_grpc_status_from_err(int err);

/* Hangs on e the attributes of its edge (wm_store_list_edge_attrs, ordered
 * like the edges): one cursor (*pos, start at 0) walks attrs once for the
 * whole list. Strings from a. */
void wm_pb_edge_add_attrs(struct wm_arena *a, Webmesh__V1__MeshEdge *e,
			  const struct wm_edge_attr *attrs, size_t n, size_t *pos);

#endif
