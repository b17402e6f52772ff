/* What a node accepts of the ACL batch a server sends (src/core/aclbatch.c):
 * only lines on table inet webmesh's ACL chains, with our interface name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/acl.h"
#include "core/aclbatch.h"
#include "core/net.h"

#define PH "\"" WM_ACL_IFNAME_PLACEHOLDER "\""

static void test_ours_localized(void **state)
{
	(void)state;
	const char *in =
		"add table inet webmesh\n"
		"add chain inet webmesh acl-input { type filter hook input priority 0; }\n"
		"flush chain inet webmesh acl-input\n"
		"add rule inet webmesh acl-input iifname " PH " ip saddr 172.16.0.2 accept\n"
		"add rule inet webmesh acl-forward iifname " PH " oifname " PH " drop\n";
	char *out = NULL;
	assert_int_equal(wm_acl_batch_localize(in, "webmesh0", &out), 0);
	assert_string_equal(
		out,
		"add table inet webmesh\n"
		"add chain inet webmesh acl-input { type filter hook input priority 0; }\n"
		"flush chain inet webmesh acl-input\n"
		"add rule inet webmesh acl-input iifname \"webmesh0\" ip saddr 172.16.0.2 accept\n"
		"add rule inet webmesh acl-forward iifname \"webmesh0\" oifname \"webmesh0\" "
		"drop\n");
	free(out);
}

static void test_empty_and_blank_lines(void **state)
{
	(void)state;
	char *out = NULL;
	assert_int_equal(wm_acl_batch_localize("", "wg0", &out), 0);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(wm_acl_batch_localize("add table inet webmesh\n\n", "wg0", &out), 0);
	assert_string_equal(out, "add table inet webmesh\n\n");
	free(out);
}

static void test_foreign_lines_refused(void **state)
{
	(void)state;
	/* a server cannot touch other tables, other chains of ours, or the
	 * whole ruleset, even after lines that are fine */
	const char *bad[] = {
		"flush ruleset",
		"add table inet webmesh\nflush ruleset\n",
		"add rule inet filter input accept",
		"add rule inet webmesh raft-input accept",
		"delete table inet webmesh",
		"add chain inet webmesh aclx",
		"add rule inet webmesh acl-inputx accept",
		"add table inet webmeshx",
		" add table inet webmesh",
		/* nft reads ';' as the end of a command: a line of ours must
		 * not carry a second command after it */
		"add rule inet webmesh acl accept; flush ruleset",
		"add rule inet webmesh acl ip saddr { 10.0.0.1 } accept ; delete table inet filter",
		"add chain inet webmesh acl-input { type filter hook input priority 0; }; flush "
		"ruleset",
		"add table inet webmesh;flush ruleset",
		"flush chain inet webmesh acl;add table ip evil",
		/* quotes and escapes must not hide one either */
		"add rule inet webmesh acl accept comment \"x\\\" ; flush ruleset ; \\\"\"",
		"add rule inet webmesh acl accept comment \"open",
		"add rule inet webmesh acl accept }; flush ruleset",
		/* another table, though its name starts like ours */
		"add table inet webmesh-evil { chain c { type filter hook input priority -500; } }",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *out = (char *)"unchanged";
		assert_int_equal(wm_acl_batch_localize(bad[i], "webmesh0", &out), -EINVAL);
		assert_null(out);
	}
}

/* What the servers render (core/acl.c) is what nodes accept: the two rules
 * cannot drift apart. */
static void test_server_rendering_accepted(void **state)
{
	(void)state;
	struct wm_mesh_node nodes[2];
	memset(nodes, 0, sizeof(nodes));
	strcpy(nodes[0].id, "a");
	strcpy(nodes[1].id, "b");
	assert_int_equal(wm_prefix_parse("172.16.0.1/32", &nodes[0].ipv4), 0);
	assert_int_equal(wm_prefix_parse("172.16.0.2/32", &nodes[1].ipv4), 0);
	static const struct wm_acl r[] = {
		{.name = "deny-ssh",
		 .priority = 100,
		 .src_nodes = "b",
		 .dst_nodes = "a",
		 .protocols = "tcp",
		 .ports = "22"},
		{.name = "icmp", .priority = 30, .accept = true, .protocols = "icmp"},
	};
	for (int def = 0; def < 2; def++) {
		struct wm_acl_set set = {r, 2, def == 1, NULL, NULL};
		char *batch = NULL, *out = NULL;
		assert_int_equal(
			wm_acl_nft_render(&set, nodes, 2, WM_ACL_IFNAME_PLACEHOLDER, &batch), 0);
		assert_int_equal(wm_acl_batch_localize(batch, "webmesh0", &out), 0);
		assert_null(strstr(out, WM_ACL_IFNAME_PLACEHOLDER));
		free(batch);
		free(out);
	}
	char *rm = NULL;
	assert_int_equal(wm_acl_nft_remove(&rm), 0);
	free(rm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ours_localized),
		cmocka_unit_test(test_empty_and_blank_lines),
		cmocka_unit_test(test_foreign_lines_refused),
		cmocka_unit_test(test_server_rendering_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
