/* libFuzzer harness: arbitrary bytes as a circuit relay v2 HopMessage and
 * StopMessage (framed and not) and as a reservation voucher envelope
 * (src/core/p2prelay.c), all of which a libp2p peer chooses.
 *
 * Checks beyond "no crash": a decoded message re-encodes to bytes that
 * decode to the same fields; a framed read never claims more bytes than it
 * was given; a decoded voucher always names its signer as the relay.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/p2prelay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const struct wm_relay_msg *a, const struct wm_relay_msg *b)
{
	if (a->type != b->type || a->has_peer != b->has_peer || a->has_rsvp != b->has_rsvp ||
	    a->has_limit != b->has_limit || a->has_status != b->has_status ||
	    a->status != b->status || a->limit_data != b->limit_data ||
	    a->limit_duration != b->limit_duration || a->rsvp_expire != b->rsvp_expire ||
	    a->voucher_len != b->voucher_len || a->peer_addrs.n != b->peer_addrs.n ||
	    a->rsvp_addrs.n != b->rsvp_addrs.n ||
	    (a->has_peer && !wm_peer_id_equal(&a->peer, &b->peer)) ||
	    memcmp(a->voucher, b->voucher, a->voucher_len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wm_relay_msg m, m2;
	static uint8_t buf[WM_RELAY_MSG_MAX + WM_VARINT_MAX];
	static struct wm_relay_voucher v;
	size_t used = 0;

	for (int hop = 0; hop < 2; hop++) {
		if (wm_relay_msg_decode(hop, data, size, &m) == 0) {
			int n = wm_relay_msg_encode(&m, buf, sizeof(buf));
			/* Dropped extras make the re-encoding no longer
			 * than the input; it must fit and decode the same. */
			if (n < 0 || wm_relay_msg_decode(hop, buf, (size_t)n, &m2))
				abort();
			same(&m, &m2);
		}
		int rc = wm_relay_msg_read(hop, data, size, &m, &used);
		if (rc == 1 && (used == 0 || used > size))
			abort();
	}
	if (wm_relay_voucher_decode(data, size, &v) == 0) {
		struct wm_peer_id signer;
		wm_peer_id_from_pubkey(v.pk, &signer);
		if (!wm_peer_id_equal(&signer, &v.relay))
			abort();
	}
	return 0;
}
