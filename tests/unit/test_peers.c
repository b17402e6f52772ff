/* Unit tests for src/core/peers.c: table-driven meshes and the peers self must have. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/peers.h"
#include "core/wgconf.h"
#include <stdbool.h>

#define MAXN 16

/* A mesh written compactly:
 *   nodes:  "a b c"                 node i gets 10.0.0.(i+1)/32
 *   edges:  "a-b:1 b-c:5 c-d*"     (a trailing * marks the edge ice)
 *   routes: "c=0.0.0.0/0,::/0 b=192.168.1.0/24"
 * and the expected peers, sorted by ID, each with its allowed IPs in order, a
 * node's own /32 written as its ID: "b:b c|d:d". */
struct mesh_case {
	const char *name;
	const char *nodes;
	const char *edges;
	const char *routes;
	const char *self;
	const char *want;
};

struct mesh {
	struct wm_mesh_node nodes[MAXN];
	size_t n;
	struct wm_mesh_edge edges[64];
	size_t n_edges;
};

static void mesh_build(struct mesh *m, const char *nodes, const char *edges, const char *routes)
{
	char buf[512], *save, *tok;

	memset(m, 0, sizeof(*m));
	snprintf(buf, sizeof(buf), "%s", nodes);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		struct wm_mesh_node *nd = &m->nodes[m->n];

		assert_true(m->n < MAXN);
		snprintf(nd->id, sizeof(nd->id), "%s", tok);
		nd->ipv4 = wm_prefix_from_ipv4_u32(0x0a000001u + (uint32_t)m->n, 32);
		m->n++;
	}
	snprintf(buf, sizeof(buf), "%s", edges ? edges : "");
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		struct wm_mesh_edge *e = &m->edges[m->n_edges++];
		char *dash = strchr(tok, '-'), *colon = strchr(tok, ':');
		size_t len = strlen(tok);

		assert_true(m->n_edges <= 64);
		assert_non_null(dash);
		if (tok[len - 1] == '*') {
			tok[len - 1] = '\0';
			e->ice = true;
		}
		*dash = '\0';
		if (colon)
			*colon = '\0';
		snprintf(e->source, sizeof(e->source), "%s", tok);
		snprintf(e->target, sizeof(e->target), "%s", dash + 1);
		e->weight = colon ? atoi(colon + 1) : 1;
	}
	snprintf(buf, sizeof(buf), "%s", routes ? routes : "");
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '='), *save2, *r;
		struct wm_mesh_node *nd = NULL;

		assert_non_null(eq);
		*eq = '\0';
		for (size_t i = 0; i < m->n; i++)
			if (strcmp(m->nodes[i].id, tok) == 0)
				nd = &m->nodes[i];
		assert_non_null(nd);
		if (eq[1] == '!') { /* "a=!": the leader marked a unreachable */
			nd->unreachable = true;
			continue;
		}
		if (eq[1] == '>') { /* "a=>e": a uses e as its exit node */
			snprintf(nd->exit_node, sizeof(nd->exit_node), "%s", eq + 2);
			continue;
		}
		for (r = strtok_r(eq + 1, ",", &save2); r; r = strtok_r(NULL, ",", &save2))
			assert_int_equal(wm_prefix_parse(r, &nd->routes[nd->n_routes++]), 0);
	}
}

static void set_format(const struct mesh *m, const struct wm_peer_set *set, char *out, size_t len)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < set->n_peers; i++) {
		const struct wm_peer *p = &set->peers[i];

		o += (size_t)snprintf(out + o, len - o, "%s%s:", i ? "|" : "",
				      m->nodes[p->node].id);
		for (size_t k = 0; k < p->n_allowed_ips; k++) {
			char pfx[WM_PREFIX_STRLEN];
			const char *name = NULL;

			for (size_t j = 0; j < m->n; j++)
				if (wm_prefix_equal(&m->nodes[j].ipv4, &p->allowed_ips[k]))
					name = m->nodes[j].id;
			if (!name) {
				assert_int_equal(
					wm_prefix_format(&p->allowed_ips[k], pfx, sizeof(pfx)), 0);
				name = pfx;
			}
			o += (size_t)snprintf(out + o, len - o, "%s%s", k ? " " : "", name);
		}
		assert_true(o < len);
	}
}

static const struct mesh_case cases[] = {
	{"full mesh of 4", "a b c d", "a-b a-c a-d b-c b-d c-d", NULL, "a", "b:b|c:c|d:d"},
	{"line from the end", "a b c", "a-b b-c", NULL, "a", "b:b c"},
	{"line from the middle", "a b c", "a-b b-c", NULL, "b", "a:a|c:c"},
	{"line, reversed edge direction", "a b c", "b-a c-b", NULL, "c", "b:a b"},
	{"star from a spoke", "hub s1 s2 s3 s4", "hub-s1 hub-s2 hub-s3 hub-s4", NULL, "s3",
	 "hub:hub s1 s2 s4"},
	{"star from the hub", "hub s1 s2 s3", "s1-hub s2-hub s3-hub", NULL, "hub",
	 "s1:s1|s2:s2|s3:s3"},
	{"ring of 5", "a b c d e", "a-b b-c c-d d-e e-a", NULL, "a", "b:b c|e:d e"},
	{"ring of 5 from c", "a b c d e", "a-b b-c c-d d-e e-a", NULL, "c", "b:a b|d:d e"},
	{"weighted diamond: cheap two hops beat a costly path", "a t x y z",
	 "a-x:10 x-t:1 a-y:1 y-z:1 z-t:1", NULL, "a", "x:x|y:t y z"},
	{"costly direct edge: neighbour keeps its own address, nodes behind go cheap", "a b t u",
	 "a-t:10 a-b:1 b-t:1 t-u:1", NULL, "a", "b:b u|t:t"},
	{"tie broken by the smaller first hop", "a b c d", "a-b a-c b-d c-d", NULL, "a",
	 "b:b d|c:c"},
	{"tie independent of node and edge order", "d c b a", "d-c d-b c-a b-a", NULL, "a",
	 "b:d b|c:c"},
	{"weight before ID", "a b c d", "a-b:1 b-d:2 a-c:1 c-d:1", NULL, "a", "b:b|c:c d"},
	{"disconnected parts", "a b c d", "a-b c-d", NULL, "a", "b:b"},
	{"alone", "a b", NULL, NULL, "a", ""},
	{"routes at different depths", "a b c", "a-b b-c", "b=192.168.1.0/24 c=192.168.2.0/24", "a",
	 "b:b c 192.168.1.0/24 192.168.2.0/24"},
	{"exit node", "a b c", "a-b b-c", "c=0.0.0.0/0,::/0", "a", "b:0.0.0.0/0 b c ::/0"},
	{"exit node as a neighbour", "a b c", "a-b a-c", "c=0.0.0.0/0", "a", "b:b|c:0.0.0.0/0 c"},
	{"same route from two nodes: the nearer wins", "a b c d", "a-b a-c c-d",
	 "b=10.9.0.0/16 d=10.9.0.0/16", "a", "b:b 10.9.0.0/16|c:c d"},
	{"same route at the same distance: smaller first hop wins", "a b c", "a-c a-b",
	 "c=10.9.0.0/16 b=10.9.0.0/16", "a", "b:b 10.9.0.0/16|c:c"},
	{"a route self advertises too is not sent to a peer", "a b", "a-b",
	 "a=192.168.0.0/16 b=192.168.0.0/16,10.8.0.0/16", "a", "b:b 10.8.0.0/16"},
	{"routes are normalised", "a b", "a-b", "b=192.168.7.9/24", "a", "b:b 192.168.7.0/24"},
	{"edges naming unknown nodes are ignored", "a b c", "a-b a-ghost ghost-c b-nobody", NULL,
	 "a", "b:b"},
	{"self-loops and duplicate edges", "a b c", "a-a a-b b-a:5 b-c c-b", NULL, "a", "b:b c"},
	{"zero weight counts as one", "a b c d", "a-b:0 b-d:0 a-c:1 c-d:1", NULL, "a", "b:b d|c:c"},
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mesh m;
		struct wm_peer_set set;
		char got[1024];

		mesh_build(&m, cases[i].nodes, cases[i].edges, cases[i].routes);
		assert_int_equal(
			wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges, cases[i].self, &set), 0);
		set_format(&m, &set, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name, got, cases[i].want);
		wm_peer_set_free(&set);
		assert_null(set.peers);
	}
}

static void test_self_missing(void **state)
{
	struct mesh m;
	struct wm_peer_set set;

	(void)state;
	mesh_build(&m, "a b", "a-b", NULL);
	assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges, "zz", &set), -ENOENT);
	assert_int_equal(wm_peers_compute(NULL, 0, NULL, 0, "a", &set), -ENOENT);
	assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges, NULL, &set), -EINVAL);
}

static void test_ipv6_and_missing_addresses(void **state)
{
	struct mesh m;
	struct wm_peer_set set;
	char buf[WM_PREFIX_STRLEN];

	(void)state;
	mesh_build(&m, "a b c", "a-b b-c", NULL);
	/* b has no IPv4 lease yet; c has a /112 stored with host bits. */
	memset(&m.nodes[1].ipv4, 0, sizeof(m.nodes[1].ipv4));
	assert_int_equal(wm_prefix_parse("fd00:1:2:3:4:5:6:7/112", &m.nodes[2].ipv6), 0);
	assert_int_equal(wm_prefix_parse("fd00:1:2:b:4:5:6:0/112", &m.nodes[1].ipv6), 0);
	assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges, "a", &set), 0);
	assert_int_equal(set.n_peers, 1);
	assert_int_equal(set.peers[0].node, 1);
	assert_int_equal(set.peers[0].n_allowed_ips, 3);
	wm_prefix_format(&set.peers[0].allowed_ips[0], buf, sizeof(buf));
	assert_string_equal(buf, "10.0.0.3/32");
	wm_prefix_format(&set.peers[0].allowed_ips[1], buf, sizeof(buf));
	assert_string_equal(buf, "fd00:1:2:3:4:5:6:0/112");
	wm_prefix_format(&set.peers[0].allowed_ips[2], buf, sizeof(buf));
	assert_string_equal(buf, "fd00:1:2:b:4:5:6:0/112");
	wm_peer_set_free(&set);

	/* A neighbour with no address at all is still a peer. */
	memset(&m.nodes[1].ipv6, 0, sizeof(m.nodes[1].ipv6));
	assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges, "c", &set), 0);
	assert_int_equal(set.n_peers, 1);
	assert_int_equal(set.peers[0].n_allowed_ips, 1);
	wm_peer_set_free(&set);
	assert_int_equal(wm_peers_compute(m.nodes, 2, m.edges, 1, "a", &set), 0);
	assert_int_equal(set.n_peers, 1);
	assert_int_equal(set.peers[0].n_allowed_ips, 0);
	wm_peer_set_free(&set);
}

/* Every node of a large ring computes a consistent answer: the two neighbours
 * split the other nodes between them and nothing is carried twice. */
static void test_large_ring(void **state)
{
	enum { N = 3000 };
	struct wm_mesh_node *nodes = calloc(N, sizeof(*nodes));
	struct wm_mesh_edge *edges = calloc(N, sizeof(*edges));
	struct wm_peer_set set;

	(void)state;
	assert_non_null(nodes);
	assert_non_null(edges);
	for (int i = 0; i < N; i++) {
		snprintf(nodes[i].id, sizeof(nodes[i].id), "n%04d", i);
		nodes[i].ipv4 = wm_prefix_from_ipv4_u32(0x0a000000u + (uint32_t)i + 1, 32);
	}
	for (int i = 0; i < N; i++) {
		snprintf(edges[i].source, sizeof(edges[i].source), "n%04d", i);
		snprintf(edges[i].target, sizeof(edges[i].target), "n%04d", (i + 1) % N);
		edges[i].weight = 1;
	}
	assert_int_equal(wm_peers_compute(nodes, N, edges, N, "n0000", &set), 0);
	assert_int_equal(set.n_peers, 2);
	assert_string_equal(nodes[set.peers[0].node].id, "n0001");
	assert_string_equal(nodes[set.peers[1].node].id, "n2999");
	/* 2999 others; the one opposite (n1500) is at a tie and goes to n0001. */
	assert_int_equal(set.peers[0].n_allowed_ips, 1500);
	assert_int_equal(set.peers[1].n_allowed_ips, 1499);
	wm_peer_set_free(&set);
	free(nodes);
	free(edges);
}

/* The same meshes computed with the mesh networks given (summarising) and the
 * forwarding flag: want as above, fwd whether self carries traffic for others. */
struct opts_case {
	const char *name;
	const char *nodes;
	const char *edges;
	const char *routes;
	const char *self;
	const char *want;
	bool fwd;
};

static const struct opts_case opts_cases[] = {
	{"star from a spoke: the hub carries the mesh", "hub s1 s2 s3", "hub-s1 hub-s2 hub-s3",
	 NULL, "s1", "hub:10.0.0.0/8 fd00::/48", false},
	{"star from the hub", "hub s1 s2 s3", "hub-s1 hub-s2 hub-s3", NULL, "hub",
	 "s1:s1|s2:s2|s3:s3", true},
	{"spoke: routes still listed", "hub s1 s2", "hub-s1 hub-s2", "s2=192.168.9.0/24", "s1",
	 "hub:10.0.0.0/8 192.168.9.0/24 fd00::/48", false},
	{"spoke: exit behind the hub", "hub s1 s2", "hub-s1 hub-s2", "s2=0.0.0.0/0,::/0", "s1",
	 "hub:0.0.0.0/0 10.0.0.0/8 ::/0 fd00::/48", false},
	{"spoke that advertises forwards", "hub s1", "hub-s1", "s1=192.168.1.0/24", "s1",
	 "hub:10.0.0.0/8 fd00::/48", true},
	{"spoke: unreachable routes left out", "hub s1 x", "hub-s1", "x=192.168.5.0/24", "s1",
	 "hub:10.0.0.0/8 fd00::/48", false},
	{"two nodes: each is the other's only neighbour", "a b", "a-b", NULL, "a",
	 "b:10.0.0.0/8 fd00::/48", false},
	{"line middle forwards", "a b c", "a-b b-c", NULL, "b", "a:a|c:c", true},
	{"line end", "a b c", "a-b b-c", NULL, "a", "b:10.0.0.0/8 fd00::/48", false},
	{"full mesh: nobody forwards", "a b c d", "a-b a-c a-d b-c b-d c-d", NULL, "b",
	 "a:a|c:c|d:d", false},
	{"triangle with a costly side: the cheap corner forwards", "a b c", "a-b:1 b-c:1 a-c:5",
	 NULL, "b", "a:a|c:c", true},
	{"triangle with a costly side: the others do not", "a b c", "a-b:1 b-c:1 a-c:5", NULL, "a",
	 "b:b|c:c", false},
	{"ring of 4: a tie still forwards", "a b c d", "a-b b-c c-d d-a", NULL, "a", "b:b c|d:d",
	 true},
	{"weighted diamond: only the cheap middle forwards", "a t x y z",
	 "a-x:10 x-t:1 a-y:1 y-z:1 z-t:1", NULL, "x", "a:a|t:t y z", false},
	{"weighted diamond: the cheap middle", "a t x y z", "a-x:10 x-t:1 a-y:1 y-z:1 z-t:1", NULL,
	 "y", "a:a|z:t x z", true},
	{"routes at different depths, from the middle", "a b c d", "a-b b-c c-d",
	 "c=192.168.2.0/24 d=192.168.3.0/24 a=192.168.1.0/24", "b",
	 "a:a 192.168.1.0/24|c:c d 192.168.2.0/24 192.168.3.0/24", true},
	{"exit node: the nearest exit carries the default route", "a b c d e", "a-b b-c a-d d-e:5",
	 "c=0.0.0.0/0 e=0.0.0.0/0", "a", "b:0.0.0.0/0 b c|d:d e", true},
	{"disconnected", "a b c d", "a-b c-d", NULL, "a", "b:10.0.0.0/8 fd00::/48", false},
	{"exit node chosen (a=>e): its default route beats the nearer one", "a b c d e",
	 "a-b b-c a-d d-e:5", "c=0.0.0.0/0 e=0.0.0.0/0,::/0 a=>e", "a",
	 "b:b c|d:0.0.0.0/0 d e ::/0", true},
	{"exit node chosen but unreachable: the nearest serves", "a b c e", "a-b b-c",
	 "c=0.0.0.0/0 e=0.0.0.0/0 a=>e", "a", "b:0.0.0.0/0 10.0.0.0/8 fd00::/48", false},
	{"a spoke's chosen exit: the first hop is its hub either way (hops route on)", "h a x y",
	 "h-a h-x h-y:3", "x=0.0.0.0/0 y=0.0.0.0/0 a=>y", "a", "h:0.0.0.0/0 10.0.0.0/8 fd00::/48",
	 false},
	{"exit failover: the nearest exit unreachable, the next carries the default route",
	 "a b c d e", "a-b b-c a-d d-e:5", "c=0.0.0.0/0 e=0.0.0.0/0 c=!", "a",
	 "b:b c|d:0.0.0.0/0 d e", true},
	{"exit failover: the chosen exit unreachable, another carries the default route",
	 "a b c d e", "a-b b-c a-d d-e:5", "c=0.0.0.0/0 e=0.0.0.0/0,::/0 a=>e e=!", "a",
	 "b:0.0.0.0/0 b c|d:d e ::/0", true},
	{"route failover: every owner unreachable, the nearest keeps it", "a b c d e",
	 "a-b b-c a-d d-e:5", "c=192.168.7.0/24 e=192.168.7.0/24 c=! e=!", "a",
	 "b:b c 192.168.7.0/24|d:d e", true},
	{"route failover on a spoke: the route stays behind the hub", "h a x y", "h-a h-x h-y:3",
	 "x=192.168.8.0/24 y=192.168.8.0/24 x=!", "a", "h:10.0.0.0/8 192.168.8.0/24 fd00::/48",
	 false},
	{"an unreachable node keeps its own address", "a b c", "a-b b-c", "c=!", "b", "a:a|c:c",
	 true},
	{"alone", "a b", NULL, NULL, "a", "", false},
};

static struct wm_peers_opts test_opts(void)
{
	struct wm_peers_opts o;

	memset(&o, 0, sizeof(o));
	assert_int_equal(wm_prefix_parse("10.0.0.0/8", &o.ipv4_network), 0);
	assert_int_equal(wm_prefix_parse("fd00::/48", &o.ipv6_network), 0);
	return o;
}

static void test_opts_table(void **state)
{
	struct wm_peers_opts o = test_opts();

	(void)state;
	for (size_t i = 0; i < sizeof(opts_cases) / sizeof(opts_cases[0]); i++) {
		const struct opts_case *c = &opts_cases[i];
		struct mesh m;
		struct wm_peer_set set;
		char got[1024];

		mesh_build(&m, c->nodes, c->edges, c->routes);
		assert_int_equal(
			wm_peers_compute_opts(m.nodes, m.n, m.edges, m.n_edges, &o, c->self, &set),
			0);
		set_format(&m, &set, got, sizeof(got));
		if (strcmp(got, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, got, c->want);
		if (set.forwarding != c->fwd)
			fail_msg("%s: forwarding %d, want %d", c->name, set.forwarding, c->fwd);
		wm_peer_set_free(&set);
	}
}

/* Without networks nothing is summarised, and the flag is computed alike. */
static void test_forwarding_without_networks(void **state)
{
	struct mesh m;
	struct wm_peer_set set;

	(void)state;
	mesh_build(&m, "a b c", "a-b b-c", NULL);
	assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges, "b", &set), 0);
	assert_true(set.forwarding);
	assert_false(set.summarised);
	wm_peer_set_free(&set);
	assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges, "a", &set), 0);
	assert_false(set.forwarding);
	assert_false(set.summarised);
	assert_int_equal(set.peers[0].n_allowed_ips, 2);
	wm_peer_set_free(&set);
}

static bool sets_equal(const struct wm_peer_set *a, const struct wm_peer_set *b)
{
	if (a->n_peers != b->n_peers || a->forwarding != b->forwarding ||
	    a->summarised != b->summarised)
		return false;
	for (size_t i = 0; i < a->n_peers; i++) {
		if (a->peers[i].node != b->peers[i].node ||
		    a->peers[i].n_allowed_ips != b->peers[i].n_allowed_ips ||
		    a->peers[i].ice != b->peers[i].ice)
			return false;
		for (size_t k = 0; k < a->peers[i].n_allowed_ips; k++)
			if (!wm_prefix_equal(&a->peers[i].allowed_ips[k],
					     &b->peers[i].allowed_ips[k]))
				return false;
	}
	return true;
}

/* xorshift: the graphs are random but the same on every run. */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* One graph answering for every node gives what a fresh computation per node
 * gives, whatever order the nodes are asked in (trees are shared). */
static void test_graph_matches_single(void **state)
{
	enum { N = 40, E = 70 };
	struct wm_mesh_node nodes[N];
	struct wm_mesh_edge edges[E];
	struct wm_peers_opts o = test_opts();
	uint32_t seed = 12345;

	(void)state;
	for (int round = 0; round < 20; round++) {
		struct wm_peer_graph *g;

		memset(nodes, 0, sizeof(nodes));
		memset(edges, 0, sizeof(edges));
		for (int i = 0; i < N; i++) {
			snprintf(nodes[i].id, sizeof(nodes[i].id), "n%02d", i);
			nodes[i].ipv4 = wm_prefix_from_ipv4_u32(0x0a000001u + (uint32_t)i, 32);
			if (rnd(&seed) % 5 == 0) {
				nodes[i].routes[0] = wm_prefix_from_ipv4_u32(
					0xc0a80000u + (rnd(&seed) % 8) * 256, 24);
				nodes[i].n_routes = 1;
			}
		}
		/* sparse: many spokes, some cycles, some isolated nodes */
		for (int i = 0; i < E; i++) {
			snprintf(edges[i].source, sizeof(edges[i].source), "n%02u",
				 rnd(&seed) % (round % 2 ? N : 12));
			snprintf(edges[i].target, sizeof(edges[i].target), "n%02u", rnd(&seed) % N);
			edges[i].weight = (int32_t)(1 + rnd(&seed) % 4);
			edges[i].ice = i % 5 == 0; /* not from rnd: the graphs stay as they were */
		}
		assert_int_equal(wm_peer_graph_new(nodes, N, edges, E, &o, &g), 0);
		for (int k = 0; k < N; k++) {
			int i = (k * 7 + round) % N; /* a different order each round */
			struct wm_peer_set a, b;

			assert_int_equal(wm_peer_graph_compute(g, nodes[i].id, &a), 0);
			assert_int_equal(
				wm_peers_compute_opts(nodes, N, edges, E, &o, nodes[i].id, &b), 0);
			if (!sets_equal(&a, &b))
				fail_msg("round %d node %s: graph and single computation differ",
					 round, nodes[i].id);
			wm_peer_set_free(&a);
			wm_peer_set_free(&b);
		}
		assert_true(wm_peer_graph_trees(g) <= N);
		assert_int_equal(wm_peer_graph_compute(g, "nobody", &(struct wm_peer_set){0}),
				 -ENOENT);
		wm_peer_graph_free(g);
	}
}

/* Hub and spoke: every spoke's set is computed from the hub's one tree, and is
 * the same small set however many spokes there are. */
static void test_hub_and_spokes_share_one_tree(void **state)
{
	enum { N = 2000 };
	struct wm_mesh_node *nodes = calloc(N, sizeof(*nodes));
	struct wm_mesh_edge *edges = calloc(N, sizeof(*edges));
	struct wm_peers_opts o = test_opts();
	struct wm_peer_graph *g;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(nodes[i].id, sizeof(nodes[i].id), "n%04d", i);
		nodes[i].ipv4 = wm_prefix_from_ipv4_u32(0x0a000001u + (uint32_t)i, 32);
		snprintf(edges[i].source, sizeof(edges[i].source), "n0000");
		snprintf(edges[i].target, sizeof(edges[i].target), "n%04d", i);
		edges[i].weight = 1;
	}
	assert_int_equal(wm_prefix_parse("192.168.0.0/16", &nodes[N - 1].routes[0]), 0);
	nodes[N - 1].n_routes = 1;
	assert_int_equal(wm_peer_graph_new(nodes, N, edges, N, &o, &g), 0);
	for (int i = 1; i < N; i++) {
		struct wm_peer_set set;

		assert_int_equal(wm_peer_graph_compute(g, nodes[i].id, &set), 0);
		assert_int_equal(set.n_peers, 1);
		assert_true(set.summarised);
		assert_int_equal(set.peers[0].n_allowed_ips, i == N - 1 ? 2 : 3);
		assert_int_equal(set.forwarding, i == N - 1);
		wm_peer_set_free(&set);
	}
	/* the hub's tree only: the spokes read theirs from it */
	assert_int_equal(wm_peer_graph_trees(g), 1);
	{
		struct wm_peer_set set;

		assert_int_equal(wm_peer_graph_compute(g, "n0000", &set), 0);
		assert_int_equal(set.n_peers, N - 1);
		assert_true(set.forwarding);
		wm_peer_set_free(&set);
	}
	wm_peer_graph_free(g);
	free(nodes);
	free(edges);
}

/* The peer whose allowed IPs hold addr most specifically, as WireGuard
 * picks one; NONE-like SIZE_MAX if none does. */
static size_t peer_for(const struct wm_peer_set *set, const struct wm_prefix *addr)
{
	size_t best = SIZE_MAX;
	int best_len = -1;

	for (size_t i = 0; i < set->n_peers; i++)
		for (size_t j = 0; j < set->peers[i].n_allowed_ips; j++) {
			const struct wm_prefix *p = &set->peers[i].allowed_ips[j];

			if (wm_prefix_contains(p, addr) && p->len > best_len) {
				best = set->peers[i].node;
				best_len = p->len;
			}
		}
	return best;
}

/* Two hubs of 99 spokes each, linked; spoke n0001 also linked to n0002 (a
 * spoke of its own hub) and to n0150 (a spoke of the other). n0001 is no
 * spoke now, yet its set names its three neighbours only: the neighbour that
 * reaches most nodes carries the mesh networks, the other two their nodes'
 * addresses. Every node's address still goes to the same peer as in the set
 * computed without the networks, which names each one. */
static void test_summary_beyond_spokes(void **state)
{
	enum { N = 200 };
	struct wm_mesh_node *nodes = calloc(N, sizeof(*nodes));
	struct wm_mesh_edge *edges = calloc(N + 4, sizeof(*edges));
	struct wm_peers_opts o = test_opts();
	struct wm_peer_set full, sum;
	size_t n_edges = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(nodes[i].id, sizeof(nodes[i].id), "n%04d", i);
		nodes[i].ipv4 = wm_prefix_from_ipv4_u32(0x0a000001u + (uint32_t)i, 32);
		if (i == 0 || i == 100)
			continue;
		snprintf(edges[n_edges].source, sizeof(edges[n_edges].source), "%s",
			 i < 100 ? "n0000" : "n0100");
		snprintf(edges[n_edges].target, sizeof(edges[n_edges].target), "n%04d", i);
		edges[n_edges++].weight = 1;
	}
	const char *extra[][2] = {{"n0000", "n0100"}, {"n0001", "n0002"}, {"n0001", "n0150"}};
	for (size_t k = 0; k < 3; k++) {
		snprintf(edges[n_edges].source, sizeof(edges[n_edges].source), "%s", extra[k][0]);
		snprintf(edges[n_edges].target, sizeof(edges[n_edges].target), "%s", extra[k][1]);
		edges[n_edges++].weight = 1;
	}
	assert_int_equal(wm_prefix_parse("192.168.0.0/16", &nodes[150].routes[0]), 0);
	nodes[150].n_routes = 1;
	assert_int_equal(wm_peers_compute_opts(nodes, N, edges, n_edges, NULL, "n0001", &full), 0);
	assert_int_equal(wm_peers_compute_opts(nodes, N, edges, n_edges, &o, "n0001", &sum), 0);
	assert_int_equal(full.n_peers, 3);
	assert_int_equal(sum.n_peers, 3);
	assert_false(sum.summarised);
	size_t with_networks = 0, listed = 0;
	for (size_t i = 0; i < sum.n_peers; i++) {
		for (size_t j = 0; j < sum.peers[i].n_allowed_ips; j++)
			with_networks += sum.peers[i].allowed_ips[j].len == 8;
		listed += sum.peers[i].n_allowed_ips;
	}
	/* one peer has the networks; n0002 has its own address; n0150 the
	 * other hub's nodes and its route (about a hundred); none has every node */
	assert_int_equal(with_networks, 1);
	assert_true(listed < N - 50);
	for (int v = 0; v < N; v++) {
		if (v == 1)
			continue;
		size_t want = peer_for(&full, &nodes[v].ipv4);

		assert_true(want != SIZE_MAX);
		assert_int_equal(peer_for(&sum, &nodes[v].ipv4), want);
	}
	{
		struct wm_prefix route;

		assert_int_equal(wm_prefix_parse("192.168.0.0/16", &route), 0);
		assert_int_equal(peer_for(&sum, &route), peer_for(&full, &route));
	}
	wm_peer_set_free(&full);
	wm_peer_set_free(&sum);
	free(nodes);
	free(edges);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* set_format's text with each peer's names sorted: addresses follow the
 * listing order in mesh_build, so only the names compare across orders. */
static void canonical(char *s)
{
	char copy[512], *save, *peer, out[512] = "";

	snprintf(copy, sizeof(copy), "%s", s);
	for (peer = strtok_r(copy, "|", &save); peer; peer = strtok_r(NULL, "|", &save)) {
		char *items[64], *save2, *it, *colon = strchr(peer, ':');
		size_t n = 0, o = strlen(out);

		*colon = '\0';
		for (it = strtok_r(colon + 1, " ", &save2); it && n < 64;
		     it = strtok_r(NULL, " ", &save2))
			items[n++] = it;
		qsort(items, n, sizeof(items[0]), str_cmp);
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s:", o ? "|" : "", peer);
		for (size_t i = 0; i < n; i++)
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? " " : "",
					      items[i]);
	}
	strcpy(s, out);
}

/* The answer depends on the graph, never on the order nodes and edges are
 * listed in. */
static void test_order_independent(void **state)
{
	const char *orders[][2] = {
		{"a b c d e f", "a-b:2 b-c c-d a-e:1 e-f:1 f-d:1 b-f:3"},
		{"f e d c b a", "b-f:3 f-d:1 e-f:1 a-e:1 c-d a-b:2 b-c"},
		{"c a e b f d", "d-c a-e:1 c-b f-e:1 b-a:2 d-f:1 f-b:3"},
	};
	char first[6][512];

	(void)state;
	for (size_t o = 0; o < 3; o++) {
		struct mesh m;

		mesh_build(&m, orders[o][0], orders[o][1], "d=192.168.0.0/24 f=192.168.0.0/24");
		for (size_t i = 0; i < m.n; i++) {
			struct wm_peer_set set;
			char got[512];
			int slot = m.nodes[i].id[0] - 'a';

			assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges,
							  m.nodes[i].id, &set),
					 0);
			set_format(&m, &set, got, sizeof(got));
			canonical(got);
			if (o == 0)
				snprintf(first[slot], sizeof(first[slot]), "%s", got);
			else if (strcmp(first[slot], got) != 0)
				fail_msg("node %s, order %zu: \"%s\" != \"%s\"", m.nodes[i].id, o,
					 got, first[slot]);
			wm_peer_set_free(&set);
		}
	}
}

/* WireGuard device of a peer set: keys from node indices. */
static struct wm_wg_device *set_device(const struct wm_peer_set *set)
{
	struct wm_wg_device *dev = wm_wg_device_new("wm0");

	assert_non_null(dev);
	for (size_t i = 0; i < set->n_peers; i++) {
		wm_key key = {0};
		struct wm_wg_peer *p;

		key[0] = (uint8_t)(set->peers[i].node + 1);
		p = wm_wg_device_add_peer(dev, key);
		assert_non_null(p);
		p->flags = WM_WGPEER_REPLACE_ALLOWEDIPS;
		for (size_t k = 0; k < set->peers[i].n_allowed_ips; k++)
			assert_int_equal(
				wm_wg_peer_add_allowed_ip(p, &set->peers[i].allowed_ips[k]), 0);
	}
	wm_wg_device_sort(dev);
	return dev;
}

/* Adding the edge a-c to the line a-b-c changes a's device by exactly two
 * peers: b loses the mesh summary (keeps its own addresses), c is new. The
 * update turns the old device into the new one; removing the edge again is
 * the reverse. */
static void test_path_change_diff(void **state)
{
	struct wm_peers_opts o = test_opts();
	struct mesh line, tri;
	struct wm_peer_set before, after;
	struct wm_wg_device *d0, *d1, *up = NULL, *back = NULL;

	(void)state;
	mesh_build(&line, "a b c d", "a-b b-c b-d", NULL);
	mesh_build(&tri, "a b c d", "a-b b-c b-d a-c", NULL);
	assert_int_equal(wm_peers_compute_opts(line.nodes, line.n, line.edges, line.n_edges, &o,
					       "a", &before),
			 0);
	assert_int_equal(
		wm_peers_compute_opts(tri.nodes, tri.n, tri.edges, tri.n_edges, &o, "a", &after),
		0);
	d0 = set_device(&before);
	d1 = set_device(&after);
	assert_int_equal(wm_wg_diff(d0, d1, &up), 0);
	assert_non_null(up);
	assert_int_equal(up->n_peers, 2);
	for (size_t i = 0; i < up->n_peers; i++) {
		assert_false(up->peers[i].flags & WM_WGPEER_REMOVE_ME);
		assert_true(up->peers[i].flags & WM_WGPEER_REPLACE_ALLOWEDIPS);
	}
	{
		struct wm_wg_device *x = wm_wg_device_dup(d0);
		struct wm_wg_device *none = NULL;

		assert_int_equal(wm_wg_device_apply(x, up), 0);
		assert_int_equal(wm_wg_diff(x, d1, &none), 0);
		assert_null(none);
		wm_wg_device_free(x);
	}
	assert_int_equal(wm_wg_diff(d1, d0, &back), 0);
	assert_non_null(back);
	/* c goes, b gets the summary back */
	assert_int_equal(back->n_peers, 2);
	assert_true((back->peers[0].flags & WM_WGPEER_REMOVE_ME) ||
		    (back->peers[1].flags & WM_WGPEER_REMOVE_ME));
	wm_wg_device_free(up);
	wm_wg_device_free(back);
	wm_wg_device_free(d0);
	wm_wg_device_free(d1);
	wm_peer_set_free(&before);
	wm_peer_set_free(&after);
}

/* Meshes with edges marked ice, and for every node (in listing order) the
 * peers it must mark: "a:b,c b:a" says a marks b and c, b marks a, and the
 * others mark none. */
struct ice_case {
	const char *name;
	const char *nodes;
	const char *edges;
	const char *want;
};

static const struct ice_case ice_cases[] = {
	{"line: the marked link only, not the node behind it", "a b c", "a-b* b-c", "a:b b:a"},
	{"ring: one marked side", "a b c d", "a-b b-c* c-d d-a", "b:c c:b"},
	{"hub and spokes: one marked spoke", "hub s1 s2 s3", "hub-s1 hub-s2* hub-s3",
	 "hub:s2 s2:hub"},
	{"two marked links at one node", "a b c", "a-b* a-c* b-c", "a:b,c b:a c:a"},
	{"a costly marked link on no shortest path still marks", "a b t", "a-t:10* a-b b-t",
	 "a:t t:a"},
	{"a link listed twice: either entry marks it", "a b c", "a-b b-a* b-c", "a:b b:a"},
	{"unknown nodes and self-loops mark nothing", "a b", "a-ghost* a-a* a-b", ""},
	{"nothing marked", "a b c", "a-b b-c", ""},
};

enum ice_way { ICE_SINGLE, ICE_OPTS, ICE_GRAPH };

/* The want text of a mesh, each node computed the given way (the graph asks
 * the nodes in reverse order, so that trees are shared as they would be). */
static void ice_text(const struct mesh *m, enum ice_way way, char *out, size_t len,
		     size_t *summarised)
{
	struct wm_peers_opts o = test_opts();
	struct wm_peer_graph *g = NULL;
	char per[MAXN][128];
	size_t off = 0;

	if (way == ICE_GRAPH)
		assert_int_equal(wm_peer_graph_new(m->nodes, m->n, m->edges, m->n_edges, &o, &g),
				 0);
	for (size_t k = 0; k < m->n; k++) {
		size_t i = way == ICE_GRAPH ? m->n - 1 - k : k, o2 = 0;
		struct wm_peer_set set;

		if (way == ICE_SINGLE)
			assert_int_equal(wm_peers_compute(m->nodes, m->n, m->edges, m->n_edges,
							  m->nodes[i].id, &set),
					 0);
		else if (way == ICE_OPTS)
			assert_int_equal(wm_peers_compute_opts(m->nodes, m->n, m->edges, m->n_edges,
							       &o, m->nodes[i].id, &set),
					 0);
		else
			assert_int_equal(wm_peer_graph_compute(g, m->nodes[i].id, &set), 0);
		per[i][0] = '\0';
		for (size_t p = 0; p < set.n_peers; p++) {
			if (!set.peers[p].ice)
				continue;
			o2 += (size_t)snprintf(per[i] + o2, sizeof(per[i]) - o2, "%s%s",
					       o2 ? "," : "", m->nodes[set.peers[p].node].id);
			if (set.summarised && summarised)
				(*summarised)++;
		}
		wm_peer_set_free(&set);
	}
	wm_peer_graph_free(g);
	out[0] = '\0';
	for (size_t i = 0; i < m->n; i++) {
		if (per[i][0])
			off += (size_t)snprintf(out + off, len - off, "%s%s:%s", off ? " " : "",
						m->nodes[i].id, per[i]);
	}
	assert_true(off < len);
}

/* An edge marked ice marks the peer at each of its two ends and nothing else,
 * whichever way the sets are computed (a spoke's summarised set too). */
static void test_ice_table(void **state)
{
	static const char *const ways[] = {"single", "with networks", "graph"};
	size_t summarised = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(ice_cases) / sizeof(ice_cases[0]); i++) {
		const struct ice_case *c = &ice_cases[i];
		struct mesh m;

		mesh_build(&m, c->nodes, c->edges, NULL);
		for (int w = ICE_SINGLE; w <= ICE_GRAPH; w++) {
			char got[512];

			ice_text(&m, (enum ice_way)w, got, sizeof(got), &summarised);
			if (strcmp(got, c->want) != 0)
				fail_msg("%s (%s): got \"%s\", want \"%s\"", c->name, ways[w], got,
					 c->want);
		}
	}
	/* the summarising path (a node with one neighbour) was among them */
	assert_true(summarised > 0);
}

/* An edge marked libp2p marks the peer at its two ends, independently of
 * ice, in all three ways of computing. */
static void test_libp2p_mark(void **state)
{
	struct wm_peers_opts o = test_opts();
	struct wm_peer_graph *g = NULL;
	struct mesh m;

	(void)state;
	mesh_build(&m, "a b c d", "a-b b-c c-d*", NULL);
	m.edges[1].libp2p = true; /* b-c */
	assert_int_equal(wm_peer_graph_new(m.nodes, m.n, m.edges, m.n_edges, &o, &g), 0);
	for (size_t i = 0; i < m.n; i++) {
		for (int way = 0; way < 3; way++) {
			struct wm_peer_set set;
			if (way == 0)
				assert_int_equal(wm_peers_compute(m.nodes, m.n, m.edges, m.n_edges,
								  m.nodes[i].id, &set),
						 0);
			else if (way == 1)
				assert_int_equal(wm_peers_compute_opts(m.nodes, m.n, m.edges,
								       m.n_edges, &o, m.nodes[i].id,
								       &set),
						 0);
			else
				assert_int_equal(wm_peer_graph_compute(g, m.nodes[i].id, &set), 0);
			for (size_t p = 0; p < set.n_peers; p++) {
				const char *self = m.nodes[i].id,
					   *peer = m.nodes[set.peers[p].node].id;
				bool want = (!strcmp(self, "b") && !strcmp(peer, "c")) ||
					    (!strcmp(self, "c") && !strcmp(peer, "b"));
				if (set.peers[p].libp2p != want)
					fail_msg("way %d: %s's peer %s libp2p=%d", way, self, peer,
						 set.peers[p].libp2p);
				bool ice = (!strcmp(self, "c") && !strcmp(peer, "d")) ||
					   (!strcmp(self, "d") && !strcmp(peer, "c"));
				assert_int_equal(set.peers[p].ice, ice);
			}
			wm_peer_set_free(&set);
		}
	}
	wm_peer_graph_free(g);
}

/* Marking a link changes the sets of its two ends only, and in nothing but
 * the mark: paths and allowed IPs do not depend on it. */
static void test_ice_changes_only_the_two_ends(void **state)
{
	struct wm_peers_opts o = test_opts();
	struct mesh plain, marked;

	(void)state;
	mesh_build(&plain, "a b c d e", "a-b b-c c-d d-e e-a b-d:3", "c=192.168.1.0/24");
	mesh_build(&marked, "a b c d e", "a-b b-c c-d* d-e e-a b-d:3", "c=192.168.1.0/24");
	for (size_t i = 0; i < plain.n; i++) {
		struct wm_peer_set x, y;
		const char *id = plain.nodes[i].id;
		bool end = strcmp(id, "c") == 0 || strcmp(id, "d") == 0;
		size_t n_ice = 0;

		assert_int_equal(wm_peers_compute_opts(plain.nodes, plain.n, plain.edges,
						       plain.n_edges, &o, id, &x),
				 0);
		assert_int_equal(wm_peers_compute_opts(marked.nodes, marked.n, marked.edges,
						       marked.n_edges, &o, id, &y),
				 0);
		assert_int_equal(x.n_peers, y.n_peers);
		for (size_t p = 0; p < y.n_peers; p++) {
			assert_false(x.peers[p].ice);
			n_ice += y.peers[p].ice;
			y.peers[p].ice = false;
		}
		assert_int_equal(n_ice, end ? 1 : 0);
		assert_true(sets_equal(&x, &y));
		wm_peer_set_free(&x);
		wm_peer_set_free(&y);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_self_missing),
		cmocka_unit_test(test_ipv6_and_missing_addresses),
		cmocka_unit_test(test_large_ring),
		cmocka_unit_test(test_opts_table),
		cmocka_unit_test(test_forwarding_without_networks),
		cmocka_unit_test(test_graph_matches_single),
		cmocka_unit_test(test_hub_and_spokes_share_one_tree),
		cmocka_unit_test(test_summary_beyond_spokes),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_path_change_diff),
		cmocka_unit_test(test_ice_table),
		cmocka_unit_test(test_libp2p_mark),
		cmocka_unit_test(test_ice_changes_only_the_two_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
