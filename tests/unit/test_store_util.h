/* Test helpers for the store tests: building and encoding RaftCommands. */
#ifndef WM_TEST_STORE_HELPERS_H
#define WM_TEST_STORE_HELPERS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/key.h"
#include "webmesh/v1/raft.pb-c.h"

/* A deterministic, valid WireGuard public key per seed (base64). */
static inline void test_key(int seed, char out[WM_KEY_B64_LEN + 1])
{
	wm_key k;

	for (int i = 0; i < WM_KEY_LEN; i++)
		k[i] = (uint8_t)(seed * 31 + i * 7 + 1);
	wm_key_to_base64(k, out);
}

/* Packs cmd into a malloc'd buffer. */
static inline uint8_t *test_pack(const Webmesh__V1__RaftCommand *cmd, size_t *len)
{
	*len = webmesh__v1__raft_command__get_packed_size(cmd);
	uint8_t *buf = malloc(*len ? *len : 1);
	webmesh__v1__raft_command__pack(cmd, buf);
	return buf;
}

static inline uint8_t *test_bootstrap_cmd(const char *v4, const char *v6, size_t *len)
{
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	b.network_ipv4 = (char *)v4;
	b.network_ipv6 = (char *)v6;
	b.domain = "webmesh.internal";
	b.created_at = 1700000000;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	cmd.bootstrap = &b;
	return test_pack(&cmd, len);
}

struct test_join {
	const char *id;
	const char *key; /* base64; NULL = test_key(key_seed) */
	int key_seed;
	const char *endpoint; /* one endpoint or NULL */
	const char *route;    /* one route or NULL */
	const char *request;  /* ipv4_request or NULL */
	bool full_mesh;
	int role;
	uint32_t port;
};

static inline uint8_t *test_join_cmd(const struct test_join *j, size_t *len)
{
	Webmesh__V1__JoinNodeCommand c = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char key[WM_KEY_B64_LEN + 1];
	char *ep = (char *)j->endpoint, *rt = (char *)j->route;

	if (j->key)
		snprintf(key, sizeof(key), "%s", j->key);
	else
		test_key(j->key_seed, key);
	c.id = (char *)j->id;
	c.public_key = key;
	if (ep) {
		c.endpoints = &ep;
		c.n_endpoints = 1;
	}
	if (rt) {
		c.routes = &rt;
		c.n_routes = 1;
	}
	c.listen_port = j->port ? j->port : 51820;
	c.raft_role = j->role;
	c.joined_at = 1700000100;
	c.full_mesh = j->full_mesh;
	c.ipv4_request = (char *)(j->request ? j->request : "");
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &c;
	return test_pack(&cmd, len);
}

static inline uint8_t *test_remove_cmd(const char *id, size_t *len)
{
	Webmesh__V1__RemoveNodeCommand r = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	r.id = (char *)id;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	cmd.remove_node = &r;
	return test_pack(&cmd, len);
}

static inline uint8_t *test_edge_cmd(bool put, const char *a, const char *b, int weight,
				     const char *attr_key, const char *attr_value, size_t *len)
{
	Webmesh__V1__PutEdgeCommand p = WEBMESH__V1__PUT_EDGE_COMMAND__INIT;
	Webmesh__V1__DeleteEdgeCommand d = WEBMESH__V1__DELETE_EDGE_COMMAND__INIT;
	Webmesh__V1__PutEdgeCommand__AttributesEntry e =
		WEBMESH__V1__PUT_EDGE_COMMAND__ATTRIBUTES_ENTRY__INIT;
	Webmesh__V1__PutEdgeCommand__AttributesEntry *ep = &e;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	if (put) {
		p.source = (char *)a;
		p.target = (char *)b;
		p.weight = weight;
		if (attr_key) {
			e.key = (char *)attr_key;
			e.value = (char *)attr_value;
			p.attributes = &ep;
			p.n_attributes = 1;
		}
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
		cmd.put_edge = &p;
	} else {
		d.source = (char *)a;
		d.target = (char *)b;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_EDGE;
		cmd.delete_edge = &d;
	}
	return test_pack(&cmd, len);
}

static inline uint8_t *test_role_cmd(const char *name, const char *rules, size_t *len)
{
	Webmesh__V1__PutRoleCommand c = WEBMESH__V1__PUT_ROLE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	c.name = (char *)name;
	c.rules = (char *)rules;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE;
	cmd.put_role = &c;
	return test_pack(&cmd, len);
}

static inline uint8_t *test_binding_cmd(const char *name, const char *role, const char *subjects,
					size_t *len)
{
	Webmesh__V1__PutRoleBindingCommand c = WEBMESH__V1__PUT_ROLE_BINDING_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	c.name = (char *)name;
	c.role = (char *)role;
	c.subjects = (char *)subjects;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING;
	cmd.put_role_binding = &c;
	return test_pack(&cmd, len);
}

static inline uint8_t *test_group_cmd(const char *name, const char *subjects, size_t *len)
{
	Webmesh__V1__PutGroupCommand c = WEBMESH__V1__PUT_GROUP_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	c.name = (char *)name;
	c.subjects = (char *)subjects;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP;
	cmd.put_group = &c;
	return test_pack(&cmd, len);
}

/* The authorization fixture of the gate's unit test and fuzzer, as the
 * packed commands to apply in order on a fresh store whose bootstrap node is
 * srv-1 (at most TEST_GATE_FIXTURE_MAX; returns how many):
 * - srv-1 (voter), srv-2 (in the built-in voters binding, not joined), the
 *   members m1 and m2; the user "admin" is the mesh admin;
 * - role "partial": get edges, put routes m1, delete groups ops; bound to
 *   node:m1 and user:alice;
 * - role "edge-writer": put edges; bound to group:ops = {user:bob};
 * - role "observers": put observers; bound to node:obs. */
#define TEST_GATE_FIXTURE_MAX 16
static inline size_t test_gate_fixture(uint8_t *bufs[TEST_GATE_FIXTURE_MAX],
				       size_t lens[TEST_GATE_FIXTURE_MAX])
{
	Webmesh__V1__BootstrapAuthzCommand b = WEBMESH__V1__BOOTSTRAP_AUTHZ_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	struct test_join joins[] = {{.id = "srv-1", .key_seed = 1, .role = 1 /* voter */},
				    {.id = "m1", .key_seed = 2},
				    {.id = "m2", .key_seed = 3}};
	char *voters[] = {"srv-2"};
	size_t n = 0;

	bufs[n] = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &lens[n]);
	n++;
	b.admin = "admin";
	b.bootstrap_node = "srv-1";
	b.voters = voters;
	b.n_voters = 1;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ;
	cmd.bootstrap_authz = &b;
	bufs[n] = test_pack(&cmd, &lens[n]);
	n++;
	for (size_t i = 0; i < sizeof(joins) / sizeof(joins[0]); i++, n++)
		bufs[n] = test_join_cmd(&joins[i], &lens[n]);
	bufs[n] = test_role_cmd("partial", "get:edges:;put:routes:m1;delete:groups:ops", &lens[n]);
	n++;
	bufs[n] = test_binding_cmd("partial", "partial", "node:m1,user:alice", &lens[n]);
	n++;
	bufs[n] = test_role_cmd("edge-writer", "put:edges:", &lens[n]);
	n++;
	bufs[n] = test_group_cmd("ops", "user:bob", &lens[n]);
	n++;
	bufs[n] = test_binding_cmd("ops-edges", "edge-writer", "group:ops", &lens[n]);
	n++;
	bufs[n] = test_role_cmd("observers", "put:observers:", &lens[n]);
	n++;
	bufs[n] = test_binding_cmd("observers", "observers", "node:obs", &lens[n]);
	n++;
	return n;
}

#endif
