/* Noise transport frames (src/p2p/noiseframe.c): whole, partial, several
 * in one buffer, and the frames that break the channel. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/noiseframe.h"

/* Both ends of one direction: the same key, nonces from 0. */
static void pair(struct wm_noise_cs *tx, struct wm_noise_cs *rx)
{
	memset(tx, 0, sizeof(*tx));
	memset(rx, 0, sizeof(*rx));
	for (int i = 0; i < 32; i++)
		tx->k[i] = rx->k[i] = (uint8_t)(i * 7 + 1);
	tx->has_key = rx->has_key = true;
}

static void unpair(struct wm_noise_cs *tx, struct wm_noise_cs *rx)
{
	wm_noise_cs_free(tx);
	wm_noise_cs_free(rx);
}

static void test_exact_frame(void **state)
{
	struct wm_noise_cs tx, rx;
	uint8_t buf[64], *pt;
	size_t used, pl;
	(void)state;

	pair(&tx, &rx);
	assert_int_equal(wm_noise_frame_seal(&tx, (const uint8_t *)"hello", 5, buf), 2 + 5 + 16);
	assert_int_equal(buf[0], 0);
	assert_int_equal(buf[1], 21);
	assert_int_equal(wm_noise_frame_open(&rx, buf, 23, &used, &pt, &pl), 1);
	assert_int_equal(used, 23);
	assert_int_equal(pl, 5);
	assert_ptr_equal(pt, buf + 2); /* in place */
	assert_memory_equal(pt, "hello", 5);
	assert_int_equal(rx.n, 1);
	/* An empty frame is a tag alone, and valid. */
	assert_int_equal(wm_noise_frame_seal(&tx, NULL, 0, buf), 18);
	assert_int_equal(wm_noise_frame_open(&rx, buf, 18, &used, &pt, &pl), 1);
	assert_int_equal(used, 18);
	assert_int_equal(pl, 0);
	unpair(&tx, &rx);
}

static void test_partial(void **state)
{
	struct wm_noise_cs tx, rx;
	uint8_t buf[128], *pt;
	size_t used, pl;
	(void)state;

	pair(&tx, &rx);
	int n = wm_noise_frame_seal(&tx, (const uint8_t *)"0123456789", 10, buf);
	assert_int_equal(n, 28);
	/* Every prefix short of the whole frame asks for more and touches
	 * nothing: not the nonce, not the bytes. */
	for (size_t have = 0; have < (size_t)n; have++) {
		assert_int_equal(wm_noise_frame_open(&rx, buf, have, &used, &pt, &pl), 0);
		assert_int_equal(used, 0);
		assert_int_equal(rx.n, 0);
	}
	assert_int_equal(wm_noise_frame_open(&rx, buf, (size_t)n, &used, &pt, &pl), 1);
	assert_memory_equal(pt, "0123456789", 10);
	unpair(&tx, &rx);
}

static void test_several_in_one_buffer(void **state)
{
	struct wm_noise_cs tx, rx;
	static uint8_t buf[3 * (2 + WM_NOISE_MAX)], plain[WM_NOISE_PLAIN_MAX];
	const size_t lens[] = {1, WM_NOISE_PLAIN_MAX, 0, 300};
	size_t len = 0, off = 0, used, pl;
	uint8_t *pt;
	(void)state;

	pair(&tx, &rx);
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(i * 31);
	for (size_t i = 0; i < 4; i++) {
		int n = wm_noise_frame_seal(&tx, plain, lens[i], buf + len);
		assert_int_equal(n, 2 + 16 + (int)lens[i]);
		len += (size_t)n;
	}
	/* The largest frame is exactly the 2-byte length's bound. */
	assert_int_equal(buf[2 + 1 + 16] << 8 | buf[2 + 1 + 16 + 1], WM_NOISE_MAX);
	/* and the tail of a fifth, cut short */
	buf[len] = 0;
	buf[len + 1] = 40;
	len += 5;
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(wm_noise_frame_open(&rx, buf + off, len - off, &used, &pt, &pl),
				 1);
		assert_int_equal(pl, lens[i]);
		assert_memory_equal(pt, plain, pl);
		off += used;
	}
	assert_int_equal(len - off, 5);
	assert_int_equal(wm_noise_frame_open(&rx, buf + off, len - off, &used, &pt, &pl), 0);
	/* Sealing more than a frame holds is refused. */
	assert_int_equal(wm_noise_frame_seal(&tx, plain, WM_NOISE_PLAIN_MAX + 1, buf), -EMSGSIZE);
	unpair(&tx, &rx);
}

static void test_broken_frames(void **state)
{
	struct wm_noise_cs tx, rx;
	uint8_t buf[64], *pt;
	size_t used, pl;
	(void)state;

	/* Shorter than a tag: refused at once, before its bytes arrive. */
	pair(&tx, &rx);
	buf[0] = 0;
	buf[1] = 15;
	assert_int_equal(wm_noise_frame_open(&rx, buf, 2, &used, &pt, &pl), -EBADMSG);
	buf[1] = 0;
	assert_int_equal(wm_noise_frame_open(&rx, buf, 2, &used, &pt, &pl), -EBADMSG);
	/* A bad tag, a flipped ciphertext bit, a frame of another nonce. */
	for (int how = 0; how < 3; how++) {
		unpair(&tx, &rx);
		pair(&tx, &rx);
		if (how == 2)
			assert_int_equal(wm_noise_frame_seal(&tx, (const uint8_t *)"x", 1, buf),
					 19);
		int n = wm_noise_frame_seal(&tx, (const uint8_t *)"secret", 6, buf);
		assert_int_equal(n, 24);
		if (how == 0)
			buf[n - 1] ^= 1;
		else if (how == 1)
			buf[2] ^= 0x80;
		assert_int_equal(wm_noise_frame_open(&rx, buf, (size_t)n, &used, &pt, &pl),
				 -EBADMSG);
		assert_int_equal(used, 0);
		assert_null(pt);
	}
	/* The nonces used up. */
	unpair(&tx, &rx);
	pair(&tx, &rx);
	assert_int_equal(wm_noise_frame_seal(&tx, (const uint8_t *)"x", 1, buf), 19);
	rx.n = UINT64_MAX;
	assert_int_equal(wm_noise_frame_open(&rx, buf, 19, &used, &pt, &pl), -EOVERFLOW);
	unpair(&tx, &rx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_frame),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_several_in_one_buffer),
		cmocka_unit_test(test_broken_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
