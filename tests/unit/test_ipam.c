/* Unit tests for src/core/ipam.c: IPv4 leases and key-derived IPv6 prefixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/ipam.h"

static struct wm_prefix P(const char *s) {
	struct wm_prefix p;

	assert_int_equal(wm_prefix_parse(s, &p), 0);
	return p;
}

static void
test_range(void **state)
{
	static const struct {
		const char *net;
		uint32_t first, last;
	} cases[] = {
		{"172.16.0.0/12", 0xac100001u, 0xac1ffffeu},
		{"172.16.5.5/12", 0xac100001u, 0xac1ffffeu}, /* host bits ignored */
		{"10.0.0.0/30", 0x0a000001u, 0x0a000002u},
		{"10.0.0.0/31", 0x0a000000u, 0x0a000001u},
		{"10.0.0.7/32", 0x0a000007u, 0x0a000007u},
		{"0.0.0.0/0", 1, 0xfffffffeu},
	};
	uint32_t first, last;
	struct wm_prefix v6 = P("fd00::/64");

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_prefix n = P(cases[i].net);

		assert_int_equal(wm_ipam_v4_range(&n, &first, &last), 0);
		assert_int_equal(first, cases[i].first);
		assert_int_equal(last, cases[i].last);
	}
	assert_int_equal(wm_ipam_v4_range(&v6, &first, &last), -EINVAL);
}

/* Inserts v into the sorted array a of n elements. */
static void insert_sorted(uint32_t *a, size_t *n, uint32_t v)
{
	size_t i = *n;

	while (i > 0 && a[i - 1] > v) {
		a[i] = a[i - 1];
		i--;
	}
	a[i] = v;
	(*n)++;
}

static void test_sequential_and_exhaustion(void **state)
{
	struct wm_prefix net = P("10.1.0.0/28"); /* 14 hosts */
	uint32_t leases[16], out;
	size_t n = 0;

	(void)state;
	for (uint32_t i = 0; i < 14; i++) {
		assert_int_equal(wm_ipam_v4_next(&net, leases, n, &out), 0);
		assert_int_equal(out, 0x0a010001u + i);
		for (size_t j = 0; j < n; j++)
			assert_int_not_equal(leases[j], out);
		insert_sorted(leases, &n, out);
	}
	assert_int_equal(wm_ipam_v4_next(&net, leases, n, &out), -WM_EEXHAUSTED);

	/* Releasing one frees exactly that address for the next lease. */
	memmove(leases + 4, leases + 5, (n - 5) * sizeof(leases[0]));
	n--;
	assert_int_equal(wm_ipam_v4_next(&net, leases, n, &out), 0);
	assert_int_equal(out, 0x0a010005u);
	insert_sorted(leases, &n, out);
	assert_int_equal(wm_ipam_v4_next(&net, leases, n, &out), -WM_EEXHAUSTED);

	/* Releasing the first and last. */
	memmove(leases, leases + 1, (n - 1) * sizeof(leases[0]));
	n--;
	assert_int_equal(wm_ipam_v4_next(&net, leases, n, &out), 0);
	assert_int_equal(out, 0x0a010001u);
	insert_sorted(leases, &n, out);
	n--;
	assert_int_equal(wm_ipam_v4_next(&net, leases, n, &out), 0);
	assert_int_equal(out, 0x0a01000eu);
}

static void test_holes_and_strays(void **state)
{
	struct wm_prefix net = P("192.168.0.0/24");
	/* 192.168.0.0 (the network address) and a lease below the network are
	 * ignored; the first hole is .3. */
	uint32_t leases[] = {0x0a000001u, 0xc0a80000u, 0xc0a80001u, 0xc0a80002u, 0xc0a80004u};
	uint32_t out;

	(void)state;
	assert_int_equal(wm_ipam_v4_next(&net, leases, 5, &out), 0);
	assert_int_equal(out, 0xc0a80003u);
	assert_int_equal(wm_ipam_v4_next(&net, NULL, 0, &out), 0);
	assert_int_equal(out, 0xc0a80001u);
}

static void test_small_networks(void **state)
{
	struct wm_prefix n31 = P("10.0.0.0/31"), n32 = P("10.0.0.9/32"), n30 = P("10.0.0.0/30");
	uint32_t leases[4], out;
	size_t n = 0;

	(void)state;
	assert_int_equal(wm_ipam_v4_next(&n31, leases, n, &out), 0);
	assert_int_equal(out, 0x0a000000u);
	insert_sorted(leases, &n, out);
	assert_int_equal(wm_ipam_v4_next(&n31, leases, n, &out), 0);
	assert_int_equal(out, 0x0a000001u);
	insert_sorted(leases, &n, out);
	assert_int_equal(wm_ipam_v4_next(&n31, leases, n, &out), -WM_EEXHAUSTED);

	n = 0;
	assert_int_equal(wm_ipam_v4_next(&n32, leases, n, &out), 0);
	assert_int_equal(out, 0x0a000009u);
	insert_sorted(leases, &n, out);
	assert_int_equal(wm_ipam_v4_next(&n32, leases, n, &out), -WM_EEXHAUSTED);

	n = 0;
	leases[n++] = 0x0a000001u;
	leases[n++] = 0x0a000002u;
	assert_int_equal(wm_ipam_v4_next(&n30, leases, n, &out), -WM_EEXHAUSTED);

	/* The top of the address space does not wrap around. */
	struct wm_prefix top = P("255.255.255.254/31");
	leases[0] = 0xfffffffeu;
	leases[1] = 0xffffffffu;
	assert_int_equal(wm_ipam_v4_next(&top, leases, 2, &out), -WM_EEXHAUSTED);
	assert_int_equal(wm_ipam_v4_next(&top, leases, 1, &out), 0);
	assert_int_equal(out, 0xffffffffu);
}

static void test_refuses_ipv6(void **state)
{
	struct wm_prefix v6 = P("fd00::/120");
	uint32_t out;

	(void)state;
	assert_int_equal(wm_ipam_v4_next(&v6, NULL, 0, &out), -EINVAL);
	struct wm_prefix unset;
	memset(&unset, 0, sizeof(unset));
	assert_int_equal(wm_ipam_v4_next(&unset, NULL, 0, &out), -EINVAL);
}

static void test_ipv6_layout(void **state)
{
	const uint8_t rnd[5] = {0x12, 0x34, 0x56, 0x78, 0x9a};
	uint8_t digest[32];
	char buf[WM_PREFIX_STRLEN];
	struct wm_prefix ula, node, addr;

	(void)state;
	ula = wm_ipam_ula48(rnd);
	assert_int_equal(ula.family, AF_INET6);
	assert_int_equal(ula.len, 48);
	wm_prefix_format(&ula, buf, sizeof(buf));
	assert_string_equal(buf, "fd12:3456:789a::/48");
	struct wm_prefix fd8 = P("fd00::/8");
	assert_true(wm_prefix_contains(&fd8, &ula));

	for (int i = 0; i < 32; i++)
		digest[i] = (uint8_t)(0xa0 + i);
	node = wm_ipam_v6_node_prefix(&ula, digest);
	assert_int_equal(node.len, WM_NODE_IPV6_LEN);
	wm_prefix_format(&node, buf, sizeof(buf));
	assert_string_equal(buf, "fd12:3456:789a:a0a1:a2a3:a4a5:a6a7:0/112");
	assert_true(wm_prefix_contains(&ula, &node));

	addr = wm_ipam_v6_node_address(&node);
	wm_prefix_format(&addr, buf, sizeof(buf));
	assert_string_equal(buf, "fd12:3456:789a:a0a1:a2a3:a4a5:a6a7:1/128");
	assert_true(wm_prefix_contains(&node, &addr));

	/* Host bits of the mesh prefix do not leak into the node prefix. */
	struct wm_prefix dirty = P("fd12:3456:789a:ffff::1/48");
	struct wm_prefix node2 = wm_ipam_v6_node_prefix(&dirty, digest);
	assert_true(wm_prefix_equal(&node, &node2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_range),
		cmocka_unit_test(test_sequential_and_exhaustion),
		cmocka_unit_test(test_holes_and_strays),
		cmocka_unit_test(test_small_networks),
		cmocka_unit_test(test_refuses_ipv6),
		cmocka_unit_test(test_ipv6_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
