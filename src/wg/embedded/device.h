/* The embedded WireGuard device: a TUN interface (with TSO and GRO through
 * IFF_VNET_HDR where the kernel has it), a UDP socket (batched, with UDP
 * GSO/GRO where the kernel has them) and the UAPI socket (dir/IFNAME.sock,
 * wireguard-go's protocol), served by two threads of its own (one reads TUN;
 * the other serves UDP, UAPI and the timers) and a pool of crypto workers,
 * so the daemon's loop never waits on packets. Everything they touch (peers, keys,
 * sockets) is private to the device; the only way in is the UAPI socket,
 * exactly as for wireguard-go, so `wg` and src/wg/uapi.c drive it
 * unchanged.
 *
 * Memory: buffers are allocated once at open; a peer, its allowed IPs and its
 * keys are allocated when configured or handshaken, never per packet; peers
 * are limited by max_peers, staged packets by a device-wide pool, crypto
 * jobs by the send and receive batches. */
#ifndef WM_WG_EMBEDDED_DEVICE_H
#define WM_WG_EMBEDDED_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wge_dev;

struct wge_config {
	const char *ifname;   /* the TUN interface to create */
	const char *uapi_dir; /* default /run/wireguard */
	uint32_t max_peers;   /* 0 = 65536 */
	uint32_t mtu;	      /* 0 = 1420, as wireguard-go */
	bool no_offload;      /* no IFF_VNET_HDR/TSO on the TUN (benchmarks, tests) */
	/* Crypto worker threads beside the device's two, which encrypt and
	 * decrypt too: 0 = one per online CPU but one (up to 16), -1 =
	 * none, else that many (at most 64). */
	int workers;
};

/* Creates the TUN interface, binds a UDP socket on a random port, listens on
 * the UAPI socket and starts the thread. A stale socket file (nobody answers)
 * is replaced; a live one is -EEXIST. The test-only environment variables
 * WEBMESH_WG_TEST_REKEY_AFTER_TIME (seconds) and
 * WEBMESH_WG_TEST_REKEY_AFTER_MESSAGES shorten the rekey limits; an invalid
 * value is -EINVAL naming it in err. */
int wge_open(const struct wge_config *cfg, struct wge_dev **out, char *err, size_t errlen);
/* Stops the thread, removes the socket file and the interface, wipes and frees
 * everything. NULL is fine. */
void wge_close(struct wge_dev *dev);
/* One line saying which fast paths the kernel took (probed once at open and
 * at each rebind), for the caller to log. */
void wge_describe(struct wge_dev *dev, char *buf, size_t len);

#endif
