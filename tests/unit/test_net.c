/* Unit tests for src/core/net.c: prefix and endpoint parsing and arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/error.h"
#include "core/net.h"

static struct wm_prefix P(const char *s) {
	struct wm_prefix p;

	assert_int_equal(wm_prefix_parse(s, &p), 0);
	return p;
}

static void
test_prefix_parse_valid(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"172.16.0.1/12", "172.16.0.1/12"},
		{"1.2.3.4", "1.2.3.4/32"},
		{"0.0.0.0/0", "0.0.0.0/0"},
		{"fd00::/8", "fd00::/8"},
		{"::1", "::1/128"},
		{"::/0", "::/0"},
		{"2001:db8::1/64", "2001:db8::1/64"},
		{"FD00::AB/128", "fd00::ab/128"},
		{"10.0.0.0/32", "10.0.0.0/32"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_prefix p = P(cases[i].in);
		char buf[WM_PREFIX_STRLEN];

		assert_int_equal(wm_prefix_format(&p, buf, sizeof(buf)), 0);
		assert_string_equal(buf, cases[i].out);
	}
}

static void test_prefix_parse_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"/8",
		"10.0.0.0/",
		"10.0.0.0/33",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/8x",
		"10.0.0.0 /8",
		"10.0.0.0/8 ",
		" 10.0.0.0/8",
		"10.0.0",
		"10.0.0.0.0",
		"256.0.0.0",
		"fd00::/129",
		"fd00:::/8",
		"fd00::/8/8",
		"abc",
		"10.0.0.0/0008",
		"1.2.3.4x",
		"[::1]",
		"::1%eth0",
		"10.0.0.0/100000000000000000000",
	};
	struct wm_prefix p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wm_prefix_parse(bad[i], &p) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(wm_prefix_parse(NULL, &p), -EINVAL);
}

static void test_prefix_format_small_buffer(void **state)
{
	struct wm_prefix p = P("192.168.100.200/24");
	char buf[8];

	(void)state;
	assert_int_equal(wm_prefix_format(&p, buf, sizeof(buf)), -ENOSPC);
	assert_int_equal(wm_prefix_format_addr(&p, buf, sizeof(buf)), -ENOSPC);
	char full[WM_PREFIX_STRLEN];
	assert_int_equal(wm_prefix_format_addr(&p, full, sizeof(full)), 0);
	assert_string_equal(full, "192.168.100.200");
	struct wm_prefix big = P("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
	assert_int_equal(wm_prefix_format(&big, full, sizeof(full)), 0);
	struct wm_prefix v4m = P("::ffff:255.255.255.255/128");
	assert_int_equal(wm_prefix_format(&v4m, full, sizeof(full)), 0);
}

static void test_prefix_arith(void **state)
{
	char buf[WM_PREFIX_STRLEN];
	struct wm_prefix n;

	(void)state;
	n = wm_prefix_network(&(struct wm_prefix){0});
	n = P("172.16.5.9/12");
	n = wm_prefix_network(&n);
	wm_prefix_format(&n, buf, sizeof(buf));
	assert_string_equal(buf, "172.16.0.0/12");
	n = P("fd12:3456:789a:1:2:3:4:5/50");
	n = wm_prefix_network(&n);
	wm_prefix_format(&n, buf, sizeof(buf));
	assert_string_equal(buf, "fd12:3456:789a::/50");
	n = P("1.2.3.4/0");
	n = wm_prefix_network(&n);
	wm_prefix_format(&n, buf, sizeof(buf));
	assert_string_equal(buf, "0.0.0.0/0");

	struct wm_prefix net = P("172.16.0.0/12");
	assert_true(wm_prefix_contains(&net, &(struct wm_prefix){0}) == false);
	struct wm_prefix a = P("172.31.255.255");
	struct wm_prefix b = P("172.32.0.0");
	struct wm_prefix c = P("172.16.0.0/16");
	struct wm_prefix d = P("172.0.0.0/8");
	struct wm_prefix v6 = P("fd00::1");
	assert_true(wm_prefix_contains(&net, &a));
	assert_false(wm_prefix_contains(&net, &b));
	assert_true(wm_prefix_contains(&net, &c));
	assert_false(wm_prefix_contains(&net, &d));
	assert_false(wm_prefix_contains(&net, &v6));
	assert_true(wm_prefix_overlaps(&net, &d));
	assert_true(wm_prefix_overlaps(&d, &net));
	assert_true(wm_prefix_overlaps(&net, &c));
	assert_false(wm_prefix_overlaps(&net, &b));
	assert_false(wm_prefix_overlaps(&net, &v6));
	struct wm_prefix all = P("0.0.0.0/0");
	assert_true(wm_prefix_overlaps(&all, &b));
	assert_true(wm_prefix_contains(&all, &b));

	struct wm_prefix u = P("fd00::/8"), w = P("fc00::/7");
	assert_true(wm_prefix_contains(&w, &u));
	assert_false(wm_prefix_contains(&u, &w));
	assert_true(wm_prefix_overlaps(&u, &w));

	assert_true(wm_prefix_equal(&a, &a));
	assert_false(wm_prefix_equal(&net, &c));
	assert_true(wm_prefix_cmp(&net, &c) < 0); /* same address, shorter first */
	assert_true(wm_prefix_cmp(&c, &net) > 0);
	assert_true(wm_prefix_cmp(&a, &b) < 0);
	assert_true(wm_prefix_cmp(&b, &v6) < 0); /* AF_INET before AF_INET6 */
	assert_int_equal(wm_prefix_cmp(&v6, &v6), 0);
}

static void test_prefix_valid(void **state)
{
	struct wm_prefix p;

	(void)state;
	assert_false(wm_prefix_valid(NULL));
	memset(&p, 0, sizeof(p));
	assert_false(wm_prefix_valid(&p)); /* family unset */
	assert_int_equal(wm_prefix_parse("10.0.0.0/32", &p), 0);
	assert_true(wm_prefix_valid(&p));
	p.len = 33;
	assert_false(wm_prefix_valid(&p));
	assert_int_equal(wm_prefix_parse("::/0", &p), 0);
	assert_true(wm_prefix_valid(&p));
	p.len = 128;
	assert_true(wm_prefix_valid(&p));
	p.len = 129;
	assert_false(wm_prefix_valid(&p));
	p.family = 99;
	p.len = 8;
	assert_false(wm_prefix_valid(&p));
}

static void test_ipv4_u32(void **state)
{
	struct wm_prefix p = P("172.16.0.1/12");
	char buf[WM_PREFIX_STRLEN];

	(void)state;
	assert_int_equal(wm_prefix_ipv4_u32(&p), 0xac100001u);
	p = wm_prefix_from_ipv4_u32(0xc0a80102u, 24);
	wm_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "192.168.1.2/24");
	p = wm_prefix_from_ipv4_u32(0xffffffffu, 32);
	assert_int_equal(wm_prefix_ipv4_u32(&p), 0xffffffffu);
}

static void test_endpoint(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{"1.2.3.4:51820", "1.2.3.4:51820"},
		{"[fd00::1]:1", "[fd00::1]:1"},
		{"[::]:65535", "[::]:65535"},
	};
	static const char *const bad[] = {
		"1.2.3.4",	 "1.2.3.4:",	   "1.2.3.4:0",	   "1.2.3.4:65536", "1.2.3.4:-1",
		"1.2.3.4:+80",	 "1.2.3.4:80 ",	   "fd00::1:80",   "[fd00::1]",	    "[fd00::1]80",
		"[1.2.3.4]:80",	 "host:80",	   ":80",	   "[]:80",	    "1.2.3.4:http",
		"[fd00::1]:80x", "1.2.3.4:999999", "10.0.0.1:080",
	};
	struct wm_endpoint e, f;
	char buf[WM_ENDPOINT_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(wm_endpoint_parse(good[i].in, &e), 0);
		assert_int_equal(wm_endpoint_format(&e, buf, sizeof(buf)), 0);
		assert_string_equal(buf, good[i].out);
		assert_int_equal(wm_endpoint_parse(buf, &f), 0);
		assert_true(wm_endpoint_equal(&e, &f));
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wm_endpoint_parse(bad[i], &e) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(wm_endpoint_parse("1.2.3.4:1", &e), 0);
	assert_int_equal(wm_endpoint_parse("1.2.3.4:2", &f), 0);
	assert_false(wm_endpoint_equal(&e, &f));
	assert_int_equal(wm_endpoint_format(&e, buf, 5), -ENOSPC);
}

static void test_private(void **state)
{
	static const struct {
		const char *addr;
		bool private;
	} cases[] = {
		{"10.1.2.3", true},    {"172.16.0.1", true},	  {"172.31.255.255", true},
		{"172.32.0.1", false}, {"192.168.1.1", true},	  {"192.169.1.1", false},
		{"100.64.0.1", true},  {"100.127.255.255", true}, {"100.128.0.1", false},
		{"127.0.0.1", true},   {"169.254.1.1", true},	  {"8.8.8.8", false},
		{"fd00::1", true},     {"fc00::1", true},	  {"fe80::1", true},
		{"febf::1", true},     {"fec0::1", false},	  {"::1", true},
		{"::2", false},	       {"2001:db8::1", false},	  {"11.0.0.1", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct wm_prefix p = P(cases[i].addr);

		if (wm_addr_is_private(&p) != cases[i].private)
			fail_msg("%s: expected %d", cases[i].addr, cases[i].private);
	}
}

/* A dual-stack socket names IPv4 peers ::ffff:a.b.c.d: they must count as
 * the IPv4 address, and nothing else may change. */
static void test_unmap(void **state)
{
	struct wm_prefix p;
	struct wm_endpoint e;
	char buf[WM_ENDPOINT_STRLEN];

	(void)state;
	p = P("::ffff:192.0.2.7");
	assert_true(wm_prefix_unmap(&p));
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 32);
	wm_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "192.0.2.7/32");
	p = P("::ffff:10.0.0.0/104");
	assert_true(wm_prefix_unmap(&p));
	wm_prefix_format(&p, buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.0/8");
	/* Not mapped: left alone. */
	static const char *const keep[] = {
		"2001:db8::1",	       "::192.0.2.7", "::ffff:0:0/95",
		"fe80::ffff:c000:207", "192.0.2.7",   "::1",
	};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		struct wm_prefix a = P(keep[i]), b = a;

		if (wm_prefix_unmap(&a) || !wm_prefix_equal(&a, &b))
			fail_msg("%s was changed", keep[i]);
	}
	assert_false(wm_prefix_unmap(NULL));
	assert_int_equal(wm_endpoint_parse("[::ffff:198.51.100.1]:8443", &e), 0);
	assert_true(wm_endpoint_unmap(&e));
	wm_endpoint_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "198.51.100.1:8443");
	assert_int_equal(wm_endpoint_parse("[2001:db8::5]:8443", &e), 0);
	assert_false(wm_endpoint_unmap(&e));
	wm_endpoint_format(&e, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::5]:8443");
}

/* wm_strerror lives in error.c; it has no test file of its own. */
static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(wm_strerror(0), "success");
	assert_string_equal(wm_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(wm_strerror(-WM_EEXHAUSTED), "no free address left in the network");
	assert_string_equal(wm_strerror(-WM_ECONFIG), "invalid configuration");
	for (int e = WM_EBASE + 1; e < WM_ELAST; e++) {
		assert_non_null(wm_strerror(-e));
		assert_string_not_equal(wm_strerror(-e), "unknown webmesh error");
	}
	assert_string_equal(wm_strerror(-WM_EBASE), "unknown webmesh error");
	assert_string_equal(wm_strerror(-WM_ELAST - 5), "unknown webmesh error");
	assert_non_null(wm_strerror(-4000));
	assert_non_null(wm_strerror(INT32_MIN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_parse_valid),
		cmocka_unit_test(test_prefix_parse_invalid),
		cmocka_unit_test(test_prefix_format_small_buffer),
		cmocka_unit_test(test_prefix_arith),
		cmocka_unit_test(test_prefix_valid),
		cmocka_unit_test(test_ipv4_u32),
		cmocka_unit_test(test_endpoint),
		cmocka_unit_test(test_private),
		cmocka_unit_test(test_unmap),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
