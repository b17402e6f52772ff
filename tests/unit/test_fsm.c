/* Unit tests of the mesh state machine (SQLite, no raft). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "core/error.h"
#include "core/ipam.h"
#include "store/fsm.h"
#include "test_store_util.h"

struct t {
	struct wm_fsm *f;
	uint64_t index;
};

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	char err[256];

	assert_int_equal(wm_fsm_open(":memory:", &t->f, err, sizeof(err)), 0);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	wm_fsm_close(t->f);
	free(t);
	return 0;
}

/* Applies a packed command (freeing it); returns res.err. */
static int apply_buf(struct wm_fsm *f, uint64_t *index, uint8_t *buf, size_t len,
		     struct wm_store_result *res)
{
	struct wm_store_result local;

	if (!res)
		res = &local;
	assert_int_equal(wm_fsm_apply(f, ++*index, buf, len, res), 0);
	assert_int_equal(res->index, *index);
	free(buf);
	return res->err;
}

static int bootstrap(struct t *t, const char *v4)
{
	size_t len;
	uint8_t *buf = test_bootstrap_cmd(v4, "fd12:3456:789a::/48", &len);

	return apply_buf(t->f, &t->index, buf, len, NULL);
}

static int join(struct t *t, const struct test_join *j, struct wm_store_result *res)
{
	size_t len;
	uint8_t *buf = test_join_cmd(j, &len);

	return apply_buf(t->f, &t->index, buf, len, res);
}

static int removen(struct t *t, const char *id)
{
	size_t len;
	uint8_t *buf = test_remove_cmd(id, &len);

	return apply_buf(t->f, &t->index, buf, len, NULL);
}

static int edge(struct t *t, bool put, const char *a, const char *b, int w)
{
	size_t len;
	uint8_t *buf = test_edge_cmd(put, a, b, w, put ? "kind" : NULL, "wan \"x\"", &len);

	return apply_buf(t->f, &t->index, buf, len, NULL);
}

static char *dump(struct wm_fsm *f)
{
	char *d = NULL;

	assert_int_equal(wm_fsm_dump(f, &d), 0);
	assert_non_null(d);
	return d;
}

static void ip_is(const struct wm_prefix *p, const char *want)
{
	char buf[WM_PREFIX_STRLEN];

	assert_int_equal(wm_prefix_format(p, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

/* Byte-compares the database before and after a refused command. */
struct snap {
	uint8_t *buf;
	size_t len;
};

static struct snap snap_take(struct wm_fsm *f)
{
	struct snap s;

	assert_int_equal(wm_fsm_snapshot(f, &s.buf, &s.len), 0);
	return s;
}

static void snap_same(struct wm_fsm *f, struct snap before)
{
	struct snap after = snap_take(f);

	assert_int_equal(before.len, after.len);
	assert_memory_equal(before.buf, after.buf, before.len);
	free(before.buf);
	free(after.buf);
}

static void test_bootstrap(void **state)
{
	struct t *t = *state;
	struct wm_mesh_info info;
	size_t len;

	assert_int_equal(wm_fsm_mesh_info(t->f, &info), -WM_ENOMESH);
	assert_int_equal(bootstrap(t, "172.16.0.0/12"), 0);
	assert_int_equal(wm_fsm_mesh_info(t->f, &info), 0);
	ip_is(&info.ipv4_network, "172.16.0.0/12");
	ip_is(&info.ipv6_network, "fd12:3456:789a::/48");
	assert_string_equal(info.domain, "webmesh.internal");
	assert_int_equal(info.created_at, 1700000000);
	assert_int_equal(wm_fsm_applied_index(t->f), 1);

	struct snap s = snap_take(t->f);
	assert_int_equal(bootstrap(t, "10.0.0.0/8"), -EEXIST);
	snap_same(t->f, s);
	assert_int_equal(wm_fsm_applied_index(t->f), 2);

	/* Invalid networks are refused on a fresh state too. */
	struct wm_fsm *f2;
	uint64_t i2 = 0;
	struct wm_store_result res;
	assert_int_equal(wm_fsm_open(":memory:", &f2, NULL, 0), 0);
	uint8_t *buf = test_bootstrap_cmd("fd00::/8", "fd00::/48", &len);
	assert_int_equal(apply_buf(f2, &i2, buf, len, &res), -EINVAL);
	assert_non_null(strstr(res.message, "IPv4 network"));
	buf = test_bootstrap_cmd("10.0.0.0/8", "fd00::/64", &len);
	assert_int_equal(apply_buf(f2, &i2, buf, len, &res), -EINVAL);
	assert_non_null(strstr(res.message, "/48"));
	assert_int_equal(wm_fsm_mesh_info(f2, &info), -WM_ENOMESH);
	wm_fsm_close(f2);
}

static void test_join_sequential(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	struct wm_mesh_node n;
	char key[WM_KEY_B64_LEN + 1];

	assert_int_equal(join(t, &(struct test_join){.id = "a", .key_seed = 1}, &res), -WM_ENOMESH);
	assert_int_equal(bootstrap(t, "172.16.0.0/12"), 0);
	assert_int_equal(join(t,
			      &(struct test_join){.id = "a",
						  .key_seed = 1,
						  .request = "172.16.0.1",
						  .endpoint = "192.0.2.1:51820",
						  .route = "10.1.0.7/16",
						  .role = WM_ROLE_VOTER},
			      &res),
			 0);
	assert_string_equal(res.node.id, "a");
	ip_is(&res.node.ipv4, "172.16.0.1/32");
	assert_int_equal(res.node.n_endpoints, 1);
	assert_int_equal(res.node.n_routes, 1);
	ip_is(&res.node.routes[0], "10.1.0.0/16"); /* stored in network form */
	assert_int_equal(res.node.raft_role, WM_ROLE_VOTER);
	assert_int_equal(res.node.joined_at, 1700000100);

	/* The /112 is the mesh /48 plus 64 bits of SHA-256 of the raw key. */
	uint8_t digest[32];
	struct wm_prefix mesh6;
	test_key(1, key);
	wm_key k;
	assert_int_equal(wm_key_from_base64(key, k), 0);
	assert_true(wm_key_equal(k, res.node.public_key));
	SHA256(k, 32, digest);
	assert_int_equal(wm_prefix_parse("fd12:3456:789a::/48", &mesh6), 0);
	struct wm_prefix want6 = wm_ipam_v6_node_prefix(&mesh6, digest);
	assert_true(wm_prefix_equal(&want6, &res.node.ipv6));

	assert_int_equal(join(t, &(struct test_join){.id = "b", .key_seed = 2}, &res), 0);
	ip_is(&res.node.ipv4, "172.16.0.2/32");
	assert_int_equal(join(t, &(struct test_join){.id = "c", .key_seed = 3}, &res), 0);
	ip_is(&res.node.ipv4, "172.16.0.3/32");

	/* A request for a taken address falls back to the lowest free one. */
	assert_int_equal(
		join(t, &(struct test_join){.id = "d", .key_seed = 4, .request = "172.16.0.2"},
		     &res),
		0);
	ip_is(&res.node.ipv4, "172.16.0.4/32");
	/* A free one is honoured, and the next allocation skips it. */
	assert_int_equal(
		join(t, &(struct test_join){.id = "e", .key_seed = 5, .request = "172.16.0.5"},
		     &res),
		0);
	ip_is(&res.node.ipv4, "172.16.0.5/32");
	assert_int_equal(join(t, &(struct test_join){.id = "f", .key_seed = 6}, &res), 0);
	ip_is(&res.node.ipv4, "172.16.0.6/32");
	/* Outside the network: refused. */
	assert_int_equal(
		join(t, &(struct test_join){.id = "g", .key_seed = 7, .request = "10.0.0.1"}, &res),
		-EINVAL);

	assert_int_equal(wm_fsm_get_node(t->f, "b", &n), 0);
	ip_is(&n.ipv4, "172.16.0.2/32");
	assert_int_equal(wm_fsm_get_node(t->f, "zz", &n), -ENOENT);

	struct wm_mesh_node *nodes;
	size_t nn;
	assert_int_equal(wm_fsm_list_nodes(t->f, &nodes, &nn), 0);
	assert_int_equal(nn, 6);
	assert_string_equal(nodes[0].id, "a");
	assert_string_equal(nodes[5].id, "f");
	free(nodes);
}

static void test_rejoin_same_key(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;

	assert_int_equal(bootstrap(t, "172.16.0.0/12"), 0);
	assert_int_equal(join(t, &(struct test_join){.id = "a", .key_seed = 1}, &res), 0);
	assert_int_equal(join(t, &(struct test_join){.id = "b", .key_seed = 2}, &res), 0);
	ip_is(&res.node.ipv4, "172.16.0.2/32");
	assert_int_equal(join(t,
			      &(struct test_join){.id = "b",
						  .key_seed = 2,
						  .endpoint = "[2001:db8::1]:4000",
						  .port = 4000,
						  .request = "172.16.0.9"},
			      &res),
			 0);
	ip_is(&res.node.ipv4, "172.16.0.2/32");
	assert_int_equal(res.node.listen_port, 4000);
	assert_int_equal(res.node.n_endpoints, 1);
	assert_int_equal(res.node.endpoints[0].port, 4000);
	assert_int_equal(res.node.joined_at, 1700000100);
}

static void test_other_key_refused(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	char key[WM_KEY_B64_LEN + 1];

	assert_int_equal(bootstrap(t, "172.16.0.0/12"), 0);
	assert_int_equal(join(t, &(struct test_join){.id = "a", .key_seed = 1}, &res), 0);
	assert_int_equal(join(t, &(struct test_join){.id = "b", .key_seed = 2}, &res), 0);

	char *before = dump(t->f);
	struct snap s = snap_take(t->f);
	assert_int_equal(join(t, &(struct test_join){.id = "a", .key_seed = 9}, &res),
			 -WM_EKEYMISMATCH);
	assert_string_equal(res.message, "node ID a is registered with another public key");
	assert_string_equal(res.node.id, "");
	snap_same(t->f, s);

	/* The same key under another ID. */
	s = snap_take(t->f);
	test_key(2, key);
	assert_int_equal(join(t, &(struct test_join){.id = "c", .key = key}, &res), -EEXIST);
	assert_non_null(strstr(res.message, "registered to node b"));
	snap_same(t->f, s);
	char *after = dump(t->f);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_remove_releases(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	struct wm_mesh_edge *edges;
	size_t ne;

	assert_int_equal(bootstrap(t, "172.16.0.0/12"), 0);
	for (int i = 0; i < 4; i++) {
		char id[8];
		snprintf(id, sizeof(id), "n%d", i);
		assert_int_equal(
			join(t, &(struct test_join){.id = id, .key_seed = i, .full_mesh = true},
			     &res),
			0);
	}
	assert_int_equal(wm_fsm_list_edges(t->f, &edges, &ne), 0);
	assert_int_equal(ne, 6);
	free(edges);
	assert_int_equal(removen(t, "n1"), 0);
	assert_int_equal(removen(t, "n1"), -ENOENT);
	assert_int_equal(wm_fsm_list_edges(t->f, &edges, &ne), 0);
	assert_int_equal(ne, 3);
	for (size_t i = 0; i < ne; i++) {
		assert_string_not_equal(edges[i].source, "n1");
		assert_string_not_equal(edges[i].target, "n1");
	}
	free(edges);
	/* The released lease is the lowest free host again. */
	assert_int_equal(join(t, &(struct test_join){.id = "x", .key_seed = 10}, &res), 0);
	ip_is(&res.node.ipv4, "172.16.0.2/32");
	assert_int_equal(join(t, &(struct test_join){.id = "y", .key_seed = 11}, &res), 0);
	ip_is(&res.node.ipv4, "172.16.0.5/32");
	/* The key of a removed node may be used again, by any ID. */
	assert_int_equal(join(t, &(struct test_join){.id = "z", .key_seed = 1}, &res), 0);
	ip_is(&res.node.ipv4, "172.16.0.6/32");
}

static void test_exhaustion(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;

	assert_int_equal(bootstrap(t, "192.168.77.0/30"), 0);
	assert_int_equal(join(t, &(struct test_join){.id = "a", .key_seed = 1}, &res), 0);
	ip_is(&res.node.ipv4, "192.168.77.1/32");
	assert_int_equal(join(t, &(struct test_join){.id = "b", .key_seed = 2}, &res), 0);
	ip_is(&res.node.ipv4, "192.168.77.2/32");
	struct snap s = snap_take(t->f);
	assert_int_equal(join(t, &(struct test_join){.id = "c", .key_seed = 3}, &res),
			 -WM_EEXHAUSTED);
	assert_non_null(strstr(res.message, "192.168.77.0/30"));
	snap_same(t->f, s);
	/* Re-joining an existing node needs no new address. */
	assert_int_equal(join(t, &(struct test_join){.id = "b", .key_seed = 2}, &res), 0);
	assert_int_equal(removen(t, "a"), 0);
	assert_int_equal(join(t, &(struct test_join){.id = "c", .key_seed = 3}, &res), 0);
	ip_is(&res.node.ipv4, "192.168.77.1/32");
}

static void test_full_mesh_and_edges(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	struct wm_mesh_edge *edges;
	size_t ne;

	assert_int_equal(bootstrap(t, "172.16.0.0/12"), 0);
	assert_int_equal(
		join(t, &(struct test_join){.id = "c", .key_seed = 3, .full_mesh = true}, &res), 0);
	assert_int_equal(
		join(t, &(struct test_join){.id = "a", .key_seed = 1, .full_mesh = true}, &res), 0);
	assert_int_equal(
		join(t, &(struct test_join){.id = "b", .key_seed = 2, .full_mesh = true}, &res), 0);
	assert_int_equal(join(t, &(struct test_join){.id = "d", .key_seed = 4}, &res), 0);
	assert_int_equal(wm_fsm_list_edges(t->f, &edges, &ne), 0);
	assert_int_equal(ne, 3);
	assert_string_equal(edges[0].source, "a");
	assert_string_equal(edges[0].target, "b");
	assert_string_equal(edges[1].source, "a");
	assert_string_equal(edges[1].target, "c");
	assert_string_equal(edges[2].source, "b");
	assert_string_equal(edges[2].target, "c");
	for (size_t i = 0; i < ne; i++)
		assert_int_equal(edges[i].weight, 1);
	free(edges);

	/* One row per link, whichever way round it is named. */
	assert_int_equal(edge(t, true, "c", "a", 5), 0);
	assert_int_equal(edge(t, true, "d", "a", 2), 0);
	assert_int_equal(wm_fsm_list_edges(t->f, &edges, &ne), 0);
	assert_int_equal(ne, 4);
	assert_string_equal(edges[1].target, "c");
	assert_int_equal(edges[1].weight, 5);
	assert_string_equal(edges[2].source, "a");
	assert_string_equal(edges[2].target, "d");
	free(edges);
	char *d = dump(t->f);
	assert_non_null(strstr(
		d,
		"edge source=a target=c weight=5 attributes={\"kind\":\"wan \\x5c\"x\\x5c\"\"}"));
	free(d);

	struct snap s = snap_take(t->f);
	assert_int_equal(edge(t, true, "a", "zz", 1), -ENOENT);
	assert_int_equal(edge(t, true, "a", "b", 0), -EINVAL);
	assert_int_equal(edge(t, true, "a", "a", 1), -EINVAL);
	assert_int_equal(edge(t, true, "a", "B", 1), -EINVAL);
	assert_int_equal(edge(t, false, "b", "d", 0), -ENOENT);
	snap_same(t->f, s);
	assert_int_equal(edge(t, false, "c", "a", 0), 0);
	assert_int_equal(edge(t, false, "a", "c", 0), -ENOENT);
	assert_int_equal(wm_fsm_list_edges(t->f, &edges, &ne), 0);
	assert_int_equal(ne, 3);
	free(edges);
}

static void test_invalid_inputs(void **state)
{
	struct t *t = *state;
	struct wm_store_result res;
	size_t len;

	assert_int_equal(bootstrap(t, "172.16.0.0/12"), 0);
	struct snap s = snap_take(t->f);
	assert_int_equal(join(t, &(struct test_join){.id = "a", .key = "not-a-key"}, &res),
			 -EINVAL);
	assert_non_null(strstr(res.message, "public key"));
	assert_int_equal(
		join(t,
		     &(struct test_join){.id = "a",
					 .key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
		     &res),
		-EINVAL); /* all-zero key */
	assert_int_equal(join(t, &(struct test_join){.id = "Bad_ID", .key_seed = 1}, &res),
			 -EINVAL);
	assert_non_null(strstr(res.message, "node ID"));
	assert_int_equal(join(t, &(struct test_join){.id = "", .key_seed = 1}, &res), -EINVAL);
	assert_int_equal(join(t, &(struct test_join){.id = "localhost", .key_seed = 1}, &res),
			 -EINVAL);
	assert_int_equal(
		join(t, &(struct test_join){.id = "a", .key_seed = 1, .endpoint = "host:51820"},
		     &res),
		-EINVAL);
	assert_non_null(strstr(res.message, "endpoint \"host:51820\""));
	assert_int_equal(
		join(t, &(struct test_join){.id = "a", .key_seed = 1, .endpoint = "1.2.3.4:0"},
		     &res),
		-EINVAL);
	assert_int_equal(join(t,
			      &(struct test_join){.id = "a", .key_seed = 1, .route = "10.0.0.0/33"},
			      &res),
			 -EINVAL);
	assert_int_equal(
		join(t, &(struct test_join){.id = "a", .key_seed = 1, .port = 70000}, &res),
		-EINVAL);
	assert_int_equal(join(t, &(struct test_join){.id = "a", .key_seed = 1, .role = 7}, &res),
			 -EINVAL);
	assert_int_equal(
		join(t, &(struct test_join){.id = "a", .key_seed = 1, .request = "fd00::1"}, &res),
		-EINVAL);
	/* Undecodable and empty commands are refused, not fatal. */
	uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
	assert_int_equal(wm_fsm_apply(t->f, ++t->index, junk, sizeof(junk), &res), -EBADMSG);
	assert_int_equal(res.err, -EINVAL);
	Webmesh__V1__RaftCommand empty = WEBMESH__V1__RAFT_COMMAND__INIT;
	uint8_t *buf = test_pack(&empty, &len);
	assert_int_equal(apply_buf(t->f, &t->index, buf, len, &res), -EINVAL);
	snap_same(t->f, s);
	assert_int_equal(wm_fsm_applied_index(t->f), t->index);
}

/* The same log, with refusals, applied to two fresh databases. */
static void apply_log(struct wm_fsm *f)
{
	struct t t = {.f = f};
	struct wm_store_result res;

	assert_int_equal(bootstrap(&t, "172.16.0.0/12"), 0);
	for (int i = 0; i < 20; i++) {
		char id[8];
		snprintf(id, sizeof(id), "n%02d", i);
		join(&t,
		     &(struct test_join){.id = id,
					 .key_seed = i,
					 .full_mesh = i % 2 == 0,
					 .endpoint = "198.51.100.1:51820"},
		     &res);
	}
	assert_int_equal(join(&t, &(struct test_join){.id = "n03", .key_seed = 99}, &res),
			 -WM_EKEYMISMATCH);
	assert_int_equal(removen(&t, "n05"), 0);
	assert_int_equal(removen(&t, "n13"), 0);
	assert_int_equal(edge(&t, true, "n01", "n02", 7), 0);
	assert_int_equal(join(&t,
			      &(struct test_join){.id = "late", .key_seed = 50, .full_mesh = true},
			      &res),
			 0);
	assert_int_equal(edge(&t, false, "n00", "n02", 0), 0);
}

static void test_determinism(void **state)
{
	(void)state;
	char dir[] = "/tmp/wm-test-fsm-XXXXXX", path[4096 + 16];
	struct wm_fsm *a, *b, *c;
	struct snap sa, sb, sc;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
	/* A stale file at the path is discarded: the log rebuilds the state. */
	FILE *fp = fopen(path, "w");
	fputs("stale", fp);
	fclose(fp);
	assert_int_equal(wm_fsm_open(path, &a, NULL, 0), 0);
	assert_int_equal(wm_fsm_open(":memory:", &b, NULL, 0), 0);
	assert_int_equal(wm_fsm_open(":memory:", &c, NULL, 0), 0);
	apply_log(a);
	apply_log(b);
	apply_log(c);
	sa = snap_take(a);
	sb = snap_take(b);
	sc = snap_take(c);
	assert_int_equal(sb.len, sc.len);
	assert_memory_equal(sb.buf, sc.buf, sb.len);
	/* A file database and a memory one hold the same pages. */
	assert_int_equal(sa.len, sb.len);
	assert_memory_equal(sa.buf + 100, sb.buf + 100, sa.len - 100);
	char *da = dump(a), *db = dump(b);
	assert_string_equal(da, db);
	free(da);
	free(db);
	free(sa.buf);
	free(sb.buf);
	free(sc.buf);
	wm_fsm_close(a);
	wm_fsm_close(b);
	wm_fsm_close(c);
	unlink(path);
	rmdir(dir);
}

static void test_snapshot_restore(void **state)
{
	struct t *t = *state;
	struct wm_fsm *g;
	struct wm_store_result res;
	struct snap s;

	apply_log(t->f);
	t->index = wm_fsm_applied_index(t->f);
	s = snap_take(t->f);

	assert_int_equal(wm_fsm_open(":memory:", &g, NULL, 0), 0);
	struct t u = {.f = g};
	/* Some state of its own first: a restore replaces everything. */
	assert_int_equal(bootstrap(&u, "10.0.0.0/8"), 0);
	assert_int_equal(wm_fsm_restore(g, s.buf, s.len), 0);
	assert_int_equal(wm_fsm_applied_index(g), wm_fsm_applied_index(t->f));
	char *d1 = dump(t->f), *d2 = dump(g);
	assert_string_equal(d1, d2);
	free(d1);
	free(d2);

	/* Both continue identically from there. */
	u.index = t->index;
	assert_int_equal(join(t,
			      &(struct test_join){.id = "after", .key_seed = 77, .full_mesh = true},
			      &res),
			 0);
	assert_int_equal(join(&u,
			      &(struct test_join){.id = "after", .key_seed = 77, .full_mesh = true},
			      &res),
			 0);
	ip_is(&res.node.ipv4, "172.16.0.14/32"); /* n13's released lease */
	assert_int_equal(removen(t, "n07"), 0);
	assert_int_equal(removen(&u, "n07"), 0);
	d1 = dump(t->f);
	d2 = dump(g);
	assert_string_equal(d1, d2);
	free(d1);

	/* Garbage and foreign databases are refused and change nothing. */
	uint8_t junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	assert_int_not_equal(wm_fsm_restore(g, junk, sizeof(junk)), 0);
	assert_int_not_equal(wm_fsm_restore(g, junk, 10), 0);
	struct wm_fsm *foreign;
	assert_int_equal(wm_fsm_open(":memory:", &foreign, NULL, 0), 0);
	sqlite3_exec(wm_fsm_db(foreign), "PRAGMA user_version = 99", NULL, NULL, NULL);
	struct snap fs = snap_take(foreign);
	assert_int_equal(wm_fsm_restore(g, fs.buf, fs.len), -EINVAL);
	free(fs.buf);
	wm_fsm_close(foreign);
	char *d3 = dump(g);
	assert_string_equal(d2, d3);
	free(d2);
	free(d3);
	free(s.buf);
	wm_fsm_close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_sequential, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejoin_same_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_key_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_releases, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_mesh_and_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_inputs, setup, teardown),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test_setup_teardown(test_snapshot_restore, setup, teardown),
	};
	return cmocka_run_group_tests_name("fsm", tests, NULL, NULL);
}
