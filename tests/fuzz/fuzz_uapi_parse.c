/* libFuzzer harness for the UAPI reply parsers (text from a wireguard-go or
 * any other UAPI daemon's socket). Not part of the default build:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_uapi_parse.c src/wg/uapi.c src/core/wgconf.c \
 *     src/core/net.c src/core/key.c src/core/error.c -o /tmp/fuzz_uapi_parse
 *   /tmp/fuzz_uapi_parse -max_total_time=60
 *
 * Besides memory safety it checks that whatever the parser accepts is a valid
 * device: it encodes as a set request and it differs from nothing in itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wm_wg_device *dev = NULL, *upd = NULL;
	char err[128];
	char *txt = NULL;
	size_t len = 0;

	(void)wm_uapi_parse_errno((const char *)data, size);
	if (wm_uapi_parse_get((const char *)data, size, "fuzz0", &dev, err, sizeof(err)) != 0) {
		if (dev)
			abort(); /* a failed parse returns no device */
		return 0;
	}
	/* Ask for every field so the encoder sees all the parsed values. */
	dev->flags |= WM_WGDEV_HAS_PRIVATE_KEY | WM_WGDEV_HAS_LISTEN_PORT | WM_WGDEV_HAS_FWMARK;
	for (size_t i = 0; i < dev->n_peers; i++)
		dev->peers[i].flags |= WM_WGPEER_HAS_KEEPALIVE | WM_WGPEER_REPLACE_ALLOWEDIPS;
	if (wm_uapi_encode_set(dev, &txt, &len) != 0 || strlen(txt) != len)
		abort();
	free(txt);
	if (wm_wg_diff(dev, dev, &upd) != 0 || upd)
		abort();
	wm_wg_device_free(dev);
	return 0;
}
