/* wmctl put edge|route: change what the user governs in the mesh (Admin service). */
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/mesh.h"
#include "core/net.h"
#include "webmesh/v1/admin.pb-c.h"
#include "services/paths.h"

#define ATTR_MAX 32

int wm_cli_check_node_id(const char *what, const char *id)
{
	const char *why = NULL;

	if (wm_node_id_check(id, &why) == 0)
		return 0;
	fprintf(stderr, "wmctl: invalid %s \"%s\": %s\n", what, id, why);
	return -EINVAL;
}

/* Splits "a,b c" words into routes; every one must be a CIDR prefix. */
static int collect_routes(char *const *words, int n, char **out, size_t *n_out)
{
	*n_out = 0;
	for (int i = 0; i < n; i++) {
		char *save = NULL;

		for (char *r = strtok_r(words[i], ",", &save); r; r = strtok_r(NULL, ",", &save)) {
			struct wm_prefix p;

			if (wm_route_parse(r, &p) < 0) {
				fprintf(stderr,
					"wmctl: \"%s\" is not a CIDR prefix (such as 10.1.0.0/16, "
					"0.0.0.0/0 or ::/0)\n",
					r);
				return -EINVAL;
			}
			if (*n_out >= WM_MAX_ROUTES) {
				fprintf(stderr, "wmctl: at most %d routes at once\n",
					WM_MAX_ROUTES);
				return -EINVAL;
			}
			out[(*n_out)++] = r;
		}
	}
	if (*n_out == 0) {
		fprintf(stderr, "wmctl: no route given\n");
		return -EINVAL;
	}
	return 0;
}

/* Prints what a write did, or its JSON answer with -o json. */
int wm_cli_write(const struct wm_cli *c, const char *method, const ProtobufCMessage *req,
		 const char *done)
{
	ProtobufCMessage *m =
		wm_cli_call(c, method, req, &webmesh__v1__admin_write_response__descriptor);

	if (!m)
		return 1;
	if (c->output == WM_OUT_JSON)
		wm_cli_print_json(m);
	else
		printf("%s (raft index %llu)\n", done,
		       (unsigned long long)((Webmesh__V1__AdminWriteResponse *)m)->index);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}

static int parse_weight(const char *s, int32_t *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > INT32_MAX) {
		fprintf(stderr, "wmctl: --weight takes a whole number from 1 to %d, not \"%s\"\n",
			INT32_MAX, s);
		return -EINVAL;
	}
	*out = (int32_t)v;
	return 0;
}

static int put_edge(const struct wm_cli *c)
{
	Webmesh__V1__PutEdgeRequest req = WEBMESH__V1__PUT_EDGE_REQUEST__INIT;
	Webmesh__V1__PutEdgeRequest__AttributesEntry attrs[ATTR_MAX], *ptrs[ATTR_MAX];
	const char *ids[2];
	int n_ids = 0;
	char done[256];

	req.weight = 1;
	for (int i = 1; i < c->n_args; i++) {
		const char *a = c->args[i], *value = NULL;
		const char *eq = strchr(a, '=');
		bool weight = strncmp(a, "--weight", 8) == 0 && (a[8] == '\0' || a[8] == '=');
		bool attr = strncmp(a, "--attr", 6) == 0 && (a[6] == '\0' || a[6] == '=');

		if (a[0] != '-') {
			if (n_ids == 2) {
				fprintf(stderr,
					"wmctl: put edge takes two node IDs, not \"%s\" too\n", a);
				return 2;
			}
			ids[n_ids++] = a;
			continue;
		}
		if (!weight && !attr) {
			fprintf(stderr, "wmctl: put edge: unknown option %s\n", a);
			return 2;
		}
		if (eq && (eq - a == 8 || eq - a == 6)) {
			value = eq + 1;
		} else if (i + 1 < c->n_args) {
			value = c->args[++i];
		} else {
			fprintf(stderr, "wmctl: %s needs a value\n",
				weight ? "--weight" : "--attr");
			return 2;
		}
		if (weight) {
			if (parse_weight(value, &req.weight) < 0)
				return 2;
			continue;
		}
		const char *sep = strchr(value, '=');
		if (!sep || sep == value) {
			fprintf(stderr, "wmctl: --attr takes KEY=VALUE, not \"%s\"\n", value);
			return 2;
		}
		if (req.n_attributes == ATTR_MAX) {
			fprintf(stderr, "wmctl: at most %d attributes\n", ATTR_MAX);
			return 2;
		}
		Webmesh__V1__PutEdgeRequest__AttributesEntry *e = &attrs[req.n_attributes];
		webmesh__v1__put_edge_request__attributes_entry__init(e);
		e->key = strndup(value, (size_t)(sep - value));
		e->value = (char *)sep + 1;
		if (!e->key)
			return 1;
		ptrs[req.n_attributes++] = e;
	}
	int code = 0;
	if (n_ids != 2) {
		fprintf(stderr,
			"usage: wmctl put edge SOURCE TARGET [--weight N] [--attr KEY=VALUE]...\n");
		code = 2;
	} else if (wm_cli_check_node_id("node ID", ids[0]) < 0 ||
		   wm_cli_check_node_id("node ID", ids[1]) < 0) {
		code = 2;
	} else if (strcmp(ids[0], ids[1]) == 0) {
		fprintf(stderr, "wmctl: an edge needs two different nodes\n");
		code = 2;
	}
	if (code == 0) {
		req.source = (char *)ids[0];
		req.target = (char *)ids[1];
		req.attributes = ptrs;
		snprintf(done, sizeof(done), "edge %s-%s weight %d", ids[0], ids[1], req.weight);
		code = wm_cli_write(c, WM_METHOD_ADMIN_PUT_EDGE, &req.base, done);
	}
	for (size_t i = 0; i < req.n_attributes; i++)
		free(attrs[i].key);
	return code;
}

int wm_cli_route_args(const struct wm_cli *c, const char *verb, char **routes, size_t *n_routes)
{
	if (c->n_args < 3) {
		fprintf(stderr, "usage: wmctl %s route NODE CIDR[,CIDR...]...\n", verb);
		return 2;
	}
	if (wm_cli_check_node_id("node ID", c->args[1]) < 0 ||
	    collect_routes(c->args + 2, c->n_args - 2, routes, n_routes) < 0)
		return 2;
	return 0;
}

static int put_route(const struct wm_cli *c)
{
	Webmesh__V1__PutRouteRequest req = WEBMESH__V1__PUT_ROUTE_REQUEST__INIT;
	char *routes[WM_MAX_ROUTES];
	char done[128];

	if (wm_cli_route_args(c, "put", routes, &req.n_routes))
		return 2;
	req.node_id = c->args[1];
	req.routes = routes;
	snprintf(done, sizeof(done), "node %s advertises %zu more route%s", c->args[1],
		 req.n_routes, req.n_routes == 1 ? "" : "s");
	return wm_cli_write(c, WM_METHOD_ADMIN_PUT_ROUTE, &req.base, done);
}

int wm_cmd_put(const struct wm_cli *c)
{
	const char *what = c->n_args > 0 ? c->args[0] : "";
	if (wm_cli_rbac_owns(what))
		return wm_cli_rbac(c, "put");
	if (wm_cli_dns_owns(what))
		return wm_cli_dns(c, "put");

	if (c->output == WM_OUT_DOT) {
		fprintf(stderr, "wmctl: -o dot is only for 'get graph'\n");
		return 2;
	}
	if (strcmp(what, "edge") == 0)
		return put_edge(c);
	if (strcmp(what, "route") == 0)
		return put_route(c);
	fprintf(stderr, "usage: wmctl put edge SOURCE TARGET [--weight N] [--attr KEY=VALUE]...\n"
			"       wmctl put route NODE CIDR[,CIDR...]\n");
	return 2;
}
