/* The etcd provider's pure parts: key layout, endpoint URLs, records and the
 * transactions that keep node IDs and addresses unique. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/key.h"
#include "etcd/layout.h"
#include "etcd/record.h"
#include "etcd/record_state.h"
#include "etcd/store_state.h"
#include "store/fsm.h"

static void test_mesh_names(void **state)
{
	const char *why;
	(void)state;
	assert_int_equal(wm_etcd_mesh_check("prod-1", &why), 0);
	assert_int_equal(wm_etcd_mesh_check("", &why), -EINVAL);
	assert_int_equal(wm_etcd_mesh_check("a/b", &why), -EINVAL);
	assert_non_null(why);
	assert_int_equal(wm_etcd_mesh_check("-x", &why), -EINVAL);
	assert_int_equal(wm_etcd_mesh_check("Caps", &why), -EINVAL);
}

static void test_keys(void **state)
{
	char k[WM_ETCD_KEY_MAX];
	(void)state;
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_MESH, NULL, k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/mesh");
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_NODE, "node-1", k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/nodes/node-1");
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_LEASE_V4, "ac100001", k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/leases/v4/ac100001");
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_LEASE_V6, "fd00:1::/112", k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/leases/v6/fd00:1::");
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_SERVER, "server-1", k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/servers/server-1");
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_SERVER, "a/b", k, sizeof(k)), -EINVAL);
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_LIVENESS + 1, "x", k, sizeof(k)), -EINVAL);
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_LIVENESS, "server-1", k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/liveness/server-1");
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_LIVENESS, "a/b", k, sizeof(k)), -EINVAL);
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_DENIED, "node-1", k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/denied/node-1");
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_NODE, "", k, sizeof(k)), 0);
	assert_string_equal(k, "/webmesh/m/nodes/");
	/* Names that would leave their directory are refused. */
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_NODE, "../mesh", k, sizeof(k)), -EINVAL);
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_LEASE_V4, "1.2.3.4", k, sizeof(k)), -EINVAL);
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_LEASE_V6, "fd00::/64", k, sizeof(k)),
			 -EINVAL);
	assert_int_equal(wm_etcd_key("m/x", WM_ETCD_KEY_MESH, NULL, k, sizeof(k)), -EINVAL);
	assert_int_equal(wm_etcd_key("m", WM_ETCD_KEY_NODE, "node-1", k, 10), -ENAMETOOLONG);
}

static void test_v4_names(void **state)
{
	char n[9];
	uint32_t a;
	(void)state;
	wm_etcd_v4_name(0xac100001, n);
	assert_string_equal(n, "ac100001");
	assert_int_equal(wm_etcd_v4_parse(n, 8, &a), 0);
	assert_int_equal(a, 0xac100001);
	/* Hex of fixed width sorts as the addresses do. */
	char lo[9], hi[9];
	wm_etcd_v4_name(0x0a0000ff, lo);
	wm_etcd_v4_name(0x0a000100, hi);
	assert_true(strcmp(lo, hi) < 0);
	assert_int_equal(wm_etcd_v4_parse("AC100001", 8, &a), -EINVAL);
	assert_int_equal(wm_etcd_v4_parse("ac1000", 6, &a), -EINVAL);
}

static void test_prefix_end(void **state)
{
	uint8_t out[8];
	(void)state;
	assert_int_equal(wm_etcd_prefix_end((const uint8_t *)"/a/", 3, out), 3);
	assert_memory_equal(out, "/a0", 3);
	const uint8_t ff[] = {'a', 0xff, 0xff};
	assert_int_equal(wm_etcd_prefix_end(ff, 3, out), 1);
	assert_int_equal(out[0], 'b');
	const uint8_t all[] = {0xff};
	assert_int_equal(wm_etcd_prefix_end(all, 1, out), 1);
	assert_int_equal(out[0], 0);
}

static void test_endpoints(void **state)
{
	struct wm_etcd_endpoint e[WM_ETCD_MAX_ENDPOINTS];
	const char *why;
	char bad[64];
	size_t n;
	(void)state;
	assert_int_equal(wm_etcd_endpoint_parse("https://etcd.example:2380", e, &why), 0);
	assert_true(e[0].tls);
	assert_string_equal(e[0].host, "etcd.example");
	assert_int_equal(e[0].port, 2380);
	assert_int_equal(wm_etcd_endpoint_parse("http://[fd00::1]/", e, &why), 0);
	assert_false(e[0].tls);
	assert_string_equal(e[0].host, "fd00::1");
	assert_int_equal(e[0].port, WM_ETCD_DEFAULT_PORT);
	assert_int_equal(wm_etcd_endpoint_parse("etcd:2379", e, &why), -EINVAL);
	assert_int_equal(wm_etcd_endpoint_parse("http://h:0", e, &why), -EINVAL);
	assert_int_equal(wm_etcd_endpoint_parse("http://h:65536", e, &why), -EINVAL);
	assert_int_equal(wm_etcd_endpoint_parse("http://h:1/v3", e, &why), -EINVAL);
	assert_int_equal(wm_etcd_endpoint_parse("http://fd00::1:2379", e, &why), -EINVAL);
	assert_int_equal(wm_etcd_endpoint_parse("http://h@x:1", e, &why), -EINVAL);
	assert_int_equal(wm_etcd_endpoints_parse("http://a:1,https://b:2", e, 16, &n, &why, bad,
						 sizeof(bad)),
			 0);
	assert_int_equal(n, 2);
	assert_int_equal(e[1].port, 2);
	assert_int_equal(
		wm_etcd_endpoints_parse("http://a:1,,http://b", e, 16, &n, &why, bad, sizeof(bad)),
		-EINVAL);
	assert_int_equal(
		wm_etcd_endpoints_parse("http://a,http://b", e, 1, &n, &why, bad, sizeof(bad)),
		-EINVAL);
	assert_string_equal(bad, "http://b");
	/* Credentials are refused by name and never echoed. */
	assert_int_equal(wm_etcd_endpoints_parse("http://a:1,https://root:s3cret@b:2379", e, 16, &n,
						 &why, bad, sizeof(bad)),
			 -EINVAL);
	assert_non_null(strstr(why, "credentials (user:password@) are not supported"));
	assert_null(strstr(bad, "s3cret"));
}

static void mesh(struct wm_mesh_info *m, uint32_t *first, uint32_t *last)
{
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	char why[256];
	b.network_ipv4 = "10.1.0.0/29";
	b.network_ipv6 = "fd12:3456:789a::/48";
	b.domain = "mesh.internal";
	assert_int_equal(wm_etcd_mesh_from_cmd(&b, m, first, last, why, sizeof(why)), 0);
}

static void test_mesh_record(void **state)
{
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	struct wm_mesh_info m;
	uint32_t first, last;
	char why[256];
	(void)state;
	mesh(&m, &first, &last);
	assert_int_equal(first, 0x0a010001);
	assert_int_equal(last, 0x0a010006);
	b.network_ipv4 = "10.1.0.0/29";
	b.network_ipv6 = "fd12:3456:789a::/64";
	b.domain = "mesh.internal";
	assert_int_equal(wm_etcd_mesh_from_cmd(&b, &m, &first, &last, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "/48"));
	b.network_ipv6 = "fd12:3456:789a::/48";
	b.topology = "star";
	assert_int_equal(wm_etcd_mesh_from_cmd(&b, &m, &first, &last, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "topology"));
}

static const char *KEY = "YNv0dxJDr9kH0OQOqWNaoajIVsR8fTBEbz1tWg8G2ng=";

static void join_cmd(Webmesh__V1__JoinNodeCommand *j, char **ep, char **rt)
{
	webmesh__v1__join_node_command__init(j);
	j->id = "node-a";
	j->public_key = (char *)KEY;
	j->endpoints = ep;
	j->n_endpoints = 1;
	j->routes = rt;
	j->n_routes = 1;
	j->listen_port = 51820;
}

static void test_node_record(void **state)
{
	Webmesh__V1__JoinNodeCommand j;
	char *ep[] = {"192.0.2.1:51820"}, *rt[] = {"192.168.7.9/24"};
	struct wm_mesh_info m;
	struct wm_mesh_node n, back;
	uint32_t first, last;
	char why[256];
	uint8_t *v;
	size_t len;
	(void)state;
	mesh(&m, &first, &last);
	join_cmd(&j, ep, rt);
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), 0);
	assert_int_equal(n.ipv4.family, 0);
	assert_int_equal(n.ipv6.family, AF_INET6);
	assert_int_equal(n.ipv6.len, 112);
	/* Routes are stored in network form, as the FSM stores them. */
	char r0[WM_PREFIX_STRLEN];
	wm_prefix_format(&n.routes[0], r0, sizeof(r0));
	assert_string_equal(r0, "192.168.7.0/24");
	n.ipv4 = wm_prefix_from_ipv4_u32(0x0a010003, 32);
	assert_int_equal(wm_etcd_node_encode(&n, &v, &len), 0);
	assert_int_equal(wm_etcd_node_decode(&m, v, len, &back), 0);
	free(v);
	assert_string_equal(back.id, "node-a");
	assert_true(wm_prefix_equal(&back.ipv4, &n.ipv4));
	assert_true(wm_prefix_equal(&back.ipv6, &n.ipv6));
	assert_int_equal(back.listen_port, 51820);
	assert_int_equal(wm_etcd_node_decode(&m, (const uint8_t *)"\xff\xff", 2, &back), -EINVAL);

	/* The FSM's refusals. */
	j.id = "Bad ID";
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "node ID"));
	j.id = "node-a";
	j.public_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "public key"));
	j.public_key = (char *)KEY;
	rt[0] = "10.1.0.0/30";
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "inside the mesh network"));
	rt[0] = "192.168.7.9/24";
	j.ipv4_request = "10.1.0.7"; /* the broadcast address */
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), -EINVAL);
	j.ipv4_request = "10.1.0.5";
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), 0);
	assert_int_equal(wm_prefix_ipv4_u32(&n.ipv4), 0x0a010005);
	j.raft_role = 7;
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), -EINVAL);
}

static void test_lease_pick(void **state)
{
	uint32_t a;
	const uint32_t leased[] = {1, 2, 4};
	(void)state;
	assert_int_equal(wm_etcd_lease_pick(1, 6, leased, 3, 0, &a), 0);
	assert_int_equal(a, 3);
	assert_int_equal(wm_etcd_lease_pick(1, 6, leased, 3, 5, &a), 0);
	assert_int_equal(a, 5);
	assert_int_equal(wm_etcd_lease_pick(1, 6, leased, 3, 4, &a), 0); /* taken: lowest */
	assert_int_equal(a, 3);
	const uint32_t full[] = {1, 2, 3};
	assert_int_equal(wm_etcd_lease_pick(1, 3, full, 3, 0, &a), -WM_EEXHAUSTED);
	assert_int_equal(wm_etcd_lease_pick(1, 4, full, 3, 0, &a), 0);
	assert_int_equal(a, 4);
}

static void test_txn_join(void **state)
{
	Webmesh__V1__JoinNodeCommand j;
	char *ep[] = {"192.0.2.1:51820"}, *rt[] = {"192.168.7.0/24"};
	struct wm_mesh_info m;
	struct wm_mesh_node n;
	struct wm_etcd_txn t;
	uint32_t first, last;
	char why[256];
	(void)state;
	mesh(&m, &first, &last);
	join_cmd(&j, ep, rt);
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), 0);
	/* No lease yet: a join cannot be built. */
	assert_int_equal(wm_etcd_txn_join(&t, "m", &n), -EINVAL);
	wm_etcd_txn_free(&t);
	n.ipv4 = wm_prefix_from_ipv4_u32(0x0a010002, 32);
	assert_int_equal(wm_etcd_txn_join(&t, "m", &n), 0);
	/* Three keys, each created only if absent, and no denied key; all four
	 * read otherwise. */
	assert_int_equal(t.req.n_compare, 4);
	const char *keys[] = {"/webmesh/m/nodes/node-a", "/webmesh/m/leases/v4/0a010002", NULL,
			      "/webmesh/m/denied/node-a"};
	for (size_t i = 0; i < 4; i++) {
		const Etcdserverpb__Compare *c = t.req.compare[i];
		assert_int_equal(c->target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__CREATE);
		assert_int_equal(c->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__EQUAL);
		assert_int_equal(c->target_union_case,
				 ETCDSERVERPB__COMPARE__TARGET_UNION_CREATE_REVISION);
		assert_int_equal(c->create_revision, 0);
		if (keys[i]) {
			assert_int_equal(c->key.len, strlen(keys[i]));
			assert_memory_equal(c->key.data, keys[i], c->key.len);
		}
	}
	assert_memory_equal(t.req.compare[2]->key.data, "/webmesh/m/leases/v6/fd12:3456:789a:", 36);
	assert_int_equal(t.req.n_success, 3);
	assert_int_equal(t.req.n_failure, 4);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(t.req.success[i]->request_case,
				 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(t.req.failure[i]->request_case,
				 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE);
	/* The lease keys name their node. */
	const Etcdserverpb__PutRequest *p = t.req.success[1]->request_put;
	assert_int_equal(p->value.len, 6);
	assert_memory_equal(p->value.data, "node-a", 6);
	/* The node value decodes to the node with its lease. */
	struct wm_mesh_node back;
	p = t.req.success[0]->request_put;
	assert_int_equal(wm_etcd_node_decode(&m, p->value.data, p->value.len, &back), 0);
	assert_int_equal(wm_prefix_ipv4_u32(&back.ipv4), 0x0a010002);
	/* It packs: etcd gets one message. */
	size_t len = etcdserverpb__txn_request__get_packed_size(&t.req);
	uint8_t *buf = malloc(len);
	etcdserverpb__txn_request__pack(&t.req, buf);
	Etcdserverpb__TxnRequest *u = etcdserverpb__txn_request__unpack(NULL, len, buf);
	assert_non_null(u);
	assert_int_equal(u->n_compare, 4);
	etcdserverpb__txn_request__free_unpacked(u, NULL);
	free(buf);
	wm_etcd_txn_free(&t);
}

static void test_txn_remove_rejoin(void **state)
{
	Webmesh__V1__JoinNodeCommand j;
	char *ep[] = {"192.0.2.1:51820"}, *rt[] = {"192.168.7.0/24"};
	struct wm_mesh_info m;
	struct wm_mesh_node n;
	struct wm_etcd_txn t;
	uint32_t first, last;
	char why[256];
	(void)state;
	mesh(&m, &first, &last);
	join_cmd(&j, ep, rt);
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), 0);
	n.ipv4 = wm_prefix_from_ipv4_u32(0x0a010002, 32);
	assert_int_equal(wm_etcd_txn_remove(&t, "m", &n, 0), -EINVAL);
	assert_int_equal(wm_etcd_txn_remove(&t, "m", &n, 42), 0);
	/* Only if the node is as read; then its three keys go together. */
	assert_int_equal(t.req.n_compare, 1);
	assert_int_equal(t.req.compare[0]->target, ETCDSERVERPB__COMPARE__COMPARE_TARGET__MOD);
	assert_int_equal(t.req.compare[0]->mod_revision, 42);
	assert_int_equal(t.req.n_success, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(t.req.success[i]->request_case,
				 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE);
	assert_memory_equal(t.req.success[1]->request_delete_range->key.data,
			    "/webmesh/m/leases/v4/0a010002", 29);
	wm_etcd_txn_free(&t);
	assert_int_equal(wm_etcd_txn_rejoin(&t, "m", &n, 7), 0);
	assert_int_equal(t.req.n_compare, 2);
	assert_int_equal(t.req.compare[0]->mod_revision, 7);
	assert_memory_equal(t.req.compare[1]->key.data, "/webmesh/m/denied/node-a", 24);
	assert_int_equal(t.req.compare[1]->create_revision, 0);
	assert_int_equal(t.req.n_success, 1);
	wm_etcd_txn_free(&t);
	/* Allow: only a denied node (create_revision > 0) is forgotten. */
	assert_int_equal(wm_etcd_txn_allow(&t, "m", "node-a"), 0);
	assert_int_equal(t.req.compare[0]->result, ETCDSERVERPB__COMPARE__COMPARE_RESULT__GREATER);
	assert_int_equal(t.req.compare[0]->create_revision, 0);
	assert_int_equal(t.req.success[0]->request_case,
			 ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE);
	wm_etcd_txn_free(&t);
	assert_int_equal(wm_etcd_txn_allow(&t, "m", "../x"), -EINVAL);
	wm_etcd_txn_free(&t);
}

static void test_txn_bootstrap(void **state)
{
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	struct wm_etcd_txn t;
	(void)state;
	b.network_ipv4 = "10.1.0.0/29";
	b.network_ipv6 = "fd12:3456:789a::/48";
	b.domain = "mesh.internal";
	assert_int_equal(wm_etcd_txn_bootstrap(&t, "m", &b), 0);
	assert_int_equal(t.req.n_compare, 1);
	assert_int_equal(t.req.compare[0]->create_revision, 0);
	assert_memory_equal(t.req.compare[0]->key.data, "/webmesh/m/mesh", 15);
	assert_int_equal(t.req.n_success, 1);
	assert_int_equal(t.req.n_failure, 1);
	struct wm_mesh_info m;
	uint32_t first, last;
	char why[256];
	const Etcdserverpb__PutRequest *p = t.req.success[0]->request_put;
	assert_int_equal(wm_etcd_mesh_decode(p->value.data, p->value.len, &m, &first, &last, why,
					     sizeof(why)),
			 0);
	assert_string_equal(m.domain, "mesh.internal");
	wm_etcd_txn_free(&t);
	assert_int_equal(wm_etcd_txn_bootstrap(&t, "bad/mesh", &b), -EINVAL);
	wm_etcd_txn_free(&t);
}

/* Keys of the state records: undirected edges, DNS values under a prefix of
 * their name and type, and every key recognised for its kind. */
static void test_state_keys(void **state)
{
	char k1[WM_ETCD_SKEY_MAX], k2[WM_ETCD_SKEY_MAX], pfx[WM_ETCD_SKEY_MAX];
	enum wm_etcd_skind kind;
	(void)state;
	const size_t pl = strlen("/webmesh/m/");
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_EDGE, "a", "b", NULL, k1, sizeof(k1)), 0);
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_EDGE, "b", "a", NULL, k2, sizeof(k2)), 0);
	assert_string_equal(k1, k2);
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_EDGE, "a", "c", NULL, k2, sizeof(k2)), 0);
	assert_string_not_equal(k1, k2);
	assert_int_equal(wm_etcd_skey_kind((const uint8_t *)k1 + pl, strlen(k1) - pl, &kind), 0);
	assert_int_equal(kind, WM_ETCD_S_EDGE);
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_DNS, "www.x", "A", "10.0.0.1", k1, sizeof(k1)),
			 0);
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_DNS, "www.x", "A", NULL, pfx, sizeof(pfx)), 0);
	assert_memory_equal(k1, pfx, strlen(pfx));
	assert_int_equal(wm_etcd_skey_kind((const uint8_t *)k1 + pl, strlen(k1) - pl, &kind), 0);
	assert_int_equal(kind, WM_ETCD_S_DNS);
	/* The prefix itself is not a record. */
	assert_int_equal(wm_etcd_skey_kind((const uint8_t *)pfx + pl, strlen(pfx) - pl, &kind),
			 -EINVAL);
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_ROUTES, "node-a", NULL, NULL, k1, sizeof(k1)),
			 0);
	assert_string_equal(k1, "/webmesh/m/routes/node-a");
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_ROUTES, "../x", NULL, NULL, k1, sizeof(k1)),
			 -EINVAL);
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_AUTHZ, "roles", "r", NULL, k1, sizeof(k1)), 0);
	assert_int_equal(wm_etcd_skey_kind((const uint8_t *)k1 + pl, strlen(k1) - pl, &kind), 0);
	assert_int_equal(kind, WM_ETCD_S_AUTHZ);
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_AUTHZ, "widgets", "r", NULL, k1, sizeof(k1)),
			 -EINVAL);
	static const char *const other[] = {"guard", "cmd", "authz-settings"};
	static const enum wm_etcd_skind ok[] = {WM_ETCD_S_GUARD, WM_ETCD_S_CMD,
						WM_ETCD_S_AUTHZ_SET};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(
			wm_etcd_skey_kind((const uint8_t *)other[i], strlen(other[i]), &kind), 0);
		assert_int_equal(kind, ok[i]);
	}
	static const char *const bad[] = {"edges/xyz", "edges/",  "dns/00/11",
					  "guards",    "nodes/a", "authz/roles/short"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wm_etcd_skey_kind((const uint8_t *)bad[i], strlen(bad[i]), &kind),
				 -EINVAL);
}

/* A record holds only the commands of its kind, with its nodes' create
 * revisions; anything else is refused. */
static void test_state_records(void **state)
{
	Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT, *back;
	Webmesh__V1__PutEdgeCommand e = WEBMESH__V1__PUT_EDGE_COMMAND__INIT;
	uint8_t *v;
	size_t len;
	int64_t a, b;
	(void)state;
	e.source = "a";
	e.target = "b";
	e.weight = 3;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
	c.put_edge = &e;
	assert_int_equal(wm_etcd_srec_encode(&c, 7, 9, &v, &len), 0);
	assert_int_equal(wm_etcd_srec_decode(WM_ETCD_S_EDGE, v, len, &back, &a, &b), 0);
	assert_int_equal(a, 7);
	assert_int_equal(b, 9);
	assert_string_equal(back->put_edge->target, "b");
	assert_int_equal(back->put_edge->weight, 3);
	webmesh__v1__raft_command__free_unpacked(back, NULL);
	/* The cmd key takes any command; the routes key not an edge. */
	assert_int_equal(wm_etcd_srec_decode(WM_ETCD_S_CMD, v, len, &back, &a, &b), 0);
	webmesh__v1__raft_command__free_unpacked(back, NULL);
	assert_int_equal(wm_etcd_srec_decode(WM_ETCD_S_ROUTES, v, len, &back, &a, &b), -EINVAL);
	assert_null(back);
	assert_int_equal(wm_etcd_srec_decode(WM_ETCD_S_DNS, v, len, &back, &a, &b), -EINVAL);
	free(v);
	/* Negative revisions, garbage, an empty command. */
	assert_int_equal(wm_etcd_srec_encode(&c, -1, 0, &v, &len), 0);
	assert_int_equal(wm_etcd_srec_decode(WM_ETCD_S_EDGE, v, len, &back, &a, &b), -EINVAL);
	free(v);
	const uint8_t junk[] = {0xff, 0xff, 0xff};
	assert_int_equal(wm_etcd_srec_decode(WM_ETCD_S_EDGE, junk, sizeof(junk), &back, &a, &b),
			 -EINVAL);
	Webmesh__V1__RaftCommand empty = WEBMESH__V1__RAFT_COMMAND__INIT;
	assert_int_equal(wm_etcd_srec_encode(&empty, 0, 0, &v, &len), 0);
	assert_int_equal(wm_etcd_srec_decode(WM_ETCD_S_CMD, v, len, &back, &a, &b), -EINVAL);
	free(v);
}

static size_t txn_ops(const Etcdserverpb__TxnRequest *r)
{
	return r->n_compare + r->n_success + r->n_failure;
}

/* etcd takes at most 128 operations per transaction (--max-txn-ops). In a
 * full mesh of N = 1000 nodes the Raft store's join adds an edge to each of
 * the other 999; the etcd store's largest transaction of any command kind
 * stays a handful of operations, whatever N. */
static void test_txn_ops_at_1000_nodes(void **state)
{
	enum { N = 1000 };
	struct wm_fsm *f;
	struct wm_store_result res;
	char err[256], ids[N][16], key[WM_KEY_B64_LEN + 1];
	Webmesh__V1__RaftCommand c = WEBMESH__V1__RAFT_COMMAND__INIT;
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__JoinNodeCommand j;
	char *ep[] = {"192.0.2.1:51820"}, *rt[] = {"192.168.7.0/24"};
	struct wm_mesh_edge *edges;
	size_t n_edges, largest = 0;
	(void)state;

	assert_int_equal(wm_fsm_open(":memory:", &f, err, sizeof(err)), 0);
	b.network_ipv4 = "10.1.0.0/16";
	b.network_ipv6 = "fd12:3456:789a::/48";
	b.domain = "mesh.internal";
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	c.bootstrap = &b;
	assert_int_equal(wm_fsm_apply_cmd(f, 1, &c, &res), 0);
	assert_int_equal(res.err, 0);
	for (int i = 0; i < N; i++) {
		wm_key k = {0};
		k[0] = (uint8_t)(i + 1);
		k[1] = (uint8_t)((i + 1) >> 8);
		k[31] = 0x42;
		wm_key_to_base64(k, key);
		snprintf(ids[i], sizeof(ids[i]), "n%d", i);
		join_cmd(&j, ep, rt);
		j.id = ids[i];
		j.public_key = key;
		j.n_routes = 0;
		j.full_mesh = true;
		c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
		c.join_node = &j;
		assert_int_equal(wm_fsm_apply_cmd(f, 2 + (uint64_t)i, &c, &res), 0);
		assert_int_equal(res.err, 0);
	}
	struct wm_mesh_node *nodes;
	size_t n_nodes;
	assert_int_equal(wm_fsm_list_nodes(f, &nodes, &n_nodes), 0);
	free(nodes);
	assert_int_equal(n_nodes, N);
	assert_int_equal(wm_fsm_list_edges(f, &edges, &n_edges), 0);
	assert_int_equal(n_edges, (size_t)N * (N - 1) / 2);
	free(edges);

	/* Node 1001 joins (and comes again), with routes: the guarded join. */
	struct wm_mesh_info m;
	struct wm_mesh_node n;
	uint32_t first, last;
	char why[256];
	assert_int_equal(wm_fsm_mesh_info(f, &m), 0);
	assert_int_equal(wm_etcd_mesh_from_cmd(&b, &m, &first, &last, why, sizeof(why)), 0);
	join_cmd(&j, ep, rt);
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), 0);
	n.ipv4 = wm_prefix_from_ipv4_u32(first + N, 32);
	struct wm_etcd_txn t;
	assert_int_equal(wm_etcd_txn_join(&t, "m", &n), 0);
	assert_int_equal(wm_etcd_txn_guard(&t, "m", 12345), 0);
	largest = txn_ops(&t.req);
	assert_int_equal(largest, 14); /* 4 + 1 compares, 3 + 1 puts, 4 + 1 reads */
	wm_etcd_txn_free(&t);
	assert_int_equal(wm_etcd_txn_rejoin(&t, "m", &n, 77), 0);
	assert_int_equal(wm_etcd_txn_guard(&t, "m", 12345), 0);
	largest = txn_ops(&t.req) > largest ? txn_ops(&t.req) : largest;
	wm_etcd_txn_free(&t);
	assert_int_equal(wm_etcd_txn_remove(&t, "m", &n, 77), 0);
	largest = txn_ops(&t.req) > largest ? txn_ops(&t.req) : largest;
	wm_etcd_txn_free(&t);

	/* The other commands: the most any takes is an edge's (two nodes
	 * compared, the record, the guard, the cmd key). */
	struct wm_etcd_change ch;
	struct wm_etcd_gtxn g;
	Webmesh__V1__PutEdgeCommand e = WEBMESH__V1__PUT_EDGE_COMMAND__INIT;
	e.source = ids[0];
	e.target = ids[N - 1];
	e.weight = 2;
	c.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
	c.put_edge = &e;
	memset(&ch, 0, sizeof(ch));
	ch.node_a = ids[0];
	ch.node_b = ids[N - 1];
	ch.rev_a = 5;
	ch.rev_b = 6;
	ch.create_a = 2;
	ch.create_b = 3;
	ch.put = true;
	ch.record = &c;
	assert_int_equal(
		wm_etcd_skey("m", WM_ETCD_S_EDGE, e.source, e.target, NULL, ch.key, sizeof(ch.key)),
		0);
	assert_int_equal(wm_etcd_txn_change(&g, "m", 99, &ch, &c), 0);
	assert_int_equal(g.req.n_compare, 3);
	assert_int_equal(g.req.n_success, 3);
	assert_int_equal(g.req.n_failure, 1);
	assert_int_equal(g.n_ops, txn_ops(&g.req));
	largest = txn_ops(&g.req) > largest ? txn_ops(&g.req) : largest;
	/* It packs. */
	size_t len = etcdserverpb__txn_request__get_packed_size(&g.req);
	uint8_t *buf = malloc(len);
	etcdserverpb__txn_request__pack(&g.req, buf);
	Etcdserverpb__TxnRequest *u = etcdserverpb__txn_request__unpack(NULL, len, buf);
	assert_non_null(u);
	assert_int_equal(txn_ops(u), 7);
	etcdserverpb__txn_request__free_unpacked(u, NULL);
	free(buf);
	wm_etcd_gtxn_free(&g);
	/* A DNS delete of every value of a name: one range delete. */
	memset(&ch, 0, sizeof(ch));
	ch.del_prefix = true;
	assert_int_equal(wm_etcd_skey("m", WM_ETCD_S_DNS, "www.mesh.internal", "A", NULL, ch.key,
				      sizeof(ch.key)),
			 0);
	assert_int_equal(wm_etcd_txn_change(&g, "m", 99, &ch, &c), 0);
	assert_non_null(g.req.success[0]->request_delete_range->range_end.data);
	wm_etcd_gtxn_free(&g);

	assert_true(largest <= WM_ETCD_GTXN_MAX);
	assert_true(largest * 8 < 128); /* far under etcd's limit */
	/* The builder refuses to grow past its bound rather than overflow. */
	wm_etcd_gtxn_init(&g);
	int r = 0;
	for (int i = 0; i <= WM_ETCD_GTXN_MAX && r == 0; i++)
		r = wm_etcd_gtxn_cmp(&g, "/webmesh/m/guard", 1);
	assert_int_equal(r, -E2BIG);
	assert_int_equal(g.n_ops, WM_ETCD_GTXN_MAX);
	wm_etcd_gtxn_free(&g);
	wm_fsm_close(f);
}

/* The sorted arrays the store and its replica keep nodes and the deny list in. */
static void test_sorted_ids(void **state)
{
	struct rec {
		int64_t rev;
		char id[8];
	} *v = NULL;
	size_t n = 0, cap = 0, i;
	bool found;
	static const char *const ids[] = {"m", "c", "x", "a", "q"};
	(void)state;
	for (size_t k = 0; k < 5; k++) {
		i = wm_etcd_sorted_find(v, n, sizeof(*v), offsetof(struct rec, id), ids[k], &found);
		assert_false(found);
		void *grown = v;
		assert_int_equal(wm_etcd_sorted_insert(&grown, &n, &cap, sizeof(*v), i), 0);
		v = grown;
		assert_int_equal(v[i].rev, 0); /* zeroed */
		snprintf(v[i].id, sizeof(v[i].id), "%s", ids[k]);
		v[i].rev = (int64_t)k + 1;
	}
	assert_int_equal(n, 5);
	assert_int_equal(cap, 64);
	assert_string_equal(v[0].id, "a");
	assert_string_equal(v[4].id, "x");
	i = wm_etcd_sorted_find(v, n, sizeof(*v), offsetof(struct rec, id), "m", &found);
	assert_true(found);
	assert_int_equal(i, 2);
	assert_int_equal(v[i].rev, 1);
	wm_etcd_sorted_remove(v, &n, sizeof(*v), i);
	assert_int_equal(n, 4);
	assert_string_equal(v[2].id, "q");
	i = wm_etcd_sorted_find(v, n, sizeof(*v), offsetof(struct rec, id), "m", &found);
	assert_false(found);
	assert_int_equal(i, 2);
	free(v);
}

/* Records anyone with write access to etcd could have put there, among good
 * ones: the replica's load refuses each bad one and serves the rest, with no
 * two nodes on one address and every node under its own key. */
static void put_kv(Mvccpb__KeyValue *kv, const char *mesh, enum wm_etcd_kind kind, const char *name,
		   uint8_t *v, size_t len, int64_t rev, char *keybuf)
{
	mvccpb__key_value__init(kv);
	assert_int_equal(wm_etcd_key(mesh, kind, name, keybuf, WM_ETCD_KEY_MAX), 0);
	kv->key = (ProtobufCBinaryData){strlen(keybuf), (uint8_t *)keybuf};
	kv->value = (ProtobufCBinaryData){len, v};
	kv->create_revision = kv->mod_revision = rev;
}

static uint8_t *node_rec(const char *id, const char *key, uint32_t v4, size_t *len)
{
	Webmesh__V1__JoinNodeCommand j;
	char *ep[] = {"192.0.2.1:51820"}, *rt[] = {"192.168.7.9/24"};
	struct wm_mesh_info m;
	struct wm_mesh_node n;
	uint32_t first, last;
	char why[256];
	uint8_t *v;
	mesh(&m, &first, &last);
	join_cmd(&j, ep, rt);
	j.id = (char *)id;
	j.public_key = (char *)key;
	j.n_routes = 0;
	assert_int_equal(wm_etcd_node_from_cmd(&m, first, last, &j, &n, why, sizeof(why)), 0);
	n.ipv4 = wm_prefix_from_ipv4_u32(v4, 32);
	assert_int_equal(wm_etcd_node_encode(&n, &v, len), 0);
	return v;
}

static void test_hostile_records(void **state)
{
	static const char *K2 = "EREREREREREREREREREREREREREREREREREREREREVE=";
	static const char *K3 = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiImI=";
	uv_loop_t loop;
	struct wm_etcd_state *st;
	Mvccpb__KeyValue kv[7], *kvs[7];
	char keys[7][WM_ETCD_KEY_MAX];
	uint8_t *v[7] = {0};
	size_t len[7] = {0};
	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(wm_etcd_state_new(&loop, NULL, "t", &st), 0);

	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	b.network_ipv4 = "10.1.0.0/29";
	b.network_ipv6 = "fd12:3456:789a::/48";
	b.domain = "mesh.internal";
	len[0] = webmesh__v1__bootstrap_mesh_command__get_packed_size(&b);
	v[0] = malloc(len[0]);
	webmesh__v1__bootstrap_mesh_command__pack(&b, v[0]);
	put_kv(&kv[0], "t", WM_ETCD_KEY_MESH, NULL, v[0], len[0], 2, keys[0]);
	v[1] = node_rec("node-a", KEY, 0x0a010002, &len[1]);
	put_kv(&kv[1], "t", WM_ETCD_KEY_NODE, "node-a", v[1], len[1], 3, keys[1]);
	/* not a record at all */
	v[2] = (uint8_t *)strdup("\xff\xff garbage");
	len[2] = strlen((char *)v[2]);
	put_kv(&kv[2], "t", WM_ETCD_KEY_NODE, "node-b", v[2], len[2], 4, keys[2]);
	/* node-a's address under another node */
	v[3] = node_rec("node-c", K2, 0x0a010002, &len[3]);
	put_kv(&kv[3], "t", WM_ETCD_KEY_NODE, "node-c", v[3], len[3], 5, keys[3]);
	/* a record naming node-a (another key, another address) under node-d's key */
	v[4] = node_rec("node-a", K3, 0x0a010004, &len[4]);
	put_kv(&kv[4], "t", WM_ETCD_KEY_NODE, "node-d", v[4], len[4], 6, keys[4]);
	/* a good node after them all */
	v[5] = node_rec("node-e", K3, 0x0a010005, &len[5]);
	put_kv(&kv[5], "t", WM_ETCD_KEY_NODE, "node-e", v[5], len[5], 7, keys[5]);
	/* the deny list with garbage in it */
	v[6] = (uint8_t *)strdup("\x0a\xff");
	len[6] = strlen((char *)v[6]);
	put_kv(&kv[6], "t", WM_ETCD_KEY_DENIED, "node-e", v[6], len[6], 8, keys[6]);
	for (size_t i = 0; i < 7; i++)
		kvs[i] = &kv[i];

	assert_int_equal(wm_etcd_state_load(st, kvs, 7, 8), 0);
	struct wm_fsm *f = wm_etcd_state_fsm(st);
	struct wm_mesh_node n;
	assert_int_equal(wm_fsm_get_node(f, "node-a", &n), 0);
	char a_key[WM_KEY_B64_LEN + 1];
	wm_key_to_base64(n.public_key, a_key);
	assert_string_equal(a_key, KEY); /* node-d's record did not take node-a over */
	assert_int_equal(wm_prefix_ipv4_u32(&n.ipv4), 0x0a010002);
	assert_int_equal(wm_fsm_get_node(f, "node-b", &n), -ENOENT);
	struct wm_mesh_node *all = NULL;
	size_t nn = 0;
	assert_int_equal(wm_fsm_list_nodes(f, &all, &nn), 0);
	for (size_t i = 0; i < nn; i++)
		for (size_t j = i + 1; j < nn; j++)
			assert_false(all[i].ipv4.family &&
				     wm_prefix_equal(&all[i].ipv4, &all[j].ipv4));
	bool has_e = false;
	for (size_t i = 0; i < nn; i++)
		has_e |= strcmp(all[i].id, "node-e") == 0;
	assert_true(has_e);
	free(all);
	wm_etcd_state_free(st);
	for (size_t i = 0; i < 7; i++)
		free(v[i]);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mesh_names),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_v4_names),
		cmocka_unit_test(test_prefix_end),
		cmocka_unit_test(test_endpoints),
		cmocka_unit_test(test_mesh_record),
		cmocka_unit_test(test_node_record),
		cmocka_unit_test(test_lease_pick),
		cmocka_unit_test(test_txn_join),
		cmocka_unit_test(test_txn_remove_rejoin),
		cmocka_unit_test(test_txn_bootstrap),
		cmocka_unit_test(test_state_keys),
		cmocka_unit_test(test_state_records),
		cmocka_unit_test(test_txn_ops_at_1000_nodes),
		cmocka_unit_test(test_hostile_records),
		cmocka_unit_test(test_sorted_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
