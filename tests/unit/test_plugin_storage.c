/* A storage plugin behind the store interface (src/plugin/storage.c): the
 * store calls of webmeshd reach a plugin's table (plugin_storage_fixture.c,
 * loaded as webmesh-fixture.so by --storage fixture), its text forms come
 * back as the store's structs, a malformed item is refused, and a command's
 * result waits until the plugin's change feed reported it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "store/authz.h"
#include "store/store.h"

static char events[16][32];
static size_t n_events;

static void note(const char *what, uint64_t index)
{
	if (n_events < 16)
		snprintf(events[n_events++], sizeof(events[0]), "%s %llu", what,
			 (unsigned long long)index);
}

static void change_cb(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	(void)data;
	assert_non_null(cmd);
	assert_int_equal(cmd->command_case, WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE);
	assert_string_equal(cmd->remove_node->id, "node-b");
	note("change", index);
}

static void applied_cb(void *data, const struct wm_store_result *res)
{
	(void)data;
	assert_int_equal(res->err, 0);
	note("done", res->index);
}

static void closed_cb(void *data)
{
	*(int *)data = 1;
}

static struct wm_store *open_answering(uv_loop_t *loop, const char *key, const char *value,
				       unsigned answer_ms, int *rc, char *err, size_t errlen)
{
	const char *keys[] = {key}, *values[] = {value};
	struct wm_store_config cfg = {
		.node_id = "server-1",
		.storage = "fixture",
		.storage_keys = keys,
		.storage_values = values,
		.n_storage_config = 1,
		.api_address = "192.0.2.10:8443",
		.storage_answer_ms = answer_ms,
	};
	struct wm_store *s = NULL;
	*rc = wm_store_open(loop, &cfg, &s, err, errlen);
	return s;
}

static struct wm_store *open_fixture(uv_loop_t *loop, const char *key, const char *value, int *rc,
				     char *err, size_t errlen)
{
	return open_answering(loop, key, value, 0, rc, err, errlen);
}

static void test_storage_plugin(void **state)
{
	(void)state;
	uv_loop_t loop;
	char err[512] = "";
	int rc;
	assert_int_equal(uv_loop_init(&loop), 0);

	/* The plugin's init refuses a setting it does not know, by name. */
	assert_null(open_fixture(&loop, "colour", "red", &rc, err, sizeof(err)));
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err, "storage fixture: unknown setting \"colour\""));

	struct wm_store *s = open_fixture(&loop, "feed-delay-ms", "30", &rc, err, sizeof(err));
	assert_int_equal(rc, 0);
	struct wm_store_status st;
	wm_store_status(s, &st);
	assert_false(st.is_leader); /* not ready yet */
	assert_string_equal(st.state, "connecting");
	struct wm_mesh_node n;
	assert_int_equal(wm_store_get_node(s, "node-a", &n), -EAGAIN);
	for (int i = 0; i < 100 && !st.caught_up; i++) {
		uv_run(&loop, UV_RUN_ONCE);
		wm_store_status(s, &st);
	}
	assert_true(st.caught_up && st.is_leader);
	assert_string_equal(st.storage, "fixture");
	assert_string_equal(st.storage_endpoints, "mem://fixture");
	assert_int_equal(st.n_members, 0);

	/* Reads: the text forms parsed back. */
	struct wm_mesh_node *nodes = NULL;
	size_t nn = 0;
	assert_int_equal(wm_store_list_nodes(s, &nodes, &nn), 0);
	assert_int_equal(nn, 2);
	assert_string_equal(nodes[0].id, "node-a");
	assert_int_equal(nodes[0].n_endpoints, 2);
	assert_int_equal(nodes[0].endpoints[1].port, 51820);
	assert_int_equal(nodes[0].n_routes, 1);
	assert_int_equal(nodes[0].ipv4.len, 32);
	assert_string_equal(nodes[0].zone, "z1");
	assert_string_equal(nodes[1].id, "node-b");
	free(nodes);
	assert_int_equal(wm_store_get_node(s, "node-a", &n), 0);
	assert_int_equal(n.listen_port, 51820);
	assert_int_equal(wm_store_get_node(s, "nobody", &n), -ENOENT);
	/* A node whose key is not base64 is refused, not half-read. */
	assert_int_equal(wm_store_get_node(s, "bad", &n), -EINVAL);
	struct wm_mesh_info info;
	assert_int_equal(wm_store_mesh_info(s, &info), -WM_ENOMESH);
	struct wm_mesh_edge *edges = NULL;
	size_t ne = 0;
	assert_int_equal(wm_store_list_edges(s, &edges, &ne), 0);
	assert_int_equal(ne, 1);
	assert_string_equal(edges[0].target, "node-b");
	assert_int_equal(edges[0].weight, 1);
	free(edges);
	struct wm_dns_record *recs = NULL;
	size_t nr = 0;
	assert_int_equal(wm_store_list_dns_records(s, &recs, &nr), -ENOTSUP);
	struct wm_authz_snapshot az;
	assert_int_equal(wm_store_authz_load(s, &az), 0);
	assert_true(az.bootstrapped && az.default_accept && az.has_mesh_auth && az.mesh_auth.rbac);
	assert_int_equal(az.n_roles, 1);
	assert_string_equal(az.roles[0].rules, "*:*");
	assert_string_equal(az.bindings[0].subjects, "user:alice");
	assert_true(wm_authz_denied(&az, "evil"));
	wm_authz_snapshot_free(&az);

	/* No Raft membership on a storage plugin. */
	assert_int_equal(wm_store_add_member(s, "x", "10.0.0.1:9000", 1, NULL, NULL), -ENOTSUP);

	/* The plugin answers at once and reports the change 30 ms later: the
	 * result waits for the feed, as the Raft store's waits for the apply. */
	assert_int_equal(wm_store_on_change(s, change_cb, NULL), 0);
	Webmesh__V1__RemoveNodeCommand rm = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	rm.id = "node-b";
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	cmd.remove_node = &rm;
	assert_int_equal(wm_store_apply(s, &cmd, applied_cb, NULL), 0);
	assert_int_equal(wm_store_apply(s, &cmd, applied_cb, NULL), 0);
	assert_int_equal(n_events, 0); /* never from within apply */
	for (int i = 0; i < 200 && n_events < 4; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(n_events, 4);
	assert_string_equal(events[0], "change 1");
	assert_string_equal(events[1], "done 1");
	assert_string_equal(events[2], "change 2");
	assert_string_equal(events[3], "done 2");
	Webmesh__V1__RaftCommand empty = WEBMESH__V1__RAFT_COMMAND__INIT;
	assert_int_equal(wm_store_apply(s, &empty, applied_cb, NULL), -EINVAL);

	int closed = 0;
	wm_store_close(s, closed_cb, &closed);
	for (int i = 0; i < 100 && !closed; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_true(closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* ---- a plugin that breaks the header's contract ---- */

struct count {
	int calls, err;
};

static void count_cb(void *data, const struct wm_store_result *res)
{
	struct count *c = data;
	c->calls++;
	c->err = res->err;
}

static struct wm_store *open_ready_ms(uv_loop_t *loop, const char *misbehave, unsigned answer_ms)
{
	char err[512] = "";
	int rc;
	struct wm_store *s =
		open_answering(loop, "misbehave", misbehave, answer_ms, &rc, err, sizeof(err));
	assert_int_equal(rc, 0);
	struct wm_store_status st = {0};
	for (int i = 0; i < 100 && !st.caught_up; i++) {
		uv_run(loop, UV_RUN_ONCE);
		wm_store_status(s, &st);
	}
	assert_true(st.caught_up);
	return s;
}

static struct wm_store *open_ready(uv_loop_t *loop, const char *misbehave)
{
	return open_ready_ms(loop, misbehave, 0);
}

static void apply_remove(struct wm_store *s, struct count *c)
{
	Webmesh__V1__RemoveNodeCommand rm = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
	rm.id = "node-b";
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
	cmd.remove_node = &rm;
	assert_int_equal(wm_store_apply(s, &cmd, count_cb, c), 0);
}

static void close_and_drain(uv_loop_t *loop, struct wm_store *s)
{
	int closed = 0;
	wm_store_close(s, closed_cb, &closed);
	for (int i = 0; i < 100 && !closed; i++)
		uv_run(loop, UV_RUN_ONCE);
	assert_true(closed);
	uv_run(loop, UV_RUN_DEFAULT);
}

static void test_storage_plugin_misbehaving(void **state)
{
	(void)state;
	uv_loop_t loop;
	char err[512] = "";
	int rc;
	assert_int_equal(uv_loop_init(&loop), 0);

	/* open "succeeds" with no store: refused by name. */
	assert_null(open_fixture(&loop, "misbehave", "null-store", &rc, err, sizeof(err)));
	assert_int_equal(rc, -EPROTO);
	assert_non_null(strstr(err, "storage fixture: open succeeded but gave no store"));

	/* Items webmeshd cannot take: a node with NULL endpoints, items of a
	 * kind the read did not ask for (no sink function for them). */
	struct wm_store *s = open_ready(&loop, "none");
	struct wm_mesh_node n;
	assert_int_equal(wm_store_get_node(s, "null-endpoints", &n), -EINVAL);
	struct wm_edge_attr *attrs = NULL;
	size_t na = 0;
	assert_int_equal(wm_store_list_edge_attrs(s, &attrs, &na), -EINVAL);
	assert_null(attrs);
	close_and_drain(&loop, s);

	/* A second ready (a failure after success) changes nothing. */
	s = open_ready(&loop, "ready-twice");
	struct wm_store_status st;
	wm_store_status(s, &st);
	assert_string_equal(st.state, "serving");
	close_and_drain(&loop, s);

	/* Each result given twice: the caller hears it once. */
	s = open_ready(&loop, "twice");
	struct count c = {0};
	apply_remove(s, &c);
	for (int i = 0; i < 100 && c.calls == 0; i++)
		uv_run(&loop, UV_RUN_ONCE);
	for (int i = 0; i < 5; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	close_and_drain(&loop, s);
	assert_int_equal(c.calls, 1);

	/* A result from within apply: the caller still hears it later, once. */
	s = open_ready(&loop, "inline");
	c = (struct count){0};
	apply_remove(s, &c);
	assert_int_equal(c.calls, 0);
	for (int i = 0; i < 300 && c.calls == 0; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, 0);
	close_and_drain(&loop, s);
	assert_int_equal(c.calls, 1);

	/* Commands the plugin keeps past close: cancelled within close, and
	 * its answers afterwards (for a freed store) are ignored. */
	s = open_ready(&loop, "late");
	c = (struct count){0};
	apply_remove(s, &c);
	int closed = 0;
	wm_store_close(s, closed_cb, &closed);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, -ECANCELED);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_true(closed);
	assert_int_equal(c.calls, 1);

	/* A command never answered fails after the answer time, once; the
	 * store serves on. */
	s = open_ready_ms(&loop, "never", 40);
	c = (struct count){0};
	apply_remove(s, &c);
	for (int i = 0; i < 300 && c.calls == 0; i++)
		uv_run(&loop, UV_RUN_ONCE);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.err, -ETIMEDOUT);
	close_and_drain(&loop, s);
	assert_int_equal(c.calls, 1);

	assert_int_equal(uv_loop_close(&loop), 0);
}

/* A caller that closes the store from a result or a change, as a server
 * stopping on a failed join does: the plugin's close waits a turn (the
 * fixture aborts on a close from within its call to webmeshd). */
struct closer {
	struct wm_store *s;
	int calls, closed;
};

static void close_on_result(void *data, const struct wm_store_result *res)
{
	struct closer *c = data;
	(void)res;
	c->calls++;
	wm_store_close(c->s, closed_cb, &c->closed);
}

static void close_on_change(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd)
{
	struct closer *c = data;
	(void)index, (void)cmd;
	c->calls++;
	wm_store_close(c->s, closed_cb, &c->closed);
}

static void test_storage_plugin_closed_from_callback(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	for (int on_change = 0; on_change < 2; on_change++) {
		struct closer c = {.s = open_ready(&loop, "none")};
		struct count ignored = {0}; /* answered after close, in the loop below */
		Webmesh__V1__RemoveNodeCommand rm = WEBMESH__V1__REMOVE_NODE_COMMAND__INIT;
		rm.id = "node-b";
		Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_REMOVE_NODE;
		cmd.remove_node = &rm;
		if (on_change) {
			assert_int_equal(wm_store_on_change(c.s, close_on_change, &c), 0);
			assert_int_equal(wm_store_apply(c.s, &cmd, count_cb, &ignored), 0);
		} else {
			assert_int_equal(wm_store_apply(c.s, &cmd, close_on_result, &c), 0);
		}
		for (int i = 0; i < 100 && !c.closed; i++)
			uv_run(&loop, UV_RUN_ONCE);
		assert_int_equal(c.calls, 1);
		assert_true(c.closed);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	setenv("WEBMESHD_MODULE_DIR", WM_FIXTURE_DIR, 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_storage_plugin),
		cmocka_unit_test(test_storage_plugin_misbehaving),
		cmocka_unit_test(test_storage_plugin_closed_from_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
