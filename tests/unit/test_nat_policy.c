/* The pure NAT traversal decisions (src/core/nat.c): URIs, when a pair uses
 * ICE, roles and glare, backoff, NAT classification, advertised endpoints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_util.h"

#include "core/config.h"
#include "core/error.h"
#include "core/nat.h"

static void test_uri_accepts(void **state)
{
	(void)state;
	struct wm_ice_uri u;
	char buf[300];

	assert_int_equal(wm_ice_uri_parse("stun:203.0.113.1", WM_URI_NONE, &u, NULL), 0);
	assert_int_equal(u.scheme, WM_URI_STUN);
	assert_string_equal(u.host, "203.0.113.1");
	assert_int_equal(u.port, 3478);
	assert_int_equal(
		wm_ice_uri_parse("turn:turn.example.org:5349?transport=udp", WM_URI_NONE, &u, NULL),
		0);
	assert_int_equal(u.scheme, WM_URI_TURN);
	assert_string_equal(u.host, "turn.example.org");
	assert_int_equal(u.port, 5349);
	assert_int_equal(wm_ice_uri_parse("TURN:[2001:db8::1]:3479", WM_URI_NONE, &u, NULL), 0);
	assert_string_equal(u.host, "2001:db8::1");
	assert_int_equal(u.port, 3479);
	assert_int_equal(wm_ice_uri_format(&u, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "turn:[2001:db8::1]:3479");
	/* no scheme: the default applies */
	assert_int_equal(wm_ice_uri_parse("198.51.100.7:19302", WM_URI_STUN, &u, NULL), 0);
	assert_int_equal(u.scheme, WM_URI_STUN);
	assert_int_equal(u.port, 19302);
	assert_int_equal(wm_ice_uri_format(&u, buf, 10), -ENOSPC);
}

static void test_uri_refuses(void **state)
{
	(void)state;
	struct wm_ice_uri u;
	const char *why = NULL;
	const char *bad[] = {"",
			     "stun:",
			     "turn::3478",
			     "turns:example.org",
			     "stuns:example.org",
			     "turn:example.org?transport=tcp",
			     "stun:example.org?transport=udp",
			     "turn:example.org:0",
			     "turn:example.org:65536",
			     "turn:example.org:03478",
			     "turn:example.org:34a",
			     "turn:exa mple.org",
			     "turn:[2001:db8::1",
			     "turn:[]:3478",
			     "turn:[10.0.0.1]:3478",
			     "turn:2001:db8::1",
			     "turn:[2001:db8::1]x",
			     "turn:-bad",
			     "http://example.org"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		assert_int_equal(wm_ice_uri_parse(bad[i], WM_URI_NONE, &u, &why), -EINVAL);
		assert_non_null(why);
	}
	/* a scheme is required when no default is given */
	assert_int_equal(wm_ice_uri_parse("example.org:3478", WM_URI_NONE, &u, &why), -EINVAL);
	/* an IPv6 address without brackets is named as such, not as a bad port */
	assert_int_equal(wm_ice_uri_parse("turn:fd77::1:3478", WM_URI_NONE, &u, &why), -EINVAL);
	assert_non_null(strstr(why, "without brackets"));
	assert_int_equal(wm_ice_uri_parse("fd77::1", WM_URI_STUN, &u, &why), -EINVAL);
	assert_non_null(strstr(why, "without brackets"));
}

static struct wm_ice_inputs base(void)
{
	struct wm_ice_inputs in = {
		.ice_available = true,
		.self_public = true,
		.peer_public = true,
		.now_ms = 100000,
		.direct_since_ms = 90000,
		.handshake_timeout_ms = 15000,
		.traversal = true,
	};
	return in;
}

static void test_decide(void **state)
{
	(void)state;
	struct wm_ice_inputs in = base();

	/* both public, within the timeout: direct */
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);
	/* the timeout passed without a handshake */
	in.now_ms = 105000;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_TIMEOUT);
	/* a handshake after the endpoints were set keeps it direct */
	in.last_handshake_ms = 91000;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);
	/* a handshake older than the current endpoints does not count */
	in.last_handshake_ms = 80000;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_TIMEOUT);
	/* timeout 0: never moves on a timeout */
	in.handshake_timeout_ms = 0;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);

	in = base();
	in.self_public = false;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED); /* the peer is public */
	in.now_ms = 105000;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_TIMEOUT); /* ...but silent */
	/* a private peer of a public node: it is up to the peer to reach us */
	in = base();
	in.peer_public = false;
	in.now_ms = 105000;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);
	/* neither side public: direct first (one LAN), ICE after the timeout */
	in = base();
	in.self_public = false;
	in.peer_public = false;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);
	in.now_ms = 105000;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NO_PUBLIC);
	in.last_handshake_ms = 95000; /* they did reach each other */
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);
	/* without STUN or TURN, ICE cannot get through a NAT: stay direct */
	in.last_handshake_ms = 0;
	in.traversal = false;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);
	in.traversal = true;
	in.ice_edge = true;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_EDGE);
	in.peer_started = true;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_PEER_STARTED);
	in.on_ice = true;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_STICKY);
	/* nothing goes over ICE when ICE is not available */
	in.ice_available = false;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_NOT_NEEDED);

	in = base();
	in.ice_edge = true;
	assert_int_equal(wm_ice_decide(&in), WM_ICE_EDGE);
	assert_string_equal(wm_ice_reason_name(WM_ICE_EDGE), "edge marked ice");
	assert_string_equal(wm_ice_reason_name(WM_ICE_NOT_NEEDED), "direct");
}

static void test_roles_and_glare(void **state)
{
	(void)state;
	assert_true(wm_ice_controlling("alpha", "beta"));
	assert_false(wm_ice_controlling("beta", "alpha"));
	assert_false(wm_ice_controlling("a", "a"));
	/* no offer of our own: always answer */
	assert_true(wm_ice_accept_offer("alpha", "beta", false));
	assert_true(wm_ice_accept_offer("beta", "alpha", false));
	/* glare: only the non-controlling side answers */
	assert_false(wm_ice_accept_offer("alpha", "beta", true));
	assert_true(wm_ice_accept_offer("beta", "alpha", true));
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(wm_ice_backoff_ms(0, 0), 1000);
	assert_int_equal(wm_ice_backoff_ms(1, 0), 2000);
	assert_int_equal(wm_ice_backoff_ms(4, 0), 16000);
	assert_int_equal(wm_ice_backoff_ms(5, 0), 30000);
	assert_int_equal(wm_ice_backoff_ms(1000, 0), 30000);
	assert_int_equal(wm_ice_backoff_ms(0, 65535), 1250);
	assert_int_equal(wm_ice_backoff_ms(1000, 65535), 37500);
}

static struct wm_endpoint ep(const char *s)
{
	struct wm_endpoint e;
	assert_int_equal(wm_endpoint_parse(s, &e), 0);
	return e;
}

static void test_classify(void **state)
{
	(void)state;
	struct wm_prefix host[] = {test_pfx("10.1.0.2/24"), test_pfx("fd00::2/64")};
	struct wm_nat_info ni;
	struct wm_endpoint m[3];

	/* no answer */
	wm_nat_classify(40000, host, 2, NULL, 0, &ni);
	assert_int_equal(ni.mapping, WM_NAT_UNKNOWN);
	assert_int_equal(ni.mapped.ip.family, 0);
	/* one answer, port kept: unknown mapping */
	m[0] = ep("203.0.113.5:40000");
	wm_nat_classify(40000, host, 2, m, 1, &ni);
	assert_int_equal(ni.mapping, WM_NAT_UNKNOWN);
	assert_true(ni.port_preserved);
	assert_true(wm_endpoint_equal(&ni.mapped, &m[0]));
	/* two equal answers: endpoint-independent */
	m[1] = ep("203.0.113.5:40000");
	wm_nat_classify(40000, host, 2, m, 2, &ni);
	assert_int_equal(ni.mapping, WM_NAT_EIM);
	/* different ports per server: endpoint-dependent, port not kept */
	m[1] = ep("203.0.113.5:51111");
	wm_nat_classify(40000, host, 2, m, 2, &ni);
	assert_int_equal(ni.mapping, WM_NAT_EDM);
	assert_false(ni.port_preserved);
	/* our own address: no NAT (an unanswered server in between is skipped) */
	m[0] = ep("10.1.0.2:40000");
	memset(&m[1], 0, sizeof(m[1]));
	m[2] = ep("10.1.0.2:40000");
	wm_nat_classify(40000, host, 2, m, 3, &ni);
	assert_int_equal(ni.mapping, WM_NAT_NONE);
	assert_string_equal(wm_nat_mapping_name(WM_NAT_EDM), "endpoint-dependent");
}

static void test_endpoints(void **state)
{
	(void)state;
	struct wm_prefix addrs[] = {test_pfx("10.1.0.2/24"), test_pfx("198.51.100.9/24"),
				    test_pfx("fd00::2/64"), test_pfx("198.51.100.9/32")};
	struct wm_nat_info ni = {
		.mapping = WM_NAT_EIM, .port_preserved = true, .mapped = ep("203.0.113.5:40000")};
	struct wm_endpoint out[8];
	char buf[WM_ENDPOINT_STRLEN];
	size_t n;

	n = wm_nat_endpoints(addrs, 4, 51820, &ni, out, 8);
	assert_int_equal(n, 4);
	wm_endpoint_format(&out[0], buf, sizeof(buf));
	assert_string_equal(buf, "198.51.100.9:51820"); /* public first, duplicate once */
	wm_endpoint_format(&out[1], buf, sizeof(buf));
	assert_string_equal(buf, "203.0.113.5:51820"); /* reflexive with the WireGuard port */
	wm_endpoint_format(&out[2], buf, sizeof(buf));
	assert_string_equal(buf, "10.1.0.2:51820");
	wm_endpoint_format(&out[3], buf, sizeof(buf));
	assert_string_equal(buf, "[fd00::2]:51820");
	assert_true(wm_endpoints_have_public(out, n));
	assert_false(wm_endpoints_have_public(&out[2], 2));

	/* a symmetric NAT's mapping is useless to others */
	ni.mapping = WM_NAT_EDM;
	assert_int_equal(wm_nat_endpoints(addrs, 4, 51820, &ni, out, 8), 3);
	/* a NAT that changes ports: the WireGuard port is not known */
	ni.mapping = WM_NAT_EIM;
	ni.port_preserved = false;
	assert_int_equal(wm_nat_endpoints(addrs, 4, 51820, &ni, out, 8), 3);
	/* one server only: the mapping behaviour is a guess, not advertised */
	ni.mapping = WM_NAT_UNKNOWN;
	ni.port_preserved = true;
	assert_int_equal(wm_nat_endpoints(addrs, 4, 51820, &ni, out, 8), 3);
	/* max is respected */
	assert_int_equal(wm_nat_endpoints(addrs, 4, 51820, NULL, out, 1), 1);
}

static void test_params_check(void **state)
{
	(void)state;
	const char *why = NULL;
	char *good[] = {"a=candidate:1 1 UDP 2013266431 10.1.0.2 40000 typ host",
			"candidate:2 1 UDP 1677721855 203.0.113.7 40000 typ srflx raddr 10.1.0.2 "
			"rport 40000"};
	char *ctrl[] = {"a=candidate:1 1 UDP 1 10.1.0.2 4\n typ host"};
	char *other[] = {"a=fingerprint:sha-256 00"};
	char *many[17];
	char long_line[300];
	const char *pwd = "abcdefghijklmnopqrstuv"; /* 22 */

	for (int i = 0; i < 17; i++)
		many[i] = good[0];
	memset(long_line, 'x', sizeof(long_line));
	memcpy(long_line, "a=candidate:", 12);
	long_line[257] = '\0';
	char *toolong[] = {long_line};

	assert_int_equal(wm_ice_params_check("abcd", pwd, good, 2, &why), 0);
	assert_int_equal(wm_ice_params_check("a+/9", pwd, good, 1, &why), 0);
	assert_int_equal(wm_ice_params_check("abc", pwd, good, 1, &why), -EINVAL);
	assert_int_equal(wm_ice_params_check("ab d", pwd, good, 1, &why), -EINVAL);
	assert_int_equal(wm_ice_params_check(NULL, pwd, good, 1, &why), -EINVAL);
	assert_int_equal(wm_ice_params_check("abcd", "short", good, 1, &why), -EINVAL);
	assert_non_null(strstr(why, "password"));
	assert_int_equal(wm_ice_params_check("abcd", pwd, good, 0, &why), -EINVAL);
	assert_int_equal(wm_ice_params_check("abcd", pwd, many, 17, &why), -EINVAL);
	assert_int_equal(wm_ice_params_check("abcd", pwd, many, 16, &why), 0);
	assert_int_equal(wm_ice_params_check("abcd", pwd, ctrl, 1, &why), -EINVAL);
	assert_int_equal(wm_ice_params_check("abcd", pwd, other, 1, &why), -EINVAL);
	assert_int_equal(wm_ice_params_check("abcd", pwd, toolong, 1, &why), -EINVAL);
	long_line[256] = '\0';
	assert_int_equal(wm_ice_params_check("abcd", pwd, toolong, 1, &why), 0);
}

static int set(struct wm_config *c, const char *key, const char *value, char *err, size_t n)
{
	return wm_config_append(c, wm_cfg_find(key), value, "--test", err, n);
}

/* The NAT keys of the config table (src/core/config.c). */
static void test_config_keys(void **state)
{
	(void)state;
	struct wm_config c;
	char err[256];

	assert_int_equal(wm_config_init(&c), 0);
	assert_int_equal(c.ice_handshake_timeout, 20);
	assert_int_equal(c.turn_credential_ttl, 43200);
	assert_int_equal(
		set(&c, "stun-servers", "stun:203.0.113.1,198.51.100.2:3479", err, sizeof(err)), 0);
	assert_int_equal(c.n_stun_servers, 2);
	assert_int_equal(
		set(&c, "turn-servers", "turn:[2001:db8::1]:3478?transport=udp", err, sizeof(err)),
		0);
	assert_int_equal(set(&c, "stun-servers", "turn:203.0.113.1", err, sizeof(err)),
			 -WM_ECONFIG);
	assert_non_null(strstr(err, "stun:"));
	assert_int_equal(set(&c, "turn-servers", "turns:relay.example.org", err, sizeof(err)),
			 -WM_ECONFIG);
	assert_non_null(strstr(err, "TLS"));
	assert_int_equal(set(&c, "turn-username", "has space", err, sizeof(err)), -WM_ECONFIG);
	assert_int_equal(set(&c, "turn-credential-ttl", "59", err, sizeof(err)), -WM_ECONFIG);
	assert_int_equal(set(&c, "ice-handshake-timeout", "0", err, sizeof(err)), 0);
	c.bootstrap = true;
	assert_int_equal(wm_config_validate(&c, err, sizeof(err)), 0);
	/* user and password go together, and with a relay */
	assert_int_equal(set(&c, "turn-username", "1700000000:alpha", err, sizeof(err)), 0);
	assert_int_equal(wm_config_validate(&c, err, sizeof(err)), -WM_ECONFIG);
	assert_non_null(strstr(err, "turn-password"));
	assert_int_equal(set(&c, "turn-password", "s3cret", err, sizeof(err)), 0);
	assert_int_equal(wm_config_validate(&c, err, sizeof(err)), 0);
	/* secrets are masked in errors and in the printed config */
	char *y = wm_config_to_yaml(&c);
	assert_non_null(y);
	assert_null(strstr(y, "s3cret"));
	free(y);
	wm_config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_accepts),  cmocka_unit_test(test_uri_refuses),
		cmocka_unit_test(test_decide),	     cmocka_unit_test(test_roles_and_glare),
		cmocka_unit_test(test_backoff),	     cmocka_unit_test(test_classify),
		cmocka_unit_test(test_endpoints),    cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_params_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
