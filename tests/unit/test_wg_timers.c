/* WireGuard's timers with simulated time: handshake retries with jitter until
 * REKEY_ATTEMPT_TIME, passive keepalive, new handshake after silence, key
 * zeroing, persistent keepalive, and the rekey decisions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "wg/embedded/timers.h"

#define S WGT_NS
#define MS 1000000LL

static void test_retries_then_give_up(void **state)
{
	struct wgt_params p;
	struct wgt_peer t = {0};
	int64_t now = 1000 * S;
	unsigned retries = 0, f;

	(void)state;
	wgt_params_default(&p);
	wgt_handshake_initiated(&t, &p, now, wgt_jitter(333));
	assert_int_equal(t.retransmit_at, now + 5 * S + 333 * MS);
	assert_int_equal(wgt_due(&t, &p, now + 5 * S), 0);
	/* Step through simulated time: every fired retry sends a new initiation. */
	for (int i = 0; i < 1000; i++) {
		int64_t next = wgt_next(&t);
		if (!next)
			break;
		now = next;
		f = wgt_due(&t, &p, now);
		if (f & WGT_RETRANSMIT_HANDSHAKE) {
			retries++;
			wgt_handshake_initiated(&t, &p, now, wgt_jitter((uint32_t)i * 97));
		}
		if (f & WGT_GIVE_UP)
			break;
	}
	assert_int_equal(retries, 18); /* 90 s / 5 s */
	assert_true(now - 1000 * S >= 90 * S);
	assert_true(now - 1000 * S < 96 * S + 19 * 333 * MS);
	/* Giving up arms the key wipe at 3 x REJECT_AFTER_TIME. */
	assert_int_equal(t.zero_keys_at, now + 540 * S);
}

static void test_complete_stops_retries(void **state)
{
	struct wgt_params p;
	struct wgt_peer t = {0};

	(void)state;
	wgt_params_default(&p);
	wgt_handshake_initiated(&t, &p, 0, 0);
	wgt_handshake_complete(&t);
	wgt_session_derived(&t, &p, 10 * S);
	assert_int_equal(wgt_next(&t), 10 * S + 540 * S);
	assert_int_equal(wgt_due(&t, &p, 100 * S), 0);
	assert_int_equal(wgt_due(&t, &p, 550 * S), WGT_ZERO_KEYS);
	assert_int_equal(wgt_next(&t), 0);
}

static void test_passive_keepalive(void **state)
{
	struct wgt_params p;
	struct wgt_peer t = {0};

	(void)state;
	wgt_params_default(&p);
	wgt_data_received(&t, &p, 100 * S);
	/* Sending anything within 10 s makes the keepalive unnecessary. */
	wgt_authenticated_sent(&t);
	assert_int_equal(wgt_due(&t, &p, 111 * S), 0);
	wgt_data_received(&t, &p, 200 * S);
	wgt_data_received(&t, &p, 205 * S); /* while armed: one more after */
	assert_int_equal(wgt_due(&t, &p, 209 * S), 0);
	assert_int_equal(wgt_due(&t, &p, 210 * S), WGT_SEND_KEEPALIVE);
	assert_int_equal(wgt_next(&t), 220 * S);
	assert_int_equal(wgt_due(&t, &p, 220 * S), WGT_SEND_KEEPALIVE);
	assert_int_equal(wgt_next(&t), 0);
}

static void test_new_handshake_after_silence(void **state)
{
	struct wgt_params p;
	struct wgt_peer t = {0};

	(void)state;
	wgt_params_default(&p);
	wgt_data_sent(&t, &p, 0, 100 * MS);
	wgt_data_sent(&t, &p, 3 * S, 0); /* does not push it back */
	assert_int_equal(wgt_next(&t), 15 * S + 100 * MS);
	wgt_authenticated_received(&t);
	assert_int_equal(wgt_next(&t), 0);
	wgt_data_sent(&t, &p, 20 * S, 0);
	assert_int_equal(wgt_due(&t, &p, 35 * S), WGT_NEW_HANDSHAKE);
}

static void test_persistent(void **state)
{
	struct wgt_params p;
	struct wgt_peer t = {0};

	(void)state;
	wgt_params_default(&p);
	wgt_set_persistent(&t, 25, 50 * S);
	assert_int_equal(wgt_due(&t, &p, 50 * S), WGT_PERSISTENT_KEEPALIVE);
	wgt_authenticated_traversal(&t, 51 * S);
	assert_int_equal(wgt_next(&t), 76 * S);
	wgt_authenticated_traversal(&t, 60 * S);
	assert_int_equal(wgt_due(&t, &p, 76 * S), 0);
	assert_int_equal(wgt_due(&t, &p, 85 * S), WGT_PERSISTENT_KEEPALIVE);
	wgt_set_persistent(&t, 0, 90 * S);
	wgt_authenticated_traversal(&t, 91 * S);
	assert_int_equal(wgt_next(&t), 0);
	wgt_set_persistent(&t, 5, 100 * S);
	wgt_stop(&t);
	assert_int_equal(wgt_next(&t), 0);
	assert_int_equal(t.persistent_interval, 5);
}

static void test_rekey_decisions(void **state)
{
	struct wgt_params p;

	(void)state;
	wgt_params_default(&p);
	assert_false(wgt_rekey_on_send(&p, true, 0, 10, 119 * S));
	assert_true(wgt_rekey_on_send(&p, true, 0, 10, 120 * S));
	/* Only the initiator rekeys by age: both at once would race. */
	assert_false(wgt_rekey_on_send(&p, false, 0, 10, 170 * S));
	assert_true(wgt_rekey_on_send(&p, false, 0, (1ULL << 60) + 1, 1));
	assert_false(wgt_rekey_on_receive(&p, true, 0, 164 * S));
	assert_true(wgt_rekey_on_receive(&p, true, 0, 165 * S));
	assert_false(wgt_rekey_on_receive(&p, false, 0, 179 * S));
	assert_true(wgt_keys_usable(&p, 0, 0, 179 * S));
	assert_false(wgt_keys_usable(&p, 0, 0, 180 * S));
	assert_false(wgt_keys_usable(&p, 0, p.reject_after_messages, 1));
	assert_true(wgt_may_initiate(&p, 0, 1));
	assert_false(wgt_may_initiate(&p, 10 * S, 14 * S));
	assert_true(wgt_may_initiate(&p, 10 * S, 15 * S));
	/* A test shortens the rekey: the rules follow the parameters. */
	p.rekey_after_messages = 100;
	assert_true(wgt_rekey_on_send(&p, false, 0, 101, 1));
	for (uint32_t r = 0; r < 2000; r++)
		assert_true(wgt_jitter(r) >= 0 && wgt_jitter(r) <= 333 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retries_then_give_up),
		cmocka_unit_test(test_complete_stops_retries),
		cmocka_unit_test(test_passive_keepalive),
		cmocka_unit_test(test_new_handshake_after_silence),
		cmocka_unit_test(test_persistent),
		cmocka_unit_test(test_rekey_decisions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
