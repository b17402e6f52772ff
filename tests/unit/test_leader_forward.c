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
#include "rpc/tls.h"
#include "services/services.h"
#include "test_store_live.h"
#include "test_store_util.h"
#include "webmesh/v1/admin.pb-c.h"

#define DEADLINE_MS 20000
#define PUT_EDGE "/webmesh.v1.Admin/PutEdge"

static uv_loop_t loop;
static uv_timer_t poll_timer, deadline_timer;
static bool timed_out;
static bool (*cond)(void *);
static void *cond_arg;

static void poll_cb(uv_timer_t *t)
{
	(void)t;
	if (cond(cond_arg))
		uv_stop(&loop);
}

static void deadline_cb(uv_timer_t *t)
{
	(void)t;
	timed_out = true;
	uv_stop(&loop);
}

static bool run_until(bool (*c)(void *), void *arg)
{
	if (c(arg))
		return true;
	cond = c;
	cond_arg = arg;
	timed_out = false;
	uv_timer_start(&poll_timer, poll_cb, 5, 5);
	uv_timer_start(&deadline_timer, deadline_cb, DEADLINE_MS, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_timer_stop(&poll_timer);
	uv_timer_stop(&deadline_timer);
	return !timed_out && c(arg);
}

static bool flag_set(void *arg)
{
	return *(bool *)arg;
}

struct applied {
	bool done;
	int err;
};

static void applied_cb(void *data, const struct wm_store_result *res)
{
	struct applied *a = data;
	a->done = true;
	a->err = res->err;
}

static void member_cb(void *data, int err)
{
	struct applied *a = data;
	a->done = true;
	a->err = err;
}

static void apply(struct wm_store *s, uint8_t *buf, size_t len)
{
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	struct applied a = {0};

	free(buf);
	assert_non_null(cmd);
	assert_int_equal(wm_store_apply(s, cmd, applied_cb, &a), 0);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	assert_true(run_until(flag_set, &a.done));
	assert_int_equal(a.err, 0);
}

/* ---- the stand-in for alpha's API ---- */

static struct {
	unsigned calls;
	int status; /* what it answers */
	char proxied_from[64];
	bool moves_leadership; /* on its first call: alpha hands leadership to beta */
	struct applied transfer;
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
	assert_true(run_until(flag_set, &u->done));
}

static void reset_leader(int status)
{
	leader.calls = 0;
	leader.status = status;
	leader.proxied_from[0] = '\0';
	leader.moves_leadership = false;
	memset(&leader.transfer, 0, sizeof(leader.transfer));
}

static void closed_cb(void *data)
{
	*(bool *)data = true;
}

static void test_forwarding(void **state)
{
	char da[] = "/tmp/wm-test-fwd-XXXXXX", db[] = "/tmp/wm-test-fwd-XXXXXX";
	char aa[32], ab[32], err[512], cert[96], key[96], sock[96];
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
	uv_loop_init(&loop);
	uv_timer_init(&loop, &poll_timer);
	uv_timer_init(&loop, &deadline_timer);

	/* alpha leads, beta is a voter that follows. */
	struct wm_store_config ca = {.dir = da,
				     .node_id = "alpha",
				     .raft_address = aa,
				     .bootstrap = true,
				     .heartbeat_ms = 50,
				     .election_ms = 300};
	struct wm_store_config cb = ca;
	cb.dir = db;
	cb.node_id = "beta";
	cb.raft_address = ab;
	cb.bootstrap = false;
	assert_int_equal(wm_store_open(&loop, &ca, &alpha, err, sizeof(err)), 0);
	assert_int_equal(wm_store_open(&loop, &cb, &beta, err, sizeof(err)), 0);
	assert_true(run_until(test_is_leader, alpha));
	uint8_t *boot = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	apply(alpha, boot, len);
	struct test_join ja = {.id = "alpha", .key_seed = 1, .role = WM_ROLE_VOTER};
	struct test_join jb = {.id = "beta", .key_seed = 2, .role = WM_ROLE_VOTER};
	uint8_t *buf = test_join_cmd(&ja, &len);
	apply(alpha, buf, len);
	buf = test_join_cmd(&jb, &len);
	apply(alpha, buf, len);
	struct applied m = {0};
	assert_int_equal(wm_store_add_member(alpha, "beta", ab, WM_ROLE_VOTER, member_cb, &m), 0);
	assert_true(run_until(flag_set, &m.done));
	assert_int_equal(m.err, 0);

	/* The stand-in for alpha's API, at alpha's address. */
	snprintf(cert, sizeof(cert), "%s/api.crt", da);
	snprintf(key, sizeof(key), "%s/api.key", da);
	assert_int_equal(wm_tls_ensure_self_signed(cert, key, "alpha", NULL, 0, err, sizeof(err)),
			 0);
	struct wm_tls_server_opts so = {.cert_file = cert, .key_file = key};
	SSL_CTX *sctx = wm_tls_server_ctx_new(&so, err, sizeof(err));
	assert_non_null(sctx);
	assert_int_equal(wm_rpc_server_new(&loop, NULL, &fake), 0);
	struct wm_rpc_method lm = {.path = PUT_EDGE, .handler = leader_handler};
	assert_int_equal(wm_rpc_server_register(fake, &lm), 0);
	assert_int_equal(wm_rpc_server_listen_tcp(fake, "127.0.0.1", 0, sctx), 0);
	SSL_CTX_free(sctx);

	/* beta's services, its API port being where the stand-in listens. */
	struct wm_services_config sc = {.loop = &loop,
					.node_id = "beta",
					.store = beta,
					.api_port = (uint16_t)wm_rpc_server_port(fake)};
	assert_int_equal(wm_services_new(&sc, &svc), 0);
	assert_int_equal(wm_rpc_server_new(&loop, NULL, &local), 0);
	assert_int_equal(wm_services_register_local(svc, local), 0);
	snprintf(sock, sizeof(sock), "%s/api.sock", db);
	assert_int_equal(wm_rpc_server_listen_unix(local, sock, 0600), 0);
	struct wm_rpc_client_config cc = {.unix_path = sock};
	assert_int_equal(wm_rpc_client_new(&loop, &cc, &client), 0);
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

	/* Leadership moves to beta while it retries: the caller is told to
	 * retry, and lands on beta's own store. */
	reset_leader(WM_GRPC_UNAVAILABLE);
	leader.moves_leadership = true;
	put_edge(NULL, 0, &u);
	assert_true(leader.transfer.done);
	assert_int_equal(leader.transfer.err, 0);
	assert_int_equal(u.status, WM_GRPC_UNAVAILABLE);
	assert_string_equal(u.message, "leadership moved to this server; retry");
	assert_true(leader.calls >= 1 && leader.calls < 8);
	assert_true(run_until(test_is_leader, beta));
	unsigned calls = leader.calls;
	put_edge(NULL, 0, &u);
	assert_int_equal(u.status, WM_GRPC_OK);
	assert_int_equal(leader.calls, calls);

	wm_rpc_client_free(client);
	bool down1 = false, down2 = false, c1 = false, c2 = false;
	wm_services_stop(svc);
	wm_rpc_server_shutdown(local, 0, closed_cb, &down1);
	wm_rpc_server_shutdown(fake, 0, closed_cb, &down2);
	assert_true(run_until(flag_set, &down1));
	assert_true(run_until(flag_set, &down2));
	wm_rpc_server_free(local);
	wm_rpc_server_free(fake);
	wm_store_close(alpha, closed_cb, &c1);
	wm_store_close(beta, closed_cb, &c2);
	assert_true(run_until(flag_set, &c1));
	assert_true(run_until(flag_set, &c2));
	wm_services_free(svc);
	uv_close((uv_handle_t *)&poll_timer, NULL);
	uv_close((uv_handle_t *)&deadline_timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
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
