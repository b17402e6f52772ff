/* The replicated deny list (issue 10): a node an administrator removed is
 * refused by the state machine (its Join, on every replica alike) until it is
 * allowed again; refusals change nothing; the list survives a snapshot. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/authz.h"
#include "store/fsm.h"
#include "test_store_util.h"

static uint64_t idx;

static int apply_buf(struct wm_fsm *f, uint8_t *buf, size_t len, struct wm_store_result *res)
{
	assert_int_equal(wm_fsm_apply(f, ++idx, buf, len, res), 0);
	free(buf);
	return res->err;
}

static int deny(struct wm_fsm *f, const char *id, struct wm_store_result *res)
{
	Webmesh__V1__DenyNodeCommand d = WEBMESH__V1__DENY_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	size_t len;
	d.node_id = (char *)id;
	d.by = "admin";
	d.denied_at = 1700000200;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DENY_NODE;
	cmd.deny_node = &d;
	uint8_t *buf = test_pack(&cmd, &len);
	return apply_buf(f, buf, len, res);
}

static int allow(struct wm_fsm *f, const char *id, struct wm_store_result *res)
{
	Webmesh__V1__AllowNodeCommand a = WEBMESH__V1__ALLOW_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	size_t len;
	a.node_id = (char *)id;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_ALLOW_NODE;
	cmd.allow_node = &a;
	uint8_t *buf = test_pack(&cmd, &len);
	return apply_buf(f, buf, len, res);
}

static int join(struct wm_fsm *f, const char *id, int seed, struct wm_store_result *res)
{
	struct test_join j = {.id = id, .key_seed = seed, .full_mesh = true};
	size_t len;
	uint8_t *buf = test_join_cmd(&j, &len);
	return apply_buf(f, buf, len, res);
}

/* The dump without the meta row (whose applied index moves with refusals
 * too: it records the last index given, not the state). */
static char *state(struct wm_fsm *f)
{
	char *d;
	assert_int_equal(wm_fsm_dump(f, &d), 0);
	char *nl = strchr(d, '\n');
	assert_non_null(nl);
	memmove(d, nl + 1, strlen(nl + 1) + 1);
	return d;
}

static void test_deny_list(void **state_)
{
	(void)state_;
	struct wm_fsm *f, *g;
	struct wm_store_result res;
	struct wm_authz_snapshot snap;
	char err[256];
	size_t len;

	assert_int_equal(wm_fsm_open(":memory:", &f, err, sizeof(err)), 0);
	uint8_t *b = test_bootstrap_cmd("172.16.0.0/12", "fd12:3456:789a::/48", &len);
	assert_int_equal(apply_buf(f, b, len, &res), 0);
	assert_int_equal(join(f, "s1", 1, &res), 0);
	assert_int_equal(join(f, "n1", 2, &res), 0);

	/* Removed by an administrator: denied first, then removed. */
	assert_int_equal(deny(f, "n1", &res), 0);
	b = test_remove_cmd("n1", &len);
	assert_int_equal(apply_buf(f, b, len, &res), 0);
	char *before = state(f);
	assert_non_null(strstr(before, "denied node_id=n1 by=admin denied_at=1700000200\n"));

	/* Its rejoin is refused, with the way back in the reason. */
	assert_int_equal(join(f, "n1", 2, &res), -EPERM);
	assert_string_equal(res.message, "node n1 was removed from the mesh by an administrator; "
					 "an administrator re-admits it with: wmctl allow node n1");
	char *after = state(f);
	assert_string_equal(before, after);
	free(after);
	/* Also with another key: the ID is what was removed. */
	assert_int_equal(join(f, "n1", 9, &res), -EPERM);

	/* Bad input changes nothing. */
	assert_int_equal(deny(f, "Bad_ID", &res), -EINVAL);
	assert_int_equal(allow(f, "n2", &res), -ENOENT);
	assert_string_equal(res.message, "node n2 is not denied");
	after = state(f);
	assert_string_equal(before, after);
	free(after);
	free(before);

	/* In the snapshot the gate reads, and across a Raft snapshot. */
	assert_int_equal(wm_fsm_authz_load(f, &snap), 0);
	assert_int_equal(snap.n_denied, 1);
	assert_true(wm_authz_denied(&snap, "n1"));
	assert_false(wm_authz_denied(&snap, "s1"));
	wm_authz_snapshot_free(&snap);
	uint8_t *buf;
	assert_int_equal(wm_fsm_snapshot(f, &buf, &len), 0);
	assert_int_equal(wm_fsm_open(":memory:", &g, err, sizeof(err)), 0);
	assert_int_equal(wm_fsm_restore(g, buf, len), 0);
	free(buf);
	assert_int_equal(join(g, "n1", 2, &res), -EPERM);

	/* Allowed again: it joins. */
	assert_int_equal(allow(f, "n1", &res), 0);
	assert_int_equal(join(f, "n1", 2, &res), 0);
	assert_int_equal(wm_fsm_authz_load(f, &snap), 0);
	assert_int_equal(snap.n_denied, 0);
	wm_authz_snapshot_free(&snap);
	wm_fsm_close(g);
	wm_fsm_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deny_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
