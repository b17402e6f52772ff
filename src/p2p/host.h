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

#include "core/p2prelay.h"

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
	const char *mesh_ifname;   /* the WireGuard interface: never offered to peers */
	uint32_t ping_interval_ms; /* pinging connected peers; 0: never */
	uint32_t max_conns;
	uint32_t max_streams; /* per connection */
	/* a connection's bounds; 0: the default given */
	uint32_t handshake_timeout_ms; /* up to yamux, from the TCP connect; 20 s */
	uint32_t write_queue_max;      /* bytes queued to a peer's socket, then closed; 4 MiB */
	uint32_t held_per_stream;      /* yamux: held back for a peer's window; 1 MiB */
	uint32_t held_per_conn;	       /* and over all streams of a connection; 2 MiB */
	int log_level;		       /* enum wm_log_level, for the module's copy of the logger */
	const char *log_name;	       /* its line prefix (the node ID), or NULL */
	/* circuit relay v2 (relay.c): serve as a relay (hop) with these limits */
	bool relay;
	struct wm_relay_limits relay_limits;
	/* the DHT (dht.c) and join by rendezvous (rendezvous.c); 0: defaults */
	uint32_t dht_providers_max, dht_providers_per_key, dht_provider_ttl_s;
	uint32_t dht_requests_per_s, dht_requests_per_stream, dht_max_requests, dht_max_lookups;
	uint32_t dht_query_timeout_ms, dht_lookup_timeout_ms;
	uint32_t rdv_max_pipes, rdv_handshake_ms, rdv_handshakes_per_peer;
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
	bool relayed; /* runs over a circuit of the relay below */
	char relay_id[64];
	bool punched; /* direct, made by a DCUtR hole punch */
};

#define WM_P2P_STATUS_RSVPS 4

struct wm_p2p_rsvp_status {
	char relay_id[64];
	uint64_t expire; /* Unix seconds, as the relay said */
	size_t naddrs;	 /* the circuit addresses the relay gives us */
	char addrs[WM_P2P_STATUS_ADDRS][WM_MADDR_TEXT_MAX];
};

struct wm_p2p_status {
	char peer_id[64];
	size_t nlisten;
	char listen[WM_P2P_STATUS_ADDRS][128]; /* bound addresses, ports resolved */
	size_t nconns;
	struct wm_p2p_conn_status conns[WM_P2P_STATUS_CONNS];
	/* circuit relay v2: our reservations on relays, and as a relay the
	 * reservations we hold for others and the circuits open through us */
	size_t nrsvps;
	struct wm_p2p_rsvp_status rsvps[WM_P2P_STATUS_RSVPS];
	bool relay;
	uint32_t relay_reservations, relay_circuits;
	/* the DHT and rendezvous (p2p_module.c fills them) */
	uint32_t dht_peers, dht_records;
	char rendezvous_server[64]; /* the server joined through, "" before */
	/* bytes of read buffers and spare write buffers held: bulk traffic's
	 * buffers are made at its first read or write and freed once idle */
	size_t buffered;
	/* writes to peers' TCP connections, and the Noise frames they carried:
	 * frames per write says how well bulk traffic is batched */
	uint64_t writes, frames;
};

struct wm_p2p;

/* Loads or creates the identity, binds the listeners and starts dialing.
 * 0, or -errno with err saying what was wrong (a bad multiaddr, a port in
 * use, an unreadable key). */
int wm_p2p_new(const struct wm_p2p_config *cfg, struct wm_p2p **out, char *err, size_t errlen);
/* Closes every connection and listener; done_cb once all handles are closed. */
void wm_p2p_free(struct wm_p2p *p, void (*done_cb)(void *data), void *data);
void wm_p2p_status(const struct wm_p2p *p, struct wm_p2p_status *out);
/* Join by rendezvous (rendezvous.h; p2p_module.c and the loader): finds a
 * server of secret through the DHT and calls cb once with the loopback
 * HOST:PORT that pipes to its API. 0, -EINVAL, -EBUSY. */
int wm_p2p_join_rendezvous(struct wm_p2p *p, const char *secret,
			   void (*cb)(void *ud, const char *hostport), void *ud);

/* ---- streams of other protocols: the one stream API of the module's
 * other files (relay.c, dcutr.c, dht.c, rendezvous.c, wglink.c) ----
 *
 * A stream is a yamux stream of one connection, negotiated to one protocol.
 * Its owner gets the bytes as they come (no framing, no buffering here) and
 * writes bytes; yamux carries them with its windows. The per-stream context
 * is the ud given when the stream is taken (accept) or opened (open); every
 * callback gets it. Callbacks run on the loop; any of them may call any
 * function below except wm_p2p_free. After gone, or after our own
 * wm_p2p_reset, the handle is invalid. */
struct wm_identify;
struct wm_p2p_stream;

struct wm_p2p_stream_cb {
	void (*data)(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len);
	void (*fin)(void *ud, struct wm_p2p_stream *s); /* the peer sends no more; may be NULL */
	/* The last call: reset by the peer, refused, its connection gone (or
	 * never made, for a stream opened while dialing), or closed both ways.
	 * Not called after our own wm_p2p_reset. */
	void (*gone)(void *ud, struct wm_p2p_stream *s);
	/* Ours only, may be NULL: the peer accepted the protocol. */
	void (*opened)(void *ud, struct wm_p2p_stream *s);
};

/* A peer opened a stream of a protocol we handle: return 0 with *cb and *ud
 * to take it, or a negative errno to have it reset. Who the peer is (its
 * Noise-authenticated ID): wm_p2p_stream_peer. */
typedef int (*wm_p2p_accept_fn)(void *arg, struct wm_p2p_stream *s,
				const struct wm_p2p_stream_cb **cb, void **ud);

/* Handles protocol (at most 8 protocols; identify lists them): 0, -EEXIST,
 * -ENOSPC, -EINVAL for a name multistream cannot carry. */
int wm_p2p_handle(struct wm_p2p *p, const char *protocol, wm_p2p_accept_fn fn, void *arg);
/* Handles it no more (identify stops listing it); its open streams stay,
 * with their callbacks: their owner resets them first. */
void wm_p2p_unhandle(struct wm_p2p *p, const char *protocol);

/* A peer identified itself (identify: its listen addresses, protocols):
 * fn for every peer, after the host's own use of it. At most 4 watchers:
 * 0 or -ENOSPC. */
typedef void (*wm_p2p_identified_fn)(void *arg, const struct wm_peer_id *peer,
				     const struct wm_identify *m);
int wm_p2p_watch(struct wm_p2p *p, wm_p2p_identified_fn fn, void *arg);

/* How to reach a peer we have no connection to (wm_p2p_dial, wm_p2p_open):
 * addrs are binary multiaddrs, of which the first /ip4|ip6/ADDR/tcp/PORT
 * (with no /p2p part, or the peer's; loopback ones only when no other
 * is usable) is dialed; with none usable and relay
 * set, a connection through a relay we hold a reservation on. The Noise
 * handshake must show the peer's key either way. */
struct wm_p2p_dial {
	const uint8_t (*addrs)[WM_MADDR_MAX];
	const size_t *lens;
	size_t naddrs;
	bool relay;
};

/* A connection to peer: 0 when one is up, -EINPROGRESS when one is being
 * made (before, or started now from to), -ENOTCONN with none and to NULL,
 * -EHOSTUNREACH when to gives no way, -EMFILE at the limit of connections
 * dialed this way (max_conns; they close once idle for 30 s). One direct
 * dial to a peer at a time; a to with no addresses and relay set starts a
 * relayed one even while a direct one is under way. */
int wm_p2p_dial(struct wm_p2p *p, const struct wm_peer_id *peer, const struct wm_p2p_dial *to);

/* Opens a stream of protocol to peer: 0 with *out. Over the best
 * connection that is up (a direct one before a relayed one): data written
 * before the peer accepted goes out at once behind the proposal
 * (multistream pipelining). With none up, over a direct connection being
 * made, or one dialed now from to (as wm_p2p_dial): then the stream waits
 * for it, wm_p2p_write says -EAGAIN until opened is called, and gone
 * follows if the connection fails. Else, with to->relay, a connection
 * through a relay is started: -EINPROGRESS, and the caller tries again once
 * wm_p2p_connected says it is up. -ENOTCONN (to NULL), -EHOSTUNREACH,
 * -EMFILE as wm_p2p_dial; a refusal ends in gone. */
int wm_p2p_open(struct wm_p2p *p, const struct wm_peer_id *peer, const char *protocol,
		const struct wm_p2p_dial *to, const struct wm_p2p_stream_cb *cb, void *ud,
		struct wm_p2p_stream **out);
/* 1 when a connection to peer is up (2: only relayed ones), else 0. */
int wm_p2p_connected(const struct wm_p2p *p, const struct wm_peer_id *peer);
/* 0, -EAGAIN before its connection is up, -EPIPE after our close or when
 * its connection is going, -ENOBUFS when more than held_per_stream
 * waits for the peer's window (the stream is then best reset: the peer does
 * not read). */
int wm_p2p_write(struct wm_p2p_stream *s, const void *buf, size_t len);
/* Half-closes our side; gone may be called from inside when the peer had
 * closed its side already. */
void wm_p2p_close(struct wm_p2p_stream *s);
/* Resets it; no gone callback. */
void wm_p2p_reset(struct wm_p2p_stream *s);
/* Backpressure for an owner that forwards what it reads (the relay): bytes
 * written and not yet sent for want of the peer's window; and holding a
 * stream's reads, which stops its peer at its window until released. */
size_t wm_p2p_pending(const struct wm_p2p_stream *s);
void wm_p2p_hold(struct wm_p2p_stream *s, bool hold);
/* Grants the peer a receive window of bytes on the stream (yamux's
 * wm_yamux_set_window; a stream still waiting for its connection gets it
 * once open): for an owner that consumes what it reads at once. */
void wm_p2p_set_window(struct wm_p2p_stream *s, uint32_t bytes);
/* wm_p2p_stream_info's ready alone, without printing the addresses: for
 * the data path, which asks for every batch. */
bool wm_p2p_stream_ready(const struct wm_p2p_stream *s);
/* Who is at the other end, and the address of the connection (a multiaddr,
 * binary; 0 bytes when unknown); src: the source key of per-source limits. */
void wm_p2p_stream_peer(const struct wm_p2p_stream *s, struct wm_peer_id *id);
size_t wm_p2p_stream_addr(const struct wm_p2p_stream *s, uint8_t *out, size_t cap);
void wm_p2p_stream_src(const struct wm_p2p_stream *s, uint8_t src[9]);
/* Whether its connection is itself relayed (a relay never relays those). */
bool wm_p2p_stream_relayed(const struct wm_p2p_stream *s);
/* For status: negotiated with its connection up; our own; the relay. */
struct wm_p2p_stream_info {
	bool ready;
	bool outbound;
	bool relayed;
	char relay_id[64]; /* the relay's peer ID, "" when direct */
	char remote[256];  /* the connection's remote address, multiaddr */
};
void wm_p2p_stream_info(const struct wm_p2p_stream *s, struct wm_p2p_stream_info *out);
/* Bytes that wait to go out under s (held back by yamux on its connection
 * and any it is relayed over, and queued on the socket): a datagram carrier
 * drops beyond WM_P2P_DGRAM_QUEUE_MAX, as a full socket would, rather than
 * having the connection closed at its bound. */
#define WM_P2P_DGRAM_QUEUE_MAX (1024u * 1024u)
size_t wm_p2p_stream_queued(const struct wm_p2p_stream *s);

/* Our identity, for vouchers and DHT records: the peer ID, the public key
 * and a signature. */
const struct wm_peer_id *wm_p2p_id(const struct wm_p2p *p);
void wm_p2p_public_key(const struct wm_p2p *p, uint8_t pk[32]);
int wm_p2p_sign(const struct wm_p2p *p, const void *msg, size_t len, uint8_t sig[64]);
/* Our listen addresses as identify sends them (binary multiaddrs). */
size_t wm_p2p_listen_addrs(const struct wm_p2p *p, uint8_t (*out)[WM_MADDR_MAX], size_t *lens,
			   size_t max);
/* The loop the host runs on, for its users' timers. */
uv_loop_t *wm_p2p_loop(const struct wm_p2p *p);

/* ---- for relay.c and relayfind.c: relays found in the DHT ---- */

/* Whether peer's direct connection is identified and lists protocol. */
bool wm_p2p_speaks(const struct wm_p2p *p, const struct wm_peer_id *peer, const char *protocol);
/* keep: the direct connections to peer that wm_p2p_dial made are closed
 * once idle no more (they carry a reservation's stop streams, which come
 * only when someone dials us); !keep undoes exactly that. */
void wm_p2p_keep(struct wm_p2p *p, const struct wm_peer_id *peer, bool keep);
/* The circuit relay service (relay.h) every host runs. */
struct wm_relay_svc;
struct wm_relay_svc *wm_p2p_relay_svc(struct wm_p2p *p);

/* ---- for relay.c: connections over a relayed stream ---- */

/* Runs a libp2p connection (multistream, Noise, yamux) over s, which its
 * owner hands over (its callbacks are replaced): outbound when we dialed
 * through the relay (then peer is the one we expect), inbound for a stop
 * stream. relay: the relay's peer ID, for status; early: bytes that came
 * behind the relay's last message. ephemeral: dialed for streams, so closed
 * once idle as a direct connection wm_p2p_dial makes (not a kept circuit).
 * 0 or -errno (s reset). */
int wm_p2p_conn_over(struct wm_p2p *p, struct wm_p2p_stream *s, bool outbound, bool ephemeral,
		     const struct wm_peer_id *peer, const struct wm_peer_id *relay,
		     const uint8_t *early, size_t nearly);

/* ---- for dcutr.c ---- */

/* DCUtR (dcutr.c): the addresses others saw us at (identify's observed
 * address on direct connections) with our listen port; and a hole punch:
 * TCP connects from our listen port to each of to (at most 4), as the
 * initiator of the secure channel or not. 0 when one was started, else
 * why the last one could not (-EADDRNOTAVAIL: the 4-tuple is held here,
 * -ENOTCONN: no listener of the address family, or no room for a
 * connection). */
size_t wm_p2p_public_addrs(const struct wm_p2p *p, struct wm_maddr_tcp *out, size_t max);
int wm_p2p_punch(struct wm_p2p *p, const struct wm_peer_id *peer, const struct wm_maddr_tcp *to,
		 size_t n, bool initiator);
#endif
