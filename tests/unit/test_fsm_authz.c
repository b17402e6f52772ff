/* RBAC objects and network ACLs in the FSM: bootstrap built-ins, puts and
 * deletes, built-ins protected, refusals leave the state byte-identical, and
 * the snapshot the evaluators take. */
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

#include "store/authz.h"
#include "store/fsm.h"

static uint64_t idx;

static int apply(struct wm_fsm *f, Webmesh__V1__RaftCommand *cmd, struct wm_store_result *res)
{
	assert_int_equal(wm_fsm_apply_cmd(f, ++idx, cmd, res), 0);
	return res->err;
}

static int boot(struct wm_fsm *f, const char *admin, bool accept)
{
	Webmesh__V1__BootstrapAuthzCommand b = WEBMESH__V1__BOOTSTRAP_AUTHZ_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	struct wm_store_result res;
	char *voters[] = {"srv-2"};
	b.admin = (char *)admin;
	b.bootstrap_node = "srv-1";
	b.voters = voters;
	b.n_voters = 1;
	b.default_accept = accept;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ;
	cmd.bootstrap_authz = &b;
	return apply(f, &cmd, &res);
}

static int put_role(struct wm_fsm *f, const char *name, const char *rules)
{
	Webmesh__V1__PutRoleCommand c = WEBMESH__V1__PUT_ROLE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	struct wm_store_result res;
	c.name = (char *)name;
	c.rules = (char *)rules;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE;
	cmd.put_role = &c;
	return apply(f, &cmd, &res);
}

static int put_binding(struct wm_fsm *f, const char *name, const char *role, const char *subj)
{
	Webmesh__V1__PutRoleBindingCommand c = WEBMESH__V1__PUT_ROLE_BINDING_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	struct wm_store_result res;
	c.name = (char *)name;
	c.role = (char *)role;
	c.subjects = (char *)subj;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROLE_BINDING;
	cmd.put_role_binding = &c;
	return apply(f, &cmd, &res);
}

static int put_group(struct wm_fsm *f, const char *name, const char *subj)
{
	Webmesh__V1__PutGroupCommand c = WEBMESH__V1__PUT_GROUP_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	struct wm_store_result res;
	c.name = (char *)name;
	c.subjects = (char *)subj;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_GROUP;
	cmd.put_group = &c;
	return apply(f, &cmd, &res);
}

static int put_acl(struct wm_fsm *f, const char *name, int prio, bool accept, const char *src,
		   const char *dst, const char *protos, const char *ports)
{
	Webmesh__V1__PutNetworkACLCommand c = WEBMESH__V1__PUT_NETWORK_ACLCOMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	struct wm_store_result res;
	c.name = (char *)name;
	c.priority = prio;
	c.accept = accept;
	c.source_nodes = (char *)src;
	c.destination_nodes = (char *)dst;
	c.protocols = (char *)protos;
	c.ports = (char *)ports;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_NETWORK_ACL;
	cmd.put_network_acl = &c;
	return apply(f, &cmd, &res);
}

static int del(struct wm_fsm *f, const char *kind, const char *name)
{
	Webmesh__V1__DeleteAuthzCommand c = WEBMESH__V1__DELETE_AUTHZ_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	struct wm_store_result res;
	c.kind = (char *)kind;
	c.name = (char *)name;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_AUTHZ;
	cmd.delete_authz = &c;
	return apply(f, &cmd, &res);
}

static bool allowed(struct wm_fsm *f, const char *id, enum wm_identity_kind kind, const char *verb,
		    const char *res, const char *name)
{
	struct wm_authz_snapshot snap;
	assert_int_equal(wm_fsm_authz_load(f, &snap), 0);
	struct wm_rbac_policy p = wm_authz_policy(&snap);
	struct wm_rbac_who who = {.id = id, .kind = kind};
	bool ok = wm_rbac_allowed(&p, &who, verb, res, name);
	wm_authz_snapshot_free(&snap);
	return ok;
}

static void test_authz(void **state)
{
	(void)state;
	struct wm_fsm *f;
	char err[256], *before, *after;
	assert_int_equal(wm_fsm_open(":memory:", &f, err, sizeof(err)), 0);

	struct wm_authz_snapshot snap;
	assert_int_equal(wm_fsm_authz_load(f, &snap), 0);
	assert_false(snap.bootstrapped);
	wm_authz_snapshot_free(&snap);

	assert_int_equal(boot(f, "admin", false), 0);
	assert_int_equal(boot(f, "admin", false), -EEXIST);
	assert_true(allowed(f, "admin", WM_ID_USER, "put", "roles", "x"));
	assert_true(allowed(f, "srv-1", WM_ID_NODE, "delete", "nodes", "x"));
	assert_true(allowed(f, "srv-1", WM_ID_NODE, "put", "voters", "srv-1"));
	assert_true(allowed(f, "srv-2", WM_ID_NODE, "put", "voters", "srv-2"));
	assert_false(allowed(f, "srv-2", WM_ID_NODE, "put", "edges", NULL));
	assert_false(allowed(f, "node-x", WM_ID_NODE, "put", "voters", "node-x"));

	/* a user's role through a group */
	assert_int_equal(put_role(f, "edge-editor", "get,put:edges:"), 0);
	assert_int_equal(put_group(f, "ops", "user:dave"), 0);
	assert_int_equal(put_binding(f, "ops-edges", "edge-editor", "group:ops"), 0);
	assert_true(allowed(f, "dave", WM_ID_USER, "put", "edges", "a"));
	assert_false(allowed(f, "erin", WM_ID_USER, "put", "edges", "a"));
	assert_int_equal(put_group(f, "ops", "user:dave,user:erin"), 0);
	assert_true(allowed(f, "erin", WM_ID_USER, "put", "edges", "a"));

	/* refusals leave no trace */
	assert_int_equal(wm_fsm_dump(f, &before), 0);
	assert_int_equal(put_role(f, "mesh-admin", "get:nodes:"), -EPERM);
	assert_int_equal(del(f, "roles", "voters"), -EPERM);
	assert_int_equal(del(f, "rolebindings", "mesh-admin"), -EPERM);
	assert_int_equal(put_binding(f, "voters", "edge-editor", "all"), -EPERM);
	assert_int_equal(del(f, "roles", "edge-editor"), -EBUSY); /* in use */
	assert_int_equal(put_binding(f, "x", "no-such-role", "all"), -ENOENT);
	assert_int_equal(put_role(f, "bad", "fly:nodes:"), -EINVAL);
	assert_int_equal(put_role(f, "bad name", "get:nodes:"), -EINVAL);
	assert_int_equal(put_group(f, "g", "robot:x"), -EINVAL);
	assert_int_equal(put_acl(f, "a", 1, true, "Bad_Node", "", "", ""), -EINVAL);
	assert_int_equal(del(f, "groups", "nope"), -ENOENT);
	assert_int_equal(del(f, "planets", "x"), -EINVAL);
	assert_int_equal(wm_fsm_dump(f, &after), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* the built-in voters binding takes new subjects */
	assert_int_equal(put_binding(f, "voters", "voters", "node:srv-1,node:srv-3"), 0);
	assert_true(allowed(f, "srv-3", WM_ID_NODE, "put", "voters", "srv-3"));
	assert_false(allowed(f, "srv-2", WM_ID_NODE, "put", "voters", "srv-2"));

	/* network ACLs and the default policy */
	assert_int_equal(put_group(f, "web", "node:web-1"), 0);
	assert_int_equal(put_acl(f, "web-in", 10, true, "*", "group:web", "tcp", "80,443"), 0);
	assert_int_equal(put_acl(f, "a-b", 5, true, "a", "b", "", ""), 0);
	assert_int_equal(wm_fsm_authz_load(f, &snap), 0);
	assert_true(snap.bootstrapped);
	assert_false(snap.default_accept);
	assert_int_equal(snap.n_acls, 2);
	struct wm_acl_set set = wm_authz_acl_set(&snap);
	assert_true(wm_acl_allows_peering(&set, "x", "web-1"));
	assert_true(wm_acl_allows_peering(&set, "b", "a"));
	assert_false(wm_acl_allows_peering(&set, "x", "y"));
	wm_authz_snapshot_free(&snap);

	assert_int_equal(del(f, "rolebindings", "ops-edges"), 0);
	assert_int_equal(del(f, "roles", "edge-editor"), 0);
	assert_false(allowed(f, "dave", WM_ID_USER, "put", "edges", "a"));
	assert_int_equal(del(f, "networkacls", "a-b"), 0);
	assert_int_equal(wm_fsm_dump(f, &after), 0);
	assert_non_null(strstr(after, "networkacl name=web-in"));
	assert_null(strstr(after, "networkacl name=a-b"));
	assert_non_null(strstr(after, "role name=mesh-admin builtin=1"));
	free(after);
	wm_fsm_close(f);
}

/* The bootstrap admin is a user unless it names its kind (issue 10): a node
 * of the admin's name, or a user named like the admin node, is not it. */
static void test_bootstrap_admin_kind(void **state)
{
	(void)state;
	static const struct {
		const char *admin, *id;
		enum wm_identity_kind yes, no;
	} cases[] = {
		{"admin", "admin", WM_ID_USER, WM_ID_NODE},
		{"user:alice", "alice", WM_ID_USER, WM_ID_NODE},
		{"node:ops-1", "ops-1", WM_ID_NODE, WM_ID_USER},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_fsm *f;
		char err[256];
		assert_int_equal(wm_fsm_open(":memory:", &f, err, sizeof(err)), 0);
		assert_int_equal(boot(f, cases[i].admin, false), 0);
		assert_true(allowed(f, cases[i].id, cases[i].yes, "put", "roles", "x"));
		assert_false(allowed(f, cases[i].id, cases[i].no, "put", "roles", "x"));
		assert_false(allowed(f, cases[i].id, WM_ID_ANY, "put", "roles", "x"));
		/* the bootstrap node is a node, never a user of its name */
		assert_true(allowed(f, "srv-1", WM_ID_NODE, "put", "roles", "x"));
		assert_false(allowed(f, "srv-1", WM_ID_USER, "put", "roles", "x"));
		wm_fsm_close(f);
	}
}

static int boot_auth(struct wm_fsm *f, const char *methods, const char *fp, bool rbac,
		     struct wm_store_result *res)
{
	Webmesh__V1__BootstrapAuthzCommand b = WEBMESH__V1__BOOTSTRAP_AUTHZ_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	b.admin = "admin";
	b.bootstrap_node = "srv-1";
	b.default_accept = true;
	b.auth_methods = (char *)methods;
	b.mtls_ca_fingerprint = (char *)fp;
	b.rbac = rbac;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP_AUTHZ;
	cmd.bootstrap_authz = &b;
	return apply(f, &cmd, res);
}

/* The mesh's authentication settings ride on the bootstrap command: stored
 * once, in the dump (so replicas compare), in the snapshot the servers
 * check; invalid settings refuse the whole command and change nothing. */
static void test_mesh_auth(void **state)
{
	(void)state;
	struct wm_fsm *f;
	struct wm_store_result res;
	struct wm_authz_snapshot snap;
	char err[256], *before, *after;
	const char *ca = "sha256:aa112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

	assert_int_equal(wm_fsm_open(":memory:", &f, err, sizeof(err)), 0);
	assert_int_equal(wm_fsm_dump(f, &before), 0);
	static const struct {
		const char *methods, *fp;
		bool rbac;
		const char *why;
	} bad[] = {
		{"mtls", "", true, "invalid mesh authentication settings (CA fingerprint or RBAC)"},
		{"basic", "", false,
		 "invalid mesh authentication settings (CA fingerprint or RBAC)"},
		{"open", "", true, "invalid mesh authentication settings (CA fingerprint or RBAC)"},
		{"mtls,none", "", true, "invalid mesh authentication methods"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(boot_auth(f, bad[i].methods, bad[i].fp, bad[i].rbac, &res),
				 -EINVAL);
		assert_string_equal(res.message, bad[i].why);
		assert_int_equal(wm_fsm_dump(f, &after), 0);
		/* only the applied index moves */
		assert_int_equal(wm_fsm_authz_load(f, &snap), 0);
		assert_false(snap.bootstrapped);
		assert_false(snap.has_mesh_auth);
		wm_authz_snapshot_free(&snap);
		free(after);
	}
	free(before);
	assert_int_equal(boot_auth(f, "key,mtls", ca, true, &res), 0);
	assert_int_equal(wm_fsm_authz_load(f, &snap), 0);
	assert_true(snap.has_mesh_auth);
	assert_int_equal(snap.mesh_auth.methods, WM_MESH_AUTH_MTLS | WM_MESH_AUTH_KEY);
	assert_string_equal(snap.mesh_auth.ca_fingerprint, ca);
	assert_true(snap.mesh_auth.rbac);
	wm_authz_snapshot_free(&snap);
	assert_int_equal(wm_fsm_dump(f, &after), 0);
	assert_non_null(strstr(after, "meshauth id=1 methods=mtls,key ca_fingerprint=sha256:aa11"));
	free(after);
	/* Once only. */
	assert_int_equal(boot_auth(f, "open", "", false, &res), -EEXIST);
	/* Survives a snapshot. */
	uint8_t *buf;
	size_t len;
	struct wm_fsm *g;
	assert_int_equal(wm_fsm_snapshot(f, &buf, &len), 0);
	assert_int_equal(wm_fsm_open(":memory:", &g, err, sizeof(err)), 0);
	assert_int_equal(wm_fsm_restore(g, buf, len), 0);
	assert_int_equal(wm_fsm_authz_load(g, &snap), 0);
	assert_true(snap.has_mesh_auth);
	assert_string_equal(snap.mesh_auth.ca_fingerprint, ca);
	wm_authz_snapshot_free(&snap);
	free(buf);
	wm_fsm_close(g);
	wm_fsm_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_authz),
		cmocka_unit_test(test_bootstrap_admin_kind),
		cmocka_unit_test(test_mesh_auth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
