/* Unit tests for src/core/ids.c: node ID rules and host-name conversion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/ids.h"

static void test_check(void **state)
{
	static const char *const good[] = {
		"a",
		"node-1",
		"0",
		"123",
		"a-b-c",
		"wm",
		"wmx-1",
		"localhost1",
		"selfish",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk", /* 63 */
	};
	static const struct {
		const char *id;
		const char *why_contains;
	} bad[] = {
		{"", "empty"},
		{"Node", "upper-case"},
		{"-a", "start or end"},
		{"a-", "start or end"},
		{"a.b", "may only"},
		{"a_b", "may only"},
		{"a b", "may only"},
		{"é", "may only"},
		{"localhost", "reserved"},
		{"self", "reserved"},
		{"all", "reserved"},
		{"leader", "reserved"},
		{"wm-node", "reserved prefix"},
		{"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl", "63"},
	};
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (wm_node_id_check(good[i], &why) != 0)
			fail_msg("refused \"%s\": %s", good[i], why);
		assert_null(why);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (wm_node_id_check(bad[i].id, &why) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i].id);
		assert_non_null(why);
		if (!strstr(why, bad[i].why_contains))
			fail_msg("\"%s\": reason \"%s\"", bad[i].id, why);
	}
	assert_int_equal(wm_node_id_check(NULL, NULL), -EINVAL);
	assert_int_equal(wm_node_id_check("Bad", NULL), -EINVAL);
}

static void test_from_hostname(void **state)
{
	static const struct {
		const char *host, *id;
	} good[] = {
		{"web01", "web01"},
		{"Web01.example.com", "web01"},
		{"my_host", "my-host"},
		{"_x_", "x"},
		{"a b", "a-b"},
		{"router.lan", "router"},
		{"LOCALHOST2", "localhost2"},
	};
	static const char *const bad[] = {
		"", ".example.com", "___", "localhost", "Localhost.localdomain", "wm-abc", "-"};
	char out[WM_NODE_ID_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(wm_node_id_from_hostname(good[i].host, out), 0);
		assert_string_equal(out, good[i].id);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wm_node_id_from_hostname(bad[i], out) != -EINVAL)
			fail_msg("accepted \"%s\" as \"%s\"", bad[i], out);
	}
	/* Long names are cut to 63 characters. */
	char longname[200];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(wm_node_id_from_hostname(longname, out), 0);
	assert_int_equal(strlen(out), WM_NODE_ID_MAX);
	assert_int_equal(wm_node_id_from_hostname(NULL, out), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_from_hostname),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
