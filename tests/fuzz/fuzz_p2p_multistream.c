/* libFuzzer harness: arbitrary bytes as a stream of multistream-select
 * messages and unsigned varints (src/core/p2pwire.c), as a libp2p peer
 * sends them before and after the Noise handshake.
 *
 * Checks beyond "no crash": every message decoded re-encodes to exactly the
 * bytes it was read from (one spelling per message), and so does every
 * varint; a prefix of a decoded message is never an error, only incomplete.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/p2pwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[WM_MS_MAX];
	uint8_t enc[WM_MS_MAX + WM_VARINT_MAX];
	size_t off = 0, used;
	uint64_t v;

	int vl = wm_varint_decode(data, size, &v);
	if (vl > 0) {
		uint8_t b[WM_VARINT_MAX];
		if (wm_varint_encode(v, b) != (size_t)vl || memcmp(b, data, (size_t)vl))
			abort();
	}
	for (int i = 0; i < 64 && off < size; i++) {
		int rc = wm_ms_decode(data + off, size - off, text, sizeof(text), &used);
		if (rc <= 0)
			break;
		int n = wm_ms_encode(text, enc, sizeof(enc));
		if (n != (int)used || memcmp(enc, data + off, used))
			abort();
		for (size_t k = 0; k < used; k++)
			if (wm_ms_decode(data + off, k, text, sizeof(text), &used) != 0)
				abort();
		off += (size_t)n;
	}
	return 0;
}
