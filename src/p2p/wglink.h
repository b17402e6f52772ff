/* WireGuard over libp2p (/webmesh/wg/1.0.0, framing in core/p2pwg.h): one
 * link per mesh peer that the path machine (core/path.h) put on libp2p. The
 * link is a loopback relay socket (nat/relay.h, as for ICE) that WireGuard
 * is given as the peer's endpoint, and a libp2p stream to the peer that
 * carries the datagrams, length-prefixed. Inbound streams of the protocol
 * are accepted only from the peer ID a link was opened for, i.e. the one
 * the mesh says that peer holds (checked against the Noise-authenticated
 * ID); anyone else is answered "na". WireGuard's keys still authenticate
 * every packet: the link adds no trust.
 *
 * Connections: an existing one to the peer, else a dial of its published
 * addresses in turn and then of a circuit through a relay we hold a
 * reservation on (wm_p2p_dial). Both sides may open a stream; datagrams are
 * taken from any, sent on one. Runs on the host's loop. */
#ifndef WM_P2P_WGLINK_H
#define WM_P2P_WGLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wm_p2p;
struct wm_p2p_wg;

#define WM_P2P_WG_ADDRS 8 /* published addresses of the peer we keep */

struct wm_p2p_wg_status {
	bool connected;		/* a negotiated stream carries the datagrams */
	bool relayed;		/* over a circuit relay (its peer ID below) */
	char relay_peer_id[64]; /* "" when direct */
	char remote[256];	/* the connection's remote address */
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes, dropped;
	int64_t rx_idle_ms; /* since a datagram came from the peer; -1: never */
};

/* Opens the link to peer_id (text) for WireGuard listening on 127.0.0.1's
 * wg_port; addrs: the multiaddrs the peer published (those that are not
 * /ip4|ip6/ADDR/tcp/PORT are skipped). *relay_port: WireGuard's endpoint
 * for the peer is 127.0.0.1:relay_port. 0, or -errno with err saying what
 * was wrong (a bad peer ID, a link to it already open). */
int wm_p2p_wg_open(struct wm_p2p *p, const char *peer_id, char *const *addrs, size_t naddrs,
		   uint16_t wg_port, struct wm_p2p_wg **out, uint16_t *relay_port, char *err,
		   size_t errlen);
/* Ends the link (its streams reset); NULL is fine. Close every link before
 * the host. */
void wm_p2p_wg_close(struct wm_p2p_wg *w);
void wm_p2p_wg_status(const struct wm_p2p_wg *w, struct wm_p2p_wg_status *out);
/* A stream from a peer ID no link names is offered to incoming(data,
 * peer_id) first: it may open a link to that peer (wm_p2p_wg_open, from
 * within the call) when the mesh holds it, and return 0; anything else, or
 * no link after it, refuses the stream. NULL: refuse them all. Set it to
 * NULL before the host is freed. */
void wm_p2p_wg_listen(struct wm_p2p *p, int (*incoming)(void *data, const char *peer_id),
		      void *data);

#endif
