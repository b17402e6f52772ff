/* The replicated store on a real libuv loop and TCP transport (loopback only). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/error.h"
#include "store/store.h"
#include "test_store_live.h"
#include "test_store_util.h"

#define DEADLINE_MS 20000 /* a bound for each wait, not an expected duration */

struct ctx {
	uv_loop_t loop;
	uv_timer_t poll, deadline;
	bool timed_out;
	bool (*cond)(void *arg);
	void *arg;
};

static void poll_cb(uv_timer_t *t)
{
	struct ctx *c = t->data;

	if (c->cond(c->arg))
		uv_stop(&c->loop);
}

static void deadline_cb(uv_timer_t *t)
{
	struct ctx *c = t->data;

	c->timed_out = true;
	uv_stop(&c->loop);
}

/* Runs the loop until cond(arg) holds, or the deadline; true if it held. */
static bool run_until(struct ctx *c, bool (*cond)(void *), void *arg)
{
	if (cond(arg))
		return true;
	c->cond = cond;
	c->arg = arg;
	c->timed_out = false;
	uv_timer_start(&c->poll, poll_cb, 5, 5);
	uv_timer_start(&c->deadline, deadline_cb, DEADLINE_MS, 0);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	uv_timer_stop(&c->poll);
	uv_timer_stop(&c->deadline);
	return !c->timed_out && cond(arg);
}

static void ctx_init(struct ctx *c)
{
	assert_int_equal(uv_loop_init(&c->loop), 0);
	uv_timer_init(&c->loop, &c->poll);
	uv_timer_init(&c->loop, &c->deadline);
	c->poll.data = c->deadline.data = c;
}

/* Closes our timers and checks that nothing else is left on the loop. */
static void ctx_close(struct ctx *c)
{
	uv_close((uv_handle_t *)&c->poll, NULL);
	uv_close((uv_handle_t *)&c->deadline, NULL);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&c->loop), 0);
}

static bool flag_set(void *arg)
{
	return *(bool *)arg;
}

struct result {
	bool done;
	struct wm_store_result res;
};

static void result_cb(void *data, const struct wm_store_result *res)
{
	struct result *r = data;

	r->done = true;
	r->res = *res;
}

static void done_cb(void *data)
{
	*(bool *)data = true;
}

struct change_count {
	unsigned n;
	uint64_t last;
};

static void count_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	struct change_count *cc = data;

	assert_non_null(cmd);
	assert_true(index > cc->last);
	cc->last = index;
	cc->n++;
}

static int apply_packed(struct ctx *c, struct wm_store *s, uint8_t *buf, size_t len,
			struct result *r)
{
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	int err;

	free(buf);
	memset(r, 0, sizeof(*r));
	err = wm_store_apply(s, cmd, result_cb, r);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	if (err)
		return err;
	assert_false(r->done); /* never from within the call */
	assert_true(run_until(c, flag_set, &r->done));
	return r->res.err;
}

static int apply_join(struct ctx *c, struct wm_store *s, const char *id, int seed,
		      const char *request, struct result *r)
{
	size_t len;
	uint8_t *buf = test_join_cmd(
		&(struct test_join){
			.id = id, .key_seed = seed, .request = request, .full_mesh = true},
		&len);

	return apply_packed(c, s, buf, len, r);
}

static int apply_join_key(struct ctx *c, struct wm_store *s, const struct test_wg *w,
			  struct result *r)
{
	size_t len;
	uint8_t *buf = test_join_cmd(
		&(struct test_join){.id = w->id, .key = w->pub_b64, .full_mesh = true}, &len);

	return apply_packed(c, s, buf, len, r);
}

static void close_store(struct ctx *c, struct wm_store *s)
{
	bool closed = false;

	wm_store_close(s, done_cb, &closed);
	assert_true(run_until(c, flag_set, &closed));
}

static void rm_rf(const char *dir)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_bootstrap_resume_lock(void **state)
{
	(void)state;
	char dir[] = "/tmp/wm-test-store-XXXXXX", addr[32], err[512];
	struct wm_store *s, *s2;
	struct wm_store_status st;
	struct change_count cc = {0};
	struct result r;
	struct ctx c;
	char *before, *after;
	size_t len;

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
	ctx_init(&c);
	assert_int_equal(wm_store_open(&c.loop, &cfg, &s, err, sizeof(err)), 0);

	/* One daemon per directory, even within one process. */
	assert_int_equal(wm_store_open(&c.loop, &cfg, &s2, err, sizeof(err)), -WM_ELOCKED);
	assert_non_null(strstr(err, dir));
	assert_null(s2);

	assert_true(run_until(&c, test_is_leader, s));
	assert_int_equal(wm_store_on_change(s, count_cb, &cc), 0);
	uint8_t *buf = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	assert_int_equal(apply_packed(&c, s, buf, len, &r), 0);
	assert_int_equal(apply_join(&c, s, "n1", 1, "172.16.0.1", &r), 0);
	char ip[WM_PREFIX_STRLEN];
	wm_prefix_format(&r.res.node.ipv4, ip, sizeof(ip));
	assert_string_equal(ip, "172.16.0.1/32");
	assert_int_equal(apply_join(&c, s, "n1", 2, NULL, &r), -WM_EKEYMISMATCH);
	assert_string_equal(r.res.message, "node ID n1 is registered with another public key");
	assert_int_equal(cc.n, 2);

	wm_store_status(s, &st);
	assert_string_equal(st.state, "leader");
	assert_string_equal(st.leader_id, "n1");
	assert_string_equal(st.leader_address, addr);
	assert_int_equal(st.n_members, 1);
	assert_string_equal(st.members[0].node_id, "n1");
	assert_int_equal(st.members[0].role, WM_ROLE_VOTER);
	assert_true(st.applied_index >= r.res.index);
	assert_int_equal(wm_store_dump(s, &before), 0);
	close_store(&c, s);

	/* Same directory, bootstrap still set: it resumes from its log. */
	assert_int_equal(wm_store_open(&c.loop, &cfg, &s, err, sizeof(err)), 0);
	assert_true(run_until(&c, test_is_leader, s));
	memset(&r, 0, sizeof(r));
	assert_int_equal(wm_store_barrier(s, result_cb, &r), 0);
	assert_true(run_until(&c, flag_set, &r.done));
	assert_int_equal(r.res.err, 0);
	assert_int_equal(wm_store_dump(s, &after), 0);
	assert_string_equal(before, after);
	free(before);
	free(after);
	wm_store_status(s, &st);
	assert_int_equal(st.n_members, 1); /* not bootstrapped a second time */
	struct wm_mesh_node n;
	assert_int_equal(wm_store_get_node(s, "n1", &n), 0);
	wm_prefix_format(&n.ipv4, ip, sizeof(ip));
	assert_string_equal(ip, "172.16.0.1/32");
	assert_int_equal(apply_join(&c, s, "n2", 2, NULL, &r), 0);
	wm_prefix_format(&r.res.node.ipv4, ip, sizeof(ip));
	assert_string_equal(ip, "172.16.0.2/32");
	close_store(&c, s);
	ctx_close(&c);
	rm_rf(dir);
}

struct member_done {
	bool done;
	int err;
};

static void member_cb(void *data, int err)
{
	struct member_done *m = data;

	m->done = true;
	m->err = err;
}

static void test_not_leader_and_config(void **state)
{
	(void)state;
	char dir[] = "/tmp/wm-test-store-XXXXXX", addr[32], err[512];
	struct wm_store *s;
	struct result r;
	struct ctx c;
	size_t len;

	assert_non_null(mkdtemp(dir));
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", test_free_port());
	ctx_init(&c);
	struct wm_store_config bad = {.dir = dir,
				      .node_id = "n1",
				      .raft_address = "[::1]:9000",
				      .wg_private_key = test_lone_key,
				      .peer_lookup = test_peer_lookup};
	assert_int_equal(wm_store_open(&c.loop, &bad, &s, err, sizeof(err)), -WM_ECONFIG);
	assert_non_null(strstr(err, "raft address"));
	bad.raft_address = addr;
	/* Raft connections cannot be authenticated without the node's key. */
	bad.wg_private_key = NULL;
	assert_int_equal(wm_store_open(&c.loop, &bad, &s, err, sizeof(err)), -WM_ECONFIG);
	assert_string_equal(err, "raft needs the node's WireGuard private key and a peer lookup "
				 "to authenticate its connections");
	bad.wg_private_key = test_lone_key;
	bad.node_id = "Not_An_ID";
	assert_int_equal(wm_store_open(&c.loop, &bad, &s, err, sizeof(err)), -WM_ECONFIG);
	bad.node_id = "n1";
	bad.heartbeat_ms = 500;
	bad.election_ms = 400;
	assert_int_equal(wm_store_open(&c.loop, &bad, &s, err, sizeof(err)), -WM_ECONFIG);

	/* A raft address someone else listens on: refused, and everything that
	 * was set up is released once the loop runs (ctx_close checks). */
	int busy = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	assert_int_equal(bind(busy, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(busy, 1), 0);
	assert_int_equal(getsockname(busy, (struct sockaddr *)&sa, &salen), 0);
	char busy_addr[32];
	snprintf(busy_addr, sizeof(busy_addr), "127.0.0.1:%d", ntohs(sa.sin_port));
	struct wm_store_config taken = {.dir = dir,
					.node_id = "n1",
					.raft_address = busy_addr,
					.bootstrap = true,
					.wg_private_key = test_lone_key,
					.peer_lookup = test_peer_lookup};
	err[0] = '\0';
	assert_int_not_equal(wm_store_open(&c.loop, &taken, &s, err, sizeof(err)), 0);
	assert_null(s);
	assert_non_null(strstr(err, busy_addr));
	uv_run(&c.loop, UV_RUN_DEFAULT); /* only the failed store's handles are active */
	close(busy);

	/* No bootstrap, no state: a node waiting to be added, and not a leader. */
	struct wm_store_config cfg = {.dir = dir,
				      .node_id = "n1",
				      .raft_address = addr,
				      .wg_private_key = test_lone_key,
				      .peer_lookup = test_peer_lookup};
	assert_int_equal(wm_store_open(&c.loop, &cfg, &s, err, sizeof(err)), 0);
	uint8_t *buf = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	assert_int_equal(apply_packed(&c, s, buf, len, &r), -WM_ENOTLEADER);
	assert_false(r.done);
	assert_int_equal(wm_store_barrier(s, result_cb, &r), -WM_ENOTLEADER);
	struct member_done m = {0};
	assert_int_equal(wm_store_transfer_leadership(s, member_cb, &m), -WM_ENOTLEADER);
	assert_int_equal(wm_store_add_member(s, "n2", addr, WM_ROLE_VOTER, member_cb, &m),
			 -WM_ENOTLEADER);
	struct wm_mesh_info info;
	assert_int_equal(wm_store_mesh_info(s, &info), -WM_ENOMESH);
	close_store(&c, s);
	ctx_close(&c);
	rm_rf(dir);
}

struct caught_up {
	struct wm_store *a, *b;
};

static bool b_caught_up(void *arg)
{
	struct caught_up *cu = arg;
	struct wm_store_status sa, sb;

	wm_store_status(cu->a, &sa);
	wm_store_status(cu->b, &sb);
	return sb.applied_index >= sa.applied_index;
}

/* Two stores on one loop: adding a voter, replication, leadership transfer. */
static void test_membership(void **state)
{
	(void)state;
	char da[] = "/tmp/wm-test-store-XXXXXX", db[] = "/tmp/wm-test-store-XXXXXX";
	char aa[32], ab[32], err[512];
	struct wm_store *a, *b;
	struct member_done m = {0};
	struct wm_store_status st;
	struct result r;
	struct ctx c;
	size_t len;

	assert_non_null(mkdtemp(da));
	assert_non_null(mkdtemp(db));
	snprintf(aa, sizeof(aa), "127.0.0.1:%d", test_free_port());
	do
		snprintf(ab, sizeof(ab), "127.0.0.1:%d", test_free_port());
	while (strcmp(aa, ab) == 0);
	ctx_init(&c);
	/* beta learnt alpha's key at join; alpha finds beta's in its replica. */
	struct test_wg wg[3] = {0};
	test_wg_init(&wg[0], "alpha", 1, true);
	test_wg_init(&wg[1], "beta", 2, true);
	struct wm_store_config ca = {.dir = da,
				     .node_id = "alpha",
				     .raft_address = aa,
				     .bootstrap = true,
				     .heartbeat_ms = 50,
				     .election_ms = 300,
				     .wg_private_key = wg[0].priv,
				     .peer_lookup = test_peer_lookup};
	struct wm_store_config cb = ca;
	cb.dir = db;
	cb.node_id = "beta";
	cb.raft_address = ab;
	cb.bootstrap = false;
	cb.wg_private_key = wg[1].priv;
	cb.peer_data = wg;
	assert_int_equal(wm_store_open(&c.loop, &ca, &a, err, sizeof(err)), 0);
	assert_int_equal(wm_store_open(&c.loop, &cb, &b, err, sizeof(err)), 0);
	assert_true(run_until(&c, test_is_leader, a));
	uint8_t *buf = test_bootstrap_cmd("172.16.0.0/12", "fd00:aa:bb::/48", &len);
	assert_int_equal(apply_packed(&c, a, buf, len, &r), 0);
	assert_int_equal(apply_join_key(&c, a, &wg[0], &r), 0);
	assert_int_equal(apply_join_key(&c, a, &wg[1], &r), 0);

	assert_int_equal(wm_store_add_member(a, "beta", "bad", WM_ROLE_VOTER, member_cb, &m),
			 -EINVAL);
	assert_int_equal(wm_store_add_member(a, "beta", ab, WM_ROLE_VOTER, member_cb, &m), 0);
	assert_true(run_until(&c, flag_set, &m.done));
	assert_int_equal(m.err, 0);
	assert_int_equal(wm_store_add_member(a, "beta", ab, WM_ROLE_VOTER, member_cb, &m),
			 -EALREADY);
	/* An entry after the change, so that beta has everything once it has it. */
	memset(&r, 0, sizeof(r));
	assert_int_equal(wm_store_barrier(a, result_cb, &r), 0);
	assert_true(run_until(&c, flag_set, &r.done));
	struct caught_up cu = {a, b};
	assert_true(run_until(&c, b_caught_up, &cu));
	char *d1, *d2;
	assert_int_equal(wm_store_dump(a, &d1), 0);
	assert_int_equal(wm_store_dump(b, &d2), 0);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);
	wm_store_status(b, &st);
	assert_string_equal(st.leader_id, "alpha"); /* mapped through the nodes table */
	assert_int_equal(st.n_members, 2);

	memset(&m, 0, sizeof(m));
	assert_int_equal(wm_store_transfer_leadership(a, member_cb, &m), 0);
	assert_true(run_until(&c, flag_set, &m.done));
	assert_int_equal(m.err, 0);
	assert_true(run_until(&c, test_is_leader, b));
	buf = test_remove_cmd("beta", &len);
	assert_int_equal(apply_packed(&c, a, buf, len, &r), -WM_ENOTLEADER);
	assert_int_equal(apply_join(&c, b, "gamma", 3, NULL, &r), 0);

	/* The new leader drops the old one from the configuration. */
	memset(&m, 0, sizeof(m));
	assert_int_equal(wm_store_remove_member(b, "gamma", member_cb, &m), -ENOENT);
	assert_int_equal(wm_store_remove_raft_id(b, 12345, member_cb, &m), -ENOENT);
	assert_int_equal(wm_store_remove_member(b, "alpha", member_cb, &m), 0);
	assert_true(run_until(&c, flag_set, &m.done));
	assert_int_equal(m.err, 0);
	wm_store_status(b, &st);
	assert_int_equal(st.n_members, 1);
	assert_string_equal(st.members[0].node_id, "beta");

	close_store(&c, a);
	close_store(&c, b);
	ctx_close(&c);
	rm_rf(da);
	rm_rf(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bootstrap_resume_lock),
		cmocka_unit_test(test_not_leader_and_config),
		cmocka_unit_test(test_membership),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
