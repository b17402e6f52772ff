/* The NAT layer's insides, shared by its files: nat.c (the per-peer sessions,
 * driving core/path.h), nat_resolve.c (STUN and TURN names, never blocking
 * the loop), nat_turn.c (TURN credentials) and nat_signal.c (signals to and
 * from peers through a server). Not for the rest of the daemon: that uses
 * node/nat.h. */
#ifndef WM_NODE_NAT_INT_H
#define WM_NODE_NAT_INT_H

#include "node/nat.h"

#include "core/ids.h"
#include "core/p2pwg.h"
#include "core/path.h"
#include "nat/ice.h"

/* ---- name resolution (nat_resolve.c) ---- */

struct wm_nat_resolve;
/* status 0 with the address, or -errno (-ECANCELED never reaches cb). */
typedef void (*wm_nat_resolve_cb)(void *data, int status, const struct wm_endpoint *ep);

/* A numeric host fills *out and returns 0 at once; a name starts a lookup
 * on libuv's threadpool and returns 1 (cb follows on the loop, the first
 * IPv4 address, else the first IPv6 one); -errno when it cannot start. */
int wm_nat_resolve(uv_loop_t *loop, const char *host, uint16_t port, struct wm_endpoint *out,
		   wm_nat_resolve_cb cb, void *data, struct wm_nat_resolve **req);
/* cb is not called for req after this. NULL: nothing. */
void wm_nat_resolve_cancel(struct wm_nat_resolve *req);

/* ---- the layer ---- */

struct npeer {
	struct npeer *next;
	struct wm_node_nat *n;
	char id[WM_NODE_ID_MAX + 1];
	wm_key key;
	bool seen;
	struct wm_prefix kick_addr; /* a mesh address of the peer; family 0: none */
	struct wm_path path;
	struct wm_ice_peer *ice; /* the relay: set while the path is on ICE */
	uint16_t relay_port;
	struct wm_endpoint wg_endpoint; /* WireGuard's endpoint at the last look */
	struct wm_endpoint learned;	/* back from ICE: the endpoint that works */
	struct wm_endpoint advertised;	/* the peer set's endpoint for it; family 0: none */
	uint16_t advertised_keepalive;	/* and its keepalive (0: none) */
	bool kick_due;			/* a kick waits for the new endpoint to be applied */
	/* WireGuard over libp2p: what the peer published, and the link while
	 * the path machine carries the pair there */
	char p2p_id[WM_P2P_PUB_ID_MAX];
	char p2p_addrs[WM_P2P_PUB_ADDRS][WM_P2P_PUB_ADDR_MAX];
	size_t n_p2p_addrs;
	struct wm_p2p_wg *p2p;
	uint16_t p2p_port;
};

#define WM_NAT_RETRY_RESOLVE_MS 30000

struct stun_slot {
	struct wm_endpoint addr;
	bool ok;
	struct wm_nat_resolve *req;
	int64_t retry_at;
};

struct turn_slot {
	struct wm_ice_turn t;
	bool ok;
	struct wm_nat_resolve *req;
};

struct wm_node_nat {
	struct wm_node_nat_config c;
	char node_id[WM_NODE_ID_MAX + 1];
	struct wm_ice *ice;
	bool ice_failed; /* the ICE module could not be loaded: every peer direct */
	uv_timer_t tick;
	struct npeer *peers;
	bool self_public;
	/* signals (nat_signal.c) */
	struct wm_rpc_stream *stream;
	unsigned stream_retry_ms;
	uint64_t stream_retry_at;
	/* servers, in the configured order; only resolved ones are used */
	struct stun_slot stun[WM_NAT_MAX_STUN];
	size_t n_stun_cfg;
	struct turn_slot turn[WM_ICE_MAX_TURN];
	size_t n_turn_cfg;
	unsigned turn_gen; /* a new list (from the server) drops older lookups */
	bool turn_static;  /* turn-username/-password given */
	char turn_user[WM_TURN_USERNAME_MAX], turn_pass[WM_TURN_USERNAME_MAX];
	int64_t turn_expires_at; /* handed-out credentials: unix seconds */
	bool turn_pending;	 /* a GetTurnCredentials call is out */
	uint64_t turn_retry_at;
	/* shutdown */
	bool closing;
	int closing_count;
	void (*done_cb)(void *data);
	void *done_data;
};

/* nat_resolve.c: starts the configured servers' lookups; 0 or -EINVAL (a bad
 * URI, err says which). */
int wm_nat_servers_init(struct wm_node_nat *n, char *err, size_t errlen);
/* Looks up failed names again, now and then. */
void wm_nat_servers_tick(struct wm_node_nat *n);
/* A STUN lookup is still out. */
bool wm_nat_servers_pending(const struct wm_node_nat *n);
/* Resolved STUN servers / TURN servers with credentials, in order. */
size_t wm_nat_stun_list(const struct wm_node_nat *n, struct wm_endpoint *out, size_t max);
size_t wm_nat_turn_list(const struct wm_node_nat *n, struct wm_ice_turn *out, size_t max);
/* Replaces the TURN list with urls (the server's, as handed out); bad ones
 * are logged and skipped. */
void wm_nat_turn_set_urls(struct wm_node_nat *n, char *const *urls, size_t n_urls);
void wm_nat_servers_close(struct wm_node_nat *n);
/* nat.c: every STUN lookup is done (ICE can start). */
void wm_nat_servers_ready(struct wm_node_nat *n);

/* nat_turn.c */
void wm_nat_turn_tick(struct wm_node_nat *n);

/* nat_signal.c */
void wm_nat_signal_subscribe(struct wm_node_nat *n);
void wm_nat_signal_send(struct npeer *p, int kind, uint64_t session,
			const struct wm_ice_params *params);
void wm_nat_signal_close(struct wm_node_nat *n);
/* nat.c: a valid signal from a peer of ours (params NULL for BYE). */
void wm_nat_on_signal(struct npeer *p, int kind, uint64_t session,
		      const struct wm_ice_params *params);
struct npeer *wm_nat_find_peer(struct wm_node_nat *n, const char *id);

/* nat.c: one of the parts counted in closing_count ended. */
void wm_nat_part_done(struct wm_node_nat *n);

#endif
