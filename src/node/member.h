/* A member as a component (docs/ARCHITECTURE.md, "The module pattern"):
 * joining through a server, following the peer set on a SubscribePeers
 * stream, and moving to another server when the one in use stops answering.
 * The servers it can use are the --join one and every voter and observer it
 * learns from its peers. The node's mesh and lease are borrowed at init and
 * written here when a Join is answered (or read back from mesh.state at a
 * restart); what the rest of the daemon does about it arrives through the
 * callbacks. */
#ifndef WM_NODE_MEMBER_H
#define WM_NODE_MEMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "auth/auth.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/key.h"
#include "core/mesh.h"
#include "core/net.h"
#include "rpc/rpc.h"
#include "services/services.h"
#include "store/store.h"
#include "webmesh/v1/mesh.pb-c.h"

#define WM_MAX_SERVERS 16
#define WM_MEMBER_SERVER_LEN (WM_PREFIX_STRLEN + 272) /* HOST:PORT */

struct wm_member_config {
	uv_loop_t *loop;
	const struct wm_config *cfg; /* borrowed, outlives the component */
	const char *node_id;
	const uint8_t *private_key, *public_key; /* WM_KEY_LEN bytes each */
	uint16_t api_port;			 /* every server's API listens on it */
	/* The node's mesh and lease (owned by the caller): written from a
	 * JoinResponse, or from mesh.state at a restart. */
	struct wm_mesh_info *mesh;
	struct wm_prefix *ipv4, *ipv6;
	const struct wm_endpoint *endpoints; /* announced in every Join */
	/* This node's libp2p peer ID (into id, WM_P2P_PUB_ID_MAX) and the
	 * addresses it publishes (up to WM_P2P_PUB_ADDRS): how many; id ""
	 * without libp2p. NULL: none. */
	size_t (*libp2p_info)(void *data, char *id, char (*addrs)[WM_P2P_PUB_ADDR_MAX]);
	const size_t *n_endpoints;
	/* Our credentials for a call (the API's client metadata); the node
	 * proof for the server in use is added here. */
	size_t (*call_metadata)(void *data, const char *path, const char *server_fp,
				struct wm_rpc_metadata *md, size_t max);
	/* The local replica, NULL while there is none: a server follows it
	 * instead of a stream, and cannot leave through a server. */
	struct wm_store *(*store)(void *data);
	/* A voter or observer opens its replica; a server or --serve member
	 * serves the TLS API: 0, or -errno with err filled. */
	int (*open_store)(void *data, char *err, size_t errlen);
	int (*serve_public)(void *data, char *err, size_t errlen);
	/* The mesh and lease were read back from mesh.state at a restart: the
	 * interface gets them and the peers it had. */
	void (*restored_cb)(void *data);
	/* A Join was answered: the mesh and lease are written; the interface
	 * and the routes follow r's addresses and peer set (r valid during the
	 * call). 0, or -errno (the Join is tried again). */
	int (*joined_cb)(void *data, const Webmesh__V1__JoinResponse *r);
	/* A peer set from the stream: the interface, its routes and ACLs
	 * follow it (pc valid during the call). */
	void (*peers_cb)(void *data, const Webmesh__V1__PeerConfigurations *pc);
	/* Events of daemon.c: the servers it can use changed (the list is valid
	 * during the call); the node is in the mesh; a fatal error or a leave
	 * (stop with exit_code). */
	void (*servers_cb)(void *data, const char *const *servers, size_t n);
	void (*running_cb)(void *data);
	void (*stop_cb)(void *data, int exit_code);
	/* The node's phase: in the mesh (heartbeats run); stopping (answers
	 * that arrive then do nothing). */
	bool (*in_mesh)(void *data);
	bool (*stopping)(void *data);
	void *data;
};

struct wm_member {
	struct wm_member_config c;
	/* the servers it can use, --join first */
	char servers[WM_MAX_SERVERS][WM_MEMBER_SERVER_LEN];
	size_t n_servers;
	size_t cur_server;
	/* who each of them is (its node ID and WireGuard key, from its
	 * GetBootstrapInfo over verified TLS or from our peer set): what our
	 * node proofs are made for */
	struct wm_server_key {
		char id[WM_NODE_ID_MAX + 1];
		wm_key key;
		bool known;
	} server_keys[WM_MAX_SERVERS];
	struct wm_node_proof upstream_proof; /* the last one sent upstream */
	unsigned failures;		     /* consecutive failures on the current server */
	unsigned retry_ms;
	uv_timer_t retry_timer; /* Join and subscription retries */
	SSL_CTX *client_tls;	/* verified: the --join server */
	SSL_CTX *overlay_tls;	/* the others, over the overlay; made at the first failover */
	struct wm_rpc_client *upstream;
	struct wm_rpc_stream *peer_stream;
	/* the peers of the last set received (node ID, base64 key; at most
	 * WM_HELD_PEERS_MAX): named when subscribing again, so that the first
	 * set says which of them left the mesh meanwhile */
	struct wm_held_peer {
		char id[WM_NODE_ID_MAX + 1];
		char key[WM_KEY_B64_LEN + 1];
	} * held;
	size_t n_held;
	bool joined;
	bool subscribed;
	bool announce_pending; /* a Join with new endpoints is out */
	/* the endpoints changed endpoints_gen times; the mesh has those of
	 * announced_gen; a Join in flight carries those of sent_gen */
	uint32_t endpoints_gen, announced_gen, sent_gen;
	bool inited, closed;
	void (*close_cb)(void *data);
	void *close_data;
};

/* Initialises the retry timer; reaches nobody yet. */
void wm_member_init(struct wm_member *m, const struct wm_member_config *c);
/* Sets up the TLS contexts and the client for the --join server, and
 * restores the mesh and lease a restart finds in mesh.state (a voter or
 * observer resumes its replica); 0, or -errno with err filled. Close it
 * even on failure. */
int wm_member_start(struct wm_member *m, char *err, size_t errlen);
/* Sends the first Join (the endpoints are known now). */
void wm_member_join(struct wm_member *m);
/* Stops retrying and following: the timer closes, the stream is cancelled;
 * done_cb once the timer is closed. The client to the server stays (the
 * traversal's last signals go out on it) until wm_member_free. */
void wm_member_close(struct wm_member *m, void (*done_cb)(void *data), void *data);
/* Frees the client and the TLS contexts; for a member closed or never
 * initialised (zeroed). */
void wm_member_free(struct wm_member *m);

/* Event of daemon.c: the node is in the mesh (joined, or a server that
 * registered or resumed itself). */
void wm_member_running(struct wm_member *m);
/* The server in use missed a heartbeat: fail over to the next one. */
void wm_member_upstream_failed(struct wm_member *m);
/* A discovery round finished (changed: the endpoints differ): a member
 * sends a Join with the current endpoints until the mesh has them; the
 * lease and everything else stay as they are. */
void wm_member_endpoints_found(struct wm_member *m, bool changed);
/* `wmctl leave` (the services' leave_mesh): asks the server to remove this
 * node, then stops the daemon. */
void wm_member_leave(struct wm_member *m, wm_services_done_cb done, void *cd);

/* Getters: the client to the server in use once joined (NULL before); the
 * server in use ("" for none); the servers known (pointers valid until the
 * next peer set), their count returned; following a peer stream now. */
struct wm_rpc_client *wm_member_upstream(const struct wm_member *m);
const char *wm_member_server(const struct wm_member *m);
size_t wm_member_servers(const struct wm_member *m, const char **out, size_t max);
bool wm_member_subscribed(const struct wm_member *m);

#endif
