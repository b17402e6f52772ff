/* Internals shared by the files of src/services. */
#ifndef WM_SERVICES_INT_H
#define WM_SERVICES_INT_H

#include <openssl/ssl.h>
#include <protobuf-c/protobuf-c.h>

#include "auth/auth.h"
#include "core/livetable.h"
#include "core/pace.h"
#include "services/services.h"

struct subscriber;
struct status_stream;
struct join_ctx;

struct wm_services {
	struct wm_services_config cfg;
	char node_id[WM_NODE_ID_MAX + 1];
	struct subscriber *subscribers; /* doubly linked */
	uv_timer_t notify_timer;	/* coalesces bursts of changes */
	bool notify_pending;
	/* A pass over the subscribers runs in slices of bounded time
	 * (subscriptions.c): the next one to look at, and whether a change
	 * came since the pass began (then it starts over from the head). */
	struct subscriber *notify_next;
	bool notify_restart;
	/* counters for the log; start and busy time (ns) of the pass under
	 * way; its pacing (core/pace.h) */
	uint64_t notify_computed, notify_skipped, notify_sent, notify_slices;
	uint64_t notify_pass_start, notify_pass_cost;
	/* when the first change the pass answers was applied here (0: none
	 * waiting), for the log's breakdown of a change's latency */
	uint64_t notify_change_ns;
	struct wm_pace notify_pace;
	/* Joins applied and not yet answered: answered together once the
	 * batch of entries they came in is applied, from one read of the
	 * state (membership.c). */
	struct join_ctx *joins_done;
	uv_timer_t join_timer;
	bool stopped;
	/* forwarding to the leader */
	SSL_CTX *overlay_tls; /* made at the first forward (leader.c) */
	struct wm_rpc_client *leader_client;
	char leader_client_id[WM_NODE_ID_MAX + 1];
	/* liveness, kept by the leader in memory: a new leader starts everyone
	 * afresh, so a leader change never removes a node */
	struct wm_live_table live;
	bool live_full_logged;
	uv_timer_t live_timer;
	/* a LivenessCommand is on its way (liveness.c) */
	bool live_posting;
	/* the marks in force, as the last LivenessCommand applied here gave
	 * them (every server, not only the leader): sorted node IDs */
	char (*marks)[WM_NODE_ID_MAX + 1];
	size_t n_marks;
	/* On a storage plugin (etcd) the marks in force are every server's
	 * together, so a server compares its own with what it last wrote:
	 * hashes of the sorted IDs (0: nothing written yet). */
	uint64_t live_own_hash, live_post_hash;
	/* when the table started listening (0: not yet), on a plugin */
	uint64_t live_since_ms;
	/* the graph of the last change, shared by every subscriber (peercache.c) */
	struct wm_peercache *peercache;
	/* ICE signal mailboxes and TURN credentials (signaling.c), made on first use */
	struct wm_signaling *signaling;
	/* clients to the other servers, for signals they may deliver */
	struct wm_signal_fanout *signal_fanout;
	/* Node.SubscribeStatus streams (node_api.c), doubly linked */
	struct status_stream *status_streams;
};

/* Packs msg, sends it as the only message and finishes the call with OK. */
void wm_services_reply(struct wm_rpc_call *call, const ProtobufCMessage *msg);
/* Finishes with the status for err and the message (or wm_strerror). */
void wm_services_fail(struct wm_rpc_call *call, int err, const char *msg);
/* Decodes a request whose node is its field "id" and checks that ID; on
 * failure finishes the call with INVALID_ARGUMENT ("malformed X" or "invalid
 * node ID ...") and returns NULL. Free the result with its free_unpacked. */
ProtobufCMessage *wm_services_decode_id(struct wm_rpc_call *call,
					const ProtobufCMessageDescriptor *desc, const uint8_t *req,
					size_t len);
/* Finishes call with another server's answer: its message on OK, else its
 * status and message. */
void wm_services_relay(struct wm_rpc_call *call, int status, const char *message,
		       const uint8_t *resp, size_t len);
/* A replica that has not caught up (store.h's caught_up: just restarted,
 * replaying) must not answer reads or subscriptions from other nodes: it
 * would tell a member it is not in the mesh. Finishes the call with
 * UNAVAILABLE and the reason, and returns true, if so; the member then tries
 * another server. The local socket still reads this replica as it is. */
bool wm_services_refuse_behind(struct wm_services *s, struct wm_rpc_call *call);
/* Forwards the call's raw request to the upstream server and relays the answer. */
void wm_services_proxy(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
		       size_t len);

/* A client for another server's API at host (its mesh address), over the
 * overlay, presenting this node's credentials (leader.c). */
int wm_services_overlay_client(struct wm_services *s, const char *host, struct wm_rpc_client **out);

/* The node proof of this server for a call of path to server target_id,
 * whose WireGuard key is target_pub (NULL: looked up in the replica): fills
 * p and up to max metadata entries pointing into it; 0 entries when the key
 * is unknown or this node has none. */
size_t wm_services_proof(struct wm_services *s, const char *target_id, const uint8_t *target_pub,
			 const char *path, struct wm_node_proof *p, struct wm_rpc_metadata *md,
			 size_t max);

/* Runs the handler of call's method again (the gate has passed it): a write
 * forwarded to a leader that this server replaced is applied here. False if
 * the method is unknown. req need not outlive the call. */
bool wm_services_dispatch_again(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
				size_t len);
/* Forwards a write the local store refused with -WM_ENOTLEADER to the leader
 * and relays its answer; a call that was forwarded once is not forwarded again. */
void wm_services_forward(struct wm_services *s, struct wm_rpc_call *call, const uint8_t *req,
			 size_t len);
/* Liveness timer: start and stop (liveness.c). */
void wm_liveness_init(struct wm_services *s);
/* Starts the leader's sweep (once a store exists). */
void wm_liveness_start(struct wm_services *s);
/* Follows the change feed: a LivenessCommand replaces s's marks. */
void wm_liveness_follow(struct wm_services *s, const Webmesh__V1__RaftCommand *cmd);
/* Whether the marks in force list node id (data is the services). */
bool wm_liveness_marked(void *data, const char *id);

/* Handlers, by file. */
void wm_membership_join(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_membership_leave(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_subscriptions_subscribe(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data);
void wm_mesh_get_node(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_mesh_list_nodes(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_mesh_get_graph(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_membership_heartbeat(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_node_get_status(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_node_subscribe_status(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
/* Ends every SubscribeStatus stream with UNAVAILABLE (services stopping). */
void wm_node_status_streams_close_all(struct wm_services *s);
void wm_node_get_bootstrap_info(struct wm_rpc_call *call, const uint8_t *req, size_t len,
				void *data);
void wm_node_leave_mesh(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_node_ping(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_node_netcheck(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);
void wm_node_console_token(struct wm_rpc_call *call, const uint8_t *req, size_t len, void *data);

/* Subscriptions: start listening to the store, end every stream. */
/* The timer that answers applied joins in batches; stop fails those waiting. */
void wm_membership_init(struct wm_services *s);
void wm_membership_stop(struct wm_services *s);
void wm_subscriptions_init(struct wm_services *s);
/* Starts following the store's change feed (once a store exists). */
void wm_subscriptions_attach(struct wm_services *s);
void wm_subscriptions_close_all(struct wm_services *s, int grpc_status, const char *msg);

#endif
