/* Unit tests of the FSM's topology rules: full and manual joins, zones, via,
 * edges kept across rejoins, and the routes an administrator puts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/error.h"
#include "store/fsm.h"
#include "test_store_util.h"

struct t {
	struct wm_fsm *f;
	uint64_t index;
	struct wm_store_result res;
	/* The leader's decision on overlapping routes, put in join and route
	 * commands: by default any (an administrator), else only overrides. */
	bool limited;
	bool unchecked; /* an entry from a leader that predates route rights */
	char *overrides[2];
	size_t n_overrides;
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

static int apply(struct t *t, Webmesh__V1__RaftCommand *cmd)
{
	size_t len;
	uint8_t *buf = test_pack(cmd, &len);

	assert_int_equal(wm_fsm_apply(t->f, ++t->index, buf, len, &t->res), 0);
	free(buf);
	return t->res.err;
}

static int bootstrap(struct t *t, const char *topology)
{
	Webmesh__V1__BootstrapMeshCommand b = WEBMESH__V1__BOOTSTRAP_MESH_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;

	b.network_ipv4 = "172.16.0.0/12";
	b.network_ipv6 = "fd12:3456:789a::/48";
	b.domain = "webmesh.internal";
	b.created_at = 1700000000;
	b.topology = (char *)topology;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_BOOTSTRAP;
	cmd.bootstrap = &b;
	return apply(t, &cmd);
}

struct jn {
	const char *id;
	int seed;
	const char *via;
	const char *zone;
	int role;
	const char *routes[3];
	const char *exit_node;
};

static int join(struct t *t, const struct jn *j)
{
	Webmesh__V1__JoinNodeCommand c = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char key[WM_KEY_B64_LEN + 1];
	char *routes[3];

	test_key(j->seed, key);
	c.id = (char *)j->id;
	c.public_key = key;
	c.listen_port = 51820;
	c.raft_role = j->role;
	c.zone = (char *)(j->zone ? j->zone : "");
	c.via = (char *)(j->via ? j->via : "");
	c.exit_node = (char *)(j->exit_node ? j->exit_node : "");
	c.full_mesh = true;
	c.joined_at = 1700000001;
	for (; c.n_routes < 3 && j->routes[c.n_routes]; c.n_routes++)
		routes[c.n_routes] = (char *)j->routes[c.n_routes];
	c.routes = routes;
	c.route_override_any = !t->limited;
	c.route_overrides = t->overrides;
	c.n_route_overrides = t->n_overrides;
	c.route_claims_checked = !t->unchecked;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &c;
	return apply(t, &cmd);
}

static int edge(struct t *t, bool put, const char *a, const char *b, int w)
{
	size_t len;
	uint8_t *buf = test_edge_cmd(put, a, b, w, NULL, NULL, &len);

	assert_int_equal(wm_fsm_apply(t->f, ++t->index, buf, len, &t->res), 0);
	free(buf);
	return t->res.err;
}

/* Puts a-b with the attributes "k=v" given (at most 4). */
static int edge_attrs(struct t *t, const char *a, const char *b, const char *const *kv)
{
	Webmesh__V1__PutEdgeCommand p = WEBMESH__V1__PUT_EDGE_COMMAND__INIT;
	Webmesh__V1__PutEdgeCommand__AttributesEntry e[4], *ep[4];
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char buf[4][64];

	p.source = (char *)a;
	p.target = (char *)b;
	p.weight = 1;
	for (; kv && kv[p.n_attributes]; p.n_attributes++) {
		size_t i = p.n_attributes;
		char *eq;

		assert_true(i < 4);
		snprintf(buf[i], sizeof(buf[i]), "%s", kv[i]);
		eq = strchr(buf[i], '=');
		assert_non_null(eq);
		*eq = '\0';
		webmesh__v1__put_edge_command__attributes_entry__init(&e[i]);
		e[i].key = buf[i];
		e[i].value = eq + 1;
		ep[i] = &e[i];
	}
	p.attributes = ep;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_EDGE;
	cmd.put_edge = &p;
	return apply(t, &cmd);
}

/* Whether the listed edge a-b (as stored: a < b) is marked ice. */
static bool edge_libp2p(struct t *t, const char *a, const char *b)
{
	struct wm_mesh_edge *e;
	size_t n;
	bool mark = false;

	assert_int_equal(wm_fsm_list_edges(t->f, &e, &n), 0);
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].source, a) == 0 && strcmp(e[i].target, b) == 0)
			mark = e[i].libp2p;
	free(e);
	return mark;
}

static bool edge_ice(struct t *t, const char *a, const char *b)
{
	struct wm_mesh_edge *e;
	size_t n;
	bool ice = false, found = false;

	assert_int_equal(wm_fsm_list_edges(t->f, &e, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(e[i].source, a) == 0 && strcmp(e[i].target, b) == 0) {
			found = true;
			ice = e[i].ice;
		}
	}
	free(e);
	assert_true(found);
	return ice;
}

static int routes(struct t *t, bool put, const char *id, const char *r1, const char *r2)
{
	Webmesh__V1__PutRoutesCommand p = WEBMESH__V1__PUT_ROUTES_COMMAND__INIT;
	Webmesh__V1__DeleteRoutesCommand d = WEBMESH__V1__DELETE_ROUTES_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char *list[2] = {(char *)r1, (char *)r2};
	size_t n = r1 ? (r2 ? 2 : 1) : 0;

	if (put) {
		p.node_id = (char *)id;
		p.routes = list;
		p.n_routes = n;
		p.route_override_any = !t->limited;
		p.route_overrides = t->overrides;
		p.n_route_overrides = t->n_overrides;
		p.route_claims_checked = !t->unchecked;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_PUT_ROUTES;
		cmd.put_routes = &p;
	} else {
		d.node_id = (char *)id;
		d.routes = list;
		d.n_routes = n;
		cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_DELETE_ROUTES;
		cmd.delete_routes = &d;
	}
	return apply(t, &cmd);
}

/* The edges as "a-b a-c" (weights other than 1 as "a-b:5"). */
static void edges_text(struct t *t, char *out, size_t len)
{
	struct wm_mesh_edge *e;
	size_t n, o = 0;

	assert_int_equal(wm_fsm_list_edges(t->f, &e, &n), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		o += (size_t)snprintf(out + o, len - o, "%s%s-%s", i ? " " : "", e[i].source,
				      e[i].target);
		if (e[i].weight != 1)
			o += (size_t)snprintf(out + o, len - o, ":%d", e[i].weight);
	}
	free(e);
}

#define assert_edges(t, want)                                                                      \
	do {                                                                                       \
		char got_[512];                                                                    \
		edges_text(t, got_, sizeof(got_));                                                 \
		assert_string_equal(got_, want);                                                   \
	} while (0)

static void test_full_is_the_default(void **state)
{
	struct t *t = *state;
	struct wm_mesh_info info;

	assert_int_equal(bootstrap(t, ""), 0);
	assert_int_equal(wm_fsm_mesh_info(t->f, &info), 0);
	assert_int_equal(info.topology, WM_TOPOLOGY_FULL);
	assert_int_equal(join(t, &(struct jn){"s", 1, .role = 1}), 0);
	assert_int_equal(join(t, &(struct jn){"a", 2, .via = "s"}), 0);
	assert_int_equal(join(t, &(struct jn){"b", 3, .via = "s"}), 0);
	assert_edges(t, "a-b a-s b-s");
}

static void test_bad_topology_refused(void **state)
{
	struct t *t = *state;
	struct wm_mesh_info info;

	assert_int_equal(bootstrap(t, "star"), -EINVAL);
	assert_non_null(strstr(t->res.message, "full"));
	assert_int_equal(wm_fsm_mesh_info(t->f, &info), -WM_ENOMESH);
	assert_int_equal(bootstrap(t, "full"), 0);
}

static void test_manual_edge_to_via_only(void **state)
{
	struct t *t = *state;
	struct wm_mesh_info info;

	assert_int_equal(bootstrap(t, "manual"), 0);
	assert_int_equal(wm_fsm_mesh_info(t->f, &info), 0);
	assert_int_equal(info.topology, WM_TOPOLOGY_MANUAL);
	assert_int_equal(join(t, &(struct jn){"s1", 1, .role = 1}), 0);
	assert_edges(t, "");
	assert_int_equal(join(t, &(struct jn){"s2", 2, .via = "s1", .role = 1}), 0);
	assert_int_equal(join(t, &(struct jn){"a", 3, .via = "s2"}), 0);
	assert_int_equal(join(t, &(struct jn){"b", 4, .via = "s1"}), 0);
	assert_edges(t, "a-s2 b-s1 s1-s2");
}

static void test_manual_without_via_links_voters(void **state)
{
	struct t *t = *state;

	assert_int_equal(bootstrap(t, "manual"), 0);
	assert_int_equal(join(t, &(struct jn){"s1", 1, .role = 1}), 0);
	assert_int_equal(join(t, &(struct jn){"m", 2}), 0);
	assert_int_equal(join(t, &(struct jn){"s2", 3, .role = 1}), 0);
	/* an unknown via falls back too */
	assert_int_equal(join(t, &(struct jn){"a", 4, .via = "ghost"}), 0);
	assert_edges(t, "a-s1 a-s2 m-s1 s1-s2");
	assert_int_equal(join(t, &(struct jn){"b", 5, .via = "Bad_ID"}), -EINVAL);
	assert_non_null(strstr(t->res.message, "via"));
}

static void test_manual_zones(void **state)
{
	struct t *t = *state;

	assert_int_equal(bootstrap(t, "manual"), 0);
	assert_int_equal(join(t, &(struct jn){"s", 1, .role = 1}), 0);
	assert_int_equal(join(t, &(struct jn){"a1", 2, .via = "s", .zone = "site-a"}), 0);
	assert_int_equal(join(t, &(struct jn){"b1", 3, .via = "s", .zone = "site-b"}), 0);
	assert_int_equal(join(t, &(struct jn){"a2", 4, .via = "s", .zone = "site-a"}), 0);
	assert_int_equal(join(t, &(struct jn){"a3", 5, .via = "s", .zone = "site-a"}), 0);
	assert_edges(t, "a1-a2 a1-a3 a1-s a2-a3 a2-s a3-s b1-s");
}

/* The user governs edges: a rejoin (restart, new endpoints) brings no deleted
 * edge back, and keeps the weights the user set. */
static void test_rejoin_keeps_user_edges(void **state)
{
	struct t *t = *state;

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1, .role = 1}), 0);
	assert_int_equal(join(t, &(struct jn){"b", 2}), 0);
	assert_int_equal(join(t, &(struct jn){"c", 3}), 0);
	assert_int_equal(edge(t, false, "c", "a", 0), 0);
	assert_int_equal(edge(t, true, "b", "c", 7), 0);
	assert_int_equal(join(t, &(struct jn){"c", 3}), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1, .role = 1}), 0);
	assert_edges(t, "a-b b-c:7");
	/* leaving and joining again is a new node: it gets its edges again */
	{
		size_t len;
		uint8_t *buf = test_remove_cmd("c", &len);

		assert_int_equal(wm_fsm_apply(t->f, ++t->index, buf, len, &t->res), 0);
		free(buf);
	}
	assert_int_equal(join(t, &(struct jn){"c", 3}), 0);
	assert_edges(t, "a-b a-c b-c");
}

static void node_routes(struct t *t, const char *id, char *out, size_t len)
{
	struct wm_mesh_node n;
	size_t o = 0;

	assert_int_equal(wm_fsm_get_node(t->f, id, &n), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n.n_routes; i++) {
		char p[WM_PREFIX_STRLEN];

		wm_prefix_format(&n.routes[i], p, sizeof(p));
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "", p);
	}
}

#define assert_routes(t, id, want)                                                                 \
	do {                                                                                       \
		char got_[1024];                                                                   \
		node_routes(t, id, got_, sizeof(got_));                                            \
		assert_string_equal(got_, want);                                                   \
	} while (0)

static void test_put_and_delete_routes(void **state)
{
	struct t *t = *state;
	char *dump;

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1, .routes = {"10.1.0.0/16"}}), 0);
	assert_int_equal(join(t, &(struct jn){"b", 2}), 0);
	assert_int_equal(routes(t, true, "b", "192.168.7.9/24", "0.0.0.0/0"), 0);
	assert_int_equal(routes(t, true, "b", "192.168.7.0/24", NULL), 0); /* idempotent */
	assert_routes(t, "b", "0.0.0.0/0 192.168.7.0/24");
	/* a route the node advertises itself is listed once */
	assert_int_equal(routes(t, true, "a", "10.1.0.0/16", "10.2.0.0/16"), 0);
	assert_routes(t, "a", "10.1.0.0/16 10.2.0.0/16");
	/* a rejoin refreshes the node's own routes and keeps the administrator's */
	assert_int_equal(join(t, &(struct jn){"a", 1, .routes = {"10.3.0.0/16"}}), 0);
	assert_routes(t, "a", "10.3.0.0/16 10.1.0.0/16 10.2.0.0/16");

	assert_int_equal(routes(t, false, "b", "192.168.7.0/24", NULL), 0);
	assert_routes(t, "b", "0.0.0.0/0");
	assert_int_equal(routes(t, false, "b", "192.168.7.0/24", NULL), -ENOENT);
	assert_int_equal(routes(t, false, "a", "10.3.0.0/16", NULL), -EINVAL);
	assert_non_null(strstr(t->res.message, "itself"));
	assert_int_equal(wm_fsm_dump(t->f, &dump), 0);
	assert_non_null(strstr(dump, "route node_id=a prefix=10.2.0.0/16\n"));
	assert_non_null(strstr(dump, "route node_id=b prefix=0.0.0.0/0\n"));
	free(dump);

	/* the routes go with the node */
	{
		size_t len;
		uint8_t *buf = test_remove_cmd("b", &len);

		assert_int_equal(wm_fsm_apply(t->f, ++t->index, buf, len, &t->res), 0);
		free(buf);
	}
	assert_int_equal(wm_fsm_dump(t->f, &dump), 0);
	assert_null(strstr(dump, "route node_id=b"));
	free(dump);
}

static void test_bad_routes_refused(void **state)
{
	struct t *t = *state;
	char *before, *after;

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1}), 0);
	assert_int_equal(wm_fsm_dump(t->f, &before), 0);
	assert_int_equal(routes(t, true, "a", "10.0.0.0/33", NULL), -EINVAL);
	assert_int_equal(routes(t, true, "a", "nonsense", NULL), -EINVAL);
	assert_int_equal(routes(t, true, "a", "172.16.5.0/24", NULL), -EINVAL);
	assert_non_null(strstr(t->res.message, "inside the mesh network"));
	assert_int_equal(routes(t, true, "a", "fd12:3456:789a:1::/64", NULL), -EINVAL);
	/* one bad route refuses the whole command */
	assert_int_equal(routes(t, true, "a", "10.9.0.0/16", "bad"), -EINVAL);
	assert_int_equal(routes(t, true, "ghost", "10.9.0.0/16", NULL), -ENOENT);
	assert_int_equal(routes(t, true, "Bad", "10.9.0.0/16", NULL), -EINVAL);
	assert_int_equal(routes(t, true, "a", NULL, NULL), -EINVAL);
	assert_int_equal(join(t, &(struct jn){"b", 2, .routes = {"172.20.0.0/16"}}), -EINVAL);
	assert_int_equal(wm_fsm_dump(t->f, &after), 0);
	/* refused writes change nothing (the meta row counts applied entries only) */
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* Routes over another node's (issue 10): refused unless the command lists
 * that node, whatever the leader thought when it wrote the command. */
static void test_route_overlaps_need_overrides(void **state)
{
	struct t *t = *state;
	char *before, *after;

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"site-a", 1, .routes = {"10.1.0.0/16"}}), 0);
	assert_int_equal(join(t, &(struct jn){"exit", 2, .routes = {"0.0.0.0/0", "::/0"}}), 0);
	assert_int_equal(join(t, &(struct jn){"evil", 3}), 0);
	assert_int_equal(wm_fsm_dump(t->f, &before), 0);
	t->limited = true;
	/* the split, put for evil: the exit node's /0 comes first (by ID) */
	assert_int_equal(routes(t, true, "evil", "10.1.0.0/17", "10.1.128.0/17"), -EACCES);
	assert_string_equal(t->res.message, "route 10.1.0.0/17 overlaps 0.0.0.0/0 of node exit: "
					    "putting it needs put routes exit");
	t->overrides[0] = "exit";
	t->n_overrides = 1;
	assert_int_equal(routes(t, true, "evil", "10.1.0.0/17", "10.1.128.0/17"), -EACCES);
	assert_string_equal(t->res.message, "route 10.1.0.0/17 overlaps 10.1.0.0/16 of node "
					    "site-a: putting it needs put routes site-a");
	/* undercutting the exit node at join, IPv4 and IPv6 */
	t->n_overrides = 0;
	assert_int_equal(join(t, &(struct jn){"evil", 3, .routes = {"0.0.0.0/1", "128.0.0.0/1"}}),
			 -EACCES);
	assert_string_equal(t->res.message, "route 0.0.0.0/1 overlaps 0.0.0.0/0 of node exit: "
					    "putting it needs put routes exit");
	assert_int_equal(join(t, &(struct jn){"evil", 3, .routes = {"8000::/1"}}), -EACCES);
	assert_string_equal(t->res.message, "route 8000::/1 overlaps ::/0 of node exit: putting "
					    "it needs put routes exit");
	/* a wider route over site-a's, the same one, a new node */
	t->overrides[0] = "exit";
	t->n_overrides = 1;
	assert_int_equal(join(t, &(struct jn){"newbie", 4, .routes = {"10.0.0.0/8"}}), -EACCES);
	assert_int_equal(join(t, &(struct jn){"newbie", 4, .routes = {"10.1.0.0/16"}}), -EACCES);
	assert_string_equal(t->res.message, "route 10.1.0.0/16 overlaps 10.1.0.0/16 of node "
					    "site-a: putting it needs put routes site-a");
	assert_int_equal(wm_fsm_dump(t->f, &after), 0);
	assert_string_equal(before, after);
	free(after);
	/* nodes coming back with the routes they have need nothing */
	t->n_overrides = 0;
	assert_int_equal(join(t, &(struct jn){"site-a", 1, .routes = {"10.1.0.0/16"}}), 0);
	assert_int_equal(join(t, &(struct jn){"exit", 2, .routes = {"0.0.0.0/0", "::/0"}}), 0);
	/* with both owners listed the split goes in; a route overlapping no
	 * one's but evil's own needs nothing more */
	t->overrides[0] = "site-a";
	t->overrides[1] = "exit";
	t->n_overrides = 2;
	assert_int_equal(routes(t, true, "evil", "10.1.0.0/17", "10.1.128.0/17"), 0);
	assert_routes(t, "evil", "10.1.0.0/17 10.1.128.0/17");
	/* An entry written before route rights existed (no overrides, no
	 * check mark) applies as it did then: replaying an old log must give
	 * the state its callers were told was stored. */
	t->n_overrides = 0;
	t->unchecked = true;
	assert_int_equal(join(t, &(struct jn){"old", 5, .routes = {"10.1.0.0/24"}}), 0);
	assert_routes(t, "old", "10.1.0.0/24");
	t->unchecked = false;
	t->limited = false;
	free(before);
}

static void test_exit_node_stored(void **state)
{
	struct t *t = *state;
	struct wm_mesh_node n;

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"gw", 1, .routes = {"0.0.0.0/0"}}), 0);
	assert_int_equal(join(t, &(struct jn){"a", 2, .exit_node = "gw"}), 0);
	assert_int_equal(wm_fsm_get_node(t->f, "a", &n), 0);
	assert_string_equal(n.exit_node, "gw");
	/* a rejoin without one clears it */
	assert_int_equal(join(t, &(struct jn){"a", 2}), 0);
	assert_int_equal(wm_fsm_get_node(t->f, "a", &n), 0);
	assert_string_equal(n.exit_node, "");
	assert_int_equal(join(t, &(struct jn){"b", 3, .exit_node = "b"}), -EINVAL);
	assert_int_equal(join(t, &(struct jn){"b", 3, .exit_node = "Not-An-ID"}), -EINVAL);
	assert_non_null(strstr(t->res.message, "exit node"));
}

/* WireGuard over libp2p: the attribute libp2p=true (that exact value) marks
 * an edge; a node's published peer ID and addresses are stored canonical,
 * cleared by a rejoin without them, and refused when malformed. */
static void test_libp2p_stored(void **state)
{
	struct t *t = *state;
	struct wm_mesh_node n;
	const char *id = "12D3KooWJ1TsijH7H5F74hfAD5XishQz3sxrmAtVY37GtNd9CqYf";
	char addr_p2p[160];
	char *good[] = {"/ip4/10.0.0.2/tcp/4001", addr_p2p, "/ip6/fd00::2/tcp/4001"};

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1}), 0);
	assert_int_equal(join(t, &(struct jn){"b", 2}), 0);
	assert_false(edge_libp2p(t, "a", "b"));
	assert_int_equal(edge_attrs(t, "a", "b", (const char *const[]){"libp2p=true", NULL}), 0);
	assert_true(edge_libp2p(t, "a", "b"));
	assert_false(edge_ice(t, "a", "b"));
	assert_int_equal(edge_attrs(t, "a", "b", (const char *const[]){"libp2p=yes", NULL}), 0);
	assert_false(edge_libp2p(t, "a", "b"));

	snprintf(addr_p2p, sizeof(addr_p2p), "/ip4/192.0.2.7/tcp/4002/p2p/%s", id);
	Webmesh__V1__JoinNodeCommand c = WEBMESH__V1__JOIN_NODE_COMMAND__INIT;
	Webmesh__V1__RaftCommand cmd = WEBMESH__V1__RAFT_COMMAND__INIT;
	char key[WM_KEY_B64_LEN + 1];
	test_key(3, key);
	c.id = "c";
	c.public_key = key;
	c.listen_port = 51820;
	c.full_mesh = true;
	c.route_override_any = true;
	c.route_claims_checked = true;
	c.libp2p_peer_id = (char *)id;
	c.libp2p_addrs = good;
	c.n_libp2p_addrs = 3;
	cmd.command_case = WEBMESH__V1__RAFT_COMMAND__COMMAND_JOIN_NODE;
	cmd.join_node = &c;
	assert_int_equal(apply(t, &cmd), 0);
	assert_int_equal(wm_fsm_get_node(t->f, "c", &n), 0);
	assert_string_equal(n.libp2p_id, id);
	/* the /p2p part (its own ID) is dropped */
	assert_string_equal(n.libp2p_addrs, "/ip4/10.0.0.2/tcp/4001,/ip4/192.0.2.7/tcp/4002,"
					    "/ip6/fd00::2/tcp/4001");

	/* refused, nothing changed */
	char other[160];
	snprintf(other, sizeof(other), "/ip4/10.0.0.2/tcp/4001/p2p/%s",
		 "12D3KooWQuWxJ74FW94M9d6SSBmxn5DVpdwzpAf4XFxMNK8yrWwQ");
	char *bad_addrs[][1] = {{"/ip4/10.0.0.2/udp/4001"}, {other}, {"not a multiaddr"}};
	for (size_t i = 0; i < 3; i++) {
		c.libp2p_addrs = bad_addrs[i];
		c.n_libp2p_addrs = 1;
		assert_int_equal(apply(t, &cmd), -EINVAL);
		assert_non_null(strstr(t->res.message, "libp2p address"));
	}
	char *five[] = {good[0], good[0], good[0], good[0], good[0]};
	c.libp2p_addrs = five;
	c.n_libp2p_addrs = 5;
	assert_int_equal(apply(t, &cmd), -EINVAL);
	assert_non_null(strstr(t->res.message, "too many libp2p addresses"));
	c.libp2p_peer_id = "QmNotAKey";
	c.n_libp2p_addrs = 0;
	assert_int_equal(apply(t, &cmd), -EINVAL);
	assert_non_null(strstr(t->res.message, "not a libp2p peer ID"));
	c.libp2p_peer_id = "";
	c.libp2p_addrs = good;
	c.n_libp2p_addrs = 1;
	assert_int_equal(apply(t, &cmd), -EINVAL);
	assert_non_null(strstr(t->res.message, "without a libp2p peer ID"));
	assert_int_equal(wm_fsm_get_node(t->f, "c", &n), 0);
	assert_string_equal(n.libp2p_id, id);
	/* a rejoin without libp2p clears it */
	c.n_libp2p_addrs = 0;
	assert_int_equal(apply(t, &cmd), 0);
	assert_int_equal(wm_fsm_get_node(t->f, "c", &n), 0);
	assert_string_equal(n.libp2p_id, "");
	assert_string_equal(n.libp2p_addrs, "");
}

static void test_route_limit(void **state)
{
	struct t *t = *state;
	char r[32];

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1, .routes = {"10.200.0.0/16"}}), 0);
	for (int i = 0; i < WM_MAX_ROUTES - 1; i++) {
		snprintf(r, sizeof(r), "10.%d.0.0/16", i);
		assert_int_equal(routes(t, true, "a", r, NULL), 0);
	}
	assert_int_equal(routes(t, true, "a", "10.100.0.0/16", NULL), -EINVAL);
	assert_non_null(strstr(t->res.message, "more than"));
	/* a rejoin with one more of its own is refused as well */
	assert_int_equal(
		join(t, &(struct jn){"a", 1, .routes = {"10.200.0.0/16", "10.201.0.0/16"}}),
		-EINVAL);
}

/* The attribute ice=true, and only that exact value, marks an edge in the
 * listing the peer computation reads; other attributes do not disturb it. */
static void test_edge_ice(void **state)
{
	struct t *t = *state;

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1, .role = 1}), 0);
	assert_int_equal(join(t, &(struct jn){"b", 2}), 0);
	assert_int_equal(join(t, &(struct jn){"c", 3}), 0);
	/* the edges a join makes carry no attributes */
	assert_false(edge_ice(t, "a", "b"));

	assert_int_equal(edge_attrs(t, "b", "a", (const char *const[]){"ice=true", NULL}), 0);
	assert_true(edge_ice(t, "a", "b"));
	assert_false(edge_ice(t, "a", "c"));
	assert_false(edge_ice(t, "b", "c"));
	/* among other keys, sorted before and after it */
	assert_int_equal(
		edge_attrs(t, "a", "c",
			   (const char *const[]){"zone=x", "ice=true", "a.b/c=\"q\"", NULL}),
		0);
	assert_true(edge_ice(t, "a", "c"));

	static const char *const not_ice[][3] = {
		{"ice=false", NULL},	   {"ice=TRUE", NULL},
		{"ice=1", NULL},	   {"ice=", NULL},
		{"nice=true", NULL},	   {"ice.x=true", NULL},
		{"Ice=true", "link=true"}, {NULL},
	};
	for (size_t i = 0; i < sizeof(not_ice) / sizeof(not_ice[0]); i++) {
		assert_int_equal(edge_attrs(t, "a", "b", not_ice[i]), 0);
		if (edge_ice(t, "a", "b"))
			fail_msg("attributes %s %s mark the edge ice", not_ice[i][0],
				 not_ice[i][1] ? not_ice[i][1] : "");
		/* and back: a put replaces the attributes as a whole */
		assert_int_equal(edge_attrs(t, "a", "b", (const char *const[]){"ice=true", NULL}),
				 0);
		assert_true(edge_ice(t, "a", "b"));
	}
	/* the weight and the listing are as before */
	assert_edges(t, "a-b a-c b-c");
}

/* The attributes as "a-b:k=v,k=v a-c:k=v" (edges without any left out). */
static void attrs_text(struct t *t, char *out, size_t len)
{
	struct wm_edge_attr *a;
	size_t n, used = 0;

	assert_int_equal(wm_fsm_list_edge_attrs(t->f, &a, &n), 0);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		bool same = i > 0 && strcmp(a[i].source, a[i - 1].source) == 0 &&
			    strcmp(a[i].target, a[i - 1].target) == 0;
		if (same)
			used += snprintf(out + used, len - used, ",%s=%s", a[i].key, a[i].value);
		else
			used += snprintf(out + used, len - used, "%s%s-%s:%s=%s", i ? " " : "",
					 a[i].source, a[i].target, a[i].key, a[i].value);
		assert_true(used < len);
	}
	free(a);
}

/* What a user put is listed back as it was given, keys sorted, per edge in
 * the order of the edges; a put replaces the set and a delete drops it. */
static void test_edge_attrs_listed(void **state)
{
	struct t *t = *state;
	char got[512];

	assert_int_equal(bootstrap(t, NULL), 0);
	assert_int_equal(join(t, &(struct jn){"a", 1, .role = 1}), 0);
	assert_int_equal(join(t, &(struct jn){"b", 2}), 0);
	assert_int_equal(join(t, &(struct jn){"c", 3}), 0);
	attrs_text(t, got, sizeof(got));
	assert_string_equal(got, "");

	assert_int_equal(
		edge_attrs(t, "c", "a",
			   (const char *const[]){"zone=x", "ice=true", "a.b/c=\"q\\", NULL}),
		0);
	assert_int_equal(edge_attrs(t, "b", "a", (const char *const[]){"link=lab", "e=", NULL}), 0);
	attrs_text(t, got, sizeof(got));
	assert_string_equal(got, "a-b:e=,link=lab a-c:a.b/c=\"q\\,ice=true,zone=x");

	assert_int_equal(edge_attrs(t, "a", "b", (const char *const[]){"k=v", NULL}), 0);
	assert_int_equal(edge(t, false, "a", "c", 0), 0);
	attrs_text(t, got, sizeof(got));
	assert_string_equal(got, "a-b:k=v");
	assert_int_equal(edge_attrs(t, "a", "b", NULL), 0);
	attrs_text(t, got, sizeof(got));
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full_is_the_default, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_topology_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manual_edge_to_via_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manual_without_via_links_voters, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_manual_zones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejoin_keeps_user_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_and_delete_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_routes_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_overlaps_need_overrides, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_exit_node_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_libp2p_stored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_ice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_attrs_listed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
