/* The Admin service: edges of the graph and routes behind nodes, validated
 * here and applied through Raft (forwarded to the leader by any server). */
#include "services/admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ids.h"
#include "services/convert.h"
#include "services/routerights.h"
#include "util/log.h"
#include "webmesh/v1/admin.pb-c.h"

#define ATTR_MAX WM_EDGE_ATTR_MAX
#define ATTR_KEY_MAX WM_EDGE_ATTR_KEY_MAX
#define ATTR_VALUE_MAX WM_EDGE_ATTR_VALUE_MAX

static void applied_cb(void *data, const struct wm_store_result *res)
{
	struct wm_rpc_call *call = data;

	if (res->err) {
		wm_services_fail(call, res->err, res->message);
		return;
	}
	Webmesh__V1__AdminWriteResponse resp = WEBMESH__V1__ADMIN_WRITE_RESPONSE__INIT;
	resp.index = res->index;
	wm_services_reply(call, &resp.base);
}

/* Every Admin write goes through here: applied locally on the leader, the
 * original request forwarded to the leader (or, from a plain member, to its
 * server) anywhere else. */
void wm_admin_apply(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req, size_t len,
		    const Webmesh__V1__RaftCommand *cmd)
{
	if (!s->cfg.store) {
		wm_services_forward(s, call, req, len);
		return;
	}
	int err = wm_store_apply(s->cfg.store, cmd, applied_cb, call);
	if (err == -WM_ENOTLEADER)
		wm_services_forward(s, call, req, len);
	else if (err)
		wm_services_fail(call, err, NULL);
}

static int check_id(const char *what, const char *id, char *why, size_t len)
{
	const char *reason = NULL;

	if (wm_node_id_check(id, &reason) == 0)
		return 0;
	snprintf(why, len, "invalid %snode ID \"%.64s\": %s", what, id, reason);
	return -EINVAL;
}

static int check_pair(const char *a, const char *b, char *why, size_t len)
{
	if (check_id("source ", a, why, len) < 0 || check_id("target ", b, why, len) < 0)
		return -EINVAL;
	if (strcmp(a, b) == 0) {
		snprintf(why, len, "an edge needs two different nodes (got %s twice)", a);
		return -EINVAL;
	}
	return 0;
}

static int check_attrs(const Webmesh__V1__PutEdgeRequest *r, char *why, size_t len)
{
	if (r->n_attributes > ATTR_MAX) {
		snprintf(why, len, "too many edge attributes: %zu (at most %d)", r->n_attributes,
			 ATTR_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->n_attributes; i++) {
		const char *k = r->attributes[i]->key, *v = r->attributes[i]->value;
		bool ok = wm_edge_attr_key_check(k, NULL) == 0;

		if (!ok) {
			snprintf(why, len,
				 "invalid edge attribute key \"%.64s\": 1 to %d of A-Z a-z 0-9 - _ "
				 ". /",
				 k, ATTR_KEY_MAX);
			return -EINVAL;
		}
		if (strnlen(v, ATTR_VALUE_MAX + 1) > ATTR_VALUE_MAX) {
			snprintf(why, len, "edge attribute %s is longer than %d bytes", k,
				 ATTR_VALUE_MAX);
			return -EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(r->attributes[j]->key, k) == 0) {
				snprintf(why, len, "edge attribute %s is given twice", k);
				return -EINVAL;
			}
		}
	}
	return 0;
}

void wm_admin_put_edge(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__PutEdgeRequest *r = webmesh__v1__put_edge_request__unpack(NULL, len, req);
	char why[256];
	int err;

	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed PutEdgeRequest");
		return;
	}
	err = check_pair(r->source, r->target, why, sizeof(why));
	if (!err && r->weight < 1) {
		snprintf(why, sizeof(why), "edge weight must be at least 1 (got %d)", r->weight);
		err = -EINVAL;
	}
	if (!err)
		err = check_attrs(r, why, sizeof(why));
	if (err) {
		webmesh__v1__put_edge_request__free_unpacked(r, NULL);
		wm_services_fail(call, err, why);
		return;
	}
	Webmesh__V1__PutEdgeCommand pe = WEBMESH__V1__PUT_EDGE_COMMAND__INIT;
	pe.source = r->source;
	pe.target = r->target;
	pe.weight = r->weight;
	/* The request's map entries have the command's layout but another type:
	 * copy them as the command's. */
	Webmesh__V1__PutEdgeCommand__AttributesEntry *entries =
		calloc(r->n_attributes + 1, sizeof(*entries));
	Webmesh__V1__PutEdgeCommand__AttributesEntry **ptrs =
		calloc(r->n_attributes + 1, sizeof(*ptrs));
	if (!entries || !ptrs) {
		free(entries);
		free(ptrs);
		webmesh__v1__put_edge_request__free_unpacked(r, NULL);
		wm_services_fail(call, -ENOMEM, NULL);
		return;
	}
	for (size_t i = 0; i < r->n_attributes; i++) {
		webmesh__v1__put_edge_command__attributes_entry__init(&entries[i]);
		entries[i].key = r->attributes[i]->key;
		entries[i].value = r->attributes[i]->value;
		ptrs[i] = &entries[i];
	}
	pe.attributes = ptrs;
	pe.n_attributes = r->n_attributes;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
	cmd.put_edge = &pe;
	wm_admin_apply(s, call, req, len, &cmd);
	free(entries);
	free(ptrs);
	webmesh__v1__put_edge_request__free_unpacked(r, NULL);
}

void wm_admin_delete_edge(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__DeleteEdgeRequest *r =
		webmesh__v1__delete_edge_request__unpack(NULL, len, req);
	char why[256];

	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed DeleteEdgeRequest");
		return;
	}
	int err = check_pair(r->source, r->target, why, sizeof(why));
	if (err) {
		webmesh__v1__delete_edge_request__free_unpacked(r, NULL);
		wm_services_fail(call, err, why);
		return;
	}
	Webmesh__V1__DeleteEdgeCommand de = WEBMESH__V1__DELETE_EDGE_COMMAND__INIT;
	de.source = r->source;
	de.target = r->target;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE;
	cmd.delete_edge = &de;
	wm_admin_apply(s, call, req, len, &cmd);
	webmesh__v1__delete_edge_request__free_unpacked(r, NULL);
}

void wm_admin_list_edges(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__ListEdgesRequest *r = webmesh__v1__list_edges_request__unpack(NULL, len, req);

	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed ListEdgesRequest");
		return;
	}
	webmesh__v1__list_edges_request__free_unpacked(r, NULL);
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return;
	}
	struct wm_mesh_edge *edges = NULL;
	struct wm_edge_attr *attrs = NULL;
	size_t n = 0, n_attrs = 0, pos = 0;
	int err = wm_store_list_edges(s->cfg.store, &edges, &n);
	if (!err)
		err = wm_store_list_edge_attrs(s->cfg.store, &attrs, &n_attrs);
	if (err) {
		free(edges);
		wm_services_fail(call, err, NULL);
		return;
	}
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__ListEdgesResponse resp = WEBMESH__V1__LIST_EDGES_RESPONSE__INIT;
	resp.edges = wm_arena_alloc(&a, sizeof(*resp.edges) * (n + 1));
	for (size_t i = 0; resp.edges && i < n; i++) {
		Webmesh__V1__MeshEdge *e = wm_arena_alloc(&a, sizeof(*e));
		if (!e)
			break;
		webmesh__v1__mesh_edge__init(e);
		e->source = wm_arena_strdup(&a, edges[i].source);
		e->target = wm_arena_strdup(&a, edges[i].target);
		e->weight = edges[i].weight;
		wm_pb_edge_add_attrs(&a, e, attrs, n_attrs, &pos);
		resp.edges[i] = e;
	}
	resp.n_edges = n;
	if (a.failed)
		wm_services_fail(call, -ENOMEM, NULL);
	else
		wm_services_reply(call, &resp.base);
	wm_arena_free(&a);
	free(edges);
	free(attrs);
}

/* Syntax only: the FSM checks the networks against the mesh's (it knows them). */
static int check_routes(char *const *routes, size_t n, char *why, size_t len)
{
	if (n == 0) {
		snprintf(why, len, "no route given");
		return -EINVAL;
	}
	if (n > WM_MAX_ROUTES) {
		snprintf(why, len, "too many routes: %zu (at most %d)", n, WM_MAX_ROUTES);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct wm_prefix p;
		if (wm_route_parse(routes[i], &p) < 0) {
			snprintf(why, len,
				 "invalid route \"%.64s\": expected a CIDR prefix such as "
				 "10.1.0.0/16, 0.0.0.0/0 or ::/0",
				 routes[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* PutRoute and DeleteRoute carry the same fields and differ only in the
 * command they apply. r is decoded by the caller and freed by it. */
static void write_routes(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
			 size_t len, char *node_id, char **routes, size_t n_routes, bool remove)
{
	char why[256];
	int err = check_id("", node_id, why, sizeof(why));
	if (!err)
		err = check_routes(routes, n_routes, why, sizeof(why));
	if (err) {
		wm_services_fail(call, err, why);
		return;
	}
	Webmesh__V1__PutRoutesCommand pr = WEBMESH__V1__PUT_ROUTES_COMMAND__INIT;
	Webmesh__V1__DeleteRoutesCommand dr = WEBMESH__V1__DELETE_ROUTES_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	if (remove) {
		dr.node_id = node_id;
		dr.routes = routes;
		dr.n_routes = n_routes;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES;
		cmd.delete_routes = &dr;
	} else {
		pr.node_id = node_id;
		pr.routes = routes;
		pr.n_routes = n_routes;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES;
		cmd.put_routes = &pr;
	}
	/* Routes over other nodes' (the gate checked put routes on node_id). */
	struct wm_route_rights rr;
	err = remove ? 0
		     : wm_route_rights_decide(s, call, node_id, routes, n_routes, &rr, why,
					      sizeof(why));
	if (err < 0) {
		wm_services_fail(call, err, err == -EACCES ? why : NULL);
		return;
	}
	if (!remove) {
		pr.route_overrides = rr.owners;
		pr.n_route_overrides = rr.n_owners;
		pr.route_override_any = rr.any;
		pr.route_claims_checked = true;
	}
	wm_admin_apply(s, call, req, len, &cmd);
	if (!remove)
		wm_route_rights_free(&rr);
}

void wm_admin_put_route(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	Webmesh__V1__PutRouteRequest *r = webmesh__v1__put_route_request__unpack(NULL, len, req);
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed PutRouteRequest");
		return;
	}
	write_routes(data, call, req, len, r->node_id, r->routes, r->n_routes, false);
	webmesh__v1__put_route_request__free_unpacked(r, NULL);
}

void wm_admin_delete_route(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	Webmesh__V1__DeleteRouteRequest *r =
		webmesh__v1__delete_route_request__unpack(NULL, len, req);
	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed DeleteRouteRequest");
		return;
	}
	write_routes(data, call, req, len, r->node_id, r->routes, r->n_routes, true);
	webmesh__v1__delete_route_request__free_unpacked(r, NULL);
}

void wm_admin_list_routes(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct wm_services *s = data;
	Webmesh__V1__ListRoutesRequest *r =
		webmesh__v1__list_routes_request__unpack(NULL, len, req);
	char why[256], only[WM_NODE_ID_MAX + 1] = "";

	if (!r) {
		wm_services_fail(call, -EINVAL, "malformed ListRoutesRequest");
		return;
	}
	if (r->node_id[0] && check_id("", r->node_id, why, sizeof(why)) < 0) {
		webmesh__v1__list_routes_request__free_unpacked(r, NULL);
		wm_services_fail(call, -EINVAL, why);
		return;
	}
	snprintf(only, sizeof(only), "%s", r->node_id);
	webmesh__v1__list_routes_request__free_unpacked(r, NULL);
	if (!s->cfg.store) {
		wm_services_proxy(s, call, req, len);
		return;
	}
	struct wm_mesh_node *nodes = NULL;
	size_t n = 0;
	int err = wm_store_list_nodes(s->cfg.store, &nodes, &n);
	if (err) {
		wm_services_fail(call, err, NULL);
		return;
	}
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__ListRoutesResponse resp = WEBMESH__V1__LIST_ROUTES_RESPONSE__INIT;
	resp.nodes = wm_arena_alloc(&a, sizeof(*resp.nodes) * (n + 1));
	bool found = !only[0];
	for (size_t i = 0; resp.nodes && i < n; i++) {
		bool wanted = only[0] ? strcmp(nodes[i].id, only) == 0 : nodes[i].n_routes > 0;
		if (!wanted)
			continue;
		found = true;
		Webmesh__V1__NodeRoutes *nr = wm_arena_alloc(&a, sizeof(*nr));
		if (!nr)
			break;
		webmesh__v1__node_routes__init(nr);
		nr->node_id = wm_arena_strdup(&a, nodes[i].id);
		nr->routes = wm_arena_alloc(&a, sizeof(char *) * (nodes[i].n_routes + 1));
		for (size_t k = 0; nr->routes && k < nodes[i].n_routes; k++)
			nr->routes[k] = wm_pb_prefix(&a, &nodes[i].routes[k]);
		nr->n_routes = nodes[i].n_routes;
		resp.nodes[resp.n_nodes++] = nr;
	}
	if (!found) {
		snprintf(why, sizeof(why), "node %s is not in the mesh", only);
		wm_services_fail(call, -ENOENT, why);
	} else if (a.failed) {
		wm_services_fail(call, -ENOMEM, NULL);
	} else {
		wm_services_reply(call, &resp.base);
	}
	wm_arena_free(&a);
	free(nodes);
}
