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
	int log_level;	      /* enum wm_log_level, for the module's copy of the logger */
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

/* ---- streams of other protocols, for the module's own parts (wglink.c) ----
 * Inside the module only: webmeshd reaches them through the table. */

#define WM_P2P_MAX_HANDLERS 8

struct wm_peer_id;
struct wm_maddr_tcp;
struct wm_p2p_stream; /* a stream of a registered protocol */

struct wm_p2p_proto {
	const char *name; /* the multistream protocol name */
	/* An inbound stream from peer (its Noise-authenticated ID): 0 accepts
	 * it with *ud the stream's data for the calls below; anything else
	 * answers "na". */
	int (*accept)(void *data, const struct wm_peer_id *peer, struct wm_p2p_stream *s,
		      void **ud);
	/* Bytes on the stream (after negotiation); < 0 resets it (the handler
	 * must not reset it from here itself). */
	int (*recv)(void *ud, const uint8_t *buf, size_t len);
	/* The stream is gone (reset, refused, its connection closed): s is no
	 * longer valid. Not called after wm_p2p_stream_reset. */
	void (*gone)(void *ud);
	void *data;
};

struct wm_p2p_stream_info {
	bool ready;	  /* negotiated, its connection up */
	bool outbound;	  /* we opened it */
	char remote[256]; /* the connection's remote address, multiaddr */
	/* A connection through a circuit relay (/p2p-circuit): the relay's
	 * peer ID. Nothing sets them before circuit relay v2 exists. */
	bool relayed;
	char relay_peer_id[64];
};

uv_loop_t *wm_p2p_loop(const struct wm_p2p *p);
/* proto (kept, not copied) answers its inbound streams. -ENOSPC past
 * WM_P2P_MAX_HANDLERS. */
int wm_p2p_register(struct wm_p2p *p, const struct wm_p2p_proto *proto);
/* proto answers no more; its streams stay open without callbacks. */
void wm_p2p_unregister(struct wm_p2p *p, const struct wm_p2p_proto *proto);
/* A connection to peer: 0 when one is up, -EINPROGRESS when one is being
 * made (started now at addr, where addr is non-NULL), -ENOTCONN when none
 * and no address; only peer's key may answer. */
int wm_p2p_connect(struct wm_p2p *p, const struct wm_peer_id *peer,
		   const struct wm_maddr_tcp *addr);
/* Opens a stream of proto on a connection to peer (-ENOTCONN: none up);
 * proto's data and gone callbacks follow with ud. */
int wm_p2p_stream_open(struct wm_p2p *p, const struct wm_peer_id *peer,
		       const struct wm_p2p_proto *proto, void *ud, struct wm_p2p_stream **out);
/* 0; -EAGAIN before the peer accepted; -ENOBUFS when the connection is
 * backed up (the caller drops, as a full socket would); as wm_yamux_write. */
int wm_p2p_stream_write(struct wm_p2p_stream *s, const void *buf, size_t len);
void wm_p2p_stream_reset(struct wm_p2p_stream *s);
void wm_p2p_stream_info(const struct wm_p2p_stream *s, struct wm_p2p_stream_info *out);

#endif
