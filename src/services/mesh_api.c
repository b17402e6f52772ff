/* Mesh.GetNode, Mesh.ListNodes, Mesh.GetMeshGraph: reads from the local
 * replica on servers, proxied to the upstream server on plain members. */
#include "services/services_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/ids.h"
#include "services/convert.h"

void wm_mesh_get_node(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__GetNodeRequest *r = (Webmesh__V1__GetNodeRequest *)wm_services_decode_id(
		call, &webmesh__v1__get_node_request__descriptor, req, len);
	if (!r)
		return;
	char why[160];
	if (!s->cfg.store) {
		webmesh__v1__get_node_request__free_unpacked(r, NULL);
		wm_services_proxy(s, call, req, len);
		return;
	}
	if (wm_services_refuse_behind(s, call)) {
		webmesh__v1__get_node_request__free_unpacked(r, NULL);
		return;
	}
	struct wm_mesh_node node;
	int err = wm_store_get_node(s->cfg.store, r->id, &node);
	if (err) {
		snprintf(why, sizeof(why), "node %s is not in the mesh", r->id);
		webmesh__v1__get_node_request__free_unpacked(r, NULL);
		wm_services_fail(call, err, err == -ENOENT ? why : NULL);
		return;
	}
	webmesh__v1__get_node_request__free_unpacked(r, NULL);
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__MeshNode *m = wm_pb_node_new(&a, &node);
	if (m)
		wm_services_reply(call, &m->base);
	else
		wm_services_fail(call, -ENOMEM, NULL);
	wm_arena_free(&a);
}

/* Nodes (and edges, if asked) of the local replica as messages. */
static int load_graph(struct wm_store *store, struct wm_arena *a, Webmesh__V1__MeshGraph *g,
		      bool with_edges)
{
	struct wm_mesh_node *nodes = NULL;
	struct wm_mesh_edge *edges = NULL;
	struct wm_edge_attr *attrs = NULL;
	size_t n_nodes = 0, n_edges = 0, n_attrs = 0, pos = 0;
	int err = wm_store_list_nodes(store, &nodes, &n_nodes);
	if (!err && with_edges)
		err = wm_store_list_edges(store, &edges, &n_edges);
	if (!err && with_edges)
		err = wm_store_list_edge_attrs(store, &attrs, &n_attrs);
	if (!err) {
		g->nodes = wm_arena_alloc(a, sizeof(*g->nodes) * (n_nodes + 1));
		g->edges = wm_arena_alloc(a, sizeof(*g->edges) * (n_edges + 1));
		for (size_t i = 0; g->nodes && i < n_nodes; i++)
			g->nodes[i] = wm_pb_node_new(a, &nodes[i]);
		for (size_t i = 0; g->edges && i < n_edges; i++) {
			Webmesh__V1__MeshEdge *e = wm_arena_alloc(a, sizeof(*e));
			if (!e)
				break;
			webmesh__v1__mesh_edge__init(e);
			e->source = wm_arena_strdup(a, edges[i].source);
			e->target = wm_arena_strdup(a, edges[i].target);
			e->weight = edges[i].weight;
			wm_pb_edge_add_attrs(a, e, attrs, n_attrs, &pos);
			g->edges[i] = e;
		}
		g->n_nodes = n_nodes;
		g->n_edges = n_edges;
		if (a->failed)
			err = -ENOMEM;
	}
	free(nodes);
	free(edges);
	free(attrs);
	return err;
}

/* ListNodes and GetMeshGraph: the request carries nothing but must decode
 * (desc), then the answer is the graph, without edges for ListNodes. */
static void serve_graph(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
			size_t len, const ProtobufCMessageDescriptor *desc, bool nodes_only)
{
	ProtobufCMessage *r = protobuf_c_message_unpack(desc, NULL, len, req);
	if (!r) {
		char why[96];
		snprintf(why, sizeof(why), "malformed %s", desc->short_name);
		wm_services_fail(call, -EINVAL, why);
		return;
	}
	protobuf_c_message_free_unpacked(r, NULL);
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return;
	}
	if (wm_services_refuse_behind(s, call))
		return;
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__MeshGraph g = WEBMESH__V1__MESH_GRAPH__INIT;
	Webmesh__V1__ListNodesResponse list = WEBMESH__V1__LIST_NODES_RESPONSE__INIT;
	int err = load_graph(s->cfg.store, &a, &g, !nodes_only);
	if (err) {
		wm_services_fail(call, err, NULL);
	} else if (nodes_only) {
		list.nodes = g.nodes;
		list.n_nodes = g.n_nodes;
		wm_services_reply(call, &list.base);
	} else {
		wm_services_reply(call, &g.base);
	}
	wm_arena_free(&a);
}

void wm_mesh_list_nodes(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	serve_graph(data, call, req, len, &webmesh__v1__list_nodes_request__descriptor, true);
}

void wm_mesh_get_graph(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	serve_graph(data, call, req, len, &webmesh__v1__get_mesh_graph_request__descriptor, false);
}
