/* A command-line driver of the etcd client and store (src/etcd) for
 * tests/integration/test_etcd.py: it speaks to a real etcd.
 *   etcd_tool ENDPOINTS MESH bootstrap V4NET V6NET DOMAIN
 *   etcd_tool ENDPOINTS MESH join ID KEY [IPV4]
 *   etcd_tool ENDPOINTS MESH joins N PREFIX [MS] N concurrent joins, one
 *                                                started every MS ms
 *   etcd_tool ENDPOINTS MESH leave ID
 *   etcd_tool ENDPOINTS MESH deny ID | allow ID
 *   etcd_tool ENDPOINTS MESH list                nodes, then servers
 *   etcd_tool ENDPOINTS MESH edge A B WEIGHT     put an edge
 *   etcd_tool ENDPOINTS MESH routes ID PREFIX    put a route behind a node
 *                                                (route claims checked)
 *   etcd_tool ENDPOINTS MESH dump                the store's dump
 *   etcd_tool ENDPOINTS MESH serve ID ADDR TTL SECONDS   register as a server
 *   etcd_tool ENDPOINTS MESH members             etcd's members (MemberList)
 *   etcd_tool ENDPOINTS MESH watch N SECONDS     print the first N changes
 * Results are one line each ("ok ID IPV4 IPV6", "err ID MESSAGE", "node ...",
 * "change ..."); the exit status is 0 unless something failed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "core/error.h"
#include "core/key.h"
#include "etcd/store.h"

static uv_loop_t *loop;
static bool ready;
static int ready_err;
static unsigned pending, failed, changes, want_changes;

static void log_cb(void *data, const char *msg)
{
	(void)data;
	fprintf(stderr, "etcd_tool: %s\n", msg);
}

static void ready_cb(void *data, int err, const char *msg)
{
	(void)data;
	ready = true;
	ready_err = err;
	if (err < 0)
		fprintf(stderr, "etcd_tool: open: %s\n", msg ? msg : strerror(-err));
}

static void print_node(const char *tag, const struct wm_mesh_node *n)
{
	char v4[WM_PREFIX_STRLEN], v6[WM_PREFIX_STRLEN], key[WM_KEY_B64_LEN + 1];
	wm_prefix_format_addr(&n->ipv4, v4, sizeof(v4));
	wm_prefix_format(&n->ipv6, v6, sizeof(v6));
	wm_key_to_base64(n->public_key, key);
	printf("%s %s %s %s %s\n", tag, n->id, v4, v6, key);
	fflush(stdout);
}

struct join_req {
	char id[64];
};

static void apply_cb(void *data, const struct wm_store_result *res)
{
	struct join_req *j = data;
	pending--;
	if (res->err == 0 && res->node.id[0]) {
		print_node("ok", &res->node);
	} else if (res->err == 0) {
		printf("ok %s\n", j->id);
	} else {
		failed++;
		printf("err %s %s (%s)\n", j->id, res->message, wm_strerror(res->err));
	}
	fflush(stdout);
	free(j);
}

static void change_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	(void)data;
	changes++;
	if (!cmd)
		printf("change %llu reload\n", (unsigned long long)index);
	else if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE)
		printf("change %llu join %s %s\n", (unsigned long long)index, cmd->join_node->id,
		       cmd->join_node->ipv4_request);
	else if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE)
		printf("change %llu remove %s\n", (unsigned long long)index, cmd->remove_node->id);
	else if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE)
		printf("change %llu deny %s\n", (unsigned long long)index, cmd->deny_node->node_id);
	else if (cmd->command_case == WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE)
		printf("change %llu allow %s\n", (unsigned long long)index,
		       cmd->allow_node->node_id);
	else
		printf("change %llu other\n", (unsigned long long)index);
	fflush(stdout);
}

static int join(struct wm_etcd_store *s, const char *id, const char *key, const char *v4)
{
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	Webmesh__V1__JoinNodeCommand j = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	char *ep = "192.0.2.1:51820";
	struct join_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	snprintf(r->id, sizeof(r->id), "%s", id);
	j.id = (char *)id;
	j.public_key = (char *)key;
	j.endpoints = &ep;
	j.n_endpoints = 1;
	j.listen_port = 51820;
	j.ipv4_request = (char *)(v4 ? v4 : "");
	j.full_mesh = true; /* as webmeshd asks: the default edges */
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &j;
	int rv = wm_etcd_store_apply(s, &cmd, apply_cb, r);
	if (rv < 0)
		free(r);
	else
		pending++;
	return rv;
}

static void members_cb(void *data, int err, const char *message, const uint8_t *resp, size_t len)
{
	(void)data;
	pending--;
	Etcdserverpb__MemberListResponse *r =
		err < 0 ? NULL : etcdserverpb__member_list_response__unpack(NULL, len, resp);
	if (!r) {
		failed++;
		fprintf(stderr, "etcd_tool: MemberList: %s\n", message ? message : "undecodable");
		return;
	}
	for (size_t i = 0; i < r->n_members; i++)
		printf("member %s %s\n", r->members[i]->name,
		       r->members[i]->n_clienturls ? r->members[i]->clienturls[0] : "-");
	etcdserverpb__member_list_response__free_unpacked(r, NULL);
}

static void timeout_cb(uv_timer_t *t)
{
	(void)t;
	fprintf(stderr, "etcd_tool: timed out\n");
	exit(3);
}

int main(int argc, char **argv)
{
	char err[256];
	struct wm_etcd_client *c;
	struct wm_etcd_store *s;
	uv_timer_t deadline;

	if (argc < 4) {
		fprintf(stderr, "usage: etcd_tool ENDPOINTS MESH COMMAND ...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	loop = uv_default_loop();
	struct wm_etcd_config cfg = {
		.endpoints = argv[1],
		.ca_file = getenv("ETCD_CA"),
		.cert_file = getenv("ETCD_CERT"),
		.key_file = getenv("ETCD_KEY"),
		.timeout_ms = 3000,
		.retry_ms = getenv("ETCD_RETRY_MS") ? (uint32_t)atoi(getenv("ETCD_RETRY_MS")) : 0,
		.log = log_cb,
	};
	if (wm_etcd_client_new(loop, &cfg, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "etcd_tool: %s\n", err);
		return 2;
	}
	const char *cmd = argv[3];
	unsigned secs = strcmp(cmd, "watch") == 0 && argc > 5	? (unsigned)atoi(argv[5])
			: strcmp(cmd, "serve") == 0 && argc > 7 ? (unsigned)atoi(argv[7]) + 60
								: 60;
	uv_timer_init(loop, &deadline);
	uv_timer_start(&deadline, timeout_cb, secs * 1000ull, 0);
	uv_unref((uv_handle_t *)&deadline);
	if (wm_etcd_store_open(loop, c, argv[2], ready_cb, NULL, &s) < 0) {
		fprintf(stderr, "etcd_tool: cannot reach etcd\n");
		return 1;
	}
	while (!ready)
		uv_run(loop, UV_RUN_ONCE);
	if (ready_err < 0) {
		wm_etcd_store_close(s);
		wm_etcd_client_free(c);
		uv_close((uv_handle_t *)&deadline, NULL);
		uv_run(loop, UV_RUN_DEFAULT);
		return 1;
	}

	if (strcmp(cmd, "bootstrap") == 0 && argc == 7) {
		Webmesh__V1__RaftCommand rc = WEBMESH__V1__RAFT_COMMAND__INIT;
		Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
		struct join_req *r = calloc(1, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "mesh");
		b.network_ipv4 = argv[4];
		b.network_ipv6 = argv[5];
		b.domain = argv[6];
		b.created_at = 1;
		rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
		rc.bootstrap = &b;
		if (wm_etcd_store_apply(s, &rc, apply_cb, r) == 0)
			pending++;
	} else if (strcmp(cmd, "join") == 0 && (argc == 6 || argc == 7)) {
		if (join(s, argv[4], argv[5], argc == 7 ? argv[6] : NULL) < 0)
			failed++;
	} else if ((strcmp(cmd, "joins") == 0 && (argc == 6 || argc == 7))) {
		unsigned n = (unsigned)atoi(argv[4]);
		unsigned ms = argc == 7 ? (unsigned)atoi(argv[6]) : 0;
		for (unsigned i = 0; i < n && i < 1000; i++) {
			/* Pacing keeps joins in flight while a test breaks etcd. */
			if (ms && i) {
				uint64_t until = uv_now(loop) + ms;
				while (uv_now(loop) < until) {
					uv_run(loop, UV_RUN_NOWAIT);
					uv_sleep(5);
					uv_update_time(loop);
				}
			}
			char id[64], key[WM_KEY_B64_LEN + 1];
			wm_key k;
			RAND_bytes(k, sizeof(k));
			wm_key_to_base64(k, key);
			snprintf(id, sizeof(id), "%s%u", argv[5], i);
			if (join(s, id, key, NULL) < 0)
				failed++;
		}
	} else if (strcmp(cmd, "leave") == 0 && argc == 5) {
		Webmesh__V1__RaftCommand rc = WEBMESH__V1__RAFT_COMMAND__INIT;
		Webmesh__V1__RemoveNodeCommand rm = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
		struct join_req *r = calloc(1, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", argv[4]);
		rm.id = argv[4];
		rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
		rc.remove_node = &rm;
		if (wm_etcd_store_apply(s, &rc, apply_cb, r) == 0)
			pending++;
	} else if ((strcmp(cmd, "deny") == 0 || strcmp(cmd, "allow") == 0) && argc == 5) {
		Webmesh__V1__RaftCommand rc = WEBMESH__V1__RAFT_COMMAND__INIT;
		Webmesh__V1__DenyNodeCommand dn = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
		Webmesh__V1__AllowNodeCommand al = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
		struct join_req *r = calloc(1, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", argv[4]);
		if (cmd[0] == 'd') {
			dn.node_id = argv[4];
			dn.by = "etcd_tool";
			rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
			rc.deny_node = &dn;
		} else {
			al.node_id = argv[4];
			rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
			rc.allow_node = &al;
		}
		if (wm_etcd_store_apply(s, &rc, apply_cb, r) == 0)
			pending++;
		else
			free(r);
	} else if ((strcmp(cmd, "edge") == 0 && argc == 7) ||
		   (strcmp(cmd, "routes") == 0 && argc == 6)) {
		Webmesh__V1__RaftCommand rc = WEBMESH__V1__RAFT_COMMAND__INIT;
		Webmesh__V1__PutEdgeCommand pe = WEBMESH__V1__PUT_EDGE_COMMAND__INIT;
		Webmesh__V1__PutRoutesCommand pr = WEBMESH__V1__PUT_ROUTES_COMMAND__INIT;
		char *rt[1] = {argc > 5 ? argv[5] : NULL};
		struct join_req *r = calloc(1, sizeof(*r));
		snprintf(r->id, sizeof(r->id), "%s", argv[4]);
		if (cmd[0] == 'e') {
			pe.source = argv[4];
			pe.target = argv[5];
			pe.weight = atoi(argv[6]);
			rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
			rc.put_edge = &pe;
		} else {
			pr.node_id = argv[4];
			pr.routes = rt;
			pr.n_routes = 1;
			pr.route_claims_checked = true;
			rc.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES;
			rc.put_routes = &pr;
		}
		if (wm_etcd_store_apply(s, &rc, apply_cb, r) == 0)
			pending++;
		else
			free(r);
	} else if (strcmp(cmd, "dump") == 0 && argc == 4) {
		char *d = NULL;
		if (wm_etcd_store_dump(s, &d) < 0)
			return 1;
		fputs(d, stdout);
		free(d);
	} else if (strcmp(cmd, "list") == 0) {
		struct wm_mesh_node *v;
		size_t n;
		struct wm_mesh_info info;
		if (wm_etcd_store_mesh_info(s, &info) < 0) {
			fprintf(stderr, "etcd_tool: no mesh\n");
			return 1;
		}
		if (wm_etcd_store_list_nodes(s, &v, &n) < 0)
			return 1;
		for (size_t i = 0; i < n; i++)
			print_node("node", &v[i]);
		free(v);
		struct wm_etcd_server *sv;
		if (wm_etcd_store_list_servers(s, &sv, &n) < 0)
			return 1;
		for (size_t i = 0; i < n; i++) {
			char a[WM_ENDPOINT_STRLEN];
			wm_endpoint_format(&sv[i].api, a, sizeof(a));
			printf("server %s %s\n", sv[i].node_id, a);
		}
		free(sv);
	} else if (strcmp(cmd, "members") == 0 && argc == 4) {
		Etcdserverpb__MemberListRequest rq = ETCDSERVERPB__MEMBER_LIST_REQUEST__INIT;
		if (wm_etcd_call(c, "/etcdserverpb.Cluster/MemberList", &rq.base, members_cb,
				 NULL) == 0)
			pending++;
		else
			failed++;
	} else if (strcmp(cmd, "serve") == 0 && argc == 8) {
		int r = wm_etcd_store_register_server(s, argv[4], argv[5], (unsigned)atoi(argv[6]));
		if (r < 0) {
			fprintf(stderr, "etcd_tool: serve: %s\n", strerror(-r));
			return 2;
		}
		uint64_t until = uv_now(loop) + 1000ull * (unsigned)atoi(argv[7]);
		bool said = false;
		while (uv_now(loop) < until) {
			uv_run(loop, UV_RUN_NOWAIT);
			uv_sleep(20);
			uv_update_time(loop);
			struct wm_etcd_server *sv;
			size_t n;
			if (!said && wm_etcd_store_list_servers(s, &sv, &n) == 0) {
				for (size_t i = 0; i < n; i++)
					if (strcmp(sv[i].node_id, argv[4]) == 0) {
						printf("registered %s\n", argv[4]);
						fflush(stdout);
						said = true;
					}
				free(sv);
			}
		}
	} else if (strcmp(cmd, "watch") == 0 && argc == 6) {
		want_changes = (unsigned)atoi(argv[4]);
		wm_etcd_store_on_change(s, change_cb, NULL);
		printf("watching %lld\n", (long long)wm_etcd_store_revision(s));
		fflush(stdout);
		while (changes < want_changes)
			uv_run(loop, UV_RUN_ONCE);
		printf("restarts %u\n", wm_etcd_store_watch_restarts(s));
	} else {
		fprintf(stderr, "etcd_tool: bad command\n");
		return 2;
	}
	while (pending)
		uv_run(loop, UV_RUN_ONCE);
	wm_etcd_store_close(s);
	wm_etcd_client_free(c);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	return failed ? 1 : 0;
}
