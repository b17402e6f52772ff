/* One owner per rule: the edge cases of each syntax rule of src/core, and
 * that the config table says yes and no exactly where the rule does (the FSM
 * and the API handlers call the same functions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/dnsname.h"
#include "core/hostport.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/net.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The config key name accepts v exactly when want is true. */
static void config_agrees(const char *name, const char *v, bool want)
{
	struct wm_config cfg;
	char err[512];
	const struct wm_cfg_key *k = wm_cfg_find(name);

	assert_non_null(k);
	assert_int_equal(wm_config_init(&cfg), 0);
	int r = wm_config_set(&cfg, k, v, "--test", err, sizeof(err));
	if ((r == 0) != want)
		fail_msg("%s=\"%s\": config says %d (%s), the rule says %s", name, v, r,
			 r ? err : "", want ? "yes" : "no");
	wm_config_free(&cfg);
}

static void test_port(void **state)
{
	(void)state;
	uint16_t p = 7;
	assert_int_equal(wm_port_parse("1", &p), 0);
	assert_int_equal(p, 1);
	assert_int_equal(wm_port_parse("65535", &p), 0);
	assert_int_equal(p, 65535);
	const char *bad[] = {"",    "0",  "00",	 "08443", "65536", "99999", "123456",
			     "+80", "-1", " 80", "80 ",	  "8a",	   "0x50"};
	for (size_t i = 0; i < N(bad); i++) {
		p = 7;
		assert_int_equal(wm_port_parse(bad[i], &p), -EINVAL);
		assert_int_equal(p, 7); /* nothing written on failure */
	}
	assert_int_equal(wm_port_parse(NULL, &p), -EINVAL);
}

static void test_hostport(void **state)
{
	(void)state;
	char host[256];
	uint16_t port;
	static const struct {
		const char *in, *host;
		uint16_t port;
	} good[] = {
		{"10.0.0.1:8443", "10.0.0.1", 8443},
		{"[fd00::1]:1", "fd00::1", 1},
		{"[::]:8443", "::", 8443},
		{"Mesh.Example.ORG:65535", "Mesh.Example.ORG", 65535}, /* host names keep case */
		{"localhost:9", "localhost", 9},
	};
	for (size_t i = 0; i < N(good); i++) {
		assert_int_equal(wm_hostport_split(good[i].in, host, sizeof(host), &port), 0);
		assert_string_equal(host, good[i].host);
		assert_int_equal(port, good[i].port);
		config_agrees("join", good[i].in, true);
	}
	/* "h:08443" passed the old wm_hostport_split and failed --join's own
	 * parser; "a_b:80", "[10.0.0.1]:80" and "[fd00::1/64]:80" the same. */
	const char *bad[] = {
		"h:08443",    "a_b:80",	      "[10.0.0.1]:80", "[fd00::1/64]:80", "",
		":8443",      "host",	      "host:",	       "host:0",	  "host:65536",
		"host:12a",   "fd00::1:8443", "[fd00::1:8443", "[]:80",		  "h:+80",
		"h:123456",   "host.:80",     "-h:80",	       "h..x:80",	  "a b:80",
		"[fd00::1]:", "[fd00::1]80"};
	for (size_t i = 0; i < N(bad); i++) {
		assert_int_equal(wm_hostport_split(bad[i], host, sizeof(host), &port), -EINVAL);
		if (bad[i][0])
			config_agrees("join", bad[i], false);
	}
	assert_int_equal(wm_hostport_split("verylonghostname:80", host, 8, &port), -ENAMETOOLONG);
	/* bootstrap-servers' HOST:PORT is the same rule */
	config_agrees("bootstrap-servers", "n1=10.0.0.1:8443", true);
	config_agrees("bootstrap-servers", "n1=10.0.0.1:08443", false);
}

static void test_addr(void **state)
{
	(void)state;
	struct wm_prefix p;
	assert_int_equal(wm_addr_parse("10.0.0.1", &p), 0);
	assert_int_equal(p.family, AF_INET);
	assert_int_equal(p.len, 32);
	assert_int_equal(wm_addr_parse("fd00::1", &p), 0);
	assert_int_equal(p.len, 128);
	const char *bad[] = {"",	   "10.0.0.1/32", "fd00::/8",  "[fd00::1]", "10.0.0",
			     "10.0.0.256", "010.0.0.1",	  " 10.0.0.1", "host"};
	for (size_t i = 0; i < N(bad); i++)
		assert_int_equal(wm_addr_parse(bad[i], &p), -EINVAL);
	/* server-name: a host name or an address literal, never a prefix */
	config_agrees("server-name", "10.0.0.1", true);
	config_agrees("server-name", "fd00::1", true);
	config_agrees("server-name", "10.0.0.1/32", false);
}

static void test_route(void **state)
{
	(void)state;
	struct wm_prefix p;
	char s[WM_PREFIX_STRLEN];
	static const struct {
		const char *in, *canon;
	} good[] = {
		{"10.1.0.0/16", "10.1.0.0/16"},	 {"10.1.2.3/16", "10.1.0.0/16"},
		{"0.0.0.0/0", "0.0.0.0/0"},	 {"::/0", "::/0"},
		{"fd00:1::5/64", "fd00:1::/64"}, {"192.0.2.1/32", "192.0.2.1/32"},
	};
	for (size_t i = 0; i < N(good); i++) {
		assert_int_equal(wm_route_parse(good[i].in, &p), 0);
		assert_int_equal(wm_prefix_format(&p, s, sizeof(s)), 0);
		assert_string_equal(s, good[i].canon);
		config_agrees("routes", good[i].in, true);
	}
	/* "10.1.2.3" passed the API handlers (Join routes, PutRoute, wmctl
	 * put route) and failed --routes. */
	const char *bad[] = {"10.1.2.3",  "fd00::1",	   "10.1.0.0/33", "::/129",
			     "10.1.0.0/", "10.1.0.0/016",  "10.1.0.0/-1", "/16",
			     "",	  "10.1.0.0/16/2", "[fd00::]/64"};
	for (size_t i = 0; i < N(bad); i++) {
		assert_int_equal(wm_route_parse(bad[i], &p), -EINVAL);
		if (bad[i][0])
			config_agrees("routes", bad[i], false);
	}
}

static void test_zone(void **state)
{
	(void)state;
	const char *why;
	/* Reserved node names are fine zones: a zone is no name in DNS or the
	 * CLI. The Join handler used the node ID rule and refused "all" and
	 * "wm-x", which --zone-awareness-id and the FSM accepted. */
	const char *good[] = {"a",
			      "site-a",
			      "0",
			      "all",
			      "leader",
			      "wm-x",
			      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"};
	for (size_t i = 0; i < N(good); i++) {
		assert_int_equal(wm_zone_check(good[i], &why), 0);
		config_agrees("zone-awareness-id", good[i], true);
	}
	static const struct {
		const char *in, *why;
	} bad[] = {
		{"", "empty"},
		{"Site", "upper-case"},
		{"-a", "start or end"},
		{"a-", "start or end"},
		{"a.b", "may only"},
		{"a_b", "may only"},
		{"a b", "may only"},
		{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", "63"},
	};
	for (size_t i = 0; i < N(bad); i++) {
		assert_int_equal(wm_zone_check(bad[i].in, &why), -EINVAL);
		assert_non_null(strstr(why, bad[i].why));
		if (bad[i].in[0])
			config_agrees("zone-awareness-id", bad[i].in, false);
	}
	assert_int_equal(wm_zone_check(NULL, NULL), -EINVAL);
	/* node IDs: the same label rule, plus the reserved names */
	assert_int_equal(wm_node_id_check("all", &why), -EINVAL);
	assert_int_equal(wm_node_id_check("site-a", &why), 0);
	config_agrees("node-id", "all", false);
	config_agrees("node-id", "Site", false);
}

static void test_dns_name(void **state)
{
	(void)state;
	/* the mesh domain: lower case, no trailing dot, 253 at most */
	char long_name[300];
	memset(long_name, 'a', sizeof(long_name));
	for (size_t i = 63; i < sizeof(long_name); i += 64)
		long_name[i] = '.';
	long_name[253] = '\0';
	assert_int_equal(wm_dns_name_check(long_name, 0, NULL), 0);
	config_agrees("domain", long_name, true);
	long_name[253] = 'a';
	long_name[254] = '\0';
	assert_int_equal(wm_dns_name_check(long_name, 0, NULL), -EINVAL);
	config_agrees("domain", long_name, false);
	const char *bad[] = {"webmesh.internal.",
			     "Webmesh.internal",
			     ".internal",
			     "a..b",
			     "-a.b",
			     "a-.b",
			     "a_b.c"};
	for (size_t i = 0; i < N(bad); i++) {
		assert_int_equal(wm_dns_name_check(bad[i], 0, NULL), -EINVAL);
		config_agrees("domain", bad[i], false);
	}
	assert_int_equal(wm_dns_name_check("Webmesh.internal", WM_DNS_NAME_UPPER, NULL), 0);
	/* record types: any case in, one canonical name out (the FSM stores it,
	 * the Admin handler names it in errors) */
	const char *types[] = {"a", "Aaaa", "cname", "TXT", "srv"};
	const char *canon[] = {"A", "AAAA", "CNAME", "TXT", "SRV"};
	for (size_t i = 0; i < N(types); i++)
		assert_string_equal(wm_dns_record_type_name(wm_dns_record_type(types[i])),
				    canon[i]);
	assert_null(wm_dns_record_type_name(15));
	assert_null(wm_dns_record_type_name(-EINVAL));
}

static void test_edge_attr_key(void **state)
{
	(void)state;
	const char *good[] = {"a", "ice", "x-y_z.w/v", "A9",
			      "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"};
	for (size_t i = 0; i < N(good); i++)
		assert_int_equal(wm_edge_attr_key_check(good[i], NULL), 0);
	const char *bad[] = {
		"",    "a b", "a:b",
		"a=b", "é",   "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl"};
	for (size_t i = 0; i < N(bad); i++)
		assert_int_equal(wm_edge_attr_key_check(bad[i], NULL), -EINVAL);
	assert_int_equal(wm_edge_attr_key_check(NULL, NULL), -EINVAL);
}

static void test_ifname(void **state)
{
	(void)state;
	const char *why;
	const char *good[] = {"webmesh0", "eth0.100", "wg_1", "A-b", "abcdefghijklmno"};
	for (size_t i = 0; i < N(good); i++) {
		assert_int_equal(wm_ifname_check(good[i], &why), 0);
		config_agrees("interface", good[i], true);
	}
	/* "." and ".." passed the ACL renderer's check and failed --interface. */
	const char *bad[] = {".", "..", "", "abcdefghijklmnop", "a/b", "a b", "a:b", "a%b"};
	for (size_t i = 0; i < N(bad); i++) {
		assert_int_equal(wm_ifname_check(bad[i], &why), -EINVAL);
		assert_non_null(why);
		if (bad[i][0])
			config_agrees("interface", bad[i], false);
	}
}

static void test_fingerprint(void **state)
{
	(void)state;
	char fp[WM_FINGERPRINT_LEN];
	const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char in[100], canon[100];

	snprintf(canon, sizeof(canon), "sha256:%s", hex);
	assert_int_equal(wm_fingerprint_parse(canon, fp), 0);
	assert_string_equal(fp, canon);
	assert_true(wm_fingerprint_canonical(canon));
	config_agrees("join-fingerprint", canon, true);
	/* upper-case digits are taken and written in lower case */
	snprintf(in, sizeof(in), "sha256:%s",
		 "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
	assert_int_equal(wm_fingerprint_parse(in, fp), 0);
	assert_string_equal(fp, canon);
	assert_false(wm_fingerprint_canonical(in));
	config_agrees("join-fingerprint", in, true);
	/* "SHA256:..." passed wmctl --fingerprint and failed --join-fingerprint */
	snprintf(in, sizeof(in), "SHA256:%s", hex);
	assert_int_equal(wm_fingerprint_parse(in, fp), -EINVAL);
	config_agrees("join-fingerprint", in, false);
	const char *bad[] = {"sha256:", "sha256:0123",
			     "sha1:0123456789abcdef0123456789abcdef01234567",
			     "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
	for (size_t i = 0; i < N(bad); i++) {
		assert_int_equal(wm_fingerprint_parse(bad[i], fp), -EINVAL);
		config_agrees("join-fingerprint", bad[i], false);
	}
	snprintf(in, sizeof(in), "sha256:%s0", hex); /* 65 digits */
	assert_int_equal(wm_fingerprint_parse(in, fp), -EINVAL);
	snprintf(in, sizeof(in), "sha256:%.63sg", hex); /* not hex */
	assert_int_equal(wm_fingerprint_parse(in, fp), -EINVAL);
	assert_false(wm_fingerprint_canonical(in));
	assert_int_equal(wm_fingerprint_parse(NULL, fp), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port),	      cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_addr),	      cmocka_unit_test(test_route),
		cmocka_unit_test(test_zone),	      cmocka_unit_test(test_dns_name),
		cmocka_unit_test(test_edge_attr_key), cmocka_unit_test(test_ifname),
		cmocka_unit_test(test_fingerprint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
