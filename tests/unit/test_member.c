/* The member component (src/node/member.c) on a real loop against a fake
 * server (the RPC layer over TLS on 127.0.0.1): it asks the server who it
 * is, joins, writes the lease it got, follows the peer stream and learns the
 * servers in it; its close cancels the stream and the retry timer and leaves
 * no handle behind; a server that cannot be reached is retried until the
 * close; a bad --join is refused at start. */
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

#include "core/key.h"
#include "node/member.h"
#include "rpc/tls.h"
#include "services/paths.h"

#define SERVER_ID "server-1"

struct fx {
	uv_loop_t loop;
	char dir[64], cert[96], key[96], fp[WM_FINGERPRINT_LEN];
	char server_key[WM_KEY_B64_LEN + 1];
	SSL_CTX *srv_tls;
	struct wm_rpc_server *srv;
	bool srv_done;
	struct wm_config cfg;
	struct wm_member m;
	struct wm_mesh_info mesh;
	struct wm_prefix ipv4, ipv6;
	struct wm_endpoint endpoints[WM_MAX_ENDPOINTS];
	size_t n_endpoints;
	wm_key priv, pub;
	/* the fake server's side */
	int info_calls, join_calls, subscribe_calls, stream_cancelled;
	char join_id[64];
	struct wm_rpc_call *stream;
	/* the member's callbacks */
	int metadata_calls, joined, running, peers, stops, closes, restored;
	size_t n_servers_seen;
	char last_path[128];
};

/* ------------------------------------------------------------ the server */

static void info_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	struct fx *fx = data;
	fx->info_calls++;
	Webmesh__V1__BootstrapInfo info = WEBMESH__V1__BOOTSTRAP_INFO__INIT;
	info.id = SERVER_ID;
	info.public_key = fx->server_key;
	uint8_t buf[256];
	size_t n = webmesh__v1__bootstrap_info__pack(&info, buf);
	wm_rpc_call_send(call, buf, n);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void join_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	struct fx *fx = data;
	fx->join_calls++;
	Webmesh__V1__JoinRequest *jr = webmesh__v1__join_request__unpack(NULL, len, req);
	assert_non_null(jr);
	snprintf(fx->join_id, sizeof(fx->join_id), "%s", jr->id);
	webmesh__v1__join_request__free_unpacked(jr, NULL);
	Webmesh__V1__JoinResponse r = WEBMESH__V1__JOIN_RESPONSE__INIT;
	r.network_ipv4 = "172.16.0.0/12";
	r.network_ipv6 = "fd00:aa::/48";
	r.address_ipv4 = "172.16.0.2/12";
	r.address_ipv6 = "fd00:aa:0:0:0:0:1:0/112";
	r.mesh_domain = "webmesh.internal";
	r.server_id = SERVER_ID;
	uint8_t buf[512];
	size_t n = webmesh__v1__join_response__pack(&r, buf);
	wm_rpc_call_send(call, buf, n);
	wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
}

static void stream_cancel_cb(struct wm_rpc_call *call, void *data)
{
	struct fx *fx = data;
	assert_ptr_equal(call, fx->stream);
	fx->stream_cancelled++;
	fx->stream = NULL;
	wm_rpc_call_finish(call, WM_GRPC_CANCELLED, NULL);
}

/* One peer set naming a voter at a mesh address, then the stream stays open. */
static void subscribe_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	(void)req;
	(void)len;
	struct fx *fx = data;
	fx->subscribe_calls++;
	Webmesh__V1__MeshNode node = WEBMESH__V1__MESH_NODE__INIT;
	node.id = SERVER_ID;
	node.public_key = fx->server_key;
	node.private_ipv4 = "172.16.0.1/32";
	node.raft_role = WEBMESH__V1__RAFT_ROLE__RAFT_ROLE_VOTER;
	Webmesh__V1__WireGuardPeer peer = WEBMESH__V1__WIRE_GUARD_PEER__INIT;
	peer.node = &node;
	Webmesh__V1__WireGuardPeer *peers[] = {&peer};
	Webmesh__V1__PeerConfigurations pc = WEBMESH__V1__PEER_CONFIGURATIONS__INIT;
	pc.index = 1;
	pc.peers = peers;
	pc.n_peers = 1;
	uint8_t buf[1024];
	size_t n = webmesh__v1__peer_configurations__pack(&pc, buf);
	fx->stream = call;
	wm_rpc_call_set_cancel_cb(call, stream_cancel_cb, fx);
	wm_rpc_call_send(call, buf, n);
}

static void srv_done_cb(void *data)
{
	((struct fx *)data)->srv_done = true;
}

/* ------------------------------------------------------------ the daemon */

static size_t metadata_cb(void *data, const char *path, const char *server_fp,
			  struct wm_rpc_metadata *md, size_t max)
{
	(void)server_fp;
	(void)md;
	(void)max;
	struct fx *fx = data;
	fx->metadata_calls++;
	snprintf(fx->last_path, sizeof(fx->last_path), "%s", path);
	return 0;
}

static struct wm_store *no_store(void *data)
{
	(void)data;
	return NULL;
}

static int open_store(void *data, char *err, size_t errlen)
{
	(void)data;
	snprintf(err, errlen, "a plain member opens no store");
	return -EPERM;
}

static int serve_public(void *data, char *err, size_t errlen)
{
	(void)data;
	snprintf(err, errlen, "a plain member does not serve");
	return -EPERM;
}

static void restored_cb(void *data)
{
	((struct fx *)data)->restored++;
}

static int joined_cb(void *data, const Webmesh__V1__JoinResponse *r)
{
	struct fx *fx = data;
	assert_string_equal(r->server_id, SERVER_ID);
	fx->joined++;
	return 0;
}

static void peers_cb(void *data, const Webmesh__V1__PeerConfigurations *pc)
{
	struct fx *fx = data;
	assert_int_equal(pc->n_peers, 1);
	fx->peers++;
}

static void servers_cb(void *data, const char *const *servers, size_t n)
{
	(void)servers;
	((struct fx *)data)->n_servers_seen = n;
}

/* as daemon.c: the event goes back to the member */
static void running_cb(void *data)
{
	struct fx *fx = data;
	fx->running++;
	wm_member_running(&fx->m);
}

static void stop_cb(void *data, int exit_code)
{
	(void)exit_code;
	((struct fx *)data)->stops++;
}

static bool in_mesh(void *data)
{
	return ((struct fx *)data)->running > 0;
}

static bool stopping(void *data)
{
	return ((struct fx *)data)->stops > 0;
}

static void closed_cb(void *data)
{
	((struct fx *)data)->closes++;
}

/* ------------------------------------------------------------ fixture */

static void run_until(struct fx *fx, const int *n, int want)
{
	for (int i = 0; *n < want && i < 100000; i++)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_int_equal(*n, want);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char err[256];
	if (!fx || uv_loop_init(&fx->loop) < 0)
		return -1;
	strcpy(fx->dir, "/tmp/wm-member-XXXXXX");
	if (!mkdtemp(fx->dir))
		return -1;
	snprintf(fx->cert, sizeof(fx->cert), "%s/tls.crt", fx->dir);
	snprintf(fx->key, sizeof(fx->key), "%s/tls.key", fx->dir);
	const char *ips[] = {"127.0.0.1"};
	if (wm_tls_ensure_self_signed(fx->cert, fx->key, SERVER_ID, ips, 1, err, sizeof(err)) ||
	    wm_tls_cert_file_fingerprint(fx->cert, fx->fp))
		return -1;
	/* any 32 bytes: the fake server checks no node proof */
	wm_key spub;
	memset(spub, 7, sizeof(spub));
	memset(fx->priv, 1, sizeof(fx->priv));
	memset(fx->pub, 2, sizeof(fx->pub));
	wm_key_to_base64(spub, fx->server_key);
	if (wm_config_init(&fx->cfg) < 0)
		return -1;
	/* the defaults are the config's own strings: replaced, not leaked */
	free(fx->cfg.state_dir);
	free(fx->cfg.join_fingerprint);
	fx->cfg.state_dir = strdup(fx->dir);
	fx->cfg.join_fingerprint = strdup(fx->fp);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	/* a test that failed half-way still leaves nothing running */
	if (fx->m.inited && !fx->m.closed)
		wm_member_close(&fx->m, closed_cb, fx);
	wm_member_free(&fx->m);
	if (fx->srv) {
		wm_rpc_server_shutdown(fx->srv, 0, srv_done_cb, fx);
		for (int i = 0; !fx->srv_done && i < 100000; i++)
			uv_run(&fx->loop, UV_RUN_ONCE);
		wm_rpc_server_free(fx->srv);
	}
	SSL_CTX_free(fx->srv_tls);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	/* the component left no handle open */
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	char path[128];
	snprintf(path, sizeof(path), "%s/mesh.state", fx->dir);
	unlink(path);
	unlink(fx->cert);
	unlink(fx->key);
	rmdir(fx->dir);
	wm_config_free(&fx->cfg);
	free(fx);
	return 0;
}

static void start_server(struct fx *fx)
{
	char err[256];
	struct wm_tls_server_opts so = {.cert_file = fx->cert, .key_file = fx->key};
	struct wm_rpc_server_config sc = {0};
	fx->srv_tls = wm_tls_server_ctx_new(&so, err, sizeof(err));
	assert_non_null(fx->srv_tls);
	assert_int_equal(wm_rpc_server_new(&fx->loop, &sc, &fx->srv), 0);
	const struct wm_rpc_method methods[] = {
		{WM_METHOD_NODE_GET_BOOTSTRAP_INFO, false, info_handler, fx},
		{WM_METHOD_MEMBERSHIP_JOIN, false, join_handler, fx},
		{WM_METHOD_MEMBERSHIP_SUBSCRIBE_PEERS, true, subscribe_handler, fx},
	};
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		assert_int_equal(wm_rpc_server_register(fx->srv, &methods[i]), 0);
	assert_int_equal(wm_rpc_server_listen_tcp(fx->srv, "127.0.0.1", 0, fx->srv_tls), 0);
}

static void init_member(struct fx *fx, const char *join)
{
	free(fx->cfg.join);
	fx->cfg.join = strdup(join);
	struct wm_member_config c = {
		.loop = &fx->loop,
		.cfg = &fx->cfg,
		.node_id = "node-a",
		.private_key = fx->priv,
		.public_key = fx->pub,
		.api_port = 8443,
		.mesh = &fx->mesh,
		.ipv4 = &fx->ipv4,
		.ipv6 = &fx->ipv6,
		.endpoints = fx->endpoints,
		.n_endpoints = &fx->n_endpoints,
		.call_metadata = metadata_cb,
		.store = no_store,
		.open_store = open_store,
		.serve_public = serve_public,
		.restored_cb = restored_cb,
		.joined_cb = joined_cb,
		.peers_cb = peers_cb,
		.servers_cb = servers_cb,
		.running_cb = running_cb,
		.stop_cb = stop_cb,
		.in_mesh = in_mesh,
		.stopping = stopping,
		.data = fx,
	};
	wm_member_init(&fx->m, &c);
}

/* ------------------------------------------------------------ tests */

static void test_join_follow_and_close(void **state)
{
	struct fx *fx = *state;
	char err[256] = "", join[64];
	start_server(fx);
	snprintf(join, sizeof(join), "127.0.0.1:%d", wm_rpc_server_port(fx->srv));
	init_member(fx, join);
	assert_int_equal(wm_member_start(&fx->m, err, sizeof(err)), 0);
	assert_int_equal(fx->restored, 0);	 /* no mesh.state yet */
	assert_null(wm_member_upstream(&fx->m)); /* not joined */
	assert_string_equal(wm_member_server(&fx->m), join);
	wm_member_join(&fx->m);
	run_until(fx, &fx->peers, 1);

	/* asked who the server is, joined, wrote the lease, followed the stream */
	assert_int_equal(fx->info_calls, 1);
	assert_int_equal(fx->join_calls, 1);
	assert_string_equal(fx->join_id, "node-a");
	assert_int_equal(fx->joined, 1);
	assert_int_equal(fx->running, 1);
	assert_int_equal(fx->subscribe_calls, 1);
	assert_int_equal(fx->stops, 0);
	/* every call carried the daemon's credentials */
	assert_int_equal(fx->metadata_calls, 3);
	assert_string_equal(fx->last_path, WM_METHOD_MEMBERSHIP_SUBSCRIBE_PEERS);
	char addr[WM_PREFIX_STRLEN];
	wm_prefix_format_addr(&fx->ipv4, addr, sizeof(addr));
	assert_string_equal(addr, "172.16.0.2");
	assert_string_equal(fx->mesh.domain, "webmesh.internal");
	assert_non_null(wm_member_upstream(&fx->m));
	assert_true(wm_member_subscribed(&fx->m));
	/* the voter in the peer set is a server to fail over to */
	const char *servers[WM_MAX_SERVERS];
	assert_int_equal(wm_member_servers(&fx->m, servers, WM_MAX_SERVERS), 2);
	assert_string_equal(servers[0], join);
	assert_string_equal(servers[1], "172.16.0.1:8443");
	assert_int_equal(fx->n_servers_seen, 2);

	/* the close cancels the stream and closes the retry timer */
	wm_member_close(&fx->m, closed_cb, fx);
	assert_int_equal(fx->closes, 0); /* after the timer's close callback */
	assert_true(uv_is_closing((uv_handle_t *)&fx->m.retry_timer));
	assert_null(fx->m.peer_stream);
	run_until(fx, &fx->closes, 1);
	run_until(fx, &fx->stream_cancelled, 1);
	/* a server lost after the close moves nothing */
	wm_member_upstream_failed(&fx->m);
	assert_int_equal(fx->m.cur_server, 0);
	/* a second close calls back at once */
	wm_member_close(&fx->m, closed_cb, fx);
	assert_int_equal(fx->closes, 2);
}

/* Port 1 on loopback: nobody listens, the connection is refused. */
static void test_unreachable_server_is_retried_until_closed(void **state)
{
	struct fx *fx = *state;
	char err[256] = "";
	init_member(fx, "127.0.0.1:1");
	assert_int_equal(wm_member_start(&fx->m, err, sizeof(err)), 0);
	wm_member_join(&fx->m);
	for (int i = 0; i < 100000 && !uv_is_active((uv_handle_t *)&fx->m.retry_timer); i++)
		uv_run(&fx->loop, UV_RUN_ONCE);
	assert_true(uv_is_active((uv_handle_t *)&fx->m.retry_timer));
	assert_int_equal(fx->joined, 0);
	assert_int_equal(fx->stops, 0); /* a refused connection is worth another try */
	assert_null(wm_member_upstream(&fx->m));
	wm_member_close(&fx->m, closed_cb, fx);
	run_until(fx, &fx->closes, 1);
	assert_false(uv_is_active((uv_handle_t *)&fx->m.retry_timer));
	/* an answer after the close schedules nothing */
	wm_member_upstream_failed(&fx->m);
	assert_false(uv_is_active((uv_handle_t *)&fx->m.retry_timer));
}

static void test_bad_join_is_refused_at_start(void **state)
{
	struct fx *fx = *state;
	char err[256] = "";
	init_member(fx, "no-port-here");
	assert_int_equal(wm_member_start(&fx->m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not HOST:PORT"));
	/* a member whose start failed still closes */
	wm_member_close(&fx->m, closed_cb, fx);
	run_until(fx, &fx->closes, 1);
	/* nothing to verify the server with */
	free(fx->cfg.join_fingerprint);
	fx->cfg.join_fingerprint = NULL;
	init_member(fx, "127.0.0.1:1");
	assert_int_equal(wm_member_start(&fx->m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--ca-file"));
	wm_member_close(&fx->m, closed_cb, fx);
	run_until(fx, &fx->closes, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_join_follow_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unreachable_server_is_retried_until_closed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_join_is_refused_at_start, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
