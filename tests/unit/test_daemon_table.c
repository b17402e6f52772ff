/* The daemon's composition (src/node/daemon.c): every component starts after
 * the components it uses and closes before them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "node/daemon.h"

static void test_components_in_dependency_order(void **state)
{
	(void)state;
	char err[256] = "";
	int rc = wm_daemon_check_components(err, sizeof(err));
	if (rc)
		fail_msg("%s", err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_components_in_dependency_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
