/* Kernel WireGuard over generic netlink: message building and parsing (pure,
 * over caller buffers, unit-tested without the module) and the I/O. */
#ifndef WM_WG_NETLINK_H
#define WM_WG_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libmnl/libmnl.h>

#include "core/wgconf.h"

#if defined(__has_include)
#if __has_include(<linux/wireguard.h>)
#include <linux/wireguard.h>
#define WM_HAVE_LINUX_WIREGUARD_H 1
#endif
#endif
#ifndef WM_HAVE_LINUX_WIREGUARD_H
#include "wg/wireguard_uapi.h"
#endif

/* Where the next set message resumes. Zero it before the first call. */
struct wm_wgnl_cursor {
	size_t peer;   /* index of the next peer to (continue to) send */
	size_t aip;    /* its next allowed IP */
	bool hdr_sent; /* that peer's flags/endpoint/keepalive already went out */
	bool started;  /* the first message (device attributes) went out */
	bool done;
};

/* Builds the next WG_CMD_SET_DEVICE request for dev into buf and returns its
 * length; 0 once everything was built; -EMSGSIZE when buf cannot hold even
 * one step of progress; -EINVAL for an invalid device (bad name, endpoint or
 * prefix). Device attributes and REPLACE_PEERS go in the first message only. A
 * peer whose allowed IPs do not fit continues in the next message with only
 * its key, UPDATE_ONLY/REMOVE_ME and the remaining allowed IPs (no REPLACE
 * flag, which would drop the ones already sent). */
int wm_wgnl_build_set(const struct wm_wg_device *dev, void *buf, size_t len, uint16_t family_id,
		      uint32_t seq, struct wm_wgnl_cursor *cur);

/* Builds a WG_CMD_GET_DEVICE dump request for ifname; returns its length. */
int wm_wgnl_build_get(const char *ifname, void *buf, size_t len, uint16_t family_id, uint32_t seq);

/* Merges one message of a get dump into dev. The kernel splits a peer with
 * many allowed IPs across messages, repeating its key: such continuations are
 * coalesced into the last peer. Returns 0, -ENOMEM or -WM_EPROTOCOL. */
int wm_wgnl_parse_get(const struct nlmsghdr *nlh, struct wm_wg_device *dev);

/* I/O: resolves the "wireguard" generic netlink family; -ENOENT when the
 * kernel has none (no module). */
int wm_wgnl_family(uint16_t *family_id);
int wm_wgnl_set(uint16_t family_id, const struct wm_wg_device *dev);
int wm_wgnl_get(uint16_t family_id, const char *ifname, struct wm_wg_device **out);

#endif
