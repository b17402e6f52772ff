/* Source keys, the once-per-source log and the authentication backoff
 * (src/core/source.c, src/core/authlimit.c), with simulated time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/authlimit.h"
#include "core/source.h"

static void key_is(const char *peer, const char *want)
{
	char out[WM_SOURCE_KEY_MAX];
	assert_int_equal(wm_source_key(peer, out), 0);
	assert_string_equal(out, want);
}

static void test_source_key(void **state)
{
	(void)state;
	char out[WM_SOURCE_KEY_MAX];
	key_is("192.0.2.7:443", "192.0.2.7");
	key_is("[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64");
	key_is("[2001:db8:1:2::9]:1", "2001:db8:1:2::/64");
	key_is("[::ffff:192.0.2.7]:443", "192.0.2.7");
	key_is("unix", "unix");
	key_is("192.0.2.7", "192.0.2.7"); /* no port: kept as it is */
	key_is("a-very-long-peer-name-that-does-not-fit-in-a-source-key-at-all",
	       "a-very-long-peer-name-that-does-not-fit-in-a-so");
	assert_int_equal(wm_source_key("", out), -EINVAL);
	assert_int_equal(wm_source_key(NULL, out), -EINVAL);
}

static void test_logonce(void **state)
{
	(void)state;
	struct wm_logonce l;
	char key[32];
	wm_logonce_init(&l, 1000);
	assert_true(wm_logonce_due(&l, "a", 0));
	assert_false(wm_logonce_due(&l, "a", 10));
	assert_false(wm_logonce_due(&l, "a", 999));
	assert_true(wm_logonce_due(&l, "b", 999));
	assert_true(wm_logonce_due(&l, "a", 1000));
	/* Many sources in one interval: at most WM_LOGONCE_SLOTS lines. */
	int logged = 0;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "s%d", i);
		logged += wm_logonce_due(&l, key, 1500);
	}
	assert_int_equal(logged, WM_LOGONCE_SLOTS - 2); /* a and b hold two */
	snprintf(key, sizeof(key), "s%d", 999);
	assert_true(wm_logonce_due(&l, key, 3000)); /* the next interval */
}

/* Begins and ends one attempt. */
static int attempt(struct wm_authlimit *l, const char *src, const char *user, int64_t now,
		   enum wm_authlimit_outcome out, uint32_t *retry)
{
	uint32_t r;
	int rv = wm_authlimit_begin(l, src, user, now, retry ? retry : &r);
	if (rv >= 0)
		wm_authlimit_end(l, src, user, rv, out, now);
	return rv;
}

static void test_backoff(void **state)
{
	(void)state;
	struct wm_authlimit *l;
	uint32_t retry;
	assert_int_equal(wm_authlimit_new(&(struct wm_authlimit_config){.max_ms = 1000}, &l), 0);
	/* Each failure doubles the wait: 100, 200, 400, 800, then the bound. */
	int64_t t = 0;
	uint32_t waits[] = {100, 200, 400, 800, 1000, 1000};
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(attempt(l, "198.51.100.1", "u:eve", t, WM_AUTHLIMIT_REFUSED, NULL),
				 0);
		assert_int_equal(attempt(l, "198.51.100.1", "u:eve", t + waits[i] - 1,
					 WM_AUTHLIMIT_REFUSED, &retry),
				 -EAGAIN);
		assert_int_equal(retry, 1);
		t += waits[i];
	}
	/* A quiet spell as long as the bound forgives. */
	t += 1000;
	assert_int_equal(attempt(l, "198.51.100.1", "u:eve", t, WM_AUTHLIMIT_REFUSED, NULL), 0);
	assert_int_equal(attempt(l, "198.51.100.1", "u:eve", t + 99, WM_AUTHLIMIT_REFUSED, &retry),
			 -EAGAIN);
	assert_int_equal(retry, 1);
	/* Another source for another user is not held back. */
	assert_int_equal(attempt(l, "198.51.100.2", "u:bob", t, WM_AUTHLIMIT_ACCEPTED, NULL), 0);
	/* A backend failure is no failure of the caller. */
	assert_int_equal(attempt(l, "198.51.100.3", "u:bob", t, WM_AUTHLIMIT_ERROR, NULL), 0);
	assert_int_equal(attempt(l, "198.51.100.3", "u:bob", t, WM_AUTHLIMIT_ERROR, NULL), 0);
	assert_int_equal(wm_authlimit_begin(l, "", "u:x", t, &retry), -EINVAL);
	wm_authlimit_free(l);
}

/* A name under attack from many sources: new sources wait for it, the one
 * that authenticated it before does not. */
static void test_user_backoff_and_good_pairs(void **state)
{
	(void)state;
	struct wm_authlimit *l;
	uint32_t retry;
	assert_int_equal(wm_authlimit_new(NULL, &l), 0);
	assert_int_equal(attempt(l, "192.0.2.1", "u:alice", 0, WM_AUTHLIMIT_ACCEPTED, NULL), 0);
	char src[32];
	for (int i = 0; i < 5; i++) {
		snprintf(src, sizeof(src), "203.0.113.%d", i);
		assert_int_equal(attempt(l, src, "u:alice", 0, WM_AUTHLIMIT_REFUSED, NULL),
				 i == 0 ? 0 : -EAGAIN);
	}
	assert_int_equal(attempt(l, "203.0.113.99", "u:alice", 50, WM_AUTHLIMIT_REFUSED, &retry),
			 -EAGAIN);
	assert_int_equal(retry, 50);
	/* alice's own address gets through at once, and so does a name that
	 * differs only in its kind (a node ID is not a user name). */
	assert_int_equal(attempt(l, "192.0.2.1", "u:alice", 50, WM_AUTHLIMIT_ACCEPTED, NULL),
			 WM_AUTHLIMIT_KNOWN);
	assert_int_equal(attempt(l, "203.0.113.98", "n:alice", 50, WM_AUTHLIMIT_ACCEPTED, NULL), 0);
	/* A success of alice's clears nothing for the attacker. */
	assert_int_equal(attempt(l, "203.0.113.99", "u:alice", 99, WM_AUTHLIMIT_REFUSED, NULL),
			 -EAGAIN);
	/* A known pair is not held to the source's share of pending attempts
	 * (a server forwarding many calls as itself). */
	for (int i = 0; i < 10; i++)
		assert_int_equal(wm_authlimit_begin(l, "192.0.2.1", "u:alice", 60, &retry),
				 WM_AUTHLIMIT_KNOWN);
	assert_int_equal(wm_authlimit_pending(l, "192.0.2.1"), 0);
	for (int i = 0; i < 10; i++)
		wm_authlimit_end(l, "192.0.2.1", "u:alice", WM_AUTHLIMIT_KNOWN,
				 WM_AUTHLIMIT_ACCEPTED, 61);
	for (int i = 0; i < 4; i++)
		assert_int_equal(wm_authlimit_begin(l, "192.0.2.1", "u:carol", 61, &retry), 0);
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.1", "u:carol", 61, &retry), -EBUSY);
	assert_int_equal(wm_authlimit_pending(l, "192.0.2.1"), 4);
	for (int i = 0; i < 4; i++)
		wm_authlimit_end(l, "192.0.2.1", "u:carol", 0, WM_AUTHLIMIT_ERROR, 62);
	assert_int_equal(wm_authlimit_pending(l, "192.0.2.1"), 0);
	/* The good pair lasts good_ms (a day by default). */
	assert_int_equal(attempt(l, "203.0.113.1", "u:alice", 100, WM_AUTHLIMIT_REFUSED, NULL), 0);
	assert_int_equal(attempt(l, "192.0.2.1", "u:alice", 24 * 3600 * 1000LL + 60,
				 WM_AUTHLIMIT_ACCEPTED, NULL),
			 WM_AUTHLIMIT_KNOWN);
	/* ... from its last use; then it is forgotten (counted again). */
	assert_int_equal(attempt(l, "192.0.2.1", "u:alice", 3 * 24 * 3600 * 1000LL,
				 WM_AUTHLIMIT_ACCEPTED, NULL),
			 0);
	wm_authlimit_free(l);
}

static void test_pending_and_tables(void **state)
{
	(void)state;
	struct wm_authlimit *l;
	uint32_t retry;
	assert_int_equal(
		wm_authlimit_new(&(struct wm_authlimit_config){.max_pending = 2, .max_entries = 3},
				 &l),
		0);
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.1", NULL, 0, &retry), 0);
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.1", "u:a", 0, &retry), 0);
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.1", "u:b", 0, &retry), -EBUSY);
	assert_int_equal(wm_authlimit_pending(l, "192.0.2.1"), 2);
	/* Three sources with pending attempts fill the table: a fourth has no
	 * room, until one of them ends. */
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.2", NULL, 0, &retry), 0);
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.3", NULL, 0, &retry), 0);
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.4", NULL, 0, &retry), -ENOSPC);
	wm_authlimit_end(l, "192.0.2.3", NULL, 0, WM_AUTHLIMIT_ACCEPTED, 1);
	assert_int_equal(wm_authlimit_begin(l, "192.0.2.4", NULL, 2, &retry), 0);
	assert_int_equal(wm_authlimit_pending(l, "192.0.2.3"), 0); /* made room */
	wm_authlimit_end(l, "192.0.2.1", NULL, 0, WM_AUTHLIMIT_ERROR, 3);
	wm_authlimit_end(l, "192.0.2.1", "u:a", 0, WM_AUTHLIMIT_ERROR, 3);
	assert_int_equal(wm_authlimit_pending(l, "192.0.2.1"), 0);
	/* The tables stay bounded: a fourth user name pushes out the least
	 * recently used (the price of a bound: see authlimit.h). */
	assert_int_equal(attempt(l, "198.51.100.1", "u:x", 100, WM_AUTHLIMIT_REFUSED, NULL), 0);
	assert_int_equal(attempt(l, "198.51.100.2", "u:x", 101, WM_AUTHLIMIT_REFUSED, NULL),
			 -EAGAIN);
	char src[32], user[32];
	for (int i = 0; i < 3; i++) {
		snprintf(src, sizeof(src), "198.51.100.%d", 10 + i);
		snprintf(user, sizeof(user), "u:y%d", i);
		assert_int_equal(attempt(l, src, user, 102 + i, WM_AUTHLIMIT_REFUSED, NULL), 0);
	}
	assert_int_equal(attempt(l, "198.51.100.20", "u:x", 110, WM_AUTHLIMIT_REFUSED, NULL), 0);
	assert_int_equal(attempt(l, "198.51.100.21", "u:y2", 110, WM_AUTHLIMIT_REFUSED, &retry),
			 -EAGAIN);
	assert_int_equal(retry, 94);
	wm_authlimit_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_key),
		cmocka_unit_test(test_logonce),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_user_backoff_and_good_pairs),
		cmocka_unit_test(test_pending_and_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
