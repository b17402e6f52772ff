/* IP prefixes and UDP endpoints: parsing, formatting and arithmetic (pure). */
#ifndef WM_CORE_NET_H
#define WM_CORE_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h> /* AF_INET, AF_INET6 */

/* Longest text form of a prefix or endpoint, with the terminating NUL. */
#define WM_PREFIX_STRLEN 52   /* "ffff:...:ffff/128" */
#define WM_ENDPOINT_STRLEN 56 /* "[ffff:...:ffff]:65535" */

/* An IPv4 or IPv6 address with a prefix length; addr is in network byte order
 * (4 bytes used for AF_INET). A plain address is a prefix of full length. */
struct wm_prefix {
	uint8_t family; /* AF_INET or AF_INET6; 0 means unset */
	uint8_t len;	/* 0..32 or 0..128 */
	uint8_t addr[16];
};

/* A host and UDP port, as WireGuard peers are addressed. */
struct wm_endpoint {
	struct wm_prefix ip; /* len is always full (32 or 128) */
	uint16_t port;
};

/* "10.0.0.0/8", "fd00::/8", or a bare address (full length). Host bits may be
 * set (an interface address such as "172.16.0.1/12" is valid). -EINVAL on any
 * malformed input, never a partial parse. */
int wm_prefix_parse(const char *s, struct wm_prefix *out);
/* An address literal alone: "10.0.0.1" or "fd00::1", no "/len", no
 * brackets; *out has the full length. -EINVAL otherwise. */
int wm_addr_parse(const char *s, struct wm_prefix *out);
/* A network as users write routes and mesh networks: an address with its
 * length ("10.1.0.0/16", "0.0.0.0/0", "::/0"); host bits are cleared in *out
 * ("10.1.2.3/16" is 10.1.0.0/16). A bare address is refused: "10.1.2.3"
 * reads as a host to one reader and as its /8 class to another. -EINVAL. */
int wm_route_parse(const char *s, struct wm_prefix *out);
/* A port as users write one: 1..65535 in decimal digits, no sign, no
 * leading zero ("08443" is refused, as in endpoints). -EINVAL otherwise. */
int wm_port_parse(const char *s, uint16_t *out);
/* Writes "addr/len"; returns -ENOSPC if buf is too small. */
int wm_prefix_format(const struct wm_prefix *p, char *buf, size_t len);
/* Writes the address alone, without "/len". */
int wm_prefix_format_addr(const struct wm_prefix *p, char *buf, size_t len);
/* True when p is set to a known family with a length that fits it (0..32
 * for AF_INET, 0..128 for AF_INET6); false for NULL. */
bool wm_prefix_valid(const struct wm_prefix *p);
/* The prefix with host bits cleared. */
struct wm_prefix wm_prefix_network(const struct wm_prefix *p);
/* True when addr (any length) lies inside net: every address of addr is in net,
 * so a prefix wider than net is not contained. Families must match. */
bool wm_prefix_contains(const struct wm_prefix *net, const struct wm_prefix *addr);
/* True when the two prefixes share any address. */
bool wm_prefix_overlaps(const struct wm_prefix *a, const struct wm_prefix *b);
bool wm_prefix_equal(const struct wm_prefix *a, const struct wm_prefix *b);
/* Total order: family, then address bytes, then length. */
int wm_prefix_cmp(const struct wm_prefix *a, const struct wm_prefix *b);
/* IPv4 only: the address as a host-order integer and back. */
uint32_t wm_prefix_ipv4_u32(const struct wm_prefix *p);
struct wm_prefix wm_prefix_from_ipv4_u32(uint32_t host_order, uint8_t len);

/* "1.2.3.4:51820" or "[fd00::1]:51820"; numeric only (WireGuard resolves
 * nothing). Port 0 and ports with leading zeros are refused. */
int wm_endpoint_parse(const char *s, struct wm_endpoint *out);
int wm_endpoint_format(const struct wm_endpoint *e, char *buf, size_t len);
bool wm_endpoint_equal(const struct wm_endpoint *a, const struct wm_endpoint *b);
/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d, as a dual-stack socket names
 * an IPv4 peer) becomes the IPv4 address it carries, so that one host is one
 * address to limits, logs and endpoint lists whichever socket it came in on.
 * A mapped prefix keeps its IPv4 part of the length (::ffff:0:0/104 is
 * 0.0.0.0/8). Returns true when p was mapped and changed; anything else is
 * left as it is. */
bool wm_prefix_unmap(struct wm_prefix *p);
bool wm_endpoint_unmap(struct wm_endpoint *e);
/* True for RFC 1918, RFC 4193, link-local, CGNAT and loopback addresses. */
bool wm_addr_is_private(const struct wm_prefix *p);

#endif
