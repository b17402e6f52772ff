/* Helpers for tests that run a real store on loopback (include after cmocka.h). */
#ifndef WM_TEST_STORE_LIVE_H
#define WM_TEST_STORE_LIVE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "store/store.h"

/* A TCP port free on 127.0.0.1 right now (for a store's raft address). */
static inline int test_free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* For a wait loop: the store (arg) leads. */
static inline bool test_is_leader(void *arg)
{
	struct wm_store_status st;

	wm_store_status(arg, &st);
	return st.is_leader;
}

static inline void test_stop_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs loop until *done or deadline_ms have passed (a bound, not an expected
 * duration); returns *done. */
static inline bool test_run_until(uv_loop_t *loop, bool *done, uint64_t deadline_ms)
{
	uv_timer_t poll, deadline;
	uint64_t start = uv_now(loop);

	uv_timer_init(loop, &poll);
	uv_timer_init(loop, &deadline);
	uv_timer_start(&poll, test_stop_cb, 5, 5);
	uv_timer_start(&deadline, test_stop_cb, deadline_ms, 0);
	while (!*done && uv_now(loop) - start < deadline_ms)
		uv_run(loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&poll, NULL);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *done;
}

struct test_apply_result {
	bool done;
	int err;
};

static inline void test_apply_cb(void *data, const struct wm_store_result *res)
{
	struct test_apply_result *r = data;

	r->done = true;
	r->err = res->err;
}

/* Applies cmd on s and runs loop until it is applied (20 s at most): the
 * store's error, or wm_store_apply's. */
static inline int test_apply(uv_loop_t *loop, struct wm_store *s, Webmesh__V1__RaftCommand *cmd)
{
	struct test_apply_result r = {0};
	int err = wm_store_apply(s, cmd, test_apply_cb, &r);

	if (err)
		return err;
	assert_true(test_run_until(loop, &r.done, 20000));
	return r.err;
}

#endif
