/* The Signaling service (src/services/signaling.c) on a real store, served on
 * a unix socket and called with the project's own gRPC client: delivery to an
 * open stream, the mailbox for a node that is not listening, a second stream
 * replacing the first, refusals, and TURN credentials. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/error.h"
#include "nat/turncred.h"
#include "services/services.h"
#include "services/signaling.h"
#include "store/store.h"
#include "test_store_live.h"
#include "test_store_util.h"
#include "webmesh/v1/signaling.pb-c.h"

/* The loop every call runs on, run until a condition holds (test_store_live.h). */
static struct test_loop L;

static void set_flag_cb(void *data)
{
	*(bool *)data = true;
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
	if (res->err)
		fprintf(stderr, "apply: %s\n", res->message);
}

static void apply(struct wm_store *s, uint8_t *buf, size_t len)
{
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	struct applied a = {0};

	free(buf);
	assert_non_null(cmd);
	assert_int_equal(wm_store_apply(s, cmd, applied_cb, &a), 0);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	assert_true(test_run_until(&L, test_flag_set, &a.done));
	assert_int_equal(a.err, 0);
}

/* ---- client helpers ---- */

static struct wm_rpc_client *client;

static void call(const char *path, const ProtobufCMessage *req, struct test_unary *u)
{
	uint8_t buf[4096];
	size_t len = protobuf_c_message_pack(req, buf);

	memset(u, 0, sizeof(*u));
	assert_int_equal(
		wm_rpc_client_unary(client, path, buf, len, 5000, NULL, 0, test_unary_cb, u), 0);
	assert_true(test_run_until(&L, test_flag_set, &u->done));
}

struct stream {
	struct wm_rpc_stream *s;
	bool closed;
	int status;
	unsigned n;
	uint64_t sessions[8];
};

static int stream_msg_cb(void *data, const uint8_t *msg, size_t len)
{
	struct stream *st = data;
	Webmesh__V1__Signal *sig = webmesh__v1__signal__unpack(NULL, len, msg);

	assert_non_null(sig);
	if (st->n < 8)
		st->sessions[st->n] = sig->session;
	st->n++;
	webmesh__v1__signal__free_unpacked(sig, NULL);
	return 0;
}

static void stream_close_cb(void *data, int status, const char *message)
{
	struct stream *st = data;

	(void)message;
	st->closed = true;
	st->status = status;
	st->s = NULL;
}

static void receive(const char *id, struct stream *st)
{
	Webmesh__V1__ReceiveSignalsRequest r = WEBMESH__V1__RECEIVE_SIGNALS_REQUEST__INIT;
	uint8_t buf[128];
	size_t len;

	memset(st, 0, sizeof(*st));
	r.id = (char *)id;
	len = webmesh__v1__receive_signals_request__pack(&r, buf);
	assert_int_equal(wm_rpc_client_stream(client, "/webmesh.v1.Signaling/ReceiveSignals", buf,
					      len, 0, NULL, 0, stream_msg_cb, stream_close_cb, st,
					      &st->s),
			 0);
}

static char *cands[] = {"a=candidate:1 1 UDP 2013266431 10.1.0.2 40000 typ host"};

static int send_signal(const char *from, const char *to, uint64_t session, bool params,
		       struct test_unary *u)
{
	Webmesh__V1__Signal s = WEBMESH__V1__SIGNAL__INIT;
	Webmesh__V1__IceParameters ice = WEBMESH__V1__ICE_PARAMETERS__INIT;

	s.from = (char *)from;
	s.to = (char *)to;
	s.kind = WEBMESH__V1__SIGNAL_KIND__SIGNAL_KIND_OFFER;
	s.session = session;
	ice.ufrag = "abcd";
	ice.pwd = "abcdefghijklmnopqrstuvwx";
	ice.candidates = cands;
	ice.n_candidates = params ? 1 : 0;
	s.ice = &ice;
	call("/webmesh.v1.Signaling/SendSignal", &s.base, u);
	if (u->status != WM_GRPC_OK)
		return -1;
	Webmesh__V1__SendSignalResponse *r =
		webmesh__v1__send_signal_response__unpack(NULL, u->len, u->resp);
	assert_non_null(r);
	int delivered = r->delivered;
	webmesh__v1__send_signal_response__free_unpacked(r, NULL);
	return delivered;
}

static bool has_n(void *arg)
{
	struct stream *st = arg;
	return st->n >= 2 || st->closed;
}

static bool has_one(void *arg)
{
	struct stream *st = arg;
	return st->n >= 1 || st->closed;
}

static bool closed(void *arg)
{
	return ((struct stream *)arg)->closed;
}

static void test_signaling(void **state)
{
	(void)state;
	char dir[] = "/tmp/wm-test-signal-XXXXXX", err[512], sock[256];
	struct wm_store *store;
	struct wm_services *svc;
	struct wm_rpc_server *srv;
	struct test_unary u;
	struct stream beta, gamma, beta2;
	size_t len;

	assert_non_null(mkdtemp(dir));
	test_loop_init(&L);
	store = test_lone_leader(&L.loop, dir, "alpha");
	uint8_t *buf = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	apply(store, buf, len);
	const char *ids[] = {"alpha", "beta", "gamma"};
	for (int i = 0; i < 3; i++) {
		buf = test_join_cmd(
			&(struct test_join){.id = ids[i], .key_seed = i + 1, .full_mesh = true},
			&len);
		apply(store, buf, len);
	}

	struct wm_services_config sc = {.loop = &L.loop, .node_id = "alpha", .store = store};
	assert_int_equal(wm_services_new(&sc, &svc), 0);
	assert_int_equal(wm_rpc_server_new(&L.loop, NULL, &srv), 0);
	assert_int_equal(wm_services_register_local(svc, srv), 0);
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	assert_int_equal(wm_rpc_server_listen_unix(srv, sock, 0600), 0);
	struct wm_rpc_client_config cc = {.unix_path = sock};
	assert_int_equal(wm_rpc_client_new(&L.loop, &cc, &client), 0);

	/* an open stream gets the signal at once */
	receive("beta", &beta);
	/* (the stream is registered once the server saw it: send until delivered) */
	int d = 0;
	for (uint64_t sess = 1; sess < 50 && d != 1; sess++)
		d = send_signal("alpha", "beta", sess, true, &u);
	assert_int_equal(d, 1);
	assert_true(test_run_until(&L, has_one, &beta));
	assert_false(beta.closed);

	/* a node that is not listening finds its signals queued, in order */
	assert_int_equal(send_signal("beta", "gamma", 100, true, &u), 0);
	assert_int_equal(send_signal("alpha", "gamma", 101, true, &u), 0);
	receive("gamma", &gamma);
	assert_true(test_run_until(&L, has_n, &gamma));
	assert_int_equal(gamma.n, 2);
	assert_int_equal(gamma.sessions[0], 100);
	assert_int_equal(gamma.sessions[1], 101);

	/* refusals */
	assert_int_equal(send_signal("alpha", "zeta", 1, true, &u), -1);
	assert_int_equal(u.status, WM_GRPC_NOT_FOUND);
	assert_int_equal(send_signal("alpha", "alpha", 1, true, &u), -1);
	assert_int_equal(u.status, WM_GRPC_INVALID_ARGUMENT);
	assert_int_equal(send_signal("alpha", "beta", 0, true, &u), -1);
	assert_int_equal(u.status, WM_GRPC_INVALID_ARGUMENT);
	assert_int_equal(send_signal("alpha", "beta", 5, false, &u), -1);
	assert_int_equal(u.status, WM_GRPC_INVALID_ARGUMENT);
	assert_non_null(strstr(u.message, "candidates"));
	assert_int_equal(send_signal("Bad ID", "beta", 5, true, &u), -1);
	assert_int_equal(u.status, WM_GRPC_INVALID_ARGUMENT);

	/* a second stream for beta replaces the first */
	receive("beta", &beta2);
	assert_true(test_run_until(&L, closed, &beta));
	assert_int_equal(beta.status, WM_GRPC_ABORTED);

	/* TURN credentials: refused until configured, then coturn's scheme */
	Webmesh__V1__TurnCredentialsRequest tr = WEBMESH__V1__TURN_CREDENTIALS_REQUEST__INIT;
	tr.id = "beta";
	call("/webmesh.v1.Signaling/GetTurnCredentials", &tr.base, &u);
	assert_int_equal(u.status, WM_GRPC_FAILED_PRECONDITION);
	const char *urls[] = {"turn:203.0.113.1:3478"};
	struct wm_signaling_config sigc = {
		.turn_secret = "north", .turn_urls = urls, .n_turn_urls = 1, .turn_ttl_s = 600};
	assert_int_equal(wm_signaling_configure(svc, &sigc), 0);
	sigc.turn_ttl_s = 10;
	assert_int_equal(wm_signaling_configure(svc, &sigc), -EINVAL);
	call("/webmesh.v1.Signaling/GetTurnCredentials", &tr.base, &u);
	assert_int_equal(u.status, WM_GRPC_OK);
	Webmesh__V1__TurnCredentials *tc =
		webmesh__v1__turn_credentials__unpack(NULL, u.len, u.resp);
	assert_non_null(tc);
	assert_int_equal(tc->n_urls, 1);
	assert_string_equal(tc->urls[0], "turn:203.0.113.1:3478");
	struct wm_turn_credentials want;
	assert_int_equal(
		wm_turn_rest_credentials("north", "beta", tc->expires_at - 600, 600, &want), 0);
	assert_string_equal(tc->username, want.username);
	assert_string_equal(tc->password, want.password);
	webmesh__v1__turn_credentials__free_unpacked(tc, NULL);
	tr.id = "zeta";
	call("/webmesh.v1.Signaling/GetTurnCredentials", &tr.base, &u);
	assert_int_equal(u.status, WM_GRPC_NOT_FOUND);

	/* shutdown ends the streams */
	bool down = false, store_closed = false;
	wm_services_stop(svc);
	assert_true(test_run_until(&L, closed, &beta2));
	assert_int_equal(beta2.status, WM_GRPC_UNAVAILABLE);
	wm_rpc_client_free(client);
	wm_rpc_server_shutdown(srv, 100, set_flag_cb, &down);
	assert_true(test_run_until(&L, test_flag_set, &down));
	wm_store_close(store, set_flag_cb, &store_closed);
	assert_true(test_run_until(&L, test_flag_set, &store_closed));
	wm_rpc_server_free(srv);
	wm_services_free(svc);
	test_loop_close(&L);
	snprintf(err, sizeof(err), "rm -rf '%s'", dir);
	assert_int_equal(system(err), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signaling),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
