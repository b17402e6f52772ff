/* DCUtR (/libp2p/dcutr, libp2p/specs relay/DCUtR.md) in the libp2p module:
 * over a relayed connection the two peers exchange the addresses others
 * saw them at (CONNECT), then SYNC, and both connect at once from their
 * listen ports (TCP simultaneous open through NATs that keep ports). The
 * side that accepted the relayed connection (B) starts; the other (A)
 * answers. A direct connection that comes up replaces the relayed one
 * (host.c). Every message is bounded; one attempt per relayed connection. */
#ifndef WM_P2P_DCUTR_H
#define WM_P2P_DCUTR_H

#include <uv.h>

#include "core/p2pdcutr.h"
#include "p2p/host.h"

struct wm_dcutr;

/* Registers the protocol: 0 or -errno with err. */
int wm_dcutr_new(struct wm_p2p *p, uv_loop_t *loop, struct wm_dcutr **out, char *err,
		 size_t errlen);
/* Ends every attempt; closed(data) once its timer is closed. */
void wm_dcutr_free(struct wm_dcutr *d, void (*closed)(void *data), void *data);
/* An inbound relayed connection from peer, which speaks DCUtR, is up. */
void wm_dcutr_relayed_up(struct wm_dcutr *d, const struct wm_peer_id *peer);

#endif
