/* The replay window: edge cases at the window's border, wrap of its words,
 * the message limit, and a random walk checked against a plain set model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "wg/embedded/replay.h"

static void test_basic(void **state)
{
	struct wgr_window w;

	(void)state;
	wgr_init(&w);
	assert_true(wgr_check_and_set(&w, 0));
	assert_false(wgr_check_and_set(&w, 0));
	assert_true(wgr_check_and_set(&w, 2));
	assert_true(wgr_check_and_set(&w, 1));
	assert_false(wgr_check_and_set(&w, 1));
	assert_true(wgr_check_and_set(&w, 64));
	assert_true(wgr_check_and_set(&w, 63));
	assert_false(wgr_check_and_set(&w, 64));
}

static void test_window_border(void **state)
{
	struct wgr_window w;
	uint64_t top = 20000;

	(void)state;
	wgr_init(&w);
	assert_true(wgr_check_and_set(&w, top));
	/* The oldest still accepted is exactly WINDOW behind the greatest. */
	assert_true(wgr_check_and_set(&w, top - WGR_WINDOW));
	assert_false(wgr_check_and_set(&w, top - WGR_WINDOW));
	assert_false(wgr_check_and_set(&w, top - WGR_WINDOW - 1));
	assert_true(wgr_check_and_set(&w, top - 1));
	/* A jump far ahead clears everything behind it. */
	assert_true(wgr_check_and_set(&w, top + 10 * WGR_BITS_TOTAL));
	assert_false(wgr_check_and_set(&w, top));
	assert_true(wgr_check_and_set(&w, top + 10 * WGR_BITS_TOTAL - 1));
}

static void test_limit(void **state)
{
	struct wgr_window w;

	(void)state;
	wgr_init(&w);
	assert_true(wgr_check_and_set(&w, WGR_REJECT_AFTER_MESSAGES - 1));
	assert_false(wgr_check_and_set(&w, WGR_REJECT_AFTER_MESSAGES));
	assert_false(wgr_check_and_set(&w, UINT64_MAX));
	assert_true(wgr_check_and_set(&w, WGR_REJECT_AFTER_MESSAGES - 2));
}

/* The model: a counter is accepted iff never seen and not more than WINDOW
 * behind the greatest accepted so far. */
static void test_against_model(void **state)
{
	enum { N = 40000 };
	static uint8_t seen[N];
	struct wgr_window w;
	uint64_t greatest = 0;
	bool any = false;

	(void)state;
	memset(seen, 0, sizeof(seen));
	wgr_init(&w);
	srand(7);
	for (int i = 0; i < 200000; i++) {
		uint64_t c;
		int r = rand() % 100;

		if (r < 60 || !any)
			c = (greatest + (uint64_t)(rand() % 300)) % N;
		else if (r < 95)
			c = greatest > 9000 ? greatest - (uint64_t)(rand() % 9000) : 0;
		else
			c = (uint64_t)rand() % N;
		bool want = !seen[c] && (!any || c + WGR_WINDOW >= greatest);
		bool got = wgr_check_and_set(&w, c);
		assert_int_equal(got, want);
		if (got) {
			seen[c] = 1;
			if (!any || c > greatest)
				greatest = c;
			any = true;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_window_border),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_against_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
