/* Unit tests for wm_peer_graph_inputs (src/core/peers.c): a node whose inputs
 * digest did not change across a change would indeed get the same set from a
 * full recomputation, on random graphs and random changes; and a join in hub
 * and spoke changes the digests of the hubs only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/peers.h"

#define MAXN 96
#define MAXE 400

struct mesh {
	struct wm_mesh_node nodes[MAXN];
	size_t n;
	struct wm_mesh_edge edges[MAXE];
	size_t n_edges;
};

/* xorshift: random but the same on every run. */
static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static struct wm_peers_opts test_opts(void)
{
	struct wm_peers_opts o;

	memset(&o, 0, sizeof(o));
	assert_int_equal(wm_prefix_parse("10.0.0.0/8", &o.ipv4_network), 0);
	assert_int_equal(wm_prefix_parse("fd00::/48", &o.ipv6_network), 0);
	return o;
}

static uint32_t next_id;

static void add_node(struct mesh *m)
{
	struct wm_mesh_node *nd = &m->nodes[m->n++];

	memset(nd, 0, sizeof(*nd));
	snprintf(nd->id, sizeof(nd->id), "n%03u", next_id);
	nd->public_key[0] = (uint8_t)next_id;
	nd->public_key[1] = (uint8_t)(next_id >> 8);
	nd->ipv4 = wm_prefix_from_ipv4_u32(0x0a000001u + next_id, 32);
	next_id++;
}

static void add_edge(struct mesh *m, size_t a, size_t b, int32_t w, bool ice)
{
	struct wm_mesh_edge *e;

	if (m->n_edges == MAXE || a == b)
		return;
	e = &m->edges[m->n_edges++];
	memset(e, 0, sizeof(*e));
	memcpy(e->source, m->nodes[a].id, sizeof(e->source));
	memcpy(e->target, m->nodes[b].id, sizeof(e->target));
	e->weight = w;
	e->ice = ice;
}

static void remove_node(struct mesh *m, size_t i)
{
	char id[WM_NODE_ID_MAX + 1];
	size_t kept = 0;

	snprintf(id, sizeof(id), "%s", m->nodes[i].id);
	m->nodes[i] = m->nodes[--m->n];
	/* as the store does: a node's edges go with it */
	for (size_t k = 0; k < m->n_edges; k++)
		if (strcmp(m->edges[k].source, id) != 0 && strcmp(m->edges[k].target, id) != 0)
			m->edges[kept++] = m->edges[k];
	m->n_edges = kept;
}

static void set_route(struct wm_mesh_node *nd, uint32_t r)
{
	/* a few prefixes only, so that owners compete for the same ones */
	nd->routes[0] = wm_prefix_from_ipv4_u32(0xc0a80000u + (r % 4) * 256, 24);
	nd->n_routes = 1;
	if (r % 7 == 0) {
		assert_int_equal(wm_prefix_parse("0.0.0.0/0", &nd->routes[1]), 0);
		nd->n_routes = 2;
	}
}

/* Hubs linked to one another, spokes on one hub (some on two), a few
 * isolated nodes, routes here and there. */
static void make_hub_spoke(struct mesh *m, size_t hubs, size_t n, uint32_t *seed)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++)
		add_node(m);
	for (size_t i = 0; i < hubs; i++)
		for (size_t j = i + 1; j < hubs; j++)
			add_edge(m, i, j, 1, false);
	for (size_t i = hubs; i + 2 < n; i++) {
		add_edge(m, i, rnd(seed) % hubs, 1, false);
		if (rnd(seed) % 10 == 0)
			add_edge(m, i, rnd(seed) % hubs, 2, false);
	}
	for (size_t i = 0; i < n; i++)
		if (rnd(seed) % 9 == 0)
			set_route(&m->nodes[i], rnd(seed));
}

static void make_random(struct mesh *m, size_t n, size_t e, uint32_t *seed)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++)
		add_node(m);
	for (size_t i = 0; i < e; i++)
		add_edge(m, rnd(seed) % n, rnd(seed) % n, (int32_t)(1 + rnd(seed) % 4),
			 rnd(seed) % 6 == 0);
	for (size_t i = 0; i < n; i++)
		if (rnd(seed) % 5 == 0)
			set_route(&m->nodes[i], rnd(seed));
}

/* One random change of the kinds a mesh sees. */
static void mutate(struct mesh *m, uint32_t *seed, size_t hubs)
{
	size_t i = rnd(seed) % m->n;
	struct wm_mesh_node *nd = &m->nodes[i];

	switch (rnd(seed) % 13) {
	case 0: /* a join through a hub (or any node) */
		if (m->n < MAXN) {
			add_node(m);
			add_edge(m, m->n - 1, hubs ? rnd(seed) % hubs : i, 1, false);
		}
		break;
	case 1:
		if (m->n > 4)
			remove_node(m, i);
		break;
	case 2:
		add_edge(m, i, rnd(seed) % m->n, (int32_t)(1 + rnd(seed) % 4), false);
		break;
	case 3:
		if (m->n_edges) {
			size_t k = rnd(seed) % m->n_edges;

			m->n_edges--;
			m->edges[k] = m->edges[m->n_edges];
		}
		break;
	case 4:
		if (m->n_edges)
			m->edges[rnd(seed) % m->n_edges].weight = (int32_t)(1 + rnd(seed) % 4);
		break;
	case 5:
		if (m->n_edges)
			m->edges[rnd(seed) % m->n_edges].ice ^= true;
		break;
	case 6:
		if (nd->n_routes)
			nd->n_routes = 0;
		else
			set_route(nd, rnd(seed));
		break;
	case 7:
		nd->unreachable = !nd->unreachable;
		break;
	case 8:
		nd->endpoints[0].ip = wm_prefix_from_ipv4_u32(0xc6336400u + rnd(seed) % 200, 32);
		nd->endpoints[0].port = (uint16_t)(51820 + rnd(seed) % 3);
		nd->n_endpoints = 1;
		break;
	case 9:
		memmove(nd->exit_node, m->nodes[rnd(seed) % m->n].id, sizeof(nd->exit_node));
		break;
	case 10: /* an edge marked libp2p=true, or no longer */
		if (m->n_edges)
			m->edges[rnd(seed) % m->n_edges].libp2p ^= true;
		break;
	case 11: /* a node publishes another libp2p peer ID and address */
		snprintf(nd->libp2p_id, sizeof(nd->libp2p_id), "12D3KooW%u", rnd(seed) % 1000);
		snprintf(nd->libp2p_addrs, sizeof(nd->libp2p_addrs), "/ip4/192.0.2.%u/tcp/4001",
			 rnd(seed) % 250);
		break;
	default: /* two at once, as a batch of entries is */
		mutate(m, seed, hubs);
		mutate(m, seed, hubs);
		break;
	}
}

static const struct wm_mesh_node *find(const struct mesh *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->nodes[i].id, id) == 0)
			return &m->nodes[i];
	return NULL;
}

/* The same set as a member would receive it: peers by ID with their whole
 * record, allowed IPs, flags. The node arrays of a and b differ. */
static bool same_set(const struct mesh *ma, const struct wm_peer_set *a, const struct mesh *mb,
		     const struct wm_peer_set *b)
{
	if (a->n_peers != b->n_peers || a->forwarding != b->forwarding ||
	    a->summarised != b->summarised)
		return false;
	for (size_t i = 0; i < a->n_peers; i++) {
		const struct wm_peer *p = &a->peers[i], *q = &b->peers[i];

		if (memcmp(&ma->nodes[p->node], &mb->nodes[q->node], sizeof(struct wm_mesh_node)) ||
		    p->n_allowed_ips != q->n_allowed_ips || p->ice != q->ice ||
		    p->libp2p != q->libp2p)
			return false;
		for (size_t k = 0; k < p->n_allowed_ips; k++)
			if (!wm_prefix_equal(&p->allowed_ips[k], &q->allowed_ips[k]))
				return false;
	}
	return true;
}

/* Checks every node of both meshes; returns how many nodes' digests changed. */
static size_t check_change(const struct mesh *before, const struct mesh *after,
			   const struct wm_peers_opts *o, uint64_t seed_before, uint64_t seed_after,
			   size_t *unchanged_sets)
{
	struct wm_peer_graph *g0, *g1;
	size_t changed = 0;

	assert_int_equal(
		wm_peer_graph_new(before->nodes, before->n, before->edges, before->n_edges, o, &g0),
		0);
	assert_int_equal(
		wm_peer_graph_new(after->nodes, after->n, after->edges, after->n_edges, o, &g1), 0);
	for (size_t i = 0; i < after->n; i++) {
		const char *id = after->nodes[i].id;
		uint64_t d0, d1;
		struct wm_peer_set s0, s1;

		assert_int_equal(wm_peer_graph_inputs(g1, id, seed_after, &d1), 0);
		if (!find(before, id)) {
			assert_int_equal(wm_peer_graph_inputs(g0, id, seed_before, &d0), -ENOENT);
			continue;
		}
		assert_int_equal(wm_peer_graph_inputs(g0, id, seed_before, &d0), 0);
		assert_int_equal(wm_peer_graph_compute(g0, id, &s0), 0);
		assert_int_equal(wm_peer_graph_compute(g1, id, &s1), 0);
		if (d0 == d1 && !same_set(before, &s0, after, &s1))
			fail_msg("node %s: digest unchanged but its set changed", id);
		if (d0 != d1)
			changed++;
		if (same_set(before, &s0, after, &s1) && unchanged_sets)
			(*unchanged_sets)++;
		wm_peer_set_free(&s0);
		wm_peer_set_free(&s1);
	}
	wm_peer_graph_free(g0);
	wm_peer_graph_free(g1);
	return changed;
}

/* Random graphs of three shapes, each changed many times: a skipped node
 * (same digest) always has the set a full recomputation gives. */
static void test_skipped_sets_would_not_change(void **state)
{
	struct mesh *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct wm_peers_opts with = test_opts(), without;
	uint32_t seed = 4242;
	size_t skipped_total = 0, unchanged_total = 0;

	(void)state;
	memset(&without, 0, sizeof(without));
	for (int round = 0; round < 60; round++) {
		const struct wm_peers_opts *o = round % 3 == 2 ? &without : &with;
		size_t hubs = 0;

		switch (round % 3) {
		case 0:
			hubs = 1 + round % 4;
			make_hub_spoke(before, hubs, 40 + round % 30, &seed);
			break;
		case 1:
			make_random(before, 30 + round % 20, 20 + round % 60, &seed);
			break;
		default:
			hubs = 3;
			make_hub_spoke(before, hubs, 50, &seed);
			break;
		}
		for (int step = 0; step < 40; step++) {
			size_t unchanged = 0, changed;

			*after = *before;
			mutate(after, &seed, hubs);
			changed = check_change(before, after, o, 1, 1, &unchanged);
			/* nodes in both meshes whose digest stayed: all proven equal above */
			skipped_total += after->n - changed;
			unchanged_total += unchanged;
			*before = *after;
		}
	}
	/* the check is not vacuous: many nodes were skipped, and many sets did change */
	assert_true(skipped_total > 10000);
	assert_true(unchanged_total > skipped_total / 2);
	/* the caller's seed counts: other rules, every digest differs */
	make_random(before, 30, 40, &seed);
	assert_int_equal(check_change(before, before, &with, 1, 2, NULL), before->n);
	assert_int_equal(check_change(before, before, &with, 7, 7, NULL), 0);
	free(before);
	free(after);
}

/* A join in hub and spoke (three servers, many members): only the hubs'
 * digests change; a route added anywhere changes every spoke's; an edge
 * between two spokes changes those two and the hubs, not the rest. */
static void test_join_touches_hubs_only(void **state)
{
	struct mesh *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct wm_peers_opts o = test_opts();
	size_t changed;

	(void)state;
	memset(before, 0, sizeof(*before));
	for (int i = 0; i < 80; i++)
		add_node(before);
	add_edge(before, 0, 1, 1, false);
	add_edge(before, 1, 2, 1, false);
	add_edge(before, 0, 2, 1, false);
	for (size_t i = 3; i < 80; i++)
		add_edge(before, i, i % 3, 1, false);

	*after = *before;
	add_node(after);
	add_edge(after, after->n - 1, 1, 1, false);
	changed = check_change(before, after, &o, 0, 0, NULL);
	assert_int_equal(changed, 3);

	*after = *before;
	set_route(&after->nodes[40], 1);
	changed = check_change(before, after, &o, 0, 0, NULL);
	assert_int_equal(changed, 80);

	*after = *before;
	add_edge(after, 10, 11, 1, false);
	changed = check_change(before, after, &o, 0, 0, NULL);
	/* 10 and 11 are no longer spokes; hubs 1 and 2 see a new path */
	assert_true(changed >= 2 && changed <= 5);
	free(before);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_skipped_sets_would_not_change),
		cmocka_unit_test(test_join_touches_hubs_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
