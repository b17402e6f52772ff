/* libFuzzer harness: arbitrary bytes as a Kademlia message
 * (src/core/kad.c), which any libp2p peer chooses, and as a stream of
 * routing-table and lookup operations on IDs from the input.
 *
 * Checks beyond "no crash": a decoded message re-encodes to bytes that
 * decode to the same fields; the table never holds more than k per bucket
 * and closest-k comes back sorted; a lookup never has more than alpha
 * queries in flight.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/kad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ops(const uint8_t *data, size_t size)
{
	static struct wm_kad_table t;
	static struct wm_kad_lookup l;
	const struct wm_kad_entry *out[WM_KAD_K], *check;
	struct wm_kad_peer p = {.id_len = 1};
	uint8_t self[32] = {0}, kid[32];

	wm_kad_table_init(&t, self, 2);
	wm_kad_lookup_init(&l, self, self, 3, 20);
	for (size_t i = 0; i + 3 <= size; i += 3) {
		memset(kid, 0, 32);
		kid[0] = data[i + 1];
		kid[31] = data[i + 2];
		switch (data[i] % 5) {
		case 0:
			wm_kad_table_seen(&t, kid, &p, i, &check);
			break;
		case 1:
			wm_kad_table_failed(&t, kid);
			break;
		case 2:
			wm_kad_lookup_add(&l, kid, &p);
			break;
		case 3:
			wm_kad_lookup_next(&l);
			break;
		default:
			wm_kad_lookup_done(&l, kid, data[i] & 8);
			break;
		}
		if (l.inflight > 3)
			abort();
	}
	size_t total = 0;
	for (int b = 0; b < WM_KAD_BUCKETS; b++) {
		if (t.b[b] && t.b[b]->n > WM_KAD_K)
			abort();
		total += t.b[b] ? t.b[b]->n : 0;
	}
	if (total != t.size)
		abort();
	size_t n = wm_kad_table_closest(&t, kid, WM_KAD_K, out);
	for (size_t i = 1; i < n; i++)
		if (wm_kad_closer(kid, out[i - 1]->kid, out[i]->kid) > 0)
			abort();
	wm_kad_table_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wm_kad_msg m, m2;
	static uint8_t buf[WM_KAD_MSG_MAX];

	if (wm_kad_msg_decode(data, size, &m) == 0) {
		int n = wm_kad_msg_encode(&m, buf, sizeof(buf));
		if (n < 0 || wm_kad_msg_decode(buf, (size_t)n, &m2))
			abort();
		if (m.type != m2.type || m.key_len != m2.key_len ||
		    memcmp(m.key, m2.key, m.key_len) || m.ncloser != m2.ncloser ||
		    m.nproviders != m2.nproviders)
			abort();
		for (size_t i = 0; i < m.ncloser; i++)
			if (m.closer[i].id_len != m2.closer[i].id_len ||
			    m.closer[i].naddrs != m2.closer[i].naddrs ||
			    memcmp(m.closer[i].id, m2.closer[i].id, m.closer[i].id_len))
				abort();
	}
	ops(data, size);
	return 0;
}
