/* Internals of the replicated store: the libraft FSM adapter and the store object. */
#ifndef WM_STORE_STORE_INT_H
#define WM_STORE_STORE_INT_H

#include <stdbool.h>

#include <raft.h>
#include <raft/uv.h>

#include "store/fsm.h"
#include "store/store.h"

#define WM_STORE_MAX_LISTENERS 16

/*
 * Adapts a wm_fsm to libraft's struct raft_fsm (version 1). Separate from the
 * store so that tests can drive it with raft/fixture.h. libraft's apply hook
 * is not told the entry's index; it is last_applied + 1 (libraft advances
 * last_applied right after the hook returns), hence the raft pointer.
 */
struct wm_store_fsm {
	struct raft_fsm raft_fsm; /* handed to raft_init; .data points back here */
	struct wm_fsm *fsm;	  /* not owned */
	struct raft *raft;	  /* set once raft_init has run */
	/* Where the result of the entry at index goes: the waiting request's
	 * own result on the leader (NULL: scratch). Optional. */
	struct wm_store_result *(*result_for)(void *owner, uint64_t index);
	void *owner;
	struct wm_store_result scratch;
	/* One line when the replica stops at an entry or migrates a snapshot;
	 * optional. */
	void (*log)(void *data, const char *msg);
	void *log_data;
	struct {
		wm_store_change_cb cb;
		void *data;
	} listeners[WM_STORE_MAX_LISTENERS];
	size_t n_listeners;
};

void wm_store_fsm_init(struct wm_store_fsm *g, struct wm_fsm *fsm);
/* -ENOSPC when WM_STORE_MAX_LISTENERS are registered. */
int wm_store_fsm_listen(struct wm_store_fsm *g, wm_store_change_cb cb, void *data);
void wm_store_fsm_unlisten(struct wm_store_fsm *g, wm_store_change_cb cb, void *data);

/* A command as a log entry: raft_malloc'd, framed and padded to a multiple of
 * 8 bytes as libraft's storage needs. 0, -ENOMEM or -E2BIG. */
int wm_store_entry_encode(const Webmesh__V1__RaftCommand *cmd, struct raft_buffer *out);
/* The protobuf message inside an entry; -EBADMSG if it is not framed,
 * -EPROTONOSUPPORT if it is framed in a later format than this build's. */
int wm_store_entry_decode(const struct raft_buffer *buf, const uint8_t **msg, size_t *len);

/* A libraft error code as a negative errno (RAFT_NOTLEADER -> -WM_ENOTLEADER...). */
int wm_store_raft_err(int rv);

struct apply_req;

/* The command versions voters advertised (store_version.c), kept for the
 * term they were heard in: a new leader counts only what it heard itself. */
#define WM_STORE_MAX_VERSIONS 32
struct wm_store_version {
	uint64_t raft_id, term;
	uint32_t version;
};

struct wm_store {
	uv_loop_t *loop;
	char node_id[WM_NODE_ID_MAX + 1];
	char address[64];
	uint64_t raft_id;
	int lock_fd;
	struct wm_fsm *fsm;
	struct wm_store_fsm glue;
	struct raft_uv_transport transport; /* raft_transport.c */
	wm_store_peer_lookup_fn peer_lookup;
	void (*log)(void *data, const char *msg);
	void *peer_data;
	struct raft_io io;
	/* libraft's own close of io, and the callback raft gave it: wrapped so
	 * that a second "closed" report from libraft 0.15 is swallowed. */
	void (*io_close)(struct raft_io *io, void (*cb)(struct raft_io *io));
	void (*io_closed_cb)(struct raft_io *io);
	bool io_closed, exiting;
	/* libraft's own append of io: wrapped so that appends cancelled by a
	 * close do not crash libraft 0.15 (store.c, io_append) */
	int (*io_append)(struct raft_io *io, struct raft_io_append *req,
			 const struct raft_entry entries[], unsigned n, raft_io_append_cb cb);
	struct raft raft;
	bool closing;
	struct apply_req *pending; /* applies waiting for their entry, for result_for */
	void (*done_cb)(void *data);
	void *done_data;
	struct wm_store_version versions[WM_STORE_MAX_VERSIONS];
	size_t n_versions;
};

/* The mesh's effective command version as this leader sees it: the lowest
 * of the voters' (core/cmdver.h), this node's own for itself. */
uint32_t wm_store_mesh_version(struct wm_store *s);

/* Who a Raft peer is, for the transport: the replica and libraft's
 * configuration first, then the daemon's peer_lookup (store_peers.c). */
int wm_store_identify(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
		      uint8_t pub[32], bool *is_server);
/* Fills out->caught_up and out->behind (store_catchup.c); out's other
 * fields first. */
void wm_store_catchup_status(struct wm_store *s, struct wm_store_status *out);
/* The transport's log line, to cfg->log. */
void wm_store_log(void *data, const char *msg);

/* The node ID of a raft server ID (self, or a stored node); "" if unknown. */
void wm_store_node_of(struct wm_store *s, uint64_t raft_id, char *out, size_t len);

#endif
