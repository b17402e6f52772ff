/* The Raft port's firewall, as a component: only the mesh addresses of
 * current voters and observers reach the Raft port (core/raftguard.h renders
 * the rules, nftables applies them). Applied when the set changes, its
 * failure said once; removed at close, before the interface goes. */
#ifndef WM_NODE_RAFTGUARD_H
#define WM_NODE_RAFTGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"
#include "store/store.h"

struct wm_raftguard {
	const char *interface; /* borrowed */
	uint16_t raft_port;
	bool applied, warned, hash_valid;
	uint64_t hash; /* of the rules last tried */
};

void wm_raftguard_init(struct wm_raftguard *g, const char *interface, uint16_t raft_port);
/* Brings the rules in line with libraft's configuration (st) and the
 * servers this node's peers name (servers, n: a fresh voter's configuration
 * is empty until the leader reaches it); self: our mesh IPv4 (family 0:
 * not known yet, nothing done). */
void wm_raftguard_sync(struct wm_raftguard *g, const struct wm_store_status *st,
		       const struct wm_prefix *self, const struct wm_prefix *servers, size_t n);
/* Removes the rules if we put any (synchronous: one nft batch). */
void wm_raftguard_close(struct wm_raftguard *g);

#endif
