/* wmctl delete edge|route: undo what put did (Admin service). */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

#include "core/mesh.h"
#include "webmesh/v1/admin.pb-c.h"
#include "services/paths.h"

static int delete_edge(const struct wm_cli *c)
{
	Webmesh__V1__DeleteEdgeRequest req = WEBMESH__V1__DELETE_EDGE_REQUEST__INIT;
	char done[160];

	if (c->n_args != 3) {
		fprintf(stderr, "usage: wmctl delete edge SOURCE TARGET\n");
		return 2;
	}
	if (wm_cli_check_node_id("node ID", c->args[1]) < 0 ||
	    wm_cli_check_node_id("node ID", c->args[2]) < 0)
		return 2;
	if (strcmp(c->args[1], c->args[2]) == 0) {
		fprintf(stderr, "wmctl: an edge needs two different nodes\n");
		return 2;
	}
	req.source = c->args[1];
	req.target = c->args[2];
	snprintf(done, sizeof(done), "deleted edge %s-%s", c->args[1], c->args[2]);
	return wm_cli_write(c, WM_METHOD_ADMIN_DELETE_EDGE, &req.base, done);
}

static int delete_route(const struct wm_cli *c)
{
	Webmesh__V1__DeleteRouteRequest req = WEBMESH__V1__DELETE_ROUTE_REQUEST__INIT;
	char *routes[WM_MAX_ROUTES];
	char done[128];

	if (wm_cli_route_args(c, "delete", routes, &req.n_routes))
		return 2;
	req.node_id = c->args[1];
	req.routes = routes;
	snprintf(done, sizeof(done), "node %s no longer advertises %zu route%s", c->args[1],
		 req.n_routes, req.n_routes == 1 ? "" : "s");
	return wm_cli_write(c, WM_METHOD_ADMIN_DELETE_ROUTE, &req.base, done);
}

int wm_cmd_delete(const struct wm_cli *c)
{
	const char *what = c->n_args > 0 ? c->args[0] : "";
	if (wm_cli_rbac_owns(what))
		return wm_cli_rbac(c, "delete");
	if (wm_cli_dns_owns(what))
		return wm_cli_dns(c, "delete");

	if (c->output == WM_OUT_DOT) {
		fprintf(stderr, "wmctl: -o dot is only for 'get graph'\n");
		return 2;
	}
	if (strcmp(what, "edge") == 0)
		return delete_edge(c);
	if (strcmp(what, "route") == 0)
		return delete_route(c);
	if (strcmp(what, "node") == 0)
		return wm_cmd_delete_node(c);
	fprintf(stderr, "usage: wmctl delete edge SOURCE TARGET\n"
			"       wmctl delete route NODE CIDR[,CIDR...]\n"
			"       wmctl delete node NODE\n");
	return 2;
}

/* wmctl get routes [NODE] (called from cmd_get.c). */
int wm_cmd_get_routes(const struct wm_cli *c, const char *node)
{
	Webmesh__V1__ListRoutesRequest req = WEBMESH__V1__LIST_ROUTES_REQUEST__INIT;

	if (node && wm_cli_check_node_id("node ID", node) < 0)
		return 2;
	req.node_id = (char *)(node ? node : "");
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_ADMIN_LIST_ROUTES, &req.base,
					  &webmesh__v1__list_routes_response__descriptor);
	if (!m)
		return 1;
	const Webmesh__V1__ListRoutesResponse *r = (const Webmesh__V1__ListRoutesResponse *)m;
	if (c->output == WM_OUT_JSON) {
		wm_cli_print_json(m);
	} else {
		static const char *const headers[] = {"NODE", "ROUTE"};
		struct wm_table *t = wm_table_new(2, headers);
		for (size_t i = 0; i < r->n_nodes; i++) {
			for (size_t k = 0; k < r->nodes[i]->n_routes; k++) {
				const char *row[] = {r->nodes[i]->node_id, r->nodes[i]->routes[k]};
				wm_table_add(t, row);
			}
		}
		wm_table_print(t);
		wm_table_free(t);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
