/* A server as a component (docs/ARCHITECTURE.md, "The module pattern"): the
 * local replica (opened once the node has its mesh address, by a bootstrap
 * or by a member that is a voter or observer), the wait to lead or to be
 * registered, this node's own peers computed from the replica, and the
 * multi-server bootstrap (bootstrap_multi.c). The node's addresses are
 * borrowed at init and written here when a server plans or resumes its
 * mesh; what the rest of the daemon does about it arrives through the
 * callbacks. */
#ifndef WM_NODE_SERVER_H
#define WM_NODE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "core/config.h"
#include "core/mesh.h"
#include "core/net.h"
#include "core/pace.h"
#include "node/netconf.h"
#include "services/peercache.h"
#include "services/services.h"
#include "store/store.h"
#include "util/arena.h"

struct wm_server_config {
	uv_loop_t *loop;
	const struct wm_config *cfg; /* borrowed, outlives the component */
	const char *node_id;
	const uint8_t *private_key, *public_key; /* WM_KEY_LEN bytes each */
	/* The node's mesh and lease (owned by the caller): planned here for a
	 * new mesh, read back from the replica for a resumed one. */
	struct wm_mesh_info *mesh;
	struct wm_prefix *ipv4, *ipv6;
	const struct wm_endpoint *endpoints; /* to register with */
	/* This node's libp2p peer ID (into id, WM_P2P_PUB_ID_MAX) and the
	 * addresses it publishes (up to WM_P2P_PUB_ADDRS): how many; id ""
	 * without libp2p. NULL: none. */
	size_t (*libp2p_info)(void *data, char *id, char (*addrs)[WM_P2P_PUB_ADDR_MAX]);
	const size_t *n_endpoints;
	struct wm_netconf *netconf; /* a row above: addresses, peers, peer names */
	/* The services, once the API started (NULL before): our own peers come
	 * from their cache. */
	struct wm_services *(*services)(void *data);
	/* The TLS API's fingerprint, for the join hint in the log. */
	const char *(*fingerprint)(void *data);
	/* This node's peer set, computed from the replica: the interface, its
	 * routes and ACLs follow it (pc valid during the call). */
	void (*peers_cb)(void *data, const Webmesh__V1__PeerConfigurations *pc);
	/* Events of daemon.c: the replica opened (0 or -errno with err); the
	 * node is in the mesh; a fatal error (stop with exit_code). */
	int (*store_opened_cb)(void *data, struct wm_store *store, char *err, size_t errlen);
	void (*running_cb)(void *data);
	void (*stop_cb)(void *data, int exit_code);
	/* The node's phase: still starting (not in the mesh yet); stopping
	 * (callbacks that arrive then do nothing). */
	bool (*starting)(void *data);
	bool (*stopping)(void *data);
	void *data;
};

struct wm_bootpeer;

struct wm_server {
	struct wm_server_config c;
	struct wm_store *store;	 /* NULL until opened */
	uv_timer_t leader_timer; /* waiting to lead or to be registered */
	uv_timer_t self_timer;	 /* coalesced self peer updates */
	bool self_update_pending;
	/* when the update first stood back for the subscribers' pass (0: not) */
	uint64_t self_deferred_ns;
	/* self updates share the loop with the rest (services/peercache.h) */
	struct wm_pace self_pace;
	struct wm_sent_peers own_sent; /* our last peers, to tell which left the mesh */
	/* multi-server bootstrap (bootstrap_multi.c): the other servers */
	struct wm_bootpeer *bootpeers;
	size_t n_bootpeers;
	uv_timer_t multiboot_timer; /* finding the other bootstrap servers */
	SSL_CTX *boot_tls;	    /* verifies the other bootstrap servers */
};

/* The mesh state lives in a storage plugin (--storage etcd), not in Raft:
 * every server reads and writes it directly, none joins through another. */
static inline bool wm_server_plugin_storage(const struct wm_config *cfg)
{
	return cfg->storage && strcmp(cfg->storage, "raft") != 0;
}

/* Initialises the timers; opens nothing (the store waits for the lease). */
void wm_server_init(struct wm_server *s, const struct wm_server_config *c);
/* Bootstraps a new mesh, or resumes the one in the state dir. */
int wm_server_start(struct wm_server *s, char *err, size_t errlen);
/* Opens the local replica at our mesh IPv4 (the lease must be set): for the
 * bootstrap node, a voter or observer that joined, or one that restarts. */
int wm_server_open_store(struct wm_server *s, bool bootstrap, char *err, size_t errlen);
/* The replica (NULL: not a server, or not open yet). */
struct wm_store *wm_server_store(const struct wm_server *s);
/* Fills the BootstrapInfo this server answers with (strings from a). */
void wm_server_fill_bootstrap_info(const struct wm_server *s, Webmesh__V1__BootstrapInfo *info,
				   struct wm_arena *a);
/* Closes the timers and the replica; done_cb once the replica is closed. */
void wm_server_close(struct wm_server *s, void (*done_cb)(void *data), void *data);
/* After the loop ended: frees the bootstrap servers' clients and TLS. */
void wm_server_free(struct wm_server *s);

/* ---- internal, between server.c and bootstrap_multi.c ---- */

/* Opens the bootstrapped store and waits to lead or to see itself registered. */
int wm_server_resume(struct wm_server *s, char *err, size_t errlen);
/* Proposes a JoinNode for a voter (lease NULL: next free, or kept). */
int wm_server_register(struct wm_server *s, const char *id, const char *key, char **endpoints,
		       size_t n_endpoints, uint32_t listen_port, const struct wm_prefix *lease,
		       wm_store_apply_cb cb);
/* Several bootstrap servers forming one mesh: plan fixes the addresses from
 * the list, start finds the other servers. */
int wm_multiboot_plan(struct wm_server *s, char *err, size_t errlen);
int wm_multiboot_start(struct wm_server *s, char *err, size_t errlen);
void wm_multiboot_initial_voters(struct wm_server *s, const char **ids, char (*addrs)[64],
				 size_t *n);
void wm_multiboot_register_peers(struct wm_server *s, wm_store_apply_cb cb);
void wm_multiboot_fill_info(const struct wm_server *s, Webmesh__V1__BootstrapInfo *info,
			    struct wm_arena *a);

#endif
