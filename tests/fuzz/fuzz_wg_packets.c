/* libFuzzer harness for the embedded WireGuard's packet parsing: the first
 * byte picks a message type, the rest is the datagram. Initiations go through
 * MAC checking and wgn_consume_initiation (and, when one is accepted, the
 * response); responses through wgn_consume_response against a handshake in
 * progress; cookie replies through wgc_consume_reply; data through the AEAD
 * and the replay window. Nothing may crash, and whatever a consumer accepts
 * must leave a state the next step accepts. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wg/embedded/cookie.h"
#include "wg/embedded/noise.h"
#include "wg/embedded/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct wgn_static me, them;
static struct wgn_handshake my_view; /* them, as my peer */
static struct wgn_handshake their_view;
static struct wgc_checker checker;
static struct wgc_maker maker;
static struct wgp_aead_ctx *recv_ctx;
static int ready;

static struct wgn_handshake *lookup(void *ctx, const uint8_t key[32])
{
	(void)ctx;
	return memcmp(key, my_view.remote_static, 32) == 0 ? &my_view : NULL;
}

static void setup(void)
{
	uint8_t a[32], b[32], k[32];

	memset(a, 0x31, 32);
	memset(b, 0x52, 32);
	memset(k, 0x77, 32);
	if (wgn_static_set(&me, a) || wgn_static_set(&them, b) ||
	    wgn_handshake_init(&my_view, &me, them.pub, NULL) ||
	    wgn_handshake_init(&their_view, &them, me.pub, NULL))
		abort();
	recv_ctx = wgp_aead_ctx_new(k, false);
	if (!recv_ctx)
		abort();
	ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t addr[6] = {192, 0, 2, 1, 0xca, 0x6c};
	struct wgn_handshake *hs;
	uint8_t buf[2048];
	size_t len;

	if (!ready)
		setup();
	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	len = size - 1;
	memcpy(buf, data + 1, len);
	switch (data[0] % 4) {
	case 0:
		if (wgm_type(buf, len) != WGM_INITIATION)
			return 0;
		(void)wgc_check(&checker, me.mac1_key, buf, len, addr, sizeof(addr), 1);
		if (wgn_consume_initiation(&me, (const struct wgm_initiation *)buf, lookup, NULL,
					   (int64_t)1 << 40, &hs) == 0) {
			struct wgm_response r;
			struct wgn_keys keys;

			if (hs != &my_view || wgn_create_response(hs, &me, 5, NULL, &r) ||
			    wgn_derive_keys(hs, &keys))
				abort();
		}
		break;
	case 1: {
		struct wgm_initiation init;

		if (wgm_type(buf, len) != WGM_RESPONSE)
			return 0;
		/* A handshake of theirs in progress, for the response to hit. */
		if (wgn_create_initiation(&their_view, &them, 9, 1000, 0, NULL, &init))
			abort();
		if (wgn_consume_response(&their_view, &them, (const struct wgm_response *)buf) ==
		    0) {
			struct wgn_keys keys;

			if (wgn_derive_keys(&their_view, &keys))
				abort();
		}
		break;
	}
	case 2: {
		uint8_t msg[WGM_INITIATION_LEN] = {1};

		if (wgm_type(buf, len) != WGM_COOKIE)
			return 0;
		if (wgc_add_macs(&maker, my_view.remote_mac1_key, msg, sizeof(msg), 1))
			abort();
		(void)wgc_consume_reply(&maker, my_view.remote_cookie_key,
					(const struct wgm_cookie *)buf, 1);
		break;
	}
	default: {
		struct wgr_window w;
		const struct wgm_data *h = (const void *)buf;
		uint8_t out[2048];

		if (wgm_type(buf, len) != WGM_DATA)
			return 0;
		wgr_init(&w);
		if (wgp_aead_ctx_open(recv_ctx, wgm_get64(h->counter), out, buf + 16, len - 16) ==
		    0)
			(void)wgr_check_and_set(&w, wgm_get64(h->counter));
		(void)wgr_check_and_set(&w, wgm_get64(h->counter));
		break;
	}
	}
	return 0;
}
