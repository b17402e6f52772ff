/* One description for a whole WireGuard device and for a partial update of it,
 * as wireguard-tools does: flags say what is present or what to do. */
#ifndef WM_CORE_WGCONF_H
#define WM_CORE_WGCONF_H

#include <stddef.h>
#include <stdint.h>

#include "core/key.h"
#include "core/net.h"

#define WM_IFNAMSIZ 16

enum {
	WM_WGPEER_REMOVE_ME = 1u << 0,		/* delete this peer */
	WM_WGPEER_REPLACE_ALLOWEDIPS = 1u << 1, /* allowed_ips replace the current list */
	WM_WGPEER_HAS_ENDPOINT = 1u << 2,
	WM_WGPEER_HAS_KEEPALIVE = 1u << 3,
	WM_WGPEER_UPDATE_ONLY = 1u << 4, /* fail rather than create (netlink only) */
	/* The accept-only IPs become allowed IPs (taken from whichever peer
	 * had them) when the next handshake with the peer completes; the mark
	 * is then cleared. Embedded backend only (core/mbb.h). */
	WM_WGPEER_PROMOTE = 1u << 5,
};

enum {
	WM_WGDEV_HAS_PRIVATE_KEY = 1u << 0,
	WM_WGDEV_HAS_LISTEN_PORT = 1u << 1,
	WM_WGDEV_HAS_FWMARK = 1u << 2,
	WM_WGDEV_REPLACE_PEERS = 1u << 3, /* drop every peer not listed */
};

struct wm_wg_peer {
	wm_key public_key;
	uint32_t flags;
	struct wm_endpoint endpoint;
	uint16_t keepalive_interval;   /* seconds, 0 = off */
	struct wm_prefix *allowed_ips; /* owned by the peer */
	size_t n_allowed_ips;
	/* Read back from the device by get(); ignored by set(). */
	uint64_t rx_bytes, tx_bytes;
	int64_t last_handshake_sec;
	int64_t last_handshake_nsec;
	uint32_t protocol_version;
	size_t cap_allowed_ips; /* allocated entries; 0 lets add reallocate */
	/* Accept-only prefixes (make before break, core/mbb.h): packets from
	 * this peer whose inner source lies in one are accepted even when
	 * another peer holds the address in allowed_ips; nothing is sent to
	 * the peer for them. Only the embedded backend has them ("accept_ip="
	 * on its UAPI); REPLACE_ALLOWEDIPS replaces both lists. */
	struct wm_prefix *accept_ips; /* owned by the peer */
	size_t n_accept_ips;
	size_t cap_accept_ips;
};

struct wm_wg_device {
	char name[WM_IFNAMSIZ];
	uint32_t flags;
	wm_key private_key; /* wiped by wm_wg_device_free */
	wm_key public_key;  /* filled by get() */
	uint16_t listen_port;
	uint32_t fwmark;
	struct wm_wg_peer *peers; /* owned; sorted by public_key after wm_wg_device_sort */
	size_t n_peers;
	size_t cap_peers; /* allocated entries; 0 lets add reallocate */
};

/* Allocation helpers: a device owns its peers, a peer its allowed IPs. */
struct wm_wg_device *wm_wg_device_new(const char *name);
/* Appends a zeroed peer and returns it, or NULL on ENOMEM. The pointer is valid
 * until the next add. */
struct wm_wg_peer *wm_wg_device_add_peer(struct wm_wg_device *dev, const wm_key key);
int wm_wg_peer_add_allowed_ip(struct wm_wg_peer *peer, const struct wm_prefix *p);
int wm_wg_peer_add_accept_ip(struct wm_wg_peer *peer, const struct wm_prefix *p);
/* Frees everything, wiping the private key. NULL is fine. */
void wm_wg_device_free(struct wm_wg_device *dev);
/* Sorts peers by key and each peer's allowed (and accept-only) IPs, so that
 * two devices compare. */
void wm_wg_device_sort(struct wm_wg_device *dev);

/* Deep copy (flags, keys, peers, allowed IPs). NULL on ENOMEM. */
struct wm_wg_device *wm_wg_device_dup(const struct wm_wg_device *dev);
/* Returns the peer with that key in a sorted device, or NULL. */
struct wm_wg_peer *wm_wg_device_find_peer(const struct wm_wg_device *dev, const wm_key key);

/* Applies an update (or a full config) to dev as WireGuard would: device
 * fields by flag, REPLACE_PEERS, peers removed/created (UPDATE_ONLY creates
 * none), endpoint and keepalive by flag, REPLACE_ALLOWEDIPS, allowed IPs stored
 * with host bits cleared and without duplicates. Unlike WireGuard, an allowed
 * IP added to one peer is not taken from another (updates from wm_wg_diff
 * replace both lists anyway). dev is sorted afterwards. 0, -EINVAL, -ENOMEM
 * (dev may then be partly updated, as a real device would be). */
int wm_wg_device_apply(struct wm_wg_device *dev, const struct wm_wg_device *update);

/* Computes the update that turns actual into desired: peers to add, to remove
 * (REMOVE_ME), and to change (only the fields that differ; allowed IPs with
 * REPLACE_ALLOWEDIPS). Private key and listen port are included only when they
 * differ. *update is NULL when nothing changes. Both inputs must be sorted.
 *
 * What counts as "wanted" in desired: the private key when non-zero (compared
 * in its clamped form, as devices report it), the listen
 * port when non-zero (0 means "any"), fwmark when HAS_FWMARK is set or it is
 * non-zero; a peer's endpoint when its family is set (an endpoint cannot be
 * unset in WireGuard, and one learnt by roaming is left alone only if desired
 * has none), keepalive and allowed IPs always (compared with host bits
 * cleared). The update lists removals first, then additions and changes, each
 * in key order; new peers carry REPLACE_ALLOWEDIPS so that re-applying an
 * update is harmless. Returns 0, -EINVAL (NULL input) or -ENOMEM. */
int wm_wg_diff(const struct wm_wg_device *actual, const struct wm_wg_device *desired,
	       struct wm_wg_device **update);

#endif
