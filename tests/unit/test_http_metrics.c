/* Unit tests for src/http/metrics_render.c: the Prometheus text format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "http/metrics.h"

static void assert_has(const char *text, const char *line)
{
	if (!strstr(text, line)) {
		fprintf(stderr, "missing: %s\nin:\n%s\n", line, text);
		fail();
	}
}

/* Per-peer series, with label values escaped as the format requires:
 * backslash, double quote and newline. */
static void test_peers_and_escaping(void **state)
{
	(void)state;
	struct wm_metrics_peer peers[] = {
		{"n1", "AAAA+/==", 10, 20, 1700000000, "direct"},
		{"we\"ird\\id\nx", "BBBB", 0, 18446744073709551615ull, 0, "relay"},
		{"", "CCCC", 1, 2, 3, NULL},
	};
	struct wm_metrics_snapshot s = {.node_id = "me", .peers = peers, .n_peers = 3};
	struct wm_metrics_buf b = {0};
	assert_int_equal(wm_metrics_render(&s, &b), 0);
	assert_has(b.p, "# TYPE wireguard_peer_receive_bytes_total counter\n");
	assert_has(
		b.p,
		"wireguard_peer_receive_bytes_total{node_id=\"n1\",public_key=\"AAAA+/==\"} 10\n");
	assert_has(
		b.p,
		"wireguard_peer_transmit_bytes_total{node_id=\"n1\",public_key=\"AAAA+/==\"} 20\n");
	assert_has(b.p,
		   "wireguard_peer_last_handshake_seconds{node_id=\"n1\",public_key=\"AAAA+/==\"} "
		   "1700000000\n");
	assert_has(b.p, "wireguard_peer_transmit_bytes_total{node_id=\"we\\\"ird\\\\id\\nx\","
			"public_key=\"BBBB\"} 18446744073709551615\n");
	assert_has(b.p,
		   "webmesh_peer_path{node_id=\"n1\",public_key=\"AAAA+/==\",path=\"direct\"} 1\n");
	assert_has(b.p,
		   "webmesh_peer_path{node_id=\"n1\",public_key=\"AAAA+/==\",path=\"relay\"} 0\n");
	assert_has(b.p, "webmesh_peer_path{node_id=\"we\\\"ird\\\\id\\nx\",public_key=\"BBBB\","
			"path=\"relay\"} 1\n");
	/* an unknown path is 0 everywhere */
	assert_has(b.p, "webmesh_peer_path{node_id=\"\",public_key=\"CCCC\",path=\"direct\"} 0\n");
	/* no raw newline inside a label: every line starts with a name or # */
	for (const char *l = b.p; *l; l = strchr(l, '\n') + 1)
		assert_true((*l >= 'a' && *l <= 'z') || *l == '#');
	/* no replica: no raft series */
	assert_null(strstr(b.p, "webmesh_raft_term"));
	wm_metrics_buf_free(&b);
}

static void test_raft_calls_and_node(void **state)
{
	(void)state;
	struct wm_metrics_calls calls = {0};
	wm_metrics_calls_add(&calls, "/webmesh.v1.Membership/Join", 0);
	wm_metrics_calls_add(&calls, "/webmesh.v1.Membership/Join", 0);
	wm_metrics_calls_add(&calls, "/webmesh.v1.Membership/Join", 16);
	wm_metrics_calls_add(&calls, "/webmesh.v1.Admin/PutEdge", 7);
	wm_metrics_calls_add(&calls, "/webmesh.v1.Node/GetStatus", 99);
	struct wm_metrics_snapshot s = {
		.node_id = "srv\"1",
		.raft = true,
		.raft_term = 3,
		.raft_commit_index = 42,
		.raft_applied_index = 41,
		.raft_role = "leader",
		.raft_leader = "srv\"1",
		.raft_caught_up = true,
		.calls = &calls,
		.nat_events = 5,
		.rss_bytes = 123456,
		.joined = true,
		.wireguard_up = true,
	};
	struct wm_metrics_buf b = {0};
	assert_int_equal(wm_metrics_render(&s, &b), 0);
	assert_has(b.p, "webmesh_raft_term 3\n");
	assert_has(b.p, "webmesh_raft_commit_index 42\n");
	assert_has(b.p, "webmesh_raft_applied_index 41\n");
	assert_has(b.p, "webmesh_raft_role{role=\"leader\"} 1\n");
	assert_has(b.p, "webmesh_raft_role{role=\"follower\"} 0\n");
	assert_has(b.p, "webmesh_raft_leader{leader_id=\"srv\\\"1\"} 1\n");
	assert_has(
		b.p,
		"webmesh_api_calls_total{method=\"/webmesh.v1.Membership/Join\",code=\"OK\"} 2\n");
	assert_has(b.p, "webmesh_api_calls_total{method=\"/webmesh.v1.Membership/Join\","
			"code=\"UNAUTHENTICATED\"} 1\n");
	assert_has(
		b.p,
		"webmesh_api_calls_total{method=\"/webmesh.v1.Node/GetStatus\",code=\"99\"} 1\n");
	assert_has(b.p, "webmesh_joins_total 2\n");
	assert_has(b.p, "webmesh_auth_refusals_total{reason=\"unauthenticated\"} 1\n");
	assert_has(b.p, "webmesh_auth_refusals_total{reason=\"permission_denied\"} 1\n");
	assert_has(b.p, "webmesh_nat_events_total 5\n");
	assert_has(b.p, "process_resident_memory_bytes 123456\n");
	assert_has(b.p, "webmesh_node_info{node_id=\"srv\\\"1\"} 1\n");
	assert_has(b.p, "webmesh_node_joined 1\n");
	/* rendering again into the same buffer after a reset gives the same text */
	size_t len = b.len;
	b.len = 0;
	assert_int_equal(wm_metrics_render(&s, &b), 0);
	assert_int_equal(b.len, len);
	wm_metrics_buf_free(&b);
	wm_metrics_calls_free(&calls);
}

/* The call table is bounded: a full one counts what does not fit apart. */
static void test_call_table_bounded(void **state)
{
	(void)state;
	static struct wm_metrics_calls calls;
	char m[64];
	for (int i = 0; i < WM_METRICS_MAX_CALLS + 10; i++) {
		snprintf(m, sizeof(m), "/m/%d", i);
		wm_metrics_calls_add(&calls, m, 0);
	}
	assert_int_equal(calls.n, WM_METRICS_MAX_CALLS);
	assert_int_equal(calls.dropped, 10);
	char longname[200];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	wm_metrics_calls_add(&calls, longname, 0);
	assert_int_equal(calls.dropped, 11);
	wm_metrics_calls_free(&calls);
	assert_int_equal(calls.n, 0);
	assert_null(calls.row);
}

/* Every family is announced once, with HELP and TYPE. */
static void test_families_once(void **state)
{
	(void)state;
	struct wm_metrics_peer peers[2] = {{"a", "k1", 1, 1, 1, "ice"},
					   {"b", "k2", 1, 1, 1, "ice"}};
	struct wm_metrics_snapshot s = {.node_id = "n",
					.peers = peers,
					.n_peers = 2,
					.raft = true,
					.raft_role = "follower"};
	struct wm_metrics_buf b = {0};
	assert_int_equal(wm_metrics_render(&s, &b), 0);
	const char *p = strstr(b.p, "# TYPE webmesh_peer_path gauge\n");
	assert_non_null(p);
	assert_null(strstr(p + 1, "# TYPE webmesh_peer_path gauge\n"));
	assert_has(b.p, "# HELP webmesh_peer_path ");
	wm_metrics_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peers_and_escaping),
		cmocka_unit_test(test_raft_calls_and_node),
		cmocka_unit_test(test_call_table_bounded),
		cmocka_unit_test(test_families_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
