/* libFuzzer harness: arbitrary text as the network ACL batch a server sends
 * (PeerConfigurations.acl_rules), as a node checks and localizes it before
 * handing it to nftables (core/aclbatch.c).
 *
 * Built by `make fuzz` (tests/fuzz/CMakeLists.txt). By hand, from the root:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_aclbatch.c src/core/aclbatch.c -o fuzz_aclbatch
 *   ./fuzz_aclbatch -max_len=4096 -max_total_time=60
 *
 * Checks beyond "no crash": an accepted batch keeps its lines (one output
 * line per input line) and is accepted again: putting the interface name in
 * never makes a line something else than one of ours. (It need not be free
 * of placeholders: quotes around the name can join the text after it into a
 * new one, which nft then takes as a name, in our own chains.) A refused
 * batch returns nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/aclbatch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), *out = NULL, *again = NULL;
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0'; /* the batch is a protobuf string: no NUL inside counts */
	int rc = wm_acl_batch_localize(in, "webmesh0", &out);
	if (rc == 0) {
		if (!out || lines(in) != lines(out))
			abort();
		if (wm_acl_batch_localize(out, "webmesh0", &again) != 0)
			abort();
	} else if (out || (rc != -EINVAL && rc != -ENOMEM)) {
		abort();
	}
	free(again);
	free(out);
	free(in);
	return 0;
}
