/* TUN offloads (IFF_VNET_HDR): a packet read from the TUN device starts with a
 * virtio_net_hdr and may be a TCP super-packet (TSO, up to 64 KiB) or carry a
 * checksum the kernel left for us to finish (TUN_F_CSUM). This cuts such a
 * packet into MTU-sized IP packets with complete checksums, before each is
 * encrypted. Pure: no I/O, no allocation; the caller gives the buffers.
 *
 * The header is the legacy virtio_net_hdr (10 bytes) in little-endian, which
 * is the TUN device's native order on a little-endian host; the device only
 * asks for it there. */
#ifndef WM_WG_EMBEDDED_OFFLOAD_H
#define WM_WG_EMBEDDED_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WGO_VNET_HDR_LEN 10
/* virtio_net_hdr flags and gso types (linux/virtio_net.h). */
#define WGO_F_NEEDS_CSUM 1
#define WGO_GSO_NONE 0
#define WGO_GSO_TCPV4 1
#define WGO_GSO_TCPV6 4
#define WGO_GSO_ECN 0x80

struct wgo_hdr {
	uint8_t flags, gso_type;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
};

/* One packet being cut into segments: filled by wgo_begin, advanced by
 * wgo_next. Points into the caller's buffer, which must stay unchanged. */
struct wgo_iter {
	const uint8_t *pkt; /* the IP packet, after the virtio header */
	size_t len;
	struct wgo_hdr h;
	bool tso;     /* cut into segments; else one packet */
	int ipver;    /* 4 or 6 */
	size_t l3len; /* IP header length */
	size_t hlen;  /* IP + TCP header length */
	size_t mss;   /* payload bytes per segment */
	size_t off;   /* payload bytes handed out so far */
	unsigned n;   /* segments handed out so far */
	bool done;
};

/* Reads the virtio header in front of buf. */
void wgo_hdr_parse(const uint8_t buf[WGO_VNET_HDR_LEN], struct wgo_hdr *h);
/* Writes a header for a plain packet (no GSO, checksum complete). */
void wgo_hdr_put_none(uint8_t buf[WGO_VNET_HDR_LEN]);

/* Starts cutting the packet buf[0..len) (virtio header included). Errors:
 * -EINVAL for a header that does not fit the packet (offsets past its end, a
 * GSO packet that is not the IPv4/IPv6 TCP it claims, a zero segment size),
 * -EPROTONOSUPPORT for GSO types we did not ask for (UDP, ECN) and IPv6
 * extension headers in a GSO packet. */
int wgo_begin(struct wgo_iter *it, const uint8_t *buf, size_t len);

/* Writes the next IP packet to out (at most cap bytes) with its checksums
 * complete, and returns its length; 0 when there are no more. -EMSGSIZE when
 * a segment is larger than cap (nothing more is handed out). */
long wgo_next(struct wgo_iter *it, uint8_t *out, size_t cap);

/* Receive coalescing (GRO) for the TUN write: consecutive TCP segments of
 * one flow, as decrypted, merged into one super-packet the kernel takes in
 * one write (and splits again only if it forwards it). A segment joins only
 * if the kernel's GRO would merge it too: the same addresses, ports, IP
 * fields, TCP options and ACK; the next sequence number; no flag but ACK
 * (PSH ends a run); every segment but the last of the first one's size; and
 * its own TCP checksum valid, since the merged packet's checksum is left to
 * the kernel to fill (so an invalid one could not be told apart later). */
struct wgo_gro {
	uint8_t *buf; /* WGO_VNET_HDR_LEN + the packet */
	size_t cap;   /* of buf */
	size_t len;   /* packet bytes in buf after the header; 0: empty */
	int ipver;
	size_t l3len, hlen, mss;
	uint32_t next_seq;
	unsigned n;  /* segments merged */
	bool closed; /* PSH seen or a short segment: nothing more joins */
};

/* Starts or extends the current super-packet with pkt. Returns true when
 * pkt was taken; false when it cannot join, and then the caller writes what
 * wgo_gro_finish gives (if anything) and calls again, or writes pkt as it is
 * when wgo_gro_add still refuses it on an empty g (not a mergeable TCP
 * segment). */
bool wgo_gro_add(struct wgo_gro *g, const uint8_t *pkt, size_t len);
/* Completes the super-packet (virtio header, lengths, IPv4 header checksum,
 * the TCP pseudo-header sum for the kernel to finish) and returns its length
 * from buf, header included; g is empty afterwards. 0 when g was empty. */
size_t wgo_gro_finish(struct wgo_gro *g);

/* The Internet checksum's one's complement sum of buf, added to sum, not
 * folded (exposed for the tests' model). */
uint32_t wgo_sum(const uint8_t *buf, size_t len, uint32_t sum);
uint16_t wgo_fold(uint32_t sum);

#endif
