/* The authorization gate's decisions (src/services/gate.c) without a server:
 * signaling only as the node itself, the RBAC methods with no grants, the
 * admin-only fallback for unknown methods, and malformed requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "services/gate.h"
#include "webmesh/v1/mesh.pb-c.h"
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
	/* Reads need only an authenticated caller. */
	assert_int_equal(decide("/webmesh.v1.Mesh/ListNodes", &m1, NULL, 0), 0);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signaling_as_itself),
		cmocka_unit_test(test_signaling_as_another_node),
		cmocka_unit_test(test_signaling_no_rbac_override),
		cmocka_unit_test(test_local_and_open_mesh),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_other_methods_without_grants),
		cmocka_unit_test(test_heartbeat_and_join_routes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
