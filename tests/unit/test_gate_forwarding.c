/* The gate's forwarding decisions over a real store (src/services/gate.c):
 * forwarding metadata only from a proven server (a node proof, and a voter or
 * observer in the replica), the kind of a forwarded caller kept, node and
 * user name spaces apart, and a registered node's Join only by that node. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "services/admin_rbac.h"
#include "services/gate.h"
#include "store/store.h"
#include "test_store_live.h"
#include "test_store_util.h"
#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/mesh.pb-c.h"

#define DEADLINE_MS 20000
#define P_PUT_EDGE "/webmesh.v1.Admin/PutEdge"
#define P_JOIN "/webmesh.v1.Membership/Join"
#define NOT_PROVEN(h)                                                                              \
	"only proven servers may forward calls: " h " needs the node proof of a current "          \
	"voter or observer"

static uv_loop_t loop;
static struct wm_store *store;
static char dir[] = "/tmp/wm-test-gate-fwd-XXXXXX";

static bool run_until(bool *done)
{
	return test_run_flag(&loop, done, DEADLINE_MS);
}

static int apply(Webmesh__V1__RaftCommand *cmd)
{
	return test_apply(&loop, store, cmd);
}

static void join(const char *id, int seed, int role)
{
	Webmesh__V1__JoinNodeCommand c = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char key[WM_KEY_B64_LEN + 1];

	test_key(seed, key);
	c.id = (char *)id;
	c.public_key = key;
	c.listen_port = 51820;
	c.raft_role = role;
	c.full_mesh = true;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &c;
	assert_int_equal(apply(&cmd), 0);
}

static void put_rbac(const char *role, const char *rules, const char *subjects)
{
	Webmesh__V1__PutRoleCommand r = WEBMESH__V1__PUT_ROLE_COMMAND__INIT;
	Webmesh__V1__PutRoleBindingCommand b = WEBMESH__V1__PUT_ROLE_BINDING_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	r.name = (char *)role;
	r.rules = (char *)rules;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE;
	cmd.put_role = &r;
	assert_int_equal(apply(&cmd), 0);
	b.name = (char *)role;
	b.role = (char *)role;
	b.subjects = (char *)subjects;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING;
	cmd.put_role_binding = &b;
	assert_int_equal(apply(&cmd), 0);
}

/* A mesh with voter s1, observer o1, member m1, the bootstrap RBAC (admin
 * "admin") and role edge-writer bound to user:m1 only. */
static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(uv_loop_init(&loop), 0);
	store = test_lone_leader(&loop, dir, "s1");
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT;
	b.network_ipv4 = "172.16.0.0/12";
	b.network_ipv6 = "fd12:3456:789a::/48";
	b.domain = "webmesh.internal";
	b.topology = "full";
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	c.bootstrap = &b;
	assert_int_equal(apply(&c), 0);
	Webmesh__V1__BootstrapAuthzCommand az;
	wm_authz_bootstrap_command(&az, &c, "admin", "s1", NULL, 0, true);
	assert_int_equal(apply(&c), 0);
	join("s1", 1, 1);
	join("o1", 2, 2);
	join("m1", 3, 0);
	put_rbac("edge-writer", "put:edges:", "user:m1");
	return 0;
}

static void closed_cb(void *data)
{
	*(bool *)data = true;
}

static int teardown(void **state)
{
	bool closed = false;
	char cmd[128];

	(void)state;
	wm_store_close(store, closed_cb, &closed);
	assert_true(run_until(&closed));
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct wm_identity who(const char *id, enum wm_identity_kind kind, const char *method,
			      bool proven)
{
	struct wm_identity i;

	memset(&i, 0, sizeof(i));
	snprintf(i.id, sizeof(i.id), "%s", id);
	snprintf(i.method, sizeof(i.method), "%s", method);
	i.kind = kind;
	i.proven = proven;
	return i;
}

/* wm_gate_resolve with a fresh reason buffer; the reason is checked by the caller. */
static int resolve(struct wm_identity *eff, bool open, const char *pf, const char *from, char *why)
{
	why[0] = '\0';
	return wm_gate_resolve(store, open, pf, from, eff, why, 200);
}

static void test_only_proven_servers_forward(void **state)
{
	(void)state;
	char why[200];
	static const char *const values[] = {"user:admin", "node:s1", "admin", "@local", "s1"};
	/* who may not forward: a user named like a server, a member with a
	 * node proof, a server by key auth only (no proof), an open mesh's
	 * anonymous caller, a proven node that is no longer in the mesh */
	struct wm_identity not_servers[] = {
		who("s1", WM_ID_USER, "basic", false),	who("s1", WM_ID_USER, "mtls", false),
		who("m1", WM_ID_NODE, "mtls", true),	who("s1", WM_ID_NODE, "key", false),
		who("", WM_ID_ANY, "anonymous", false), who("gone", WM_ID_NODE, "mtls", true),
	};
	not_servers[4].anonymous = true;
	for (size_t i = 0; i < sizeof(not_servers) / sizeof(not_servers[0]); i++) {
		for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
			struct wm_identity eff = not_servers[i];
			assert_int_equal(resolve(&eff, false, values[v], NULL, why),
					 WM_GRPC_PERMISSION_DENIED);
			assert_string_equal(why, NOT_PROVEN("x-webmesh-proxied-for"));
			/* refused: the caller stays who it was */
			assert_memory_equal(&eff, &not_servers[i], sizeof(eff));
		}
		struct wm_identity eff = not_servers[i];
		assert_int_equal(resolve(&eff, true, NULL, "s1", why), WM_GRPC_PERMISSION_DENIED);
		assert_string_equal(why, NOT_PROVEN("x-webmesh-proxied-from"));
	}
	/* no metadata: nothing to decide */
	struct wm_identity eff = not_servers[2];
	assert_int_equal(resolve(&eff, false, NULL, NULL, why), 0);
	assert_string_equal(eff.id, "m1");
}

static void test_proven_server_forwards_with_kind(void **state)
{
	(void)state;
	char why[200];
	const struct wm_identity s1 = who("s1", WM_ID_NODE, "mtls", true);
	const struct wm_identity o1 = who("o1", WM_ID_NODE, "node-proof", true);
	struct wm_identity eff;

	eff = s1;
	assert_int_equal(resolve(&eff, false, "user:m1", "s1", why), 0);
	assert_string_equal(eff.id, "m1");
	assert_int_equal(eff.kind, WM_ID_USER);
	assert_false(eff.proven || eff.local || eff.anonymous);
	eff = o1; /* an observer is a server too */
	assert_int_equal(resolve(&eff, false, "node:m1", "o1", why), 0);
	assert_string_equal(eff.id, "m1");
	assert_int_equal(eff.kind, WM_ID_NODE);
	assert_false(eff.proven); /* vouched for, not proven here */
	/* its own call, marked as one hop: stays the server */
	eff = s1;
	assert_int_equal(resolve(&eff, false, NULL, "s1", why), 0);
	assert_string_equal(eff.id, "s1");
	assert_true(eff.proven);
	/* proxied-from must be the server itself */
	eff = s1;
	assert_int_equal(resolve(&eff, false, "user:m1", "o1", why), WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "x-webmesh-proxied-from must name the forwarding server s1");
	/* @local never crosses the network, not even from a server */
	eff = s1;
	assert_int_equal(resolve(&eff, false, "@local", "s1", why), WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "x-webmesh-proxied-for: @local never crosses the network");
	/* no kind-less names any more */
	static const char *const bad[] = {
		"admin", "group:ops", "node:", "user:", "node:UP", "any:x", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		eff = s1;
		assert_int_equal(resolve(&eff, false, bad[i], "s1", why), WM_GRPC_INVALID_ARGUMENT);
		assert_string_equal(why, "invalid x-webmesh-proxied-for: want node:ID or user:ID");
	}
	/* anonymous callers: forwarded only into an open mesh */
	eff = s1;
	assert_int_equal(resolve(&eff, false, "@anonymous", "s1", why), WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "x-webmesh-proxied-for: anonymous callers are not forwarded "
				 "into a mesh with authentication");
	eff = s1;
	assert_int_equal(resolve(&eff, true, "@anonymous", "s1", why), 0);
	assert_true(eff.anonymous);
	assert_string_equal(eff.id, "");
	/* the local socket may act as anyone; "@local" keeps it local */
	struct wm_identity local = {.local = true, .method = "local"};
	eff = local;
	assert_int_equal(resolve(&eff, false, "@local", NULL, why), 0);
	assert_true(eff.local);
}

static void test_node_proof_needs_matching_credentials(void **state)
{
	(void)state;
	char why[200] = "";
	struct wm_identity eff = who("m1", WM_ID_USER, "mtls", false);
	assert_int_equal(wm_gate_node_identity(&eff, "s1", why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "node proof for s1 but credentials of m1");
	assert_int_equal(eff.kind, WM_ID_USER);
	assert_false(eff.proven);
	/* the credential names the node: it is node:m1 now */
	assert_int_equal(wm_gate_node_identity(&eff, "m1", why, sizeof(why)), 0);
	assert_int_equal(eff.kind, WM_ID_NODE);
	assert_true(eff.proven);
	/* an open mesh: the proof alone */
	struct wm_identity anon = {.anonymous = true, .method = "anonymous"};
	assert_int_equal(wm_gate_node_identity(&anon, "o1", why, sizeof(why)), 0);
	assert_string_equal(anon.id, "o1");
	assert_string_equal(anon.method, "node-proof");
	assert_true(anon.proven && anon.kind == WM_ID_NODE);
}

static size_t put_edge_req(uint8_t *buf)
{
	Webmesh__V1__PutEdgeRequest r = WEBMESH__V1__PUT_EDGE_REQUEST__INIT;
	r.source = "s1";
	r.target = "m1";
	r.weight = 2;
	return webmesh__v1__put_edge_request__pack(&r, buf);
}

static void test_kinds_in_rbac(void **state)
{
	(void)state;
	char why[200];
	uint8_t buf[64];
	size_t n = put_edge_req(buf);
	const struct wm_identity s1 = who("s1", WM_ID_NODE, "mtls", true);
	struct wm_identity eff;

	/* edge-writer is bound to user:m1: forwarded as the user, allowed ... */
	eff = s1;
	assert_int_equal(resolve(&eff, false, "user:m1", "s1", why), 0);
	assert_int_equal(wm_gate_authorize(store, P_PUT_EDGE, &eff, buf, n, why, sizeof(why)), 0);
	/* ... as the node of that name, refused, directly or forwarded */
	eff = s1;
	assert_int_equal(resolve(&eff, false, "node:m1", "s1", why), 0);
	assert_int_equal(wm_gate_authorize(store, P_PUT_EDGE, &eff, buf, n, why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "m1 may not put edges");
	eff = who("m1", WM_ID_NODE, "key", false);
	assert_int_equal(wm_gate_authorize(store, P_PUT_EDGE, &eff, buf, n, why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "m1 may not put edges");
	/* the bootstrap admin is user:admin: a node named admin is not it */
	eff = who("admin", WM_ID_USER, "mtls", false);
	assert_int_equal(wm_gate_authorize(store, P_PUT_EDGE, &eff, buf, n, why, sizeof(why)), 0);
	eff = who("admin", WM_ID_NODE, "key", false);
	assert_int_equal(wm_gate_authorize(store, P_PUT_EDGE, &eff, buf, n, why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "admin may not put edges");
	/* the bootstrap node is node:s1 (mesh-admin); a user named s1 is not */
	eff = s1;
	assert_int_equal(wm_gate_authorize(store, P_PUT_EDGE, &eff, buf, n, why, sizeof(why)), 0);
	eff = who("s1", WM_ID_USER, "basic", false);
	assert_int_equal(wm_gate_authorize(store, P_PUT_EDGE, &eff, buf, n, why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "s1 may not put edges");
}

static size_t join_req(const char *id, int seed, uint8_t *buf, size_t cap)
{
	Webmesh__V1__JoinRequest r = WEBMESH__V1__JOIN_REQUEST__INIT;
	char key[WM_KEY_B64_LEN + 1];
	test_key(seed, key);
	r.id = (char *)id;
	r.public_key = key;
	assert_true(webmesh__v1__join_request__get_packed_size(&r) <= cap);
	return webmesh__v1__join_request__pack(&r, buf);
}

static void test_registered_join_needs_the_node(void **state)
{
	(void)state;
	char why[200];
	uint8_t buf[256];
	size_t n = join_req("m1", 99, buf, sizeof(buf));
	struct wm_identity id;

	/* a user named m1 (its certificate, no node proof) may not re-join m1 */
	id = who("m1", WM_ID_USER, "mtls", false);
	assert_int_equal(wm_gate_authorize(store, P_JOIN, &id, buf, n, why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "node m1 is registered: joining as it again needs its node proof");
	/* nor an open mesh's anonymous caller */
	struct wm_identity anon = {.anonymous = true, .method = "anonymous"};
	assert_int_equal(wm_gate_authorize(store, P_JOIN, &anon, buf, n, why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "node m1 is registered: joining as it again needs its node proof");
	/* the node itself may (node proof, forwarded as node:m1, or key auth) */
	id = who("m1", WM_ID_NODE, "mtls", true);
	assert_int_equal(wm_gate_authorize(store, P_JOIN, &id, buf, n, why, sizeof(why)), 0);
	id = who("m1", WM_ID_NODE, "key", false);
	assert_int_equal(wm_gate_authorize(store, P_JOIN, &id, buf, n, why, sizeof(why)), 0);
	anon.kind = WM_ID_NODE;
	anon.proven = true;
	snprintf(anon.id, sizeof(anon.id), "m1");
	assert_int_equal(wm_gate_authorize(store, P_JOIN, &anon, buf, n, why, sizeof(why)), 0);
	/* a first Join: its credentials suffice */
	n = join_req("new1", 7, buf, sizeof(buf));
	id = who("new1", WM_ID_USER, "mtls", false);
	assert_int_equal(wm_gate_authorize(store, P_JOIN, &id, buf, n, why, sizeof(why)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_proven_servers_forward),
		cmocka_unit_test(test_proven_server_forwards_with_kind),
		cmocka_unit_test(test_node_proof_needs_matching_credentials),
		cmocka_unit_test(test_kinds_in_rbac),
		cmocka_unit_test(test_registered_join_needs_the_node),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
