/* DCUtR messages and punch targets (see p2pdcutr.h). */
#include "core/p2pdcutr.h"

#include <errno.h>
#include <string.h>

int wm_dcutr_decode(const uint8_t *buf, size_t len, struct wm_dcutr_msg *m)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	bool has_type = false;
	int rc;

	memset(m, 0, sizeof(*m));
	if (len > WM_DCUTR_MSG_MAX)
		return -EMSGSIZE;
	while ((rc = wm_pb_next(&r, &f)) == 1) {
		if (f.num == 1 && f.type == 0) {
			if (f.v != WM_DCUTR_CONNECT && f.v != WM_DCUTR_SYNC)
				return -EBADMSG;
			m->type = (uint32_t)f.v;
			has_type = true;
		} else if (f.num == 2 && f.type == 2) {
			/* Extra or over-long addresses are dropped: none is needed. */
			if (m->naddrs < WM_DCUTR_ADDRS && f.len && f.len <= WM_MADDR_MAX) {
				memcpy(m->addrs[m->naddrs], f.buf, f.len);
				m->len[m->naddrs++] = f.len;
			}
		} else if (f.num <= 2) {
			return -EBADMSG;
		}
	}
	return rc < 0 || !has_type ? -EBADMSG : 0;
}

int wm_dcutr_encode(const struct wm_dcutr_msg *m, uint8_t *out, size_t cap)
{
	size_t off = 0;
	int rc;

	if ((m->type != WM_DCUTR_CONNECT && m->type != WM_DCUTR_SYNC) || m->naddrs > WM_DCUTR_ADDRS)
		return -EINVAL;
	if ((rc = wm_pb_put_varint(out, cap, &off, 1, m->type)))
		return rc;
	for (size_t i = 0; i < m->naddrs; i++)
		if ((rc = wm_pb_put_bytes(out, cap, &off, 2, m->addrs[i], m->len[i])))
			return rc;
	return (int)off;
}

int wm_dcutr_read(const uint8_t *buf, size_t len, struct wm_dcutr_msg *m, size_t *used)
{
	const uint8_t *body;
	size_t blen, took;
	int rc = wm_varint_frame(buf, len, WM_DCUTR_MSG_MAX, &body, &blen, &took);

	if (rc <= 0)
		return rc;
	if ((rc = wm_dcutr_decode(body, blen, m)))
		return rc;
	*used = took;
	return 1;
}

int wm_dcutr_write(const struct wm_dcutr_msg *m, uint8_t *out, size_t cap)
{
	uint8_t body[WM_DCUTR_MSG_MAX], v[WM_VARINT_MAX];
	int n = wm_dcutr_encode(m, body, sizeof(body));

	if (n < 0)
		return n;
	size_t vl = wm_varint_encode((uint64_t)n, v);
	if (cap < vl + (size_t)n)
		return -ENOSPC;
	memcpy(out, v, vl);
	memcpy(out + vl, body, (size_t)n);
	return (int)(vl + (size_t)n);
}

static bool usable(const struct wm_maddr_tcp *t)
{
	static const uint8_t zero[16];

	if (t->port == 0)
		return false;
	if (t->family == 4)
		return memcmp(t->ip, zero, 4) && t->ip[0] != 127 && (t->ip[0] & 0xf0) != 0xe0 &&
		       !(t->ip[0] == 255 && t->ip[1] == 255 && t->ip[2] == 255 && t->ip[3] == 255);
	static const uint8_t loop6[16] = {[15] = 1};
	return memcmp(t->ip, zero, 16) && memcmp(t->ip, loop6, 16) && t->ip[0] != 0xff &&
	       !(t->ip[0] == 0xfe && (t->ip[1] & 0xc0) == 0x80); /* link-local needs a zone */
}

size_t wm_dcutr_targets(const struct wm_dcutr_msg *m, const struct wm_peer_id *peer,
			struct wm_maddr_tcp *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < m->naddrs && n < max; i++) {
		struct wm_maddr_tcp t;
		if (wm_maddr_to_tcp(m->addrs[i], m->len[i], &t) || !usable(&t))
			continue;
		if (t.has_peer && !wm_peer_id_equal(&t.peer, peer))
			continue; /* an address of someone else: not ours to dial */
		t.has_peer = false;
		bool dup = false;
		for (size_t k = 0; k < n && !dup; k++)
			dup = out[k].family == t.family && out[k].port == t.port &&
			      !memcmp(out[k].ip, t.ip, t.family == 4 ? 4 : 16);
		if (!dup)
			out[n++] = t;
	}
	return n;
}
