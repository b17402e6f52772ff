/* libFuzzer harness for the gate's decisions (src/services/gate.c,
 * wm_gate_authorize): a fuzzed method path, caller identity and request
 * against a real store - a one-voter Raft store in a scratch directory,
 * opened once, holding the nodes, roles, bindings and group of the gate's
 * unit test (test_gate_fixture in tests/unit/test_store_util.h) - so that
 * every rule of the policy table is reached with grants that exist, not only
 * the decoders.
 *
 * Input: byte 0 picks the path (the policy table's methods and two unknown
 * ones; 0xff: the path is the next bytes up to a '\n'); byte 1 the caller:
 * bits 0-2 a name (m1 m2 srv-1 srv-2 alice bob admin obs), bits 3-4 the kind
 * (any, node, user), bit 5 "the name is the next bytes up to a '\n'", bit 6
 * local, bit 7 anonymous; the rest is the request.
 * Properties: the status is 0, PERMISSION_DENIED or INVALID_ARGUMENT; a
 * refusal says why and an allowed call says nothing; local callers pass;
 * anonymous callers pass all but a Join and the local socket's own
 * methods, which no caller from the network passes; a caller without any
 * grant (a name no binding knows) passes only the methods any authenticated
 * caller may call or its own node's, and no read of the mesh; the same call
 * decided twice gives the same answer.
 *
 * Built by `make fuzz` (tests/fuzz/CMakeLists.txt), with the seed corpus
 * tests/fuzz/corpus/fuzz_gate/. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <uv.h>

#include "../unit/test_store_util.h"
#include "services/gate.h"
#include "services/methods.h"
#include "store/store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
	"/webmesh.v1.Membership/Join",
	"/webmesh.v1.Membership/Leave",
	"/webmesh.v1.Membership/SubscribePeers",
	"/webmesh.v1.Membership/Heartbeat",
	"/webmesh.v1.Mesh/GetNode",
	"/webmesh.v1.Mesh/ListNodes",
	"/webmesh.v1.Mesh/GetMeshGraph",
	"/webmesh.v1.Node/GetStatus",
	"/webmesh.v1.Node/GetBootstrapInfo",
	"/webmesh.v1.Node/SubscribeStatus",
	"/webmesh.v1.Admin/PutEdge",
	"/webmesh.v1.Admin/DeleteEdge",
	"/webmesh.v1.Admin/ListEdges",
	"/webmesh.v1.Admin/PutRoute",
	"/webmesh.v1.Admin/DeleteRoute",
	"/webmesh.v1.Admin/ListRoutes",
	"/webmesh.v1.Admin/PutRole",
	"/webmesh.v1.Admin/DeleteRole",
	"/webmesh.v1.Admin/ListRoles",
	"/webmesh.v1.Admin/PutRoleBinding",
	"/webmesh.v1.Admin/DeleteRoleBinding",
	"/webmesh.v1.Admin/ListRoleBindings",
	"/webmesh.v1.Admin/PutGroup",
	"/webmesh.v1.Admin/DeleteGroup",
	"/webmesh.v1.Admin/ListGroups",
	"/webmesh.v1.Admin/PutNetworkACL",
	"/webmesh.v1.Admin/DeleteNetworkACL",
	"/webmesh.v1.Admin/ListNetworkACLs",
	"/webmesh.v1.Admin/CanI",
	"/webmesh.v1.Signaling/SendSignal",
	"/webmesh.v1.Signaling/ReceiveSignals",
	"/webmesh.v1.Signaling/GetTurnCredentials",
	"/webmesh.v1.Node/Ping",
	"/webmesh.v1.Node/LeaveMesh",
	"/webmesh.v1.Admin/Nothing",
	"/webmesh.v1.Nothing/Such",
};
#define N_PATHS (sizeof(paths) / sizeof(paths[0]))

static bool listed(const char *const *list, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], path) == 0)
			return true;
	return false;
}

/* Methods any authenticated caller may call, whatever it asks. */
static bool open_to_all(const char *path)
{
	static const char *const open[] = {
		"/webmesh.v1.Node/GetBootstrapInfo",
		"/webmesh.v1.Admin/CanI",
	};
	return listed(open, sizeof(open) / sizeof(open[0]), path);
}

/* Reads of the mesh: a node of the mesh, or RBAC's get (WM_POLICY_MESH_READ). */
static bool mesh_read(const char *path)
{
	static const char *const reads[] = {
		"/webmesh.v1.Mesh/GetNode",	    "/webmesh.v1.Mesh/ListNodes",
		"/webmesh.v1.Mesh/GetMeshGraph",    "/webmesh.v1.Node/GetStatus",
		"/webmesh.v1.Node/SubscribeStatus", "/webmesh.v1.Admin/ListNetworkACLs",
	};
	return listed(reads, sizeof(reads) / sizeof(reads[0]), path);
}

static const char *const names[] = {"m1", "m2", "srv-1", "srv-2", "alice", "bob", "admin", "obs"};

static uv_loop_t loop;
static struct wm_store *store;
static char dir[] = "/tmp/wm-fuzz-gate-XXXXXX";

static void cleanup(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz_gate: could not remove %s\n", dir);
}

static bool done_flag;
static int done_err;

static void applied_cb(void *data, const struct wm_store_result *res)
{
	(void)data;
	done_flag = true;
	done_err = res->err;
	if (res->err)
		fprintf(stderr, "fuzz_gate: apply: %s\n", res->message);
}

/* Runs the loop until done_flag or about 20 s. */
static void wait_done(void)
{
	for (int i = 0; i < 4000 && !done_flag; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (!done_flag)
			usleep(5000);
	}
	if (!done_flag || done_err)
		abort();
}

/* Applies a packed command (freed here) and waits for it. */
static void apply_packed(uint8_t *buf, size_t len)
{
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);

	free(buf);
	if (!cmd)
		abort();
	done_flag = false;
	if (wm_store_apply(store, cmd, applied_cb, NULL) != 0)
		abort();
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	wait_done();
}

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		abort();
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static int nobody(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1], uint8_t pub[32],
		  bool *is_server)
{
	(void)data;
	(void)raft_id;
	(void)node_id;
	(void)pub;
	(void)is_server;
	return -ENOENT;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char addr[32], err[512];
	struct wm_store_status st;

	(void)argc;
	(void)argv;
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", free_port());
	/* A one-voter store never opens a Raft connection: any key will do,
	 * and the lookup knows nobody. */
	static const uint8_t wg_key[32] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct wm_store_config cfg = {.dir = dir,
				      .node_id = "srv-1",
				      .raft_address = addr,
				      .bootstrap = true,
				      .heartbeat_ms = 50,
				      .election_ms = 300,
				      .wg_private_key = wg_key,
				      .peer_lookup = nobody};
	if (uv_loop_init(&loop) || wm_store_open(&loop, &cfg, &store, err, sizeof(err))) {
		fprintf(stderr, "fuzz_gate: %s\n", err);
		abort();
	}
	for (int i = 0; i < 4000; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		wm_store_status(store, &st);
		if (st.is_leader)
			break;
		usleep(5000);
	}
	if (!st.is_leader)
		abort();

	uint8_t *bufs[TEST_GATE_FIXTURE_MAX];
	size_t lens[TEST_GATE_FIXTURE_MAX];
	size_t n = test_gate_fixture(bufs, lens);
	for (size_t i = 0; i < n; i++)
		apply_packed(bufs[i], lens[i]);
	return 0;
}

/* Takes bytes up to '\n' (or the end) from *p into out as a string. */
static void take_line(const uint8_t **p, size_t *n, char *out, size_t cap)
{
	size_t i = 0;
	while (*n > 0 && **p != '\n') {
		if (i + 1 < cap)
			out[i++] = (char)**p;
		(*p)++;
		(*n)--;
	}
	if (*n > 0) {
		(*p)++;
		(*n)--;
	}
	out[i] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[256], why[200], why2[200];
	struct wm_identity id;

	if (size < 2 || size > 16384)
		return 0;
	uint8_t pick = data[0], who = data[1];
	data += 2;
	size -= 2;
	if (pick == 0xff)
		take_line(&data, &size, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s", paths[pick % N_PATHS]);
	memset(&id, 0, sizeof(id));
	if (who & 0x20)
		take_line(&data, &size, id.id, sizeof(id.id));
	else
		snprintf(id.id, sizeof(id.id), "%s", names[who & 7]);
	id.kind = (enum wm_identity_kind)(((who >> 3) & 3) % 3);
	id.local = who & 0x40;
	id.anonymous = who & 0x80;
	snprintf(id.method, sizeof(id.method), "%s",
		 id.local	? "local"
		 : id.anonymous ? "anonymous"
				: "fuzz");

	memset(why, 'x', sizeof(why));
	int st = wm_gate_authorize(store, path, &id, data, size, why, sizeof(why));
	if (st != 0 && st != WM_GRPC_PERMISSION_DENIED && st != WM_GRPC_INVALID_ARGUMENT)
		abort();
	if (!memchr(why, '\0', sizeof(why)))
		abort();
	if ((st == 0) != (why[0] == '\0'))
		abort();
	/* The local socket passes everything; an open mesh's anonymous caller
	 * everything but a Join of a registered node, which only that node's
	 * own proof passes (issue 10), and the methods of the local socket,
	 * which nobody from the network passes (the method table's policy). */
	const struct wm_method_def *def = wm_method_find(path);
	bool local_only = def && def->policy == WM_POLICY_LOCAL;
	if (id.local && st != 0)
		abort();
	if (!id.local && local_only && st != WM_GRPC_PERMISSION_DENIED)
		abort();
	if (id.anonymous && !id.local && st != 0 && !local_only &&
	    strcmp(path, "/webmesh.v1.Membership/Join") != 0)
		abort();
	if (open_to_all(path) && st != 0)
		abort();
	int st2 = wm_gate_authorize(store, path, &id, data, size, why2, sizeof(why2));
	if (st2 != st || strcmp(why, why2) != 0)
		abort();
	/* A caller no binding knows (no group, not "all") gets nothing from
	 * RBAC: it passes only what is open to all or about its own node. */
	bool known = false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		known |= strcmp(id.id, names[i]) == 0;
	/* ... and no read of the mesh: it is no node of it, and unproven */
	if (st == 0 && !known && !id.local && !id.anonymous && mesh_read(path))
		abort();
	if (st == 0 && !known && !id.local && !id.anonymous && !open_to_all(path)) {
		struct wm_gate_fields f;
		if (wm_gate_scan(data, size, &f) != 0 || !f.has_name || strcmp(f.name, id.id) != 0)
			abort();
	}
	return 0;
}
