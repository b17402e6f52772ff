/* TUN offloads: TSO super-packets cut into segments, partial checksums
 * completed (see offload.h). */
#include "wg/embedded/offload.h"

#include <errno.h>
#include <string.h>

#define IPPROTO_TCP_ 6
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_CWR 0x80

static uint16_t get16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

void wgo_hdr_parse(const uint8_t buf[WGO_VNET_HDR_LEN], struct wgo_hdr *h)
{
	h->flags = buf[0];
	h->gso_type = buf[1];
	h->hdr_len = get16le(buf + 2);
	h->gso_size = get16le(buf + 4);
	h->csum_start = get16le(buf + 6);
	h->csum_offset = get16le(buf + 8);
}

void wgo_hdr_put_none(uint8_t buf[WGO_VNET_HDR_LEN])
{
	memset(buf, 0, WGO_VNET_HDR_LEN);
}

/* Eight bytes per add, in the host's order, carries folded back in (2^64 is 1
 * modulo 0xffff): the one's complement sum of byte-swapped words is the
 * byte-swapped sum (RFC 1071, 2(B)), so one swap at the end gives the
 * big-endian sum. A word at a time this was the receive thread's largest
 * cost: every TSO segment is summed when cut and every received one before
 * GRO merges it. */
uint32_t wgo_sum(const uint8_t *buf, size_t len, uint32_t sum)
{
	uint64_t s = 0, w;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, buf + i, 8);
		s += w;
		s += s < w;
	}
	w = 0;
	memcpy(&w, buf + i, len - i); /* the tail, zero-padded: a lone last byte
				       * is the high half of its word */
	s += w;
	s += s < w;
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	s = (s >> 8 | s << 8) & 0xffff;
#endif
	s += sum;
	s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t wgo_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

int wgo_begin(struct wgo_iter *it, const uint8_t *buf, size_t len)
{
	const uint8_t *p;
	size_t doff;

	memset(it, 0, sizeof(*it));
	if (len < WGO_VNET_HDR_LEN)
		return -EINVAL;
	wgo_hdr_parse(buf, &it->h);
	p = it->pkt = buf + WGO_VNET_HDR_LEN;
	it->len = len - WGO_VNET_HDR_LEN;
	if (it->h.gso_type & WGO_GSO_ECN)
		return -EPROTONOSUPPORT;
	if (it->h.gso_type == WGO_GSO_NONE) {
		/* The checksum field must lie inside the packet. */
		if (it->h.flags & WGO_F_NEEDS_CSUM &&
		    (size_t)it->h.csum_start + it->h.csum_offset + 2 > it->len)
			return -EINVAL;
		return 0;
	}
	if (it->h.gso_type == WGO_GSO_TCPV4) {
		if (it->len < 20 || p[0] >> 4 != 4)
			return -EINVAL;
		it->ipver = 4;
		it->l3len = (size_t)(p[0] & 15) * 4;
		/* A fragment cannot be segmented. */
		if (it->l3len < 20 || p[9] != IPPROTO_TCP_ || (get16(p + 6) & 0x3fff))
			return -EINVAL;
	} else if (it->h.gso_type == WGO_GSO_TCPV6) {
		if (it->len < 40 || p[0] >> 4 != 6)
			return -EINVAL;
		it->ipver = 6;
		it->l3len = 40;
		/* The kernel does not hand out TSO with extension headers to
		 * TUN; refusing them keeps the header copy simple. */
		if (p[6] != IPPROTO_TCP_)
			return -EPROTONOSUPPORT;
	} else {
		return -EPROTONOSUPPORT;
	}
	if (it->l3len + 20 > it->len)
		return -EINVAL;
	doff = (size_t)(p[it->l3len + 12] >> 4) * 4;
	if (doff < 20 || it->l3len + doff > it->len || !it->h.gso_size)
		return -EINVAL;
	it->hlen = it->l3len + doff;
	it->mss = it->h.gso_size;
	it->tso = true;
	return 0;
}

static long next_plain(struct wgo_iter *it, uint8_t *out, size_t cap)
{
	it->done = true;
	if (it->len > cap)
		return -EMSGSIZE;
	memcpy(out, it->pkt, it->len);
	if (it->h.flags & WGO_F_NEEDS_CSUM) {
		/* The kernel left the pseudo-header's sum in the field: sum from
		 * csum_start to the end and store its complement. */
		size_t cs = it->h.csum_start, at = cs + it->h.csum_offset;
		uint16_t c = (uint16_t)~wgo_fold(wgo_sum(out + cs, it->len - cs, 0));

		/* In UDP (its checksum at offset 6) zero means "none". */
		if (!c && it->h.csum_offset == 6)
			c = 0xffff;
		put16(out + at, c);
	}
	return (long)it->len;
}

long wgo_next(struct wgo_iter *it, uint8_t *out, size_t cap)
{
	size_t payload, seg, total, l3 = it->l3len;
	uint8_t *tcp = out + l3;
	uint32_t sum;
	bool last;

	if (it->done)
		return 0;
	if (!it->tso)
		return next_plain(it, out, cap);
	payload = it->len - it->hlen;
	seg = payload - it->off < it->mss ? payload - it->off : it->mss;
	total = it->hlen + seg;
	if (total > cap) {
		it->done = true;
		return -EMSGSIZE;
	}
	last = it->off + seg >= payload;
	memcpy(out, it->pkt, it->hlen);
	memcpy(out + it->hlen, it->pkt + it->hlen + it->off, seg);
	if (it->ipver == 4) {
		put16(out + 2, (uint16_t)total);
		/* Each segment its own ID, as the kernel's segmentation does. */
		put16(out + 4, (uint16_t)(get16(it->pkt + 4) + it->n));
		put16(out + 10, 0);
		put16(out + 10, (uint16_t)~wgo_fold(wgo_sum(out, l3, 0)));
		sum = wgo_sum(out + 12, 8, 0);
	} else {
		put16(out + 4, (uint16_t)(total - 40));
		sum = wgo_sum(out + 8, 32, 0);
	}
	put32(tcp + 4, get32(it->pkt + l3 + 4) + (uint32_t)it->off);
	if (!last)
		tcp[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
	if (it->n)
		tcp[13] &= (uint8_t)~TCP_CWR;
	put16(tcp + 16, 0);
	sum += IPPROTO_TCP_ + (uint32_t)(total - l3);
	put16(tcp + 16, (uint16_t)~wgo_fold(wgo_sum(tcp, total - l3, sum)));
	it->off += seg;
	it->n++;
	if (last)
		it->done = true;
	return (long)total;
}

/* ---- receive coalescing ---- */

#define TCP_ACK 0x10
#define GRO_MAX 65535 /* an IPv4 total length, an IPv6 payload length */

struct seg {
	int ipver;
	size_t l3len, hlen, plen;
	uint32_t seq;
	uint8_t flags;
};

static uint32_t pseudo_sum(const uint8_t *p, int ipver, size_t tcplen)
{
	uint32_t sum = ipver == 4 ? wgo_sum(p + 12, 8, 0) : wgo_sum(p + 8, 32, 0);

	return sum + IPPROTO_TCP_ + (uint32_t)tcplen;
}

/* A TCP segment GRO may take: plain IPv4 (no options, not a fragment) or
 * IPv6 without extension headers, data, ACK and maybe PSH only, and both
 * checksums valid. */
static bool gro_segment(const uint8_t *p, size_t len, struct seg *s)
{
	size_t doff;

	if (len >= 20 && p[0] == 0x45) {
		if (get16(p + 2) != len || p[9] != IPPROTO_TCP_ || (get16(p + 6) & 0x3fff) ||
		    wgo_fold(wgo_sum(p, 20, 0)) != 0xffff)
			return false;
		s->ipver = 4;
		s->l3len = 20;
	} else if (len >= 40 && p[0] >> 4 == 6) {
		if ((size_t)get16(p + 4) + 40 != len || p[6] != IPPROTO_TCP_)
			return false;
		s->ipver = 6;
		s->l3len = 40;
	} else {
		return false;
	}
	if (s->l3len + 20 > len)
		return false;
	doff = (size_t)(p[s->l3len + 12] >> 4) * 4;
	if (doff < 20 || s->l3len + doff >= len)
		return false; /* no payload: nothing to merge */
	s->hlen = s->l3len + doff;
	s->plen = len - s->hlen;
	s->seq = get32(p + s->l3len + 4);
	s->flags = p[s->l3len + 13];
	if ((s->flags & ~(TCP_ACK | TCP_PSH)) || !(s->flags & TCP_ACK))
		return false;
	return wgo_fold(wgo_sum(p + s->l3len, len - s->l3len,
				pseudo_sum(p, s->ipver, len - s->l3len))) == 0xffff;
}

/* Whether pkt continues g's flow: every header byte equal but the lengths,
 * the IPv4 ID and checksums, the sequence number, the window and PSH
 * (urgent pointers must be equal too: URG itself is refused). */
static bool gro_same_flow(const struct wgo_gro *g, const uint8_t *pkt, const struct seg *s)
{
	const uint8_t *h = g->buf + WGO_VNET_HDR_LEN, *t = h + g->l3len, *u = pkt + s->l3len;

	if (s->ipver != g->ipver || s->hlen != g->hlen)
		return false;
	if (g->ipver == 4) {
		if (h[1] != pkt[1] || memcmp(h + 6, pkt + 6, 4) || memcmp(h + 12, pkt + 12, 8))
			return false;
	} else if (memcmp(h, pkt, 4) || memcmp(h + 6, pkt + 6, 34)) {
		return false;
	}
	return !memcmp(t, u, 4) && !memcmp(t + 8, u + 8, 5) && !memcmp(t + 18, u + 18, 2) &&
	       !memcmp(t + 20, u + 20, g->hlen - g->l3len - 20) && s->seq == g->next_seq;
}

bool wgo_gro_add(struct wgo_gro *g, const uint8_t *pkt, size_t len)
{
	struct seg s;

	if (!gro_segment(pkt, len, &s))
		return false;
	if (!g->len) {
		if (WGO_VNET_HDR_LEN + len > g->cap)
			return false;
		memcpy(g->buf + WGO_VNET_HDR_LEN, pkt, len);
		g->len = len;
		g->ipver = s.ipver;
		g->l3len = s.l3len;
		g->hlen = s.hlen;
		g->mss = s.plen;
		g->next_seq = s.seq + (uint32_t)s.plen;
		g->n = 1;
		g->closed = s.flags & TCP_PSH;
		return true;
	}
	if (g->closed || s.plen > g->mss || g->len + s.plen > GRO_MAX ||
	    WGO_VNET_HDR_LEN + g->len + s.plen > g->cap || !gro_same_flow(g, pkt, &s))
		return false;
	memcpy(g->buf + WGO_VNET_HDR_LEN + g->len, pkt + s.hlen, s.plen);
	g->len += s.plen;
	g->next_seq += (uint32_t)s.plen;
	g->n++;
	if (s.flags & TCP_PSH) {
		g->buf[WGO_VNET_HDR_LEN + g->l3len + 13] |= TCP_PSH;
		g->closed = true;
	}
	if (s.plen < g->mss)
		g->closed = true;
	return true;
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

size_t wgo_gro_finish(struct wgo_gro *g)
{
	uint8_t *h = g->buf, *p = g->buf + WGO_VNET_HDR_LEN, *t;
	size_t len = g->len;

	if (!len)
		return 0;
	g->len = 0;
	wgo_hdr_put_none(h);
	if (g->n == 1)
		return WGO_VNET_HDR_LEN + len; /* as it came, checksums and all */
	t = p + g->l3len;
	if (g->ipver == 4) {
		put16(p + 2, (uint16_t)len);
		put16(p + 10, 0);
		put16(p + 10, (uint16_t)~wgo_fold(wgo_sum(p, 20, 0)));
	} else {
		put16(p + 4, (uint16_t)(len - 40));
	}
	/* Partial: the pseudo-header's sum, which the kernel completes. */
	put16(t + 16, wgo_fold(pseudo_sum(p, g->ipver, len - g->l3len)));
	h[0] = WGO_F_NEEDS_CSUM;
	h[1] = g->ipver == 4 ? WGO_GSO_TCPV4 : WGO_GSO_TCPV6;
	put16le(h + 2, (uint16_t)g->hlen);
	put16le(h + 4, (uint16_t)g->mss);
	put16le(h + 6, (uint16_t)g->l3len);
	put16le(h + 8, 16);
	return WGO_VNET_HDR_LEN + len;
}
