/* A Raft cluster (libraft's deterministic fixture) whose replicas meet an
 * entry that needs a newer command version: every replica stops applying at
 * that entry, alike, while Raft itself goes on (src/store/store_fsm.c). */
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

#include "core/cmdver.h"
#include "core/error.h"
#include "store/store_int.h"
#include "test_raft_apply.h"
#include "test_store_util.h"

#define N 3
#define MAX_MS 10000 /* simulated time */

struct cluster {
	struct raft_fixture f;
	struct wm_fsm *fsm[N];
	struct wm_store_fsm glue[N];
	char last_log[N][400]; /* the adapter's last line */
};

static void log_cb(void *data, const char *msg)
{
	char *slot = data;

	snprintf(slot, 400, "%s", msg);
}

static struct cluster *cluster_new(void)
{
	struct cluster *c = calloc(1, sizeof(*c));
	struct raft_configuration conf;

	assert_int_equal(raft_fixture_initialize(&c->f), 0);
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(wm_fsm_open(":memory:", &c->fsm[i], NULL, 0), 0);
		wm_store_fsm_init(&c->glue[i], c->fsm[i]);
		c->glue[i].log = log_cb;
		c->glue[i].log_data = c->last_log[i];
		assert_int_equal(raft_fixture_grow(&c->f, &c->glue[i].raft_fsm), 0);
		c->glue[i].raft = raft_fixture_get(&c->f, i);
		/* snapshots are due all the time: a stopped replica must refuse
		 * them without stopping Raft */
		raft_set_snapshot_threshold(c->glue[i].raft, 2);
		raft_set_snapshot_trailing(c->glue[i].raft, 1);
	}
	raft_configuration_init(&conf);
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(raft_configuration_add(&conf, c->f.servers[i].id,
							c->f.servers[i].address, RAFT_VOTER),
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
	for (unsigned i = 0; i < N; i++)
		wm_fsm_close(c->fsm[i]);
	free(c);
}

/* Proposes a packed command (freed here) stating min_version on the
 * leader; steps until the leader has applied it; returns res.err. */
static int propose(struct cluster *c, uint8_t *buf, size_t len, uint32_t min_version)
{
	unsigned l = raft_fixture_leader_index(&c->f);
	struct raft_apply *req = calloc(1, sizeof(*req));
	struct applied a = {0};
	struct raft_buffer b;

	assert_true(l < N);
	Webmesh__V1__RaftCommand *cmd = webmesh__v1__raft_command__unpack(NULL, len, buf);
	assert_non_null(cmd);
	cmd->min_version = min_version;
	assert_int_equal(wm_store_entry_encode(cmd, &b), 0);
	webmesh__v1__raft_command__free_unpacked(cmd, NULL);
	free(buf);
	req->data = &a;
	assert_int_equal(raft_apply(raft_fixture_get(&c->f, l), req, &b, 1, apply_cb), 0);
	assert_true(raft_fixture_step_until(&c->f, applied_stop, &a, MAX_MS));
	free(req);
	assert_int_equal(a.status, 0);
	return a.res.err;
}

static int join(struct cluster *c, const char *id, int seed, uint32_t min_version)
{
	size_t len;
	uint8_t *buf = test_join_cmd(&(struct test_join){.id = id, .key_seed = seed}, &len);

	return propose(c, buf, len, min_version);
}

static bool all_applied(struct raft_fixture *f, void *arg)
{
	raft_index want = *(raft_index *)arg;

	for (unsigned i = 0; i < N; i++)
		if (raft_last_applied(raft_fixture_get(f, i)) < want)
			return false;
	return true;
}

static void test_every_replica_stops_alike(void **state)
{
	struct cluster *c = cluster_new();
	char *before[N], *after;
	size_t len;
	uint64_t at;
	uint32_t needs;

	(void)state;
	uint8_t *boot = test_bootstrap_cmd("10.1.0.0/16", "fd12:3456:789a::/48", &len);
	assert_int_equal(propose(c, boot, len, 0), 0);
	assert_int_equal(join(c, "a", 1, 0), 0);
	assert_int_equal(join(c, "b", 2, WM_CMD_VERSION), 0);
	raft_index last = raft_last_index(raft_fixture_get(&c->f, 0));
	assert_true(raft_fixture_step_until(&c->f, all_applied, &last, MAX_MS));
	for (unsigned i = 0; i < N; i++) {
		assert_int_equal(wm_fsm_dump(c->fsm[i], &before[i]), 0);
		assert_false(wm_fsm_stalled(c->fsm[i], NULL, NULL));
	}

	/* an entry of a newer build, then entries this build knows */
	assert_int_equal(join(c, "new", 3, WM_CMD_VERSION + 1), -WM_EVERSION);
	raft_index stop =
		raft_last_index(raft_fixture_get(&c->f, raft_fixture_leader_index(&c->f)));
	for (int k = 0; k < 6; k++) {
		char id[8];
		snprintf(id, sizeof(id), "x%d", k);
		assert_int_equal(join(c, id, 10 + k, 0), -WM_EVERSION);
	}
	last = raft_last_index(raft_fixture_get(&c->f, raft_fixture_leader_index(&c->f)));
	assert_true(raft_fixture_step_until(&c->f, all_applied, &last, MAX_MS));
	for (unsigned i = 0; i < N; i++) {
		/* stopped at the same entry, nothing of it or after it stored */
		assert_true(wm_fsm_stalled(c->fsm[i], &at, &needs));
		assert_int_equal(at, stop);
		assert_int_equal(needs, WM_CMD_VERSION + 1);
		assert_int_equal(wm_fsm_dump(c->fsm[i], &after), 0);
		assert_string_equal(after, before[i]);
		assert_string_equal(after, before[0]);
		free(after);
		/* said once, with the version it needs */
		assert_non_null(strstr(c->last_log[i], "stopped applying the Raft log: entry"));
		assert_non_null(strstr(c->last_log[i], "needs command version 4"));
		/* Raft went on: the entries are committed, and no snapshot was
		 * taken past the stop, so they stay in the log for a newer build */
		struct raft *r = raft_fixture_get(&c->f, i);
		assert_true(raft_last_applied(r) >= last);
		assert_true(r->log.snapshot.last_index > 0); /* taken before the stop */
		assert_true(r->log.snapshot.last_index < stop);
	}
	for (unsigned i = 0; i < N; i++)
		free(before[i]);
	/* the cluster still has a leader and commits */
	assert_true(raft_fixture_step_until_has_leader(&c->f, MAX_MS));
	cluster_free(c);
}

static void raw_applied_cb(struct raft_apply *req, int status, void *result)
{
	(void)result;
	*(int *)req->data = status == 0 ? 1 : -1;
}

static bool raw_stop(struct raft_fixture *f, void *arg)
{
	(void)f;
	return *(int *)arg != 0;
}

/* An entry framed in a later format (a well-formed header whose byte 0 is
 * not this build's) is a newer build's, not garbage: every replica stops
 * there too, where a broken frame is refused and passed. */
static void test_later_frame_format_stops(void **state)
{
	struct cluster *c = cluster_new();
	struct raft_apply req;
	struct raft_buffer b;
	int done = 0;
	size_t len;
	uint32_t needs;

	(void)state;
	uint8_t *boot = test_bootstrap_cmd("10.1.0.0/16", "fd12:3456:789a::/48", &len);
	assert_int_equal(propose(c, boot, len, 0), 0);
	for (int format = 1; format <= 2; format++) {
		b.len = 16;
		b.base = raft_malloc(b.len);
		memset(b.base, 0, b.len);
		((uint8_t *)b.base)[0] = (uint8_t)format;
		/* format 1: a length beyond the entry; format 2: one that fits */
		((uint8_t *)b.base)[4] = format == 1 ? 200 : 8;
		done = 0;
		req.data = &done;
		unsigned l = raft_fixture_leader_index(&c->f);
		assert_int_equal(
			raft_apply(raft_fixture_get(&c->f, l), &req, &b, 1, raw_applied_cb), 0);
		assert_true(raft_fixture_step_until(&c->f, raw_stop, &done, MAX_MS));
		raft_index last = raft_last_index(raft_fixture_get(&c->f, l));
		assert_true(raft_fixture_step_until(&c->f, all_applied, &last, MAX_MS));
		for (unsigned i = 0; i < N; i++)
			assert_int_equal(wm_fsm_stalled(c->fsm[i], NULL, &needs), format == 2);
	}
	assert_int_equal(needs, WM_CMD_VERSION + 1);
	assert_int_equal(join(c, "a", 1, 0), -WM_EVERSION);
	cluster_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_replica_stops_alike),
		cmocka_unit_test(test_later_frame_format_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
