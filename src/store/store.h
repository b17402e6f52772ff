/* Replicated mesh state: libraft consensus over an SQLite state machine.
 *
 * Every libraft call of the project lives in src/store/, so that moving to
 * cowsql/raft (the maintained, API-compatible successor) touches this directory
 * only. Reads come from the local replica; writes go through wm_store_apply and
 * only succeed on the leader (-WM_ENOTLEADER elsewhere).
 */
#ifndef WM_STORE_STORE_H
#define WM_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "core/dnsname.h"
#include "core/mesh.h"
#include "webmesh/v1/raft.pb-c.h"

struct wm_store;

/* The node with this raft ID as this node learnt it outside the replica (at
 * join, from the bootstrap list): its node ID, WireGuard public key, and
 * whether it is a voter or observer. 0, or -ENOENT when unknown. */
typedef int (*wm_store_peer_lookup_fn)(void *data, uint64_t raft_id,
				       char node_id[WM_NODE_ID_MAX + 1], uint8_t pub[32],
				       bool *is_server);

struct wm_store_config {
	const char *dir;	     /* data dir: raft log + snapshots + state.db; locked */
	const char *node_id;	     /* mesh node ID; the raft ID is derived from it */
	const char *raft_address;    /* "IPv4:port" this node's raft listens on */
	bool bootstrap;		     /* dir without raft data: start a one-voter cluster */
	unsigned heartbeat_ms;	     /* 0 = 100 */
	unsigned election_ms;	     /* 0 = 1000 */
	unsigned snapshot_threshold; /* entries between snapshots, 0 = 1024 */
	unsigned snapshot_trailing;  /* entries kept after a snapshot, 0 = 128 */
	/* With bootstrap: the other initial voters (node ID and raft address).
	 * Every initial voter must bootstrap with the same set, this node
	 * included implicitly, so that only one cluster can form. */
	const char *const *initial_ids;
	const char *const *initial_addresses;
	size_t n_initial;
	/* Raft connections are TLS, and both ends prove their WireGuard key
	 * (raft_transport.c). Required: this node's WireGuard private key (32
	 * bytes, copied), and peer_lookup for the peers the replica does not
	 * know yet (a fresh voter's replica is empty until the leader's
	 * snapshot). */
	const uint8_t *wg_private_key;
	wm_store_peer_lookup_fn peer_lookup;
	/* A refused Raft connection, one line, once per source and reason;
	 * may be NULL. */
	void (*log)(void *data, const char *msg);
	void *peer_data; /* for peer_lookup and log */
	/* The process exits after wm_store_close: libraft's own memory is then
	 * kept rather than freed, because libraft 0.15 may report its I/O
	 * closed before a last segment write has finished (seen on tmpfs) and
	 * touch that memory afterwards. Tests leave it false and free all. */
	bool exiting;
	/* Storage plugins (include/webmesh/plugin.h): NULL or "raft" is the
	 * built-in store above; another NAME loads webmesh-NAME.so, hands it
	 * the settings below (its init's configuration) and registers this
	 * server at api_address ("IP:PORT") once it is ready. The Raft
	 * fields above are then unused. */
	const char *storage;
	const char *const *storage_keys, *const *storage_values;
	size_t n_storage_config;
	const char *api_address;
	/* A command the plugin leaves unanswered this long fails with
	 * -ETIMEDOUT (its outcome unknown, as a Raft leader's loss leaves
	 * it); 0 = 60000. */
	unsigned storage_answer_ms;
};

/* What applying one command produced. */
struct wm_store_result {
	int err; /* 0 or negative: -EEXIST, -WM_EKEYMISMATCH, -WM_EEXHAUSTED, -ENOENT, -EINVAL */
	char message[256];	  /* human-readable reason when err != 0 */
	uint64_t index;		  /* raft index of the entry */
	struct wm_mesh_node node; /* JoinNode: the node as stored (lease included) */
};

/* The raft server ID of a node: the first 8 bytes of SHA-256(node_id), big
 * endian; never 0 (libraft's "no server"). Every replica computes the same. */
uint64_t wm_store_raft_id(const char *node_id);

/* The result of wm_store_apply or wm_store_barrier. */
typedef void (*wm_store_apply_cb)(void *data, const struct wm_store_result *res);

/* One attribute a user put on an edge (wmctl put edge --attr KEY=VALUE). Kept
 * out of struct wm_mesh_edge, which the peer computation holds by the
 * thousand: only the admin reads want the text. */
#define WM_EDGE_ATTR_KEY_MAX 63
#define WM_EDGE_ATTR_VALUE_MAX 256
struct wm_edge_attr {
	char source[WM_NODE_ID_MAX + 1];
	char target[WM_NODE_ID_MAX + 1];
	char key[WM_EDGE_ATTR_KEY_MAX + 1];
	char value[WM_EDGE_ATTR_VALUE_MAX + 1];
};

/* A change of the state (wm_store_on_change). */
typedef void (*wm_store_change_cb)(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd);

struct wm_store_member {
	char node_id[WM_NODE_ID_MAX + 1]; /* empty when the raft ID maps to no stored node */
	uint64_t raft_id;
	char address[64];
	int role; /* enum wm_raft_role */
};

struct wm_store_status {
	const char *state; /* "leader", "follower", "candidate", "unavailable" */
	bool is_leader;
	char leader_id[WM_NODE_ID_MAX + 1]; /* empty if unknown */
	char leader_address[64];
	uint64_t term, commit_index, applied_index, last_index;
	/* The replica holds everything the mesh has committed: it has a
	 * leader and has applied an entry of the leader's term. Until then
	 * behind says why not (a static string), and the API refuses reads
	 * and subscriptions with UNAVAILABLE, so that nobody acts on a replica
	 * that is still replaying (e.g. just after a restart). */
	bool caught_up;
	const char *behind;
	struct wm_store_member members[16];
	size_t n_members;
	/* Command versions (core/cmdver.h): this build's; on the leader the
	 * mesh's effective one (0 elsewhere); and, when this replica stopped
	 * at an entry it cannot apply, that entry's index and the version it
	 * needs (0 otherwise). */
	uint32_t command_version, mesh_command_version, stalled_needs;
	uint64_t stalled_index;
	/* Where the state lives: "raft", or a storage plugin's name with its
	 * backend's endpoints, position (etcd: the revision) and a status
	 * line. */
	const char *storage;
	char storage_endpoints[256];
	uint64_t storage_revision;
	char storage_detail[256];
};

/* The end of a membership change or leadership transfer: 0 or a negative error. */
typedef void (*wm_store_done_cb)(void *data, int err);

/* The store's functions: declared from the one list of them, which states
 * each one's contract. */
struct wm_authz_snapshot; /* store/authz.h */
#define WM_STORE_FN(ret, name, params, args) ret wm_store_##name params;
#include "store/store_api.def"

#endif
