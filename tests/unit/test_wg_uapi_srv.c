/* The embedded WireGuard's UAPI set parser: every key wireguard-go accepts,
 * and refusals that change nothing (no update is returned). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "wg/embedded/uapi_srv.h"

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"

static int parse(const char *s, struct wm_wg_device **u, struct wgu_psk **psks, char *err)
{
	return wgu_parse_set(s, strlen(s), u, psks, err, 128);
}

static void test_full(void **state)
{
	struct wm_wg_device *u;
	struct wgu_psk *psks;
	char err[128];
	const char *req = "private_key=" K1 "\nlisten_port=51820\nfwmark=7\nreplace_peers=true\n"
			  "public_key=" K2 "\npreshared_key=" K1 "\nendpoint=[fd00::1]:9\n"
			  "persistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
			  "allowed_ip=10.1.2.3/16\nallowed_ip=fd00::/64\nprotocol_version=1\n"
			  "public_key=" K1 "\nremove=true\n";

	(void)state;
	assert_int_equal(parse(req, &u, &psks, err), 0);
	assert_int_equal(u->flags, WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT |
					   WM_WGDEV_HAS_FWMARK | WM_WGDEV_REPLACE_PEERS);
	assert_int_equal(u->listen_port, 51820);
	assert_int_equal(u->fwmark, 7);
	assert_int_equal(u->n_peers, 2);
	assert_int_equal(u->peers[0].flags, WM_WGPEER_HAS_ENDPOINT | WM_WGPEER_HAS_KEEPALIVE |
						    WM_WGPEER_REPLACE_ALLOWEDIPS);
	assert_true(psks[0].set);
	assert_int_equal(psks[0].key[0], 0x11);
	assert_false(psks[1].set);
	assert_int_equal(u->peers[0].endpoint.port, 9);
	assert_int_equal(u->peers[0].keepalive_interval, 25);
	assert_int_equal(u->peers[0].n_allowed_ips, 2);
	/* host bits are cleared, as WireGuard stores them */
	assert_int_equal(u->peers[0].allowed_ips[0].addr[2], 0);
	assert_int_equal(u->peers[1].flags, WM_WGPEER_REMOVE_ME);
	wgu_psks_free(psks, u->n_peers);
	wm_wg_device_free(u);
}

static void test_refusals(void **state)
{
	static const char *bad[] = {
		"listen_port=65536\n",
		"listen_port=-1\n",
		"listen_port=01\n",
		"fwmark=x\n",
		"replace_peers=false\n",
		"private_key=123\n",
		"endpoint=1.2.3.4:5\n", /* a peer key before it */
		"public_key=" K1 "\nendpoint=host:51820\n",
		"public_key=" K1 "\nallowed_ip=10.0.0.0/33\n",
		"public_key=" K1 "\nprotocol_version=2\n",
		"public_key=" K1 "\nremove=yes\n",
		"public_key=" K1 "\nunknown=1\n",
		"public_key=" K1 "\nnoequals\n",
		"public_key=" K1 "\npersistent_keepalive_interval=65536\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wm_wg_device *u = (void *)1;
		struct wgu_psk *psks = (void *)1;
		char err[128] = "";

		assert_int_equal(parse(bad[i], &u, &psks, err), -EINVAL);
		assert_null(u);
		assert_null(psks);
		assert_true(err[0]);
		/* the error names the key, never a value (it may be a key) */
		assert_null(strstr(err, "1111"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
