/* The loopback relay's insides, shared by relay.c (the socket, batches,
 * counters: no GLib) and relay_glib.c (reading and flushing on a
 * GMainContext, for ICE). */
#ifndef WM_NAT_RELAY_INT_H
#define WM_NAT_RELAY_INT_H

#include <netinet/in.h>
#include <stdatomic.h>

#include "nat/relay.h"

/* Big enough for WireGuard at the largest MTU we accept (9000) plus its
 * 32 bytes of overhead. */
#define MAX_DGRAM 9216
#define BATCH 16
/* With UDP_GRO a read may return a run of WireGuard's datagrams of one size
 * as one (its GSO send kept whole on loopback, not cut up and queued one
 * by one): buffers of 64 KiB then, fewer of them. */
#define GRO_BUF 65536
#define GRO_BATCH 8
#define GRO_SEGS 64 /* per read, on average: more are passed on in several batches */
/* Queued datagrams towards WireGuard; larger ones go out at once. */
#define QUEUE 32
#define QUEUE_DGRAM 2048

struct wm_relay {
	int fd;
	uint16_t port;
	struct sockaddr_in wg; /* 127.0.0.1:wg_port */
	GMainContext *ctx;
	void *source; /* relay_glib.c's GSources */
	void *flush;
	void *trim;
	void (*schedule_flush)(struct wm_relay *r); /* set by wm_relay_attach */
	/* Called when the read buffers are made (set by wm_relay_attach):
	 * wm_relay_trim is to run from then on, until it frees them. */
	void (*schedule_trim)(struct wm_relay *r);
	void (*detach)(struct wm_relay *r);
	bool manual; /* wm_relay_hold */
	wm_relay_send_cb send_cb;
	void *send_data;
	_Atomic uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes, dropped;
	_Atomic int64_t last_rx_us, unanswered_since_us;
	uint8_t *bufs; /* nbufs of buflen, made at the first read (wm_relay_trim frees) */
	unsigned nbufs;
	size_t buflen;
	bool gro;	    /* UDP_GRO is on: a read may hold a run of datagrams */
	bool read_recently; /* since the last wm_relay_trim */
	uint8_t (*queue)[QUEUE_DGRAM];
	size_t queue_len[QUEUE];
	unsigned queued;
	bool gso; /* the kernel takes UDP_SEGMENT on this socket */
};

#endif
