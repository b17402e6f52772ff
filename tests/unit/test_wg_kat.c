/* Known answers for whole WireGuard messages: an initiation and a response
 * with fixed static, ephemeral and preshared keys and a fixed timestamp, the
 * transport keys they yield, MAC1 of both, MAC2 under a cookie, and a cookie
 * reply's XChaCha20-Poly1305 sealing. The expected bytes come from
 * tests/unit/wg_kat.py, an independent model of the whitepaper on Python's
 * hashlib and python3-cryptography (HChaCha20 written there from the draft):
 * the same composition computed by two implementations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "test_wg_hex.h"
#include "wg/embedded/cookie.h"
#include "wg/embedded/noise.h"

#define KAT_INIT                                                                                   \
	"0100000004030201ff2ee45601ec1b67310c7790404585ae697331eee1c1f8cf2419731c1fff3e6b3b6f1324" \
	"884f7dfcb616f1440bce015ad114bc97a5052c5972a42150ca66244ee95bf0cd2c60d3d9addef329768c8c11" \
	"0ed41251d4d6d7792d4565247b083047b122f3b7cba68c4f1563aad33dda4a3ebcdcc7de87de048c93c292be" \
	"00000000000000000000000000000000"
#define KAT_RESP                                                                                   \
	"02000000080706050403020138ab664bd86f77d7e66bdd9ae0792913a94fd8b33a1260027e4b46c1f4884c67" \
	"b967075afaacc0c6b57f3aede31fb3d6ebd39c41e7c97d5245b97e5034543b08000000000000000000000000" \
	"00000000"
#define KAT_SEND_I "2177a14cf336f1f30ee0a4797cf26797017dae77cbea489248bc3298bea5f869"
#define KAT_RECV_I "a3109f7f0c20e0ee4b829f8bc301eb1235feb3b04ddfb7f34a5189e65a2ea192"
#define KAT_MAC2 "15b86c34c1ac4fcc7c2caaccc391cf53"
#define KAT_SEALED_COOKIE "7c57851bedad0fbdbae90ec658d2734d0378d0083ac3ce85d6a0a3b7f08e66b7"

struct side {
	struct wgn_static s;
	struct wgn_handshake hs;
};

static struct wgn_handshake *lookup(void *ctx, const uint8_t key[32])
{
	struct side *me = ctx;

	return memcmp(me->hs.remote_static, key, 32) == 0 ? &me->hs : NULL;
}

static void test_handshake_kat(void **state)
{
	struct side a = {0}, b = {0};
	uint8_t ka[32], kb[32], ea[32], eb[32], psk[32];
	struct wgm_initiation init;
	struct wgm_response resp;
	struct wgc_maker ma = {0}, mb = {0};
	struct wgn_handshake *found;
	struct wgn_keys keys_a, keys_b;

	(void)state;
	memset(ka, 0x11, 32);
	memset(kb, 0x22, 32);
	memset(ea, 0x44, 32);
	memset(eb, 0x55, 32);
	memset(psk, 0x33, 32);
	assert_int_equal(wgn_static_set(&a.s, ka), 0);
	assert_int_equal(wgn_static_set(&b.s, kb), 0);
	assert_int_equal(wgn_handshake_init(&a.hs, &a.s, b.s.pub, psk), 0);
	assert_int_equal(wgn_handshake_init(&b.hs, &b.s, a.s.pub, psk), 0);

	assert_int_equal(
		wgn_create_initiation(&a.hs, &a.s, 0x01020304, 1700000000, 123456789, ea, &init),
		0);
	assert_int_equal(wgc_add_macs(&ma, a.hs.remote_mac1_key, (uint8_t *)&init, sizeof(init), 1),
			 0);
	assert_hex_equal(&init, KAT_INIT);

	assert_int_equal(wgn_consume_initiation(&b.s, &init, lookup, &b, 1, &found), 0);
	assert_int_equal(wgn_create_response(&b.hs, &b.s, 0x05060708, eb, &resp), 0);
	assert_int_equal(wgc_add_macs(&mb, b.hs.remote_mac1_key, (uint8_t *)&resp, sizeof(resp), 1),
			 0);
	assert_hex_equal(&resp, KAT_RESP);

	assert_int_equal(wgn_consume_response(&a.hs, &a.s, &resp), 0);
	assert_int_equal(wgn_derive_keys(&a.hs, &keys_a), 0);
	assert_int_equal(wgn_derive_keys(&b.hs, &keys_b), 0);
	assert_hex_equal(keys_a.send, KAT_SEND_I);
	assert_hex_equal(keys_a.recv, KAT_RECV_I);
	assert_hex_equal(keys_b.recv, KAT_SEND_I);
	assert_hex_equal(keys_b.send, KAT_RECV_I);

	/* MAC2 with a cookie held (and MAC1 unchanged by it). */
	memset(ma.cookie, 0x66, 16);
	ma.has_cookie = true;
	ma.cookie_birth_ns = 1;
	assert_int_equal(wgc_add_macs(&ma, a.hs.remote_mac1_key, (uint8_t *)&init, sizeof(init), 2),
			 0);
	assert_hex_equal(init.macs.mac2, KAT_MAC2);

	/* A cookie reply seals the cookie under HASH("cookie--" || responder's
	 * key) with the initiation's MAC1 as AAD. */
	uint8_t nonce[24], cookie[16], sealed[32];
	for (int i = 0; i < 24; i++)
		nonce[i] = (uint8_t)i;
	memset(cookie, 0x66, 16);
	assert_int_equal(
		wgp_xaead_seal(sealed, b.s.cookie_key, nonce, cookie, 16, init.macs.mac1, 16), 0);
	assert_hex_equal(sealed, KAT_SEALED_COOKIE);
	assert_memory_equal(b.s.cookie_key, a.hs.remote_cookie_key, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_kat),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
