/* libFuzzer harness: arbitrary bytes as a DCUtR HolePunch message, framed
 * and not (src/core/p2pdcutr.c), which a libp2p peer chooses.
 *
 * Checks beyond "no crash": a decoded message re-encodes to bytes that
 * decode to the same type and addresses; every punch target is a TCP
 * address with a port and without a /p2p part.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/p2pdcutr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wm_dcutr_msg m, m2;
	static uint8_t buf[WM_DCUTR_MSG_MAX + WM_VARINT_MAX];
	struct wm_maddr_tcp t[WM_DCUTR_ADDRS];
	struct wm_peer_id peer;
	uint8_t pk[32] = {0};
	size_t used = 0;

	if (wm_dcutr_decode(data, size, &m) == 0) {
		int n = wm_dcutr_encode(&m, buf, sizeof(buf));
		if (n < 0 || wm_dcutr_decode(buf, (size_t)n, &m2) || m.type != m2.type ||
		    m.naddrs != m2.naddrs)
			abort();
		for (size_t i = 0; i < m.naddrs; i++)
			if (m.len[i] != m2.len[i] || memcmp(m.addrs[i], m2.addrs[i], m.len[i]))
				abort();
		wm_peer_id_from_pubkey(pk, &peer);
		size_t k = wm_dcutr_targets(&m, &peer, t, WM_DCUTR_ADDRS);
		for (size_t i = 0; i < k; i++)
			if (t[i].port == 0 || t[i].has_peer ||
			    (t[i].family != 4 && t[i].family != 6))
				abort();
	}
	if (wm_dcutr_read(data, size, &m, &used) == 1 && (used == 0 || used > size))
		abort();
	return 0;
}
