/* RBAC evaluation tables: wildcards, resource names, groups, deny by default. */
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

#include "core/rbac.h"

static const struct wm_rbac_role roles[] = {
	{"mesh-admin", WM_RBAC_ADMIN_RULES},
	{"voters", WM_RBAC_VOTERS_RULES},
	{"edge-editor", "get,put:edges:;get:nodes:"},
	{"one-node", "delete:nodes:node-a,node-b"},
	{"reader", "get:*:"},
	{"acl-admin", "*:networkacls:*"},
};
static const struct wm_rbac_binding bindings[] = {
	{"mesh-admin", "mesh-admin", "user:admin,node:boot"},
	{"voters", "voters", "node:boot,group:servers"},
	{"editors", "edge-editor", "group:ops"},
	{"deleter", "one-node", "user:carol"},
	{"everyone-reads", "reader", "all"},
	{"dangling", "no-such-role", "all"},
	{"acl", "acl-admin", "group:outer"},
	{"any-node", "edge-editor", "node:*"},
};
static const struct wm_rbac_group groups[] = {
	{"servers", "node:s1,node:s2"}, {"ops", "user:dave,group:sre"}, {"sre", "user:erin"},
	{"outer", "group:middle"},	{"middle", "group:inner"},	{"inner", "user:frank"},
	{"loop-a", "group:loop-b"},	{"loop-b", "group:loop-a"},
};
static const struct wm_rbac_policy policy = {roles, 6, bindings, 8, groups, 8};

struct row {
	const char *id;
	enum wm_identity_kind kind;
	const char *verb, *resource, *name;
	bool want;
};

static const struct row table[] = {
	/* admin: everything */
	{"admin", WM_ID_USER, "put", "roles", "x", true},
	/* an identity of no known kind matches no user or node subject */
	{"admin", WM_ID_ANY, "delete", "nodes", "n", false},
	{"boot", WM_ID_NODE, "put", "networkacls", NULL, true},
	/* a user subject does not match a node identity and vice versa */
	{"admin", WM_ID_NODE, "put", "roles", "x", false},
	{"boot", WM_ID_USER, "put", "roles", "x", false},
	/* voters: the bootstrap node and group servers */
	{"boot", WM_ID_NODE, "put", "voters", "boot", true},
	{"s1", WM_ID_NODE, "put", "voters", "s1", true},
	{"s2", WM_ID_ANY, "put", "voters", NULL, false},
	{"s2", WM_ID_USER, "put", "voters", NULL, false}, /* a user named like a server */
	{"s3", WM_ID_NODE, "put", "voters", "s3", false},
	{"s1", WM_ID_NODE, "delete", "voters", "s1", false},
	/* nested group expansion: erin is in sre, which is in ops */
	{"erin", WM_ID_USER, "put", "edges", "a", true},
	{"dave", WM_ID_USER, "put", "edges", NULL, true},
	{"dave", WM_ID_USER, "delete", "edges", "a", false},
	{"frank", WM_ID_USER, "put", "networkacls", "x", true}, /* outer>middle>inner */
	{"frank", WM_ID_USER, "put", "edges", "x", false},
	/* resource names */
	{"carol", WM_ID_USER, "delete", "nodes", "node-a", true},
	{"carol", WM_ID_USER, "delete", "nodes", "node-b", true},
	{"carol", WM_ID_USER, "delete", "nodes", "node-c", false},
	{"carol", WM_ID_USER, "delete", "nodes", NULL, false},
	{"carol", WM_ID_USER, "delete", "nodes", "", false},
	/* "all" reads everything, writes nothing; a dangling role grants nothing */
	{"nobody", WM_ID_ANY, "get", "roles", NULL, true},
	{"nobody", WM_ID_ANY, "put", "roles", "r", false},
	{"nobody", WM_ID_ANY, "delete", "groups", "g", false},
	/* node:* : every node identity */
	{"random-node", WM_ID_NODE, "put", "edges", "e", true},
	{"random-user", WM_ID_USER, "put", "edges", "e", false},
	/* unknown verbs and resources match only wildcards */
	{"s1", WM_ID_NODE, "frobnicate", "edges", NULL, false},
	{"admin", WM_ID_USER, "frobnicate", "anything", NULL, true},
	/* empty requests never pass */
	{"admin", WM_ID_USER, "", "roles", NULL, false},
	{"admin", WM_ID_USER, "get", "", NULL, false},
	{"", WM_ID_ANY, "put", "edges", "e", false},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct row *r = &table[i];
		struct wm_rbac_who who = {.id = r->id, .kind = r->kind};
		bool got = wm_rbac_allowed(&policy, &who, r->verb, r->resource, r->name);
		if (got != r->want)
			fail_msg("row %zu: %s %s %s/%s: got %d", i, r->id, r->verb, r->resource,
				 r->name ? r->name : "(none)", got);
	}
}

static void test_deny_by_default(void **state)
{
	(void)state;
	struct wm_rbac_policy none = {0};
	struct wm_rbac_who who = {.id = "admin", .kind = WM_ID_ANY};
	assert_false(wm_rbac_allowed(&none, &who, "get", "nodes", NULL));
	/* a role without a binding grants nothing */
	struct wm_rbac_policy roles_only = {roles, 6, NULL, 0, NULL, 0};
	assert_false(wm_rbac_allowed(&roles_only, &who, "get", "nodes", NULL));
	assert_false(wm_rbac_allowed(NULL, &who, "get", "nodes", NULL));
}

static void test_external_groups(void **state)
{
	(void)state;
	const char *g[] = {"ops"};
	struct wm_rbac_who who = {.id = "zed", .kind = WM_ID_USER, .groups = g, .n_groups = 1};
	assert_true(wm_rbac_allowed(&policy, &who, "put", "edges", "x"));
	assert_true(wm_rbac_in_group(&policy, &who, "ops"));
	assert_false(wm_rbac_in_group(&policy, &who, "sre"));
	struct wm_rbac_who loop = {.id = "x", .kind = WM_ID_ANY};
	assert_false(wm_rbac_in_group(&policy, &loop, "loop-a")); /* terminates */
}

static void test_checks(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(wm_rbac_rules_check("get,put:nodes,edges:;*:*:*", err, sizeof(err)), 0);
	assert_int_equal(wm_rbac_rules_check("get:nodes:a,b", err, sizeof(err)), 0);
	assert_int_equal(wm_rbac_rules_check("", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_rules_check("get:nodes", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_rules_check("get:nodes:a:b", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_rules_check("fly:nodes:", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "verb \"fly\""));
	assert_int_equal(wm_rbac_rules_check("get:planets:", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_rules_check("get::", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_rules_check("get:nodes:a,,b", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_rules_check("get:nodes:;", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_rules_check("get:nodes:a b", err, sizeof(err)), -EINVAL);
	assert_int_equal(wm_rbac_subjects_check("node:a,user:b@x.org,group:g,all", err, 256), 0);
	assert_int_equal(wm_rbac_subjects_check("node:*,user:*", err, 256), 0);
	assert_int_equal(wm_rbac_subjects_check("group:*", err, 256), -EINVAL);
	assert_int_equal(wm_rbac_subjects_check("robot:a", err, 256), -EINVAL);
	assert_int_equal(wm_rbac_subjects_check("node:", err, 256), -EINVAL);
	assert_int_equal(wm_rbac_subjects_check("all:*", err, 256), -EINVAL);
	assert_int_equal(wm_rbac_subjects_check("", err, 256), -EINVAL);
	assert_int_equal(wm_rbac_subjects_check("node:a,", err, 256), -EINVAL);
	assert_int_equal(wm_rbac_name_check("ok-name_1.2@x+y", NULL), 0);
	assert_int_equal(wm_rbac_name_check("*", NULL), -EINVAL);
	assert_int_equal(wm_rbac_name_check("a,b", NULL), -EINVAL);
	assert_int_equal(wm_rbac_name_check("", NULL), -EINVAL);
	assert_true(wm_rbac_is_builtin("mesh-admin"));
	assert_true(wm_rbac_is_builtin("voters"));
	assert_false(wm_rbac_is_builtin("editors"));
	enum wm_subject_kind k;
	const char *name;
	assert_int_equal(wm_rbac_subject_parse("all", &k, &name, NULL), 0);
	assert_int_equal(k, WM_SUBJECT_ALL);
	assert_int_equal(wm_rbac_subject_parse("group:ops", &k, &name, NULL), 0);
	assert_int_equal(k, WM_SUBJECT_GROUP);
	assert_string_equal(name, "ops");
}

/* No self-elevation: what a writer may grant is exactly what it holds. */
static const struct wm_rbac_role e_roles[] = {
	{"mesh-admin", WM_RBAC_ADMIN_RULES},
	{"binder", "put:rolebindings:"},
	{"edges", "get,put:edges:;get:nodes:"},
	{"verbs3", "get,put,delete:routes:"},
	{"named", "put:routes:site-a,site-b"},
	{"star-names", "delete:nodes:*"},
	{"big", "put:roles:"},
};
static const struct wm_rbac_binding e_bindings[] = {
	{"b-admin", "mesh-admin", "user:admin"}, {"b-binder", "binder", "user:bob"},
	{"b-edges", "edges", "group:ops"},	 {"b-verbs", "verbs3", "user:vera"},
	{"b-named", "named", "user:nina"},	 {"b-star", "star-names", "user:sam"},
	{"b-big", "big", "group:outer"},
};
static const struct wm_rbac_group e_groups[] = {
	{"ops", "user:olga"},	  {"outer", "group:inner"}, {"inner", "user:ian"},
	{"cyc-a", "group:cyc-b"}, {"cyc-b", "group:cyc-a"},
};
static const struct wm_rbac_policy e_policy = {e_roles, 7, e_bindings, 7, e_groups, 5};

struct cover_row {
	const char *id;
	const char *rules;
	const char *lack; /* NULL: covered */
};

static const struct cover_row cover_table[] = {
	/* the admin holds everything, wildcards included */
	{"admin", "*:*:*", NULL},
	{"admin", "put:roles:x;get:nodes:", NULL},
	/* put rolebindings is not mesh-admin */
	{"bob", "*:*:*", "* *"},
	{"bob", "put:rolebindings:", NULL},
	{"bob", "put:rolebindings:one", NULL},
	{"bob", "put,get:rolebindings:", "get rolebindings"},
	/* rights through a group */
	{"olga", "put:edges:", NULL},
	{"olga", "get:nodes:n1", NULL},
	{"olga", "put:nodes:", "put nodes"},
	/* holding get, put and delete is not holding "*" */
	{"vera", "get,put,delete:routes:", NULL},
	{"vera", "*:routes:", "* routes"},
	{"vera", "put:*:", "put *"},
	/* names: a holder of some names grants only those, never every name */
	{"nina", "put:routes:site-a", NULL},
	{"nina", "put:routes:site-a,site-b", NULL},
	{"nina", "put:routes:site-a,site-c", "put routes site-c"},
	{"nina", "put:routes:", "put routes"},
	{"nina", "put:routes:*", "put routes"},
	/* "*" names and every name are the same right */
	{"sam", "delete:nodes:", NULL},
	{"sam", "delete:nodes:*", NULL},
	{"sam", "delete:nodes:x", NULL},
	/* the first lacking right is named, in rule order */
	{"olga", "get:nodes:;put:roles:r;put:edges:", "put roles r"},
	/* a stranger holds nothing */
	{"eve", "get:nodes:", "get nodes"},
};

static void test_covers(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cover_table) / sizeof(cover_table[0]); i++) {
		const struct cover_row *r = &cover_table[i];
		struct wm_rbac_who who = {.id = r->id, .kind = WM_ID_USER};
		char lack[128];
		bool got = wm_rbac_covers(&e_policy, &who, r->rules, lack, sizeof(lack));
		if (got != (r->lack == NULL) || (r->lack && strcmp(lack, r->lack) != 0))
			fail_msg("row %zu: %s grants %s: got %d lack \"%s\"", i, r->id, r->rules,
				 got, lack);
	}
	/* a node identity does not hold a user's rights */
	struct wm_rbac_who node = {.id = "admin", .kind = WM_ID_NODE};
	char lack[64];
	assert_false(wm_rbac_covers(&e_policy, &node, "get:nodes:", lack, sizeof(lack)));
	assert_string_equal(lack, "get nodes");
}

static void test_group_covers(void **state)
{
	(void)state;
	struct wm_rbac_who bob = {.id = "bob", .kind = WM_ID_USER};
	struct wm_rbac_who admin = {.id = "admin", .kind = WM_ID_USER};
	struct wm_rbac_who olga = {.id = "olga", .kind = WM_ID_USER};
	char lack[64];
	const char *role = "x";
	/* ops is bound to edges: adding members grants its rules */
	assert_false(wm_rbac_group_covers(&e_policy, &bob, "ops", lack, sizeof(lack), &role));
	assert_string_equal(lack, "get edges");
	assert_string_equal(role, "edges");
	assert_true(wm_rbac_group_covers(&e_policy, &olga, "ops", lack, sizeof(lack), &role));
	assert_null(role);
	/* inner is in outer, which is bound to big: inner's members get put roles */
	assert_false(wm_rbac_group_covers(&e_policy, &olga, "inner", lack, sizeof(lack), &role));
	assert_string_equal(lack, "put roles");
	assert_string_equal(role, "big");
	assert_true(wm_rbac_group_covers(&e_policy, &admin, "inner", lack, sizeof(lack), NULL));
	/* a group nothing is bound to grants nothing; cycles end */
	assert_true(wm_rbac_group_covers(&e_policy, &bob, "new-group", lack, sizeof(lack), NULL));
	assert_true(wm_rbac_group_covers(&e_policy, &bob, "cyc-a", lack, sizeof(lack), NULL));
	assert_string_equal(wm_rbac_role_rules(&e_policy, "binder"), "put:rolebindings:");
	assert_null(wm_rbac_role_rules(&e_policy, "nope"));
}

static void test_explain(void **state)
{
	(void)state;
	char out[512];
	struct wm_rbac_who eve = {.id = "eve", .kind = WM_ID_USER};
	struct wm_rbac_who bob = {.id = "bob", .kind = WM_ID_USER};
	struct wm_rbac_who olga = {.id = "olga", .kind = WM_ID_USER};
	wm_rbac_explain(&e_policy, &eve, "put", "edges", NULL, out, sizeof(out));
	assert_string_equal(out,
			    "nothing binds user:eve: no role binding names it, a group it is "
			    "in, or all; it needs a role with the rule put:edges: bound to it");
	wm_rbac_explain(&e_policy, &bob, "put", "roles", "r1", out, sizeof(out));
	assert_string_equal(out,
			    "user:bob is bound to binder (role binding b-binder), and none of "
			    "these roles has a rule for put roles r1; it needs a role with the "
			    "rule put:roles:r1 bound to it");
	wm_rbac_explain(&e_policy, &olga, "put", "edges", "e", out, sizeof(out));
	assert_string_equal(out, "user:olga is allowed by role edges (role binding b-edges)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),		cmocka_unit_test(test_deny_by_default),
		cmocka_unit_test(test_external_groups), cmocka_unit_test(test_checks),
		cmocka_unit_test(test_covers),		cmocka_unit_test(test_group_covers),
		cmocka_unit_test(test_explain),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
