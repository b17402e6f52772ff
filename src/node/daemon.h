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
#include "node/httpd.h"
#include "node/member.h"
#include "node/meshstate.h"
#include "node/firewall.h"
#include "node/api.h"
#include "node/dns.h"
#include "p2p/host.h"
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

/* The daemon: the node's own facts, read by every component; the
 * composition; and one field per component of daemon.c's table (see
 * docs/ARCHITECTURE.md, "The module pattern"). */
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
	struct wm_p2p *p2p;		   /* libp2p_start: NULL unless configured */
	struct wm_server server;	   /* server.c, bootstrap_multi.c: the replica */
	struct wm_raftmembers raftmembers; /* raftmembers.c */
	struct wm_node_dns dns;		   /* dns.c: MeshDNS, the host resolver */
	struct wm_api api;		   /* api.c: auth, services, listeners */
	struct wm_node_httpd httpd;	   /* httpd.c: metrics, health, the console */
	struct wm_heartbeat heartbeat;	   /* heartbeat.c */
	struct wm_member member;	   /* member.c (the role row): join, follow, fail over */

	/* join-rendezvous (role_start): the member's configuration, join set
	 * to the loopback end of the pipe to the server found (rendezvous.h) */
	struct wm_config rdv_cfg;
	char rdv_join[64];
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
/* lifecycle (daemon.c); the events the components raise (running,
 * store_opened, servers_changed, a peer set) arrive through their callbacks
 * and are delivered in daemon.c. */
void wm_daemon_stop(struct wm_daemon *d, int exit_code);

#endif
