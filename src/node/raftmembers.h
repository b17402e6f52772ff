/* On the leader, Raft membership follows the mesh state (raftmembers.c); on
 * every server, the same timer notices leadership changes (libraft 0.15 has
 * no callback for them). A component: its own timer, its own bookkeeping,
 * and callbacks for what the rest of the daemon does with each pass. */
#ifndef WM_NODE_RAFTMEMBERS_H
#define WM_NODE_RAFTMEMBERS_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "core/ids.h"
#include "store/store.h"

struct wm_raftmembers_config {
	uv_loop_t *loop;
	const char *node_id; /* borrowed */
	uint16_t raft_port;
	uint64_t period_ms; /* the Raft heartbeat, at most 300 ms */
	/* Every pass, with the store's status (the Raft port's firewall
	 * follows the servers). */
	void (*status_cb)(void *data, const struct wm_store_status *st);
	/* Leadership moved (or the term changed): the services drop what
	 * they held for the old leader. */
	void (*leader_changed)(void *data);
	/* Membership changes wait until the node is in the mesh. */
	bool (*running)(void *data);
	/* Nothing is done any more once the node stops. */
	bool (*stopping)(void *data);
	void *data;
};

struct wm_raftmembers {
	struct wm_raftmembers_config c;
	struct wm_store *store; /* from _start; borrowed */
	uv_timer_t timer;
	bool closed;
	char last_leader[WM_NODE_ID_MAX + 1];
	uint64_t last_term;
	bool change_pending;
	/* The node whose Raft change is in flight, and the last one whose change
	 * failed: tried after every other, so that one joiner that never comes
	 * up (or refused to serve) does not hold up the rest. */
	char changing[WM_NODE_ID_MAX + 1], failed[WM_NODE_ID_MAX + 1];
	uint64_t reconciled_index, reconciled_term; /* last pass with nothing to do */
};

void wm_raftmembers_init(struct wm_raftmembers *rm, const struct wm_raftmembers_config *c);
/* The replica is open: passes begin, every period_ms. */
void wm_raftmembers_start(struct wm_raftmembers *rm, struct wm_store *store);
/* Stops the passes (a change in flight ends with the store's close). */
void wm_raftmembers_close(struct wm_raftmembers *rm);

#endif
