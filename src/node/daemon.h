/* webmeshd: the node daemon's state and lifecycle (bootstrap, join, run, leave). */
#ifndef WM_NODE_DAEMON_H
#define WM_NODE_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "core/config.h"
#include "core/key.h"
#include "core/mesh.h"
#include "rpc/rpc.h"
#include "rpc/tls.h"
#include "auth/auth.h"
#include "services/gate.h"
#include "services/services.h"
#include "store/store.h"
#include "wg/wg.h"
#include "core/lifecycle.h"
#include "node/heartbeat.h"
#include "node/meshstate.h"
#include "node/firewall.h"
#include "node/api.h"
#include "node/dns.h"
#include "node/nat.h"
#include "node/netconf.h"
#include "node/raftguard.h"
#include "node/raftmembers.h"
#include "node/server.h"
#include "node/traversal.h"

enum wm_daemon_phase {
	WM_PHASE_STARTING, /* interface up, waiting for the mesh */
	WM_PHASE_RUNNING,  /* in the mesh, peers configured */
	WM_PHASE_STOPPING,
};

/* The daemon: the node's own facts, read by every component; one field per
 * component of daemon.c's table; and the state of the rows that are not yet
 * components of their own (see docs/ARCHITECTURE.md, "The module pattern"),
 * grouped by the file that owns it. */
struct wm_daemon {
	/* ---- the node's own facts (daemon.c, member.c, server.c write them) */
	uv_loop_t *loop;
	const struct wm_config *cfg;
	char node_id[WM_NODE_ID_MAX + 1];
	wm_key private_key;
	wm_key public_key;
	int lock_fd;
	uint16_t api_port; /* of api-listen; every server's API listens on it */
	int64_t started_at;
	enum wm_daemon_phase phase;
	int exit_code;
	/* addresses: ipv4 carries the mesh network's length (172.16.0.2/12) so
	 * that the kernel routes the whole mesh to the interface */
	struct wm_mesh_info mesh;
	struct wm_prefix ipv4;				/* our lease, /32 */
	struct wm_prefix ipv6;				/* our /112 */
	struct wm_endpoint endpoints[WM_MAX_ENDPOINTS]; /* rewritten by the traversal */
	size_t n_endpoints;

	/* ---- the composition (daemon.c) */
	struct wm_lifecycle lifecycle; /* which rows started, which closes next */
	bool closing_sync;	       /* inside a row's close call */
	uv_signal_t sigterm, sigint;

	/* ---- components, one field each, in the table's order */
	struct wm_netconf netconf;     /* netconf.c: the interface and its peers */
	struct wm_routes *routes;      /* routes.c */
	struct wm_firewall firewall;   /* firewall.c: the network ACLs */
	struct wm_raftguard raftguard; /* raftguard.c: the Raft port's rules */
	/* traversal.c; nat is the traversal's, lent to status, ping and
	 * netcheck: NULL with the null backend, which has no data plane to
	 * traverse anything, and once the traversal closed */
	struct wm_traversal traversal;
	struct wm_node_nat *nat;
	struct wm_server server;	   /* server.c, bootstrap_multi.c: the replica */
	struct wm_raftmembers raftmembers; /* raftmembers.c */
	struct wm_node_dns dns;		   /* dns.c: MeshDNS, the host resolver */
	struct wm_api api;		   /* api.c: auth, services, listeners */
	struct wm_heartbeat heartbeat;	   /* heartbeat.c */

	/* ---- traversal's signals on a server: a client of our own socket */
	struct wm_rpc_client *local_client;

	/* ---- member.c: joining, following a server, failing over */
#define WM_MAX_SERVERS 16
	/* the servers it can use, --join first */
	char servers[WM_MAX_SERVERS][WM_PREFIX_STRLEN + 272]; /* HOST:PORT */
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
	/* verified: the --join server (bootstrap_multi.c: the other servers) */
	SSL_CTX *client_tls;
	SSL_CTX *overlay_tls; /* the others, over the overlay */
	struct wm_rpc_client *upstream;
	struct wm_rpc_stream *peer_stream;
	bool joined;
	bool subscribed;
	bool announce_pending; /* a Join with new endpoints is out */
	/* d->endpoints changed endpoints_gen times; the mesh has those of
	 * announced_gen; a Join in flight carries those of sent_gen */
	uint32_t endpoints_gen, announced_gen, sent_gen;
};

/* Runs the daemon until it stops; returns the process exit code. */
int wm_daemon_run(const struct wm_config *cfg, const char *node_id);
/* Checks the order of daemon.c's components against what each uses: 0, or
 * -EINVAL with err naming the misplaced row. */
int wm_daemon_check_components(char *err, size_t errlen);

/* ---- internal, across the files of src/node ---- */

/* identity.c: loads STATE_DIR/wireguard.key or creates it (mode 0600). */
int wm_identity_load(const char *state_dir, wm_key priv, wm_key pub, char *err, size_t errlen);

/* status.c: this node's Status and BootstrapInfo (the services' fill_status
 * and fill_bootstrap_info, data: the daemon). */
void wm_status_fill(void *data, Webmesh__V1__Status *st, struct wm_arena *a);
void wm_status_fill_bootstrap_info(void *data, Webmesh__V1__BootstrapInfo *info,
				   struct wm_arena *a);
/* ping.c, netcheck.c: Node.Ping and Node.NetCheck (services' ping, netcheck). */
void wm_ping_start(void *data, const Webmesh__V1__PingRequest *req, wm_services_send_cb send,
		   wm_services_reply_cb done, void *cd);
void wm_netcheck_start(void *data, const Webmesh__V1__NetCheckRequest *req,
		       wm_services_reply_cb done, void *cd);
/* member.c: join through a server and follow the peer stream. */
int wm_member_start(struct wm_daemon *d, char *err, size_t errlen);
void wm_member_leave_mesh(void *data, wm_services_done_cb done, void *cd);
/* The server in use missed a heartbeat: fail over to the next one. */
void wm_member_upstream_failed(struct wm_daemon *d);
/* Sends a Join with the current endpoints again (they changed); the lease
 * and everything else stay as they are. */
void wm_member_announce(struct wm_daemon *d);

/* lifecycle (daemon.c) */
void wm_daemon_stop(struct wm_daemon *d, int exit_code);
/* Events a component raises, delivered by daemon.c to every component that
 * wants it (the components do not call each other for these):
 * running: the node is in the mesh (joined, or registered itself): the phase
 *   becomes RUNNING and what runs only in the mesh (heartbeats) starts;
 * servers_changed: the member learnt servers (d->servers) from its peers.
 * The server raises its own through its callbacks (store_opened: the
 * services read the replica, Raft membership is reconciled, MeshDNS
 * starts; a peer set from the replica; running). */
void wm_daemon_running(struct wm_daemon *d);
void wm_daemon_servers_changed(struct wm_daemon *d);

#endif
