/* Key authentication windows and the signed message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/keyauth.h"

static void test_window(void **state)
{
	(void)state;
	assert_int_equal(wm_keyauth_window(0), 0);
	assert_int_equal(wm_keyauth_window(29), 0);
	assert_int_equal(wm_keyauth_window(30), 30);
	assert_int_equal(wm_keyauth_window(1700000017), 1700000010);
	assert_int_equal(wm_keyauth_window(-1), -30);
}

static void test_window_ok(void **state)
{
	(void)state;
	int64_t now = 1700000017, w = wm_keyauth_window(now);
	/* no skew: only the current window */
	assert_true(wm_keyauth_window_ok(w, now, 0));
	assert_false(wm_keyauth_window_ok(w - 30, now, 0));
	assert_false(wm_keyauth_window_ok(w + 30, now, 0));
	/* not a window start */
	assert_false(wm_keyauth_window_ok(w + 1, now, 60));
	/* skew 30: previous window (ended 7 s ago) and next (starts in 23 s) */
	assert_true(wm_keyauth_window_ok(w - 30, now, 30));
	assert_true(wm_keyauth_window_ok(w + 30, now, 30));
	assert_false(wm_keyauth_window_ok(w - 60, now, 30));
	assert_false(wm_keyauth_window_ok(w + 60, now, 30));
	/* boundaries: the previous window ends at w; with skew 7 now-7 = w+0 */
	assert_false(wm_keyauth_window_ok(w - 30, now, 7));
	assert_true(wm_keyauth_window_ok(w - 30, now, 8));
	assert_false(wm_keyauth_window_ok(w + 30, now, 22));
	assert_true(wm_keyauth_window_ok(w + 30, now, 23));
	/* absurd values */
	assert_false(wm_keyauth_window_ok(INT64_MAX - 7, now, 30));
	assert_false(wm_keyauth_window_ok(INT64_MIN, now, 30));
}

static void test_message(void **state)
{
	(void)state;
	char out[WM_KEYAUTH_MSG_MAX];
	int n = wm_keyauth_message("node-a", 1700000010, out, sizeof(out));
	assert_string_equal(out, "webmesh-key-auth-v1\nnode-a\n1700000010");
	assert_int_equal(n, (int)strlen(out));
	assert_int_equal(wm_keyauth_message("Bad_ID", 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a\nx", 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a", 0, out, 10), -ENOSPC);
}

static void test_parse(void **state)
{
	(void)state;
	int64_t v;
	assert_int_equal(wm_keyauth_parse_window("1700000010", &v), 0);
	assert_int_equal(v, 1700000010);
	assert_int_equal(wm_keyauth_parse_window("0", &v), 0);
	assert_int_equal(wm_keyauth_parse_window("-30", &v), 0);
	assert_int_equal(v, -30);
	assert_int_equal(wm_keyauth_parse_window("", &v), -EINVAL);
	assert_int_equal(wm_keyauth_parse_window("01", &v), -EINVAL);
	assert_int_equal(wm_keyauth_parse_window("-0", &v), -EINVAL);
	assert_int_equal(wm_keyauth_parse_window("1e3", &v), -EINVAL);
	assert_int_equal(wm_keyauth_parse_window(" 1", &v), -EINVAL);
	assert_int_equal(wm_keyauth_parse_window("9223372036854775808", &v), -EINVAL);
	assert_int_equal(wm_keyauth_parse_window("9223372036854775807", &v), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_window_ok),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
