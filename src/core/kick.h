/* When to make WireGuard start a handshake with a peer we just added.
 *
 * WireGuard (the kernel, wireguard-go and src/wg/embedded alike) starts a
 * handshake when it has a packet for a peer and no session, and retries only
 * after REKEY_TIMEOUT, 5 s. Two ways lose the first handshake of a new pair:
 * both sides initiate at once (each replaces its own initiation with the
 * other's and then drops the response to the one it replaced), or an
 * initiation reaches a node that does not have the sender as a peer yet.
 * So one side kicks at once, the other only if no handshake happened after a
 * while, and of two nodes that both had peers before, the one with the
 * smaller key waits less: their kicks never cross. */
#ifndef WM_CORE_KICK_H
#define WM_CORE_KICK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/wgconf.h"

/* Long enough for a handshake the other side started when it added us (one
 * round trip and its first data) to complete; it is the extra cost of a join
 * whose first initiation reached a node before that node had the newcomer.
 * A kick can still cross an initiation the other side starts just then:
 * when WM_KICK_RECHECK_MS after a kick there is no handshake but the peer
 * sent us something (its initiation), the peer is added to the device
 * again, which lets it initiate at once instead of after REKEY_TIMEOUT (only
 * once: the other side's retry is seconds away). */
#define WM_KICK_WAIT_MS 40
#define WM_KICK_RECHECK_MS 100

/* Milliseconds after adding their_key to wait before kicking it: 0 on a node
 * that had no peers (a newcomer, or a node starting again: the others
 * already have it, or hold a session with its previous incarnation), else
 * WM_KICK_WAIT_MS for the smaller key of the pair and twice that for
 * the larger. */
uint64_t wm_kick_delay_ms(bool had_peers, const wm_key our_key, const wm_key their_key);

/* Whether a pending kick is still wanted for the peer as the device holds it
 * now (NULL: the peer is gone, no). A peer that completed a handshake since
 * it was added needs none. */
bool wm_kick_wanted(const struct wm_wg_peer *on_device);

/* After our kick: whether the peer, as the device holds it now, shows a
 * crossed handshake (none completed, yet it received bytes from the peer:
 * WireGuard counts consumed initiations). A peer that is offline shows no
 * bytes and is left to WireGuard's own retries. */
bool wm_kick_crossed(const struct wm_wg_peer *on_device);

/* The endpoint for a peer added again after a crossed handshake: the one the
 * device holds now if it has one (WireGuard moved it to where the peer's
 * initiation came from; behind NAT that is the only address that reaches
 * the peer, and a peer may advertise none), else the one we want; NULL:
 * none. */
const struct wm_endpoint *wm_kick_readd_endpoint(const struct wm_wg_peer *want,
						 const struct wm_wg_peer *on_device);

#endif
