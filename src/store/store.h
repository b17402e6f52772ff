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
	const char *dir;          /* data dir: raft log + snapshots + state.db; locked */
	const char *node_id;      /* mesh node ID; the raft ID is derived from it */
	const char *raft_address; /* "IPv4:port" this node's raft listens on */
	bool bootstrap;           /* dir without raft data: start a one-voter cluster */
	unsigned heartbeat_ms;    /* 0 = 100 */
	unsigned election_ms;     /* 0 = 1000 */
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
};

/* What applying one command produced. */
struct wm_store_result {
	int err;              /* 0 or negative: -EEXIST, -WM_EKEYMISMATCH, -WM_EEXHAUSTED, -ENOENT, -EINVAL */
	char message[256];    /* human-readable reason when err != 0 */
	uint64_t index;       /* raft index of the entry */
	struct wm_mesh_node node; /* JoinNode: the node as stored (lease included) */
};

/* The raft server ID of a node: the first 8 bytes of SHA-256(node_id), big
 * endian; never 0 (libraft's "no server"). Every replica computes the same. */
uint64_t wm_store_raft_id(const char *node_id);

/* Opens (locking dir; -WM_ELOCKED if another process holds it) and starts raft.
 * err receives a description on failure. state.db in dir is recreated empty:
 * the raft log and snapshots in dir/raft rebuild it. With cfg->bootstrap the
 * node starts a one-voter cluster at raft_address, but only when dir/raft holds
 * no raft state yet; otherwise (a restart) it resumes, bootstrap or not.
 * Without bootstrap and without state it waits to be added by a leader.
 * -WM_ECONFIG for a bad node ID, raft address (IPv4:port only) or timeouts
 * (heartbeat must be shorter than election). If a failure happens once raft
 * holds libuv handles, the remaining cleanup finishes on the next turns of
 * the loop (run it before uv_loop_close). */
int wm_store_open(uv_loop_t *loop, const struct wm_store_config *cfg, struct wm_store **out,
		  char *err, size_t errlen);
/* Stops raft and frees the store once libraft has closed; done_cb may be NULL.
 * Pending applies, barriers and membership changes complete with -ECANCELED
 * (from within this call). The lock is released before done_cb runs. */
void wm_store_close(struct wm_store *s, void (*done_cb)(void *data), void *data);

typedef void (*wm_store_apply_cb)(void *data, const struct wm_store_result *res);
/* Encodes cmd, appends it to the log and calls cb once it is applied (or failed:
 * res->err -WM_ENOTLEADER if leadership was lost, -ECANCELED on close). The
 * command is copied.
 * Returns 0, and then cb is called exactly once, never from within this call;
 * or a negative error, and then cb is never called: -WM_ENOTLEADER when this
 * node is not the leader (said synchronously so the caller can forward the
 * write at once), -EINVAL for an empty command, -ECANCELED while closing,
 * -ENOMEM. A command the state refuses arrives in cb as res->err (-EEXIST,
 * -WM_EKEYMISMATCH, -WM_EEXHAUSTED, -WM_ENOMESH, -ENOENT, -EINVAL) with
 * res->message. */
int wm_store_apply(struct wm_store *s, const Webmesh__V1__RaftCommand *cmd, wm_store_apply_cb cb,
		   void *data);
/* Calls cb (res->err 0, res->index the barrier's) once every entry committed
 * before the call is applied. Leader only: same return rules as wm_store_apply. */
int wm_store_barrier(struct wm_store *s, wm_store_apply_cb cb, void *data);

/* Local reads. Arrays are malloc'd; the caller frees them. */
int wm_store_mesh_info(struct wm_store *s, struct wm_mesh_info *out); /* -WM_ENOMESH */
int wm_store_get_node(struct wm_store *s, const char *id, struct wm_mesh_node *out); /* -ENOENT */
int wm_store_list_nodes(struct wm_store *s, struct wm_mesh_node **out, size_t *n);
int wm_store_list_edges(struct wm_store *s, struct wm_mesh_edge **out, size_t *n);
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
/* Every attribute of every edge, one item each, ordered by source, target
 * (as wm_store_list_edges lists the edges) and key. *out is malloc'd. */
int wm_store_list_edge_attrs(struct wm_store *s, struct wm_edge_attr **out, size_t *n);
/* MeshDNS user records, ordered by name, type and value. *out is malloc'd. */
int wm_store_list_dns_records(struct wm_store *s, struct wm_dns_record **out, size_t *n);
/* A canonical text dump of the whole state (tests compare replicas with it). */
int wm_store_dump(struct wm_store *s, char **out);

/* Called after every applied entry that changed the state, on every replica,
 * in log order, once per listener (the entry is decoded once for all).
 * Commands the state refused are not reported. cmd is NULL when the whole
 * state was replaced by a snapshot (index: the last applied in it): reload
 * everything. The callback may read the store but must not close it.
 * wm_store_on_change returns 0, or -ENOSPC past 16 listeners. */
typedef void (*wm_store_change_cb)(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd);
int wm_store_on_change(struct wm_store *s, wm_store_change_cb cb, void *data);
/* Drops a listener registered with the same cb and data. */
void wm_store_off_change(struct wm_store *s, wm_store_change_cb cb, void *data);

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
};
void wm_store_status(struct wm_store *s, struct wm_store_status *out);

/*
 * Raft membership (leader only). Each returns 0 and later calls cb exactly
 * once with 0 or a negative error, or returns a negative error without
 * calling cb: -WM_ENOTLEADER, -EINVAL (bad node ID, address not IPv4:port,
 * role not WM_ROLE_VOTER/WM_ROLE_OBSERVER), -EBUSY (another membership change
 * is in progress; retry), -ECANCELED while closing. Raft IDs are
 * wm_store_raft_id(node_id). Errors in cb: -WM_ENOTLEADER if leadership was
 * lost, -ECANCELED on close, -EIO/-ECONNREFUSED... when the change failed
 * (e.g. a new voter could not catch up).
 */
typedef void (*wm_store_done_cb)(void *data, int err);
/* Adds node_id at its raft address with role WM_ROLE_VOTER (RAFT_VOTER) or
 * WM_ROLE_OBSERVER (RAFT_STANDBY: replicates, never votes or leads): raft_add
 * then raft_assign, cb after both. An existing member at the same address
 * with another role is re-assigned. -EALREADY (no cb) if it is already a
 * member with that address and role; -EEXIST if it is a member at another
 * address (remove it first) or the address belongs to another member. */
int wm_store_add_member(struct wm_store *s, const char *node_id, const char *address, int role,
			wm_store_done_cb cb, void *data);
/* Removes node_id from the raft configuration (raft_remove); -ENOENT if it is
 * not a member. Removing the leader itself is allowed: it steps down once the
 * change commits. The node's mesh entry is untouched (RemoveNode does that). */
int wm_store_remove_member(struct wm_store *s, const char *node_id, wm_store_done_cb cb,
			   void *data);
/* The same for a member known only by its raft ID: one whose node was
 * removed from the mesh, so that no stored node maps to it any more. */
int wm_store_remove_raft_id(struct wm_store *s, uint64_t raft_id, wm_store_done_cb cb,
			    void *data);
/* Hands leadership to the most up-to-date voting follower (raft_transfer with
 * no target). -ENOENT (no cb) if there is no other voter. cb gets 0 once this
 * node no longer leads, -ETIMEDOUT if it still does after an election timeout. */
int wm_store_transfer_leadership(struct wm_store *s, wm_store_done_cb cb, void *data);

#endif
