/* Protobuf round trips of the API and Raft messages, and the conversions
 * between the core model and the messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>

#include "core/error.h"
#include "services/convert.h"
#include "webmesh/v1/mesh.pb-c.h"
#include "webmesh/v1/raft.pb-c.h"

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(*len + 1);
	assert_non_null(buf);
	assert_int_equal(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

static void test_join_request_round_trip(void **state)
{
	(void)state;
	char *eps[] = {"10.0.0.1:51820", "[fd00::1]:51820"};
	char *routes[] = {"192.168.1.0/24"};
	Webmesh__V1__JoinRequest req = WEBMESH__V1__JOIN_REQUEST__INIT;
	req.id = "node-1";
	req.public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	req.endpoints = eps;
	req.n_endpoints = 2;
	req.listen_port = 51820;
	req.as_voter = 1;
	req.zone = "eu";
	req.routes = routes;
	req.n_routes = 1;
	size_t len;
	uint8_t *buf = pack(&req.base, &len);
	Webmesh__V1__JoinRequest *r = webmesh__v1__join_request__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_string_equal(r->id, "node-1");
	assert_string_equal(r->public_key, req.public_key);
	assert_int_equal(r->n_endpoints, 2);
	assert_string_equal(r->endpoints[1], "[fd00::1]:51820");
	assert_int_equal(r->listen_port, 51820);
	assert_true(r->as_voter);
	assert_false(r->as_observer);
	assert_string_equal(r->zone, "eu");
	assert_string_equal(r->routes[0], "192.168.1.0/24");
	webmesh__v1__join_request__free_unpacked(r, NULL);
	free(buf);
}

static void test_raft_command_oneof(void **state)
{
	(void)state;
	Webmesh__V1__PutEdgeCommand pe = WEBMESH__V1__PUT_EDGE_COMMAND__INIT;
	Webmesh__V1__PutEdgeCommand__AttributesEntry attr =
		WEBMESH__V1__PUT_EDGE_COMMAND__ATTRIBUTES_ENTRY__INIT;
	Webmesh__V1__PutEdgeCommand__AttributesEntry *attrs[] = {&attr};
	attr.key = "ice";
	attr.value = "true";
	pe.source = "a";
	pe.target = "b";
	pe.weight = 7;
	pe.attributes = attrs;
	pe.n_attributes = 1;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
	cmd.put_edge = &pe;
	size_t len;
	uint8_t *buf = pack(&cmd.base, &len);
	Webmesh__V1__RaftCommand *r = webmesh__v1__raft_command__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_int_equal(r->command_case, WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE);
	assert_string_equal(r->put_edge->source, "a");
	assert_int_equal(r->put_edge->weight, 7);
	assert_int_equal(r->put_edge->n_attributes, 1);
	assert_string_equal(r->put_edge->attributes[0]->key, "ice");
	webmesh__v1__raft_command__free_unpacked(r, NULL);
	free(buf);
}

static void test_truncated_input_refused(void **state)
{
	(void)state;
	Webmesh__V1__JoinRequest req = WEBMESH__V1__JOIN_REQUEST__INIT;
	req.id = "node-1";
	req.public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	size_t len;
	uint8_t *buf = pack(&req.base, &len);
	/* Every strict prefix that cuts a field must fail to decode. */
	assert_null(webmesh__v1__join_request__unpack(NULL, len - 1, buf));
	const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	assert_null(webmesh__v1__join_request__unpack(NULL, sizeof(garbage), garbage));
	free(buf);
}

static void test_node_conversion(void **state)
{
	(void)state;
	struct wm_mesh_node n;
	memset(&n, 0, sizeof(n));
	strcpy(n.id, "edge-7");
	for (int i = 0; i < WM_KEY_LEN; i++)
		n.public_key[i] = (uint8_t)i;
	assert_int_equal(wm_prefix_parse("172.16.0.7/32", &n.ipv4), 0);
	assert_int_equal(wm_prefix_parse("fd12:3456:789a:1:2:3:4::/112", &n.ipv6), 0);
	assert_int_equal(wm_endpoint_parse("10.250.0.7:51820", &n.endpoints[0]), 0);
	n.n_endpoints = 1;
	n.listen_port = 51820;
	n.raft_role = WM_ROLE_OBSERVER;
	n.joined_at = 1700000000;
	struct wm_arena a;
	wm_arena_init(&a);
	Webmesh__V1__MeshNode *m = wm_pb_node_new(&a, &n);
	assert_non_null(m);
	size_t len;
	uint8_t *buf = pack(&m->base, &len);
	wm_arena_free(&a);
	Webmesh__V1__MeshNode *r = webmesh__v1__mesh_node__unpack(NULL, len, buf);
	assert_non_null(r);
	assert_string_equal(r->id, "edge-7");
	assert_string_equal(r->private_ipv4, "172.16.0.7/32");
	assert_string_equal(r->private_ipv6, "fd12:3456:789a:1:2:3:4:0/112");
	assert_string_equal(r->endpoints[0], "10.250.0.7:51820");
	assert_int_equal(r->raft_role, WEBMESH__V1__RAFT_ROLE__RAFT_ROLE_OBSERVER);
	assert_int_equal(r->joined_at, 1700000000);
	wm_key back;
	assert_int_equal(wm_key_from_base64(r->public_key, back), 0);
	assert_memory_equal(back, n.public_key, WM_KEY_LEN);
	webmesh__v1__mesh_node__free_unpacked(r, NULL);
	free(buf);
}

static void test_status_mapping(void **state)
{
	(void)state;
	assert_int_equal(wm_grpc_status_from_err(0), 0);
	assert_int_equal(wm_grpc_status_from_err(-EINVAL), 3);
	assert_int_equal(wm_grpc_status_from_err(-WM_EKEYMISMATCH), 6);
	assert_int_equal(wm_grpc_status_from_err(-EEXIST), 6);
	assert_int_equal(wm_grpc_status_from_err(-WM_EEXHAUSTED), 8);
	assert_int_equal(wm_grpc_status_from_err(-WM_ENOTLEADER), 14);
	assert_int_equal(wm_grpc_status_from_err(-ENOENT), 5);
	assert_int_equal(wm_grpc_status_from_err(-EIO), 13);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_request_round_trip),
		cmocka_unit_test(test_raft_command_oneof),
		cmocka_unit_test(test_truncated_input_refused),
		cmocka_unit_test(test_node_conversion),
		cmocka_unit_test(test_status_mapping),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
