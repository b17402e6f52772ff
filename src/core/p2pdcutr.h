/* libp2p DCUtR (libp2p/specs relay/DCUtR.md) without I/O: the HolePunch
 * message (CONNECT with the sender's addresses, SYNC) and the choice of
 * addresses worth a hole punch over TCP. Decoders take bytes a libp2p peer
 * chose and keep no pointer to them. */
#ifndef WM_CORE_P2PDCUTR_H
#define WM_CORE_P2PDCUTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/p2pwire.h"

#define WM_DCUTR_PROTOCOL "/libp2p/dcutr"
#define WM_DCUTR_MSG_MAX 4096 /* as js-libp2p and go-libp2p bound it */
#define WM_DCUTR_ADDRS 8      /* addresses kept; more are dropped */

enum { WM_DCUTR_CONNECT = 100, WM_DCUTR_SYNC = 300 };

struct wm_dcutr_msg {
	uint32_t type;
	size_t naddrs;
	size_t len[WM_DCUTR_ADDRS];
	uint8_t addrs[WM_DCUTR_ADDRS][WM_MADDR_MAX];
};

/* 0; -EBADMSG for malformed protobuf, a missing or unknown type;
 * -EMSGSIZE beyond WM_DCUTR_MSG_MAX. Unknown fields are skipped; addresses
 * beyond WM_DCUTR_ADDRS or longer than WM_MADDR_MAX are dropped. */
int wm_dcutr_decode(const uint8_t *buf, size_t len, struct wm_dcutr_msg *m);
/* Bytes written, -ENOSPC, -EINVAL for an unknown type. */
int wm_dcutr_encode(const struct wm_dcutr_msg *m, uint8_t *out, size_t cap);
/* Framed (unsigned varint length first): 1 with *used, 0 for more, or an
 * error of wm_dcutr_decode. */
int wm_dcutr_read(const uint8_t *buf, size_t len, struct wm_dcutr_msg *m, size_t *used);
int wm_dcutr_write(const struct wm_dcutr_msg *m, uint8_t *out, size_t cap);

/* The peer's addresses we may punch towards: TCP ones (a /p2p part must
 * name peer, and is dropped), not unspecified, loopback, multicast or port
 * 0, without duplicates; at most max. Returns how many. */
size_t wm_dcutr_targets(const struct wm_dcutr_msg *m, const struct wm_peer_id *peer,
			struct wm_maddr_tcp *out, size_t max);

#endif
