/* Address management: IPv4 leases in a network and key-derived IPv6 prefixes (pure). */
#ifndef WM_CORE_IPAM_H
#define WM_CORE_IPAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

/* The IPv6 prefix length each node gets, derived from its key; the mesh ULA is a /48. */
#define WM_NODE_IPV6_LEN 112
#define WM_MESH_IPV6_LEN 48

/* The usable host range of an IPv4 network: network and broadcast addresses are
 * excluded for prefixes shorter than /31. first <= last on success; -EINVAL if
 * the prefix is not IPv4 or has no usable host. Host order. */
int wm_ipam_v4_range(const struct wm_prefix *net, uint32_t *first, uint32_t *last);

/* Lowest free host of net given the leased addresses (host order, sorted
 * ascending, no duplicates, all inside net). Returns 0 and *out, or
 * -WM_EEXHAUSTED. O(n) in the number of leases; the store calls it with the
 * leases it reads in index order. */
int wm_ipam_v4_next(const struct wm_prefix *net, const uint32_t *leased, size_t n, uint32_t *out);

/* A random RFC 4193 ULA /48 from 5 random bytes (the caller supplies
 * randomness: core does no I/O). */
struct wm_prefix wm_ipam_ula48(const uint8_t random40[5]);

/* The node's /112 inside mesh (a /48): the 64 bits after the /48 are the first 8
 * bytes of digest (SHA-256 of the WireGuard public key, computed by the caller).
 * The node's own address is that prefix with host part ::1. */
struct wm_prefix wm_ipam_v6_node_prefix(const struct wm_prefix *mesh48, const uint8_t digest[32]);
struct wm_prefix wm_ipam_v6_node_address(const struct wm_prefix *node112);

#endif
