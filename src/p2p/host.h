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

#include "core/p2pwire.h"

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
	int log_level;	      /* enum wm_log_level, for the module's copy of the logger */
	const char *log_name; /* its line prefix (the node ID), or NULL */
	/* the DHT (dht.c) and join by rendezvous (rendezvous.c); 0: defaults */
	uint32_t dht_providers_max, dht_providers_per_key, dht_provider_ttl_s;
	const char *announce_rendezvous; /* a server's secret, or NULL */
	const char *api_addr;		 /* our TLS API's HOST:PORT, where its pipes end */
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
	/* the DHT and rendezvous (p2p_module.c fills them) */
	uint32_t dht_peers, dht_records;
	char rendezvous_server[64]; /* the server joined through, "" before */
};

struct wm_p2p;

/* Loads or creates the identity, binds the listeners and starts dialing.
 * 0, or -errno with err saying what was wrong (a bad multiaddr, a port in
 * use, an unreadable key). */
int wm_p2p_new(const struct wm_p2p_config *cfg, struct wm_p2p **out, char *err, size_t errlen);
/* Closes every connection and listener; done_cb once all handles are closed. */
void wm_p2p_free(struct wm_p2p *p, void (*done_cb)(void *data), void *data);
void wm_p2p_status(const struct wm_p2p *p, struct wm_p2p_status *out);
/* Join by rendezvous (rendezvous.h, in the module only): finds a server of
 * secret through the DHT and calls cb once with the loopback HOST:PORT
 * that pipes to its API. 0, -EINVAL, -EBUSY. */
int wm_p2p_join_rendezvous(struct wm_p2p *p, const char *secret,
			   void (*cb)(void *ud, const char *hostport), void *ud);

/* ---- protocols of the module's other files (the DHT) on the host's
 * connections. Callbacks run on the loop; none may free the host. ---- */

struct wm_identify;
struct wm_p2p_stream; /* one negotiated stream; valid until its gone callback */

struct wm_p2p_proto {
	const char *name; /* the multistream protocol ID, advertised by identify */
	void *ud;
	/* A peer opened a stream with name: 0 takes it (set its context with
	 * wm_p2p_stream_set_ctx), anything else resets it. */
	int (*accept)(void *ud, struct wm_p2p_stream *s);
	/* Our stream (wm_p2p_stream_open) was negotiated: write to it now. */
	void (*opened)(struct wm_p2p_stream *s);
	/* Our open failed before a stream existed (no connection, refused). */
	void (*failed)(void *ud, void *ctx, int err);
	void (*data)(struct wm_p2p_stream *s, const uint8_t *buf, size_t len);
	void (*fin)(struct wm_p2p_stream *s); /* the peer will send no more */
	/* Last call for s (reset, closed both ways, connection gone): free the
	 * context here; no wm_p2p_stream_* call on s from it. */
	void (*gone)(struct wm_p2p_stream *s);
	/* A peer identified itself (listen addresses, protocols); may be NULL. */
	void (*identified)(void *ud, const struct wm_peer_id *peer, const struct wm_identify *m);
};

/* Adds a protocol (proto must outlive the host): 0, -ENOSPC beyond 8. */
int wm_p2p_register(struct wm_p2p *p, const struct wm_p2p_proto *proto);
/* A stream with proto->name to peer: on its connection, or on a new one
 * dialed to the first usable address of addrs (binary multiaddrs; the
 * Noise handshake must show the peer's key). opened or failed follows;
 * 0, or -errno at once (-EHOSTUNREACH: no usable address, -EMFILE: at the
 * connection limit) with no callback. */
int wm_p2p_stream_open(struct wm_p2p *p, const struct wm_peer_id *peer,
		       const uint8_t (*addrs)[WM_MADDR_MAX], const size_t *addr_len, size_t naddrs,
		       const struct wm_p2p_proto *proto, void *ctx);
/* 0, or -errno from yamux (-ENOBUFS: too much held back). */
int wm_p2p_stream_write(struct wm_p2p_stream *s, const void *buf, size_t len);
void wm_p2p_stream_close(struct wm_p2p_stream *s); /* our side: FIN */
void wm_p2p_stream_reset(struct wm_p2p_stream *s); /* gone follows at once */
void wm_p2p_stream_set_ctx(struct wm_p2p_stream *s, void *ctx);
void *wm_p2p_stream_ctx(const struct wm_p2p_stream *s);
const struct wm_peer_id *wm_p2p_stream_peer(const struct wm_p2p_stream *s);
/* Our peer ID, and our listen addresses as identify gives them (binary). */
const struct wm_peer_id *wm_p2p_id(const struct wm_p2p *p);
size_t wm_p2p_listen_addrs(struct wm_p2p *p, uint8_t (*out)[WM_MADDR_MAX], size_t *len, size_t max);
uv_loop_t *wm_p2p_loop(const struct wm_p2p *p);

#endif
