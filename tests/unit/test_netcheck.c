/* wmctl ping's path names and wmctl netcheck's conclusions (src/core/netcheck.c),
 * fed from the NAT classification they rest on (src/core/nat.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "core/nat.h"
#include "core/netcheck.h"

static void test_path_of(void **state)
{
	(void)state;
	assert_int_equal(wm_peer_path_of("direct", "", ""), WM_PATH_DIRECT);
	assert_int_equal(wm_peer_path_of("", NULL, NULL), WM_PATH_DIRECT);
	assert_int_equal(wm_peer_path_of(NULL, NULL, NULL), WM_PATH_DIRECT);
	assert_int_equal(wm_peer_path_of("ice-connecting", "", ""), WM_PATH_ICE_CONNECTING);
	assert_int_equal(wm_peer_path_of("ice-relay", "relay 10.9.0.1:50000", "srflx 1.2.3.4:5"),
			 WM_PATH_ICE_RELAY);
	assert_int_equal(wm_peer_path_of("ice-direct", "host 10.0.0.1:4000", "host 10.0.0.2:4000"),
			 WM_PATH_ICE_HOST);
	assert_int_equal(
		wm_peer_path_of("ice-direct", "host 10.0.0.1:4000", "srflx 203.0.113.9:4000"),
		WM_PATH_ICE_SRFLX);
	assert_int_equal(
		wm_peer_path_of("ice-direct", "prflx 203.0.113.9:4000", "host 198.51.100.2:4000"),
		WM_PATH_ICE_SRFLX);
	/* a status that raced a pair change still names the relay */
	assert_int_equal(wm_peer_path_of("ice-direct", "host 10.0.0.1:4000", "relay 1.2.3.4:5"),
			 WM_PATH_ICE_RELAY);
	/* a type must be a whole word, and no pair yet is not a host pair */
	assert_int_equal(wm_peer_path_of("ice-direct", "hostile 1.2.3.4:5", "host 1.2.3.5:5"),
			 WM_PATH_UNKNOWN);
	assert_int_equal(wm_peer_path_of("ice-direct", "", ""), WM_PATH_UNKNOWN);
	assert_int_equal(wm_peer_path_of("libp2p", "", ""), WM_PATH_UNKNOWN);
	/* WireGuard over libp2p, as the NAT layer names it (node/nat.c) */
	assert_int_equal(wm_peer_path_of("libp2p-direct", "", ""), WM_PATH_LIBP2P);
	assert_int_equal(wm_peer_path_of("libp2p-relay", "", ""), WM_PATH_LIBP2P_RELAY);
	assert_int_equal(wm_peer_path_of("libp2p-connecting", "", ""), WM_PATH_LIBP2P_CONNECTING);
	for (int p = WM_PATH_LIBP2P; p <= WM_PATH_LIBP2P_CONNECTING; p++)
		assert_int_equal(wm_peer_path_of(wm_peer_path_name((enum wm_peer_path)p), "", ""),
				 p);
	assert_string_equal(wm_peer_path_name(WM_PATH_ICE_SRFLX), "ice-srflx");
	assert_string_equal(wm_peer_path_name(WM_PATH_ICE_RELAY), "ice-relay");
	assert_string_equal(wm_peer_path_name((enum wm_peer_path)77), "unknown");
}

static struct wm_endpoint ep(const char *s)
{
	struct wm_endpoint e;

	assert_int_equal(wm_endpoint_parse(s, &e), 0);
	return e;
}

/* Two STUN servers asked from one socket, as netcheck asks them. */
static struct wm_netcheck_facts facts_from(const char *m1, const char *m2, size_t n_turn,
					   size_t n_turn_reached)
{
	struct wm_prefix host[] = {test_pfx("10.1.0.2/24")};
	struct wm_endpoint m[2] = {ep(m1), ep(m2)};
	struct wm_nat_info ni;
	struct wm_netcheck_facts f = {.n_stun = 2,
				      .n_stun_reached = 2,
				      .n_turn = n_turn,
				      .n_turn_reached = n_turn_reached};

	wm_nat_classify(40000, host, 1, m, 2, &ni);
	f.mapping = ni.mapping;
	return f;
}

static void test_paths_cone(void **state)
{
	(void)state;
	struct wm_path_check pc[WM_NETCHECK_PATHS];
	struct wm_netcheck_facts f = facts_from("203.0.113.5:40000", "203.0.113.5:40000", 1, 1);

	assert_int_equal(f.mapping, WM_NAT_EIM);
	assert_int_equal(wm_netcheck_paths(&f, pc), 4);
	assert_int_equal(pc[0].path, WM_PATH_DIRECT);
	assert_true(pc[0].possible);
	assert_string_equal(pc[0].why, "only with peers that have a public endpoint or share a "
				       "network: this node advertises no public endpoint");
	assert_int_equal(pc[1].path, WM_PATH_ICE_HOST);
	assert_int_equal(pc[2].path, WM_PATH_ICE_SRFLX);
	assert_true(pc[2].possible);
	assert_string_equal(pc[2].why,
			    "endpoint-independent mapping: holes punched through the NAT hold");
	assert_int_equal(pc[3].path, WM_PATH_ICE_RELAY);
	assert_true(pc[3].possible);
	assert_string_equal(pc[3].why, "a TURN server answered");
}

static void test_paths_symmetric(void **state)
{
	(void)state;
	struct wm_path_check pc[WM_NETCHECK_PATHS];
	struct wm_netcheck_facts f = facts_from("203.0.113.5:1024", "203.0.113.5:1025", 1, 0);

	assert_int_equal(f.mapping, WM_NAT_EDM);
	wm_netcheck_paths(&f, pc);
	assert_false(pc[2].possible);
	assert_non_null(strstr(pc[2].why, "symmetric"));
	assert_false(pc[3].possible);
	assert_string_equal(pc[3].why, "no TURN server answered");
}

static void test_paths_public_and_unconfigured(void **state)
{
	(void)state;
	struct wm_path_check pc[WM_NETCHECK_PATHS];
	struct wm_netcheck_facts f = {.endpoint_public = true, .mapping = WM_NAT_UNKNOWN};

	wm_netcheck_paths(&f, pc);
	assert_string_equal(pc[0].why, "any peer can reach this node at its public endpoint");
	assert_false(pc[2].possible);
	assert_string_equal(pc[2].why, "no STUN server configured: no reflexive candidates");
	assert_false(pc[3].possible);
	assert_string_equal(pc[3].why, "no TURN server configured");
	/* configured but silent */
	f.n_stun = 2;
	wm_netcheck_paths(&f, pc);
	assert_false(pc[2].possible);
	assert_string_equal(pc[2].why, "no STUN server answered");
	/* one answer: the kind is unknown, the path may work */
	f.n_stun_reached = 1;
	wm_netcheck_paths(&f, pc);
	assert_true(pc[2].possible);
	/* the mapped address is our own */
	f.mapping = WM_NAT_NONE;
	wm_netcheck_paths(&f, pc);
	assert_true(pc[2].possible);
	assert_string_equal(pc[2].why, "no NAT: the mapped address is this host's own");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_of),
		cmocka_unit_test(test_paths_cone),
		cmocka_unit_test(test_paths_symmetric),
		cmocka_unit_test(test_paths_public_and_unconfigured),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
