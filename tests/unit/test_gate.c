/* The authorization gate's decisions (src/services/gate.c) without a server:
 * signaling only as the node itself, the RBAC methods with no grants, the
 * admin-only fallback for unknown methods, and malformed requests; then every
 * RBAC-protected method against a real store (a one-voter Raft store on
 * loopback) where the caller holds some rights but not the one asked, with
 * the exact reason of each refusal, and the calls those rights do allow. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/base64.h"
#include "core/mesh.h"
#include "services/gate.h"
#include "services/services.h"
#include "test_store_live.h"
#include "test_store_util.h"
#include "test_tls_live.h"
#include "webmesh/v1/admin.pb-c.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/rbac.pb-c.h"
#include "webmesh/v1/signaling.pb-c.h"

#define P_SEND "/webmesh.v1.Signaling/SendSignal"
#define P_RECEIVE "/webmesh.v1.Signaling/ReceiveSignals"
#define P_TURN "/webmesh.v1.Signaling/GetTurnCredentials"

static struct wm_identity node(const char *id, const char *method)
{
	struct wm_identity i;

	memset(&i, 0, sizeof(i));
	snprintf(i.id, sizeof(i.id), "%s", id);
	snprintf(i.method, sizeof(i.method), "%s", method);
	i.kind = WM_ID_ANY;
	return i;
}

static int decide(const char *path, const struct wm_identity *id, const uint8_t *req, size_t len)
{
	char why[200];
	int st = wm_gate_authorize(NULL, path, id, req, len, why, sizeof(why));

	/* A refusal always says why; an allowed call says nothing. */
	assert_true(st ? why[0] != '\0' : why[0] == '\0');
	return st;
}

/* A Signal from -> to, packed. */
static size_t signal_of(const char *from, const char *to, uint8_t *buf, size_t cap)
{
	Webmesh__V1__Signal s = WEBMESH__V1__SIGNAL__INIT;

	s.from = (char *)from;
	s.to = (char *)to;
	s.kind = WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER;
	s.session = 7;
	assert_true(webmesh__v1__signal__get_packed_size(&s) <= cap);
	return webmesh__v1__signal__pack(&s, buf);
}

static size_t receive_of(const char *id, uint8_t *buf, size_t cap)
{
	Webmesh__V1__ReceiveSignalsRequest r = WEBMESH__V1__RECEIVE_SIGNALS_REQUEST__INIT;

	r.id = (char *)id;
	assert_true(webmesh__v1__receive_signals_request__get_packed_size(&r) <= cap);
	return webmesh__v1__receive_signals_request__pack(&r, buf);
}

static size_t turn_of(const char *id, uint8_t *buf, size_t cap)
{
	Webmesh__V1__TurnCredentialsRequest r = WEBMESH__V1__TURN_CREDENTIALS_REQUEST__INIT;

	r.id = (char *)id;
	assert_true(webmesh__v1__turn_credentials_request__get_packed_size(&r) <= cap);
	return webmesh__v1__turn_credentials_request__pack(&r, buf);
}

static void test_signaling_as_itself(void **state)
{
	struct wm_identity m1 = node("m1", "mtls");
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = signal_of("m1", "m2", buf, sizeof(buf));
	assert_int_equal(decide(P_SEND, &m1, buf, n), 0);
	n = receive_of("m1", buf, sizeof(buf));
	assert_int_equal(decide(P_RECEIVE, &m1, buf, n), 0);
	n = turn_of("m1", buf, sizeof(buf));
	assert_int_equal(decide(P_TURN, &m1, buf, n), 0);
	/* A call forwarded by a server for m1 is m1's call. */
	struct wm_identity fwd = node("m1", "proxied");
	n = receive_of("m1", buf, sizeof(buf));
	assert_int_equal(decide(P_RECEIVE, &fwd, buf, n), 0);
}

static void test_signaling_as_another_node(void **state)
{
	struct wm_identity m1 = node("m1", "ldap");
	uint8_t buf[256];
	size_t n;

	(void)state;
	/* Sending as m2 (to m1 or to anyone). */
	n = signal_of("m2", "m1", buf, sizeof(buf));
	assert_int_equal(decide(P_SEND, &m1, buf, n), WM_GRPC_PERMISSION_DENIED);
	n = signal_of("m2", "m3", buf, sizeof(buf));
	assert_int_equal(decide(P_SEND, &m1, buf, n), WM_GRPC_PERMISSION_DENIED);
	/* Reading m2's signals, or TURN credentials in m2's name. */
	n = receive_of("m2", buf, sizeof(buf));
	assert_int_equal(decide(P_RECEIVE, &m1, buf, n), WM_GRPC_PERMISSION_DENIED);
	n = turn_of("m2", buf, sizeof(buf));
	assert_int_equal(decide(P_TURN, &m1, buf, n), WM_GRPC_PERMISSION_DENIED);
	/* A name that only starts like the caller's. */
	n = receive_of("m10", buf, sizeof(buf));
	assert_int_equal(decide(P_RECEIVE, &m1, buf, n), WM_GRPC_PERMISSION_DENIED);
	/* No ID at all (an empty request). */
	assert_int_equal(decide(P_RECEIVE, &m1, (const uint8_t *)"", 0), WM_GRPC_PERMISSION_DENIED);
	/* The last occurrence of field 1 is what the handler decodes: m1 then
	 * m2 is a request for m2. */
	uint8_t two[] = {0x0a, 2, 'm', '1', 0x0a, 2, 'm', '2'};
	assert_int_equal(decide(P_RECEIVE, &m1, two, sizeof(two)), WM_GRPC_PERMISSION_DENIED);
	uint8_t back[] = {0x0a, 2, 'm', '2', 0x0a, 2, 'm', '1'};
	assert_int_equal(decide(P_RECEIVE, &m1, back, sizeof(back)), 0);
}

static void test_signaling_no_rbac_override(void **state)
{
	/* An identity with an empty ID does not match an empty field 1. */
	struct wm_identity nobody = node("", "mtls");
	uint8_t empty_id[] = {0x0a, 0};

	(void)state;
	assert_int_equal(decide(P_RECEIVE, &nobody, empty_id, sizeof(empty_id)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_int_equal(decide(P_SEND, &nobody, empty_id, sizeof(empty_id)),
			 WM_GRPC_PERMISSION_DENIED);
}

static void test_local_and_open_mesh(void **state)
{
	struct wm_identity local = node("", "local"), anon = node("", "anonymous");
	uint8_t buf[256];
	size_t n = receive_of("m2", buf, sizeof(buf));

	(void)state;
	local.local = true;
	anon.anonymous = true;
	assert_int_equal(decide(P_RECEIVE, &local, buf, n), 0);
	assert_int_equal(decide(P_RECEIVE, &anon, buf, n), 0);
	assert_int_equal(decide("/webmesh.v1.Admin/PutEdge", &local, NULL, 0), 0);
}

static void test_malformed(void **state)
{
	struct wm_identity m1 = node("m1", "mtls");
	uint8_t bad[] = {0x0a, 0x7f, 'm'}; /* length beyond the end */

	(void)state;
	assert_int_equal(decide(P_SEND, &m1, bad, sizeof(bad)), WM_GRPC_INVALID_ARGUMENT);
	assert_int_equal(decide(P_RECEIVE, &m1, bad, sizeof(bad)), WM_GRPC_INVALID_ARGUMENT);
}

/* Issue 10: a node heartbeats only as itself (a call a server forwards for
 * m1 is m1's call), and advertising routes at join needs put routes. */
static void test_heartbeat_and_join_routes(void **state)
{
	struct wm_identity m1 = node("m1", "mtls"), fwd = node("m1", "proxied");
	Webmesh__V1__HeartbeatRequest hb = WEBMESH__V1__HEARTBEAT_REQUEST__INIT;
	Webmesh__V1__JoinRequest j = WEBMESH__V1__JOIN_REQUEST__INIT;
	char *routes[] = {"10.1.0.0/17", "10.1.128.0/17"};
	uint8_t buf[512];
	char why[200];
	size_t n;

	(void)state;
	hb.id = "m1";
	n = webmesh__v1__heartbeat_request__pack(&hb, buf);
	assert_int_equal(decide("/webmesh.v1.Membership/Heartbeat", &m1, buf, n), 0);
	assert_int_equal(decide("/webmesh.v1.Membership/Heartbeat", &fwd, buf, n), 0);
	hb.id = "m2";
	n = webmesh__v1__heartbeat_request__pack(&hb, buf);
	assert_int_equal(wm_gate_authorize(NULL, "/webmesh.v1.Membership/Heartbeat", &m1, buf, n,
					   why, sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "m1 may act only as itself, not as m2");
	j.id = "m1";
	j.public_key = "x";
	n = webmesh__v1__join_request__pack(&j, buf);
	assert_int_equal(decide("/webmesh.v1.Membership/Join", &m1, buf, n), 0);
	j.routes = routes;
	j.n_routes = 2;
	n = webmesh__v1__join_request__pack(&j, buf);
	assert_int_equal(wm_gate_authorize(NULL, "/webmesh.v1.Membership/Join", &m1, buf, n, why,
					   sizeof(why)),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(why, "m1 may not advertise routes: it needs put routes m1");
}

static void test_other_methods_without_grants(void **state)
{
	struct wm_identity m1 = node("m1", "mtls");
	uint8_t buf[256];
	size_t n = receive_of("m1", buf, sizeof(buf));

	(void)state;
	/* Reads of the mesh: a proven node reads it; any other caller is a
	 * node of the mesh by its registered ID (here is no replica to find
	 * m1 in) or needs "get nodes". */
	struct wm_identity proven = node("m1", "nodeproof");
	proven.kind = WM_ID_NODE;
	proven.proven = true;
	assert_int_equal(decide("/webmesh.v1.Mesh/ListNodes", &proven, NULL, 0), 0);
	assert_int_equal(decide("/webmesh.v1.Mesh/ListNodes", &m1, NULL, 0),
			 WM_GRPC_PERMISSION_DENIED);
	/* SubscribePeers as itself (same field layout as ReceiveSignals). */
	assert_int_equal(decide("/webmesh.v1.Membership/SubscribePeers", &m1, buf, n), 0);
	n = receive_of("m2", buf, sizeof(buf));
	assert_int_equal(decide("/webmesh.v1.Membership/SubscribePeers", &m1, buf, n),
			 WM_GRPC_PERMISSION_DENIED);
	/* Admin writes and unknown methods need grants there are none of. */
	assert_int_equal(decide("/webmesh.v1.Admin/PutEdge", &m1, NULL, 0),
			 WM_GRPC_PERMISSION_DENIED);
	assert_int_equal(decide("/webmesh.v1.Nothing/Such", &m1, NULL, 0),
			 WM_GRPC_PERMISSION_DENIED);
}

/* ---- against a real store ---- */

/* The store of the tests below: test_gate_fixture (test_store_util.h). */
static struct {
	struct test_loop l;
	char dir[64];
	struct wm_store *store;
	struct wm_services *svc; /* freed after the store is closed */
} L;

static int live_setup(void **state)
{
	uint8_t *bufs[TEST_GATE_FIXTURE_MAX];
	size_t lens[TEST_GATE_FIXTURE_MAX], n;

	(void)state;
	memset(&L, 0, sizeof(L));
	snprintf(L.dir, sizeof(L.dir), "/tmp/wm-test-gate-XXXXXX");
	assert_non_null(mkdtemp(L.dir));
	test_loop_init(&L.l);
	L.store = test_lone_leader(&L.l.loop, L.dir, "srv-1");
	n = test_gate_fixture(bufs, lens);
	for (size_t i = 0; i < n; i++)
		test_apply_packed(&L.l, L.store, bufs[i], lens[i]);
	return 0;
}

static int live_teardown(void **state)
{
	bool closed = false;
	char cmd[128];

	(void)state;
	wm_store_close(L.store, test_set_flag_cb, &closed);
	assert_true(test_run_until(&L.l, test_flag_set, &closed));
	wm_services_free(L.svc);
	test_loop_close(&L.l);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", L.dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct wm_identity who(const char *id, enum wm_identity_kind kind)
{
	struct wm_identity i;

	memset(&i, 0, sizeof(i));
	snprintf(i.id, sizeof(i.id), "%s", id);
	snprintf(i.method, sizeof(i.method), "%s", kind == WM_ID_USER ? "basic" : "key");
	i.kind = kind;
	return i;
}

/* A request whose field 1 is name (the object's name or node ID in every
 * message the gate reads a name from). */
static size_t named(const char *name, uint8_t *buf, size_t cap)
{
	size_t n = strlen(name);

	assert_true(n < 128 && n + 2 <= cap);
	buf[0] = 0x0a;
	buf[1] = (uint8_t)n;
	memcpy(buf + 2, name, n);
	return n + 2;
}

static size_t join_of(const char *id, bool voter, bool observer, uint8_t *buf, size_t cap)
{
	Webmesh__V1__JoinRequest j = WEBMESH__V1__JOIN_REQUEST__INIT;
	char key[WM_KEY_B64_LEN + 1];

	test_key(9, key);
	j.id = (char *)id;
	j.public_key = key;
	j.listen_port = 51820;
	j.as_voter = voter;
	j.as_observer = observer;
	assert_true(webmesh__v1__join_request__get_packed_size(&j) <= cap);
	return webmesh__v1__join_request__pack(&j, buf);
}

/* The gate's decision on a live store: status and the exact reason. */
static void expect(const char *path, const struct wm_identity *id, const uint8_t *req, size_t len,
		   int status, const char *reason)
{
	char why[200];
	int st = wm_gate_authorize(L.store, path, id, req, len, why, sizeof(why));

	if (st != status || strcmp(why, reason) != 0)
		fail_msg("%s as %s: got %d \"%s\", want %d \"%s\"", path, id->id, st, why, status,
			 reason);
}

static void expect_named(const char *path, const struct wm_identity *id, const char *name,
			 int status, const char *reason)
{
	uint8_t buf[160];
	size_t n = named(name, buf, sizeof(buf));

	expect(path, id, buf, n, status, reason);
}

#define DENIED WM_GRPC_PERMISSION_DENIED
#define ADMIN "/webmesh.v1.Admin/"

/* m1 may get edges, put routes m1 and delete groups ops, and nothing else of
 * the Admin service: every write and delete, with a name or without. */
static void test_live_admin_methods_as_member(void **state)
{
	struct wm_identity m1 = who("m1", WM_ID_NODE);
	static const struct {
		const char *method, *verb, *resource;
		bool named;
	} refused[] = {
		{"PutEdge", "put", "edges", false},
		{"DeleteEdge", "delete", "edges", false},
		{"PutRoute", "put", "routes", true},
		{"DeleteRoute", "delete", "routes", true},
		{"ListRoutes", "get", "routes", false},
		{"PutRole", "put", "roles", true},
		{"DeleteRole", "delete", "roles", true},
		{"ListRoles", "get", "roles", false},
		{"PutRoleBinding", "put", "rolebindings", true},
		{"DeleteRoleBinding", "delete", "rolebindings", true},
		{"ListRoleBindings", "get", "rolebindings", false},
		{"PutGroup", "put", "groups", true},
		{"DeleteGroup", "delete", "groups", true},
		{"ListGroups", "get", "groups", false},
		{"PutNetworkACL", "put", "networkacls", true},
		{"DeleteNetworkACL", "delete", "networkacls", true},
	};
	char path[96], reason[200];

	(void)state;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		snprintf(path, sizeof(path), ADMIN "%s", refused[i].method);
		if (refused[i].named) {
			/* "m2": a name m1 holds no right on, even where it holds
			 * the verb on another name. */
			snprintf(reason, sizeof(reason), "m1 may not %s %s m2", refused[i].verb,
				 refused[i].resource);
			expect_named(path, &m1, "m2", DENIED, reason);
		} else {
			snprintf(reason, sizeof(reason), "m1 may not %s %s", refused[i].verb,
				 refused[i].resource);
			expect(path, &m1, NULL, 0, DENIED, reason);
		}
	}
	/* Its own rights, on exactly their names. */
	expect(ADMIN "ListEdges", &m1, NULL, 0, 0, "");
	expect_named(ADMIN "PutRoute", &m1, "m1", 0, "");
	expect_named(ADMIN "DeleteRoute", &m1, "m1", DENIED, "m1 may not delete routes m1");
	expect_named(ADMIN "DeleteGroup", &m1, "ops", 0, "");
	expect_named(ADMIN "PutGroup", &m1, "ops", DENIED, "m1 may not put groups ops");
	/* The binding that gives m1 its rights is no right to change it, nor to
	 * bind itself to mesh-admin. */
	expect_named(ADMIN "PutRoleBinding", &m1, "partial", DENIED,
		     "m1 may not put rolebindings partial");
	expect_named(ADMIN "PutRoleBinding", &m1, "mesh-admin", DENIED,
		     "m1 may not put rolebindings mesh-admin");
	expect_named(ADMIN "PutRole", &m1, "partial", DENIED, "m1 may not put roles partial");
	/* Every node reads the ACLs it enforces; CanI is the handler's to check
	 * (it asks "get rolebindings" for a question about someone else). */
	expect(ADMIN "ListNetworkACLs", &m1, NULL, 0, 0, "");
	expect_named(ADMIN "CanI", &m1, "put", 0, "");
	/* Unknown methods: mesh-admin only. */
	expect(ADMIN "Nothing", &m1, NULL, 0, DENIED, "m1 may not call methods");
	expect("/webmesh.v1.Nothing/Such", &m1, NULL, 0, DENIED, "m1 may not call methods");
}

/* Membership as m1: itself yes, another node no, and no Raft role without
 * its binding. */
static void test_live_membership_as_member(void **state)
{
	struct wm_identity m1 = who("m1", WM_ID_NODE);
	uint8_t buf[256];
	size_t n;

	(void)state;
	expect_named("/webmesh.v1.Membership/Leave", &m1, "m1", 0, "");
	expect_named("/webmesh.v1.Membership/Leave", &m1, "m2", DENIED,
		     "m1 may not delete nodes m2");
	expect_named("/webmesh.v1.Membership/Leave", &m1, "srv-1", DENIED,
		     "m1 may not delete nodes srv-1");
	expect_named("/webmesh.v1.Membership/SubscribePeers", &m1, "m1", 0, "");
	expect_named("/webmesh.v1.Membership/SubscribePeers", &m1, "m2", DENIED,
		     "m1 may not get nodes m2");
	expect("/webmesh.v1.Membership/Leave", &m1, NULL, 0, DENIED, "m1 may not delete nodes ");

	n = join_of("m1", false, false, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &m1, buf, n, 0, "");
	n = join_of("m1", true, false, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &m1, buf, n, DENIED,
	       "m1 may not join as a voter (not bound to the voters role)");
	n = join_of("m1", false, true, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &m1, buf, n, DENIED,
	       "m1 may not join as an observer");
	/* A Join whose ID is not the caller's. */
	n = join_of("m2", false, false, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &m1, buf, n, DENIED, "m1 may not put nodes m2");
	n = join_of("srv-2", true, false, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &m1, buf, n, DENIED, "m1 may not put nodes srv-2");
	/* A JoinRequest whose scanned field 1 and decoded ID differ cannot
	 * happen (both take the last occurrence); one that is no JoinRequest
	 * at all is malformed. */
	uint8_t bad[] = {0x0a, 2, 'm', '1', 0x28, 0x80};
	expect("/webmesh.v1.Membership/Join", &m1, bad, sizeof(bad), WM_GRPC_INVALID_ARGUMENT,
	       "malformed request");
}

/* The built-in voters binding and an observers binding: each lets its node
 * join in that role as itself only; the observer binding is no voter right. */
static void test_live_join_roles(void **state)
{
	struct wm_identity srv2 = who("srv-2", WM_ID_NODE), obs = who("obs", WM_ID_NODE);
	uint8_t buf[256];
	size_t n;

	(void)state;
	n = join_of("srv-2", true, false, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &srv2, buf, n, 0, "");
	n = join_of("srv-2", false, true, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &srv2, buf, n, 0, "");
	n = join_of("obs", false, true, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &obs, buf, n, 0, "");
	n = join_of("obs", true, false, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &obs, buf, n, DENIED,
	       "obs may not join as a voter (not bound to the voters role)");
	/* Neither role is a right on anything else. */
	expect(ADMIN "PutEdge", &srv2, NULL, 0, DENIED, "srv-2 may not put edges");
	expect(ADMIN "PutEdge", &obs, NULL, 0, DENIED, "obs may not put edges");
	expect_named("/webmesh.v1.Membership/Leave", &obs, "m1", DENIED,
		     "obs may not delete nodes m1");
	n = join_of("m2", false, true, buf, sizeof(buf));
	expect("/webmesh.v1.Membership/Join", &obs, buf, n, DENIED, "obs may not put nodes m2");
}

/* Subjects by kind: user:alice's rights are not node alice's, a group's
 * user is not a node of that name; the admin may do anything. */
static void test_live_identity_kinds(void **state)
{
	struct wm_identity alice = who("alice", WM_ID_USER), node_alice = who("alice", WM_ID_NODE);
	struct wm_identity bob = who("bob", WM_ID_USER), node_bob = who("bob", WM_ID_NODE);
	struct wm_identity admin = who("admin", WM_ID_USER);
	uint8_t buf[256];
	size_t n;

	(void)state;
	expect_named(ADMIN "PutRoute", &alice, "m1", 0, "");
	expect_named(ADMIN "PutRoute", &node_alice, "m1", DENIED, "alice may not put routes m1");
	expect(ADMIN "PutEdge", &bob, NULL, 0, 0, "");
	expect(ADMIN "PutEdge", &node_bob, NULL, 0, DENIED, "bob may not put edges");
	expect(ADMIN "DeleteEdge", &bob, NULL, 0, DENIED, "bob may not delete edges");
	expect(ADMIN "PutEdge", &admin, NULL, 0, 0, "");
	expect_named(ADMIN "PutRoleBinding", &admin, "mesh-admin", 0, "");
	expect("/webmesh.v1.Nothing/Such", &admin, NULL, 0, 0, "");
	n = join_of("m2", true, false, buf, sizeof(buf));
	/* Even mesh-admin cannot join as a registered node: only the node
	 * itself, proving its WireGuard key, can (issue 10). */
	expect("/webmesh.v1.Membership/Join", &admin, buf, n, DENIED,
	       "node m2 is registered: joining as it again needs its node proof");
	expect_named("/webmesh.v1.Membership/Leave", &admin, "m2", 0, "");
}

/* ---- the same store behind a real server (TLS, htpasswd, the services):
 * CanI for oneself and for someone else, refused writes end to end ---- */

/* crypt(3) SHA-512 of "pw". */
#define HASH_PW                                                                                    \
	"$6$saltsalt$pauPrmdmG4BTE9h2HPmywiw152IFch6BJCEsaY6D.PLTfpV8sqvXwWdyfsgVgozkYH9B80bAip/"  \
	"08R2BPH2xk/"

static struct wm_store *store_of(void *data)
{
	(void)data;
	return L.store;
}

/* One call as user:pw; returns the status. */
static int call_as(struct wm_rpc_client *c, const char *user, const char *path,
		   const ProtobufCMessage *req, struct test_unary *u)
{
	char raw[64], b64[128], hdr[160];
	uint8_t buf[512];

	snprintf(raw, sizeof(raw), "%s:pw", user);
	wm_base64_encode(raw, strlen(raw), b64);
	snprintf(hdr, sizeof(hdr), "Basic %s", b64);
	struct wm_rpc_metadata md = {"authorization", hdr};
	memset(u, 0, sizeof(*u));
	assert_true(protobuf_c_message_get_packed_size(req) <= sizeof(buf));
	assert_int_equal(wm_rpc_client_unary(c, path, buf, protobuf_c_message_pack(req, buf), 10000,
					     &md, 1, test_unary_cb, u),
			 0);
	assert_true(test_run_until(&L.l, test_flag_set, &u->done));
	return u->status;
}

static int can_i(struct wm_rpc_client *c, const char *user, const char *verb, const char *resource,
		 const char *name, const char *as_id, struct test_unary *u, bool *allowed)
{
	Webmesh__V1__CanIRequest q = WEBMESH__V1__CAN_IREQUEST__INIT;

	q.verb = (char *)verb;
	q.resource = (char *)resource;
	q.name = (char *)name;
	q.as_id = (char *)as_id;
	int st = call_as(c, user, "/webmesh.v1.Admin/CanI", &q.base, u);
	if (st == WM_GRPC_OK) {
		Webmesh__V1__CanIResponse *r =
			webmesh__v1__can_iresponse__unpack(NULL, u->len, u->resp);
		assert_non_null(r);
		*allowed = r->allowed;
		webmesh__v1__can_iresponse__free_unpacked(r, NULL);
	}
	return st;
}

static void test_live_through_the_server(void **state)
{
	char path[128], err[256];
	struct wm_rpc_server *srv;
	struct wm_rpc_client *client;
	struct wm_authenticator au;
	struct wm_gate *gate;
	struct wm_auth *auth;
	struct test_unary u;
	bool allowed = false, down = false;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/htpasswd", L.dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "alice:%s\nadmin:%s\n", HASH_PW, HASH_PW);
	fclose(f);
	assert_int_equal(wm_auth_new(&L.l.loop, &auth), 0);
	assert_int_equal(wm_auth_basic_new(path, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(auth, &au), 0);
	struct wm_gate_config gc = {.loop = &L.l.loop, .auth = auth, .store = store_of};
	assert_int_equal(wm_gate_new(&gc, &gate), 0);
	struct wm_services_config sc = {
		.loop = &L.l.loop, .node_id = "srv-1", .store = L.store, .gate = gate};
	assert_int_equal(wm_services_new(&sc, &L.svc), 0);
	assert_int_equal(wm_rpc_server_new(&L.l.loop, NULL, &srv), 0);
	assert_int_equal(wm_services_register_public(L.svc, srv), 0);
	client = test_tls_client(&L.l.loop, test_tls_listen(srv, L.dir, "srv-1"));

	/* CanI about oneself: what alice's binding grants, and what it does
	 * not (a password makes a user: alice is bound as user:alice). */
	assert_int_equal(can_i(client, "alice", "get", "edges", "", "", &u, &allowed), WM_GRPC_OK);
	assert_true(allowed);
	assert_int_equal(can_i(client, "alice", "put", "edges", "", "", &u, &allowed), WM_GRPC_OK);
	assert_false(allowed);
	/* CanI for someone else needs get rolebindings, which alice does not
	 * hold (whatever the answer would have been). */
	assert_int_equal(can_i(client, "alice", "put", "routes", "m1", "m1", &u, &allowed),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(u.message, "asking for someone else needs get rolebindings");
	assert_int_equal(can_i(client, "alice", "get", "edges", "", "admin", &u, &allowed),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(u.message, "asking for someone else needs get rolebindings");
	/* The admin may ask for anyone. */
	assert_int_equal(can_i(client, "admin", "put", "routes", "m1", "alice", &u, &allowed),
			 WM_GRPC_OK);
	assert_true(allowed);
	assert_int_equal(can_i(client, "admin", "put", "routes", "m2", "alice", &u, &allowed),
			 WM_GRPC_OK);
	assert_false(allowed);

	/* A write alice may not do, end to end: refused with the gate's reason and
	 * the state unchanged; the admin's same write goes through. */
	char *before, *after;
	assert_int_equal(wm_store_dump(L.store, &before), 0);
	Webmesh__V1__PutEdgeRequest e = WEBMESH__V1__PUT_EDGE_REQUEST__INIT;
	e.source = "m1";
	e.target = "m2";
	e.weight = 3;
	assert_int_equal(call_as(client, "alice", "/webmesh.v1.Admin/PutEdge", &e.base, &u),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(u.message, "alice may not put edges");
	Webmesh__V1__LeaveRequest lv = WEBMESH__V1__LEAVE_REQUEST__INIT;
	lv.id = "m2";
	assert_int_equal(call_as(client, "alice", "/webmesh.v1.Membership/Leave", &lv.base, &u),
			 WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(u.message, "alice may not delete nodes m2");
	assert_int_equal(call_as(client, "nobody", "/webmesh.v1.Admin/PutEdge", &e.base, &u),
			 WM_GRPC_UNAUTHENTICATED);
	assert_string_equal(u.message, "authentication failed");
	assert_int_equal(wm_store_dump(L.store, &after), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	/* nobody's wrong password made this address wait (core/authlimit.h,
	 * 100 ms first), the admin's call from it included. */
	assert_int_equal(call_as(client, "admin", "/webmesh.v1.Admin/PutEdge", &e.base, &u),
			 WM_GRPC_RESOURCE_EXHAUSTED);
	assert_string_equal(u.message, WM_AUTH_WHY_BACKOFF);
	usleep(250 * 1000);
	assert_int_equal(call_as(client, "admin", "/webmesh.v1.Admin/PutEdge", &e.base, &u),
			 WM_GRPC_OK);
	struct wm_mesh_edge *edges;
	size_t n_edges;
	assert_int_equal(wm_store_list_edges(L.store, &edges, &n_edges), 0);
	assert_int_equal(n_edges, 1);
	assert_int_equal(edges[0].weight, 3);
	assert_true((strcmp(edges[0].source, "m1") == 0 && strcmp(edges[0].target, "m2") == 0) ||
		    (strcmp(edges[0].source, "m2") == 0 && strcmp(edges[0].target, "m1") == 0));
	free(edges);

	wm_rpc_client_free(client);
	wm_services_stop(L.svc);
	wm_rpc_server_shutdown(srv, 0, test_set_flag_cb, &down);
	assert_true(test_run_until(&L.l, test_flag_set, &down));
	wm_rpc_server_free(srv);
	wm_gate_free(gate);
	wm_auth_free(auth);
}

int main(void)
{
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_live_admin_methods_as_member),
		cmocka_unit_test(test_live_membership_as_member),
		cmocka_unit_test(test_live_join_roles),
		cmocka_unit_test(test_live_identity_kinds),
		cmocka_unit_test(test_live_through_the_server),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signaling_as_itself),
		cmocka_unit_test(test_signaling_as_another_node),
		cmocka_unit_test(test_signaling_no_rbac_override),
		cmocka_unit_test(test_local_and_open_mesh),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_other_methods_without_grants),
		cmocka_unit_test(test_heartbeat_and_join_routes),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	return failed + cmocka_run_group_tests(live, live_setup, live_teardown);
}
