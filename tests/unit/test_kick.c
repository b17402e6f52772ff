/* Unit tests for src/core/kick.c: when a node kicks a new WireGuard peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/kick.h"

static void key_of(wm_key k, uint8_t first)
{
	memset(k, 0x55, sizeof(wm_key));
	k[0] = first;
}

/* A node that had no peers is the newcomer (or a restarted node): it kicks
 * at once, whatever the keys. */
static void test_newcomer_kicks_at_once(void **state)
{
	(void)state;
	wm_key a, b;
	key_of(a, 1);
	key_of(b, 2);
	assert_int_equal(wm_kick_delay_ms(false, a, b), 0);
	assert_int_equal(wm_kick_delay_ms(false, b, a), 0);
}

/* Two nodes that both had peers wait, and never for the same time: their
 * kicks cannot cross. Keys that differ only in the last byte still order. */
static void test_existing_nodes_wait_apart(void **state)
{
	(void)state;
	wm_key a, b;
	key_of(a, 1);
	key_of(b, 2);
	uint64_t ab = wm_kick_delay_ms(true, a, b), ba = wm_kick_delay_ms(true, b, a);
	assert_true(ab > 0 && ba > 0);
	assert_int_not_equal(ab, ba);
	assert_int_equal(ab, WM_KICK_WAIT_MS);
	assert_int_equal(ba, 2 * WM_KICK_WAIT_MS);
	key_of(a, 9);
	key_of(b, 9);
	b[WM_KEY_LEN - 1] = 0x56;
	assert_int_equal(wm_kick_delay_ms(true, a, b), WM_KICK_WAIT_MS);
	assert_int_equal(wm_kick_delay_ms(true, b, a), 2 * WM_KICK_WAIT_MS);
}

/* A pending kick is dropped once the device reports a handshake (either
 * field set), or when the peer is gone. */
static void test_wanted_only_without_handshake(void **state)
{
	(void)state;
	struct wm_wg_peer p;
	memset(&p, 0, sizeof(p));
	assert_true(wm_kick_wanted(&p));
	p.last_handshake_sec = 1796601600;
	assert_false(wm_kick_wanted(&p));
	p.last_handshake_sec = 0;
	p.last_handshake_nsec = 1;
	assert_false(wm_kick_wanted(&p));
	assert_false(wm_kick_wanted(NULL));
}

/* After a kick, only a peer we heard from without a handshake counts as
 * crossed: an offline one is left to WireGuard. */
static void test_crossed_needs_bytes_from_the_peer(void **state)
{
	(void)state;
	struct wm_wg_peer p;
	memset(&p, 0, sizeof(p));
	assert_false(wm_kick_crossed(&p));
	p.rx_bytes = 148; /* one initiation */
	assert_true(wm_kick_crossed(&p));
	p.last_handshake_sec = 1796601600;
	assert_false(wm_kick_crossed(&p));
	assert_false(wm_kick_crossed(NULL));
}

/* A peer added again after a crossed handshake keeps the endpoint the device
 * roamed to (where its initiation came from: behind NAT the advertised one
 * does not reach it), and one it learnt although it advertised none. */
static void test_readd_keeps_the_roamed_endpoint(void **state)
{
	(void)state;
	struct wm_wg_peer want = {0}, dev = {0};
	want.flags = WM_WGPEER_HAS_ENDPOINT;
	assert_int_equal(wm_endpoint_parse("192.0.2.7:51820", &want.endpoint), 0);
	assert_int_equal(wm_endpoint_parse("198.51.100.9:40000", &dev.endpoint), 0);
	assert_ptr_equal(wm_kick_readd_endpoint(&want, &dev), &dev.endpoint);
	want.flags = 0;
	assert_ptr_equal(wm_kick_readd_endpoint(&want, &dev), &dev.endpoint);
	/* nothing roamed: the one we want, or none */
	memset(&dev.endpoint, 0, sizeof(dev.endpoint));
	assert_null(wm_kick_readd_endpoint(&want, &dev));
	want.flags = WM_WGPEER_HAS_ENDPOINT;
	assert_ptr_equal(wm_kick_readd_endpoint(&want, &dev), &want.endpoint);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_newcomer_kicks_at_once),
		cmocka_unit_test(test_existing_nodes_wait_apart),
		cmocka_unit_test(test_wanted_only_without_handshake),
		cmocka_unit_test(test_crossed_needs_bytes_from_the_peer),
		cmocka_unit_test(test_readd_keeps_the_roamed_endpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
