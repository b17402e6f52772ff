/* The secure channel's framing after the Noise handshake (libp2p
 * noise/README.md): each transport message is a 2-byte big-endian length
 * and that many bytes of ciphertext with its 16-byte tag, so at most
 * WM_NOISE_MAX. No I/O: the host gives the bytes it read and gets back
 * whole frames, opened in place, one at a time. */
#ifndef WM_P2P_NOISEFRAME_H
#define WM_P2P_NOISEFRAME_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/noise.h"

#define WM_NOISE_FRAME_HDR 2

/* The next frame of buf[0..len), opened with rx (its nonce advances):
 *   1   *used is the bytes it took (2 + its length) and its plaintext,
 *       decrypted in place, is (*pt, *pl) inside buf;
 *   0   buf holds no whole frame yet (*used is 0): read more;
 *   -EBADMSG  a frame shorter than a tag, or one whose tag does not verify
 *       (forged, corrupted, or sealed under another key or nonce);
 *   -EOVERFLOW  rx's nonces are used up.
 * After an error the channel is broken (rx's nonce no longer matches the
 * sender's): the caller closes the connection. */
int wm_noise_frame_open(struct wm_noise_cs *rx, uint8_t *buf, size_t len, size_t *used,
			uint8_t **pt, size_t *pl);

/* Seals pt[0..len) with tx as one frame into out (room for
 * len + WM_NOISE_FRAME_HDR + WM_NOISE_TAG): the bytes written, -EMSGSIZE
 * beyond WM_NOISE_PLAIN_MAX, or wm_noise_encrypt's error. */
int wm_noise_frame_seal(struct wm_noise_cs *tx, const uint8_t *pt, size_t len, uint8_t *out);
#endif
