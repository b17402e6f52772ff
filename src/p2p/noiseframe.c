/* Noise transport frames: splitting and opening what a peer sent, and
 * sealing (see noiseframe.h). */
#include "p2p/noiseframe.h"

#include <errno.h>

int wm_noise_frame_open(struct wm_noise_cs *rx, uint8_t *buf, size_t len, size_t *used,
			uint8_t **pt, size_t *pl)
{
	*used = 0;
	*pt = NULL;
	*pl = 0;
	if (len < WM_NOISE_FRAME_HDR)
		return 0;
	size_t fl = (size_t)buf[0] << 8 | buf[1];
	/* Known as soon as the length is: no need to wait for the rest of a
	 * frame that can never open (and without a key, decrypt would pass
	 * it). */
	if (fl < WM_NOISE_TAG)
		return -EBADMSG;
	if (len - WM_NOISE_FRAME_HDR < fl)
		return 0;
	uint8_t *ct = buf + WM_NOISE_FRAME_HDR;
	int rc = wm_noise_decrypt(rx, NULL, 0, ct, fl, ct);
	if (rc)
		return rc;
	*used = WM_NOISE_FRAME_HDR + fl;
	*pt = ct;
	*pl = fl - WM_NOISE_TAG;
	return 1;
}

int wm_noise_frame_seal(struct wm_noise_cs *tx, const uint8_t *pt, size_t len, uint8_t *out)
{
	if (len > WM_NOISE_PLAIN_MAX)
		return -EMSGSIZE;
	size_t fl = len + WM_NOISE_TAG;
	int rc = wm_noise_encrypt(tx, NULL, 0, pt, len, out + WM_NOISE_FRAME_HDR);
	if (rc)
		return rc;
	out[0] = (uint8_t)(fl >> 8);
	out[1] = (uint8_t)fl;
	return (int)(WM_NOISE_FRAME_HDR + fl);
}
