/* Raft cluster tests of the store's FSM adapter on libraft's deterministic fixture. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <raft.h>
#include <raft/fixture.h>

#include "core/error.h"
#include "store/store_int.h"
#include "test_raft_apply.h"
#include "test_store_util.h"

#define N_SERVERS 4 /* servers 0-2 vote, 3 is a standby (observer) */
#define N_VOTERS 3
#define STANDBY 3
#define MAX_MS 10000 /* simulated time: steps are bounded by it, not by the clock */

struct cluster {
	struct raft_fixture f;
	struct wm_fsm *fsm[N_SERVERS];
	struct wm_store_fsm glue[N_SERVERS];
	unsigned changes[N_SERVERS];  /* change feed: commands seen */
	unsigned restores[N_SERVERS]; /* change feed: snapshots restored */
	struct cluster *self[N_SERVERS];
};

static struct cluster *hooked; /* for the hook, which gets no user data */

static void change_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	struct cluster **slot = data;
	struct cluster *c = *slot;
	unsigned i = (unsigned)(slot - c->self);

	assert_true(index > 0);
	if (cmd)
		c->changes[i]++;
	else
		c->restores[i]++;
}

static struct cluster *cluster_new(unsigned snapshot_threshold)
{
	struct cluster *c = calloc(1, sizeof(*c));
	struct raft_configuration conf;

	assert_int_equal(raft_fixture_initialize(&c->f), 0);
	for (unsigned i = 0; i < N_SERVERS; i++) {
		assert_int_equal(wm_fsm_open(":memory:", &c->fsm[i], NULL, 0), 0);
		wm_store_fsm_init(&c->glue[i], c->fsm[i]);
		assert_int_equal(raft_fixture_grow(&c->f, &c->glue[i].raft_fsm), 0);
		c->glue[i].raft = raft_fixture_get(&c->f, i);
		c->self[i] = c;
		assert_int_equal(wm_store_fsm_listen(&c->glue[i], change_cb, &c->self[i]), 0);
		if (snapshot_threshold) {
			raft_set_snapshot_threshold(c->glue[i].raft, snapshot_threshold);
			raft_set_snapshot_trailing(c->glue[i].raft, 1);
		}
	}
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < N_SERVERS; i++)
		assert_int_equal(raft_configuration_add(&conf, c->f.servers[i].id,
							c->f.servers[i].address,
							i < N_VOTERS ? RAFT_VOTER : RAFT_STANDBY),
				 0);
	assert_int_equal(raft_fixture_bootstrap(&c->f, &conf), 0);
	raft_configuration_close(&conf);
	assert_int_equal(raft_fixture_start(&c->f), 0);
	assert_true(raft_fixture_step_until_has_leader(&c->f, MAX_MS));
	return c;
}

static void cluster_free(struct cluster *c)
{
	raft_fixture_close(&c->f);
	for (unsigned i = 0; i < N_SERVERS; i++)
		wm_fsm_close(c->fsm[i]);
	free(c);
}

/* Proposes a packed command (freed here) on the leader and steps until it is
 * applied there; returns the result's error. */
static int propose(struct cluster *c, uint8_t *buf, size_t len, struct applied *a)
{
	unsigned l = raft_fixture_leader_index(&c->f);
	struct raft_apply *req = calloc(1, sizeof(*req));
	struct raft_buffer b;

	assert_true(l < N_SERVERS);
	memset(a, 0, sizeof(*a));
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	assert_non_null(cmd);
	assert_int_equal(wm_store_entry_encode(cmd, &b), 0);
	assert_int_equal(b.len % 8, 0);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	free(buf);
	req->data = a;
	assert_int_equal(raft_apply(raft_fixture_get(&c->f, l), req, &b, 1, apply_cb), 0);
	assert_true(raft_fixture_step_until(&c->f, applied_stop, a, MAX_MS));
	free(req);
	assert_int_equal(a->status, 0);
	/* The adapter's index (last_applied + 1) is the entry's. */
	assert_int_equal(a->res.index, a->index);
	return a->res.err;
}

static int propose_join(struct cluster *c, const char *id, int seed, struct applied *a)
{
	size_t len;
	uint8_t *buf = test_join_cmd(
		&(struct test_join){.id = id, .key_seed = seed, .full_mesh = true}, &len);

	return propose(c, buf, len, a);
}

static void bootstrap_mesh(struct cluster *c, struct applied *a)
{
	size_t len;
	uint8_t *buf = test_bootstrap_cmd("172.16.0.0/12", "fd00:1:2::/48", &len);

	assert_int_equal(propose(c, buf, len, a), 0);
}

/* Every live server in mask has the leader's dump. */
static void same_dumps(struct cluster *c, unsigned mask)
{
	unsigned l = raft_fixture_leader_index(&c->f);
	char *want = NULL, *got = NULL;

	assert_int_equal(wm_fsm_dump(c->fsm[l], &want), 0);
	for (unsigned i = 0; i < N_SERVERS; i++) {
		if (!(mask & (1u << i)))
			continue;
		assert_int_equal(wm_fsm_dump(c->fsm[i], &got), 0);
		assert_string_equal(want, got);
		free(got);
	}
	free(want);
}

static void all_applied(struct cluster *c, unsigned mask, raft_index index)
{
	for (unsigned i = 0; i < N_SERVERS; i++) {
		if (mask & (1u << i))
			assert_true(raft_fixture_step_until_applied(&c->f, i, index, MAX_MS));
	}
}

static void test_replicate(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(0);
	struct applied a;
	size_t len;

	bootstrap_mesh(c, &a);
	assert_int_equal(propose_join(c, "a", 1, &a), 0);
	assert_int_equal(propose_join(c, "b", 2, &a), 0);
	assert_int_equal(propose_join(c, "c", 3, &a), 0);
	assert_string_equal(a.res.node.id, "c");
	char ip[WM_PREFIX_STRLEN];
	wm_prefix_format(&a.res.node.ipv4, ip, sizeof(ip));
	assert_string_equal(ip, "172.16.0.3/32");
	/* A refused command is replicated and refused everywhere alike. */
	assert_int_equal(propose_join(c, "a", 9, &a), -WM_EKEYMISMATCH);
	uint8_t *buf = test_remove_cmd("b", &len);
	assert_int_equal(propose(c, buf, len, &a), 0);
	/* An entry that is not a framed command is refused everywhere alike too. */
	unsigned l = raft_fixture_leader_index(&c->f);
	struct raft_apply *req = calloc(1, sizeof(*req));
	struct raft_buffer junk = {raft_malloc(16), 16};
	memset(junk.base, 0xee, 16);
	memset(&a, 0, sizeof(a));
	req->data = &a;
	assert_int_equal(raft_apply(raft_fixture_get(&c->f, l), req, &junk, 1, apply_cb), 0);
	assert_true(raft_fixture_step_until(&c->f, applied_stop, &a, MAX_MS));
	free(req);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.res.err, -EINVAL);
	all_applied(c, 0xf, a.index);
	same_dumps(c, 0xf);
	for (unsigned i = 0; i < N_SERVERS; i++) {
		assert_int_equal(c->changes[i], 5); /* refusals are not changes */
		assert_int_equal(wm_fsm_applied_index(c->fsm[i]), a.index);
	}
	cluster_free(c);
}

static void standby_never_leads(struct raft_fixture *f, struct raft_fixture_event *ev)
{
	(void)ev;
	assert_int_not_equal(raft_state(raft_fixture_get(f, STANDBY)), RAFT_LEADER);
	assert_ptr_equal(f, &hooked->f);
}

static bool other_leader(struct raft_fixture *f, void *arg)
{
	unsigned l = raft_fixture_leader_index(f);

	return l < N_SERVERS && l != *(unsigned *)arg;
}

static void test_leader_failover(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(0);
	struct applied a;
	unsigned old, l, alive;

	hooked = c;
	raft_fixture_hook(&c->f, standby_never_leads);
	bootstrap_mesh(c, &a);
	assert_int_equal(propose_join(c, "a", 1, &a), 0);
	all_applied(c, 0xf, a.index);

	old = raft_fixture_leader_index(&c->f);
	assert_true(old < N_VOTERS);
	raft_fixture_kill(&c->f, old);
	alive = 0xf & ~(1u << old);
	/* The fixture still reports the dead leader until time passes. */
	assert_true(raft_fixture_step_until(&c->f, other_leader, &old, MAX_MS));
	l = raft_fixture_leader_index(&c->f);
	assert_int_not_equal(l, old);
	assert_true(l < N_VOTERS);

	/* The new leader takes writes and the survivors agree. */
	assert_int_equal(propose_join(c, "b", 2, &a), 0);
	assert_int_equal(propose_join(c, "c", 3, &a), 0);
	all_applied(c, alive, a.index);
	same_dumps(c, alive);

	/* The old leader comes back as a follower and catches up. */
	raft_fixture_revive(&c->f, old);
	all_applied(c, 0xf, a.index);
	same_dumps(c, 0xf);
	assert_int_not_equal(raft_state(raft_fixture_get(&c->f, STANDBY)), RAFT_LEADER);
	cluster_free(c);
	hooked = NULL;
}

static void test_snapshot_install(void **state)
{
	(void)state;
	struct cluster *c = cluster_new(3);
	struct applied a;
	unsigned l, lag, alive;
	char id[8];

	bootstrap_mesh(c, &a);
	l = raft_fixture_leader_index(&c->f);
	lag = (l + 1) % N_VOTERS; /* a voter that is not the leader */
	raft_fixture_kill(&c->f, lag);
	alive = 0xf & ~(1u << lag);
	for (int i = 0; i < 12; i++) {
		snprintf(id, sizeof(id), "n%02d", i);
		assert_int_equal(propose_join(c, id, i, &a), 0);
	}
	all_applied(c, alive, a.index);
	/* The leader has compacted its log past what the lagging node holds. */
	assert_true(raft_fixture_get(&c->f, l)->log.snapshot.last_index > 2);

	raft_fixture_revive(&c->f, lag);
	all_applied(c, 0xf, a.index);
	assert_true(raft_fixture_n_recv(&c->f, lag, RAFT_IO_INSTALL_SNAPSHOT) >= 1);
	assert_true(c->restores[lag] >= 1);
	same_dumps(c, 0xf);

	/* And it goes on applying entries after the restore. */
	assert_int_equal(propose_join(c, "after", 77, &a), 0);
	all_applied(c, 0xf, a.index);
	same_dumps(c, 0xf);
	struct wm_mesh_node n;
	assert_int_equal(wm_fsm_get_node(c->fsm[lag], "after", &n), 0);
	cluster_free(c);
}

static void test_entry_framing(void **state)
{
	(void)state;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	Webmesh__V1__RemoveNodeCommand rm = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	struct raft_buffer b;
	const uint8_t *msg;
	size_t len;

	/* Lengths 0..40 of the ID cover every padding. */
	char id[48];
	for (size_t n = 0; n < 40; n++) {
		memset(id, 'a', n);
		id[n] = '\0';
		rm.id = id;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
		cmd.remove_node = &rm;
		assert_int_equal(wm_store_entry_encode(&cmd, &b), 0);
		assert_int_equal(b.len % 8, 0);
		assert_int_equal(wm_store_entry_decode(&b, &msg, &len), 0);
		assert_int_equal(len, webmesh__v1__raft_command__get_packed_size(&cmd));
		Webmesh__V1__RaftCommand *back = webmesh__v1__raft_command__unpack(NULL, len, msg);
		assert_non_null(back);
		assert_string_equal(back->remove_node->id, id);
		webmesh__v1__raft_command__free_unpacked(back, NULL);
		/* A length pointing past the buffer is refused. */
		((uint8_t *)b.base)[4] = 0xff;
		((uint8_t *)b.base)[5] = 0xff;
		assert_int_equal(wm_store_entry_decode(&b, &msg, &len), -EBADMSG);
		raft_free(b.base);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_framing),
		cmocka_unit_test(test_replicate),
		cmocka_unit_test(test_leader_failover),
		cmocka_unit_test(test_snapshot_install),
	};
	return cmocka_run_group_tests_name("store_fixture", tests, NULL, NULL);
}
