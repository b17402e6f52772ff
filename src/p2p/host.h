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
	uint32_t ping_interval_ms; /* pinging connected peers; 0: never */
	uint32_t max_conns;
	uint32_t max_streams; /* per connection */
	int log_level;        /* enum wm_log_level, for the module's copy of the logger */
	const char *log_name; /* its line prefix (the node ID), or NULL */
	/* circuit relay v2 (relay.c): serve as a relay (hop) with these limits */
	bool relay;
	struct wm_relay_limits relay_limits;
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
	bool relayed;	    /* runs over a circuit of the relay below */
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
};

struct wm_p2p;

/* Loads or creates the identity, binds the listeners and starts dialing.
 * 0, or -errno with err saying what was wrong (a bad multiaddr, a port in
 * use, an unreadable key). */
int wm_p2p_new(const struct wm_p2p_config *cfg, struct wm_p2p **out, char *err, size_t errlen);
/* Closes every connection and listener; done_cb once all handles are closed. */
void wm_p2p_free(struct wm_p2p *p, void (*done_cb)(void *data), void *data);
void wm_p2p_status(const struct wm_p2p *p, struct wm_p2p_status *out);

/* ---- streams of other protocols, for the code inside the module (the
 * relay here; the DHT and WireGuard over libp2p) ----
 *
 * A stream is a yamux stream of one connection, negotiated to one protocol.
 * Its owner gets the bytes as they come (no framing, no buffering here) and
 * writes bytes; yamux carries them with its windows. Callbacks run on the
 * loop; any of them may call any function below. After gone the handle is
 * invalid. */
struct wm_p2p_stream;

struct wm_p2p_stream_cb {
	void (*data)(void *ud, struct wm_p2p_stream *s, const uint8_t *buf, size_t len);
	void (*fin)(void *ud, struct wm_p2p_stream *s); /* the peer sends no more */
	/* reset (by the peer, or its connection went), or closed both ways */
	void (*gone)(void *ud, struct wm_p2p_stream *s);
};

/* A peer opened a stream of a protocol we handle: return 0 with *cb and *ud
 * to take it, or a negative errno to have it reset. */
typedef int (*wm_p2p_accept_fn)(void *arg, struct wm_p2p_stream *s,
				const struct wm_p2p_stream_cb **cb, void **ud);

/* Handles protocol (at most 8 protocols; identify lists them): 0, -EEXIST,
 * -ENOSPC, -EINVAL for a name multistream cannot carry. */
int wm_p2p_handle(struct wm_p2p *p, const char *protocol, wm_p2p_accept_fn fn, void *arg);

/* Opens a stream of protocol to peer over the best connection we have to it
 * (a direct one before a relayed one): 0 with *out. -ENOTCONN when there is
 * none: then, when relay is true, a connection through a relay we hold a
 * reservation on is started (-EINPROGRESS instead), and the caller tries
 * again once wm_p2p_connected says it is up. Data written before the peer
 * accepted goes out at once behind the proposal (multistream pipelining); a
 * refusal ends in gone. */
int wm_p2p_open(struct wm_p2p *p, const struct wm_peer_id *peer, const char *protocol,
		bool relay, const struct wm_p2p_stream_cb *cb, void *ud,
		struct wm_p2p_stream **out);
/* 1 when a connection to peer is up (2: only relayed ones), else 0. */
int wm_p2p_connected(const struct wm_p2p *p, const struct wm_peer_id *peer);
/* 0, -EPIPE after our close or when its connection is going, -ENOBUFS when
 * more than WM_YAMUX_PENDING_MAX waits for the peer's window (the stream is
 * then best reset: the peer does not read). */
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
/* Who is at the other end, and the address of the connection (a multiaddr,
 * binary; 0 bytes when unknown); src: the source key of per-source limits. */
void wm_p2p_stream_peer(const struct wm_p2p_stream *s, struct wm_peer_id *id);
size_t wm_p2p_stream_addr(const struct wm_p2p_stream *s, uint8_t *out, size_t cap);
void wm_p2p_stream_src(const struct wm_p2p_stream *s, uint8_t src[9]);
/* Whether its connection is itself relayed (a relay never relays those). */
bool wm_p2p_stream_relayed(const struct wm_p2p_stream *s);

/* ---- for relay.c: connections over a relayed stream ---- */

/* Runs a libp2p connection (multistream, Noise, yamux) over s, which its
 * owner hands over (its callbacks are replaced): outbound when we dialed
 * through the relay (then peer is the one we expect), inbound for a stop
 * stream. relay: the relay's peer ID, for status; early: bytes that came
 * behind the relay's last message. 0 or -errno (s reset). */
int wm_p2p_conn_over(struct wm_p2p *p, struct wm_p2p_stream *s, bool outbound,
		     const struct wm_peer_id *peer, const struct wm_peer_id *relay,
		     const uint8_t *early, size_t nearly);
/* Our identity, for vouchers: the peer ID, the public key and a signature. */
const struct wm_peer_id *wm_p2p_id(const struct wm_p2p *p);
void wm_p2p_public_key(const struct wm_p2p *p, uint8_t pk[32]);
int wm_p2p_sign(const struct wm_p2p *p, const void *msg, size_t len, uint8_t sig[64]);
/* DCUtR (dcutr.c): the addresses others saw us at (identify's observed
 * address on direct connections) with our listen port; and a hole punch:
 * TCP connects from our listen port to each of to (at most 4), as the
 * initiator of the secure channel or not. 0 when one was started. */
size_t wm_p2p_public_addrs(const struct wm_p2p *p, struct wm_maddr_tcp *out, size_t max);
int wm_p2p_punch(struct wm_p2p *p, const struct wm_peer_id *peer, const struct wm_maddr_tcp *to,
		 size_t n, bool initiator);
/* Our listen addresses as identify sends them (binary multiaddrs). */
size_t wm_p2p_listen_addrs(const struct wm_p2p *p, uint8_t (*out)[WM_MADDR_MAX], size_t *lens,
			   size_t max);
#endif
