/* libFuzzer harness: arbitrary bytes as a binary multiaddr (identify's
 * listenAddrs and observedAddr) and as multiaddr text (libp2p-listen,
 * libp2p-peers), src/core/p2pwire.c; also as a peer ID's multihash.
 *
 * Checks beyond "no crash": binary that prints parses back to the same
 * bytes; text that parses prints to text that parses to the same bytes; a
 * TCP address converts back to the bytes it came from; an accepted peer ID
 * prints and parses back to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/p2pwire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[WM_MADDR_TEXT_MAX], err[256], in[WM_MADDR_TEXT_MAX];
	uint8_t b[WM_MADDR_MAX * 2], b2[WM_MADDR_MAX * 2];
	struct wm_maddr_tcp t;
	struct wm_peer_id id, id2;

	if (wm_maddr_print(data, size, text, sizeof(text)) == 0) {
		int n = wm_maddr_parse(text, b, sizeof(b), err, sizeof(err));
		if (n != (int)size || memcmp(b, data, size))
			abort();
	}
	if (wm_maddr_to_tcp(data, size, &t) == 0) {
		int n = wm_maddr_from_tcp(&t, b, sizeof(b));
		if (n != (int)size || memcmp(b, data, size))
			abort();
	}
	if (wm_peer_id_from_bytes(data, size, &id, NULL) == 0) {
		char s[WM_PEERID_TEXT_MAX];
		wm_peer_id_print(&id, s);
		if (wm_peer_id_parse(s, &id2) || !wm_peer_id_equal(&id, &id2))
			abort();
	}
	if (size < sizeof(in)) {
		memcpy(in, data, size);
		in[size] = '\0';
		int n = wm_maddr_parse(in, b, sizeof(b), err, sizeof(err));
		if (n > 0) {
			if (wm_maddr_print(b, (size_t)n, text, sizeof(text)))
				abort();
			int n2 = wm_maddr_parse(text, b2, sizeof(b2), err, sizeof(err));
			if (n2 != n || memcmp(b, b2, (size_t)n))
				abort();
		}
	}
	return 0;
}
