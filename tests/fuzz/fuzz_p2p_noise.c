/* libFuzzer harness: arbitrary bytes as what a libp2p dialer sends a Noise
 * responder (src/p2p/noise.c): 2-byte length-prefixed frames holding
 * message 1, then message 3, then transport messages, against fixed keys.
 *
 * Checks beyond "no crash": the handshake never completes from these
 * bytes (message 3 needs a MAC under keys the input cannot know); a payload
 * is never longer than its message; our reply to an accepted message 1 is
 * written unless the peer's ephemeral key is refused by X25519.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t s[32] = {1, 2, 3}, e[32] = {4, 5, 6}, id[32] = {7, 8, 9};
	struct wm_noise_hs hs;
	static uint8_t payload[WM_NOISE_MAX], out[WM_NOISE_MAX + 128];
	size_t off = 0;

	if (wm_noise_hs_init(&hs, false, s, e, NULL, 0))
		abort();
	for (int i = 0; i < 8 && size - off >= 2; i++) {
		size_t fl = (size_t)data[off] << 8 | data[off + 1];
		off += 2;
		if (fl > size - off)
			break;
		int n = wm_noise_hs_read(&hs, data + off, fl, payload, sizeof(payload));
		off += fl;
		if (n < 0)
			break;
		if ((size_t)n > fl)
			abort();
		if (hs.step == 3)
			abort(); /* message 3 was forged */
		int pl = wm_p2p_noise_payload(id, hs.s_pub, payload, 512);
		if (pl < 0)
			abort();
		/* A low-order ephemeral key from the peer fails our DH: refused. */
		int w = wm_noise_hs_write(&hs, payload, (size_t)pl, out, sizeof(out));
		if (w == -ENOSPC || w == -EPROTO)
			abort();
		if (w < 0)
			break;
	}
	wm_noise_hs_wipe(&hs);
	return 0;
}
