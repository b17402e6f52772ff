/* The libp2p host: TCP on libuv, multistream-select, Noise XX, yamux, and
 * the identify and ping protocols; it listens, dials the configured peers,
 * keeps those connections (redialing with backoff), pings them and answers
 * identify and ping. Runs on the caller's loop; every callback on it.
 * Owned by the module (webmesh-p2p.so); webmeshd reaches it through
 * p2p_loader.c. */
#ifndef WM_P2P_HOST_H
#define WM_P2P_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define WM_P2P_STATUS_CONNS 16
#define WM_P2P_STATUS_ADDRS 8

struct wm_p2p_config {
	uv_loop_t *loop;
	const char *key_path; /* the Ed25519 identity: created 0600 when missing */
	char *const *listen;  /* multiaddr text, /ip4|ip6/ADDR/tcp/PORT */
	size_t nlisten;
	char *const *peers; /* multiaddr text, with or without /p2p/ID */
	size_t npeers;
	const char *agent;	   /* identify's agentVersion */
	uint32_t ping_interval_ms; /* pinging connected peers; 0: never */
	uint32_t max_conns;
	uint32_t max_streams; /* per connection */
	int log_level;        /* enum wm_log_level, for the module's copy of the logger */
	const char *log_name; /* its line prefix (the node ID), or NULL */
};

struct wm_p2p_conn_status {
	char peer_id[64];
	char addr[256];	 /* the remote's address as multiaddr */
	char agent[128]; /* from identify, "" before */
	bool outbound;
	bool identified;
	int64_t rtt_us;	   /* last ping round trip, -1: none yet */
	size_t nprotocols; /* from identify */
	char protocols[8][64];
	size_t nlisten;
	char listen[WM_P2P_STATUS_ADDRS][128];
};

struct wm_p2p_status {
	char peer_id[64];
	size_t nlisten;
	char listen[WM_P2P_STATUS_ADDRS][128]; /* bound addresses, ports resolved */
	size_t nconns;
	struct wm_p2p_conn_status conns[WM_P2P_STATUS_CONNS];
};

struct wm_p2p;

/* Loads or creates the identity, binds the listeners and starts dialing.
 * 0, or -errno with err saying what was wrong (a bad multiaddr, a port in
 * use, an unreadable key). */
int wm_p2p_new(const struct wm_p2p_config *cfg, struct wm_p2p **out, char *err, size_t errlen);
/* Closes every connection and listener; done_cb once all handles are closed. */
void wm_p2p_free(struct wm_p2p *p, void (*done_cb)(void *data), void *data);
void wm_p2p_status(const struct wm_p2p *p, struct wm_p2p_status *out);

#endif
