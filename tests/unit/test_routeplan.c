/* Unit tests for src/core/routeplan.c: routes into the tunnel and endpoint pins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/routeplan.h"

static struct wm_prefix P(const char *s) {
	struct wm_prefix p;

	assert_int_equal(wm_prefix_parse(s, &p), 0);
	return p;
}

/* A device from "ENDPOINT=ALLOWED,ALLOWED;..." (ENDPOINT may be empty). */
static struct wm_wg_device *
device(const char *spec)
{
	struct wm_wg_device *dev = wm_wg_device_new("wm0");
	char buf[1024], *save, *peer;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (peer = strtok_r(buf, ";", &save); peer; peer = strtok_r(NULL, ";", &save)) {
		wm_key key = {0};
		char *eq = strchr(peer, '='), *save2, *a;
		struct wm_wg_peer *p;

		key[0] = (uint8_t)++n;
		p = wm_wg_device_add_peer(dev, key);
		assert_non_null(p);
		*eq = '\0';
		if (*peer) {
			assert_int_equal(wm_endpoint_parse(peer, &p->endpoint), 0);
			p->flags |= WM_WGPEER_HAS_ENDPOINT;
		}
		for (a = strtok_r(eq + 1, ",", &save2); a; a = strtok_r(NULL, ",", &save2)) {
			struct wm_prefix x = P(a);
			assert_int_equal(wm_wg_peer_add_allowed_ip(p, &x), 0);
		}
	}
	return dev;
}

static void plan_text(const struct wm_route_plan *plan, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < plan->n_tunnel; i++) {
		char b[WM_PREFIX_STRLEN];

		wm_prefix_format(&plan->tunnel[i], b, sizeof(b));
		o += (size_t)snprintf(out + o, len - o, "%s%s", o ? " " : "", b);
	}
	for (size_t i = 0; i < plan->n_pins; i++) {
		char d[WM_PREFIX_STRLEN], g[WM_PREFIX_STRLEN] = "-";

		wm_prefix_format_addr(&plan->pins[i].dst, d, sizeof(d));
		if (plan->pins[i].gateway.family)
			wm_prefix_format_addr(&plan->pins[i].gateway, g, sizeof(g));
		o += (size_t)snprintf(out + o, len - o, "%spin %s via %s dev %d", o ? " " : "", d,
				      g, plan->pins[i].ifindex);
	}
}

struct plan_case {
	const char *name;
	const char *peers;
	bool use_exit;
	const char *want;
	size_t unpinned, skipped;
};

static const struct plan_case cases[] = {
	{"mesh addresses need no route", "10.0.0.9:51820=172.16.0.2/32,fd00:1::/112;=172.16.0.3/32",
	 false, "", 0, 0},
	{"a summary of the mesh needs none either", "10.0.0.9:51820=172.16.0.0/12,fd00:1::/48",
	 false, "", 0, 0},
	{"routed networks", "10.0.0.9:51820=172.16.0.2/32,192.168.7.0/24,fd99::/64", false,
	 "192.168.7.0/24 fd99::/64", 0, 0},
	{"same network from two peers, host bits, order",
	 "=192.168.9.0/24;=192.168.7.5/24,192.168.9.0/24", false, "192.168.7.0/24 192.168.9.0/24",
	 0, 0},
	{"default route without use-exit-node is left alone", "10.0.0.9:51820=0.0.0.0/0,::/0",
	 false, "", 0, 0},
	{"exit node: halves, the on-link endpoint pinned to its link",
	 "10.0.0.9:51820=0.0.0.0/0,172.16.0.2/32", true,
	 "0.0.0.0/1 128.0.0.0/1 pin 10.0.0.9 via - dev 2", 0, 0},
	{"exit node: a far endpoint pinned through the gateway",
	 "192.0.2.7:51820=0.0.0.0/0,::/0;[2001:db8::7]:51820=172.16.0.3/32", true,
	 "0.0.0.0/1 128.0.0.0/1 ::/1 8000::/1 pin 192.0.2.7 via 10.0.0.1 dev 2 pin 2001:db8::7 "
	 "via fe80::1 dev 3",
	 0, 0},
	{"an endpoint outside every tunnel route is not pinned", "192.0.2.7:51820=192.168.7.0/24",
	 false, "192.168.7.0/24", 0, 0},
	{"an endpoint inside a routed network is pinned", "192.168.7.9:51820=192.168.7.0/24", false,
	 "192.168.7.0/24 pin 192.168.7.9 via 10.0.0.1 dev 2", 0, 0},
	{"an endpoint with a host route of its own needs no pin", "198.51.100.1:51820=0.0.0.0/0",
	 true, "0.0.0.0/1 128.0.0.0/1", 0, 0},
	{"a network the host is on stays on its link", "=10.0.0.0/24,10.0.0.0/16,192.168.7.0/24",
	 false, "192.168.7.0/24", 0, 2},
	{"no underlay route for an endpoint", "203.0.113.5:51820=::/0;[2001:db9::1]:1=::/0", true,
	 "::/1 8000::/1", 1, 0},
};

static const struct wm_route underlay[] = {
	{.dst = {AF_INET, 0, {0}},
	 .gateway = {AF_INET, 32, {10, 0, 0, 1}},
	 .ifindex = 2,
	 .metric = 100},
	/* a worse default: the lower metric wins */
	{.dst = {AF_INET, 0, {0}},
	 .gateway = {AF_INET, 32, {10, 0, 0, 254}},
	 .ifindex = 2,
	 .metric = 600},
	{.dst = {AF_INET, 24, {10, 0, 0, 0}}, .ifindex = 2},
	{.dst = {AF_INET, 32, {198, 51, 100, 1}},
	 .gateway = {AF_INET, 32, {10, 0, 0, 1}},
	 .ifindex = 2},
	{.dst = {AF_INET6, 32, {0x20, 0x01, 0x0d, 0xb8}},
	 .gateway = {AF_INET6, 128, {0xfe, 0x80, [15] = 1}},
	 .ifindex = 3},
};

static void test_table(void **state)
{
	struct wm_prefix mesh[2] = {P("172.16.0.0/12"), P("fd00::/16")};
	struct wm_prefix local[2] = {P("10.0.0.5"), P("2001:db8::5")};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_wg_device *dev = device(cases[i].peers);
		struct wm_route_plan_in in = {
			.desired = dev,
			.mesh = mesh,
			.n_mesh = 2,
			.local = local,
			.n_local = 1,
			.use_exit = cases[i].use_exit,
			.underlay = underlay,
			.n_underlay = sizeof(underlay) / sizeof(underlay[0]),
		};
		struct wm_route_plan plan;
		char got[1024];

		assert_int_equal(wm_route_plan(&in, &plan), 0);
		plan_text(&plan, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, got, cases[i].want);
		if (plan.n_unpinned != cases[i].unpinned || plan.n_skipped != cases[i].skipped)
			fail_msg("%s: unpinned %zu skipped %zu", cases[i].name, plan.n_unpinned,
				 plan.n_skipped);
		assert_int_equal(plan.exit_v4, strstr(got, "128.0.0.0/1") != NULL);
		assert_int_equal(plan.exit_v6, strstr(got, "8000::/1") != NULL);
		wm_route_plan_free(&plan);
		wm_wg_device_free(dev);
	}
}

static void test_lookup_and_errors(void **state)
{
	struct wm_prefix a = P("10.0.0.77");
	struct wm_route_plan plan;
	struct wm_route_plan_in in = {0};

	(void)state;
	assert_ptr_equal(wm_route_lookup(underlay, 5, &a), &underlay[2]);
	a = P("8.8.8.8");
	assert_ptr_equal(wm_route_lookup(underlay, 5, &a), &underlay[0]);
	a = P("2001:db9::1");
	assert_null(wm_route_lookup(underlay, 5, &a));
	assert_int_equal(wm_route_plan(NULL, &plan), -EINVAL);
	in.n_mesh = 1;
	assert_int_equal(wm_route_plan(&in, &plan), -EINVAL);
	in.n_mesh = 0;
	assert_int_equal(wm_route_plan(&in, &plan), 0);
	assert_int_equal(plan.n_tunnel + plan.n_pins, 0);
	wm_route_plan_free(&plan);
	wm_route_plan_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_lookup_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
