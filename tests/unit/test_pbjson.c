/* The JSON that wmctl -o json prints: exact output for known messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/pbjson.h"
#include "webmesh/v1/mesh.pb-c.h"

static char *to_json(const ProtobufCMessage *m)
{
	struct wm_strbuf b;
	wm_strbuf_init(&b);
	wm_pbjson_write(&b, m, -1);
	return wm_strbuf_take(&b);
}

static void test_node_compact(void **state)
{
	(void)state;
	char *eps[] = {"10.0.0.1:51820"};
	Webmesh__V1__MeshNode n = WEBMESH__V1__MESH_NODE__INIT;
	n.id = "a\"b";
	n.endpoints = eps;
	n.n_endpoints = 1;
	n.listen_port = 51820;
	n.raft_role = WEBMESH__V1__RAFT_ROLE__RAFT_ROLE_VOTER;
	n.joined_at = -5;
	char *s = to_json(&n.base);
	assert_string_equal(s, "{\"id\":\"a\\\"b\",\"public_key\":\"\",\"endpoints\":[\"10.0.0.1:"
			       "51820\"],\"listen_port\":51820,\"private_ipv4\":\"\",\"private_"
			       "ipv6\":\"\",\"raft_role\":\"voter\",\"zone\":\"\",\"joined_at\":-5,"
			       "\"routes\":[],\"libp2p_peer_id\":\"\",\"libp2p_addrs\":[]}");
	free(s);
}

static void test_map_and_nested(void **state)
{
	(void)state;
	Webmesh__V1__MeshEdge__AttributesEntry e1 = WEBMESH__V1__MESH_EDGE__ATTRIBUTES_ENTRY__INIT;
	Webmesh__V1__MeshEdge__AttributesEntry *attrs[] = {&e1};
	e1.key = "ice";
	e1.value = "true";
	Webmesh__V1__MeshEdge e = WEBMESH__V1__MESH_EDGE__INIT;
	Webmesh__V1__MeshEdge *edges[] = {&e};
	e.source = "a";
	e.target = "b";
	e.weight = 3;
	e.attributes = attrs;
	e.n_attributes = 1;
	Webmesh__V1__MeshGraph g = WEBMESH__V1__MESH_GRAPH__INIT;
	g.edges = edges;
	g.n_edges = 1;
	char *s = to_json(&g.base);
	assert_string_equal(s, "{\"nodes\":[],\"edges\":[{\"source\":\"a\",\"target\":\"b\","
			       "\"weight\":3,\"attributes\":{\"ice\":\"true\"}}]}");
	free(s);
}

static void test_control_characters_escaped(void **state)
{
	(void)state;
	struct wm_strbuf b;
	wm_strbuf_init(&b);
	wm_strbuf_json_string(&b, "a\nb\x01\\");
	char *s = wm_strbuf_take(&b);
	assert_string_equal(s, "\"a\\nb\\u0001\\\\\"");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_compact),
		cmocka_unit_test(test_map_and_nested),
		cmocka_unit_test(test_control_characters_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
