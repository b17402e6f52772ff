/* A member's choice of server and retry backoff (src/core/upstream.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include <cmocka.h>

#include "core/upstream.h"

static void test_failover_after_two_failures(void **state)
{
	(void)state;
	unsigned failures = 0, retry = 0;
	bool move;
	assert_int_equal(wm_upstream_retry(&failures, &retry, &move), 500);
	assert_false(move);
	assert_int_equal(failures, 1);
	/* the second failure in a row moves on, with a fresh backoff */
	assert_int_equal(wm_upstream_retry(&failures, &retry, &move), 500);
	assert_true(move);
	assert_int_equal(failures, 0);
}

static void test_backoff_restarts_with_each_failover(void **state)
{
	(void)state;
	/* Today's behaviour, kept by the restructuring: a failover resets the
	 * backoff, so with a failover every second failure the wait never
	 * grows past twice the minimum (one server or many). */
	unsigned failures = 0, retry = 0;
	bool move;
	const unsigned want[] = {500, 500, 1000, 500, 1000, 500, 1000};
	const bool moved[] = {false, true, false, true, false, true, false};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(wm_upstream_retry(&failures, &retry, &move), want[i]);
		assert_int_equal(move, moved[i]);
	}
}

static void test_backoff_doubles_to_the_cap(void **state)
{
	(void)state;
	/* Failures that never add up to a failover (the count cleared, the
	 * backoff kept) double the wait up to the cap and no further. */
	unsigned failures = 0, retry = 0;
	bool move;
	unsigned last = 0;
	for (int i = 0; i < 10; i++) {
		failures = 0;
		last = wm_upstream_retry(&failures, &retry, &move);
		assert_false(move);
	}
	assert_int_equal(last, WM_UPSTREAM_RETRY_MAX_MS);
	assert_int_equal(retry, WM_UPSTREAM_RETRY_MAX_MS);
}

static void test_missed_heartbeat_moves_on_next_failure(void **state)
{
	(void)state;
	unsigned failures = 0, retry = 4000;
	bool move;
	wm_upstream_missed_heartbeat(&failures);
	assert_int_equal(wm_upstream_retry(&failures, &retry, &move), 500);
	assert_true(move);
}

static void test_next_server(void **state)
{
	(void)state;
	assert_int_equal(wm_upstream_next(0, 0), 0);
	assert_int_equal(wm_upstream_next(0, 1), 0);
	assert_int_equal(wm_upstream_next(0, 3), 1);
	assert_int_equal(wm_upstream_next(1, 3), 2);
	/* after the last, the --join server again */
	assert_int_equal(wm_upstream_next(2, 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failover_after_two_failures),
		cmocka_unit_test(test_backoff_restarts_with_each_failover),
		cmocka_unit_test(test_backoff_doubles_to_the_cap),
		cmocka_unit_test(test_missed_heartbeat_moves_on_next_failure),
		cmocka_unit_test(test_next_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
