/* Endpoint discovery: this host's addresses (public ones first) and, with STUN
 * servers, the server-reflexive address and what the NAT in front does.
 *
 * Why STUN goes out from a socket of its own, not WireGuard's: the WireGuard
 * port belongs to the kernel module or to wireguard-go. The kernel offers no
 * way to send a foreign datagram from a WireGuard socket, and wireguard-go
 * drops anything on its socket that is not a WireGuard message and has no
 * hook to send one (its UAPI only configures); sharing the port with
 * SO_REUSEPORT would need wireguard-go to set it, and the kernel would then
 * split incoming datagrams between the two sockets. So a separate socket
 * learns the NAT's public address and behaviour: asking two servers from one
 * socket tells whether the mapping depends on the destination ("symmetric")
 * and whether the NAT keeps source ports. When two servers saw the same mapping
 * and the NAT kept the port, public-IP:WireGuard-port is very likely right and
 * is advertised; otherwise only ICE (whose agents run their own STUN from
 * their own sockets) can find a way through.
 */
#ifndef WM_NAT_DISCOVER_H
#define WM_NAT_DISCOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "core/mesh.h"
#include "core/nat.h"

#define WM_NAT_MAX_STUN 4
#define WM_NAT_MAX_ADDRS 16

struct wm_nat_discovery {
	/* what to advertise, best first (or the overrides, as given) */
	struct wm_endpoint endpoints[WM_MAX_ENDPOINTS];
	size_t n_endpoints;
	/* this host's addresses, public first (host candidates for ICE) */
	struct wm_prefix addrs[WM_NAT_MAX_ADDRS];
	size_t n_addrs;
	/* per STUN server (in the order given): the mapped address, family 0
	 * when it did not answer */
	struct wm_endpoint mapped[WM_NAT_MAX_STUN];
	size_t n_mapped;
	/* per STUN server that answered: milliseconds from the last request
	 * sent to it to its answer */
	uint32_t rtt_ms[WM_NAT_MAX_STUN];
	uint16_t stun_local_port; /* the STUN socket's own port (one for both families) */
	/* what the IPv4 servers' answers say (the IPv6 ones' when no IPv4
	 * server answered), and the IPv6 servers' alone: each family is
	 * classified on its own */
	struct wm_nat_info nat;
	struct wm_nat_info nat6;
};

struct wm_nat_discover_opts {
	const char *skip_ifname; /* the WireGuard interface: never an endpoint */
	uint16_t wg_port;
	const struct wm_endpoint *stun; /* numeric IPv4 and IPv6 servers; mapped[]
					   answers them in this order (IPv6 ones stay
					   unanswered on a host without IPv6) */
	size_t n_stun;
	const struct wm_endpoint *overrides; /* --endpoints: advertised as given */
	size_t n_overrides;
	uint32_t timeout_ms; /* for all STUN answers together; 0 = 1500 */
};

struct wm_nat_discover_req;

/* err 0, or the error of listing addresses (endpoints then hold only what
 * STUN found); -ECANCELED after wm_nat_discover_cancel. d is borrowed for the
 * callback. STUN servers that do not answer are not an error. */
typedef void (*wm_nat_discover_cb)(void *data, int err, const struct wm_nat_discovery *d);

/* Starts discovery on loop; cb runs exactly once, never from within this
 * call. *req (may be NULL) is valid until cb has run. -EINVAL (too many
 * servers), -ENOMEM, or libuv's error for the socket. */
int wm_nat_discover(uv_loop_t *loop, const struct wm_nat_discover_opts *o, wm_nat_discover_cb cb,
		    void *data, struct wm_nat_discover_req **req);
/* Ends a discovery early: cb runs with -ECANCELED (before this returns). */
void wm_nat_discover_cancel(struct wm_nat_discover_req *req);

/* For probes to STUN and TURN servers of both families from one socket: a
 * non-blocking UDP socket bound to [::] with IPV6_V6ONLY off (*v6 true), or,
 * on a kernel without IPv6, to 0.0.0.0 (*v6 false). The fd or -errno. */
int wm_nat_udp_socket(bool *v6);
/* e as a destination on such a socket (IPv4 as ::ffff:a.b.c.d when v6);
 * false when it cannot be reached from it (IPv6 without v6). */
bool wm_nat_sockaddr(const struct wm_endpoint *e, bool v6, struct sockaddr_storage *ss);
/* A datagram's source as an endpoint, IPv4-mapped ones as IPv4; false for
 * other families. */
bool wm_nat_endpoint_of(const struct sockaddr *addr, struct wm_endpoint *e);

#endif
