/* The node proof's MACed message (src/core/nodeproof.c). */
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

#include "core/nodeproof.h"

#define PATH "/webmesh.v1.Admin/PutEdge"

static void test_message_exact(void **state)
{
	(void)state;
	char buf[WM_NODEPROOF_MSG_MAX];
	int n = wm_nodeproof_message("s2", "s1", 1700000010, PATH, buf, sizeof(buf));
	const char *want = "webmesh-node-proof-v1\ns2\ns1\n1700000010\n" PATH;
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(buf, want);
	/* negative windows are windows too (a clock before 1970) */
	n = wm_nodeproof_message("a", "b", -30, "/x", buf, sizeof(buf));
	assert_string_equal(buf, "webmesh-node-proof-v1\na\nb\n-30\n/x");
}

static void test_message_refuses_bad_input(void **state)
{
	(void)state;
	char buf[WM_NODEPROOF_MSG_MAX], longpath[WM_NODEPROOF_PATH_MAX + 2];
	assert_int_equal(wm_nodeproof_message(NULL, "s1", 0, PATH, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", NULL, 0, PATH, buf, sizeof(buf)), -EINVAL);
	/* IDs must be node IDs: no newline can shift the fields */
	assert_int_equal(wm_nodeproof_message("s2\ns1", "s1", 0, PATH, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", "S1", 0, PATH, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("user:s2", "s1", 0, PATH, buf, sizeof(buf)), -EINVAL);
	/* not a window start */
	assert_int_equal(wm_nodeproof_message("s2", "s1", 1700000011, PATH, buf, sizeof(buf)),
			 -EINVAL);
	/* paths */
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, NULL, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, "", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, "/", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, "x/y", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, "/a\nb", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, "/a b", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, "/a\x7f", buf, sizeof(buf)), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, longpath, buf, sizeof(buf)), -EINVAL);
	longpath[sizeof(longpath) - 2] = '\0'; /* exactly the maximum */
	assert_true(wm_nodeproof_message("s2", "s1", 0, longpath, buf, sizeof(buf)) > 0);
	/* too small a buffer */
	assert_int_equal(wm_nodeproof_message("s2", "s1", 0, PATH, buf, 10), -ENOSPC);
}

static void test_message_binds_every_field(void **state)
{
	(void)state;
	char a[WM_NODEPROOF_MSG_MAX], b[WM_NODEPROOF_MSG_MAX];
	wm_nodeproof_message("s2", "s1", 30, PATH, a, sizeof(a));
	wm_nodeproof_message("s1", "s2", 30, PATH, b, sizeof(b));
	assert_string_not_equal(a, b);
	wm_nodeproof_message("s2", "s3", 30, PATH, b, sizeof(b));
	assert_string_not_equal(a, b);
	wm_nodeproof_message("s2", "s1", 60, PATH, b, sizeof(b));
	assert_string_not_equal(a, b);
	wm_nodeproof_message("s2", "s1", 30, "/webmesh.v1.Admin/DeleteEdge", b, sizeof(b));
	assert_string_not_equal(a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_exact),
		cmocka_unit_test(test_message_refuses_bad_input),
		cmocka_unit_test(test_message_binds_every_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
