/* Make before break (issue 16): what to program on the WireGuard device while
 * the computed peer set moves a mesh address from one peer to another.
 *
 * WireGuard keeps one table, allowed IPs, for both directions: an address
 * belongs to one peer, which is where packets to it go and the only peer
 * packets from it are accepted from. When the path to a node changes (an
 * edge deleted: straight to the node becomes through the hub; put back: the
 * reverse), the two ends learn of it at different moments, and whichever
 * switches first sends over a path the other does not accept yet, and drops
 * what the other still sends over the old one. So a move goes in steps:
 *
 *  1. hold: the old peer keeps the address as an allowed IP (traffic still
 *     goes the old way) and the new peer gets it as accept-only (packets
 *     from the far end that switched first are taken): to an existing peer
 *     until WM_MBB_HOLD_MS passed (longer than the far end takes to learn of
 *     the change); to a new peer until its first handshake completes (so
 *     the far end has us, and the path carries packets), which the device
 *     itself acts on at once (WM_WGPEER_PROMOTE) and the plan follows once
 *     it reads the handshake;
 *  2. overlap: the new peer has the address, the old one keeps it as
 *     accept-only for WM_MBB_OVERLAP_MS (the far end still sending the old
 *     way is heard);
 *  3. the old peer loses it (and is removed when nothing else is left).
 *
 * A new peer whose addresses are all held has nothing that makes WireGuard
 * start a handshake with it, so it is given a persistent keepalive of 1 s
 * (WireGuard sends one at once when the keepalive is switched on) after the
 * kick delay of core/kick.h (the two ends never initiate together), until
 * the handshake is confirmed.
 *
 * Accept-only prefixes exist in the embedded backend only (wm_wg_peer's
 * accept_ips); the caller uses this module only there. Pure: time comes in as
 * arguments. */
#ifndef WM_CORE_MBB_H
#define WM_CORE_MBB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/key.h"
#include "core/net.h"
#include "core/wgconf.h"

/* Longer than two nodes' copies of a change reach them apart (the issue's
 * bound for a change to reach every node is 2 s; measured tens of ms). */
#define WM_MBB_HOLD_MS 1000
/* Longer than the far end holds after us (the same skew). */
#define WM_MBB_OVERLAP_MS 2000
/* A new peer's handshake missing this long (the far end never added us, or
 * the path does not work): stop holding, as WireGuard would do without us. */
#define WM_MBB_CONFIRM_MAX_MS 10000
/* How often the device is read while a new peer's handshake is awaited. */
#define WM_MBB_POLL_MS 50

struct wm_mbb_params {
	uint64_t hold_ms, overlap_ms, confirm_max_ms, poll_ms;
};

/* An address a peer had and the target no longer gives it. */
struct wm_mbb_linger {
	wm_key key;
	struct wm_prefix pfx;
	uint64_t since_ms;	  /* when the target took it away */
	uint64_t accept_since_ms; /* 0: still sent over (hold); else accept-only since */
	bool awaited;		  /* a new peer taking it over was awaited */
};

/* A peer the target added that takes over addresses another peer carried. */
struct wm_mbb_fresh {
	wm_key key;
	uint64_t added_ms;
	int64_t added_wall_ns; /* a device handshake at or after this confirms it */
	uint64_t pulse_ms;     /* keepalive switched on from then if no handshake */
};

struct wm_mbb {
	struct wm_mbb_params p;
	wm_key self; /* our public key (kick order) */
	struct wm_mbb_linger *lingers;
	size_t n_lingers, cap_lingers;
	struct wm_mbb_fresh *fresh;
	size_t n_fresh, cap_fresh;
	struct wm_wg_device *programmed; /* the last plan, owned; NULL: none */
	struct wm_prefix networks[2];	 /* the mesh networks; family 0: unknown */
};

/* params NULL: the defaults above. */
void wm_mbb_init(struct wm_mbb *m, const wm_key self, const struct wm_mbb_params *params);
void wm_mbb_free(struct wm_mbb *m);

/* The mesh networks (either may have family 0: unknown). A route beyond them
 * (a LAN, a default route) needs no hold: the far end, a router, accepts our
 * packets whichever way they come (our own address does not move on it), so
 * it moves at once and its old peer is only still heard for the overlap. A
 * mesh address moves on both ends, hence the hold. While unknown, every
 * prefix counts as a mesh address. */
void wm_mbb_set_networks(struct wm_mbb *m, const struct wm_prefix *ipv4,
			 const struct wm_prefix *ipv6);

/* The target (the peer set as computed, sorted) changed at now_ms (monotonic)
 * / now_wall_ns (the wall clock WireGuard reports handshakes in): addresses
 * the last plan sent to a peer and the target does not linger, and new peers
 * that take over such addresses are awaited. 0 or -ENOMEM (the state may
 * then miss some of the change: the next plan is still valid). */
int wm_mbb_target(struct wm_mbb *m, const struct wm_wg_device *target, uint64_t now_ms,
		  int64_t now_wall_ns);

/* Peers whose node left the mesh (removed, left, denied: the server names
 * them, PeerConfigurations.gone_keys), called after wm_mbb_target with the
 * same change: their lingering addresses go at once, with no hold and no
 * overlap. A peer set alone cannot tell such a node from one that moved
 * behind a hub carrying the whole mesh network, and its tunnel must not
 * carry anything once it is out. Keys the plan does not hold are ignored. */
void wm_mbb_drop_gone(struct wm_mbb *m, const wm_key *keys, size_t n);

/* The device to program now, given the target and the device as read
 * (actual: for handshake times; NULL: none known). *out is owned by the
 * caller (a copy is kept as the last plan); *next_ms is when to plan again
 * (monotonic, 0: nothing pending). Without lingers or awaited peers the plan
 * is the target. 0, -EINVAL, -ENOMEM. */
int wm_mbb_plan(struct wm_mbb *m, const struct wm_wg_device *target,
		const struct wm_wg_device *actual, uint64_t now_ms, struct wm_wg_device **out,
		uint64_t *next_ms);

#endif
