/* The authentication chain's limits (src/auth/auth.c with core/authlimit.h)
 * against a real htpasswd authenticator on the threadpool: 500 concurrent
 * wrong passwords from one address take 4 places in the queue, the rest are
 * turned away unchecked; the source and the attacked name then wait; the
 * name's owner from its own address still gets through at once. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/auth.h"
#include "core/base64.h"
#include "test_util.h"

/* crypt(3) bcrypt hash of "pw". */
#define PW_BCRYPT "$2b$05$abcdefghijklmnopqrstuuHIrMEWpUCQe2YqFR3sXwQ75u4od..9q"

static char path[] = "/tmp/wm-test-authlim-XXXXXX";

struct result {
	int done, err;
	char id[WM_AUTH_ID_MAX + 1];
};

static void done_cb(void *data, int err, const struct wm_identity *id, const char *why)
{
	(void)why;
	struct result *r = data;
	r->done++;
	r->err = err;
	if (id)
		snprintf(r->id, sizeof(r->id), "%s", id->id);
}

static struct wm_auth *chain(uv_loop_t *loop, const struct wm_auth_limits *lim)
{
	struct wm_auth *a;
	struct wm_authenticator au;
	char err[256];
	assert_int_equal(wm_auth_new(loop, &a), 0);
	assert_int_equal(wm_auth_basic_new(path, &au, err, sizeof(err)), 0);
	assert_int_equal(wm_auth_add(a, &au), 0);
	if (lim)
		assert_int_equal(wm_auth_set_limits(a, lim), 0);
	return a;
}

static int submit(struct wm_auth *a, const char *peer, const char *user, const char *pass,
		  struct result *r)
{
	struct wm_auth_request req = {.authorization = test_basic_auth(user, pass), .peer = peer};
	memset(r, 0, sizeof(*r));
	return wm_auth_authenticate(a, &req, done_cb, r);
}

static int run(struct wm_auth *a, uv_loop_t *loop, const char *peer, const char *user,
	       const char *pass)
{
	struct result r;
	int rv = submit(a, peer, user, pass, &r);
	if (rv)
		return rv;
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(r.done, 1);
	return r.err;
}

static int setup(void **state)
{
	(void)state;
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	const char text[] = "alice:" PW_BCRYPT "\nbob:" PW_BCRYPT "\n";
	if (write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void test_hammer(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wm_auth *a = chain(&loop, NULL);
	/* alice logs in from her address once. */
	assert_int_equal(run(a, &loop, "192.0.2.1:40000", "alice", "pw"), 0);
	/* 500 wrong passwords at once from one address, for alice. */
	static struct result r[500];
	int queued = 0, busy = 0;
	for (int i = 0; i < 500; i++) {
		char peer[32];
		snprintf(peer, sizeof(peer), "203.0.113.9:%d", 1000 + i);
		int rv = submit(a, peer, "alice", "guess", &r[i]);
		if (rv == 0)
			queued++;
		else if (rv == -EUSERS)
			busy++;
		else
			fail_msg("attempt %d: %d", i, rv);
	}
	assert_int_equal(queued, 4);
	assert_int_equal(busy, 496);
	/* alice, meanwhile, from her own address: in the queue, and through. */
	struct result mine;
	assert_int_equal(submit(a, "192.0.2.1:40001", "alice", "pw", &mine), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(mine.done, 1);
	assert_int_equal(mine.err, 0);
	assert_string_equal(mine.id, "alice");
	for (int i = 0; i < 4; i++) {
		assert_int_equal(r[i].done, 1);
		assert_int_equal(r[i].err, -EACCES);
	}
	for (int i = 4; i < 500; i++)
		assert_int_equal(r[i].done, 0); /* turned away: no callback */
	/* Now the address waits, and so does the name for any other address;
	 * neither holds back alice's own address or another user. */
	assert_int_equal(submit(a, "203.0.113.9:2000", "bob", "pw", &mine), -EAGAIN);
	assert_int_equal(submit(a, "198.51.100.7:2000", "alice", "pw", &mine), -EAGAIN);
	assert_int_equal(run(a, &loop, "192.0.2.1:40002", "alice", "pw"), 0);
	assert_int_equal(run(a, &loop, "198.51.100.7:2001", "bob", "pw"), 0);
	/* alice's address is not held to its share of the queue for alice (a
	 * server forwarding many calls as itself): ten at once get through. */
	static struct result many[10];
	for (int i = 0; i < 10; i++)
		assert_int_equal(submit(a, "192.0.2.1:40010", "alice", "pw", &many[i]), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 10; i++)
		assert_int_equal(many[i].err, 0);
	/* Logged once per source and minute. */
	assert_true(wm_auth_log_due(a, "203.0.113.9:2000"));
	assert_false(wm_auth_log_due(a, "203.0.113.9:2001"));
	assert_true(wm_auth_log_due(a, "198.51.100.7:2000"));
	/* Requests without an address (tools, tests) are not counted per source. */
	struct wm_auth_request req = {.authorization = test_basic_auth("alice", "guess")};
	struct result x;
	for (int i = 0; i < 8; i++) {
		assert_int_equal(wm_auth_authenticate(a, &req, done_cb, &x), 0);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	wm_auth_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_queue_limits(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wm_auth *a = chain(
		&loop, &(struct wm_auth_limits){.max_pending = 5, .max_pending_per_source = 3});
	static struct result r[8];
	assert_int_equal(submit(a, "192.0.2.1:1", "alice", "pw", &r[0]), 0);
	assert_int_equal(submit(a, "192.0.2.1:2", "alice", "pw", &r[1]), 0);
	assert_int_equal(submit(a, "192.0.2.1:3", "alice", "pw", &r[2]), 0);
	assert_int_equal(submit(a, "192.0.2.1:4", "alice", "pw", &r[3]), -EUSERS);
	assert_int_equal(submit(a, "[2001:db8::1]:1", "bob", "pw", &r[3]), 0);
	/* Another address of the same /64 is the same source. */
	assert_int_equal(submit(a, "[2001:db8::2]:1", "bob", "pw", &r[4]), 0);
	/* The queue is full in all. */
	assert_int_equal(submit(a, "198.51.100.1:1", "bob", "pw", &r[5]), -EBUSY);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 5; i++)
		assert_int_equal(r[i].err, 0);
	/* The local socket is never limited. */
	struct wm_auth_request local = {.local = true, .peer = "unix"};
	for (int i = 0; i < 5; i++)
		assert_int_equal(wm_auth_authenticate(a, &local, done_cb, &r[i]), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	for (int i = 0; i < 5; i++)
		assert_int_equal(r[i].err, 0);
	wm_auth_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A call with no credentials guessed nothing: refused, but the address does
 * not wait for it; a wrong password does make it wait. */
static void test_no_credentials_cost_no_wait(void **state)
{
	(void)state;
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct wm_auth *a = chain(&loop, NULL);
	struct wm_auth_request none = {.peer = "192.0.2.7:1"};
	struct result r;
	for (int i = 0; i < 3; i++) {
		memset(&r, 0, sizeof(r));
		assert_int_equal(wm_auth_authenticate(a, &none, done_cb, &r), 0);
		uv_run(&loop, UV_RUN_DEFAULT);
		assert_int_equal(r.err, -EACCES);
	}
	assert_int_equal(run(a, &loop, "192.0.2.7:2", "alice", "pw"), 0);
	assert_int_equal(run(a, &loop, "192.0.2.7:3", "alice", "wrong"), -EACCES);
	assert_int_equal(submit(a, "192.0.2.7:4", "alice", "pw", &r), -EAGAIN);
	wm_auth_free(a);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hammer),
		cmocka_unit_test(test_queue_limits),
		cmocka_unit_test(test_no_credentials_cost_no_wait),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
