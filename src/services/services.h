/* The API handlers of a node: Membership, Mesh and Node services.
 *
 * A server (a node with a local replica of the store) answers from its store
 * and applies writes through Raft. A plain member has no store: it proxies Mesh
 * reads to the server it joined through and only answers Node calls itself.
 */
#ifndef WM_SERVICES_SERVICES_H
#define WM_SERVICES_SERVICES_H

#include <stdbool.h>

#include <uv.h>

#include "rpc/rpc.h"
#include "store/store.h"
#include "util/arena.h"
#include "webmesh/v1/node.pb-c.h"

struct wm_services;
struct wm_gate;

/* Completion of an asynchronous daemon action: err 0 or negative with msg. */
typedef void (*wm_services_done_cb)(void *cd, int err, const char *msg);
/* Completion of a diagnostic (Ping, NetCheck): err 0 with resp (borrowed for
 * the callback), or negative with msg. */
typedef void (*wm_services_reply_cb)(void *cd, int err, const char *msg,
				     const ProtobufCMessage *resp);
/* One message of a streamed answer; 0, or -ECANCELED once the caller left. */
typedef int (*wm_services_send_cb)(void *cd, const ProtobufCMessage *msg);

struct wm_services_config {
	uv_loop_t *loop;
	const char *node_id;
	struct wm_store *store; /* NULL on plain members */
	/* Plain members: the client connected to their server, or NULL while
	 * there is none. Asked anew for every proxied call. */
	struct wm_rpc_client *(*upstream)(void *data);
	/* Fills this node's status; strings from the arena. */
	void (*fill_status)(void *data, Webmesh__V1__Status *st, struct wm_arena *a);
	/* Leave the mesh for good and stop the daemon (local LeaveMesh). */
	void (*leave_mesh)(void *data, wm_services_done_cb done, void *cd);
	/* Multi-server bootstrap: this server's key and settings (NULL: not a
	 * bootstrap server, the call is UNIMPLEMENTED). */
	void (*fill_bootstrap_info)(void *data, Webmesh__V1__BootstrapInfo *info,
				    struct wm_arena *a);
	/* Diagnostics of the local socket (NULL: UNIMPLEMENTED). The request is
	 * checked, its zeros replaced by the defaults, and borrowed until done
	 * runs; done runs exactly once (may be from within the call). Ping
	 * streams: send per message, then done with resp NULL. */
	void (*ping)(void *data, const Webmesh__V1__PingRequest *req, wm_services_send_cb send,
		     wm_services_reply_cb done, void *cd);
	void (*netcheck)(void *data, const Webmesh__V1__NetCheckRequest *req,
			 wm_services_reply_cb done, void *cd);
	/* Node.ConsoleToken (NULL: UNIMPLEMENTED): a one-time console URL into
	 * url; 0, -ENOTCONN when the HTTP listener is off, or -errno. */
	int (*console_url)(void *data, char *url, size_t len);
	void *data;
	uint64_t proxy_timeout_ms; /* 0 = 10000 */
	/* Servers: where other servers' APIs listen (the same port everywhere). */
	uint16_t api_port;
	/* Liveness (leader only): silent this long = unreachable, then removed
	 * (0 = never removed). */
	uint64_t unreachable_after_ms;
	uint64_t remove_after_ms;
	/* At most this many nodes tracked (0: WM_LIVE_MAX_DEFAULT). */
	size_t liveness_max_nodes;
	/* Authorization: every method is registered behind this gate (NULL:
	 * registered as is, an open node). Borrowed; freed after the servers. */
	struct wm_gate *gate;
	/* Servers calling other servers over the overlay (forwarding to the
	 * leader) present this certificate and these credentials: the leader
	 * authenticates them like any caller. All optional. */
	const char *client_cert, *client_key;
	size_t (*call_metadata)(void *data, const char *path, const char *server_fp,
				struct wm_rpc_metadata *md, size_t max);
	/* This node's WireGuard private key (32 bytes, borrowed from the daemon,
	 * which wipes it): every call a server makes to another server carries a
	 * node proof made with it (core/nodeproof.h). NULL: none. */
	const uint8_t *wg_private_key;
	/* Loaded plugins (src/plugin/plugin.h): ipam before joins, watch and
	 * release from the change feed. NULL: none. Borrowed. */
	struct wm_plugins *plugins;
};

int wm_services_new(const struct wm_services_config *cfg, struct wm_services **out);
/* A member that became a voter or observer now has a replica: serve from it. */
void wm_services_set_store(struct wm_services *s, struct wm_store *store);
/* The API port: Membership, Mesh, Node.GetStatus. */
int wm_services_register_public(struct wm_services *s, struct wm_rpc_server *srv);
/* The local socket: everything, including Node.LeaveMesh. */
int wm_services_register_local(struct wm_services *s, struct wm_rpc_server *srv);
/* Ends every open SubscribePeers stream (UNAVAILABLE: the server is going away). */
void wm_services_stop(struct wm_services *s);
/* Frees s; call after the rpc servers and the store are closed. NULL is fine. */
void wm_services_free(struct wm_services *s);

/* Sends a unary call to the current Raft leader over the overlay (servers
 * only), with this server's node proof, marked as forwarded by this server
 * and, with proxied_for ("node:ID", see wm_gate_proxied_for), on behalf of
 * that caller (NULL: this server's own call). -WM_ENOTLEADER if this node
 * leads, -EAGAIN while no leader is known. */
/* Drops the client to a leader that no longer leads (the node's leader
 * detector calls it whenever leadership moves): writes forwarded to it are
 * retried against the new leader, or applied here if this server leads,
 * instead of waiting for their attempt's deadline. */
void wm_services_leader_changed(struct wm_services *s);
int wm_services_call_leader(struct wm_services *s, const char *path, const uint8_t *req, size_t len,
			    const char *proxied_for, wm_rpc_unary_cb cb, void *data);
/* Records that node_id is alive (the leader's own liveness table). */
void wm_services_seen(struct wm_services *s, const char *node_id);
/* Node IDs the leader has not heard from within unreachable_after_ms; strings
 * from the arena. */
void wm_services_unreachable(struct wm_services *s, struct wm_arena *a, char ***ids, size_t *n);

/* Whether a pass over the subscribers' peer sets is under way or due now
 * (not held back by pacing): a server's own update waits for it, since
 * thousands of members wait on the pass and only one node on the update. */
bool wm_services_peers_pass_due(struct wm_services *s);

/* Computes the peers of node_id from the store into *out (strings in a).
 * -ENOENT if the node is not in the mesh. Used by Join, subscriptions and the
 * daemon's own WireGuard config on servers. */
int wm_services_peer_config(struct wm_store *store, const char *node_id, struct wm_arena *a,
			    Webmesh__V1__PeerConfigurations *out);

#endif
