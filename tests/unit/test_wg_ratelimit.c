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
	struct wgl_table *t = calloc(1, sizeof(*t));
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

/* The kernel keys IPv6 sources by their /64: one host holds a whole /64 and
 * would otherwise get a fresh burst from each of its 2^64 addresses. */
static void test_ipv6_by_slash64(void **state)
{
	struct wgl_table *t = calloc(1, sizeof(*t));
	uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
	int64_t now = 1000 * MS;
	int allowed = 0;

	(void)state;
	assert_non_null(t);
	wgl_init(t, 777);
	for (int i = 0; i < 1000; i++) {
		a[14] = (uint8_t)(i >> 8);
		a[15] = (uint8_t)i;
		allowed += wgl_allow(t, a, 16, now);
	}
	assert_int_equal(allowed, WGL_BURST);
	free(t);
}

/* More sources than slots, cycled at one instant: an address whose slot was
 * taken over meanwhile must not come back to a full burst, or an attacker
 * with a few thousand addresses (or two that share a slot) is never limited. */
static void test_eviction_no_fresh_burst(void **state)
{
	struct wgl_table *t = calloc(1, sizeof(*t));
	enum { N = 2 * WGL_SLOTS, ROUNDS = 10 };
	static int per_addr[N];
	int64_t now = 1000 * MS;
	long total = 0;

	(void)state;
	assert_non_null(t);
	wgl_init(t, 4242);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < N; i++) {
			const uint8_t a[4] = {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8),
					      (uint8_t)i};
			int ok = wgl_allow(t, a, 4, now);

			per_addr[i] += ok;
			total += ok;
		}
	}
	for (int i = 0; i < N; i++)
		assert_true(per_addr[i] <= WGL_BURST);
	assert_true(total <= (long)WGL_SLOTS * WGL_BURST);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_ipv6_by_slash64),
		cmocka_unit_test(test_eviction_no_fresh_burst),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
