/* coturn shared-secret TURN credentials (src/nat/turncred.c). The expected
 * passwords were computed independently (Python's hmac and base64). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "nat/turncred.h"

static void test_known_values(void **state)
{
	(void)state;
	struct wm_turn_credentials c;

	assert_int_equal(wm_turn_rest_credentials("north", "alpha", 1700000000, 3600, &c), 0);
	assert_string_equal(c.username, "1700003600:alpha");
	assert_string_equal(c.password, "/2fSFoAxnr9VdIM+LiKGBuo9g5w=");
	assert_int_equal(c.expires_at, 1700003600);
	assert_int_equal(wm_turn_rest_credentials("s", "x", 0, 1, &c), 0);
	assert_string_equal(c.username, "1:x");
	assert_int_equal(strlen(c.password), 28);
}

static void test_refuses(void **state)
{
	(void)state;
	struct wm_turn_credentials c;
	char long_user[WM_TURN_USER_MAX + 2];

	memset(long_user, 'u', sizeof(long_user));
	long_user[sizeof(long_user) - 1] = '\0';
	assert_int_equal(wm_turn_rest_credentials("", "alpha", 1, 60, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials(NULL, "alpha", 1, 60, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", "", 1, 60, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", "a:b", 1, 60, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", "a b", 1, 60, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", "a\n", 1, 60, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", long_user, 1, 60, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", "alpha", 1, 0, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", "alpha", 1, 31 * 24 * 3600, &c), -EINVAL);
	assert_int_equal(wm_turn_rest_credentials("s", "alpha", -5, 60, &c), -EINVAL);
	/* nothing is left behind on failure */
	assert_int_equal(c.password[0], '\0');
	long_user[WM_TURN_USER_MAX] = '\0';
	assert_int_equal(wm_turn_rest_credentials("s", long_user, 1, 60, &c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
