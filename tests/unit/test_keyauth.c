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
	const char *aud = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
	int n = wm_keyauth_message("node-a", aud, 1700000010, out, sizeof(out));
	assert_string_equal(out, "webmesh-key-auth-v2\nnode-a\nsha256:"
				 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
				 "\n1700000010");
	assert_int_equal(n, (int)strlen(out));
	assert_int_equal(wm_keyauth_message("Bad_ID", aud, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a\nx", aud, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a", aud, 0, out, 10), -ENOSPC);
	/* The audience is a certificate fingerprint and nothing else: no
	 * missing one, no upper case, no other length, no line break. */
	assert_int_equal(wm_keyauth_message("node-a", NULL, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a", "", 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a",
					    "sha256:00112233445566778899AABBCCDDEEFF0011223344"
					    "5566778899aabbccddeeff",
					    0, out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a", "sha256:0011", 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a",
					    "sha256:00112233445566778899aabbccddeeff0011223344"
					    "5566778899aabbccddee\n1",
					    0, out, sizeof(out)),
			 -EINVAL);
	assert_int_equal(wm_keyauth_message("node-a",
					    "md5:0000112233445566778899aabbccddeeff0011223344"
					    "5566778899aabbccddeeff",
					    0, out, sizeof(out)),
			 -EINVAL);
	/* Two servers, two messages: a signature for one is none for the other. */
	char other[WM_KEYAUTH_MSG_MAX];
	wm_keyauth_message(
		"node-a", "sha256:ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
		1700000010, other, sizeof(other));
	assert_string_not_equal(out, other);
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
