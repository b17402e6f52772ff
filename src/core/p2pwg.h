/* /webmesh/wg/1.0.0, our libp2p protocol that carries one pair's WireGuard
 * datagrams over a stream: each datagram is a 2-byte big-endian length and
 * then that many bytes, so that datagram boundaries survive the byte stream.
 * The length is bounded (WM_P2PWG_DGRAM_MAX) and never 0: a length outside
 * that is a protocol violation and ends the stream. The bytes are WireGuard's
 * own packets, authenticated by WireGuard's keys on arrival; the stream adds
 * no trust of its own. Pure: no I/O. */
#ifndef WM_CORE_P2PWG_H
#define WM_CORE_P2PWG_H

#include <stddef.h>
#include <stdint.h>

#define WM_P2PWG_PROTOCOL "/webmesh/wg/1.0.0"
#define WM_P2PWG_HDR 2
/* A WireGuard datagram at the largest MTU we accept (9000) plus its overhead,
 * as the loopback relay takes them. */
#define WM_P2PWG_DGRAM_MAX 9216

/* Writes the 2-byte header for a datagram of len bytes into hdr.
 * 0, or -EMSGSIZE when len is 0 or above WM_P2PWG_DGRAM_MAX. */
int wm_p2pwg_header(size_t len, uint8_t hdr[WM_P2PWG_HDR]);

/* The first datagram of buf: 1 with *dgram pointing into buf, *dlen its size
 * and *used the bytes it took (header included); 0 when buf holds only part
 * of it (read more); -EBADMSG when the header announces 0 or more than
 * WM_P2PWG_DGRAM_MAX bytes (refuse the stream). */
int wm_p2pwg_next(const uint8_t *buf, size_t len, const uint8_t **dgram, size_t *dlen,
		  size_t *used);

/* ---- what a node publishes in the mesh (JoinRequest, the node record) ----
 * Its peer ID and up to WM_P2P_PUB_ADDRS listen addresses, each
 * /ip4|ip6/ADDR/tcp/PORT (a /p2p part must name the same peer and is
 * dropped), stored as "a,b" in canonical text. */

#define WM_P2P_PUB_ADDRS 4
#define WM_P2P_PUB_ADDR_MAX 64 /* text of one address, NUL included */
#define WM_P2P_PUB_ID_MAX 64   /* peer ID text, NUL included */
#define WM_P2P_PUB_ADDRS_MAX (WM_P2P_PUB_ADDRS * WM_P2P_PUB_ADDR_MAX)

/* Checks and canonicalizes: 0 with id_out and addrs_out ("" and "" when
 * peer_id is empty or NULL and there are no addresses); -EINVAL with why
 * naming what was wrong (not a peer ID, addresses without one, too many,
 * not a TCP multiaddr, another peer's /p2p). */
int wm_p2p_pub_canon(const char *peer_id, char *const *addrs, size_t n,
		     char id_out[WM_P2P_PUB_ID_MAX], char addrs_out[WM_P2P_PUB_ADDRS_MAX],
		     char *why, size_t whylen);
/* Splits a canonical "a,b" into up to max pointers into buf (modified in
 * place); returns how many. */
size_t wm_p2p_pub_split(char *buf, char **out, size_t max);

#endif
