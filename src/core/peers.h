/* Which peers a node has and what each peer carries, computed from the mesh graph. */
#ifndef WM_CORE_PEERS_H
#define WM_CORE_PEERS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/mesh.h"

/* A peer of `self`: a direct neighbour in the graph, and every prefix that self
 * reaches through it (its own addresses, those of nodes behind it on the
 * weighted shortest path, and routes they advertise). */
struct wm_peer {
	size_t node;		       /* index into the nodes array */
	struct wm_prefix *allowed_ips; /* owned, sorted */
	size_t n_allowed_ips;
	bool ice;    /* an edge between self and this peer is marked ice */
	bool libp2p; /* one is marked libp2p (WireGuard over libp2p) */
};

struct wm_peer_set {
	struct wm_peer *peers; /* owned, sorted by node ID */
	size_t n_peers;
	/* self carries traffic for others: it advertises routes, or it lies on a
	 * shortest path between two of its neighbours (conservative on ties). */
	bool forwarding;
	/* self has a single neighbour, which carries the whole mesh network
	 * (set only when the networks were given, see wm_peers_opts). */
	bool summarised;
};

/* Computes self's peers. Edges are undirected; an edge naming an unknown node is
 * ignored. Paths are chosen by total weight, ties broken by the lexically
 * smaller next-hop ID, so every node computes the same answer. Returns 0,
 * -ENOENT if self is not among nodes, -ENOMEM.
 *
 * Details: every direct neighbour is a peer and carries its own ipv4 (/32),
 * ipv6 (/112) and routes, even if a cheaper path to it exists; every other
 * reachable node's prefixes go to the first hop of its shortest path;
 * unreachable nodes are left out. A prefix goes to one peer only (WireGuard
 * allows no duplicates): a node's own address beats a route, then the nearer
 * owner, then the smaller first-hop ID, then the smaller owner ID; a default
 * route (0.0.0.0/0, ::/0) of the node self names in exit_node beats any other
 * default route, and a route of a node marked unreachable loses to every
 * other owner's (failover; it keeps it when nobody else has it). Prefixes self
 * owns or advertises itself are never given to a peer. Prefixes are normalised
 * (host bits cleared). Weights below 1 count as 1; a duplicated node ID keeps its
 * first entry. A peer has ice set when any edge between self and it has: the
 * mark is about that link only, never about the nodes reached through it. */
int wm_peers_compute(const struct wm_mesh_node *nodes, size_t n_nodes,
		     const struct wm_mesh_edge *edges, size_t n_edges, const char *self_id,
		     struct wm_peer_set *out);
void wm_peer_set_free(struct wm_peer_set *set);

/* Mesh-wide inputs of the computation. */
struct wm_peers_opts {
	/* The mesh networks. When set (family != 0), a node with a single
	 * neighbour gets both networks through it instead of one prefix per node
	 * (hub and spoke): its config then stays the same while the mesh grows.
	 * Routes are still listed one by one. */
	struct wm_prefix ipv4_network;
	struct wm_prefix ipv6_network;
};

/*
 * One graph for many computations: the adjacency is resolved once, and each
 * node's shortest-path tree is computed at most once and kept (a node with a
 * single neighbour reuses its neighbour's tree). A server recomputing the peers
 * of every subscriber after a change therefore pays for the graph once and for
 * one Dijkstra per node with two or more neighbours, not one per subscriber.
 *
 * nodes and edges must stay valid and unchanged until wm_peer_graph_free; opts
 * is copied (NULL: no summarising). Returns 0, -EINVAL, -ENOMEM.
 * wm_peer_graph_compute gives the same answer as wm_peers_compute with the
 * same opts, and -ENOENT for an unknown self. Memory grows by two arrays of
 * n_nodes entries per tree kept.
 */
struct wm_peer_graph;
int wm_peer_graph_new(const struct wm_mesh_node *nodes, size_t n_nodes,
		      const struct wm_mesh_edge *edges, size_t n_edges,
		      const struct wm_peers_opts *opts, struct wm_peer_graph **out);
int wm_peer_graph_compute(struct wm_peer_graph *g, const char *self_id, struct wm_peer_set *out);
/* The index of node ID in the nodes array, or -ENOENT. */
int wm_peer_graph_find(const struct wm_peer_graph *g, const char *id, size_t *index);
/* Shortest-path trees computed so far (for tests and benchmarks). */
size_t wm_peer_graph_trees(const struct wm_peer_graph *g);
void wm_peer_graph_free(struct wm_peer_graph *g);

/* A digest of everything node self_id's set (wm_peer_graph_compute) is
 * computed from, mixed with seed (what the caller sends along with the set,
 * such as the ACL rules). When a node's digest is the same in two graphs its
 * set is the same too (same peers by ID, same records, same allowed IPs,
 * flags), so a server can skip the nodes a change cannot affect: a change
 * outside a node's component, and, for a summarised spoke, any change but one
 * to itself, its neighbour, their link or the routes of its component (a join
 * in hub and spoke touches the hub, not the other spokes). Different digests
 * mean the set may have changed. The first call costs O(nodes + edges), each
 * after it O(log nodes). Returns 0, -EINVAL, -ENOENT for an unknown self,
 * -ENOMEM. */
int wm_peer_graph_inputs(struct wm_peer_graph *g, const char *self_id, uint64_t seed,
			 uint64_t *out);

/* wm_peers_compute with opts (NULL: as wm_peers_compute). */
int wm_peers_compute_opts(const struct wm_mesh_node *nodes, size_t n_nodes,
			  const struct wm_mesh_edge *edges, size_t n_edges,
			  const struct wm_peers_opts *opts, const char *self_id,
			  struct wm_peer_set *out);

#endif
