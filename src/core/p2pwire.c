/* libp2p wire formats: varints, protobuf fields, multistream messages,
 * base58btc, peer IDs and multiaddrs (see wire.h). No I/O. */
#include "core/p2pwire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

size_t wm_varint_encode(uint64_t v, uint8_t *out)
{
	size_t n = 0;

	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		out[n++] = b | (v ? 0x80 : 0);
	} while (v && n < WM_VARINT_MAX);
	return n;
}

int wm_varint_decode(const uint8_t *buf, size_t len, uint64_t *v)
{
	uint64_t r = 0;

	for (size_t i = 0; i < WM_VARINT_MAX; i++) {
		if (i >= len)
			return 0;
		r |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
		if (!(buf[i] & 0x80)) {
			/* The spec requires the shortest form: a last byte of
			 * 0 after others would be a second spelling. */
			if (i > 0 && buf[i] == 0)
				return -EBADMSG;
			*v = r;
			return (int)i + 1;
		}
	}
	return -EBADMSG;
}

/* Protobuf varints may be 10 bytes and non-minimal: a separate reader. */
static int pb_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned i = 0; i < 10; i++) {
		if (*off >= len)
			return -EBADMSG;
		uint8_t b = p[(*off)++];
		if (i == 9 && b > 1)
			return -EBADMSG;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -EBADMSG;
}

int wm_pb_next(struct wm_pb_reader *r, struct wm_pb_field *f)
{
	size_t off = 0;
	uint64_t key, v;

	if (r->len == 0)
		return 0;
	if (pb_varint(r->p, r->len, &off, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
		return -EBADMSG;
	f->num = (uint32_t)(key >> 3);
	f->type = key & 7;
	f->buf = NULL;
	f->len = 0;
	f->v = 0;
	if (f->type == 0) {
		if (pb_varint(r->p, r->len, &off, &v))
			return -EBADMSG;
		f->v = v;
	} else if (f->type == 2) {
		if (pb_varint(r->p, r->len, &off, &v) || v > r->len - off)
			return -EBADMSG;
		f->buf = r->p + off;
		f->len = (size_t)v;
		off += (size_t)v;
	} else {
		return -EBADMSG;
	}
	r->p += off;
	r->len -= off;
	return 1;
}

static int put_raw(uint8_t *out, size_t cap, size_t *off, const void *buf, size_t len)
{
	if (len > cap - *off)
		return -ENOSPC;
	if (len)
		memcpy(out + *off, buf, len);
	*off += len;
	return 0;
}

int wm_pb_put_varint(uint8_t *out, size_t cap, size_t *off, uint32_t num, uint64_t v)
{
	uint8_t tmp[2 * 10];
	size_t n = 0;
	uint64_t key = (uint64_t)num << 3;

	/* Ten bytes for values >= 2^63, which multiformats varints cannot say. */
	do {
		tmp[n++] = (key & 0x7f) | (key >> 7 ? 0x80 : 0);
		key >>= 7;
	} while (key);
	do {
		tmp[n++] = (v & 0x7f) | (v >> 7 ? 0x80 : 0);
		v >>= 7;
	} while (v);
	return put_raw(out, cap, off, tmp, n);
}

int wm_pb_put_bytes(uint8_t *out, size_t cap, size_t *off, uint32_t num, const void *buf,
		    size_t len)
{
	uint8_t hdr[20];
	size_t n = 0;
	uint64_t key = ((uint64_t)num << 3) | 2, l = len;

	do {
		hdr[n++] = (key & 0x7f) | (key >> 7 ? 0x80 : 0);
		key >>= 7;
	} while (key);
	do {
		hdr[n++] = (l & 0x7f) | (l >> 7 ? 0x80 : 0);
		l >>= 7;
	} while (l);
	if (n + len > cap - *off)
		return -ENOSPC;
	put_raw(out, cap, off, hdr, n);
	return put_raw(out, cap, off, buf, len);
}

/* ---- multistream-select ---- */

static bool printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

int wm_ms_encode(const char *text, uint8_t *out, size_t cap)
{
	size_t n = strlen(text);
	uint8_t v[WM_VARINT_MAX];

	if (n == 0 || n + 1 > WM_MS_MAX || !printable((const uint8_t *)text, n))
		return -EINVAL;
	size_t vl = wm_varint_encode(n + 1, v);
	if (vl + n + 1 > cap)
		return -ENOSPC;
	memcpy(out, v, vl);
	memcpy(out + vl, text, n);
	out[vl + n] = '\n';
	return (int)(vl + n + 1);
}

int wm_varint_frame(const uint8_t *buf, size_t len, size_t max, const uint8_t **body, size_t *blen,
		    size_t *used)
{
	uint64_t n;
	int vl = wm_varint_decode(buf, len, &n);

	if (vl < 0)
		return -EBADMSG;
	if (vl == 0)
		return len >= WM_VARINT_MAX ? -EBADMSG : 0;
	if (n > max)
		return -EMSGSIZE;
	if (len - (size_t)vl < n)
		return 0;
	*body = buf + vl;
	*blen = (size_t)n;
	*used = (size_t)vl + (size_t)n;
	return 1;
}

int wm_ms_decode(const uint8_t *buf, size_t len, char *text, size_t cap, size_t *used)
{
	uint64_t n;
	int vl = wm_varint_decode(buf, len, &n);

	if (vl < 0)
		return -EBADMSG;
	if (vl == 0)
		return len >= WM_VARINT_MAX ? -EBADMSG : 0;
	/* An empty text ("\n" alone) names nothing: refused, as encode does. */
	if (n < 2 || n > WM_MS_MAX || n > cap)
		return -EBADMSG;
	if (len - (size_t)vl < n)
		return 0;
	const uint8_t *m = buf + vl;
	if (m[n - 1] != '\n' || !printable(m, n - 1))
		return -EBADMSG;
	memcpy(text, m, n - 1);
	text[n - 1] = '\0';
	*used = (size_t)vl + n;
	return 1;
}

/* ---- base58btc ---- */

static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int wm_base58_encode(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	uint8_t digits[256];
	size_t nd = 0, zeros = 0;

	if (len > 180)
		return -ENOSPC; /* 180 bytes need < 256 base-58 digits */
	while (zeros < len && buf[zeros] == 0)
		zeros++;
	for (size_t i = zeros; i < len; i++) {
		unsigned carry = buf[i];
		for (size_t j = 0; j < nd; j++) {
			carry += (unsigned)digits[j] << 8;
			digits[j] = carry % 58;
			carry /= 58;
		}
		while (carry) {
			digits[nd++] = carry % 58;
			carry /= 58;
		}
	}
	if (zeros + nd + 1 > cap)
		return -ENOSPC;
	size_t o = 0;
	for (size_t i = 0; i < zeros; i++)
		out[o++] = '1';
	while (nd)
		out[o++] = b58[digits[--nd]];
	out[o] = '\0';
	return 0;
}

int wm_base58_decode(const char *text, uint8_t *out, size_t cap)
{
	uint8_t bytes[256];
	size_t nb = 0, zeros = 0, tl = strlen(text);

	if (tl > 250)
		return -ENOSPC;
	while (text[zeros] == '1')
		zeros++;
	for (size_t i = zeros; i < tl; i++) {
		const char *c = strchr(b58, text[i]);
		if (!c || !*c)
			return -EINVAL;
		unsigned carry = (unsigned)(c - b58);
		for (size_t j = 0; j < nb; j++) {
			carry += (unsigned)bytes[j] * 58;
			bytes[j] = carry & 0xff;
			carry >>= 8;
		}
		while (carry) {
			bytes[nb++] = carry & 0xff;
			carry >>= 8;
		}
	}
	if (zeros + nb > cap)
		return -ENOSPC;
	memset(out, 0, zeros);
	for (size_t i = 0; i < nb; i++)
		out[zeros + i] = bytes[nb - 1 - i];
	return (int)(zeros + nb);
}

/* ---- peer IDs ---- */

void wm_p2p_pubkey_encode(const uint8_t pk[32], uint8_t out[WM_PUBKEY_PB_LEN])
{
	/* PublicKey{Type (1) = Ed25519 (1), Data (2) = 32 bytes} */
	out[0] = 0x08;
	out[1] = 0x01;
	out[2] = 0x12;
	out[3] = 0x20;
	memcpy(out + 4, pk, 32);
}

int wm_p2p_pubkey_decode(const uint8_t *buf, size_t len, uint8_t pk[32])
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	int rc, seen = 0;
	uint64_t type = 0;

	while ((rc = wm_pb_next(&r, &f)) > 0) {
		if (f.num == 1 && f.type == 0 && seen == 0) {
			type = f.v;
			seen = 1;
		} else if (f.num == 2 && f.type == 2 && seen == 1) {
			if (type != 1)
				return -EPROTONOSUPPORT;
			if (f.len != 32)
				return -EBADMSG;
			memcpy(pk, f.buf, 32);
			seen = 2;
		} else {
			return -EBADMSG;
		}
	}
	if (rc < 0 || seen != 2)
		return seen == 1 && type != 1 ? -EPROTONOSUPPORT : -EBADMSG;
	return 0;
}

void wm_peer_id_from_pubkey(const uint8_t pk[32], struct wm_peer_id *id)
{
	id->b[0] = 0x00; /* identity multihash: the key fits in 42 bytes */
	id->b[1] = WM_PUBKEY_PB_LEN;
	wm_p2p_pubkey_encode(pk, id->b + 2);
}

int wm_peer_id_from_bytes(const uint8_t *buf, size_t len, struct wm_peer_id *id, uint8_t pk[32])
{
	uint8_t k[32];

	if (len >= 2 && buf[0] == 0x12 && buf[1] == 0x20 && len == 34)
		return -EPROTONOSUPPORT;
	if (len != WM_PEERID_LEN || buf[0] != 0x00 || buf[1] != WM_PUBKEY_PB_LEN)
		return -EBADMSG;
	int rc = wm_p2p_pubkey_decode(buf + 2, len - 2, k);
	if (rc)
		return rc;
	/* Only the deterministic encoding names a key: re-encode and compare. */
	wm_peer_id_from_pubkey(k, id);
	if (memcmp(id->b, buf, WM_PEERID_LEN))
		return -EBADMSG;
	if (pk)
		memcpy(pk, k, 32);
	return 0;
}

int wm_peer_id_parse(const char *text, struct wm_peer_id *id)
{
	uint8_t b[64];
	int n;

	if (!text || !*text || strlen(text) >= WM_PEERID_TEXT_MAX)
		return -EINVAL;
	n = wm_base58_decode(text, b, sizeof(b));
	if (n < 0)
		return -EINVAL;
	return wm_peer_id_from_bytes(b, (size_t)n, id, NULL);
}

void wm_peer_id_print(const struct wm_peer_id *id, char out[WM_PEERID_TEXT_MAX])
{
	if (wm_base58_encode(id->b, WM_PEERID_LEN, out, WM_PEERID_TEXT_MAX))
		out[0] = '\0'; /* cannot happen: 38 bytes are 52 characters */
}

bool wm_peer_id_equal(const struct wm_peer_id *a, const struct wm_peer_id *b)
{
	return memcmp(a->b, b->b, WM_PEERID_LEN) == 0;
}

/* ---- multiaddrs ---- */

enum vkind { V_NONE, V_IP4, V_IP6, V_PORT, V_STR, V_P2P };

static const struct proto {
	const char *name;
	uint32_t code;
	enum vkind kind;
} protos[] = {
	{"ip4", 4, V_IP4},	  {"tcp", 6, V_PORT},	{"udp", 273, V_PORT},
	{"dns", 53, V_STR},	  {"dns4", 54, V_STR},	{"dns6", 55, V_STR},
	{"ip6", 41, V_IP6},	  {"p2p", 421, V_P2P},	{"p2p-circuit", 290, V_NONE},
	{"quic-v1", 461, V_NONE}, {"tls", 448, V_NONE}, {"ws", 477, V_NONE},
	{"wss", 478, V_NONE},
};

static const struct proto *proto_by_name(const char *n, size_t len)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strlen(protos[i].name) == len && !memcmp(protos[i].name, n, len))
			return &protos[i];
	return NULL;
}

static const struct proto *proto_by_code(uint64_t c)
{
	for (size_t i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (protos[i].code == c)
			return &protos[i];
	return NULL;
}

static int put_varint(uint8_t *out, size_t cap, size_t *off, uint64_t v)
{
	uint8_t t[WM_VARINT_MAX];

	return put_raw(out, cap, off, t, wm_varint_encode(v, t));
}

int wm_maddr_parse(const char *text, uint8_t *out, size_t cap, char *err, size_t errlen)
{
	const char *s = text;
	size_t off = 0;

	if (!text || text[0] != '/' || strlen(text) >= WM_MADDR_TEXT_MAX) {
		wm_seterr(err, errlen,
			  "multiaddr \"%s\" must start with / (e.g. /ip4/1.2.3.4/tcp/4001)",
			  text ? text : "");
		return -EINVAL;
	}
	while (*s) {
		char val[WM_MADDR_TEXT_MAX];
		const char *n = s + 1, *e = strchr(n, '/');
		size_t nl = e ? (size_t)(e - n) : strlen(n);
		const struct proto *p = proto_by_name(n, nl);

		if (!p) {
			wm_seterr(err, errlen, "multiaddr \"%s\": unknown protocol \"%.*s\"", text,
				  (int)nl, n);
			return -EINVAL;
		}
		s = n + nl;
		if (put_varint(out, cap, &off, p->code))
			goto nospace;
		if (p->kind == V_NONE)
			continue;
		if (*s != '/' || s[1] == '/' || s[1] == '\0') {
			wm_seterr(err, errlen, "multiaddr \"%s\": /%s needs a value", text,
				  p->name);
			return -EINVAL;
		}
		n = s + 1;
		e = strchr(n, '/');
		nl = e ? (size_t)(e - n) : strlen(n);
		memcpy(val, n, nl);
		val[nl] = '\0';
		s = n + nl;
		if (p->kind == V_IP4 || p->kind == V_IP6) {
			uint8_t a[16];
			if (inet_pton(p->kind == V_IP4 ? AF_INET : AF_INET6, val, a) != 1) {
				wm_seterr(err, errlen,
					  "multiaddr \"%s\": \"%s\" is not an %s address", text,
					  val, p->name);
				return -EINVAL;
			}
			if (put_raw(out, cap, &off, a, p->kind == V_IP4 ? 4 : 16))
				goto nospace;
		} else if (p->kind == V_PORT) {
			char *end;
			unsigned long port = strtoul(val, &end, 10);
			if (*end || val[0] < '0' || val[0] > '9' || port > 65535 || nl > 5) {
				wm_seterr(err, errlen,
					  "multiaddr \"%s\": port \"%s\" is not 0..65535", text,
					  val);
				return -EINVAL;
			}
			uint8_t b[2] = {(uint8_t)(port >> 8), (uint8_t)port};
			if (put_raw(out, cap, &off, b, 2))
				goto nospace;
		} else if (p->kind == V_STR) {
			if (!printable((const uint8_t *)val, nl)) {
				wm_seterr(err, errlen, "multiaddr: /%s holds a non-printable byte",
					  p->name);
				return -EINVAL;
			}
			if (put_varint(out, cap, &off, nl) || put_raw(out, cap, &off, val, nl))
				goto nospace;
		} else {
			struct wm_peer_id id;
			if (wm_peer_id_parse(val, &id)) {
				wm_seterr(err, errlen,
					  "multiaddr \"%s\": \"%s\" is not an Ed25519 peer ID "
					  "(12D3KooW...)",
					  text, val);
				return -EINVAL;
			}
			if (put_varint(out, cap, &off, WM_PEERID_LEN) ||
			    put_raw(out, cap, &off, id.b, WM_PEERID_LEN))
				goto nospace;
		}
	}
	return (int)off;
nospace:
	wm_seterr(err, errlen, "multiaddr \"%s\" is too long", text);
	return -EINVAL;
}

/* Walks one component: its protocol and value. */
static int next_comp(const uint8_t *buf, size_t len, size_t *off, const struct proto **p,
		     const uint8_t **val, size_t *vlen)
{
	uint64_t code, l;
	int n = wm_varint_decode(buf + *off, len - *off, &code);

	if (n <= 0)
		return -EBADMSG;
	*off += (size_t)n;
	*p = proto_by_code(code);
	if (!*p)
		return -EPROTONOSUPPORT;
	switch ((*p)->kind) {
	case V_NONE:
		l = 0;
		break;
	case V_IP4:
		l = 4;
		break;
	case V_IP6:
		l = 16;
		break;
	case V_PORT:
		l = 2;
		break;
	default:
		n = wm_varint_decode(buf + *off, len - *off, &l);
		if (n <= 0)
			return -EBADMSG;
		*off += (size_t)n;
	}
	if (l > len - *off)
		return -EBADMSG;
	*val = buf + *off;
	*vlen = (size_t)l;
	*off += (size_t)l;
	return 0;
}

int wm_maddr_print(const uint8_t *buf, size_t len, char *out, size_t cap)
{
	size_t off = 0, o = 0;

	if (len == 0 || cap == 0)
		return -EBADMSG;
	out[0] = '\0';
	while (off < len) {
		const struct proto *p;
		const uint8_t *v;
		size_t vl;
		char val[WM_MADDR_TEXT_MAX] = "";
		int rc = next_comp(buf, len, &off, &p, &v, &vl);

		if (rc)
			return rc;
		switch (p->kind) {
		case V_IP4:
		case V_IP6:
			inet_ntop(p->kind == V_IP4 ? AF_INET : AF_INET6, v, val, sizeof(val));
			break;
		case V_PORT:
			snprintf(val, sizeof(val), "%u", (unsigned)(v[0] << 8 | v[1]));
			break;
		case V_STR:
			if (vl == 0 || vl >= sizeof(val) || !printable(v, vl) || memchr(v, '/', vl))
				return -EBADMSG;
			memcpy(val, v, vl);
			val[vl] = '\0';
			break;
		case V_P2P: {
			/* Only what parse accepts back: Ed25519 peer IDs. */
			struct wm_peer_id id;
			int r = wm_peer_id_from_bytes(v, vl, &id, NULL);
			if (r)
				return r;
			wm_peer_id_print(&id, val);
			break;
		}
		case V_NONE:
			break;
		}
		int w = snprintf(out + o, cap - o, p->kind == V_NONE ? "/%s" : "/%s/%s", p->name,
				 val);
		if (w < 0 || (size_t)w >= cap - o)
			return -ENOSPC;
		o += (size_t)w;
	}
	return 0;
}

int wm_maddr_to_tcp(const uint8_t *buf, size_t len, struct wm_maddr_tcp *out)
{
	size_t off = 0;
	const struct proto *p;
	const uint8_t *v;
	size_t vl;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = next_comp(buf, len, &off, &p, &v, &vl)))
		return rc;
	if (p->kind != V_IP4 && p->kind != V_IP6)
		return -EINVAL;
	out->family = p->kind == V_IP4 ? 4 : 6;
	memcpy(out->ip, v, vl);
	if (off >= len)
		return -EINVAL;
	if ((rc = next_comp(buf, len, &off, &p, &v, &vl)))
		return rc;
	if (p->code != 6)
		return -EINVAL;
	out->port = (uint16_t)(v[0] << 8 | v[1]);
	if (off == len)
		return 0;
	if ((rc = next_comp(buf, len, &off, &p, &v, &vl)))
		return rc;
	if (p->kind != V_P2P || off != len)
		return -EINVAL;
	rc = wm_peer_id_from_bytes(v, vl, &out->peer, NULL);
	if (rc)
		return rc;
	out->has_peer = true;
	return 0;
}

int wm_maddr_from_tcp(const struct wm_maddr_tcp *in, uint8_t *out, size_t cap)
{
	size_t off = 0;
	uint8_t port[2] = {(uint8_t)(in->port >> 8), (uint8_t)in->port};

	if (put_varint(out, cap, &off, in->family == 4 ? 4 : 41) ||
	    put_raw(out, cap, &off, in->ip, in->family == 4 ? 4 : 16) ||
	    put_varint(out, cap, &off, 6) || put_raw(out, cap, &off, port, 2))
		return -ENOSPC;
	if (in->has_peer &&
	    (put_varint(out, cap, &off, 421) || put_varint(out, cap, &off, WM_PEERID_LEN) ||
	     put_raw(out, cap, &off, in->peer.b, WM_PEERID_LEN)))
		return -ENOSPC;
	return (int)off;
}
