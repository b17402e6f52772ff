/* The NAT layer's name lookups (src/node/nat_resolve.c): numeric hosts at
 * once, names on libuv's threadpool with the answer on the loop, and a
 * cancelled lookup that reports nothing but ECANCELED and frees itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <string.h>

#include <cmocka.h>

#include "node/nat_int.h"

struct result {
	int calls;
	int status;
	struct wm_endpoint ep;
};

static void cb(void *data, int status, const struct wm_endpoint *ep)
{
	struct result *r = data;

	r->calls++;
	r->status = status;
	if (ep)
		r->ep = *ep;
}

static void test_numeric_is_immediate(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct wm_endpoint ep = {0};
	struct wm_nat_resolve *req = (void *)1;
	struct result r = {0};
	char buf[WM_ENDPOINT_STRLEN];

	uv_loop_init(&loop);
	assert_int_equal(wm_nat_resolve(&loop, "203.0.113.10", 3478, &ep, cb, &r, &req), 0);
	assert_null(req);
	wm_endpoint_format(&ep, buf, sizeof(buf));
	assert_string_equal(buf, "203.0.113.10:3478");
	assert_int_equal(wm_nat_resolve(&loop, "2001:db8::1", 3479, &ep, cb, &r, &req), 0);
	wm_endpoint_format(&ep, buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::1]:3479");
	/* nothing was queued: the loop has nothing to run */
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_name_on_the_threadpool(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct wm_endpoint ep = {0};
	struct wm_nat_resolve *req = NULL;
	struct result r = {0};
	char buf[WM_ENDPOINT_STRLEN];

	uv_loop_init(&loop);
	/* "localhost" comes from /etc/hosts: no network needed */
	assert_int_equal(wm_nat_resolve(&loop, "localhost", 3478, &ep, cb, &r, &req), 1);
	assert_non_null(req);
	assert_int_equal(r.calls, 0); /* the answer comes on the loop, later */
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 0);
	wm_endpoint_format(&r.ep, buf, sizeof(buf));
	/* IPv4 first when the name has both */
	assert_true(strcmp(buf, "127.0.0.1:3478") == 0 || strcmp(buf, "[::1]:3478") == 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_cancel(void **state)
{
	(void)state;
	uv_loop_t loop;
	struct wm_endpoint ep = {0};
	struct wm_nat_resolve *req = NULL;
	struct result r = {0};

	uv_loop_init(&loop);
	assert_int_equal(wm_nat_resolve(&loop, "localhost", 3478, &ep, cb, &r, &req), 1);
	wm_nat_resolve_cancel(req);
	wm_nat_resolve_cancel(NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* whether the lookup had started or not: one call, ECANCELED, no
	 * address, and the request is gone (the loop has nothing left and closes) */
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, -ECANCELED);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numeric_is_immediate),
		cmocka_unit_test(test_name_on_the_threadpool),
		cmocka_unit_test(test_cancel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
