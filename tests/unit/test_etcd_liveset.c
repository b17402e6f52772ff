/* The liveness marks in force on etcd (src/etcd/liveset.h): what every
 * server's record holds, the same set computed from the same records. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/liveset.h"

static void expect_marks(const struct wm_etcd_liveset *l, const char *const *want, size_t n)
{
	char **ids;
	size_t got;
	assert_int_equal(wm_etcd_liveset_marks(l, &ids, &got), 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(ids[i], want[i]);
	if (!n)
		assert_null(ids);
	free(ids);
}

static void test_marks_all_servers_agree_on(void **state)
{
	(void)state;
	struct wm_etcd_liveset l;
	bool ch;
	wm_etcd_liveset_init(&l);
	expect_marks(&l, NULL, 0);

	/* s1 hears m1; s2 hears m2; nobody hears m3 (dead). */
	char *s1[] = {"m3", "m2", "m2", "s2"};
	assert_int_equal(wm_etcd_liveset_put(&l, "s1", s1, 4, &ch), 0);
	assert_true(ch);
	const char *one[] = {"m2", "m3", "s2"};
	expect_marks(&l, one, 3); /* a single server's marks are all there is */
	char *s2[] = {"m1", "m3", "s1"};
	assert_int_equal(wm_etcd_liveset_put(&l, "s2", s2, 3, &ch), 0);
	assert_true(ch);
	const char *dead[] = {"m3"};
	expect_marks(&l, dead, 1);

	/* The same record again changes nothing. */
	char *s1b[] = {"s2", "m2", "m3"};
	assert_int_equal(wm_etcd_liveset_put(&l, "s1", s1b, 3, &ch), 0);
	assert_false(ch);

	/* m1 moves from s2 to s1: still heard, still reachable. */
	char *s1c[] = {"m3", "s2"};
	assert_int_equal(wm_etcd_liveset_put(&l, "s1", s1c, 2, &ch), 0);
	char *s2c[] = {"m1", "m2", "m3", "s1"};
	assert_int_equal(wm_etcd_liveset_put(&l, "s2", s2c, 4, &ch), 0);
	expect_marks(&l, dead, 1);

	/* s1 dies with its lease: s2's marks alone are in force, and m1, which
	 * only s1 heard, is now unreachable as well. */
	assert_true(wm_etcd_liveset_del(&l, "s1"));
	assert_false(wm_etcd_liveset_del(&l, "s1"));
	const char *left[] = {"m1", "m2", "m3", "s1"};
	expect_marks(&l, left, 4);

	/* A server that hears everyone takes every mark back. */
	assert_int_equal(wm_etcd_liveset_put(&l, "s3", NULL, 0, &ch), 0);
	assert_true(ch);
	expect_marks(&l, NULL, 0);

	wm_etcd_liveset_clear(&l);
	assert_int_equal(l.n, 0);
	expect_marks(&l, NULL, 0);
	wm_etcd_liveset_free(&l);
}

static void test_bad_records_change_nothing(void **state)
{
	(void)state;
	struct wm_etcd_liveset l;
	bool ch = true;
	wm_etcd_liveset_init(&l);
	char *ok[] = {"m1"};
	assert_int_equal(wm_etcd_liveset_put(&l, "s1", ok, 1, NULL), 0);

	char *bad[] = {"m2", "no/slash"};
	assert_int_equal(wm_etcd_liveset_put(&l, "s1", bad, 2, &ch), -EINVAL);
	assert_false(ch);
	char *null[] = {NULL};
	assert_int_equal(wm_etcd_liveset_put(&l, "s1", null, 1, &ch), -EINVAL);
	assert_int_equal(wm_etcd_liveset_put(&l, "bad server", ok, 1, &ch), -EINVAL);
	assert_int_equal(wm_etcd_liveset_put(&l, NULL, ok, 1, &ch), -EINVAL);
	assert_int_equal(wm_etcd_liveset_put(&l, "s1", NULL, 1, &ch), -EINVAL);
	assert_int_equal(wm_etcd_liveset_put(&l, "s2", ok, WM_ETCD_LIVE_MAX_MARKS + 1, &ch),
			 -E2BIG);
	const char *want[] = {"m1"};
	expect_marks(&l, want, 1);
	assert_int_equal(l.n, 1);
	wm_etcd_liveset_free(&l);
}

static void test_many_servers_bounded(void **state)
{
	(void)state;
	struct wm_etcd_liveset l;
	char name[32];
	char *ids_in[] = {name, "dead"};
	wm_etcd_liveset_init(&l);
	/* Each server marks the dead node and one other (a member of its own
	 * that another server hears): only the dead one is in force. */
	for (int i = 0; i < WM_ETCD_LIVE_MAX_SERVERS; i++) {
		snprintf(name, sizeof(name), "m%04d", i);
		char server[32];
		snprintf(server, sizeof(server), "s%04d", i);
		assert_int_equal(wm_etcd_liveset_put(&l, server, ids_in, 2, NULL), 0);
	}
	assert_int_equal(wm_etcd_liveset_put(&l, "over", ids_in, 2, NULL), -ENOSPC);
	char **ids;
	size_t n;
	assert_int_equal(wm_etcd_liveset_marks(&l, &ids, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "dead");
	free(ids);
	wm_etcd_liveset_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_marks_all_servers_agree_on),
		cmocka_unit_test(test_bad_records_change_nothing),
		cmocka_unit_test(test_many_servers_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
