/* HOST:PORT parsing for --join, --api-listen and wmctl --server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#include <cmocka.h>

#include "core/hostport.h"

static void test_accepts(void **state)
{
	(void)state;
	char host[64];
	uint16_t port;
	assert_int_equal(wm_hostport_split("10.0.0.1:8443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 8443);
	assert_int_equal(wm_hostport_split("[fd00::1]:1", host, sizeof(host), &port), 0);
	assert_string_equal(host, "fd00::1");
	assert_int_equal(port, 1);
	assert_int_equal(wm_hostport_split("mesh.example.org:65535", host, sizeof(host), &port), 0);
	assert_string_equal(host, "mesh.example.org");
}

static void test_refuses(void **state)
{
	(void)state;
	char host[8];
	uint16_t port;
	const char *bad[] = {"",	   ":8443",    "host",	       "host:",		"host:0",
			     "host:65536", "host:12a", "fd00::1:8443", "[fd00::1:8443", "[]:80",
			     "h:+80",	   "h:123456"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wm_hostport_split(bad[i], host, sizeof(host), &port), -EINVAL);
	assert_int_equal(wm_hostport_split("verylonghostname:80", host, sizeof(host), &port),
			 -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refuses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
