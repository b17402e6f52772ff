/* Tests for src/sys/linux/route_table.c in a private network namespace
 * (skipped when the test may not create one); iproute2 sets up and checks. */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net/if.h>

#include <cmocka.h>

#include "test_util.h"

#include "sys/route.h"

static int in_netns;

static int setup(void **state)
{
	(void)state;
	/* The namespace dies with this process: nothing to clean up. */
	in_netns = unshare(CLONE_NEWNET) == 0 &&
		   system("ip link add v0 type veth peer name v1 && ip link set v0 up && "
			  "ip link set v1 up && ip addr add 10.9.0.2/24 dev v0 && "
			  "ip -6 addr add 2001:db8::2/64 dev v0 nodad && "
			  "ip route add default via 10.9.0.1 metric 100 && "
			  "ip route add 192.0.2.0/24 via 10.9.0.1 metric 7") == 0;
	return 0;
}

static const struct wm_route *find(const struct wm_route *v, size_t n, const char *dst)
{
	struct wm_prefix d = test_pfx(dst);

	for (size_t i = 0; i < n; i++)
		if (wm_prefix_equal(&v[i].dst, &d))
			return &v[i];
	return NULL;
}

static void test_list(void **state)
{
	struct wm_route *v;
	const struct wm_route *r;
	struct wm_prefix gw = test_pfx("10.9.0.1");
	size_t n;
	int idx;

	(void)state;
	if (!in_netns)
		skip();
	idx = (int)if_nametoindex("v0");
	assert_int_equal(wm_sys_route_list(AF_INET, &v, &n), 0);
	r = find(v, n, "0.0.0.0/0");
	assert_non_null(r);
	assert_true(wm_prefix_equal(&r->gateway, &gw));
	assert_int_equal(r->ifindex, idx);
	assert_int_equal(r->metric, 100);
	r = find(v, n, "10.9.0.0/24");
	assert_non_null(r);
	assert_int_equal(r->gateway.family, 0);
	assert_int_equal(r->protocol, 2 /* RTPROT_KERNEL */);
	r = find(v, n, "192.0.2.0/24");
	assert_non_null(r);
	assert_int_equal(r->metric, 7);
	/* local and broadcast routes live in the local table: not listed */
	assert_null(find(v, n, "10.9.0.2/32"));
	free(v);
	assert_int_equal(wm_sys_route_list(AF_INET6, &v, &n), 0);
	assert_non_null(find(v, n, "2001:db8::/64"));
	free(v);
	assert_int_equal(wm_sys_route_list(AF_UNSPEC, &v, &n), -EINVAL);
}

static void test_set_remove(void **state)
{
	struct wm_route r = {0}, *v;
	size_t n;

	(void)state;
	if (!in_netns)
		skip();
	r.dst = test_pfx("198.51.100.7/32");
	r.gateway = test_pfx("10.9.0.1");
	r.ifindex = (int)if_nametoindex("v0");
	assert_int_equal(wm_sys_route_set(&r), 0);
	assert_non_null(strstr(test_output("ip route show 198.51.100.7"),
			       "198.51.100.7 via 10.9.0.1 dev v0 proto 87"));
	/* replacing is idempotent */
	assert_int_equal(wm_sys_route_set(&r), 0);
	assert_int_equal(wm_sys_route_list(AF_INET, &v, &n), 0);
	assert_int_equal(find(v, n, "198.51.100.7/32")->protocol, WM_RTPROT_WEBMESH);
	free(v);
	/* on-link, IPv6 */
	r.dst = test_pfx("2001:db8:1::5/128");
	r.gateway.family = 0;
	assert_int_equal(wm_sys_route_set(&r), 0);
	assert_non_null(strstr(test_output("ip -6 route show 2001:db8:1::5"), "dev v0 proto 87"));
	assert_int_equal(wm_sys_route_remove(&r), 0);
	assert_int_equal(wm_sys_route_remove(&r), -ESRCH);
	r.dst = test_pfx("198.51.100.7/32");
	r.gateway = test_pfx("10.9.0.1");
	assert_int_equal(wm_sys_route_remove(&r), 0);
	assert_string_equal(test_output("ip route show 198.51.100.7"), "");
	r.ifindex = 0;
	assert_int_equal(wm_sys_route_set(&r), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_set_remove),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
