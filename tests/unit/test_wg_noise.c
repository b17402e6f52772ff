/* The embedded WireGuard's handshake and cookie logic: both roles derive the
 * same transport keys, every corruption is refused, replays and floods are
 * dropped, and MAC2 is only valid with a cookie from a reply. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "wg/embedded/cookie.h"
#include "wg/embedded/noise.h"

struct side {
	struct wgn_static s;
	struct wgn_handshake hs; /* the other side as its peer */
};

static struct wgn_handshake *lookup(void *ctx, const uint8_t key[32])
{
	struct side *me = ctx;

	return memcmp(me->hs.remote_static, key, 32) == 0 ? &me->hs : NULL;
}

static void setup_pair(struct side *a, struct side *b, const uint8_t *psk_a, const uint8_t *psk_b)
{
	uint8_t ka[32], kb[32];

	memset(a, 0, sizeof(*a));
	memset(b, 0, sizeof(*b));
	memset(ka, 0x11, 32);
	memset(kb, 0x22, 32);
	assert_int_equal(wgn_static_set(&a->s, ka), 0);
	assert_int_equal(wgn_static_set(&b->s, kb), 0);
	assert_int_equal(wgn_handshake_init(&a->hs, &a->s, b->s.pub, psk_a), 0);
	assert_int_equal(wgn_handshake_init(&b->hs, &b->s, a->s.pub, psk_b), 0);
}

static void test_handshake_keys_match(void **state)
{
	struct side a, b;
	struct wgm_initiation init;
	struct wgm_response resp;
	struct wgn_handshake *found;
	struct wgn_keys ka, kb;
	uint8_t psk[32];

	(void)state;
	memset(psk, 0x33, 32);
	setup_pair(&a, &b, psk, psk);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 0x1234, 1000, 5, NULL, &init), 0);
	assert_int_equal(init.type[0], WGM_INITIATION);
	assert_int_equal(wgm_get32(init.sender), 0x1234);
	assert_int_equal(wgn_consume_initiation(&b.s, &init, lookup, &b, 1, &found), 0);
	assert_ptr_equal(found, &b.hs);
	assert_int_equal(b.hs.remote_index, 0x1234);
	assert_int_equal(wgn_create_response(&b.hs, &b.s, 0x5678, NULL, &resp), 0);
	assert_int_equal(wgm_get32(resp.receiver), 0x1234);
	assert_int_equal(wgn_consume_response(&a.hs, &a.s, &resp), 0);
	assert_int_equal(wgn_derive_keys(&a.hs, &ka), 0);
	assert_int_equal(wgn_derive_keys(&b.hs, &kb), 0);
	assert_true(ka.initiator);
	assert_false(kb.initiator);
	assert_memory_equal(ka.send, kb.recv, 32);
	assert_memory_equal(ka.recv, kb.send, 32);
	assert_memory_not_equal(ka.send, ka.recv, 32);
	assert_int_equal(ka.remote_index, 0x5678);
	assert_int_equal(kb.remote_index, 0x1234);
	/* Deriving consumed the handshake: its secrets are gone. */
	assert_int_equal(a.hs.state, WGN_ZEROED);
	assert_int_equal(wgn_derive_keys(&a.hs, &ka), -EINVAL);
}

static void test_psk_mismatch(void **state)
{
	struct side a, b;
	struct wgm_initiation init;
	struct wgm_response resp;
	struct wgn_handshake *found;
	uint8_t psk[32];

	(void)state;
	memset(psk, 0x33, 32);
	setup_pair(&a, &b, psk, NULL);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 1, 1000, 0, NULL, &init), 0);
	/* The psk enters only with the response: the initiation still works. */
	assert_int_equal(wgn_consume_initiation(&b.s, &init, lookup, &b, 1, &found), 0);
	assert_int_equal(wgn_create_response(&b.hs, &b.s, 2, NULL, &resp), 0);
	assert_int_equal(wgn_consume_response(&a.hs, &a.s, &resp), -EBADMSG);
	assert_int_equal(a.hs.state, WGN_CREATED_INITIATION);
}

static void test_corruption_refused(void **state)
{
	struct side a, b;
	struct wgm_initiation init, bad;
	struct wgn_handshake *found;

	(void)state;
	setup_pair(&a, &b, NULL, NULL);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 1, 1000, 0, NULL, &init), 0);
	for (size_t i = 4; i < offsetof(struct wgm_initiation, macs); i += 7) {
		bad = init;
		((uint8_t *)&bad)[i] ^= 0x40;
		int ret = wgn_consume_initiation(&b.s, &bad, lookup, &b, 1, &found);
		/* The sender index is not authenticated by Noise (MAC1 covers it). */
		if (i >= offsetof(struct wgm_initiation, ephemeral))
			assert_true(ret < 0);
	}
	/* An unknown static key. */
	memset(b.hs.remote_static, 0, 32);
	assert_int_equal(wgn_consume_initiation(&b.s, &init, lookup, &b, 1, &found), -ENOENT);
}

static void test_replay_and_flood(void **state)
{
	struct side a, b;
	struct wgm_initiation i1, i2, i3;
	struct wgn_handshake *found;
	int64_t ms = 1000000;

	(void)state;
	setup_pair(&a, &b, NULL, NULL);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 1, 1000, 0, NULL, &i1), 0);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 2, 1000, 1, NULL, &i2), 0);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 3, 1001, 0, NULL, &i3), 0);
	assert_int_equal(wgn_consume_initiation(&b.s, &i2, lookup, &b, 100 * ms, &found), 0);
	/* Replayed, or older than the last: refused however late it comes. */
	assert_int_equal(wgn_consume_initiation(&b.s, &i2, lookup, &b, 200 * ms, &found),
			 -EALREADY);
	assert_int_equal(wgn_consume_initiation(&b.s, &i1, lookup, &b, 200 * ms, &found),
			 -EALREADY);
	/* A newer one within 20 ms of the last is a flood; after, it passes. */
	assert_int_equal(wgn_consume_initiation(&b.s, &i3, lookup, &b, 110 * ms, &found),
			 -EALREADY);
	assert_int_equal(wgn_consume_initiation(&b.s, &i3, lookup, &b, 121 * ms, &found), 0);
	/* Re-initialising the peer with the same key keeps the replay state. */
	assert_int_equal(wgn_handshake_init(&b.hs, &b.s, a.s.pub, NULL), 0);
	assert_int_equal(wgn_consume_initiation(&b.s, &i3, lookup, &b, 500 * ms, &found),
			 -EALREADY);
}

static void test_fixed_ephemeral_deterministic(void **state)
{
	struct side a, b;
	struct wgm_initiation i1, i2;
	uint8_t e[32];

	(void)state;
	memset(e, 0x44, 32);
	setup_pair(&a, &b, NULL, NULL);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 9, 1000, 0, e, &i1), 0);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 9, 1000, 0, e, &i2), 0);
	assert_memory_equal(&i1, &i2, sizeof(i1));
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 9, 1000, 0, NULL, &i2), 0);
	assert_memory_not_equal(i1.ephemeral, i2.ephemeral, 32);
}

static void test_cookie_flow(void **state)
{
	struct side a, b;
	struct wgm_initiation init;
	struct wgm_cookie reply;
	struct wgc_checker chk = {0};
	struct wgc_maker mk = {0};
	const uint8_t addr[6] = {10, 0, 0, 1, 0xca, 0x6c}, other[6] = {10, 0, 0, 2, 0xca, 0x6c};
	int64_t now = 5 * 1000000000LL;

	(void)state;
	setup_pair(&a, &b, NULL, NULL);
	assert_int_equal(wgn_create_initiation(&a.hs, &a.s, 77, 1000, 0, NULL, &init), 0);
	assert_int_equal(
		wgc_add_macs(&mk, a.hs.remote_mac1_key, (uint8_t *)&init, sizeof(init), now), 0);
	assert_int_equal(
		wgc_check(&chk, b.s.mac1_key, (uint8_t *)&init, sizeof(init), addr, 6, now),
		WGC_VALID_MAC1);
	/* MAC1 under another key (sent to someone else) is invalid. */
	assert_int_equal(
		wgc_check(&chk, a.s.mac1_key, (uint8_t *)&init, sizeof(init), addr, 6, now),
		WGC_INVALID);
	/* Under load, b answers with a cookie; a retries with MAC2. */
	assert_int_equal(wgc_make_reply(&chk, b.s.cookie_key, (uint8_t *)&init, sizeof(init), 77,
					addr, 6, now, &reply),
			 0);
	assert_int_equal(wgm_get32(reply.receiver), 77);
	assert_int_equal(wgc_consume_reply(&mk, a.hs.remote_cookie_key, &reply, now), 0);
	/* A second copy of the same reply is stale (its MAC1 was answered). */
	assert_int_equal(wgc_consume_reply(&mk, a.hs.remote_cookie_key, &reply, now), -ENOENT);
	assert_int_equal(
		wgc_add_macs(&mk, a.hs.remote_mac1_key, (uint8_t *)&init, sizeof(init), now), 0);
	assert_int_equal(
		wgc_check(&chk, b.s.mac1_key, (uint8_t *)&init, sizeof(init), addr, 6, now),
		WGC_VALID_MAC1_MAC2);
	/* The cookie is bound to the address. */
	assert_int_equal(
		wgc_check(&chk, b.s.mac1_key, (uint8_t *)&init, sizeof(init), other, 6, now),
		WGC_VALID_MAC1);
	/* After the secret's two minutes, the old cookie no longer counts. */
	assert_int_equal(wgc_check(&chk, b.s.mac1_key, (uint8_t *)&init, sizeof(init), addr, 6,
				   now + WGC_SECRET_MAX_AGE_NS),
			 WGC_VALID_MAC1);
	/* And a maker stops sending MAC2 once its cookie is too old. */
	assert_int_equal(wgc_add_macs(&mk, a.hs.remote_mac1_key, (uint8_t *)&init, sizeof(init),
				      now + WGC_COOKIE_USE_NS),
			 0);
	uint8_t zero[16] = {0};
	assert_memory_equal(init.macs.mac2, zero, 16);
	/* A reply sealed under a wrong key is refused. */
	assert_int_equal(wgc_make_reply(&chk, a.s.cookie_key, (uint8_t *)&init, sizeof(init), 77,
					addr, 6, now, &reply),
			 0);
	assert_int_equal(wgc_consume_reply(&mk, a.hs.remote_cookie_key, &reply, now), -EBADMSG);
}

static void test_message_types(void **state)
{
	uint8_t buf[200] = {0};

	(void)state;
	buf[0] = 1;
	assert_int_equal(wgm_type(buf, 148), WGM_INITIATION);
	assert_int_equal(wgm_type(buf, 147), 0);
	buf[0] = 2;
	assert_int_equal(wgm_type(buf, 92), WGM_RESPONSE);
	buf[0] = 3;
	assert_int_equal(wgm_type(buf, 64), WGM_COOKIE);
	buf[0] = 4;
	assert_int_equal(wgm_type(buf, 32), WGM_DATA);
	assert_int_equal(wgm_type(buf, 31), 0);
	buf[2] = 1;
	assert_int_equal(wgm_type(buf, 32), 0);
	buf[2] = 0;
	buf[0] = 5;
	assert_int_equal(wgm_type(buf, 32), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_keys_match),
		cmocka_unit_test(test_psk_mismatch),
		cmocka_unit_test(test_corruption_refused),
		cmocka_unit_test(test_replay_and_flood),
		cmocka_unit_test(test_fixed_ephemeral_deterministic),
		cmocka_unit_test(test_cookie_flow),
		cmocka_unit_test(test_message_types),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
