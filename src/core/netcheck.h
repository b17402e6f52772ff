/* What `wmctl ping` and `wmctl netcheck` conclude (pure): the kind of path a
 * peer's packets take, named from what the NAT layer reports, and which paths
 * a node's view of the network allows. */
#ifndef WM_CORE_NETCHECK_H
#define WM_CORE_NETCHECK_H

#include <stdbool.h>
#include <stddef.h>

/* The same numbers as webmesh.v1.PeerPath. */
enum wm_peer_path {
	WM_PATH_UNKNOWN = 0,
	WM_PATH_DIRECT = 1,	       /* WireGuard to the peer's endpoint */
	WM_PATH_ICE_HOST = 2,	       /* ICE, two host candidates */
	WM_PATH_ICE_SRFLX = 3,	       /* ICE through a NAT (server- or peer-reflexive) */
	WM_PATH_ICE_RELAY = 4,	       /* ICE through a TURN relay */
	WM_PATH_ICE_CONNECTING = 5,    /* ICE is being negotiated: no path yet */
	WM_PATH_LIBP2P = 6,	       /* WireGuard over a direct libp2p connection */
	WM_PATH_LIBP2P_RELAY = 7,      /* ... through a libp2p circuit relay */
	WM_PATH_LIBP2P_CONNECTING = 8, /* its libp2p connection is being made */
};

/* The path from a peer's status as the NAT layer fills it: path is "direct",
 * "ice-direct", "ice-relay", "ice-connecting", "libp2p-direct",
 * "libp2p-relay" or "libp2p-connecting" ("" counts as direct: no NAT
 * layer); the candidates are "TYPE ADDRESS" (TYPE host, srflx, prflx or
 * relay), either may be "" or NULL. A relay on either side makes the pair
 * relayed; a reflexive one, a hole punched through a NAT. Unknown text gives
 * WM_PATH_UNKNOWN. */
enum wm_peer_path wm_peer_path_of(const char *path, const char *local_cand,
				  const char *remote_cand);
/* "direct", "ice-host", "ice-srflx", "ice-relay", "ice-connecting",
 * "libp2p-direct", "libp2p-relay", "libp2p-connecting", "unknown". */
const char *wm_peer_path_name(enum wm_peer_path p);

/* What netcheck found. */
struct wm_netcheck_facts {
	bool endpoint_public; /* this node advertises an endpoint with a public address */
	int mapping;	      /* enum wm_nat_mapping of core/nat.h */
	size_t n_stun;	      /* STUN servers configured */
	size_t n_stun_reached;
	size_t n_turn; /* TURN servers configured */
	size_t n_turn_reached;
};

struct wm_path_check {
	enum wm_peer_path path;
	bool possible;
	const char *why; /* static text */
};

#define WM_NETCHECK_PATHS 4

/* The paths the facts allow, in the order direct, ICE host, ICE srflx, ICE
 * relay (libp2p is not listed until it exists). Returns WM_NETCHECK_PATHS. */
size_t wm_netcheck_paths(const struct wm_netcheck_facts *f,
			 struct wm_path_check out[WM_NETCHECK_PATHS]);

#endif
