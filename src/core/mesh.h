/* The mesh data model shared by store, services and node: nodes and edges (pure). */
#ifndef WM_CORE_MESH_H
#define WM_CORE_MESH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ids.h"
#include "core/key.h"
#include "core/net.h"
#include "core/p2pwg.h"

#define WM_MAX_ENDPOINTS 8
#define WM_MAX_ROUTES 32
#define WM_DOMAIN_MAX 253

/* How a join links the new node into the graph (fixed at bootstrap). */
enum wm_topology {
	WM_TOPOLOGY_FULL = 0,	/* an edge to every node */
	WM_TOPOLOGY_MANUAL = 1, /* an edge to the server it joined through and to
				   nodes of its zone; the user adds the rest */
};

/* Mesh-wide settings fixed at bootstrap. */
struct wm_mesh_info {
	struct wm_prefix ipv4_network; /* e.g. 172.16.0.0/12 */
	struct wm_prefix ipv6_network; /* ULA /48 */
	char domain[WM_DOMAIN_MAX + 1];
	int64_t created_at; /* unix seconds, as proposed by the bootstrap node */
	int topology;	    /* enum wm_topology */
};

enum wm_raft_role {
	WM_ROLE_MEMBER = 0,   /* not part of consensus */
	WM_ROLE_VOTER = 1,    /* RAFT_VOTER */
	WM_ROLE_OBSERVER = 2, /* RAFT_STANDBY */
};

/* One node of the mesh as stored. Fixed-size so that arrays of nodes are one
 * allocation; owned by whoever holds the array. */
struct wm_mesh_node {
	char id[WM_NODE_ID_MAX + 1];
	wm_key public_key;
	struct wm_prefix ipv4; /* /32 lease; family 0 if none */
	struct wm_prefix ipv6; /* /112 derived from the key */
	struct wm_endpoint endpoints[WM_MAX_ENDPOINTS];
	size_t n_endpoints;
	uint16_t listen_port;
	int raft_role; /* enum wm_raft_role */
	char zone[WM_NODE_ID_MAX + 1];
	int64_t joined_at;			/* unix seconds */
	struct wm_prefix routes[WM_MAX_ROUTES]; /* networks advertised behind this node */
	size_t n_routes;
	char exit_node[WM_NODE_ID_MAX + 1]; /* whose default routes it takes, "" = the nearest */
	/* WireGuard over libp2p (core/p2pwg.h): the peer ID and listen
	 * addresses it published, canonical; "" without libp2p. */
	char libp2p_id[WM_P2P_PUB_ID_MAX];
	char libp2p_addrs[WM_P2P_PUB_ADDRS_MAX];
	/* The leader marked it unreachable (liveness, unreachable-after-ms):
	 * its routes go to the next node that advertises them. Not stored in
	 * the replica; set by whoever computes peers (services/peercache.c). */
	bool unreachable;
};

/* A directed-as-stored, used-as-undirected edge: A-B and B-A are the same link. */
struct wm_mesh_edge {
	char source[WM_NODE_ID_MAX + 1];
	char target[WM_NODE_ID_MAX + 1];
	int32_t weight; /* >= 1; lower is preferred */
	bool ice;	/* attribute ice=true: the two ends reach each other over ICE */
	bool libp2p;	/* attribute libp2p=true: WireGuard over libp2p between them */
};

#endif
