/* libFuzzer harness: arbitrary bytes as a /webmesh/wg/1.0.0 stream
 * (src/core/p2pwg.c), as a libp2p peer sends it.
 *
 * Checks beyond "no crash": every datagram decoded lies inside the input,
 * is within the bound, and re-encodes to exactly the bytes it was read
 * from; a prefix of a decoded frame is never an error, only incomplete. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/p2pwg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	for (int i = 0; i < 1024 && off < size; i++) {
		const uint8_t *d;
		size_t dl, used;
		uint8_t hdr[WM_P2PWG_HDR];
		int rc = wm_p2pwg_next(data + off, size - off, &d, &dl, &used);

		if (rc <= 0)
			break;
		if (dl == 0 || dl > WM_P2PWG_DGRAM_MAX || used != dl + WM_P2PWG_HDR ||
		    d != data + off + WM_P2PWG_HDR || off + used > size)
			abort();
		if (wm_p2pwg_header(dl, hdr) || memcmp(hdr, data + off, WM_P2PWG_HDR))
			abort();
		for (size_t k = WM_P2PWG_HDR; k < used; k++)
			if (wm_p2pwg_next(data + off, k, &d, &dl, &used) != 0)
				abort();
		off += dl + WM_P2PWG_HDR;
	}
	return 0;
}
