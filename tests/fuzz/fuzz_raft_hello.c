/* libFuzzer harness: arbitrary bytes as the hello a Raft peer sends inside
 * TLS (src/core/raft_hello.c), before anything about the peer is known.
 *
 * Checks beyond "no crash": a hello that parses re-encodes to exactly the
 * bytes it was read from and names a valid node ID; "need more" only ever
 * comes for fewer bytes than the largest hello; a refusal always says why;
 * every prefix of a parsed hello asks for more instead of failing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ids.h"
#include "core/raft_hello.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_raft_hello h;
	const char *why = NULL;
	uint8_t buf[WM_RAFT_HELLO_MAX];

	int n = wm_raft_hello_parse(data, size, &h, &why);
	if (n == -EAGAIN) {
		if (size >= WM_RAFT_HELLO_MAX)
			abort();
		return 0;
	}
	if (n == -EPROTO) {
		if (!why || !*why)
			abort();
		return 0;
	}
	if (n <= 0 || (size_t)n > size || n > WM_RAFT_HELLO_MAX)
		abort();
	if (wm_node_id_check(h.node_id, NULL) != 0 || h.raft_id == 0)
		abort();
	int m = wm_raft_hello_encode(&h, buf);
	if (m != n || memcmp(buf, data, (size_t)n) != 0)
		abort();
	for (size_t i = 0; i < (size_t)n; i++)
		if (wm_raft_hello_parse(data, i, &h, &why) != -EAGAIN)
			abort();
	return 0;
}
