/* Unit tests for src/core/grpccode.c: the code table's ends and the range check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/grpccode.h"

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(wm_grpc_code_name(0), "OK");
	assert_string_equal(wm_grpc_code_name(7), "PERMISSION_DENIED");
	assert_string_equal(wm_grpc_code_name(16), "UNAUTHENTICATED");
}

static void test_out_of_range(void **state)
{
	(void)state;
	assert_null(wm_grpc_code_name(-1));
	assert_null(wm_grpc_code_name(17));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_out_of_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
