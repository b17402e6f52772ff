/* The loopback relay of one peer: a UDP socket on 127.0.0.1 that WireGuard
 * is given as the peer's endpoint. Datagrams WireGuard sends to it leave over
 * the peer's ICE path (the send callback); datagrams from the path are sent
 * from it to WireGuard's listen port, so WireGuard keeps seeing the peer at
 * 127.0.0.1:relay-port whatever the path underneath is.
 *
 * The socket is made (and its port known) at once, from any thread; reading
 * runs on a GMainContext given to wm_relay_attach (ICE, relay_glib.c), or
 * wherever the owner calls wm_relay_read when wm_relay_fd is readable (the
 * libp2p module, on libuv), and every other call except wm_relay_port and
 * wm_relay_get_stats must come from that thread.
 * Only datagrams from 127.0.0.1:wg_port are taken: nothing else on the host can
 * inject into the path.
 */
#ifndef WM_NAT_RELAY_H
#define WM_NAT_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <sys/uio.h>

struct wm_relay;
/* GLib's, declared here so that users without GLib (the libp2p module) need
 * not its headers; a repeated typedef of the same type is fine in C11. */
typedef struct _GMainContext GMainContext;

/* Sends a batch of datagrams over the path, in order; returns how many went
 * (the rest count as drops, never retried: WireGuard retransmits what
 * matters) or a negative errno for none. */
typedef int (*wm_relay_send_cb)(void *data, const struct iovec *pkts, unsigned n);

struct wm_relay_stats {
	uint64_t tx_packets, tx_bytes; /* WireGuard -> path */
	uint64_t rx_packets, rx_bytes; /* path -> WireGuard */
	uint64_t dropped;	       /* no path, a send error, or a foreign sender */
	int64_t last_rx_us;	       /* g_get_monotonic_time of the last rx, 0 = never */
	/* Since when WireGuard has sent something that asks for an answer
	 * (anything but a keepalive: data, which the peer's WireGuard answers
	 * within 10 s even with nothing to send, or a handshake message) and
	 * nothing came back; 0 = all answered. */
	int64_t unanswered_since_us;
};

/* Binds 127.0.0.1:0 for WireGuard listening on wg_port (on any address that
 * includes loopback). -errno from socket/bind, -ENOMEM. */
int wm_relay_new(uint16_t wg_port, struct wm_relay **out);
/* The relay's port: WireGuard's endpoint for the peer is 127.0.0.1:port. */
uint16_t wm_relay_port(const struct wm_relay *r);
/* Starts reading on ctx (relay_glib.c). Datagrams are dropped until a send
 * callback is set. */
int wm_relay_attach(struct wm_relay *r, GMainContext *ctx);
/* Without wm_relay_attach: the socket to watch for reading, and the read
 * (a few batches of datagrams from WireGuard to the send callback), to call
 * when it is readable. */
int wm_relay_fd(const struct wm_relay *r);
void wm_relay_read(struct wm_relay *r);
/* Frees the read buffers when nothing was read since the last call (they
 * come back at the next read): an idle link holds none. */
void wm_relay_trim(struct wm_relay *r);
/* Without wm_relay_attach: wm_relay_queue keeps datagrams until the owner
 * calls wm_relay_flush (after the burst it is delivering), instead of
 * sending each at once. */
void wm_relay_hold(struct wm_relay *r);
/* The path to send on; NULL drops (no path right now). */
void wm_relay_set_send(struct wm_relay *r, wm_relay_send_cb cb, void *data);
/* A datagram from the path, for WireGuard, sent at once. Returns 0 or -errno
 * (counted as a drop). */
int wm_relay_deliver(struct wm_relay *r, const uint8_t *buf, size_t len);
/* The same, queued: the queue leaves with one sendmmsg when it is full or,
 * after the current burst, from a high-priority idle source on the context
 * (held: when the owner flushes; neither: at once). Order is kept. */
int wm_relay_queue(struct wm_relay *r, const uint8_t *buf, size_t len);
/* Sends what is queued now. */
void wm_relay_flush(struct wm_relay *r);
/* Datagrams from the path for WireGuard, sent now from where they lie (no
 * copy into the queue; what is queued leaves first, to keep the order),
 * runs of one size as one UDP GSO send. Returns how many left; the rest
 * count as drops. */
unsigned wm_relay_send(struct wm_relay *r, const struct iovec *pkts, unsigned n);
/* Counters, readable from any thread. */
void wm_relay_get_stats(const struct wm_relay *r, struct wm_relay_stats *out);
/* Sends n datagrams to one address from fd, in order: runs of equal size as
 * one UDP GSO send each while *gso holds (cleared when the kernel refuses
 * it), else sendmmsg. Returns how many left (stops at a full buffer). */
int wm_udp_send_batch(int fd, const struct sockaddr *to, socklen_t tolen, const struct iovec *pkts,
		      unsigned n, bool *gso);
/* Raises a UDP socket's buffers to 4 MiB (beyond net.core.*mem_max when
 * privileged): for the relay and for libnice's socket of the selected pair. */
void wm_relay_grow_buffers(int fd);
/* Stops reading and closes the socket. NULL is fine. */
void wm_relay_free(struct wm_relay *r);

#endif
