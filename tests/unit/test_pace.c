/* Unit tests for src/core/pace.c: the delay that keeps per-change work to a
 * share of the time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/pace.h"

#define MS 1000000ull

static void test_first_run_waits_for_nothing(void **state)
{
	struct wm_pace p = {0};

	(void)state;
	assert_int_equal(wm_pace_delay_ns(&p, 123 * MS, 25, 200 * MS), 0);
	assert_int_equal(wm_pace_delay_ns(NULL, 123 * MS, 25, 200 * MS), 0);
}

/* A run of 10 ms at 25 %: the next may begin 40 ms after it began. */
static void test_share_of_the_time(void **state)
{
	struct wm_pace p = {0};

	(void)state;
	wm_pace_done(&p, 1000 * MS, 10 * MS);
	assert_int_equal(wm_pace_delay_ns(&p, 1005 * MS, 25, 200 * MS), 35 * MS);
	assert_int_equal(wm_pace_delay_ns(&p, 1039 * MS, 25, 200 * MS), 1 * MS);
	assert_int_equal(wm_pace_delay_ns(&p, 1040 * MS, 25, 200 * MS), 0);
	assert_int_equal(wm_pace_delay_ns(&p, 5000 * MS, 25, 200 * MS), 0);
	/* 50 %: 20 ms after the start */
	assert_int_equal(wm_pace_delay_ns(&p, 1005 * MS, 50, 200 * MS), 15 * MS);
	/* rounded up to whole milliseconds for a timer */
	assert_int_equal(wm_pace_delay_ms(&p, 1005 * MS + 1, 25, 200 * MS), 35);
	assert_int_equal(wm_pace_delay_ms(&p, 1005 * MS, 25, 200 * MS), 35);
}

/* A long run is never followed by a long silence: the delay is capped, so a
 * change still reaches its members within the cap. */
static void test_capped(void **state)
{
	struct wm_pace p = {0};

	(void)state;
	wm_pace_done(&p, 0, 500 * MS);
	assert_int_equal(wm_pace_delay_ns(&p, 500 * MS, 25, 200 * MS), 200 * MS);
	assert_int_equal(wm_pace_delay_ns(&p, 1999 * MS, 25, 200 * MS), 1 * MS);
	assert_int_equal(wm_pace_delay_ns(&p, 2000 * MS, 25, 200 * MS), 0);
}

/* Shares of 0 or 100 and more mean no pacing; a cheap run no wait; a clock
 * that went back or sums that would wrap never stall the work. */
static void test_edges(void **state)
{
	struct wm_pace p = {0};

	(void)state;
	wm_pace_done(&p, 1000 * MS, 10 * MS);
	assert_int_equal(wm_pace_delay_ns(&p, 1001 * MS, 0, 200 * MS), 0);
	assert_int_equal(wm_pace_delay_ns(&p, 1001 * MS, 100, 200 * MS), 0);
	assert_int_equal(wm_pace_delay_ns(&p, 1001 * MS, 250, 200 * MS), 0);
	assert_int_equal(wm_pace_delay_ns(&p, 999 * MS, 25, 200 * MS), 0);
	wm_pace_done(&p, 1000 * MS, 0);
	assert_int_equal(wm_pace_delay_ns(&p, 1000 * MS, 25, 200 * MS), 0);
	wm_pace_done(&p, UINT64_MAX - 5, UINT64_MAX / 2);
	assert_int_equal(wm_pace_delay_ns(&p, UINT64_MAX - 4, 25, 200 * MS), 0);
	/* a cost whose span needs the full 64 bits is computed without overflow */
	wm_pace_done(&p, 0, UINT64_MAX / 100);
	assert_int_equal(wm_pace_delay_ns(&p, 1, 100 - 1, 200 * MS), 200 * MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_run_waits_for_nothing),
		cmocka_unit_test(test_share_of_the_time),
		cmocka_unit_test(test_capped),
		cmocka_unit_test(test_edges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
