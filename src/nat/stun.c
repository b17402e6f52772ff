/* STUN Binding request encoder and response parser (RFC 8489). */
#include "nat/stun.h"

#include <errno.h>
#include <string.h>

#define FINGERPRINT_XOR 0x5354554Eu

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t wm_stun_crc32(const uint8_t *buf, size_t len)
{
	/* Bitwise: STUN messages are a few hundred bytes, a table is not worth it. */
	uint32_t crc = 0xFFFFFFFFu;

	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

int wm_stun_binding_request(const uint8_t txid[WM_STUN_TXID_LEN], bool fingerprint, uint8_t *buf,
			    size_t len)
{
	size_t n = WM_STUN_HEADER_LEN + (fingerprint ? 8 : 0);

	if (len < n)
		return -ENOSPC;
	wr16(buf, WM_STUN_BINDING_REQUEST);
	wr16(buf + 2, (uint16_t)(n - WM_STUN_HEADER_LEN));
	wr32(buf + 4, WM_STUN_MAGIC);
	memcpy(buf + 8, txid, WM_STUN_TXID_LEN);
	if (fingerprint) {
		/* The CRC covers the header whose length already counts the
		 * FINGERPRINT attribute (RFC 8489 section 14.7). */
		wr16(buf + 20, WM_STUN_ATTR_FINGERPRINT);
		wr16(buf + 22, 4);
		wr32(buf + 24, wm_stun_crc32(buf, 20) ^ FINGERPRINT_XOR);
	}
	return (int)n;
}

bool wm_stun_is_message(const uint8_t *buf, size_t len)
{
	return len >= WM_STUN_HEADER_LEN && (buf[0] & 0xC0) == 0 &&
	       rd32(buf + 4) == WM_STUN_MAGIC && (rd16(buf + 2) & 3) == 0 &&
	       (size_t)rd16(buf + 2) + WM_STUN_HEADER_LEN == len;
}

/* MAPPED-ADDRESS and XOR-MAPPED-ADDRESS (RFC 8489 sections 14.1, 14.2). */
static int parse_address(const uint8_t *v, size_t vlen, bool xored, const uint8_t *hdr,
			 struct wm_endpoint *out)
{
	struct wm_endpoint e = {0};
	size_t alen;

	if (vlen < 4)
		return -EINVAL;
	switch (v[1]) {
	case 0x01:
		e.ip.family = AF_INET;
		e.ip.len = 32;
		alen = 4;
		break;
	case 0x02:
		e.ip.family = AF_INET6;
		e.ip.len = 128;
		alen = 16;
		break;
	default:
		return -EINVAL;
	}
	if (vlen != 4 + alen)
		return -EINVAL;
	e.port = rd16(v + 2);
	memcpy(e.ip.addr, v + 4, alen);
	if (xored) {
		/* Port and address are XORed with the magic cookie (and, for
		 * IPv6, the transaction ID that follows it in the header). */
		e.port ^= (uint16_t)(WM_STUN_MAGIC >> 16);
		for (size_t i = 0; i < alen; i++)
			e.ip.addr[i] ^= hdr[4 + i];
	}
	*out = e;
	return 0;
}

static int parse_error(const uint8_t *v, size_t vlen, struct wm_stun_response *out)
{
	unsigned klass, number;
	size_t o = 0;

	if (vlen < 4 || vlen > 4 + 763)
		return -EINVAL;
	klass = v[2] & 0x07;
	number = v[3];
	if (klass < 3 || klass > 6 || number > 99)
		return -EINVAL;
	out->error_code = (int)(klass * 100 + number);
	for (size_t i = 4; i < vlen && o + 1 < sizeof(out->error_reason); i++) {
		uint8_t c = v[i];

		/* Printed by callers: nothing that moves a terminal's cursor. */
		out->error_reason[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out->error_reason[o] = '\0';
	return 0;
}

/* Comprehension-required attributes (0x0000-0x7FFF) a Binding response may carry
 * that we know and can ignore; anything else in that range voids the response. */
static bool known_required(uint16_t t)
{
	switch (t) {
	case WM_STUN_ATTR_MAPPED_ADDRESS:
	case 0x0002: /* RESPONSE-ADDRESS (RFC 3489) */
	case 0x0003: /* CHANGE-REQUEST (RFC 5780) */
	case 0x0004: /* SOURCE-ADDRESS (RFC 3489, still sent by old servers) */
	case 0x0005: /* CHANGED-ADDRESS (RFC 3489) */
	case WM_STUN_ATTR_USERNAME:
	case WM_STUN_ATTR_MESSAGE_INTEGRITY:
	case WM_STUN_ATTR_ERROR_CODE:
	case WM_STUN_ATTR_UNKNOWN_ATTRIBUTES:
	case WM_STUN_ATTR_REALM:
	case WM_STUN_ATTR_NONCE:
	case WM_STUN_ATTR_MESSAGE_INTEGRITY_SHA256:
	case WM_STUN_ATTR_PASSWORD_ALGORITHM:
	case WM_STUN_ATTR_USERHASH:
	case WM_STUN_ATTR_XOR_MAPPED_ADDRESS:
		return true;
	default:
		return false;
	}
}

int wm_stun_parse_response(const uint8_t *buf, size_t len, const uint8_t *txid,
			   struct wm_stun_response *out)
{
	struct wm_stun_response r = {0};
	bool after_integrity = false;
	size_t off = WM_STUN_HEADER_LEN;

	if (!buf || !wm_stun_is_message(buf, len))
		return -EINVAL;
	r.type = rd16(buf);
	if (r.type != WM_STUN_BINDING_SUCCESS && r.type != WM_STUN_BINDING_ERROR)
		return -ENOMSG;
	memcpy(r.txid, buf + 8, WM_STUN_TXID_LEN);
	if (txid && memcmp(txid, r.txid, WM_STUN_TXID_LEN) != 0)
		return -ENOMSG;
	while (off < len) {
		uint16_t t, vlen;
		size_t padded;
		const uint8_t *v;
		int err = 0;

		if (len - off < 4)
			return -EINVAL;
		t = rd16(buf + off);
		vlen = rd16(buf + off + 2);
		padded = ((size_t)vlen + 3) & ~(size_t)3;
		if (padded > len - off - 4)
			return -EINVAL;
		v = buf + off + 4;
		if (t == WM_STUN_ATTR_FINGERPRINT) {
			if (vlen != 4 || off + 8 != len)
				return -EBADMSG;
			if (rd32(v) != (wm_stun_crc32(buf, off) ^ FINGERPRINT_XOR))
				return -EBADMSG;
			r.has_fingerprint = true;
			break;
		}
		/* RFC 8489 section 14.5: only MESSAGE-INTEGRITY-SHA256 and
		 * FINGERPRINT count after MESSAGE-INTEGRITY. */
		if (after_integrity && t != WM_STUN_ATTR_MESSAGE_INTEGRITY_SHA256) {
			off += 4 + padded;
			continue;
		}
		switch (t) {
		case WM_STUN_ATTR_XOR_MAPPED_ADDRESS:
			if (!r.has_xor_mapped) {
				err = parse_address(v, vlen, true, buf, &r.mapped);
				r.has_xor_mapped = err == 0;
			}
			break;
		case WM_STUN_ATTR_MAPPED_ADDRESS:
			if (!r.has_mapped) {
				struct wm_endpoint m;

				err = parse_address(v, vlen, false, buf, &m);
				if (!err && !r.has_xor_mapped)
					r.mapped = m;
				r.has_mapped = err == 0;
			}
			break;
		case WM_STUN_ATTR_ERROR_CODE:
			if (!r.error_code)
				err = parse_error(v, vlen, &r);
			break;
		case WM_STUN_ATTR_MESSAGE_INTEGRITY:
			if (vlen != 20)
				return -EINVAL;
			after_integrity = true;
			break;
		default:
			if (t < 0x8000 && !known_required(t))
				return -EPROTO;
			break;
		}
		if (err)
			return err;
		off += 4 + padded;
	}
	if (r.type == WM_STUN_BINDING_ERROR && !r.error_code)
		return -EINVAL; /* an error response must say which error */
	if (r.type == WM_STUN_BINDING_SUCCESS)
		r.error_code = 0;
	*out = r;
	return 0;
}

int wm_stun_allocate_request(const uint8_t txid[WM_STUN_TXID_LEN], uint8_t *buf, size_t len)
{
	const size_t n = WM_STUN_ALLOCATE_REQUEST_MAX;

	if (len < n)
		return -ENOSPC;
	wr16(buf, WM_STUN_ALLOCATE_REQUEST);
	wr16(buf + 2, (uint16_t)(n - WM_STUN_HEADER_LEN));
	wr32(buf + 4, WM_STUN_MAGIC);
	memcpy(buf + 8, txid, WM_STUN_TXID_LEN);
	/* REQUESTED-TRANSPORT: protocol 17 (UDP), then three reserved bytes. */
	wr16(buf + 20, 0x0019);
	wr16(buf + 22, 4);
	wr32(buf + 24, 17u << 24);
	wr16(buf + 28, WM_STUN_ATTR_FINGERPRINT);
	wr16(buf + 30, 4);
	wr32(buf + 32, wm_stun_crc32(buf, 28) ^ FINGERPRINT_XOR);
	return (int)n;
}

int wm_stun_response_type(const uint8_t *buf, size_t len, const uint8_t txid[WM_STUN_TXID_LEN])
{
	uint16_t type;

	if (!buf || !wm_stun_is_message(buf, len))
		return -EINVAL;
	type = rd16(buf);
	/* The class bits (0x0110): 0x0100 success, 0x0110 error response. */
	if ((type & 0x0100) == 0 || memcmp(buf + 8, txid, WM_STUN_TXID_LEN) != 0)
		return -ENOMSG;
	return type;
}
