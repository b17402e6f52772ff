/* Forwarding writes to the Raft leader (src/services/leader.c) with real
 * parts: two stores on loopback (alpha leads, beta follows), beta's services
 * answering an Admin write on a unix socket, and in alpha's place at the API
 * port an in-process gRPC server over TLS that records what it is sent and
 * answers as the test tells it. Checked: a forwarded write carries
 * proxied-from and the leader's answer comes back; a call that was itself
 * forwarded is not forwarded again (one hop); a leader that keeps answering
 * UNAVAILABLE is tried MAX_ATTEMPTS (8) times and its answer relayed; and
 * when leadership moves to beta during the retries the caller is told to
 * retry on it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/mesh.h"
#include "services/services.h"
#include "test_store_live.h"
#include "test_store_util.h"
#include "test_tls_live.h"
#include "webmesh/v1/admin.pb-c.h"

#define PUT_EDGE "/webmesh.v1.Admin/PutEdge"

static struct test_loop L;

static void member_cb(void *data, int err)
{
	struct test_applied *a = data;
	a->done = true;
	a->err = err;
}

/* ---- the stand-in for alpha's API ---- */

static struct {
	unsigned calls;
	int status; /* what it answers */
	char proxied_from[64];
	bool moves_leadership; /* on its first call: alpha hands leadership to beta */
	struct test_applied transfer;
} leader;

static struct wm_store *alpha, *beta;

static void leader_handler(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data)
{
	const char *from = wm_rpc_call_metadata(call, "x-webmesh-proxied-from");

	(void)req;
	(void)len;
	(void)data;
	leader.calls++;
	snprintf(leader.proxied_from, sizeof(leader.proxied_from), "%s", from ? from : "");
	if (leader.moves_leadership && leader.calls == 1)
		assert_int_equal(wm_store_transfer_leadership(alpha, member_cb, &leader.transfer),
				 0);
	if (leader.status == WM_GRPC_OK) {
		Webmesh__V1__AdminWriteResponse r = WEBMESH__V1__ADMIN_WRITE_RESPONSE__INIT;
		uint8_t buf[32];
		r.index = 42;
		wm_rpc_call_send(call, buf, webmesh__v1__admin_write_response__pack(&r, buf));
		wm_rpc_call_finish(call, WM_GRPC_OK, NULL);
	} else {
		wm_rpc_call_finish(call, leader.status, "the stand-in leader says no");
	}
}

/* ---- the caller, on beta's local socket ---- */

struct unary {
	bool done;
	int status;
	char message[256];
	uint64_t index;
};

static void unary_cb(void *data, int status, const char *message, const uint8_t *resp, size_t len)
{
	struct unary *u = data;

	u->done = true;
	u->status = status;
	snprintf(u->message, sizeof(u->message), "%s", message ? message : "");
	if (status == WM_GRPC_OK) {
		Webmesh__V1__AdminWriteResponse *r =
			webmesh__v1__admin_write_response__unpack(NULL, len, resp);
		assert_non_null(r);
		u->index = r->index;
		webmesh__v1__admin_write_response__free_unpacked(r, NULL);
	}
}

static struct wm_rpc_client *client;

static void put_edge(const struct wm_rpc_metadata *md, size_t n, struct unary *u)
{
	Webmesh__V1__PutEdgeRequest e = WEBMESH__V1__PUT_EDGE_REQUEST__INIT;
	uint8_t buf[128];

	e.source = "alpha";
	e.target = "beta";
	e.weight = 3;
	memset(u, 0, sizeof(*u));
	assert_int_equal(wm_rpc_client_unary(client, PUT_EDGE, buf,
					     webmesh__v1__put_edge_request__pack(&e, buf), 15000,
					     md, n, unary_cb, u),
			 0);
	assert_true(test_run_until(&L, test_flag_set, &u->done));
}

static void reset_leader(int status)
{
	leader.calls = 0;
	leader.status = status;
	leader.proxied_from[0] = '\0';
	leader.moves_leadership = false;
	memset(&leader.transfer, 0, sizeof(leader.transfer));
}

static void test_forwarding(void **state)
{
	char da[] = "/tmp/wm-test-fwd-XXXXXX", db[] = "/tmp/wm-test-fwd-XXXXXX";
	char aa[32], ab[32], err[512], sock[96];
	struct wm_rpc_server *fake, *local;
	struct wm_services *svc;
	struct unary u;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(da));
	assert_non_null(mkdtemp(db));
	snprintf(aa, sizeof(aa), "127.0.0.1:%d", test_free_port());
	do
		snprintf(ab, sizeof(ab), "127.0.0.1:%d", test_free_port());
	while (strcmp(aa, ab) == 0);
	test_loop_init(&L);

	/* alpha leads, beta is a voter that follows; Raft between them is
	 * authenticated by their WireGuard keys. */
	struct test_wg wg[3] = {0};
	test_wg_init(&wg[0], "alpha", 1, true);
	test_wg_init(&wg[1], "beta", 2, true);
	struct wm_store_config ca = {.dir = da,
				     .node_id = "alpha",
				     .raft_address = aa,
				     .bootstrap = true,
				     .heartbeat_ms = 50,
				     .election_ms = 300,
				     .wg_private_key = wg[0].priv,
				     .peer_lookup = test_peer_lookup,
				     .peer_data = wg};
	struct wm_store_config cb = ca;
	cb.dir = db;
	cb.node_id = "beta";
	cb.raft_address = ab;
	cb.bootstrap = false;
	cb.wg_private_key = wg[1].priv;
	assert_int_equal(wm_store_open(&L.loop, &ca, &alpha, err, sizeof(err)), 0);
	assert_int_equal(wm_store_open(&L.loop, &cb, &beta, err, sizeof(err)), 0);
	assert_true(test_run_until(&L, test_is_leader, alpha));
	uint8_t *boot = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	test_apply_packed(&L, alpha, boot, len);
	struct test_join ja = {.id = "alpha", .key = wg[0].pub_b64, .role = WM_ROLE_VOTER};
	struct test_join jb = {.id = "beta", .key = wg[1].pub_b64, .role = WM_ROLE_VOTER};
	uint8_t *buf = test_join_cmd(&ja, &len);
	test_apply_packed(&L, alpha, buf, len);
	buf = test_join_cmd(&jb, &len);
	test_apply_packed(&L, alpha, buf, len);
	struct test_applied m = {0};
	assert_int_equal(wm_store_add_member(alpha, "beta", ab, WM_ROLE_VOTER, member_cb, &m), 0);
	assert_true(test_run_until(&L, test_flag_set, &m.done));
	assert_int_equal(m.err, 0);

	/* The stand-in for alpha's API, at alpha's address. */
	assert_int_equal(wm_rpc_server_new(&L.loop, NULL, &fake), 0);
	struct wm_rpc_method lm = {.path = PUT_EDGE, .handler = leader_handler};
	assert_int_equal(wm_rpc_server_register(fake, &lm), 0);
	uint16_t fake_port = test_tls_listen(fake, da, "alpha");

	/* beta's services, its API port being where the stand-in listens. */
	struct wm_services_config sc = {
		.loop = &L.loop, .node_id = "beta", .store = beta, .api_port = fake_port};
	assert_int_equal(wm_services_new(&sc, &svc), 0);
	assert_int_equal(wm_rpc_server_new(&L.loop, NULL, &local), 0);
	assert_int_equal(wm_services_register_local(svc, local), 0);
	snprintf(sock, sizeof(sock), "%s/api.sock", db);
	assert_int_equal(wm_rpc_server_listen_unix(local, sock, 0600), 0);
	struct wm_rpc_client_config cc = {.unix_path = sock};
	assert_int_equal(wm_rpc_client_new(&L.loop, &cc, &client), 0);
	struct wm_store_status st;
	wm_store_status(beta, &st);
	assert_false(st.is_leader);

	/* Forwarded, marked as coming from beta, the leader's answer relayed. */
	reset_leader(WM_GRPC_OK);
	put_edge(NULL, 0, &u);
	assert_int_equal(u.status, WM_GRPC_OK);
	assert_int_equal(u.index, 42);
	assert_int_equal(leader.calls, 1);
	assert_string_equal(leader.proxied_from, "beta");

	/* One hop only: a call another server forwarded to beta is not
	 * forwarded again. */
	reset_leader(WM_GRPC_OK);
	struct wm_rpc_metadata hop = {"x-webmesh-proxied-from", "gamma"};
	put_edge(&hop, 1, &u);
	assert_int_equal(u.status, WM_GRPC_UNAVAILABLE);
	assert_string_equal(u.message, "leadership is changing; retry the call");
	assert_int_equal(leader.calls, 0);

	/* A leader that keeps saying UNAVAILABLE: tried 8 times, then its
	 * answer is the caller's. */
	reset_leader(WM_GRPC_UNAVAILABLE);
	put_edge(NULL, 0, &u);
	assert_int_equal(u.status, WM_GRPC_UNAVAILABLE);
	assert_string_equal(u.message, "the stand-in leader says no");
	assert_int_equal(leader.calls, 8);

	/* Any other refusal is relayed at once, without retrying. */
	reset_leader(WM_GRPC_PERMISSION_DENIED);
	put_edge(NULL, 0, &u);
	assert_int_equal(u.status, WM_GRPC_PERMISSION_DENIED);
	assert_string_equal(u.message, "the stand-in leader says no");
	assert_int_equal(leader.calls, 1);

	/* Leadership moves to beta while it retries: beta applies the call
	 * to its own store, as if it had come after the election. */
	reset_leader(WM_GRPC_UNAVAILABLE);
	leader.moves_leadership = true;
	put_edge(NULL, 0, &u);
	assert_true(leader.transfer.done);
	assert_int_equal(leader.transfer.err, 0);
	assert_int_equal(u.status, WM_GRPC_OK);
	assert_true(leader.calls >= 1 && leader.calls < 8);
	assert_true(test_run_until(&L, test_is_leader, beta));
	unsigned calls = leader.calls;
	put_edge(NULL, 0, &u);
	assert_int_equal(u.status, WM_GRPC_OK);
	assert_int_equal(leader.calls, calls);

	/* beta hands leadership over to alpha, which is gone: until the
	 * transfer gives up, beta is leader by its state but libraft refuses
	 * its writes. A write then is refused as retryable, not applied
	 * here, forwarded here again, applied here... without end (each round
	 * a stack frame deeper: the daemon crashed). */
	bool c1 = false, c2 = false;
	wm_store_close(alpha, test_set_flag_cb, &c1);
	assert_true(test_run_until(&L, test_flag_set, &c1));
	struct test_applied handover = {0};
	assert_int_equal(wm_store_transfer_leadership(beta, member_cb, &handover), 0);
	wm_store_status(beta, &st);
	assert_true(st.is_leader);
	reset_leader(WM_GRPC_OK);
	put_edge(NULL, 0, &u);
	assert_int_equal(u.status, WM_GRPC_UNAVAILABLE);
	assert_string_equal(u.message, "leadership is being handed to another server; retry");
	assert_int_equal(leader.calls, 0);
	assert_true(test_run_until(&L, test_flag_set, &handover.done));

	wm_rpc_client_free(client);
	bool down1 = false, down2 = false;
	wm_services_stop(svc);
	wm_rpc_server_shutdown(local, 0, test_set_flag_cb, &down1);
	wm_rpc_server_shutdown(fake, 0, test_set_flag_cb, &down2);
	assert_true(test_run_until(&L, test_flag_set, &down1));
	assert_true(test_run_until(&L, test_flag_set, &down2));
	wm_rpc_server_free(local);
	wm_rpc_server_free(fake);
	wm_store_close(beta, test_set_flag_cb, &c2);
	assert_true(test_run_until(&L, test_flag_set, &c2));
	wm_services_free(svc);
	test_loop_close(&L);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", da, db);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forwarding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
