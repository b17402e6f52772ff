/* Circuit relay v2 inside the libp2p module (relay.c): the hop side when
 * configured (reservations and circuits within wm_relay_limits), the stop
 * side on every host (relayed connections from relays we hold a
 * reservation on), and the client (reserving on relays that are configured
 * peers or found in the DHT, renewing, dialing through them). host.c calls these; relay.c
 * talks back through host.h's stream API. */
#ifndef WM_P2P_RELAY_H
#define WM_P2P_RELAY_H

#include <stdbool.h>

#include "p2p/host.h"

struct wm_relay_svc;

/* Registers the stop protocol (and hop when cfg->relay): 0 or -errno with err. */
int wm_relay_svc_new(struct wm_p2p *p, const struct wm_p2p_config *cfg, struct wm_relay_svc **out,
		     char *err, size_t errlen);
/* Ends every circuit and reservation; closed(data) once its timer is closed. */
void wm_relay_svc_free(struct wm_relay_svc *rs, void (*closed)(void *data), void *data);
/* A circuit target to keep connected through relay (from libp2p-peers). */
int wm_relay_svc_keep(struct wm_relay_svc *rs, const struct wm_peer_id *relay,
		      const struct wm_peer_id *target);
/* A connection was identified: reserve on it when it is a configured peer
 * or a relay found in the DHT, speaks hop, and is direct. */
void wm_relay_svc_peer_up(struct wm_relay_svc *rs, const struct wm_peer_id *peer, bool speaks_hop,
			  bool configured, bool relayed);
/* Starts a connection to target through a relay we hold a reservation on:
 * 0 (started, or already under way), -ENOENT without such a relay. */
int wm_relay_svc_dial(struct wm_relay_svc *rs, const struct wm_peer_id *target);
/* A relay found in the DHT (relayfind.c): dialed from to (unless a
 * connection to it is up or on its way), and reserved on once identify
 * shows it speaks hop, in a slot no configured relay needs (at most half of
 * them, wm_relay_slot_pick); at most as many candidates as the reservation
 * slots, never ourselves, each again no sooner than its retry time, none
 * that failed us within WM_RELAY_DENY_MS. 0, or why not: -EAGAIN (denied,
 * or before its retry time), -EALREADY (reserved on), or
 * wm_relay_cand_pick's errors. */
int wm_relay_svc_found(struct wm_relay_svc *rs, const struct wm_peer_id *relay,
		       const struct wm_p2p_dial *to);
/* Reservations held now. */
size_t wm_relay_svc_held(const struct wm_relay_svc *rs);
/* Of those, the ones held (renewals included) for at least min_ms. */
size_t wm_relay_svc_held_long(const struct wm_relay_svc *rs, uint64_t min_ms);
void wm_relay_svc_status(const struct wm_relay_svc *rs, struct wm_p2p_status *out);

#endif
