/* libFuzzer harness: arbitrary bytes as an identify message
 * (src/p2p/identify.c), a protobuf PublicKey and a Noise handshake payload
 * (src/p2p/noise.c), all of which a libp2p peer chooses.
 *
 * Checks beyond "no crash": a decoded identify message re-encodes to bytes
 * that decode to the same fields; a payload is never accepted for a static
 * key its signature does not cover (the fixed key here, which no input can
 * sign for without the identity's private key... unless the input carries
 * a valid signature, which then must name the same peer twice).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/identify.h"
#include "p2p/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wm_identify m, m2;
	static uint8_t buf[WM_IDENTIFY_MAX * 2];
	uint8_t pk[32], rs[32];
	struct wm_peer_id id, id2;

	if (wm_identify_decode(data, size, &m) == 0) {
		int n = wm_identify_encode(&m, buf, sizeof(buf));
		if (n < 0 || wm_identify_decode(buf, (size_t)n, &m2))
			abort();
		if (m.nlisten != m2.nlisten || m.nprotocols != m2.nprotocols ||
		    m.has_pubkey != m2.has_pubkey || strcmp(m.agent_version, m2.agent_version) ||
		    strcmp(m.protocol_version, m2.protocol_version))
			abort();
		for (size_t i = 0; i < m.nprotocols; i++)
			if (strcmp(m.protocols[i], m2.protocols[i]))
				abort();
	}
	if (wm_p2p_pubkey_decode(data, size, pk) == 0) {
		uint8_t enc[WM_PUBKEY_PB_LEN];
		wm_p2p_pubkey_encode(pk, enc);
		if (size != sizeof(enc) || memcmp(enc, data, size))
			abort();
	}
	memset(rs, 0x42, sizeof(rs));
	if (wm_p2p_noise_payload_verify(data, size, rs, &id) == 0) {
		if (wm_p2p_noise_payload_verify(data, size, rs, &id2) ||
		    !wm_peer_id_equal(&id, &id2))
			abort();
	}
	return 0;
}
