/* Identify messages (see identify.h). */
#include "p2p/identify.h"

#include <errno.h>
#include <string.h>

int wm_identify_encode(const struct wm_identify *m, uint8_t *out, size_t cap)
{
	size_t off = 0;
	uint8_t pk[WM_PUBKEY_PB_LEN];
	int rc = 0;

	if (m->has_pubkey) {
		wm_p2p_pubkey_encode(m->pubkey, pk);
		rc = wm_pb_put_bytes(out, cap, &off, 1, pk, sizeof(pk));
	}
	for (size_t i = 0; !rc && i < m->nlisten && i < WM_IDENTIFY_ADDRS; i++)
		rc = wm_pb_put_bytes(out, cap, &off, 2, m->listen[i], m->listen_len[i]);
	for (size_t i = 0; !rc && i < m->nprotocols && i < WM_IDENTIFY_PROTOS; i++)
		rc = wm_pb_put_bytes(out, cap, &off, 3, m->protocols[i], strlen(m->protocols[i]));
	if (!rc && m->observed_len)
		rc = wm_pb_put_bytes(out, cap, &off, 4, m->observed, m->observed_len);
	if (!rc && m->protocol_version[0])
		rc = wm_pb_put_bytes(out, cap, &off, 5, m->protocol_version,
				     strlen(m->protocol_version));
	if (!rc && m->agent_version[0])
		rc = wm_pb_put_bytes(out, cap, &off, 6, m->agent_version, strlen(m->agent_version));
	return rc ? rc : (int)off;
}

static int copy_str(const struct wm_pb_field *f, char *out, size_t cap, bool *kept)
{
	*kept = false;
	for (size_t i = 0; i < f->len; i++)
		if (f->buf[i] < 0x20 || f->buf[i] > 0x7e)
			return -EBADMSG;
	if (f->len >= cap)
		return 0;
	memcpy(out, f->buf, f->len);
	out[f->len] = '\0';
	*kept = true;
	return 0;
}

int wm_identify_decode(const uint8_t *buf, size_t len, struct wm_identify *m)
{
	struct wm_pb_reader r = {buf, len};
	struct wm_pb_field f;
	bool kept;
	int rc;

	memset(m, 0, sizeof(*m));
	while ((rc = wm_pb_next(&r, &f)) > 0) {
		if (f.num >= 1 && f.num <= 6 && f.type != 2)
			return -EBADMSG;
		switch (f.num) {
		case 1:
			m->has_pubkey = wm_p2p_pubkey_decode(f.buf, f.len, m->pubkey) == 0;
			break;
		case 2:
			if (m->nlisten < WM_IDENTIFY_ADDRS && f.len && f.len <= WM_MADDR_MAX) {
				memcpy(m->listen[m->nlisten], f.buf, f.len);
				m->listen_len[m->nlisten++] = f.len;
			}
			break;
		case 3:
			if (m->nprotocols < WM_IDENTIFY_PROTOS) {
				if (copy_str(&f, m->protocols[m->nprotocols], WM_IDENTIFY_STR,
					     &kept))
					return -EBADMSG;
				m->nprotocols += kept;
			}
			break;
		case 4:
			if (f.len && f.len <= WM_MADDR_MAX) {
				memcpy(m->observed, f.buf, f.len);
				m->observed_len = f.len;
			}
			break;
		case 5:
			if (copy_str(&f, m->protocol_version, WM_IDENTIFY_STR, &kept))
				return -EBADMSG;
			break;
		case 6:
			if (copy_str(&f, m->agent_version, WM_IDENTIFY_STR, &kept))
				return -EBADMSG;
			break;
		default: /* signedPeerRecord and later fields: not used here */
			break;
		}
	}
	return rc < 0 ? -EBADMSG : 0;
}
