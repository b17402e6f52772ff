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

#include "core/mesh.h"
#include "webmesh/v1/raft.pb-c.h"

struct wm_store;

struct wm_store_config {
	const char *dir;          /* data dir: raft log + snapshots + state.db; locked */
	const char *node_id;      /* mesh node ID; the raft ID is derived from it */
	const char *raft_address; /* "IPv4:port" this node's raft listens on */
	bool bootstrap;           /* dir without raft data: start a one-voter cluster */
	unsigned heartbeat_ms;    /* 0 = 100 */
	unsigned election_ms;     /* 0 = 1000 */
	unsigned snapshot_threshold; /* entries between snapshots, 0 = 1024 */
	unsigned snapshot_trailing;  /* entries kept after a snapshot, 0 = 128 */
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
 * err receives a description on failure. */
int wm_store_open(uv_loop_t *loop, const struct wm_store_config *cfg, struct wm_store **out,
		  char *err, size_t errlen);
/* Stops raft and frees the store once libraft has closed; done_cb may be NULL. */
void wm_store_close(struct wm_store *s, void (*done_cb)(void *data), void *data);

typedef void (*wm_store_apply_cb)(void *data, const struct wm_store_result *res);
/* Encodes cmd, appends it to the log and calls cb once it is applied (or failed:
 * res->err -WM_ENOTLEADER if leadership was lost, -ECANCELED on close). The
 * command is copied; cb is always called, never synchronously. */
int wm_store_apply(struct wm_store *s, const Webmesh__V1__RaftCommand *cmd, wm_store_apply_cb cb,
		   void *data);
/* Calls cb (res->err 0) once every entry committed before the call is applied. */
int wm_store_barrier(struct wm_store *s, wm_store_apply_cb cb, void *data);

/* Local reads. Arrays are malloc'd; the caller frees them. */
int wm_store_mesh_info(struct wm_store *s, struct wm_mesh_info *out); /* -WM_ENOMESH */
int wm_store_get_node(struct wm_store *s, const char *id, struct wm_mesh_node *out); /* -ENOENT */
int wm_store_list_nodes(struct wm_store *s, struct wm_mesh_node **out, size_t *n);
int wm_store_list_edges(struct wm_store *s, struct wm_mesh_edge **out, size_t *n);
/* A canonical text dump of the whole state (tests compare replicas with it). */
int wm_store_dump(struct wm_store *s, char **out);

/* Called after every applied entry, on every replica, in log order. */
typedef void (*wm_store_change_cb)(void *data, uint64_t index, const Webmesh__V1__RaftCommand *cmd);
void wm_store_on_change(struct wm_store *s, wm_store_change_cb cb, void *data);

struct wm_store_member {
	char node_id[WM_NODE_ID_MAX + 1]; /* empty when the raft ID maps to no stored node */
	char address[64];
	int role; /* enum wm_raft_role */
};

struct wm_store_status {
	const char *state; /* "leader", "follower", "candidate", "unavailable" */
	bool is_leader;
	char leader_id[WM_NODE_ID_MAX + 1]; /* empty if unknown */
	char leader_address[64];
	uint64_t term, commit_index, applied_index, last_index;
	struct wm_store_member members[16];
	size_t n_members;
};
void wm_store_status(struct wm_store *s, struct wm_store_status *out);

#endif
