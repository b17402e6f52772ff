/* libFuzzer harness: arbitrary bytes as a Signal, as a server relays it and a
 * node receives it: protobuf decoding, the ICE parameter checks
 * (wm_ice_params_check), and the server's mailbox (wm_mailbox_put/take).
 *
 * Built by `make fuzz` (tests/fuzz/CMakeLists.txt). By hand, from the root:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Ibuild/proto \
 *     tests/fuzz/fuzz_signal.c src/core/nat.c src/core/net.c src/core/mailbox.c \
 *     build/proto/webmesh/v1/signaling.pb-c.c -lprotobuf-c -o fuzz_signal
 *
 * Checks beyond "no crash": what the check accepts fits the fixed buffers the
 * node copies it into, and a queued signal comes back byte for byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mailbox.h"
#include "core/nat.h"
#include "webmesh/v1/signaling.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Webmesh__V1__Signal *s = webmesh__v1__signal__unpack(NULL, size, data);
	struct wm_mailboxes *m;
	uint8_t *back = NULL;
	size_t len = 0;
	const char *why = NULL;

	if (!s)
		return 0;
	if (s->ice && wm_ice_params_check(s->ice->ufrag, s->ice->pwd, s->ice->candidates,
					  s->ice->n_candidates, &why) == 0) {
		if (strlen(s->ice->ufrag) > WM_ICE_UFRAG_MAX ||
		    strlen(s->ice->pwd) > WM_ICE_PWD_MAX ||
		    s->ice->n_candidates > WM_ICE_MAX_CANDIDATES)
			abort();
		for (size_t i = 0; i < s->ice->n_candidates; i++)
			if (strlen(s->ice->candidates[i]) > WM_ICE_CANDIDATE_MAX)
				abort();
	}
	if (wm_mailboxes_new(NULL, &m) == 0) {
		if (wm_mailbox_put(m, s->to, data, size, 0) >= 0) {
			if (wm_mailbox_take(m, s->to, 1, &back, &len) != 0 || len != size ||
			    (size && memcmp(back, data, size) != 0))
				abort();
			free(back);
		}
		wm_mailboxes_free(m);
	}
	webmesh__v1__signal__free_unpacked(s, NULL);
	return 0;
}
