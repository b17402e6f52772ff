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
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_next),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
