/* /webmesh/wg/1.0.0 framing: length-prefixed WireGuard datagrams. */
#include "core/p2pwg.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/p2pwire.h"

int wm_p2pwg_header(size_t len, uint8_t hdr[WM_P2PWG_HDR])
{
	if (len == 0 || len > WM_P2PWG_DGRAM_MAX)
		return -EMSGSIZE;
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	return 0;
}

int wm_p2pwg_next(const uint8_t *buf, size_t len, const uint8_t **dgram, size_t *dlen, size_t *used)
{
	size_t n;

	if (len < WM_P2PWG_HDR)
		return 0;
	n = (size_t)buf[0] << 8 | buf[1];
	/* Checked before waiting for the body: a peer announcing a giant
	 * datagram is refused at once, not after we buffered it. */
	if (n == 0 || n > WM_P2PWG_DGRAM_MAX)
		return -EBADMSG;
	if (len - WM_P2PWG_HDR < n)
		return 0;
	*dgram = buf + WM_P2PWG_HDR;
	*dlen = n;
	*used = WM_P2PWG_HDR + n;
	return 1;
}

int wm_p2p_pub_canon(const char *peer_id, char *const *addrs, size_t n,
		     char id_out[WM_P2P_PUB_ID_MAX], char addrs_out[WM_P2P_PUB_ADDRS_MAX],
		     char *why, size_t whylen)
{
	struct wm_peer_id id;
	size_t used = 0;

	id_out[0] = addrs_out[0] = '\0';
	if (!peer_id || !*peer_id) {
		if (n == 0)
			return 0;
		snprintf(why, whylen, "libp2p addresses without a libp2p peer ID");
		return -EINVAL;
	}
	if (strlen(peer_id) >= WM_P2P_PUB_ID_MAX || wm_peer_id_parse(peer_id, &id)) {
		snprintf(why, whylen, "\"%.64s\" is not a libp2p peer ID", peer_id);
		return -EINVAL;
	}
	wm_peer_id_print(&id, id_out);
	if (n > WM_P2P_PUB_ADDRS) {
		snprintf(why, whylen, "too many libp2p addresses (%zu, at most %d)", n,
			 WM_P2P_PUB_ADDRS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		uint8_t b[WM_MADDR_MAX];
		char e[128], text[WM_MADDR_TEXT_MAX];
		struct wm_maddr_tcp t;
		int len = addrs[i] ? wm_maddr_parse(addrs[i], b, sizeof(b), e, sizeof(e)) : -EINVAL;

		if (len < 0 || wm_maddr_to_tcp(b, (size_t)len, &t)) {
			snprintf(why, whylen,
				 "libp2p address \"%.64s\" is not /ip4|ip6/ADDR/tcp/PORT[/p2p/ID]",
				 addrs[i] ? addrs[i] : "");
			return -EINVAL;
		}
		if (t.has_peer && !wm_peer_id_equal(&t.peer, &id)) {
			snprintf(why, whylen, "libp2p address \"%.64s\" names another peer",
				 addrs[i]);
			return -EINVAL;
		}
		t.has_peer = false;
		len = wm_maddr_from_tcp(&t, b, sizeof(b));
		if (len < 0 || wm_maddr_print(b, (size_t)len, text, sizeof(text)) ||
		    strlen(text) >= WM_P2P_PUB_ADDR_MAX) {
			snprintf(why, whylen, "libp2p address \"%.64s\" is too long", addrs[i]);
			return -EINVAL;
		}
		used += (size_t)snprintf(addrs_out + used, WM_P2P_PUB_ADDRS_MAX - used, "%s%s",
					 i ? "," : "", text);
	}
	return 0;
}

size_t wm_p2p_pub_split(char *buf, char **out, size_t max)
{
	size_t n = 0;

	for (char *p = buf; p && *p && n < max;) {
		char *c = strchr(p, ',');
		out[n++] = p;
		if (c)
			*c++ = '\0';
		p = c;
	}
	return n;
}
