/* The handshake rate limit with simulated time: a burst of 5, then 20 per
 * second, addresses independent of each other, credit capped at the burst. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "wg/embedded/ratelimit.h"

#define MS 1000000LL

static void test_burst_then_rate(void **state)
{
	struct wgl_table *t = malloc(sizeof(*t));
	const uint8_t a[4] = {192, 0, 2, 1},
		      b[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	int64_t now = 1000 * MS;
	int allowed = 0;

	(void)state;
	assert_non_null(t);
	wgl_init(t, 12345);
	for (int i = 0; i < 10; i++)
		allowed += wgl_allow(t, a, 4, now);
	assert_int_equal(allowed, 5);
	/* another address has its own bucket */
	assert_true(wgl_allow(t, b, 16, now));
	/* then one per 50 ms: over 10 s of a flood every millisecond, ~200 */
	allowed = 0;
	for (int i = 1; i <= 10000; i++)
		allowed += wgl_allow(t, a, 4, now + i * MS);
	assert_true(allowed >= 199 && allowed <= 201);
	/* an idle minute gives back the burst, not more */
	now += 70000 * MS;
	allowed = 0;
	for (int i = 0; i < 10; i++)
		allowed += wgl_allow(t, a, 4, now);
	assert_int_equal(allowed, 5);
	assert_false(wgl_allow(t, a, 5, now)); /* not an address length */
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
