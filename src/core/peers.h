/* Which peers a node has and what each peer carries, computed from the mesh graph. */
#ifndef WM_CORE_PEERS_H
#define WM_CORE_PEERS_H

#include <stddef.h>

#include "core/mesh.h"

/* A peer of `self`: a direct neighbour in the graph, and every prefix that self
 * reaches through it (its own addresses, those of nodes behind it on the
 * weighted shortest path, and routes they advertise). */
struct wm_peer {
	size_t node;                 /* index into the nodes array */
	struct wm_prefix *allowed_ips; /* owned, sorted */
	size_t n_allowed_ips;
};

struct wm_peer_set {
	struct wm_peer *peers; /* owned, sorted by node ID */
	size_t n_peers;
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
 * owner, then the smaller first-hop ID, then the smaller owner ID. Prefixes self
 * owns or advertises itself are never given to a peer. Prefixes are normalised
 * (host bits cleared). Weights below 1 count as 1; a duplicated node ID keeps its
 * first entry. */
int wm_peers_compute(const struct wm_mesh_node *nodes, size_t n_nodes,
		     const struct wm_mesh_edge *edges, size_t n_edges, const char *self_id,
		     struct wm_peer_set *out);
void wm_peer_set_free(struct wm_peer_set *set);

#endif
