/* Helpers for tests that run a real store on loopback (include after cmocka.h). */
#ifndef WM_TEST_STORE_LIVE_H
#define WM_TEST_STORE_LIVE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "core/key.h"
#include "store/store.h"
#include "util/crypto.h"
#include "webmesh/v1/raft.pb-c.h"

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

/* A loop to run until a condition holds, bounded in time. */
struct test_loop {
	uv_loop_t loop;
	uv_timer_t poll, deadline;
	bool timed_out;
	bool (*cond)(void *);
	void *arg;
};

static inline void test_loop_poll_cb(uv_timer_t *t)
{
	struct test_loop *l = t->data;
	if (l->cond(l->arg))
		uv_stop(&l->loop);
}

static inline void test_loop_deadline_cb(uv_timer_t *t)
{
	struct test_loop *l = t->data;
	l->timed_out = true;
	uv_stop(&l->loop);
}

static inline void test_loop_init(struct test_loop *l)
{
	assert_int_equal(uv_loop_init(&l->loop), 0);
	uv_timer_init(&l->loop, &l->poll);
	uv_timer_init(&l->loop, &l->deadline);
	l->poll.data = l->deadline.data = l;
}

/* Runs the loop until cond(arg) is true (polled every 5 ms) or 20 s passed;
 * returns whether it became true. */
static inline bool test_run_until(struct test_loop *l, bool (*cond)(void *), void *arg)
{
	if (cond(arg))
		return true;
	l->cond = cond;
	l->arg = arg;
	l->timed_out = false;
	uv_timer_start(&l->poll, test_loop_poll_cb, 5, 5);
	uv_timer_start(&l->deadline, test_loop_deadline_cb, 20000, 0);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&l->poll);
	uv_timer_stop(&l->deadline);
	return !l->timed_out && cond(arg);
}

/* Closes the loop; every other handle must be closed already. */
static inline void test_loop_close(struct test_loop *l)
{
	uv_close((uv_handle_t *)&l->poll, NULL);
	uv_close((uv_handle_t *)&l->deadline, NULL);
	uv_run(&l->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&l->loop), 0);
}

static inline bool test_flag_set(void *arg)
{
	return *(bool *)arg;
}

/* For close and done callbacks that take only data: sets the bool. */
static inline void test_set_flag_cb(void *data)
{
	*(bool *)data = true;
}

struct test_applied {
	bool done;
	int err;
	char message[256];
};

static inline void test_applied_cb(void *data, const struct wm_store_result *res)
{
	struct test_applied *a = data;
	a->done = true;
	a->err = res->err;
	snprintf(a->message, sizeof(a->message), "%s", res->message);
}

/* Applies a packed RaftCommand (freed here) on s and waits until it is
 * applied without error. */
static inline void test_apply_packed(struct test_loop *l, struct wm_store *s, uint8_t *buf,
				     size_t len)
{
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	struct test_applied a = {0};

	free(buf);
	assert_non_null(cmd);
	assert_int_equal(wm_store_apply(s, cmd, test_applied_cb, &a), 0);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	assert_true(test_run_until(l, test_flag_set, &a.done));
	if (a.err)
		fail_msg("apply: %s", a.message);
}

static inline void test_stop_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* Runs loop until *done or deadline_ms have passed (a bound, not an expected
 * duration); returns *done. */
static inline bool test_run_flag(uv_loop_t *loop, bool *done, uint64_t deadline_ms)
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
	assert_true(test_run_flag(loop, &r.done, 20000));
	return r.err;
}

/* A node's WireGuard key pair for a live store: the private key is a
 * function of seed, the public key its X25519 (base64 for test_join). */
struct test_wg {
	const char *id;
	uint8_t priv[32];
	uint8_t pub[32];
	char pub_b64[WM_KEY_B64_LEN + 1];
	bool server; /* what test_peer_lookup says about it */
};

static inline void test_wg_init(struct test_wg *w, const char *id, int seed, bool server)
{
	w->id = id;
	for (int i = 0; i < 32; i++)
		w->priv[i] = (uint8_t)(seed * 131 + i * 17 + 5);
	assert_int_equal(wm_x25519_public(w->priv, w->pub), 0);
	wm_key_to_base64(w->pub, w->pub_b64);
	w->server = server;
}

/* wm_store_peer_lookup_fn over an array of struct test_wg ending with a
 * NULL id (data); NULL data knows nobody. */
static inline int test_peer_lookup(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
				   uint8_t pub[32], bool *is_server)
{
	for (const struct test_wg *w = data; w && w->id; w++) {
		if (wm_store_raft_id(w->id) != raft_id)
			continue;
		snprintf(node_id, WM_NODE_ID_MAX + 1, "%s", w->id);
		memcpy(pub, w->pub, 32);
		*is_server = w->server;
		return 0;
	}
	return -ENOENT;
}

/* What a unary call answered (wm_rpc_client_unary with test_unary_cb). */
struct test_unary {
	bool done;
	int status;
	char message[256];
	uint8_t resp[4096];
	size_t len; /* 0 when the answer is missing or larger than resp */
};

static inline void test_unary_cb(void *data, int status, const char *message, const uint8_t *resp,
				 size_t len)
{
	struct test_unary *u = data;

	u->done = true;
	u->status = status;
	snprintf(u->message, sizeof(u->message), "%s", message ? message : "");
	u->len = 0;
	if (resp && len <= sizeof(u->resp)) {
		memcpy(u->resp, resp, len);
		u->len = len;
	}
}

/* A key for stores that never talk to another (any 32 bytes do). */
static const uint8_t test_lone_key[32] = {1, 2, 3, 4, 5, 6, 7, 8};

/* Opens a store in dir that bootstraps a mesh alone as node_id, on a free
 * loopback port, and runs loop until it leads (bounded in iterations). */
static inline struct wm_store *test_lone_leader(uv_loop_t *loop, const char *dir,
						const char *node_id)
{
	char addr[32], err[512];
	struct wm_store *s = NULL;

	snprintf(addr, sizeof(addr), "127.0.0.1:%d", test_free_port());
	struct wm_store_config cfg = {.dir = dir,
				      .node_id = node_id,
				      .raft_address = addr,
				      .bootstrap = true,
				      .heartbeat_ms = 50,
				      .election_ms = 300,
				      .wg_private_key = test_lone_key,
				      .peer_lookup = test_peer_lookup};
	assert_int_equal(wm_store_open(loop, &cfg, &s, err, sizeof(err)), 0);
	for (int i = 0; i < 400 && !test_is_leader(s); i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_true(test_is_leader(s));
	return s;
}

#endif
