/* The same commands through the Raft store's FSM and through the etcd store
 * (src/etcd), compared result by result and at the end node by node: the
 * invariants and refusals the issue asks the etcd provider to share with the
 * Raft store. Run by tests/integration/test_etcd.py against a real etcd:
 *   etcd_conform ENDPOINTS MESH
 * Prints one line per command and "conform ok N" (exit 0), or the first
 * difference (exit 1). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "etcd/store.h"
#include "store/fsm.h"

static uv_loop_t *loop;
static bool done;
static struct wm_store_result got;

static void ready_cb(void *data, int err, const char *msg)
{
	(void)data;
	(void)msg;
	done = true;
	got.err = err;
}

static void apply_cb(void *data, const struct wm_store_result *res)
{
	(void)data;
	got = *res;
	done = true;
}

static bool same_node(const struct wm_mesh_node *a, const struct wm_mesh_node *b)
{
	if (strcmp(a->id, b->id) || !wm_key_equal(a->public_key, b->public_key) ||
	    !wm_prefix_equal(&a->ipv4, &b->ipv4) || !wm_prefix_equal(&a->ipv6, &b->ipv6) ||
	    a->n_endpoints != b->n_endpoints || a->n_routes != b->n_routes ||
	    a->listen_port != b->listen_port || a->raft_role != b->raft_role ||
	    strcmp(a->zone, b->zone) || strcmp(a->exit_node, b->exit_node))
		return false;
	for (size_t i = 0; i < a->n_endpoints; i++)
		if (!wm_endpoint_equal(&a->endpoints[i], &b->endpoints[i]))
			return false;
	for (size_t i = 0; i < a->n_routes; i++)
		if (!wm_prefix_equal(&a->routes[i], &b->routes[i]))
			return false;
	return true;
}

static void show(const char *who, const struct wm_mesh_node *n)
{
	char v4[WM_PREFIX_STRLEN], v6[WM_PREFIX_STRLEN];
	wm_prefix_format_addr(&n->ipv4, v4, sizeof(v4));
	wm_prefix_format(&n->ipv6, v6, sizeof(v6));
	printf("  %s: %s %s %s eps=%zu routes=%zu port=%u zone=%s\n", who, n->id, v4, v6,
	       n->n_endpoints, n->n_routes, n->listen_port, n->zone);
}

/* Both stores take cmd; 0 if they agree. */
static int both(struct wm_fsm *f, struct wm_etcd_store *s, uint64_t index, const char *what,
		const Webmesh__V1__RaftCommand *cmd)
{
	struct wm_store_result fr = {0};
	if (wm_fsm_apply_cmd(f, index, cmd, &fr) < 0) {
		printf("%s: the FSM failed\n", what);
		return -1;
	}
	done = false;
	memset(&got, 0, sizeof(got));
	int r = wm_etcd_store_apply(s, cmd, apply_cb, NULL);
	if (r < 0) {
		printf("%s: etcd store refused at once: %s\n", what, wm_strerror(r));
		return -1;
	}
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	printf("%s: raft %s / etcd %s\n", what, fr.err ? wm_strerror(fr.err) : "ok",
	       got.err ? wm_strerror(got.err) : "ok");
	if (fr.err != got.err) {
		printf("  raft: %s\n  etcd: %s\n", fr.message, got.message);
		return -1;
	}
	if (!fr.err && cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE &&
	    !same_node(&fr.node, &got.node)) {
		show("raft", &fr.node);
		show("etcd", &got.node);
		return -1;
	}
	return 0;
}

static Webmesh__V1__RaftCommand join_cmd(Webmesh__V1__JoinNodeCommand *j, const char *id,
					 const char *key, const char *v4, char **eps, size_t n_eps,
					 char **routes, size_t n_routes, const char *zone)
{
	Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT;
	webmesh__v1__join_node_command__init(j);
	j->id = (char *)id;
	j->public_key = (char *)key;
	j->ipv4_request = (char *)(v4 ? v4 : "");
	j->endpoints = eps;
	j->n_endpoints = n_eps;
	j->routes = routes;
	j->n_routes = n_routes;
	j->listen_port = 51820;
	j->zone = (char *)(zone ? zone : "");
	j->joined_at = 100;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	c.join_node = j;
	return c;
}

int main(int argc, char **argv)
{
	char err[256];
	struct wm_etcd_client *c;
	struct wm_etcd_store *s;
	struct wm_fsm *f;

	if (argc != 3) {
		fprintf(stderr, "usage: etcd_conform ENDPOINTS MESH\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	struct wm_etcd_config cfg = {.endpoints = argv[1], .timeout_ms = 3000};
	if (wm_etcd_client_new(loop, &cfg, &c, err, sizeof(err)) < 0 ||
	    wm_fsm_open(":memory:", &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "etcd_conform: %s\n", err);
		return 2;
	}
	if (wm_etcd_store_open(loop, c, argv[2], ready_cb, NULL, &s) < 0)
		return 2;
	while (!done)
		uv_run(loop, UV_RUN_ONCE);
	if (got.err < 0)
		return 2;

	const char *ka = "YNv0dxJDr9kH0OQOqWNaoajIVsR8fTBEbz1tWg8G2ng=";
	const char *kb = "HrEkipF9rj3bi574T/xDAZkA5YvcpLKmJ9nfBFWumTM=";
	const char *kc = "REH4xa48P0TtZCAHx1BwNslelGxusv41sCKkGacB5PQ=";
	const char *kd = "BiR35gNORs2w8amawu/85J0754mZhWg2K9booGjlyH8=";
	const char *ke = "Kh8bU4cijsnrndmreSRdRe97IbOj2CFTDxM6j1x2e0s=";
	char *ep1[] = {"192.0.2.1:51820"}, *ep2[] = {"192.0.2.9:51821", "[2001:db8::1]:51820"};
	char *rt_ok[] = {"192.168.10.7/24"}, *rt_in[] = {"10.9.0.0/30"};
	Webmesh__V1__JoinNodeCommand j;
	Webmesh__V1__RaftCommand cmd;
	uint64_t idx = 1;
	int bad = 0, n = 0;

	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__RaftCommand bc = WEBMESH__V1__RAFT_COMMAND__INIT;
	b.network_ipv4 = "10.9.0.0/29"; /* six hosts: exhaustion is near */
	b.network_ipv6 = "fd09:1:2::/48";
	b.domain = "mesh.internal";
	b.created_at = 1;
	bc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	bc.bootstrap = &b;
#define BOTH(what, c)                                                                              \
	do {                                                                                       \
		n++;                                                                               \
		if (both(f, s, idx++, what, c) < 0)                                                \
			bad++;                                                                     \
	} while (0)
	BOTH("join before bootstrap",
	     (cmd = join_cmd(&j, "early", ka, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	b.network_ipv6 = "fd09:1:2::/64";
	BOTH("bootstrap with a /64", &bc);
	b.network_ipv6 = "fd09:1:2::/48";
	BOTH("bootstrap", &bc);
	BOTH("bootstrap again", &bc);
	BOTH("join a", (cmd = join_cmd(&j, "node-a", ka, NULL, ep1, 1, rt_ok, 1, "z1"), &cmd));
	BOTH("join b asking for .5",
	     (cmd = join_cmd(&j, "node-b", kb, "10.9.0.5", ep2, 2, NULL, 0, NULL), &cmd));
	BOTH("join c asking for b's .5",
	     (cmd = join_cmd(&j, "node-c", kc, "10.9.0.5", ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("rejoin a, new endpoints and zone",
	     (cmd = join_cmd(&j, "node-a", ka, NULL, ep2, 2, NULL, 0, "z2"), &cmd));
	BOTH("a's ID with b's key",
	     (cmd = join_cmd(&j, "node-a", kb, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("b's key under a new ID",
	     (cmd = join_cmd(&j, "node-x", kb, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("invalid ID",
	     (cmd = join_cmd(&j, "Not Valid", kd, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("invalid key",
	     (cmd = join_cmd(&j, "node-d", "nope", NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("route inside the mesh",
	     (cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, rt_in, 1, NULL), &cmd));
	BOTH("address outside the network",
	     (cmd = join_cmd(&j, "node-d", kd, "10.8.0.1", ep1, 1, NULL, 0, NULL), &cmd));
	char *self_exit = "node-d";
	cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, NULL, 0, NULL);
	j.exit_node = self_exit;
	BOTH("exit node names itself", &cmd);
	BOTH("join d", (cmd = join_cmd(&j, "node-d", kd, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	Webmesh__V1__RemoveNodeCommand rm = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand rc = WEBMESH__V1__RAFT_COMMAND__INIT;
	rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	rc.remove_node = &rm;
	rm.id = "node-a";
	BOTH("remove a", &rc);
	BOTH("remove a again", &rc);
	Webmesh__V1__DenyNodeCommand dn = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
	Webmesh__V1__AllowNodeCommand al = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand dc = WEBMESH__V1__RAFT_COMMAND__INIT;
	Webmesh__V1__RaftCommand ac = WEBMESH__V1__RAFT_COMMAND__INIT;
	dc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
	dc.deny_node = &dn;
	ac.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
	ac.allow_node = &al;
	dn.node_id = "node-a";
	dn.by = "admin";
	dn.denied_at = 5;
	al.node_id = "node-a";
	BOTH("deny a", &dc);
	BOTH("join a while denied",
	     (cmd = join_cmd(&j, "node-a", ka, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("join a while denied, with a bad key",
	     (cmd = join_cmd(&j, "node-a", "nope", NULL, ep1, 1, NULL, 0, NULL), &cmd));
	BOTH("allow a", &ac);
	BOTH("allow a again", &ac);
	dn.node_id = "Bad ID";
	BOTH("deny an invalid ID", &dc);
	BOTH("join e takes a's address",
	     (cmd = join_cmd(&j, "node-e", ke, NULL, ep1, 1, NULL, 0, NULL), &cmd));
	const char *more[] = {"m1", "m2", "m3", "m4"};
	const char *mk[] = {"h4d8lWRQ9s/gFdsnzIk9A6M3vzuuH9X1E1lLTY2gvbY=",
			    "BXLv7GRQlUzdAIMa3EAReHj3kATceo91HhrgWOgBzsM=",
			    "VS/r0N74okgfOmucQ0dLuJGMiLVlWhIvKfw2+ZgdJLE=",
			    "2QrRUbYLKwIoSLxQ/3O4JwwtzyhpJSCqDgnTsyQOM10="};
	for (size_t i = 0; i < 4; i++) /* the last one finds the network full */
		BOTH(more[i],
		     (cmd = join_cmd(&j, more[i], mk[i], NULL, ep1, 1, NULL, 0, NULL), &cmd));

	/* Everything stored, node by node. */
	struct wm_mesh_node *fv, *ev;
	size_t fn, en;
	if (wm_fsm_list_nodes(f, &fv, &fn) < 0 || wm_etcd_store_list_nodes(s, &ev, &en) < 0)
		return 2;
	if (fn != en) {
		printf("raft has %zu nodes, etcd %zu\n", fn, en);
		bad++;
	}
	for (size_t i = 0; i < fn && i < en; i++)
		if (!same_node(&fv[i], &ev[i])) {
			show("raft", &fv[i]);
			show("etcd", &ev[i]);
			bad++;
		}
	free(fv);
	free(ev);
	wm_etcd_store_close(s);
	wm_etcd_client_free(c);
	wm_fsm_close(f);
	uv_run(loop, UV_RUN_DEFAULT);
	if (bad) {
		printf("conform: %d difference(s)\n", bad);
		return 1;
	}
	printf("conform ok %d\n", n);
	return 0;
}
