/* A node's WireGuard peers computed from the store: the one place where the
 * graph becomes peer configurations, for Join, subscriptions and servers. */
#include "services/services_int.h"

#include <errno.h>
#include <stdlib.h>

#include "core/peers.h"
#include "services/convert.h"

int wm_services_peer_config(struct wm_store *store, const char *node_id, struct wm_arena *a,
			    Webmesh__V1__PeerConfigurations *out)
{
	struct wm_mesh_node *nodes = NULL;
	struct wm_mesh_edge *edges = NULL;
	size_t n_nodes = 0, n_edges = 0;
	struct wm_peer_set set = {0};
	int err = wm_store_list_nodes(store, &nodes, &n_nodes);
	if (!err)
		err = wm_store_list_edges(store, &edges, &n_edges);
	if (!err)
		err = wm_peers_compute(nodes, n_nodes, edges, n_edges, node_id, &set);
	if (!err) {
		webmesh__v1__peer_configurations__init(out);
		err = wm_pb_peers_new(a, nodes, &set, &out->peers, &out->n_peers);
	}
	wm_peer_set_free(&set);
	free(nodes);
	free(edges);
	return err;
}
