/* libFuzzer harness: arbitrary bytes as the yamux stream a libp2p peer
 * sends after the handshake (src/p2p/yamux.c), fed in uneven pieces to a
 * listener session that accepts streams, echoes their data (so that our
 * send windows and held-back data are exercised) and closes on the peer's
 * FIN, as the host does.
 *
 * Checks beyond "no crash": the session never holds more streams than its
 * limit; every frame it sends has a valid header; once it reports a
 * protocol error the harness stops, as the host closes the connection.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/yamux.h"

#define MAX_STREAMS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wm_yamux y;

static void f_send(void *ud, const uint8_t *buf, size_t len)
{
	struct wm_yamux_hdr h;

	(void)ud;
	if (len < WM_YAMUX_HDR_LEN || wm_yamux_hdr_decode(buf, &h))
		abort();
	if (h.type == WM_YAMUX_DATA && h.length != len - WM_YAMUX_HDR_LEN)
		abort();
}

static int f_open(void *ud, uint32_t id)
{
	(void)ud;
	if (id % 7 == 0)
		return -1; /* refuse some */
	/* Some get the larger window WireGuard's streams have: the peer's
	 * frames are checked against that instead. */
	if (id % 4 == 1 && wm_yamux_set_window(&y, id, 4 * WM_YAMUX_WINDOW))
		abort();
	return 0;
}

static void f_data(void *ud, uint32_t id, const uint8_t *buf, size_t len)
{
	(void)ud;
	wm_yamux_write(&y, id, buf, len);
}

static void f_fin(void *ud, uint32_t id)
{
	(void)ud;
	wm_yamux_close(&y, id);
}

static const struct wm_yamux_cb cb = {
	.send = f_send, .stream_open = f_open, .stream_data = f_data, .stream_fin = f_fin};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (wm_yamux_init(&y, false, MAX_STREAMS, &cb, NULL))
		return 0;
	while (off < size) {
		size_t n = 1 + data[off] % 29;
		if (n > size - off)
			n = size - off;
		if (wm_yamux_feed(&y, data + off, n))
			break;
		if (wm_yamux_count(&y) > MAX_STREAMS)
			abort();
		off += n;
	}
	wm_yamux_free(&y);
	return 0;
}
