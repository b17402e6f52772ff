/* wmctl get nodes|node ID|graph|edges: read the mesh state. */
#include "cli/cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/pbjson.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "services/paths.h"

static void join_list(char *const *items, size_t n, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t used = strlen(out);
		snprintf(out + used, len - used, "%s%s", i ? "," : "", items[i]);
	}
}

static void print_nodes(Webmesh__V1__MeshNode *const *nodes, size_t n)
{
	static const char *const headers[] = {"ID", "IPV4", "IPV6", "ENDPOINTS", "ROLE", "JOINED"};
	struct wm_table *t = wm_table_new(6, headers);
	for (size_t i = 0; i < n; i++) {
		const Webmesh__V1__MeshNode *m = nodes[i];
		char eps[512], role[32], joined[32];
		join_list(m->endpoints, m->n_endpoints, eps, sizeof(eps));
		wm_pbjson_enum_name(&webmesh__v1__raft_role__descriptor, m->raft_role, role,
				    sizeof(role));
		time_t when = (time_t)m->joined_at;
		struct tm tm;
		gmtime_r(&when, &tm);
		strftime(joined, sizeof(joined), "%Y-%m-%d %H:%M:%SZ", &tm);
		const char *row[] = {m->id, m->private_ipv4, m->private_ipv6, eps, role, joined};
		wm_table_add(t, row);
	}
	wm_table_print(t);
	wm_table_free(t);
}

/* "k=v,k=v" (the server sends the keys sorted). For dot, quotes and
 * backslashes are escaped; control characters become '?' either way, so a
 * value cannot break a table row or the dot syntax. Cut short if long. */
static void join_attrs(const Webmesh__V1__MeshEdge *e, bool dot, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < e->n_attributes; i++) {
		const char *parts[] = {i ? "," : "", e->attributes[i]->key, "=",
				       e->attributes[i]->value};
		for (size_t p = 0; p < 4; p++) {
			for (const char *c = parts[p]; *c; c++) {
				unsigned char ch = (unsigned char)*c;
				bool esc = dot && (ch == '"' || ch == '\\');
				if (used + 1 + esc >= len)
					return;
				if (esc)
					out[used++] = '\\';
				out[used++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
				out[used] = '\0';
			}
		}
	}
}

static void print_edges(const Webmesh__V1__MeshGraph *g)
{
	static const char *const headers[] = {"SOURCE", "TARGET", "WEIGHT", "ATTRIBUTES"};
	struct wm_table *t = wm_table_new(4, headers);
	for (size_t i = 0; i < g->n_edges; i++) {
		char w[16], attrs[1024];
		snprintf(w, sizeof(w), "%d", g->edges[i]->weight);
		join_attrs(g->edges[i], false, attrs, sizeof(attrs));
		const char *row[] = {g->edges[i]->source, g->edges[i]->target, w, attrs};
		wm_table_add(t, row);
	}
	wm_table_print(t);
	wm_table_free(t);
}

/* Graphviz: `wmctl get graph -o dot | dot -Tpng > mesh.png`. The label is the
 * weight, then the attributes on a second line. */
static void print_dot(const Webmesh__V1__MeshGraph *g)
{
	printf("graph webmesh {\n");
	for (size_t i = 0; i < g->n_nodes; i++)
		printf("  \"%s\" [label=\"%s\\n%s\"];\n", g->nodes[i]->id, g->nodes[i]->id,
		       g->nodes[i]->private_ipv4);
	for (size_t i = 0; i < g->n_edges; i++) {
		char attrs[1024];
		join_attrs(g->edges[i], true, attrs, sizeof(attrs));
		printf("  \"%s\" -- \"%s\" [weight=%d, label=\"%d%s%s\"];\n", g->edges[i]->source,
		       g->edges[i]->target, g->edges[i]->weight, g->edges[i]->weight,
		       attrs[0] ? "\\n" : "", attrs);
	}
	printf("}\n");
}

static int get_graph(const struct wm_cli *c, bool edges_only)
{
	Webmesh__V1__GetMeshGraphRequest req = WEBMESH__V1__GET_MESH_GRAPH_REQUEST__INIT;
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_MESH_GET_MESH_GRAPH, &req.base,
					  &webmesh__v1__mesh_graph__descriptor);
	if (!m)
		return 1;
	const Webmesh__V1__MeshGraph *g = (const Webmesh__V1__MeshGraph *)m;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else if (c->output == WM_OUT_DOT)
		print_dot(g);
	else if (edges_only)
		print_edges(g);
	else {
		print_nodes(g->nodes, g->n_nodes);
		printf("\n");
		print_edges(g);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int get_nodes(const struct wm_cli *c)
{
	Webmesh__V1__ListNodesRequest req = WEBMESH__V1__LIST_NODES_REQUEST__INIT;
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_MESH_LIST_NODES, &req.base,
					  &webmesh__v1__list_nodes_response__descriptor);
	if (!m)
		return 1;
	const Webmesh__V1__ListNodesResponse *r = (const Webmesh__V1__ListNodesResponse *)m;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		print_nodes(r->nodes, r->n_nodes);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int get_node(const struct wm_cli *c, const char *id)
{
	Webmesh__V1__GetNodeRequest req = WEBMESH__V1__GET_NODE_REQUEST__INIT;
	req.id = (char *)id;
	ProtobufCMessage *m = wm_cli_call(c, WM_METHOD_MESH_GET_NODE, &req.base,
					  &webmesh__v1__mesh_node__descriptor);
	if (!m)
		return 1;
	Webmesh__V1__MeshNode *node = (Webmesh__V1__MeshNode *)m;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		print_nodes(&node, 1);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

int wm_cmd_get(const struct wm_cli *c)
{
	const char *what = c->n_args > 0 ? c->args[0] : "";
	if (wm_cli_rbac_owns(what))
		return wm_cli_rbac(c, "get");
	if (wm_cli_dns_owns(what))
		return wm_cli_dns(c, "get");
	if ((c->output == WM_OUT_DOT) && strcmp(what, "graph") != 0) {
		fprintf(stderr, "wmctl: -o dot is only for 'get graph'\n");
		return 2;
	}
	if (strcmp(what, "nodes") == 0 && c->n_args == 1)
		return get_nodes(c);
	if (strcmp(what, "node") == 0 && c->n_args == 2)
		return get_node(c, c->args[1]);
	if (strcmp(what, "graph") == 0 && c->n_args == 1)
		return get_graph(c, false);
	if (strcmp(what, "edges") == 0 && c->n_args == 1)
		return get_graph(c, true);
	if (strcmp(what, "routes") == 0 && c->n_args <= 2)
		return wm_cmd_get_routes(c, c->n_args == 2 ? c->args[1] : NULL);
	fprintf(stderr, "usage: wmctl get nodes | node ID | graph | edges | routes [NODE]\n");
	return 2;
}
