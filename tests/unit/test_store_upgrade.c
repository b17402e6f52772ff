/* A live store (libuv, loopback) that meets an entry of a newer build: what
 * its status says, that writes are not applied, and that a restart on the
 * same build stops at the same entry again (src/store, core/cmdver.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/cmdver.h"
#include "core/error.h"
#include "store/store_int.h"
#include "test_store_live.h"
#include "test_store_util.h"

struct raw {
	bool done;
	int status;
	uint64_t index;
};

static void raw_cb(struct raft_apply *req, int status, void *result)
{
	struct raw *r = req->data;

	(void)result;
	r->done = true;
	r->status = status;
	r->index = req->index;
}

static bool stalled(void *arg)
{
	struct wm_store_status st;

	wm_store_status(arg, &st);
	return st.stalled_index != 0;
}

static void close_store(struct test_loop *l, struct wm_store *s)
{
	bool closed = false;

	wm_store_close(s, test_set_flag_cb, &closed);
	assert_true(test_run_until(l, test_flag_set, &closed));
}

static void test_live_store_stops_and_says_so(void **state)
{
	char dir[] = "/tmp/wm-test-upgrade-XXXXXX", addr[32], err[512], cmd[64];
	struct test_loop l;
	struct wm_store *s;
	struct wm_store_status st;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", test_free_port());
	struct wm_store_config cfg = {.dir = dir,
				      .node_id = "n1",
				      .raft_address = addr,
				      .bootstrap = true,
				      .heartbeat_ms = 50,
				      .election_ms = 300,
				      .wg_private_key = test_lone_key,
				      .peer_lookup = test_peer_lookup};
	test_loop_init(&l);
	assert_int_equal(wm_store_open(&l.loop, &cfg, &s, err, sizeof(err)), 0);
	assert_true(test_run_until(&l, test_is_leader, s));
	uint8_t *boot = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	test_apply_packed(&l, s, boot, len);

	/* alone, the mesh runs this build's version; a member's claim (not a
	 * voter) changes nothing */
	wm_store_note_version(s, "m1", 1);
	wm_store_status(s, &st);
	assert_int_equal(st.command_version, WM_CMD_VERSION);
	assert_int_equal(st.mesh_command_version, WM_CMD_VERSION);
	assert_int_equal(st.stalled_index, 0);

	/* a write asking for more than the mesh runs is refused through its
	 * callback, after the call, and nothing is stored */
	size_t ql;
	uint8_t *qb = test_join_cmd(&(struct test_join){.id = "q", .key_seed = 5}, &ql);
	Webmesh__V1__RaftCommand *q = webmesh__v1__raft_command__unpack(NULL, ql, qb);
	free(qb);
	q->min_version = WM_CMD_VERSION + 1;
	struct test_applied qa = {0};
	assert_int_equal(wm_store_apply(s, q, test_applied_cb, &qa), 0);
	webmesh__v1__raft_command__free_unpacked(q, NULL);
	assert_false(qa.done);
	assert_true(test_run_until(&l, test_flag_set, &qa.done));
	assert_int_equal(qa.err, -WM_EVERSION);
	assert_string_equal(qa.message, "mesh runs command version 3, this write (JoinNode) needs "
					"4: upgrade every voter first");
	struct wm_mesh_node qn;
	assert_int_equal(wm_store_get_node(s, "q", &qn), -ENOENT);
	wm_store_status(s, &st);
	assert_int_equal(st.stalled_index, 0);

	/* an entry of a newer build, written as its leader would */
	size_t jl;
	uint8_t *jb = test_join_cmd(&(struct test_join){.id = "new", .key_seed = 3}, &jl);
	Webmesh__V1__RaftCommand *c = webmesh__v1__raft_command__unpack(NULL, jl, jb);
	free(jb);
	assert_non_null(c);
	c->min_version = WM_CMD_VERSION + 1;
	struct raft_buffer b;
	assert_int_equal(wm_store_entry_encode(c, &b), 0);
	webmesh__v1__raft_command__free_unpacked(c, NULL);
	struct raw r = {0};
	struct raft_apply req = {.data = &r};
	assert_int_equal(raft_apply(&s->raft, &req, &b, 1, raw_cb), 0);
	assert_true(test_run_until(&l, test_flag_set, &r.done));
	assert_int_equal(r.status, 0);

	wm_store_status(s, &st);
	assert_int_equal(st.stalled_index, r.index);
	assert_int_equal(st.stalled_needs, WM_CMD_VERSION + 1);
	assert_false(st.caught_up);
	assert_non_null(strstr(st.behind, "stopped applying the Raft log"));
	/* writes after it are committed but not applied */
	struct test_applied a = {0};
	jb = test_join_cmd(&(struct test_join){.id = "n2", .key_seed = 4}, &jl);
	c = webmesh__v1__raft_command__unpack(NULL, jl, jb);
	free(jb);
	assert_int_equal(wm_store_apply(s, c, test_applied_cb, &a), 0);
	webmesh__v1__raft_command__free_unpacked(c, NULL);
	assert_true(test_run_until(&l, test_flag_set, &a.done));
	assert_int_equal(a.err, -WM_EVERSION);
	struct wm_mesh_node n;
	assert_int_equal(wm_store_get_node(s, "n2", &n), -ENOENT);
	close_store(&l, s);

	/* restarted on the same build: replayed, and stopped at the same entry */
	assert_int_equal(wm_store_open(&l.loop, &cfg, &s, err, sizeof(err)), 0);
	assert_true(test_run_until(&l, stalled, s));
	wm_store_status(s, &st);
	assert_int_equal(st.stalled_index, r.index);
	assert_int_equal(wm_store_get_node(s, "n2", &n), -ENOENT);
	close_store(&l, s);
	test_loop_close(&l);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_live_store_stops_and_says_so),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
