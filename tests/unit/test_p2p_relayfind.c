/* Unit tests for relays found through the DHT: the key relays provide
 * (relayfind.c) against the value Python's hashlib computed from
 * relayfind.h's definition, and which found relay takes which candidate
 * slot and when the next lookup is due (src/core/p2prelay.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/p2prelay.h"
#include "p2p/relayfind.h"

static void test_key(void **state)
{
	uint8_t key[WM_RELAY_KEY_LEN];
	char text[65];
	(void)state;

	wm_relay_dht_key(key);
	assert_int_equal(key[0], 0x12);
	assert_int_equal(key[1], 0x20);
	for (size_t i = 0; i < 32; i++)
		sprintf(text + 2 * i, "%02x", key[2 + i]);
	/* hashlib.sha256(b"webmesh relay dht v1").hexdigest() */
	assert_string_equal(text,
			    "15c4c43c9851c797df07b46baca0242978bda331e176513e161edb3a34ded886");
}

static struct wm_peer_id id_of(uint8_t v)
{
	struct wm_peer_id id = {{0, 36, 8, 1, 18, 32}};

	memset(id.b + 6, v, 32);
	return id;
}

static void test_pick(void **state)
{
	struct wm_relay_cand c[2] = {0};
	struct wm_peer_id self = id_of(1), r1 = id_of(2), r2 = id_of(3), r3 = id_of(4);
	(void)state;

	/* Never ourselves. */
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &self, 0), -EINVAL);
	/* Free slots in order. */
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r1, 0), 0);
	c[0] = (struct wm_relay_cand){.id = r1, .used = true, .retry_ms = 5000};
	/* Found again before its retry time: left alone. */
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r1, 4999), -EAGAIN);
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r1, 5000), 0);
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r2, 100), 1);
	c[1] = (struct wm_relay_cand){.id = r2, .used = true, .held = true, .retry_ms = 5100};
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r2, 9000), -EALREADY);
	/* Full: a third takes no slot while the others wait or hold... */
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r3, 4999), -ENOSPC);
	/* ...and then the one that failed and waits for nobody, never the held one. */
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r3, 5000), 0);
	c[0].held = true;
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r3, 1000000), -ENOSPC);
	/* One whose RESERVE waits for its answer keeps its slot too: were it
	 * answered after, its reservation would belong to no candidate. */
	c[0].held = false;
	c[0].pending = true;
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r3, 1000000), -ENOSPC);
	assert_int_equal(wm_relay_cand_pick(c, 2, &self, &r1, 1000000), -EALREADY);
}

/* Four slots: found relays take at most two, never one a configured relay
 * waits in; a configured relay always gets one, a found relay's if need be. */
static void test_slots(void **state)
{
	struct wm_relay_slot s[4] = {0};
	(void)state;

	assert_int_equal(wm_relay_slot_pick(s, 4, true), 0);
	s[0] = (struct wm_relay_slot){.busy = true, .found = true};
	assert_int_equal(wm_relay_slot_pick(s, 4, true), 1);
	s[1] = (struct wm_relay_slot){.busy = true, .found = true};
	/* Half taken by found relays: no more, though two are free. */
	assert_int_equal(wm_relay_slot_pick(s, 4, true), -ENOSPC);
	assert_int_equal(wm_relay_slot_pick(s, 4, false), 2);
	/* A configured relay waiting to retry in slot 2 keeps it. */
	s[1] = (struct wm_relay_slot){0};
	s[2].waiting = true;
	assert_int_equal(wm_relay_slot_pick(s, 4, true), 1);
	s[1] = (struct wm_relay_slot){.waiting = true};
	s[3] = (struct wm_relay_slot){.waiting = true};
	assert_int_equal(wm_relay_slot_pick(s, 4, true), -ENOSPC);
	/* A configured one takes a found relay's slot before a waiting one's. */
	assert_int_equal(wm_relay_slot_pick(s, 4, false), 0);
	s[0] = (struct wm_relay_slot){.busy = true};
	assert_int_equal(wm_relay_slot_pick(s, 4, false), 1);
	for (int i = 0; i < 4; i++)
		s[i] = (struct wm_relay_slot){.busy = true};
	assert_int_equal(wm_relay_slot_pick(s, 4, false), -ENOSPC);
	assert_int_equal(wm_relay_slot_pick(s, 4, true), -ENOSPC);
}

static void test_via_order(void **state)
{
	size_t o[4];
	(void)state;

	/* Configured first, then found, each as given. */
	struct wm_relay_via v[4] = {{.found = true}, {0}, {.found = true}, {0}};
	wm_relay_via_order(v, 4, o);
	assert_int_equal(o[0], 1);
	assert_int_equal(o[1], 3);
	assert_int_equal(o[2], 0);
	assert_int_equal(o[3], 2);
	/* The one that just failed this target goes last; one that keeps
	 * failing goes after those that work, configured or not. */
	v[1].failed_target = true;
	v[3].fails = WM_RELAY_VIA_FAILING;
	wm_relay_via_order(v, 4, o);
	assert_int_equal(o[0], 0);
	assert_int_equal(o[1], 2);
	assert_int_equal(o[2], 3);
	assert_int_equal(o[3], 1);
	v[3].fails = WM_RELAY_VIA_FAILING - 1;
	wm_relay_via_order(v, 4, o);
	assert_int_equal(o[0], 3);
}

static void test_deny(void **state)
{
	struct wm_relay_deny d = {0};
	struct wm_peer_id a = id_of(2), b = id_of(3);
	(void)state;

	assert_false(wm_relay_denied(&d, &a, 0));
	wm_relay_deny_add(&d, &a, 1000);
	assert_true(wm_relay_denied(&d, &a, 1000));
	assert_false(wm_relay_denied(&d, &b, 1000));
	assert_true(wm_relay_denied(&d, &a, 1000 + WM_RELAY_DENY_MS - 1));
	assert_false(wm_relay_denied(&d, &a, 1000 + WM_RELAY_DENY_MS));
	/* Added again: refreshed in place, not a second entry. */
	wm_relay_deny_add(&d, &a, 5000);
	assert_true(wm_relay_denied(&d, &a, 5000 + WM_RELAY_DENY_MS - 1));
	/* Bounded: when full, the entry nearest its end goes. */
	for (int i = 0; i < WM_RELAY_DENY_N; i++) {
		struct wm_peer_id x = id_of((uint8_t)(10 + i));
		wm_relay_deny_add(&d, &x, 6000 + (uint64_t)i);
	}
	assert_false(wm_relay_denied(&d, &a, 6000 + WM_RELAY_DENY_N));
	struct wm_peer_id last = id_of(10 + WM_RELAY_DENY_N - 1), first = id_of(10);
	assert_true(wm_relay_denied(&d, &last, 6000 + WM_RELAY_DENY_N));
	assert_true(wm_relay_denied(&d, &first, 6000 + WM_RELAY_DENY_N));
	wm_relay_deny_add(&d, &b, 7000);
	assert_true(wm_relay_denied(&d, &b, 7000));
	assert_false(wm_relay_denied(&d, &first, 7000));
	assert_true(wm_relay_denied(&d, &last, 7000));
}

static void test_shuffle(void **state)
{
	size_t idx[4] = {0, 1, 2, 3};
	const uint32_t rnd[4] = {0, 0, 0, 0};
	const uint32_t keep[4] = {0, 1, 2, 3};
	(void)state;

	/* rnd[i-1] % i picks the element swapped to i-1. */
	wm_relay_shuffle(idx, 4, rnd);
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 2);
	assert_int_equal(idx[2], 3);
	assert_int_equal(idx[3], 0);
	size_t id2[4] = {0, 1, 2, 3};
	wm_relay_shuffle(id2, 4, keep);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(id2[i], i);
}

static bool addr_ok(const char *text)
{
	uint8_t b[WM_MADDR_MAX];
	struct wm_maddr_tcp t;
	int n = wm_maddr_parse(text, b, sizeof(b), NULL, 0);

	assert_true(n > 0);
	assert_int_equal(wm_maddr_to_tcp(b, (size_t)n, &t), 0);
	return wm_relay_addr_ok(&t);
}

static void test_addr_ok(void **state)
{
	(void)state;
	assert_true(addr_ok("/ip4/192.0.2.7/tcp/4001"));
	assert_true(addr_ok("/ip4/10.1.2.3/tcp/4001"));
	assert_true(addr_ok("/ip6/2001:db8::1/tcp/4001"));
	assert_true(addr_ok("/ip6/::ffff:192.0.2.7/tcp/4001"));
	assert_false(addr_ok("/ip4/127.0.0.1/tcp/4001"));
	assert_false(addr_ok("/ip4/127.9.9.9/tcp/4001"));
	assert_false(addr_ok("/ip4/0.0.0.0/tcp/4001"));
	assert_false(addr_ok("/ip4/169.254.1.1/tcp/4001"));
	assert_false(addr_ok("/ip4/224.0.0.1/tcp/4001"));
	assert_false(addr_ok("/ip4/239.255.255.250/tcp/4001"));
	assert_false(addr_ok("/ip4/255.255.255.255/tcp/4001"));
	assert_false(addr_ok("/ip6/::1/tcp/4001"));
	assert_false(addr_ok("/ip6/::/tcp/4001"));
	assert_false(addr_ok("/ip6/fe80::1/tcp/4001"));
	assert_false(addr_ok("/ip6/febf::1/tcp/4001"));
	assert_false(addr_ok("/ip6/ff02::1/tcp/4001"));
	assert_false(addr_ok("/ip6/::ffff:127.0.0.1/tcp/4001"));
	assert_false(addr_ok("/ip6/::ffff:169.254.0.1/tcp/4001"));
}

static void test_next(void **state)
{
	(void)state;
	/* Held: every 5 minutes, whatever came before. */
	assert_int_equal(wm_relay_find_next(1000, 1, 0), 1000 + 300000);
	assert_int_equal(wm_relay_find_next(1000, 2, 9), 1000 + 300000);
	/* None held: 10 s after the first miss, doubling, at most 5 minutes. */
	assert_int_equal(wm_relay_find_next(1000, 0, 0), 1000 + 10000);
	assert_int_equal(wm_relay_find_next(1000, 0, 1), 1000 + 10000);
	assert_int_equal(wm_relay_find_next(1000, 0, 2), 1000 + 20000);
	assert_int_equal(wm_relay_find_next(1000, 0, 5), 1000 + 160000);
	assert_int_equal(wm_relay_find_next(1000, 0, 6), 1000 + 300000);
	assert_int_equal(wm_relay_find_next(1000, 0, 64), 1000 + 300000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key),	  cmocka_unit_test(test_pick),
		cmocka_unit_test(test_next),	  cmocka_unit_test(test_slots),
		cmocka_unit_test(test_via_order), cmocka_unit_test(test_deny),
		cmocka_unit_test(test_shuffle),	  cmocka_unit_test(test_addr_ok),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
