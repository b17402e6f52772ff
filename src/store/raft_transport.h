/* libraft's transport for webmesh: TCP, TLS 1.3, then both ends prove their
 * node's WireGuard key before libraft sees a single byte (raft_transport.c).
 * Internal to src/store. */
#ifndef WM_STORE_RAFT_TRANSPORT_H
#define WM_STORE_RAFT_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <raft.h>
#include <raft/uv.h>

#include "core/ids.h"

/* Who the node with this raft ID is: its node ID, its WireGuard public key
 * and whether it is a voter or observer now. 0, or -ENOENT when unknown. */
typedef int (*wm_raft_identify_fn)(void *data, uint64_t raft_id, char node_id[WM_NODE_ID_MAX + 1],
				   uint8_t pub[32], bool *is_server);
/* A refused or failed connection, one line; once per source and reason. */
typedef void (*wm_raft_log_fn)(void *data, const char *msg);

struct wm_raft_transport_config {
	uv_loop_t *loop;
	const char *node_id;	       /* ours, sent in our hello */
	const uint8_t *wg_private_key; /* 32 bytes, copied (wiped on free) */
	wm_raft_identify_fn identify;
	wm_raft_log_fn log;	       /* may be NULL */
	void *data;		       /* for identify and log */
	unsigned user_timeout_ms;      /* TCP_USER_TIMEOUT; 0 = 5000 */
	unsigned handshake_timeout_ms; /* TCP connect to authenticated; 0 = 5000 */
};

/* Fills t's functions and state (t->impl; t->data stays libraft's). 0,
 * -EINVAL for a missing field, -ENOMEM, -EIO when TLS setup failed (err
 * says why). The transport then accepts only connections that complete TLS
 * and the hello exchange; anything else is closed and logged, and libraft
 * never hears of it. */
int wm_raft_transport_init(struct raft_uv_transport *t, const struct wm_raft_transport_config *cfg,
			   char *err, size_t errlen);
/* Frees what init allocated: once libraft closed the transport (its close
 * callback ran), or when libraft never started it. */
void wm_raft_transport_free(struct raft_uv_transport *t);

#endif
