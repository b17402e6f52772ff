/* /webmesh/wg/1.0.0 framing: length-prefixed WireGuard datagrams. */
#include "core/p2pwg.h"

#include <errno.h>

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
