/* The heartbeat component (src/node/heartbeat.c) on a real loop: it sends
 * through the callback it was given, tells of an unanswered heartbeat
 * through another, keeps quiet once closed, and leaves no handle behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "node/heartbeat.h"
#include "webmesh/v1/mesh.pb-c.h"

struct fixture {
	uv_loop_t loop;
	struct wm_heartbeat h;
	int sends, failures, closes;
	int answer;		 /* gRPC status the fake leader answers with */
	int refuse;		 /* send returns this (nobody to send to) when set */
	int close_after;	 /* close the component after this many sends */
	wm_rpc_unary_cb late_cb; /* an answer kept to arrive after close */
	void *late_data;
	char last_id[64];
};

static void closed_cb(void *data)
{
	struct fixture *f = data;
	f->closes++;
}

static int send_cb(void *data, const char *path, const uint8_t *req, size_t len,
		   uint64_t timeout_ms, wm_rpc_unary_cb done_cb, void *done_data)
{
	struct fixture *f = data;
	assert_string_equal(path, "/webmesh.v1.Membership/Heartbeat");
	assert_int_equal(timeout_ms, 5);
	Webmesh__V1__HeartbeatRequest *r = webmesh__v1__heartbeat_request__unpack(NULL, len, req);
	assert_non_null(r);
	snprintf(f->last_id, sizeof(f->last_id), "%s", r->id);
	webmesh__v1__heartbeat_request__free_unpacked(r, NULL);
	f->sends++;
	if (f->sends >= f->close_after) {
		/* this answer arrives after the close */
		f->late_cb = done_cb;
		f->late_data = done_data;
		wm_heartbeat_close(&f->h, closed_cb, f);
		return 0;
	}
	if (f->refuse)
		return f->refuse;
	done_cb(done_data, f->answer, "test", NULL, 0);
	return 0;
}

static void failed_cb(void *data)
{
	struct fixture *f = data;
	f->failures++;
}

static void run(struct fixture *f, int answer, int refuse, int close_after)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->answer = answer;
	f->refuse = refuse;
	f->close_after = close_after;
	struct wm_heartbeat_config c = {
		.loop = &f->loop,
		.node_id = "node-a",
		.interval_ms = 5,
		.send = send_cb,
		.upstream_failed_cb = failed_cb,
		.data = f,
	};
	wm_heartbeat_init(&f->h, &c);
	wm_heartbeat_start(&f->h);
	wm_heartbeat_start(&f->h); /* idempotent: one timer, one tick per interval */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(f->closes, 1);
	/* the component left no handle open */
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void test_answered_heartbeats_fail_nothing(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, WM_GRPC_OK, 0, 4);
	assert_int_equal(f.sends, 4);
	assert_int_equal(f.failures, 0);
	assert_string_equal(f.last_id, "node-a");
}

static void test_unanswered_heartbeat_reports_upstream_failure(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, WM_GRPC_UNAVAILABLE, 0, 4);
	assert_int_equal(f.failures, 3); /* the 4th was answered after close */
	run(&f, WM_GRPC_DEADLINE_EXCEEDED, 0, 3);
	assert_int_equal(f.failures, 2);
	/* a refusal by a live server is no sign that it is gone */
	run(&f, WM_GRPC_PERMISSION_DENIED, 0, 3);
	assert_int_equal(f.failures, 0);
}

static void test_nobody_to_send_to(void **state)
{
	(void)state;
	struct fixture f;
	/* the leader itself, or a node between servers: ticks go on quietly */
	run(&f, WM_GRPC_UNAVAILABLE, -EAGAIN, 3);
	assert_int_equal(f.sends, 3);
	assert_int_equal(f.failures, 0);
}

static void test_answer_after_close_is_ignored(void **state)
{
	(void)state;
	struct fixture f;
	run(&f, WM_GRPC_OK, 0, 1);
	assert_non_null(f.late_cb);
	f.late_cb(f.late_data, WM_GRPC_UNAVAILABLE, "late", NULL, 0);
	assert_int_equal(f.failures, 0);
	/* closing again calls back at once, and only once */
	wm_heartbeat_close(&f.h, closed_cb, &f);
	assert_int_equal(f.closes, 2);
	wm_heartbeat_start(&f.h); /* a closed component does not start again */
	assert_false(f.h.running);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answered_heartbeats_fail_nothing),
		cmocka_unit_test(test_unanswered_heartbeat_reports_upstream_failure),
		cmocka_unit_test(test_nobody_to_send_to),
		cmocka_unit_test(test_answer_after_close_is_ignored),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
