/* TUN offloads: TSO super-packets cut into segments and partial checksums
 * completed, compared byte for byte with a brute-force model that builds each
 * expected segment from scratch (its own header fields, a checksum summed one
 * byte at a time with an end-around carry at every step), over random sizes,
 * segment sizes, TCP options and flags; and every malformed header refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wg/embedded/offload.h"

#define MAXPKT (65536 + 64)

static uint64_t rng = 88172645463325252ULL;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* The model's checksum: 16-bit words, carry folded back after each add. */
static uint16_t model_csum(const uint8_t *const *parts, const size_t *lens, int n)
{
	uint32_t s = 0;
	int hi = 1;

	for (int k = 0; k < n; k++) {
		for (size_t i = 0; i < lens[k]; i++) {
			s += hi ? (uint32_t)parts[k][i] << 8 : parts[k][i];
			if (s > 0xffff)
				s = (s & 0xffff) + 1;
			hi = !hi;
		}
	}
	return (uint16_t)~s;
}

struct flow {
	int ipver;
	uint8_t src[16], dst[16];
	uint16_t id;
	uint32_t seq;
	uint8_t flags;
	uint8_t opts[40];
	size_t optlen;
	uint8_t ttl;
};

/* The model's segment i: header fields set one by one. */
static size_t model_segment(const struct flow *f, const uint8_t *payload, size_t plen, size_t off,
			    unsigned i, bool last, uint8_t *out)
{
	size_t l3 = f->ipver == 4 ? 20 : 40, th = 20 + f->optlen, total = l3 + th + plen;
	uint8_t *t = out + l3, pseudo[40];
	uint8_t flags = f->flags;
	size_t plens[3];
	const uint8_t *parts[3];

	memset(out, 0, l3 + th);
	if (f->ipver == 4) {
		out[0] = 0x45;
		out[2] = (uint8_t)(total >> 8);
		out[3] = (uint8_t)total;
		out[4] = (uint8_t)((f->id + i) >> 8);
		out[5] = (uint8_t)(f->id + i);
		out[6] = 0x40; /* DF */
		out[8] = f->ttl;
		out[9] = 6;
		memcpy(out + 12, f->src, 4);
		memcpy(out + 16, f->dst, 4);
		parts[0] = out;
		plens[0] = 20;
		uint16_t c = model_csum(parts, plens, 1);
		out[10] = (uint8_t)(c >> 8);
		out[11] = (uint8_t)c;
	} else {
		out[0] = 0x60;
		out[4] = (uint8_t)((total - 40) >> 8);
		out[5] = (uint8_t)(total - 40);
		out[6] = 6;
		out[7] = f->ttl;
		memcpy(out + 8, f->src, 16);
		memcpy(out + 24, f->dst, 16);
	}
	t[0] = 0x30;
	t[1] = 0x39;
	t[2] = 0x14;
	t[3] = 0x51;
	uint32_t seq = f->seq + (uint32_t)off;
	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	t[12] = (uint8_t)((th / 4) << 4);
	if (!last)
		flags &= (uint8_t) ~(0x01 | 0x08);
	if (i)
		flags &= (uint8_t)~0x80;
	t[13] = flags;
	t[14] = 0xff;
	t[15] = 0xff;
	memcpy(t + 20, f->opts, f->optlen);
	memcpy(t + th, payload + off, plen);
	/* Pseudo-header. */
	size_t tl = th + plen, pl;
	if (f->ipver == 4) {
		memcpy(pseudo, f->src, 4);
		memcpy(pseudo + 4, f->dst, 4);
		pseudo[8] = 0;
		pseudo[9] = 6;
		pseudo[10] = (uint8_t)(tl >> 8);
		pseudo[11] = (uint8_t)tl;
		pl = 12;
	} else {
		memcpy(pseudo, f->src, 16);
		memcpy(pseudo + 16, f->dst, 16);
		memset(pseudo + 32, 0, 8);
		pseudo[34] = (uint8_t)(tl >> 8);
		pseudo[35] = (uint8_t)tl;
		pseudo[39] = 6;
		pl = 40;
	}
	parts[0] = pseudo;
	plens[0] = pl;
	parts[1] = t;
	plens[1] = tl;
	uint16_t c = model_csum(parts, plens, 2);
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
	return total;
}

static void put16le(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* The super-packet as the kernel hands it over: the first segment's header
 * with the whole length, the checksum field holding the pseudo-header sum
 * (or garbage: it must not matter). */
static size_t build_super(const struct flow *f, const uint8_t *payload, size_t plen, uint16_t mss,
			  uint8_t *buf)
{
	uint8_t *pkt = buf + WGO_VNET_HDR_LEN;
	size_t l3 = f->ipver == 4 ? 20 : 40, th = 20 + f->optlen;
	size_t n = model_segment(f, payload, plen, 0, 0, true, pkt);

	pkt[l3 + 16] = (uint8_t)rnd();
	pkt[l3 + 17] = (uint8_t)rnd();
	memset(buf, 0, WGO_VNET_HDR_LEN);
	buf[0] = WGO_F_NEEDS_CSUM;
	buf[1] = f->ipver == 4 ? WGO_GSO_TCPV4 : WGO_GSO_TCPV6;
	put16le(buf + 2, (uint16_t)(l3 + th));
	put16le(buf + 4, mss);
	put16le(buf + 6, (uint16_t)l3);
	put16le(buf + 8, 16);
	return WGO_VNET_HDR_LEN + n;
}

static void random_flow(struct flow *f, int ipver)
{
	memset(f, 0, sizeof(*f));
	f->ipver = ipver;
	for (int i = 0; i < 16; i++) {
		f->src[i] = (uint8_t)rnd();
		f->dst[i] = (uint8_t)rnd();
	}
	f->id = (uint16_t)rnd(); /* wraps within the packet sometimes */
	f->seq = rnd();		 /* and so may the sequence number */
	f->flags = (uint8_t)(0x10 | (rnd() & (0x01 | 0x08 | 0x80)));
	f->optlen = (rnd() % 11) * 4;
	for (size_t i = 0; i < f->optlen; i++)
		f->opts[i] = (uint8_t)rnd();
	f->ttl = (uint8_t)rnd();
}

static void check_tso(int ipver, size_t plen, uint16_t mss)
{
	static uint8_t payload[65536], buf[MAXPKT], got[MAXPKT], want[MAXPKT];
	struct flow f;
	struct wgo_iter it;
	size_t off = 0;
	unsigned i = 0;
	long n;

	random_flow(&f, ipver);
	for (size_t k = 0; k < plen; k++)
		payload[k] = (uint8_t)rnd();
	size_t len = build_super(&f, payload, plen, mss, buf);
	assert_int_equal(wgo_begin(&it, buf, len), 0);
	while ((n = wgo_next(&it, got, sizeof(got))) > 0) {
		size_t seg = plen - off < mss ? plen - off : mss;
		bool last = off + seg >= plen;
		size_t wl = model_segment(&f, payload, seg, off, i, last, want);

		assert_int_equal((size_t)n, wl);
		assert_memory_equal(got, want, wl);
		off += seg;
		i++;
		assert_true(i <= 65536);
	}
	assert_int_equal(n, 0);
	assert_int_equal(off, plen);
	assert_int_equal(i, plen ? (plen + mss - 1) / mss : 1);
}

/* wgo_sum (eight bytes at a time, host order) against the model, for every
 * length up to 88 at every start offset, and summed in two parts split at an
 * even byte as the callers do (pseudo-header first). */
static void test_sum_matches_model(void **state)
{
	uint8_t buf[96];

	(void)state;
	for (int round = 0; round < 200; round++) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = round == 0 ? 0 : round == 1 ? 0xff : (uint8_t)rnd();
		for (size_t off = 0; off < 8; off++) {
			for (size_t len = 0; len + off <= 88; len++) {
				const uint8_t *p = buf + off;
				uint16_t want = model_csum(&p, &len, 1);
				size_t cut = (len / 2) & ~(size_t)1;

				assert_int_equal((uint16_t)~wgo_fold(wgo_sum(p, len, 0)), want);
				assert_int_equal((uint16_t)~wgo_fold(wgo_sum(p + cut, len - cut,
									     wgo_sum(p, cut, 0))),
						 want);
			}
		}
	}
}

static void test_tso_random(void **state)
{
	(void)state;
	for (int round = 0; round < 400; round++) {
		int ipver = round & 1 ? 6 : 4;
		uint16_t mss = (uint16_t)(1 + rnd() % 1500);
		size_t max = 65535 - 40 - 60;
		size_t plen = round % 7 == 0 ? rnd() % 64 : rnd() % max;

		if (round % 11 == 0)
			plen = (size_t)mss * (1 + rnd() % 20); /* exact multiple */
		check_tso(ipver, plen, mss);
	}
}

static void test_tso_small_cap(void **state)
{
	static uint8_t payload[4000], buf[MAXPKT], out[2048];
	struct flow f;
	struct wgo_iter it;

	(void)state;
	random_flow(&f, 4);
	size_t len = build_super(&f, payload, sizeof(payload), 1400, buf);
	assert_int_equal(wgo_begin(&it, buf, len), 0);
	/* A segment larger than the caller's buffer stops the packet. */
	assert_int_equal(wgo_next(&it, out, 1000), -EMSGSIZE);
	assert_int_equal(wgo_next(&it, out, sizeof(out)), 0);
}

/* A plain UDP packet whose checksum the kernel left partial. */
static void test_needs_csum(void **state)
{
	uint8_t buf[WGO_VNET_HDR_LEN + 28 + 300], out[400], pseudo[12];
	const uint8_t *parts[2];
	size_t lens[2];
	struct wgo_iter it;

	(void)state;
	for (int round = 0; round < 200; round++) {
		size_t ulen = 8 + rnd() % 300, len = 20 + ulen;
		uint8_t *p = buf + WGO_VNET_HDR_LEN, *u = p + 20;

		memset(buf, 0, sizeof(buf));
		p[0] = 0x45;
		p[9] = 17;
		for (int i = 12; i < 20; i++)
			p[i] = (uint8_t)rnd();
		u[4] = (uint8_t)(ulen >> 8);
		u[5] = (uint8_t)ulen;
		for (size_t i = 8; i < ulen; i++)
			u[i] = (uint8_t)rnd();
		memcpy(pseudo, p + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 17;
		pseudo[10] = (uint8_t)(ulen >> 8);
		pseudo[11] = (uint8_t)ulen;
		/* The kernel's partial: the pseudo-header sum, not complemented. */
		uint16_t partial = wgo_fold(wgo_sum(pseudo, 12, 0));
		u[6] = (uint8_t)(partial >> 8);
		u[7] = (uint8_t)partial;
		buf[0] = WGO_F_NEEDS_CSUM;
		put16le(buf + 6, 20);
		put16le(buf + 8, 6);
		assert_int_equal(wgo_begin(&it, buf, WGO_VNET_HDR_LEN + len), 0);
		assert_int_equal(wgo_next(&it, out, sizeof(out)), (long)len);
		assert_int_equal(wgo_next(&it, out, sizeof(out)), 0);
		/* The model: the full checksum over pseudo-header and datagram. */
		u[6] = u[7] = 0;
		parts[0] = pseudo;
		lens[0] = 12;
		parts[1] = u;
		lens[1] = ulen;
		uint16_t c = model_csum(parts, lens, 2);
		if (!c)
			c = 0xffff;
		u[6] = (uint8_t)(c >> 8);
		u[7] = (uint8_t)c;
		assert_memory_equal(out, p, len);
	}
}

static void test_plain_copied(void **state)
{
	uint8_t buf[WGO_VNET_HDR_LEN + 100] = {0}, out[100];
	struct wgo_iter it;

	(void)state;
	for (size_t i = WGO_VNET_HDR_LEN; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(wgo_begin(&it, buf, sizeof(buf)), 0);
	assert_int_equal(wgo_next(&it, out, 99), -EMSGSIZE);
	assert_int_equal(wgo_begin(&it, buf, sizeof(buf)), 0);
	assert_int_equal(wgo_next(&it, out, sizeof(out)), 100);
	assert_memory_equal(out, buf + WGO_VNET_HDR_LEN, 100);
	assert_int_equal(wgo_next(&it, out, sizeof(out)), 0);
}

static void test_bad_headers(void **state)
{
	static uint8_t payload[3000], buf[MAXPKT], good[MAXPKT];
	struct flow f;
	struct wgo_iter it;
	size_t len;

	(void)state;
	assert_int_equal(wgo_begin(&it, buf, WGO_VNET_HDR_LEN - 1), -EINVAL);
	random_flow(&f, 4);
	f.optlen = 0;
	len = build_super(&f, payload, sizeof(payload), 1000, good);
	assert_int_equal(wgo_begin(&it, good, len), 0);

#define RESET() memcpy(buf, good, len)
	uint8_t *p = buf + WGO_VNET_HDR_LEN;
	RESET();
	buf[1] = WGO_GSO_TCPV4 | WGO_GSO_ECN;
	assert_int_equal(wgo_begin(&it, buf, len), -EPROTONOSUPPORT);
	RESET();
	buf[1] = 5; /* GSO UDP: not asked for */
	assert_int_equal(wgo_begin(&it, buf, len), -EPROTONOSUPPORT);
	RESET();
	buf[1] = WGO_GSO_TCPV6; /* an IPv4 packet */
	assert_int_equal(wgo_begin(&it, buf, len), -EINVAL);
	RESET();
	put16le(buf + 4, 0); /* zero segment size */
	assert_int_equal(wgo_begin(&it, buf, len), -EINVAL);
	RESET();
	p[9] = 17; /* not TCP */
	assert_int_equal(wgo_begin(&it, buf, len), -EINVAL);
	RESET();
	p[0] = 0x44; /* IHL below 20 */
	assert_int_equal(wgo_begin(&it, buf, len), -EINVAL);
	RESET();
	p[6] = 0x20; /* a fragment */
	assert_int_equal(wgo_begin(&it, buf, len), -EINVAL);
	RESET();
	p[20 + 12] = 0x40; /* TCP data offset below 20 */
	assert_int_equal(wgo_begin(&it, buf, len), -EINVAL);
	RESET();
	p[20 + 12] = 0xf0; /* TCP header past the end */
	assert_int_equal(wgo_begin(&it, buf, WGO_VNET_HDR_LEN + 50), -EINVAL);
	RESET();
	assert_int_equal(wgo_begin(&it, buf, WGO_VNET_HDR_LEN + 30), -EINVAL);
	/* A plain packet whose checksum field lies past its end. */
	memset(buf, 0, WGO_VNET_HDR_LEN + 40);
	buf[0] = WGO_F_NEEDS_CSUM;
	put16le(buf + 6, 20);
	put16le(buf + 8, 19);
	assert_int_equal(wgo_begin(&it, buf, WGO_VNET_HDR_LEN + 40), -EINVAL);
	put16le(buf + 8, 18);
	assert_int_equal(wgo_begin(&it, buf, WGO_VNET_HDR_LEN + 40), 0);
	put16le(buf + 6, 0xffff);
	assert_int_equal(wgo_begin(&it, buf, WGO_VNET_HDR_LEN + 40), -EINVAL);

	/* IPv6 with an extension header. */
	random_flow(&f, 6);
	len = build_super(&f, payload, sizeof(payload), 1000, good);
	RESET();
	p[6] = 0; /* hop-by-hop */
	assert_int_equal(wgo_begin(&it, buf, len), -EPROTONOSUPPORT);
	RESET();
	assert_int_equal(wgo_begin(&it, buf, 40), -EINVAL);
#undef RESET
}

/* ---- receive coalescing ---- */

/* Runs packets through GRO as the device does, then cuts every written
 * super-packet again with wgo_begin/wgo_next (checked above against the
 * model): the packets that come out must be the packets that went in, in
 * order, byte for byte but for the IPv4 ID of merged segments. */
struct gro_run {
	uint8_t out[64][MAXPKT / 32];
	size_t outlen[64];
	unsigned nout, writes, merged_writes;
};

static void gro_emit(struct gro_run *r, const uint8_t *buf, size_t len)
{
	struct wgo_iter it;
	long n;

	r->writes++;
	assert_int_equal(wgo_begin(&it, buf, len), 0);
	if (it.tso)
		r->merged_writes++;
	while ((n = wgo_next(&it, r->out[r->nout], sizeof(r->out[0]))) > 0) {
		r->outlen[r->nout++] = (size_t)n;
		assert_true(r->nout < 64);
	}
	assert_true(n == 0);
}

static void gro_feed(struct gro_run *r, struct wgo_gro *g, uint8_t (*in)[2048], const size_t *lens,
		     unsigned n)
{
	uint8_t plain[WGO_VNET_HDR_LEN + 2048];

	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < n; i++) {
		size_t w;

		if (wgo_gro_add(g, in[i], lens[i]))
			continue;
		if ((w = wgo_gro_finish(g)))
			gro_emit(r, g->buf, w);
		if (wgo_gro_add(g, in[i], lens[i]))
			continue;
		/* Not mergeable: written alone. */
		wgo_hdr_put_none(plain);
		memcpy(plain + WGO_VNET_HDR_LEN, in[i], lens[i]);
		gro_emit(r, plain, WGO_VNET_HDR_LEN + lens[i]);
	}
	size_t w = wgo_gro_finish(g);
	if (w)
		gro_emit(r, g->buf, w);
	assert_int_equal(g->len, 0);
}

/* Segment i of a flow, built by the model (IDs consecutive). */
static size_t flow_packet(const struct flow *f, const uint8_t *payload, size_t off, size_t plen,
			  unsigned i, uint8_t *out)
{
	return model_segment(f, payload, plen, off, i, true, out);
}

static void test_gro_round_trip(void **state)
{
	static uint8_t payload[131072], in[60][2048], gbuf[WGO_VNET_HDR_LEN + 65600];
	static struct gro_run r;
	struct wgo_gro g = {.buf = gbuf, .cap = sizeof(gbuf)};

	(void)state;
	for (size_t k = 0; k < sizeof(payload); k++)
		payload[k] = (uint8_t)rnd();
	for (int round = 0; round < 300; round++) {
		struct flow f, other;
		size_t lens[60], off = 0, mss = 500 + rnd() % 900;
		unsigned n = 1 + rnd() % 59, kind = rnd() % 8;

		random_flow(&f, round & 1 ? 6 : 4);
		random_flow(&other, f.ipver);
		f.flags = 0x10; /* ACK */
		other.flags = 0x10;
		for (unsigned i = 0; i < n; i++) {
			size_t plen = mss;
			const struct flow *use = &f;

			if (kind == 1 && i == n / 2)
				plen = mss / 2; /* a short one ends a run */
			if (kind == 2 && i % 5 == 4)
				use = &other; /* another flow in between */
			lens[i] = flow_packet(use, payload, off, plen, i, in[i]);
			if (kind == 3 && i == n / 2)
				in[i][(f.ipver == 4 ? 20 : 40) + 13] |= 0x08; /* PSH */
			if (kind == 4 && i == n / 2) {
				/* a corrupt TCP checksum: never merged, written as is */
				in[i][lens[i] - 1] ^= 0x40;
			}
			if (kind == 5 && i == n / 2)
				in[i][(f.ipver == 4 ? 20 : 40) + 13] |= 0x01; /* FIN */
			if (kind == 6 && i == n / 2)
				in[i][(f.ipver == 4 ? 20 : 40) + 9] ^= 1; /* another ACK */
			if (kind == 3 && i == n / 2) {
				/* PSH changed the header: fix the checksum */
				size_t l3 = f.ipver == 4 ? 20 : 40;
				uint8_t *t = in[i] + l3;
				uint32_t sum = f.ipver == 4 ? wgo_sum(in[i] + 12, 8, 0)
							    : wgo_sum(in[i] + 8, 32, 0);
				t[16] = t[17] = 0;
				sum += 6 + (uint32_t)(lens[i] - l3);
				uint16_t c = (uint16_t)~wgo_fold(wgo_sum(t, lens[i] - l3, sum));
				t[16] = (uint8_t)(c >> 8);
				t[17] = (uint8_t)c;
			}
			if ((kind == 5 || kind == 6) && i == n / 2) {
				size_t l3 = f.ipver == 4 ? 20 : 40;
				uint8_t *t = in[i] + l3;
				uint32_t sum = f.ipver == 4 ? wgo_sum(in[i] + 12, 8, 0)
							    : wgo_sum(in[i] + 8, 32, 0);
				t[16] = t[17] = 0;
				sum += 6 + (uint32_t)(lens[i] - l3);
				uint16_t c = (uint16_t)~wgo_fold(wgo_sum(t, lens[i] - l3, sum));
				t[16] = (uint8_t)(c >> 8);
				t[17] = (uint8_t)c;
			}
			if (use == &f)
				off += plen;
		}
		gro_feed(&r, &g, in, lens, n);
		assert_int_equal(r.nout, n);
		for (unsigned i = 0; i < n; i++) {
			assert_int_equal(r.outlen[i], lens[i]);
			if (f.ipver == 4) {
				/* IDs of merged segments are renumbered from the
				 * first; everything else is the same. */
				assert_memory_equal(r.out[i], in[i], 4);
				assert_memory_equal(r.out[i] + 6, in[i] + 6, 4);
				assert_memory_equal(r.out[i] + 12, in[i] + 12, lens[i] - 12);
				assert_int_equal(wgo_fold(wgo_sum(r.out[i], 20, 0)), 0xffff);
			} else {
				assert_memory_equal(r.out[i], in[i], lens[i]);
			}
		}
		/* A run of one flow, all full size, is one write while it fits
		 * in 64 KiB. */
		size_t hl = lens[0] - mss;
		if ((kind == 0 || kind == 7) && hl + n * mss <= 65535)
			assert_int_equal(r.writes, 1);
		if ((kind == 0 || kind == 7) && n > 1)
			assert_true(r.merged_writes >= 1 && r.writes <= 1 + n * mss / (65535 - hl));
		/* the other flow's packets at 4, 9, ... each end a run: n == 5
		 * is a run and the one packet */
		if (kind == 2 && n >= 6)
			assert_true(r.writes >= 3);
		if (kind == 4)
			assert_true(r.writes >= (n > 1 ? 2 : 1));
	}
}

/* What GRO must leave alone: not TCP, no payload, flags other than ACK/PSH,
 * IPv4 options, fragments; and a full buffer starts a new packet. */
static void test_gro_refuses(void **state)
{
	static uint8_t payload[4000], pkt[2048], gbuf[WGO_VNET_HDR_LEN + 3000];
	struct wgo_gro g = {.buf = gbuf, .cap = sizeof(gbuf)};
	struct flow f;
	size_t len;

	(void)state;
	random_flow(&f, 4);
	f.optlen = 0;
	f.flags = 0x10;
	len = model_segment(&f, payload, 100, 0, 0, true, pkt);
	assert_true(wgo_gro_add(&g, pkt, len));
	assert_int_equal(wgo_gro_finish(&g), WGO_VNET_HDR_LEN + len);
	/* a single packet comes out as it went in, with a plain header */
	assert_memory_equal(gbuf + WGO_VNET_HDR_LEN, pkt, len);
	assert_int_equal(gbuf[1], WGO_GSO_NONE);
	assert_false(wgo_gro_add(&g, pkt, len - 1)); /* length disagrees */
	len = model_segment(&f, payload, 0, 0, 0, true, pkt);
	assert_false(wgo_gro_add(&g, pkt, len)); /* no payload */
	f.flags = 0x12;				 /* SYN|ACK */
	len = model_segment(&f, payload, 10, 0, 0, true, pkt);
	assert_false(wgo_gro_add(&g, pkt, len));
	f.flags = 0x10;
	len = model_segment(&f, payload, 10, 0, 0, true, pkt);
	pkt[6] = 0x20; /* MF */
	assert_false(wgo_gro_add(&g, pkt, len));
	pkt[6] = 0x40;
	pkt[9] = 17;
	assert_false(wgo_gro_add(&g, pkt, len));
	assert_int_equal(wgo_gro_finish(&g), 0);
	/* The buffer holds 3000 bytes: the third 1400-byte segment does not fit. */
	for (unsigned i = 0; i < 2; i++) {
		len = model_segment(&f, payload, 1400, i * 1400, i, true, pkt);
		assert_true(wgo_gro_add(&g, pkt, len));
	}
	len = model_segment(&f, payload, 500, 2800, 2, true, pkt);
	assert_false(wgo_gro_add(&g, pkt, len));
	assert_int_equal(wgo_gro_finish(&g), WGO_VNET_HDR_LEN + 40 + 2800);
	assert_int_equal(gbuf[1], WGO_GSO_TCPV4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_matches_model), cmocka_unit_test(test_tso_random),
		cmocka_unit_test(test_tso_small_cap),	  cmocka_unit_test(test_needs_csum),
		cmocka_unit_test(test_plain_copied),	  cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_gro_round_trip),	  cmocka_unit_test(test_gro_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
