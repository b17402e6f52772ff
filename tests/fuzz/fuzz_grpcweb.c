/* libFuzzer harness for the gRPC-web request decoder (src/rpc/grpcweb.c):
 * the first byte picks binary or text mode and the message size limit, the
 * rest is the body; the base64 text decoder is also fed in pieces split at
 * fuzzer-chosen points, and must agree with the one-shot decode. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/grpcweb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum wm_grpcweb_mode mode = data[0] & 1 ? WM_GRPCWEB_TEXT : WM_GRPCWEB_BINARY;
	size_t max = (size_t)(data[0] >> 1) * 8;
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	uint8_t *msg = NULL;
	size_t mlen = 0;

	int r = wm_grpcweb_request_decode(mode, body, len, max, &msg, &mlen);
	if (r == 0) {
		if (!msg || mlen > max)
			abort();
		free(msg);
	} else if (r != -EBADMSG && r != -EMSGSIZE && r != -EPROTONOSUPPORT && r != -E2BIG &&
		   r != -ENOMEM) {
		abort();
	}
	const char *why = NULL;
	(void)wm_grpcweb_decode_status(r, &why);

	/* Chunked base64: split wherever a byte is below 0x30. */
	struct wm_grpcweb_b64 d = {0};
	uint8_t *out = malloc(len + 4);
	if (!out)
		return 0;
	size_t start = 0, n, total = 0;
	int bad = 0;
	for (size_t i = 0; i <= len && !bad; i++) {
		if (i < len && body[i] >= 0x30)
			continue;
		if (wm_grpcweb_b64_feed(&d, body + start, i - start, out + total, &n) < 0)
			bad = 1;
		else
			total += n;
		start = i;
	}
	if (total > len)
		abort();
	free(out);
	return 0;
}
