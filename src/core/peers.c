/* Peer computation: weighted shortest paths from self decide which peer carries which prefix. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/ipam.h"
#include "core/peers.h"
#include "core/sort.h"

#define NONE SIZE_MAX

struct graph {
	const struct wm_mesh_node *nodes;
	size_t n;
	size_t *by_id; /* node indices sorted by ID, duplicates dropped */
	size_t n_by_id;
	size_t *rank;	 /* rank[i]: position of node i in by_id, NONE for a duplicate */
	size_t *adj_off; /* CSR adjacency: neighbours of i are adj[adj_off[i]..adj_off[i+1]) */
	size_t *adj;
	int64_t *adj_w;
	bool *adj_ice; /* the edge behind adj[k] is marked ice */
	bool *adj_p2p; /* and libp2p */
};

struct heap_item {
	int64_t dist;
	size_t hop_rank;
	size_t node;
};

struct heap {
	struct heap_item *items;
	size_t n, cap;
};

/* One prefix some peer could carry; the best claim per prefix wins. */
struct claim {
	struct wm_prefix prefix;
	int cls; /* -1: a mesh network, 0: the node's own address (or the chosen exit's
		    default route), 1: a route it advertises, 2: a route of a node
		    marked unreachable */
	int64_t dist;
	size_t via_rank;
	size_t owner_rank;
	size_t via; /* node index of the peer */
};

struct id_ent {
	const char *id;
	size_t idx;
};

static int id_ent_cmp(const void *a, const void *b)
{
	const struct id_ent *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static size_t find_id(const struct graph *g, const char *id)
{
	size_t lo = 0, hi = g->n_by_id;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(g->nodes[g->by_id[mid]].id, id);

		if (c == 0)
			return g->by_id[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

static void graph_free(struct graph *g)
{
	free(g->by_id);
	free(g->rank);
	free(g->adj_off);
	free(g->adj);
	free(g->adj_w);
	free(g->adj_ice);
	free(g->adj_p2p);
}

static int graph_build(struct graph *g, const struct wm_mesh_node *nodes, size_t n,
		       const struct wm_mesh_edge *edges, size_t n_edges)
{
	size_t *ends = NULL, *fill = NULL;
	struct id_ent *ents = NULL;
	size_t m = 0;

	memset(g, 0, sizeof(*g));
	g->nodes = nodes;
	g->n = n;
	if (n_edges > SIZE_MAX / 4)
		return -ENOMEM;
	g->by_id = calloc(n + 1, sizeof(size_t));
	g->rank = calloc(n + 1, sizeof(size_t));
	g->adj_off = calloc(n + 1, sizeof(size_t));
	ents = calloc(n + 1, sizeof(*ents));
	ends = calloc(2 * n_edges + 1, sizeof(size_t));
	fill = calloc(n + 1, sizeof(size_t));
	if (!g->by_id || !g->rank || !g->adj_off || !ents || !ends || !fill)
		goto nomem;

	for (size_t i = 0; i < n; i++)
		ents[i] = (struct id_ent){nodes[i].id, i};
	wm_sort(ents, n, sizeof(*ents), id_ent_cmp);
	/* A duplicated ID keeps its first entry; the others do not exist. */
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(ents[i - 1].id, ents[i].id) == 0) {
			g->rank[ents[i].idx] = NONE;
			continue;
		}
		g->rank[ents[i].idx] = g->n_by_id;
		g->by_id[g->n_by_id++] = ents[i].idx;
	}

	/* Resolve each edge once; edges naming unknown nodes and self-loops are
	 * ignored. Both directions go into the adjacency (edges are undirected). */
	for (size_t i = 0; i < n_edges; i++) {
		size_t a = find_id(g, edges[i].source), b = find_id(g, edges[i].target);

		if (a == NONE || b == NONE || a == b) {
			ends[2 * i] = ends[2 * i + 1] = NONE;
			continue;
		}
		ends[2 * i] = a;
		ends[2 * i + 1] = b;
		g->adj_off[a + 1]++;
		g->adj_off[b + 1]++;
		m += 2;
	}
	for (size_t i = 0; i < n; i++)
		g->adj_off[i + 1] += g->adj_off[i];
	g->adj = calloc(m + 1, sizeof(size_t));
	g->adj_w = calloc(m + 1, sizeof(int64_t));
	g->adj_ice = calloc(m + 1, sizeof(bool));
	g->adj_p2p = calloc(m + 1, sizeof(bool));
	if (!g->adj || !g->adj_w || !g->adj_ice || !g->adj_p2p)
		goto nomem;
	memcpy(fill, g->adj_off, (n + 1) * sizeof(size_t));
	for (size_t i = 0; i < n_edges; i++) {
		size_t a = ends[2 * i], b = ends[2 * i + 1];
		/* Weights below 1 would let a path grow shorter by getting longer. */
		int64_t w = edges[i].weight < 1 ? 1 : edges[i].weight;

		if (a == NONE)
			continue;
		g->adj[fill[a]] = b;
		g->adj_ice[fill[a]] = edges[i].ice;
		g->adj_p2p[fill[a]] = edges[i].libp2p;
		g->adj_w[fill[a]++] = w;
		g->adj[fill[b]] = a;
		g->adj_ice[fill[b]] = edges[i].ice;
		g->adj_p2p[fill[b]] = edges[i].libp2p;
		g->adj_w[fill[b]++] = w;
	}
	free(ents);
	free(ends);
	free(fill);
	return 0;
nomem:
	free(ents);
	free(ends);
	free(fill);
	graph_free(g);
	return -ENOMEM;
}

static bool item_less(const struct heap_item *a, const struct heap_item *b)
{
	if (a->dist != b->dist)
		return a->dist < b->dist;
	return a->hop_rank < b->hop_rank;
}

static int heap_push(struct heap *h, struct heap_item it)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 64;
		struct heap_item *p = realloc(h->items, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		h->items = p;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!item_less(&it, &h->items[parent]))
			break;
		h->items[i] = h->items[parent];
		i = parent;
	}
	h->items[i] = it;
	return 0;
}

static struct heap_item heap_pop(struct heap *h)
{
	struct heap_item top = h->items[0], last = h->items[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && item_less(&h->items[c + 1], &h->items[c]))
			c++;
		if (!item_less(&h->items[c], &last))
			break;
		h->items[i] = h->items[c];
		i = c;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

/* Dijkstra over (distance, rank of the first hop): the pair order is kept when
 * a path is extended, so the first pair settled for a node is its shortest
 * path with the smallest first hop, the same answer on every node. */
static int shortest_paths(const struct graph *g, size_t self, int64_t *dist, size_t *hop)
{
	struct heap h = {0};
	bool *done = calloc(g->n, sizeof(bool));
	int r = 0;

	if (!done)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++) {
		dist[i] = INT64_MAX;
		hop[i] = NONE;
	}
	dist[self] = 0;
	r = heap_push(&h, (struct heap_item){0, 0, self});
	while (r == 0 && h.n > 0) {
		struct heap_item it = heap_pop(&h);
		size_t u = it.node;

		if (done[u])
			continue;
		done[u] = true;
		for (size_t k = g->adj_off[u]; k < g->adj_off[u + 1]; k++) {
			size_t v = g->adj[k];
			struct heap_item cand;

			if (done[v])
				continue;
			cand.node = v;
			cand.dist = dist[u] + g->adj_w[k];
			cand.hop_rank = u == self ? g->rank[v] : g->rank[hop[u]];
			if (hop[v] != NONE &&
			    !item_less(&cand, &(struct heap_item){dist[v], g->rank[hop[v]], v}))
				continue;
			dist[v] = cand.dist;
			hop[v] = u == self ? v : hop[u];
			r = heap_push(&h, cand);
			if (r < 0)
				break;
		}
	}
	free(h.items);
	free(done);
	return r;
}

static int claim_cmp(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;
	int c = wm_prefix_cmp(&x->prefix, &y->prefix);

	if (c)
		return c;
	if (x->cls != y->cls)
		return x->cls < y->cls ? -1 : 1;
	if (x->dist != y->dist)
		return x->dist < y->dist ? -1 : 1;
	if (x->via_rank != y->via_rank)
		return x->via_rank < y->via_rank ? -1 : 1;
	if (x->owner_rank != y->owner_rank)
		return x->owner_rank < y->owner_rank ? -1 : 1;
	return 0;
}

/* Normalises a stored prefix to what WireGuard would hold; false if unset. */
static bool normalise(const struct wm_prefix *in, int len, struct wm_prefix *out)
{
	if (in->family != AF_INET && in->family != AF_INET6)
		return false;
	*out = *in;
	if (len >= 0)
		out->len = (uint8_t)len;
	if (out->len > (out->family == AF_INET ? 32 : 128))
		return false;
	*out = wm_prefix_network(out);
	return true;
}

static bool self_owns(const struct wm_mesh_node *self, const struct wm_prefix *p)
{
	struct wm_prefix q;

	if (normalise(&self->ipv4, 32, &q) && wm_prefix_equal(&q, p))
		return true;
	if (normalise(&self->ipv6, WM_NODE_IPV6_LEN, &q) && wm_prefix_equal(&q, p))
		return true;
	for (size_t i = 0; i < self->n_routes && i < WM_MAX_ROUTES; i++) {
		if (normalise(&self->routes[i], -1, &q) && wm_prefix_equal(&q, p))
			return true;
	}
	return false;
}

/* A route's claim class: 1, except that the default routes of the exit node
 * self chose (--use-exit-node) beat every other's, nearer or not, and that
 * the routes of a node marked unreachable lose to every reachable owner's
 * (route and exit-node failover), chosen exit or not; with no other owner
 * the unreachable one keeps them, as dropping the route helps nobody. */
static int route_class(const struct wm_mesh_node *self, const struct wm_mesh_node *owner,
		       const struct wm_prefix *p)
{
	if (owner->unreachable)
		return 2;
	if (p->len == 0 && self->exit_node[0] && strcmp(self->exit_node, owner->id) == 0)
		return 0;
	return 1;
}

static void add_claim(struct claim *claims, size_t *n, const struct wm_prefix *p, int cls,
		      int64_t dist, const struct graph *g, size_t via, size_t owner)
{
	struct claim *c = &claims[(*n)++];

	c->prefix = *p;
	c->cls = cls;
	c->dist = dist;
	c->via = via;
	c->via_rank = g->rank[via];
	c->owner_rank = g->rank[owner];
}

/* A peer that carries at least this many addresses of other nodes (two per
 * node: IPv4 and IPv6) carries the mesh networks in their place when the
 * networks are known: below it (a full mesh, a short chain, the small
 * meshes of the tests) the set stays as it was. */
#define SUMMARY_MIN_ADDRESSES 32

/*
 * The neighbour through which self reaches most nodes takes the mesh
 * networks instead of those nodes' addresses; every other peer keeps its
 * own, which WireGuard prefers as longer prefixes. A member linked to its
 * hub and to one other member got a peer set naming every node of the mesh
 * (~580 KiB at 10,000: bench/scale, put edge); now its hub's networks and the
 * other member, as a spoke gets. Each address still goes to the same peer as
 * before: only addresses no node holds go to that neighbour instead of
 * nowhere, as from a spoke. Claims are sorted and unique by prefix on entry
 * and on return.
 */
static int summarise_claims(const struct graph *g, const struct wm_peers_opts *nets,
			    struct claim **claims, size_t *n_claims, size_t n_peers,
			    const size_t *slot)
{
	const struct wm_prefix *net[2] = {&nets->ipv4_network, &nets->ipv6_network};
	size_t *carried = calloc(n_peers + 1, sizeof(*carried));
	size_t best = NONE, w = 0;
	struct claim *c = *claims, *grown;
	struct wm_prefix p;

	if (!carried)
		return -ENOMEM;
	for (size_t i = 0; i < *n_claims; i++) {
		if (c[i].cls == 0 && c[i].owner_rank != c[i].via_rank)
			carried[slot[c[i].via]]++;
	}
	for (size_t i = 0; i < *n_claims; i++) {
		size_t k = slot[c[i].via];

		if (carried[k] >= SUMMARY_MIN_ADDRESSES &&
		    (best == NONE || carried[k] > carried[slot[best]]))
			best = c[i].via;
	}
	free(carried);
	if (best == NONE)
		return 0;
	grown = realloc(c, (*n_claims + 3) * sizeof(*c));
	if (!grown)
		return -ENOMEM;
	c = *claims = grown;
	for (size_t i = 0; i < *n_claims; i++) {
		bool inside = false;

		for (size_t j = 0; j < 2 && c[i].cls == 0 && c[i].via == best; j++)
			inside |= net[j]->family == c[i].prefix.family &&
				  wm_prefix_contains(net[j], &c[i].prefix);
		if (!inside)
			c[w++] = c[i];
	}
	/* class -1: the networks win over a route that happens to equal them */
	for (size_t j = 0; j < 2; j++) {
		if (normalise(net[j], -1, &p)) {
			c[w] = (struct claim){.prefix = p,
					      .cls = -1,
					      .via = best,
					      .via_rank = g->rank[best],
					      .owner_rank = g->rank[best]};
			w++;
		}
	}
	wm_sort(c, w, sizeof(*c), claim_cmp);
	*n_claims = 0;
	for (size_t i = 0; i < w; i++) {
		if (*n_claims > 0 && wm_prefix_equal(&c[*n_claims - 1].prefix, &c[i].prefix))
			continue;
		c[(*n_claims)++] = c[i];
	}
	return 0;
}

static int build_set(const struct graph *g, size_t self, const int64_t *dist, const size_t *hop,
		     const struct wm_peers_opts *nets, struct wm_peer_set *out)
{
	const struct wm_mesh_node *me = &g->nodes[self];
	struct claim *claims = NULL;
	size_t *slot = NULL, n_claims = 0, n_peers = 0;
	struct wm_peer *peers = NULL;
	int r = -ENOMEM;

	size_t cap = 1;

	for (size_t r_ = 0; r_ < g->n_by_id; r_++) {
		size_t nr = g->nodes[g->by_id[r_]].n_routes;

		cap += 2 + (nr < WM_MAX_ROUTES ? nr : WM_MAX_ROUTES);
	}
	slot = malloc((g->n + 1) * sizeof(size_t));
	claims = calloc(cap, sizeof(*claims));
	if (!slot || !claims)
		goto out;
	/* Every direct neighbour is a peer, whatever its shortest path. */
	for (size_t i = 0; i < g->n; i++)
		slot[i] = NONE;
	for (size_t k = g->adj_off[self]; k < g->adj_off[self + 1]; k++) {
		if (slot[g->adj[k]] == NONE)
			slot[g->adj[k]] = n_peers++;
	}
	peers = calloc(n_peers + 1, sizeof(*peers));
	if (!peers)
		goto out;
	/* Slots in ID order, as the output is documented to be sorted. */
	n_peers = 0;
	for (size_t r_ = 0; r_ < g->n_by_id; r_++) {
		size_t i = g->by_id[r_];

		if (slot[i] != NONE) {
			slot[i] = n_peers;
			peers[n_peers++].node = i;
		}
	}
	/* Any of several edges to a neighbour may carry the mark. */
	for (size_t k = g->adj_off[self]; k < g->adj_off[self + 1]; k++) {
		peers[slot[g->adj[k]]].ice |= g->adj_ice[k];
		peers[slot[g->adj[k]]].libp2p |= g->adj_p2p[k];
	}

	for (size_t r_ = 0; r_ < g->n_by_id; r_++) {
		size_t i = g->by_id[r_];
		const struct wm_mesh_node *nd = &g->nodes[i];
		struct wm_prefix p;
		size_t via;

		if (i == self || dist[i] == INT64_MAX)
			continue;
		/* A neighbour carries its own prefixes even when a cheaper path
		 * through another peer exists: it is the one that answers for them. */
		via = slot[i] != NONE ? i : hop[i];
		if (normalise(&nd->ipv4, 32, &p) && !self_owns(me, &p))
			add_claim(claims, &n_claims, &p, 0, dist[i], g, via, i);
		if (normalise(&nd->ipv6, WM_NODE_IPV6_LEN, &p) && !self_owns(me, &p))
			add_claim(claims, &n_claims, &p, 0, dist[i], g, via, i);
		for (size_t k = 0; k < nd->n_routes && k < WM_MAX_ROUTES; k++) {
			if (normalise(&nd->routes[k], -1, &p) && !self_owns(me, &p))
				add_claim(claims, &n_claims, &p, route_class(me, nd, &p), dist[i],
					  g, via, i);
		}
	}
	/* WireGuard routes a prefix to one peer only: the best claim wins. */
	wm_sort(claims, n_claims, sizeof(*claims), claim_cmp);
	{
		size_t w = 0;

		for (size_t i = 0; i < n_claims; i++) {
			if (w > 0 && wm_prefix_equal(&claims[w - 1].prefix, &claims[i].prefix))
				continue;
			claims[w++] = claims[i];
		}
		n_claims = w;
	}
	if (nets && summarise_claims(g, nets, &claims, &n_claims, n_peers, slot) < 0)
		goto out;
	for (size_t i = 0; i < n_claims; i++)
		peers[slot[claims[i].via]].n_allowed_ips++;
	for (size_t i = 0; i < n_peers; i++) {
		if (peers[i].n_allowed_ips == 0)
			continue;
		peers[i].allowed_ips = calloc(peers[i].n_allowed_ips, sizeof(struct wm_prefix));
		if (!peers[i].allowed_ips)
			goto out;
		peers[i].n_allowed_ips = 0;
	}
	/* Claims are sorted by prefix, so each peer's list comes out sorted. */
	for (size_t i = 0; i < n_claims; i++) {
		struct wm_peer *pe = &peers[slot[claims[i].via]];

		pe->allowed_ips[pe->n_allowed_ips++] = claims[i].prefix;
	}
	out->peers = peers;
	out->n_peers = n_peers;
	peers = NULL;
	r = 0;
out:
	if (peers) {
		for (size_t i = 0; i < n_peers; i++)
			free(peers[i].allowed_ips);
		free(peers);
	}
	free(claims);
	free(slot);
	return r;
}

/* ---- the reusable graph ---- */

struct wm_peer_graph {
	struct graph g;
	bool summary; /* opts gave the mesh networks */
	struct wm_peers_opts opts;
	size_t *deg;	/* distinct neighbours of each node */
	size_t *only;	/* deg 1: that neighbour */
	int64_t **dist; /* per source, NULL until computed */
	size_t **hop;
	size_t n_trees;
	size_t *routed; /* nodes advertising routes, in ID order */
	size_t n_routed;
	int64_t *wa, *wb; /* scratch: weight to each neighbour of two nodes */
	size_t *sa, *sb;  /* scratch stamps for wa, wb */
	size_t stamp;
	/* Per component (indexed by its root node), made on the first
	 * wm_peer_graph_inputs: digests of every node and edge in it, and of
	 * the routes its nodes advertise. */
	size_t *root;
	uint64_t *comp_all, *comp_routes;
	uint64_t *node_hash; /* each node's record, once asked for */
	bool *node_hashed;
};

static bool has_routes(const struct wm_mesh_node *nd)
{
	struct wm_prefix p;

	for (size_t k = 0; k < nd->n_routes && k < WM_MAX_ROUTES; k++) {
		if (normalise(&nd->routes[k], -1, &p))
			return true;
	}
	return false;
}

/* Marks the neighbours of u in (w, s) with their smallest edge weight. */
static void mark_neighbours(struct wm_peer_graph *pg, size_t u, int64_t *w, size_t *s)
{
	const struct graph *g = &pg->g;
	size_t st = ++pg->stamp;

	for (size_t k = g->adj_off[u]; k < g->adj_off[u + 1]; k++) {
		size_t v = g->adj[k];

		if (s[v] != st || g->adj_w[k] < w[v]) {
			s[v] = st;
			w[v] = g->adj_w[k];
		}
	}
}

void wm_peer_graph_free(struct wm_peer_graph *pg)
{
	if (!pg)
		return;
	for (size_t i = 0; pg->dist && i < pg->g.n; i++) {
		free(pg->dist[i]);
		free(pg->hop[i]);
	}
	free(pg->dist);
	free(pg->hop);
	free(pg->deg);
	free(pg->only);
	free(pg->routed);
	free(pg->wa);
	free(pg->wb);
	free(pg->sa);
	free(pg->sb);
	free(pg->root);
	free(pg->comp_all);
	free(pg->comp_routes);
	free(pg->node_hash);
	free(pg->node_hashed);
	graph_free(&pg->g);
	free(pg);
}

int wm_peer_graph_new(const struct wm_mesh_node *nodes, size_t n_nodes,
		      const struct wm_mesh_edge *edges, size_t n_edges,
		      const struct wm_peers_opts *opts, struct wm_peer_graph **out)
{
	struct wm_peer_graph *pg;
	size_t n = n_nodes;
	int r;

	if (!out || (n_nodes && !nodes) || (n_edges && !edges))
		return -EINVAL;
	*out = NULL;
	pg = calloc(1, sizeof(*pg));
	if (!pg)
		return -ENOMEM;
	r = graph_build(&pg->g, nodes, n_nodes, edges, n_edges);
	if (r < 0) {
		free(pg);
		return r;
	}
	if (opts) {
		pg->opts = *opts;
		pg->summary = opts->ipv4_network.family == AF_INET ||
			      opts->ipv6_network.family == AF_INET6;
	}
	pg->deg = calloc(n + 1, sizeof(size_t));
	pg->only = calloc(n + 1, sizeof(size_t));
	pg->dist = calloc(n + 1, sizeof(*pg->dist));
	pg->hop = calloc(n + 1, sizeof(*pg->hop));
	pg->routed = calloc(n + 1, sizeof(size_t));
	pg->wa = calloc(n + 1, sizeof(int64_t));
	pg->wb = calloc(n + 1, sizeof(int64_t));
	pg->sa = calloc(n + 1, sizeof(size_t));
	pg->sb = calloc(n + 1, sizeof(size_t));
	if (!pg->deg || !pg->only || !pg->dist || !pg->hop || !pg->routed || !pg->wa || !pg->wb ||
	    !pg->sa || !pg->sb) {
		wm_peer_graph_free(pg);
		return -ENOMEM;
	}
	for (size_t u = 0; u < n; u++) {
		size_t st = ++pg->stamp;

		pg->only[u] = NONE;
		for (size_t k = pg->g.adj_off[u]; k < pg->g.adj_off[u + 1]; k++) {
			size_t v = pg->g.adj[k];

			if (pg->sa[v] == st)
				continue;
			pg->sa[v] = st;
			pg->deg[u]++;
			pg->only[u] = v;
		}
	}
	for (size_t r_ = 0; r_ < pg->g.n_by_id; r_++) {
		size_t i = pg->g.by_id[r_];

		if (has_routes(&nodes[i]))
			pg->routed[pg->n_routed++] = i;
	}
	*out = pg;
	return 0;
}

int wm_peer_graph_find(const struct wm_peer_graph *pg, const char *id, size_t *index)
{
	size_t i;

	if (!pg || !id)
		return -EINVAL;
	i = find_id(&pg->g, id);
	if (i == NONE)
		return -ENOENT;
	if (index)
		*index = i;
	return 0;
}

size_t wm_peer_graph_trees(const struct wm_peer_graph *pg)
{
	return pg ? pg->n_trees : 0;
}

/* The shortest-path tree from src, computed once. A node with one neighbour
 * reaches everything through it, and no shortest path of the neighbour's
 * returns through the leaf, so the leaf's tree is the neighbour's shifted by
 * the edge's weight: a hub and its thousand spokes cost one Dijkstra. */
static int tree(struct wm_peer_graph *pg, size_t src, const int64_t **dist, const size_t **hop)
{
	size_t n = pg->g.n;
	int64_t *d;
	size_t *h;
	int r;

	if (pg->dist[src])
		goto done;
	d = malloc((n + 1) * sizeof(*d));
	h = malloc((n + 1) * sizeof(*h));
	if (!d || !h) {
		free(d);
		free(h);
		return -ENOMEM;
	}
	if (pg->deg[src] == 1 && pg->deg[pg->only[src]] != 1) {
		size_t nb = pg->only[src];
		const int64_t *nd;
		const size_t *nh;
		int64_t w = INT64_MAX;

		r = tree(pg, nb, &nd, &nh);
		if (r < 0) {
			free(d);
			free(h);
			return r;
		}
		for (size_t k = pg->g.adj_off[src]; k < pg->g.adj_off[src + 1]; k++) {
			if (pg->g.adj_w[k] < w)
				w = pg->g.adj_w[k];
		}
		for (size_t v = 0; v < n; v++) {
			d[v] = nd[v] == INT64_MAX ? INT64_MAX : nd[v] + w;
			h[v] = nd[v] == INT64_MAX ? NONE : nb;
		}
		d[src] = 0;
		h[src] = NONE;
	} else {
		r = shortest_paths(&pg->g, src, d, h);
		if (r < 0) {
			free(d);
			free(h);
			return r;
		}
	}
	pg->dist[src] = d;
	pg->hop[src] = h;
	pg->n_trees++;
done:
	*dist = pg->dist[src];
	*hop = pg->hop[src];
	return 0;
}

/*
 * Whether x forwards for others. If the path some node takes to another runs
 * through x, it enters and leaves x by two neighbours p and q, and its part
 * p-x-q is a shortest p-q path (a part of a shortest path is one). So x
 * forwards only if, for two of its neighbours, dist(p, q) = w(p,x) + w(x,q);
 * on a tie another path may be the one taken, and x forwards needlessly,
 * which is harmless. A neighbour with no other link (a spoke) always sends
 * through x. Pairs linked directly more cheaply need no tree.
 */
static int transit(struct wm_peer_graph *pg, size_t x, bool *out)
{
	const struct graph *g = &pg->g;
	size_t *nbs = NULL, n_nbs = 0;
	int r = 0;

	*out = has_routes(&g->nodes[x]);
	if (*out || pg->deg[x] < 2)
		return 0;
	nbs = malloc(pg->deg[x] * sizeof(size_t));
	if (!nbs)
		return -ENOMEM;
	/* wa holds x's link weights for the whole call: only wb is marked again. */
	mark_neighbours(pg, x, pg->wa, pg->sa);
	for (size_t k = g->adj_off[x]; k < g->adj_off[x + 1]; k++) {
		size_t v = g->adj[k];
		bool dup = false;

		for (size_t j = 0; j < n_nbs && !dup; j++)
			dup = nbs[j] == v;
		if (dup)
			continue;
		nbs[n_nbs++] = v;
		if (pg->deg[v] == 1)
			*out = true;
	}
	for (size_t i = 0; i < n_nbs && !*out; i++) {
		size_t p = nbs[i];
		const int64_t *dist;
		const size_t *hop;
		bool need_tree = false;

		mark_neighbours(pg, p, pg->wb, pg->sb);
		for (size_t j = i + 1; j < n_nbs && !need_tree; j++) {
			size_t q = nbs[j];
			int64_t via_x = pg->wa[p] + pg->wa[q];

			need_tree = pg->sb[q] != pg->stamp || pg->wb[q] >= via_x;
		}
		if (!need_tree)
			continue;
		r = tree(pg, p, &dist, &hop);
		if (r < 0)
			break;
		for (size_t j = i + 1; j < n_nbs && !*out; j++) {
			size_t q = nbs[j];

			*out = dist[q] != INT64_MAX && dist[q] >= pg->wa[p] + pg->wa[q];
		}
	}
	free(nbs);
	return r;
}

/* A node with one neighbour: both mesh networks and every reachable route
 * (not self's) go to that neighbour. */
static int build_summary(const struct wm_peer_graph *pg, size_t self, const int64_t *dist,
			 struct wm_peer_set *out)
{
	const struct graph *g = &pg->g;
	const struct wm_mesh_node *me = &g->nodes[self];
	size_t nb = pg->only[self], n_claims = 0;
	struct claim *claims;
	struct wm_peer *peer;
	struct wm_prefix p;

	claims = calloc(2 + pg->n_routed * WM_MAX_ROUTES + 1, sizeof(*claims));
	peer = calloc(1, sizeof(*peer));
	if (!claims || !peer) {
		free(claims);
		free(peer);
		return -ENOMEM;
	}
	peer->node = nb;
	for (size_t k = g->adj_off[self]; k < g->adj_off[self + 1]; k++) {
		peer->ice |= g->adj_ice[k];
		peer->libp2p |= g->adj_p2p[k];
	}
	/* class -1: the networks win over a route that happens to equal them */
	if (normalise(&pg->opts.ipv4_network, -1, &p))
		add_claim(claims, &n_claims, &p, -1, 0, g, nb, nb);
	if (normalise(&pg->opts.ipv6_network, -1, &p))
		add_claim(claims, &n_claims, &p, -1, 0, g, nb, nb);
	for (size_t r_ = 0; r_ < pg->n_routed; r_++) {
		size_t i = pg->routed[r_];
		const struct wm_mesh_node *nd = &g->nodes[i];

		if (i == self || dist[i] == INT64_MAX)
			continue;
		for (size_t k = 0; k < nd->n_routes && k < WM_MAX_ROUTES; k++) {
			if (normalise(&nd->routes[k], -1, &p) && !self_owns(me, &p))
				add_claim(claims, &n_claims, &p, route_class(me, nd, &p), dist[i],
					  g, nb, i);
		}
	}
	wm_sort(claims, n_claims, sizeof(*claims), claim_cmp);
	peer->allowed_ips = calloc(n_claims + 1, sizeof(struct wm_prefix));
	if (!peer->allowed_ips) {
		free(claims);
		free(peer);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_claims; i++) {
		if (i > 0 && wm_prefix_equal(&claims[i - 1].prefix, &claims[i].prefix))
			continue;
		peer->allowed_ips[peer->n_allowed_ips++] = claims[i].prefix;
	}
	free(claims);
	out->peers = peer;
	out->n_peers = 1;
	out->summarised = true;
	return 0;
}

int wm_peer_graph_compute(struct wm_peer_graph *pg, const char *self_id, struct wm_peer_set *out)
{
	const int64_t *dist;
	const size_t *hop;
	size_t self;
	bool fwd = false;
	int r;

	if (!pg || !self_id || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	self = find_id(&pg->g, self_id);
	if (self == NONE)
		return -ENOENT;
	r = transit(pg, self, &fwd);
	if (r < 0)
		return r;
	if (pg->summary && pg->deg[self] == 1) {
		/* A spoke needs no tree of its own: what its hub reaches, it
		 * reaches through the hub, in the same order. Skipping the copy
		 * keeps a server with thousands of spokes from holding a tree
		 * per spoke. */
		size_t src = pg->deg[pg->only[self]] != 1 ? pg->only[self] : self;

		r = tree(pg, src, &dist, &hop);
		if (r == 0)
			r = build_summary(pg, self, dist, out);
	} else {
		r = tree(pg, self, &dist, &hop);
		if (r == 0)
			r = build_set(&pg->g, self, dist, hop, pg->summary ? &pg->opts : NULL, out);
	}
	if (r == 0)
		out->forwarding = fwd;
	return r;
}

int wm_peers_compute_opts(const struct wm_mesh_node *nodes, size_t n_nodes,
			  const struct wm_mesh_edge *edges, size_t n_edges,
			  const struct wm_peers_opts *opts, const char *self_id,
			  struct wm_peer_set *out)
{
	struct wm_peer_graph *pg;
	int r;

	if (!out || !self_id)
		return -EINVAL;
	out->peers = NULL;
	out->n_peers = 0;
	r = wm_peer_graph_new(nodes, n_nodes, edges, n_edges, opts, &pg);
	if (r < 0)
		return r;
	r = wm_peer_graph_compute(pg, self_id, out);
	wm_peer_graph_free(pg);
	return r;
}

int wm_peers_compute(const struct wm_mesh_node *nodes, size_t n_nodes,
		     const struct wm_mesh_edge *edges, size_t n_edges, const char *self_id,
		     struct wm_peer_set *out)
{
	return wm_peers_compute_opts(nodes, n_nodes, edges, n_edges, NULL, self_id, out);
}

/* ---- what a node's set is computed from ---- */

/* splitmix64's finaliser: folds a running digest so that the order of the
 * pieces matters and sums of pieces do not cancel. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Eight bytes at a time: a digest of every node runs after each change, and
 * byte-wise FNV cost more than the peer sets it spares. */
static uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
	const uint8_t *p = data;
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	w = n;
	memcpy(&w, p, n); /* the length in the unused bytes tells "ab" from "ab\0" */
	w ^= (uint64_t)n << 56;
	h = (h ^ w) * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

static uint64_t hash_prefix(uint64_t h, const struct wm_prefix *p)
{
	return hash_bytes(h, p, sizeof(*p)); /* three byte fields, no padding */
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	return hash_bytes(h, s, strlen(s) + 1);
}

/* The routes a node advertises (and its mark, which decides who wins them). */
static uint64_t hash_routes(uint64_t h, const struct wm_mesh_node *nd)
{
	size_t n = nd->n_routes < WM_MAX_ROUTES ? nd->n_routes : WM_MAX_ROUTES;

	h = hash_bytes(h, &n, sizeof(n));
	for (size_t k = 0; k < n; k++)
		h = hash_prefix(h, &nd->routes[k]);
	return hash_bytes(h, &nd->unreachable, sizeof(nd->unreachable));
}

/* Every field of a node record: whatever of it a peer set or its message
 * carries (the peer's node, endpoint, addresses, self's own routes). A
 * field added to the record and left out here lets a change of it skip the
 * subscribers it concerns (the libp2p fields once did): the size check
 * makes whoever adds one come here (x86_64; other ABIs skip it). */
#if defined(__x86_64__)
_Static_assert(sizeof(struct wm_mesh_node) == 1360,
	       "struct wm_mesh_node changed: hash the new field in hash_node_fields (and mutate it "
	       "in tests/unit/test_peer_inputs.c), then update this size");
#endif
static uint64_t hash_node_fields(const struct wm_mesh_node *nd)
{
	uint64_t h = hash_str(WM_HASH_FNV1A_INIT, nd->id);
	size_t ne = nd->n_endpoints < WM_MAX_ENDPOINTS ? nd->n_endpoints : WM_MAX_ENDPOINTS;

	h = hash_bytes(h, nd->public_key, sizeof(nd->public_key));
	h = hash_prefix(h, &nd->ipv4);
	h = hash_prefix(h, &nd->ipv6);
	h = hash_bytes(h, &ne, sizeof(ne));
	for (size_t k = 0; k < ne; k++) {
		h = hash_prefix(h, &nd->endpoints[k].ip);
		h = hash_bytes(h, &nd->endpoints[k].port, sizeof(nd->endpoints[k].port));
	}
	h = hash_bytes(h, &nd->listen_port, sizeof(nd->listen_port));
	h = hash_bytes(h, &nd->raft_role, sizeof(nd->raft_role));
	h = hash_str(h, nd->zone);
	h = hash_bytes(h, &nd->joined_at, sizeof(nd->joined_at));
	h = hash_str(h, nd->exit_node);
	h = hash_str(h, nd->libp2p_id);
	h = hash_str(h, nd->libp2p_addrs);
	return hash_routes(h, nd);
}

/* Each node's record digest, computed once per graph (a hub is the
 * neighbour of thousands of spokes). */
static uint64_t hash_node(struct wm_peer_graph *pg, size_t i)
{
	if (!pg->node_hashed[i]) {
		pg->node_hash[i] = hash_node_fields(&pg->g.nodes[i]);
		pg->node_hashed[i] = true;
	}
	return pg->node_hash[i];
}

static size_t uf_find(size_t *root, size_t x)
{
	while (root[x] != x) {
		root[x] = root[root[x]];
		x = root[x];
	}
	return x;
}

/* Components by union-find over the resolved edges, and per component a
 * digest of the routes its nodes advertise: all a summarised spoke needs
 * beyond its own link. O(nodes + edges), hashing only the routed nodes. */
static int digest_components(struct wm_peer_graph *pg)
{
	const struct graph *g = &pg->g;
	size_t n = g->n;

	pg->root = calloc(n + 1, sizeof(size_t));
	pg->comp_routes = calloc(n + 1, sizeof(uint64_t));
	pg->node_hash = calloc(n + 1, sizeof(uint64_t));
	pg->node_hashed = calloc(n + 1, sizeof(bool));
	if (!pg->root || !pg->comp_routes || !pg->node_hash || !pg->node_hashed) {
		free(pg->root);
		free(pg->comp_routes);
		free(pg->node_hash);
		free(pg->node_hashed);
		pg->root = NULL;
		pg->comp_routes = pg->node_hash = NULL;
		pg->node_hashed = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		pg->root[i] = i;
	for (size_t u = 0; u < n; u++) {
		for (size_t k = g->adj_off[u]; k < g->adj_off[u + 1]; k++) {
			size_t a = uf_find(pg->root, u), b = uf_find(pg->root, g->adj[k]);

			if (a != b)
				pg->root[a < b ? b : a] = a < b ? a : b;
		}
	}
	for (size_t u = 0; u < n; u++)
		pg->root[u] = uf_find(pg->root, u);
	/* routed is in ID order: the same order in every graph */
	for (size_t r_ = 0; r_ < pg->n_routed; r_++) {
		size_t i = pg->routed[r_], c = pg->root[i];

		pg->comp_routes[c] = mix64(
			pg->comp_routes[c] +
			hash_routes(hash_str(WM_HASH_FNV1A_INIT, g->nodes[i].id), &g->nodes[i]));
	}
	return 0;
}

/* Per component a digest of its nodes (in ID order) and of its edges
 * (summed, as the input order of edges does not matter): what a node that is
 * no summarised spoke depends on. Made on the first such node's request. */
static int digest_components_all(struct wm_peer_graph *pg)
{
	const struct graph *g = &pg->g;
	size_t n = g->n;
	uint64_t *edges_sum = calloc(n + 1, sizeof(uint64_t));

	pg->comp_all = calloc(n + 1, sizeof(uint64_t));
	if (!pg->comp_all || !edges_sum) {
		free(pg->comp_all);
		free(edges_sum);
		pg->comp_all = NULL;
		return -ENOMEM;
	}
	for (size_t r_ = 0; r_ < g->n_by_id; r_++) {
		size_t i = g->by_id[r_], c = pg->root[i];

		pg->comp_all[c] = mix64(pg->comp_all[c] + hash_node(pg, i));
	}
	/* Each edge is in the adjacency twice: counted from its lower-ranked end. */
	for (size_t u = 0; u < n; u++) {
		for (size_t k = g->adj_off[u]; k < g->adj_off[u + 1]; k++) {
			size_t v = g->adj[k];
			uint64_t h;

			if (g->rank[u] > g->rank[v])
				continue;
			h = hash_str(WM_HASH_FNV1A_INIT, g->nodes[u].id);
			h = hash_str(h, g->nodes[v].id);
			h = hash_bytes(h, &g->adj_w[k], sizeof(g->adj_w[k]));
			h = hash_bytes(h, &g->adj_ice[k], sizeof(g->adj_ice[k]));
			h = hash_bytes(h, &g->adj_p2p[k], sizeof(g->adj_p2p[k]));
			edges_sum[pg->root[u]] += mix64(h);
		}
	}
	for (size_t c = 0; c < n; c++)
		pg->comp_all[c] = mix64(pg->comp_all[c] ^ mix64(edges_sum[c] + 1));
	free(edges_sum);
	return 0;
}

/*
 * Why these inputs suffice (tests/unit/test_peer_inputs.c compares against
 * full computations on random graphs and changes):
 *  - A node reaches only its own component, and build_set and transit read
 *    nothing outside it but the relative order of IDs, which the same IDs
 *    keep: so a node's set is a function of its ID and its component's
 *    nodes and edges.
 *  - A summarised spoke's set is its one neighbour (record, ice and libp2p
 *    of the link), the mesh networks, and the prefixes of the routes advertised in
 *    its component less those it owns: every claim goes to that neighbour,
 *    so distances, the rest of the graph and other nodes' addresses do not
 *    matter. That is what keeps a join in hub and spoke from touching the
 *    spokes, and their digests from costing O(mesh).
 */
int wm_peer_graph_inputs(struct wm_peer_graph *pg, const char *self_id, uint64_t seed,
			 uint64_t *out)
{
	uint64_t h;
	size_t self, c;

	if (!pg || !self_id || !out)
		return -EINVAL;
	self = find_id(&pg->g, self_id);
	if (self == NONE)
		return -ENOENT;
	if (!pg->root) {
		int r = digest_components(pg);

		if (r < 0)
			return r;
	}
	c = pg->root[self];
	h = hash_bytes(WM_HASH_FNV1A_INIT, &seed, sizeof(seed));
	h = hash_prefix(h, &pg->opts.ipv4_network);
	h = hash_prefix(h, &pg->opts.ipv6_network);
	h = hash_bytes(h, &pg->summary, sizeof(pg->summary));
	if (pg->summary && pg->deg[self] == 1) {
		const struct graph *g = &pg->g;
		bool ice = false, p2p = false;

		for (size_t k = g->adj_off[self]; k < g->adj_off[self + 1]; k++) {
			ice |= g->adj_ice[k];
			p2p |= g->adj_p2p[k];
		}
		h = hash_bytes(h, "spoke", 6);
		h = mix64(h + hash_node(pg, self));
		h = mix64(h + hash_node(pg, pg->only[self]));
		h = hash_bytes(h, &ice, sizeof(ice));
		h = hash_bytes(h, &p2p, sizeof(p2p));
		h = mix64(h + pg->comp_routes[c]);
	} else {
		if (!pg->comp_all) {
			int r = digest_components_all(pg);

			if (r < 0)
				return r;
		}
		h = hash_bytes(h, "graph", 6);
		h = hash_str(h, self_id);
		h = mix64(h + pg->comp_all[c]);
	}
	*out = h;
	return 0;
}

void wm_peer_set_free(struct wm_peer_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n_peers; i++)
		free(set->peers[i].allowed_ips);
	free(set->peers);
	set->peers = NULL;
	set->n_peers = 0;
}
