/* libFuzzer harness for the gRPC wire parsers in src/rpc/frame.c: the message
 * decoder (input split at fuzzer-chosen points), grpc-timeout and
 * percent-decoding.
 *
 * Build and run (not part of the default build):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_rpc_frame.c src/rpc/frame.c -o fuzz_rpc_frame
 *   ./fuzz_rpc_frame -max_total_time=60
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/frame.h"

struct sink {
	size_t total;
	size_t max;
};

static int sink_fn(void *data, const uint8_t *msg, size_t len)
{
	struct sink *s = data;
	if (!msg || len > s->max)
		abort(); /* the decoder must never deliver more than its limit */
	if (len)
		s->total += msg[0] + msg[len - 1];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	/* First byte: the split step; second: the message size limit. */
	size_t step = (size_t)data[0] + 1, max = (size_t)data[1] * 16;
	data += 2;
	size -= 2;

	struct wm_grpc_decoder d;
	struct sink s = {0, max};
	wm_grpc_decoder_init(&d, max);
	for (size_t off = 0; off < size; off += step) {
		size_t n = size - off < step ? size - off : step;
		int rv = wm_grpc_decoder_feed(&d, data + off, n, sink_fn, &s);
		if (rv == -EMSGSIZE && d.last_len <= max)
			abort();
		if (rv)
			break;
	}
	wm_grpc_decoder_free(&d);

	uint64_t ms;
	wm_grpc_timeout_parse((const char *)data, size < 12 ? size : 12, &ms);

	char *dec = wm_grpc_percent_decode((const char *)data, size);
	if (dec) {
		/* Encoding what was decoded and decoding again is stable. */
		char *enc = wm_grpc_percent_encode(dec);
		if (enc) {
			char *again = wm_grpc_percent_decode(enc, strlen(enc));
			if (again && strcmp(again, dec) != 0)
				abort();
			free(again);
		}
		free(enc);
	}
	free(dec);
	return 0;
}
