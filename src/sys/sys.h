/* Links, addresses and routes of this host (rtnetlink via libmnl on Linux).
 * Synchronous: each call is one netlink round trip. */
#ifndef WM_SYS_SYS_H
#define WM_SYS_SYS_H

#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

/* Creates a link of kind "wireguard"; -EOPNOTSUPP when the kernel lacks the
 * module, -EEXIST when it exists. */
int wm_sys_link_create_wireguard(const char *ifname);
int wm_sys_link_delete(const char *ifname);
/* Returns the ifindex (> 0) or -ENODEV. */
int wm_sys_link_index(const char *ifname);
/* Sets MTU (if non-zero) and brings the link up. */
int wm_sys_link_up(const char *ifname, uint32_t mtu);
/* Adds addr/len to the link (the kernel adds the prefix route); an address that
 * is already there is not an error. */
int wm_sys_addr_add(const char *ifname, const struct wm_prefix *addr);
int wm_sys_addr_del(const char *ifname, const struct wm_prefix *addr);
/* Adds/replaces or deletes a route to dst through the link (no gateway). */
int wm_sys_route_replace(const char *ifname, const struct wm_prefix *dst);
int wm_sys_route_del(const char *ifname, const struct wm_prefix *dst);
/* Global unicast addresses of every up link except loopback and skip_ifname
 * (endpoint detection). *out is malloc'd; public addresses come first, each as
 * a full-length prefix (/32, /128). Link-local, multicast, tentative and
 * deprecated addresses are left out. */
int wm_sys_list_addresses(const char *skip_ifname, struct wm_prefix **out, size_t *n);

/* Sends one empty UDP datagram to addr (IPv4) port 9 ("discard": nothing
 * answers). Sent to a WireGuard peer's mesh address, it makes WireGuard start
 * a handshake now rather than at its next timer. Best effort: 0 or -errno. */
int wm_sys_handshake_kick(const struct wm_prefix *addr);
/* Writes "1"/"0" to /proc/sys/net/ipv{4,6}/... forwarding. */
int wm_sys_set_forwarding(int family, int enable);

#endif
