/* Network ACLs: priority, first match, ports, CIDRs, groups, peering, nft text. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/acl.h"

static bool in_group(void *ctx, const char *group, const char *node)
{
	(void)ctx;
	/* group web = {web-1, web-2} */
	return strcmp(group, "web") == 0 &&
	       (strcmp(node, "web-1") == 0 || strcmp(node, "web-2") == 0);
}

static struct wm_prefix ip(const char *s)
{
	struct wm_prefix p;
	assert_int_equal(wm_prefix_parse(s, &p), 0);
	return p;
}

static struct wm_acl_packet pkt(const char *sn, const char *dn, const char *s, const char *d,
				int proto, uint16_t port)
{
	struct wm_acl_packet p = {.src_node = sn, .dst_node = dn, .protocol = proto, .dport = port};
	p.src = ip(s);
	p.dst = ip(d);
	return p;
}

/* Listed out of order on purpose: evaluation sorts by priority, then name. */
static const struct wm_acl acls[] = {
	{.name = "allow-all-low",
	 .priority = 0,
	 .accept = true,
	 .src_nodes = "*",
	 .dst_nodes = "*"},
	{.name = "deny-ssh-b-to-a",
	 .priority = 100,
	 .accept = false,
	 .src_nodes = "b",
	 .dst_nodes = "a",
	 .protocols = "tcp",
	 .ports = "22"},
	{.name = "allow-web",
	 .priority = 50,
	 .accept = true,
	 .src_nodes = "*",
	 .dst_nodes = "group:web",
	 .protocols = "tcp",
	 .ports = "80,443,8000-8099"},
	{.name = "deny-web-rest", .priority = 40, .accept = false, .dst_nodes = "group:web"},
	{.name = "deny-net", .priority = 100, .accept = false, .src_cidrs = "10.9.0.0/16"},
	{.name = "a-allow-net-host", .priority = 100, .accept = true, .src_cidrs = "10.9.1.1/32"},
	{.name = "deny-c-d", .priority = 10, .accept = false, .src_nodes = "c", .dst_nodes = "d"},
};

static struct wm_acl_set set(bool def)
{
	struct wm_acl_set s = {acls, sizeof(acls) / sizeof(acls[0]), def, in_group, NULL};
	return s;
}

static void test_order(void **state)
{
	(void)state;
	struct wm_acl_set s = set(false);
	size_t idx[7];
	wm_acl_order(&s, idx);
	const char *want[] = {"a-allow-net-host", "deny-net", "deny-ssh-b-to-a", "allow-web",
			      "deny-web-rest",	  "deny-c-d", "allow-all-low"};
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(acls[idx[i]].name, want[i]);
}

static void test_packets(void **state)
{
	(void)state;
	struct wm_acl_set s = set(false);
	const char *which;
	struct wm_acl_packet p;

	p = pkt("b", "a", "172.16.0.2", "172.16.0.1", WM_ACL_TCP, 22);
	assert_false(wm_acl_allows(&s, &p, &which));
	assert_string_equal(which, "deny-ssh-b-to-a");
	p = pkt("b", "a", "172.16.0.2", "172.16.0.1", WM_ACL_TCP, 23);
	assert_true(wm_acl_allows(&s, &p, &which));
	assert_string_equal(which, "allow-all-low");
	p = pkt("b", "a", "172.16.0.2", "172.16.0.1", WM_ACL_UDP, 22); /* udp/22 not denied */
	assert_true(wm_acl_allows(&s, &p, NULL));
	p = pkt("b", "a", "172.16.0.2", "172.16.0.1", WM_ACL_ICMP, 0); /* ping works */
	assert_true(wm_acl_allows(&s, &p, NULL));
	p = pkt("a", "b", "172.16.0.1", "172.16.0.2", WM_ACL_TCP, 22); /* other direction */
	assert_true(wm_acl_allows(&s, &p, NULL));
	/* groups and port ranges: web accepts 80/443/8000-8099, denies the rest */
	p = pkt("x", "web-1", "172.16.0.9", "172.16.0.5", WM_ACL_TCP, 8050);
	assert_true(wm_acl_allows(&s, &p, &which));
	assert_string_equal(which, "allow-web");
	p = pkt("x", "web-2", "172.16.0.9", "172.16.0.6", WM_ACL_TCP, 8100);
	assert_false(wm_acl_allows(&s, &p, &which));
	assert_string_equal(which, "deny-web-rest");
	p = pkt("x", "web-2", "172.16.0.9", "172.16.0.6", WM_ACL_UDP, 443);
	assert_false(wm_acl_allows(&s, &p, NULL));
	p = pkt("x", "web-3", "172.16.0.9", "172.16.0.7", WM_ACL_TCP, 9999); /* not in group */
	assert_true(wm_acl_allows(&s, &p, NULL));
	/* CIDRs, and the name breaking a priority tie: a-allow-net-host first */
	p = pkt(NULL, "a", "10.9.1.1", "172.16.0.1", WM_ACL_TCP, 80);
	assert_true(wm_acl_allows(&s, &p, &which));
	assert_string_equal(which, "a-allow-net-host");
	p = pkt(NULL, "a", "10.9.1.2", "172.16.0.1", WM_ACL_TCP, 80);
	assert_false(wm_acl_allows(&s, &p, &which));
	assert_string_equal(which, "deny-net");
	p = pkt(NULL, "a", "fd00::1", "fd00::2", WM_ACL_TCP, 80); /* other family */
	assert_true(wm_acl_allows(&s, &p, NULL));
	/* node selectors need a known node */
	p = pkt(NULL, "a", "172.16.0.2", "172.16.0.1", WM_ACL_TCP, 22);
	assert_true(wm_acl_allows(&s, &p, NULL));
}

static void test_default(void **state)
{
	(void)state;
	struct wm_acl_set empty_deny = {NULL, 0, false, NULL, NULL};
	struct wm_acl_set empty_accept = {NULL, 0, true, NULL, NULL};
	struct wm_acl_packet p = pkt("a", "b", "172.16.0.1", "172.16.0.2", WM_ACL_TCP, 1);
	const char *which = "x";
	assert_false(wm_acl_allows(&empty_deny, &p, &which));
	assert_null(which);
	assert_true(wm_acl_allows(&empty_accept, &p, NULL));
	assert_false(wm_acl_allows_peering(&empty_deny, "a", "b"));
	assert_true(wm_acl_allows_peering(&empty_accept, "a", "b"));
}

static void test_peering(void **state)
{
	(void)state;
	struct wm_acl_set s = set(false);
	/* a port-level deny does not stop peering */
	assert_true(wm_acl_allows_peering(&s, "a", "b"));
	/* c->d denied, but d->c falls through to allow-all-low */
	assert_true(wm_acl_allows_peering(&s, "c", "d"));
	static const struct wm_acl two[] = {
		{.name = "deny-cd",
		 .priority = 10,
		 .accept = false,
		 .src_nodes = "c",
		 .dst_nodes = "d"},
		{.name = "deny-dc",
		 .priority = 10,
		 .accept = false,
		 .src_nodes = "d",
		 .dst_nodes = "c"},
		{.name = "web-only",
		 .priority = 5,
		 .accept = true,
		 .src_nodes = "e",
		 .dst_nodes = "f",
		 .protocols = "tcp",
		 .ports = "80"},
	};
	struct wm_acl_set t = {two, 3, true, NULL, NULL};
	assert_false(wm_acl_allows_peering(&t, "c", "d"));
	assert_false(wm_acl_allows_peering(&t, "d", "c"));
	assert_true(wm_acl_allows_peering(&t, "c", "e"));
	struct wm_acl_set u = {two, 3, false, NULL, NULL};
	assert_true(wm_acl_allows_peering(&u, "e", "f")); /* some traffic: they peer */
	assert_true(wm_acl_allows_peering(&u, "f", "e"));
	assert_false(wm_acl_allows_peering(&u, "e", "g"));
}

static void test_validate(void **state)
{
	(void)state;
	char err[256];
	struct wm_acl a = {.name = "ok",
			   .src_nodes = "a,*,group:web",
			   .dst_cidrs = "10.0.0.0/8,fd00::/8",
			   .protocols = "tcp,udp",
			   .ports = "22,1000-2000"};
	assert_int_equal(wm_acl_validate(&a, err, sizeof(err)), 0);
	struct wm_acl bad[] = {
		{.name = "bad name"},
		{.name = "x", .src_nodes = "Bad_Node"},
		{.name = "x", .dst_nodes = "group:*"},
		{.name = "x", .src_cidrs = "10.0.0.0/33"},
		{.name = "x", .protocols = "sctp"},
		{.name = "x", .ports = "0"},
		{.name = "x", .ports = "65536"},
		{.name = "x", .ports = "20-10"},
		{.name = "x", .ports = "22,"},
		{.name = "x", .ports = "-5"},
		{.name = "x", .protocols = "icmp", .ports = "22"},
		{.name = "x", .src_nodes = ",a"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (wm_acl_validate(&bad[i], err, sizeof(err)) != -EINVAL)
			fail_msg("bad ACL %zu accepted", i);
	assert_int_equal(wm_acl_validate(&bad[7], err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "\"20-10\""));
}

static struct wm_mesh_node node(const char *id, const char *v4, const char *v6)
{
	struct wm_mesh_node n;
	memset(&n, 0, sizeof(n));
	snprintf(n.id, sizeof(n.id), "%s", id);
	n.ipv4 = ip(v4);
	n.ipv6 = ip(v6);
	return n;
}

static void test_nft(void **state)
{
	(void)state;
	struct wm_mesh_node nodes[3];
	nodes[0] = node("a", "172.16.0.1/32", "fd00:1::1:0/112");
	nodes[1] = node("b", "172.16.0.2/32", "fd00:1::2:0/112");
	nodes[2] = node("web-1", "172.16.0.3/32", "fd00:1::3:0/112");
	static const struct wm_acl r[] = {
		{.name = "deny-ssh",
		 .priority = 100,
		 .accept = false,
		 .src_nodes = "b",
		 .dst_nodes = "a",
		 .protocols = "tcp",
		 .ports = "22"},
		{.name = "web",
		 .priority = 50,
		 .accept = true,
		 .dst_nodes = "group:web",
		 .ports = "80,8000-8099"},
		{.name = "net4",
		 .priority = 40,
		 .accept = false,
		 .src_cidrs = "10.1.2.3/16",
		 .protocols = "icmp"},
		{.name = "any-icmp", .priority = 30, .accept = true, .protocols = "icmp"},
		{.name = "nobody", .priority = 20, .accept = true, .src_nodes = "zz"},
	};
	struct wm_acl_set s = {r, 5, false, in_group, NULL};
	char *out = NULL;
	assert_int_equal(wm_acl_nft_render(&s, nodes, 3, "webmesh0", &out), 0);
	const char *want =
		"add table inet webmesh\n"
		"add chain inet webmesh acl\n"
		"add chain inet webmesh acl-input { type filter hook input priority 0; policy "
		"accept; }\n"
		"add chain inet webmesh acl-forward { type filter hook forward priority 0; policy "
		"accept; }\n"
		"flush chain inet webmesh acl-input\n"
		"flush chain inet webmesh acl-forward\n"
		"flush chain inet webmesh acl\n"
		"add rule inet webmesh acl-input iifname \"webmesh0\" jump acl\n"
		"add rule inet webmesh acl-forward iifname \"webmesh0\" jump acl\n"
		"add rule inet webmesh acl ct state established,related accept\n"
		"add rule inet webmesh acl ip saddr { 172.16.0.2/32 } ip daddr { 172.16.0.1/32 } "
		"meta l4proto tcp th dport { 22 } counter drop comment \"deny-ssh\"\n"
		"add rule inet webmesh acl ip6 saddr { fd00:1::2:0/112 } ip6 daddr { "
		"fd00:1::1:0/112 } meta l4proto tcp th dport { 22 } counter drop comment "
		"\"deny-ssh\"\n"
		"add rule inet webmesh acl ip daddr { 172.16.0.3/32 } meta l4proto { tcp, udp } th "
		"dport { 80, 8000-8099 } counter accept comment \"web\"\n"
		"add rule inet webmesh acl ip6 daddr { fd00:1::3:0/112 } meta l4proto { tcp, udp } "
		"th dport { 80, 8000-8099 } counter accept comment \"web\"\n"
		"add rule inet webmesh acl ip saddr { 10.1.0.0/16 } meta l4proto icmp counter drop "
		"comment \"net4\"\n"
		"add rule inet webmesh acl meta l4proto { icmp, ipv6-icmp } counter accept comment "
		"\"any-icmp\"\n"
		"add rule inet webmesh acl counter drop comment \"default policy\"\n";
	if (strcmp(out, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", out, want);
	free(out);

	s.default_accept = true;
	s.n = 0;
	assert_int_equal(wm_acl_nft_render(&s, nodes, 3, "wm1", &out), 0);
	assert_non_null(strstr(out, "iifname \"wm1\" jump acl\n"));
	assert_non_null(strstr(out, "acl counter accept comment \"default policy\"\n"));
	free(out);
	assert_int_equal(wm_acl_nft_render(&s, nodes, 3, "bad\"name", &out), -EINVAL);
	assert_int_equal(wm_acl_nft_render(&s, nodes, 3, "", &out), -EINVAL);
	static const struct wm_acl invalid[] = {{.name = "x", .ports = "0"}};
	struct wm_acl_set si = {invalid, 1, true, NULL, NULL};
	assert_int_equal(wm_acl_nft_render(&si, nodes, 3, "wm0", &out), -EINVAL);
	assert_int_equal(wm_acl_nft_remove(&out), 0);
	assert_non_null(strstr(out, "delete chain inet webmesh acl\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),	 cmocka_unit_test(test_packets),
		cmocka_unit_test(test_default),	 cmocka_unit_test(test_peering),
		cmocka_unit_test(test_validate), cmocka_unit_test(test_nft),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
