/* Tests for src/sys on Linux, run in a private network namespace (skipped when
 * the test may not create one). Results are checked with iproute2, an
 * independent reader of the same kernel state. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "sys/sys.h"

static int in_netns;

static int setup(void **state)
{
	(void)state;
	/* The namespace dies with this process: nothing to clean up, even on failure. */
	in_netns =
		unshare(CLONE_NEWNET) == 0 && system("ip link add v0 type veth peer name v1") == 0;
	return 0;
}

static void test_link(void **state)
{
	(void)state;
	int ret;

	if (!in_netns)
		skip();
	ret = wm_sys_link_create_wireguard("wgt0");
	/* This machine has no WireGuard module; one that has it creates the link. */
	assert_true(ret == -EOPNOTSUPP || ret == 0);
	if (ret == 0) {
		assert_int_equal(wm_sys_link_create_wireguard("wgt0"), -EEXIST);
		assert_int_equal(wm_sys_link_delete("wgt0"), 0);
	}
	assert_int_equal(wm_sys_link_index("nope0"), -ENODEV);
	assert_int_equal(wm_sys_link_index(""), -EINVAL);
	assert_int_equal(wm_sys_link_index("0123456789abcdefg"), -EINVAL);
	assert_true(wm_sys_link_index("v0") > 0);
	assert_int_equal(wm_sys_link_up("v0", 1400), 0);
	assert_int_equal(wm_sys_link_up("v1", 0), 0);
	const char *o = test_output("ip -o link show v0");
	assert_non_null(strstr(o, "mtu 1400"));
	assert_non_null(strstr(o, "<BROADCAST,MULTICAST,UP"));
	assert_int_equal(wm_sys_link_up("nope0", 0), -ENODEV);
}

static void test_addr_and_list(void **state)
{
	(void)state;
	struct wm_prefix a4 = test_pfx("10.99.0.1/24"), a6 = test_pfx("2001:db8::5/64");
	struct wm_prefix other = test_pfx("198.18.0.1/24"), *list = NULL;
	size_t n = 0;
	char buf[64];

	if (!in_netns)
		skip();
	assert_int_equal(wm_sys_addr_add("v0", &a4), 0);
	assert_int_equal(wm_sys_addr_add("v0", &a4), 0); /* already there: fine */
	assert_int_equal(wm_sys_addr_add("v0", &a6), 0);
	assert_int_equal(wm_sys_addr_add("v1", &other), 0);
	assert_non_null(strstr(test_output("ip -o addr show dev v0"), "inet 10.99.0.1/24"));
	assert_non_null(strstr(test_output("ip -o addr show dev v0"), "inet6 2001:db8::5/64"));

	assert_int_equal(wm_sys_list_addresses("v1", &list, &n), 0);
	/* Loopback, v1 and link-local fe80:: addresses are left out; public first. */
	assert_int_equal(n, 2);
	assert_int_equal(wm_prefix_format(&list[0], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "2001:db8::5/128");
	assert_int_equal(wm_prefix_format(&list[1], buf, sizeof(buf)), 0);
	assert_string_equal(buf, "10.99.0.1/32");
	free(list);

	assert_int_equal(wm_sys_list_addresses(NULL, &list, &n), 0);
	assert_int_equal(n, 3);
	free(list);

	assert_int_equal(wm_sys_addr_del("v0", &a4), 0);
	assert_int_equal(wm_sys_addr_del("v0", &a4), -EADDRNOTAVAIL);
	assert_null(strstr(test_output("ip -o addr show dev v0"), "10.99.0.1"));
	assert_int_equal(wm_sys_addr_add("nope0", &a4), -ENODEV);
}

static void test_route(void **state)
{
	(void)state;
	struct wm_prefix r = test_pfx("10.97.1.2/16"), r6 = test_pfx("fd00:97::/48");

	if (!in_netns)
		skip();
	assert_int_equal(wm_sys_route_replace("v0", &r), 0);
	assert_int_equal(wm_sys_route_replace("v0", &r), 0); /* replace is idempotent */
	assert_int_equal(wm_sys_route_replace("v0", &r6), 0);
	assert_non_null(strstr(test_output("ip route show 10.97.0.0/16"), "10.97.0.0/16 dev v0"));
	assert_non_null(strstr(test_output("ip route show 10.97.0.0/16"), "scope link"));
	assert_non_null(
		strstr(test_output("ip -6 route show fd00:97::/48"), "fd00:97::/48 dev v0"));
	/* Moving the route to another link replaces it. */
	assert_int_equal(wm_sys_route_replace("v1", &r), 0);
	assert_non_null(strstr(test_output("ip route show 10.97.0.0/16"), "dev v1"));
	assert_null(strstr(test_output("ip route show 10.97.0.0/16"), "dev v0"));
	assert_int_equal(wm_sys_route_del("v1", &r), 0);
	assert_int_equal(wm_sys_route_del("v1", &r), -ESRCH);
	assert_string_equal(test_output("ip route show 10.97.0.0/16"), "");
	assert_int_equal(wm_sys_route_del("v0", &r6), 0);
}

static void test_forwarding(void **state)
{
	(void)state;
	if (!in_netns)
		skip();
	assert_int_equal(wm_sys_set_forwarding(AF_INET, 1), 0);
	assert_string_equal(test_output("cat /proc/sys/net/ipv4/ip_forward"), "1\n");
	assert_int_equal(wm_sys_set_forwarding(AF_INET, 0), 0);
	assert_string_equal(test_output("cat /proc/sys/net/ipv4/ip_forward"), "0\n");
	assert_int_equal(wm_sys_set_forwarding(AF_INET6, 1), 0);
	assert_string_equal(test_output("cat /proc/sys/net/ipv6/conf/all/forwarding"), "1\n");
	assert_int_equal(wm_sys_set_forwarding(12345, 1), -EINVAL);
}

static void test_delete(void **state)
{
	(void)state;
	if (!in_netns)
		skip();
	assert_int_equal(wm_sys_link_delete("v0"), 0);
	assert_int_equal(wm_sys_link_index("v0"), -ENODEV);
	assert_int_equal(wm_sys_link_index("v1"), -ENODEV); /* the peer went with it */
	assert_int_equal(wm_sys_link_delete("v0"), -ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_link),   cmocka_unit_test(test_addr_and_list),
		cmocka_unit_test(test_route),  cmocka_unit_test(test_forwarding),
		cmocka_unit_test(test_delete),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
