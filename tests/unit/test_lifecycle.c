/* The daemon's components start in order and close in reverse, one close at a
 * time (src/core/lifecycle.c), driven here as daemon.c drives it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "core/lifecycle.h"

#define N 5

/* A driver like daemon.c's: records what it starts and closes. */
struct driver {
	struct wm_lifecycle l;
	char log[64];
	size_t n_log;
	int fail_at;	 /* start of this index fails; -1: none */
	int stop_inside; /* this start stops the daemon from within; -1: none */
	bool async[N];	 /* this close finishes later, not inside its call */
	int pending;	 /* index whose async close is waiting; -1: none */
	bool in_close;
};

static void drive_close(struct driver *d);

static void closed(struct driver *d)
{
	assert_int_equal(wm_lifecycle_closed(&d->l), 0);
	if (!d->in_close)
		drive_close(d);
}

static void drive_close(struct driver *d)
{
	for (;;) {
		int i = wm_lifecycle_next_close(&d->l);
		if (i < 0)
			return;
		d->log[d->n_log++] = (char)('a' + i);
		if (d->async[i]) {
			d->pending = i;
			continue; /* next_close says WAIT */
		}
		d->in_close = true;
		closed(d);
		d->in_close = false;
	}
}

static void stop(struct driver *d)
{
	wm_lifecycle_stop(&d->l);
	drive_close(d);
}

static int drive_start(struct driver *d)
{
	int i;
	while ((i = wm_lifecycle_next_start(&d->l)) != WM_LIFECYCLE_DONE) {
		d->log[d->n_log++] = (char)('A' + i);
		if (i == d->stop_inside)
			stop(d);
		if (i == d->fail_at)
			return -EIO;
	}
	return 0;
}

static void setup(struct driver *d)
{
	memset(d, 0, sizeof(*d));
	wm_lifecycle_init(&d->l, N);
	d->fail_at = d->stop_inside = d->pending = -1;
}

static void test_start_then_close_in_reverse(void **state)
{
	(void)state;
	struct driver d;
	setup(&d);
	assert_int_equal(drive_start(&d), 0);
	assert_string_equal(d.log, "ABCDE");
	/* nothing closes before a stop */
	assert_int_equal(wm_lifecycle_next_close(&d.l), WM_LIFECYCLE_WAIT);
	assert_false(wm_lifecycle_done(&d.l));
	stop(&d);
	assert_string_equal(d.log, "ABCDEedcba");
	assert_true(wm_lifecycle_done(&d.l));
	assert_int_equal(wm_lifecycle_next_close(&d.l), WM_LIFECYCLE_DONE);
}

static void test_failed_start_closes_it_and_those_before(void **state)
{
	(void)state;
	struct driver d;
	setup(&d);
	d.fail_at = 2;
	assert_int_equal(drive_start(&d), -EIO);
	stop(&d);
	/* the failed one is closed too (its start may have done half), the
	 * ones after it were never started */
	assert_string_equal(d.log, "ABCcba");
	assert_true(wm_lifecycle_done(&d.l));
}

static void test_async_close_waits(void **state)
{
	(void)state;
	struct driver d;
	setup(&d);
	d.async[3] = d.async[1] = true;
	assert_int_equal(drive_start(&d), 0);
	stop(&d);
	/* d's close is in flight: c must not start before it finishes */
	assert_string_equal(d.log, "ABCDEed");
	assert_int_equal(d.pending, 3);
	assert_int_equal(wm_lifecycle_next_close(&d.l), WM_LIFECYCLE_WAIT);
	closed(&d);
	assert_string_equal(d.log, "ABCDEedcb");
	assert_int_equal(d.pending, 1);
	assert_false(wm_lifecycle_done(&d.l));
	closed(&d);
	assert_string_equal(d.log, "ABCDEedcba");
	assert_true(wm_lifecycle_done(&d.l));
}

static void test_stop_from_within_a_start(void **state)
{
	(void)state;
	struct driver d;
	setup(&d);
	/* a start that ends the daemon from inside (a fatal error found
	 * synchronously): it and those before it close, nothing after starts */
	d.stop_inside = 1;
	assert_int_equal(drive_start(&d), 0);
	assert_string_equal(d.log, "ABba");
	assert_true(wm_lifecycle_done(&d.l));
	assert_int_equal(wm_lifecycle_next_start(&d.l), WM_LIFECYCLE_DONE);
}

static void test_stop_twice_and_done_twice(void **state)
{
	(void)state;
	struct driver d;
	setup(&d);
	d.async[4] = true;
	assert_int_equal(drive_start(&d), 0);
	assert_true(wm_lifecycle_stop(&d.l));
	assert_false(wm_lifecycle_stop(&d.l));
	drive_close(&d);
	assert_string_equal(d.log, "ABCDEe");
	closed(&d);
	assert_string_equal(d.log, "ABCDEedcba");
	/* a done callback called again changes nothing */
	assert_int_equal(wm_lifecycle_closed(&d.l), -EALREADY);
	assert_true(wm_lifecycle_done(&d.l));
}

static void test_stop_before_any_start(void **state)
{
	(void)state;
	struct wm_lifecycle l;
	wm_lifecycle_init(&l, N);
	assert_true(wm_lifecycle_stop(&l));
	assert_int_equal(wm_lifecycle_next_start(&l), WM_LIFECYCLE_DONE);
	assert_int_equal(wm_lifecycle_next_close(&l), WM_LIFECYCLE_DONE);
	assert_true(wm_lifecycle_done(&l));
}

static void test_check_order(void **state)
{
	(void)state;
	char err[200];
	const struct wm_lifecycle_row good[] = {
		{"netconf", ""}, {"store", "netconf"}, {"dns", "netconf,store"}, {"role", "dns"}};
	assert_int_equal(wm_lifecycle_check(good, 4, err, sizeof(err)), 0);

	/* MeshDNS above the store it reads would close after it */
	const struct wm_lifecycle_row late[] = {
		{"netconf", ""}, {"dns", "netconf,store"}, {"store", "netconf"}};
	assert_int_equal(wm_lifecycle_check(late, 3, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "dns uses store, which must start before it (and close after it)");

	const struct wm_lifecycle_row self[] = {{"a", "a"}};
	assert_int_equal(wm_lifecycle_check(self, 1, err, sizeof(err)), -EINVAL);

	const struct wm_lifecycle_row unknown[] = {{"a", ""}, {"b", "a,stroe"}};
	assert_int_equal(wm_lifecycle_check(unknown, 2, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "b uses \"stroe\", which is not a component");

	/* "sto" is not "store": names match whole */
	const struct wm_lifecycle_row prefix[] = {{"store", ""}, {"b", "sto"}};
	assert_int_equal(wm_lifecycle_check(prefix, 2, err, sizeof(err)), -EINVAL);

	const struct wm_lifecycle_row dup[] = {{"a", ""}, {"a", ""}};
	assert_int_equal(wm_lifecycle_check(dup, 2, err, sizeof(err)), -EINVAL);
	const struct wm_lifecycle_row empty[] = {{"", ""}};
	assert_int_equal(wm_lifecycle_check(empty, 1, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_then_close_in_reverse),
		cmocka_unit_test(test_failed_start_closes_it_and_those_before),
		cmocka_unit_test(test_async_close_waits),
		cmocka_unit_test(test_stop_from_within_a_start),
		cmocka_unit_test(test_stop_twice_and_done_twice),
		cmocka_unit_test(test_stop_before_any_start),
		cmocka_unit_test(test_check_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
