/* Liveness heartbeats: every node but the leader tells the leader, every
 * heartbeat-interval-ms, that it is alive. A component (docs/ARCHITECTURE.md,
 * "The module pattern"): the caller embeds the struct, and says at init how a
 * heartbeat reaches the leader and whom to tell when the server in use does
 * not answer. */
#ifndef WM_NODE_HEARTBEAT_H
#define WM_NODE_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "rpc/rpc.h"

struct wm_heartbeat_config {
	uv_loop_t *loop;
	const char *node_id; /* borrowed; outlives the component */
	uint64_t interval_ms;
	/* Sends one unary call towards the leader (members through their
	 * server, servers directly): 0, or -errno when there is nobody to send
	 * to now (this node leads, or is not in the mesh yet); then done_cb is
	 * never called. */
	int (*send)(void *data, const char *path, const uint8_t *req, size_t len,
		    uint64_t timeout_ms, wm_rpc_unary_cb done_cb, void *done_data);
	/* The server in use did not answer a heartbeat (UNAVAILABLE or
	 * DEADLINE_EXCEEDED): a crashed server's stream may stay silent, this
	 * is the quicker sign. */
	void (*upstream_failed_cb)(void *data);
	void *data;
};

struct wm_heartbeat {
	struct wm_heartbeat_config c;
	uv_timer_t timer;
	bool running; /* between _start and _close */
	bool closed;
	void (*close_cb)(void *data);
	void *close_data;
};

void wm_heartbeat_init(struct wm_heartbeat *h, const struct wm_heartbeat_config *c);
/* Starts the heartbeats (the node is in the mesh); idempotent. */
void wm_heartbeat_start(struct wm_heartbeat *h);
/* Stops the heartbeats; done_cb once the timer is closed. Answers still on
 * their way are ignored. */
void wm_heartbeat_close(struct wm_heartbeat *h, void (*done_cb)(void *data), void *data);

#endif
