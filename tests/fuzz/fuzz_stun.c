/* libFuzzer harness: arbitrary bytes as a STUN Binding response.
 *
 * Built by `make fuzz` (tests/fuzz/CMakeLists.txt). By hand, from the root:
 *   clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
 *     tests/fuzz/fuzz_stun.c src/nat/stun.c src/core/net.c -o fuzz_stun
 *   ./fuzz_stun -max_len=1500 -max_total_time=60
 *
 * Checks beyond "no crash": a parsed response is internally consistent (an
 * error response has a code in 300..699 and a terminated reason; a mapped
 * address has a known family and full length), the answer does not depend on
 * whether the transaction ID is checked when it matches, and a request we
 * encode with the input's transaction ID is recognised as STUN. The TURN
 * probe's answer check (wm_stun_response_type) runs on the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nat/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_stun_response r, r2;
	uint8_t req[WM_STUN_REQUEST_MAX];
	int rc, rc2;

	rc = wm_stun_parse_response(data, size, NULL, &r);
	if (rc == 0) {
		if (r.type == WM_STUN_BINDING_ERROR &&
		    (r.error_code < 300 || r.error_code > 699 ||
		     memchr(r.error_reason, '\0', sizeof(r.error_reason)) == NULL))
			abort();
		if (r.type == WM_STUN_BINDING_SUCCESS && r.error_code != 0)
			abort();
		if ((r.has_mapped || r.has_xor_mapped) &&
		    !((r.mapped.ip.family == AF_INET && r.mapped.ip.len == 32) ||
		      (r.mapped.ip.family == AF_INET6 && r.mapped.ip.len == 128)))
			abort();
		rc2 = wm_stun_parse_response(data, size, r.txid, &r2);
		if (rc2 != 0 || r2.type != r.type || r2.error_code != r.error_code ||
		    r2.has_mapped != r.has_mapped || r2.has_xor_mapped != r.has_xor_mapped ||
		    !wm_endpoint_equal(&r2.mapped, &r.mapped))
			abort();
	}
	if (size >= WM_STUN_TXID_LEN) {
		rc = wm_stun_binding_request(data, size & 1, req, sizeof(req));
		if (rc < 0 || !wm_stun_is_message(req, (size_t)rc))
			abort();
	}
	/* netcheck's TURN probe: any answer it accepts is a STUN response of
	 * our transaction; our own Allocate request is STUN but no answer. */
	if (size >= WM_STUN_HEADER_LEN) {
		uint8_t alloc[WM_STUN_ALLOCATE_REQUEST_MAX];

		rc = wm_stun_response_type(data, size, data + 8);
		if (rc >= 0 && (!wm_stun_is_message(data, size) || !(rc & 0x0100)))
			abort();
		rc = wm_stun_allocate_request(data + 8, alloc, sizeof(alloc));
		if (rc != WM_STUN_ALLOCATE_REQUEST_MAX || !wm_stun_is_message(alloc, (size_t)rc) ||
		    wm_stun_response_type(alloc, (size_t)rc, data + 8) != -ENOMSG)
			abort();
	}
	return 0;
}
