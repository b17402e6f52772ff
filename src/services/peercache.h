/* Peer configurations of many nodes from one snapshot of the graph.
 *
 * After a change a server recomputes the peers of every subscriber. Done one
 * by one (wm_services_peer_config) each computation reads every node and edge
 * from SQLite and runs its own Dijkstra: O(subscribers x graph) per change. The
 * cache reads the state once per change (it follows the store's change feed),
 * builds the graph once, and shares shortest-path trees between nodes (a spoke
 * reuses its hub's), so a change costs one read, one tree per node with two or
 * more neighbours, and the size of each answer.
 */
#ifndef WM_SERVICES_PEERCACHE_H
#define WM_SERVICES_PEERCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/ids.h"
#include "core/key.h"
#include "store/store.h"
#include "util/arena.h"
#include "webmesh/v1/mesh.pb-c.h"

/* PeerConfigurations.acl_rules name the interface WM_ACL_IFNAME_PLACEHOLDER
 * (core/aclbatch.h); each node puts its own interface name in its place. */
#include "core/aclbatch.h"

struct wm_peercache;

/* The work that follows a change and costs O(mesh) (loading the state,
 * this node's own peers, the pass over subscribers) is paced to this share
 * of the time (core/pace.h), delayed by no more than the cap: a storm of
 * joins is then answered in batches, not with one full recomputation per
 * applied entry, while a lone change goes at once. */
#define WM_PEERS_PACE_SHARE_PCT 25
#define WM_PEERS_PACE_MAX_NS (200ull * 1000 * 1000)

/* Listens to store's changes until freed. Free it before the store is closed,
 * or after (then it never unregisters: the store is gone). */
int wm_peercache_new(struct wm_store *store, struct wm_peercache **out);
/* Stops listening if the store is still open (store_open says so). NULL is fine. */
void wm_peercache_free(struct wm_peercache *pc, bool store_open);
/* The peers of node_id as wm_services_peer_config gives them (strings in a),
 * from the state as of the last change. -ENOENT if the node is not in the mesh. */
int wm_peercache_config(struct wm_peercache *pc, const char *node_id, struct wm_arena *a,
			Webmesh__V1__PeerConfigurations *out);
/* A digest of what node_id's set is computed from, as of the last change
 * (wm_peer_graph_inputs, with the ACL rules): the same digest after a change
 * means the same set, so the subscriber needs no recomputation. -ENOENT if
 * the node is not in the mesh. */
int wm_peercache_inputs(struct wm_peercache *pc, const char *node_id, uint64_t *out);
/* How many times the state was loaded and graphs built (tests, benchmarks). */
uint64_t wm_peercache_loads(const struct wm_peercache *pc);

/* The same without a cache: reads the state, computes, forgets (what
 * wm_services_peer_config does). */
int wm_peercache_config_once(struct wm_store *store, const char *node_id, struct wm_arena *a,
			     Webmesh__V1__PeerConfigurations *out);

struct wm_services;
/* wm_services_peer_config for s's store through s's cache (made on first use,
 * freed by wm_services_free): what subscriptions call for every subscriber
 * after a change. -WM_ENOTLEADER on a node without a store. */
int wm_services_peers(struct wm_services *s, const char *node_id, struct wm_arena *a,
		      Webmesh__V1__PeerConfigurations *out);

/* wm_peercache_inputs through s's cache. */
int wm_services_peer_inputs(struct wm_services *s, const char *node_id, uint64_t *out);

/* The peers last sent to one receiver (node ID and base64 key), to name in
 * the next set those whose node left the mesh (PeerConfigurations.gone_keys). */
struct wm_sent_peer {
	char id[WM_NODE_ID_MAX + 1];
	char key[WM_KEY_B64_LEN + 1];
};
struct wm_sent_peers {
	struct wm_sent_peer *v;
	size_t n;
};
/* Remembers pc's peers as the last sent: 0 or -ENOMEM (then none are
 * remembered, and the next set names none gone). */
int wm_sent_peers_set(struct wm_sent_peers *sp, const Webmesh__V1__PeerConfigurations *pc);
/* The most peers a subscriber may say it holds (SubscribePeersRequest.held),
 * and a member sends. */
#define WM_HELD_PEERS_MAX 1024
/* Remembers the peers a new subscriber says it holds from an earlier stream,
 * as if sent to it, so that its first set names those that left: 0;
 * -EINVAL with *why naming the first bad entry (more than
 * WM_HELD_PEERS_MAX, a bad node ID or key), sp unchanged; -ENOMEM. */
int wm_sent_peers_held(struct wm_sent_peers *sp, Webmesh__V1__HeldPeer *const *held, size_t n,
		       const char **why);
void wm_sent_peers_free(struct wm_sent_peers *sp);
/* Sets out->gone_keys (strings in a) to the keys of sp's peers whose node is
 * not in the mesh with that key, as of the state the cache computed out from
 * (call it right after wm_peercache_config). 0, -ENOMEM, or the store's error. */
int wm_peercache_gone_keys(struct wm_peercache *pc, const struct wm_sent_peers *sp,
			   struct wm_arena *a, Webmesh__V1__PeerConfigurations *out);
/* The same through s's cache (right after wm_services_peers). */
int wm_services_gone_keys(struct wm_services *s, const struct wm_sent_peers *sp, struct wm_arena *a,
			  Webmesh__V1__PeerConfigurations *out);

#endif
