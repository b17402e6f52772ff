/* The leader's liveness table (src/core/livetable.c): bounded, indexed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/livetable.h"

static void test_bound(void **state)
{
	(void)state;
	struct wm_live_table t;
	struct wm_live_entry *e = NULL, *again = NULL;
	char id[32];

	wm_live_table_init(&t, 16, 42);
	for (int i = 0; i < 16; i++) {
		snprintf(id, sizeof(id), "node-%d", i);
		assert_int_equal(wm_live_add(&t, id, 1000 + (uint64_t)i, &e), 0);
		assert_string_equal(e->id, id);
		assert_int_equal(e->last_ms, 1000 + (uint64_t)i);
	}
	assert_int_equal(t.n, 16);
	/* full: a new ID is refused, a known one is still found */
	assert_int_equal(wm_live_add(&t, "node-16", 5, &e), -ENOSPC);
	assert_int_equal(t.n, 16);
	assert_null(wm_live_find(&t, "node-16"));
	assert_int_equal(wm_live_add(&t, "node-3", 9999, &again), 0);
	assert_string_equal(again->id, "node-3");
	assert_int_equal(again->last_ms, 1003); /* found, not reset */
	/* not a node ID: never an entry */
	wm_live_table_free(&t);
	wm_live_table_init(&t, 16, 42);
	assert_int_equal(wm_live_add(&t, "Bad ID", 1, &e), -EINVAL);
	assert_int_equal(wm_live_add(&t, "", 1, &e), -EINVAL);
	assert_int_equal(t.n, 0);
	assert_null(wm_live_find(&t, ""));
	assert_null(wm_live_find(&t, NULL));
	wm_live_table_free(&t);
	/* 0: the default bound */
	wm_live_table_init(&t, 0, 1);
	assert_int_equal(t.max, WM_LIVE_MAX_DEFAULT);
	wm_live_table_free(&t);
}

static void test_lookup_many(void **state)
{
	(void)state;
	struct wm_live_table t;
	struct wm_live_entry *e;
	char id[32];
	size_t pos = 0, seen = 0;

	wm_live_table_init(&t, 10000, 7);
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		assert_int_equal(wm_live_add(&t, id, (uint64_t)i, &e), 0);
	}
	/* at most half full after growing */
	assert_true(t.cap >= 2 * t.n);
	assert_int_equal(t.cap & (t.cap - 1), 0);
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		e = wm_live_find(&t, id);
		assert_non_null(e);
		assert_int_equal(e->last_ms, (uint64_t)i);
	}
	assert_null(wm_live_find(&t, "n10000"));
	while ((e = wm_live_next(&t, &pos)))
		seen++;
	assert_int_equal(seen, 10000);
	wm_live_table_free(&t);
}

static void test_keep_present(void **state)
{
	(void)state;
	struct wm_live_table t;
	struct wm_live_entry *e;
	char id[32];

	wm_live_table_init(&t, 1000, 3);
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		assert_int_equal(wm_live_add(&t, id, 1, &e), 0);
		e->present = i % 3 == 0;
		e->unreachable = i % 2 == 0;
	}
	assert_int_equal(wm_live_keep_present(&t), 0);
	assert_int_equal(t.n, 100);
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		e = wm_live_find(&t, id);
		if (i % 3) {
			assert_null(e);
			continue;
		}
		assert_non_null(e);
		assert_int_equal(e->unreachable, i % 2 == 0); /* kept as it was */
	}
	/* room again for new nodes after forgetting the others */
	assert_int_equal(wm_live_add(&t, "fresh", 2, &e), 0);
	assert_non_null(wm_live_find(&t, "fresh"));
	/* nothing present: empty, still usable */
	size_t pos = 0;
	while ((e = wm_live_next(&t, &pos)))
		e->present = false;
	assert_int_equal(wm_live_keep_present(&t), 0);
	assert_int_equal(t.n, 0);
	assert_null(wm_live_find(&t, "n0"));
	assert_int_equal(wm_live_add(&t, "n0", 3, &e), 0);
	wm_live_table_free(&t);
	assert_null(wm_live_find(&t, "n0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_lookup_many),
		cmocka_unit_test(test_keep_present),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
