/* Unit tests for src/p2p/noise.c: Noise_XX_25519_ChaChaPoly_SHA256 against
 * the cacophony test vector (as shipped in noise-c's tests/vector), a
 * handshake between two of our states with the libp2p payload, and the
 * payload's refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "p2p/noise.h"

static size_t unhex(const char *h, uint8_t *out)
{
	size_t n = strlen(h) / 2;

	for (size_t i = 0; i < n; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
	return n;
}

/* cacophony: Noise_XX_25519_ChaChaPoly_SHA256 */
static const char *prologue = "4a6f686e2047616c74";
static const char *init_static = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char *init_eph = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char *resp_static = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char *resp_eph = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
static const char *msgs[][2] = {
	{"4c756477696720766f6e204d69736573",
	 "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d"
	 "69736573"},
	{"4d757272617920526f746862617264", "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f"
					   "14480884381cbad1f276e038c48378ffce2"
					   "b65285e08d6b68aaa3629a5a8639392490e5b9bd5269c2f1e4f488e"
					   "d8831161f19b7815528f8982ffe09be9b5c"
					   "412f8a0db50f8814c7194e83f23dbd8d162c9326ad"},
	{"462e20412e20486179656b", "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a"
				   "80ae475b9df0f169ae80a89be08"
				   "65b57f58c9fea0d4ec82a286427402f113e4b6ae769a1d95941d49b25030"},
	{"4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"},
	{"4a65616e2d426170746973746520536179",
	 "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"},
	{"457567656e2042f6686d20766f6e2042617765726b",
	 "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"},
};

static void test_cacophony(void **state)
{
	uint8_t pro[16], is[32], ie[32], rs[32], re[32];
	struct wm_noise_hs i, r;
	struct wm_noise_cs is_send, is_recv, rs_send, rs_recv;
	(void)state;

	size_t pl = unhex(prologue, pro);
	unhex(init_static, is);
	unhex(init_eph, ie);
	unhex(resp_static, rs);
	unhex(resp_eph, re);
	assert_int_equal(wm_noise_hs_init(&i, true, is, ie, pro, pl), 0);
	assert_int_equal(wm_noise_hs_init(&r, false, rs, re, pro, pl), 0);
	for (int m = 0; m < 6; m++) {
		uint8_t payload[128], want[256], out[256], got[256];
		size_t plen = unhex(msgs[m][0], payload), wl = unhex(msgs[m][1], want);
		bool from_init = m % 2 == 0;
		int n;

		if (m < 3) {
			struct wm_noise_hs *w = from_init ? &i : &r, *rd = from_init ? &r : &i;
			n = wm_noise_hs_write(w, payload, plen, out, sizeof(out));
			assert_int_equal(n, (int)wl);
			assert_memory_equal(out, want, wl);
			n = wm_noise_hs_read(rd, out, wl, got, sizeof(got));
			assert_int_equal(n, (int)plen);
			assert_memory_equal(got, payload, plen);
			if (m == 2) {
				assert_true(wm_noise_hs_done(&i) && wm_noise_hs_done(&r));
				assert_memory_equal(i.h, r.h, 32);
				wm_noise_hs_split(&i, &is_send, &is_recv);
				wm_noise_hs_split(&r, &rs_send, &rs_recv);
			}
			continue;
		}
		/* Transport messages alternate, the responder first. */
		struct wm_noise_cs *s = from_init ? &is_send : &rs_send;
		struct wm_noise_cs *rc = from_init ? &rs_recv : &is_recv;
		assert_int_equal(wm_noise_encrypt(s, NULL, 0, payload, plen, out), 0);
		assert_memory_equal(out, want, wl);
		assert_int_equal(wm_noise_decrypt(rc, NULL, 0, out, wl, got), 0);
		assert_memory_equal(got, payload, plen);
	}
	/* A flipped bit fails the MAC and does not advance the nonce. */
	uint8_t c[64], p[64];
	assert_int_equal(wm_noise_encrypt(&is_send, NULL, 0, (const uint8_t *)"hello", 5, c), 0);
	c[0] ^= 1;
	uint64_t n = rs_recv.n;
	assert_int_equal(wm_noise_decrypt(&rs_recv, NULL, 0, c, 21, p), -EBADMSG);
	assert_true(rs_recv.n == n);
	c[0] ^= 1;
	assert_int_equal(wm_noise_decrypt(&rs_recv, NULL, 0, c, 21, p), 0);
	assert_memory_equal(p, "hello", 5);
	assert_int_equal(wm_noise_decrypt(&rs_recv, NULL, 0, c, 15, p), -EBADMSG);
	wm_noise_hs_wipe(&i);
	wm_noise_hs_wipe(&r);
	wm_noise_cs_free(&is_send);
	wm_noise_cs_free(&is_recv);
	wm_noise_cs_free(&rs_send);
	wm_noise_cs_free(&rs_recv);
}

/* The data path's forms: a message sealed from two parts equals the one
 * sealed from their concatenation, decryption works in place, and one
 * context per direction serves many messages of every size (the nonce,
 * not a new context, changes), also after a forged one. */
static void test_transport_reuse(void **state)
{
	static uint8_t msg[WM_NOISE_PLAIN_MAX], one[WM_NOISE_MAX], two[WM_NOISE_MAX];
	struct wm_noise_cs a = {.has_key = true}, b = {.has_key = true};
	struct wm_noise_cs ra = {.has_key = true};
	(void)state;

	for (int k = 0; k < 32; k++)
		a.k[k] = b.k[k] = ra.k[k] = (uint8_t)(k * 7 + 1);
	for (size_t k = 0; k < sizeof(msg); k++)
		msg[k] = (uint8_t)(k * 31 + 5);
	static const size_t sizes[] = {0, 1, 12, 13, 1500, 65507, WM_NOISE_PLAIN_MAX};
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t len = sizes[i], split = len > 12 ? 12 : len;
			assert_int_equal(wm_noise_encrypt(&a, NULL, 0, msg, len, one), 0);
			assert_int_equal(
				wm_noise_encrypt2(&b, msg, split, msg + split, len - split, two),
				0);
			assert_memory_equal(one, two, len + WM_NOISE_TAG);
			if (i == 2) { /* a forged one: refused, the next still opens */
				one[0] ^= 1;
				assert_int_equal(wm_noise_decrypt(&ra, NULL, 0, one,
								  len + WM_NOISE_TAG, one),
						 -EBADMSG);
				assert_int_equal(wm_noise_encrypt(&a, NULL, 0, msg, len, one), 0);
				assert_int_equal(wm_noise_encrypt2(&b, msg, len, NULL, 0, two), 0);
				assert_memory_equal(one, two, len + WM_NOISE_TAG);
				/* the receiver's nonce did not move: this one is
				 * a message later than it expects */
				assert_int_equal(wm_noise_decrypt(&ra, NULL, 0, one,
								  len + WM_NOISE_TAG, two),
						 -EBADMSG);
				ra.n++;
				assert_int_equal(wm_noise_decrypt(&ra, NULL, 0, one,
								  len + WM_NOISE_TAG, one),
						 0);
				assert_memory_equal(one, msg, len);
				continue;
			}
			assert_int_equal(
				wm_noise_decrypt(&ra, NULL, 0, one, len + WM_NOISE_TAG, one), 0);
			assert_memory_equal(one, msg, len);
		}
	}
	assert_true(a.n == b.n && ra.n == a.n);
	wm_noise_cs_free(&a);
	wm_noise_cs_free(&b);
	wm_noise_cs_free(&ra);
}

/* Two libp2p sides: payloads are signed and checked, peer IDs learnt. */
static void test_libp2p_handshake(void **state)
{
	uint8_t id_i[32], id_r[32], s_i[32], s_r[32], e_i[32], e_r[32];
	struct wm_noise_hs i, r;
	uint8_t msg[1024], pay[512], got[512];
	struct wm_peer_id pid, want;
	uint8_t pk[32];
	int n, pl;
	(void)state;

	for (int k = 0; k < 32; k++) {
		id_i[k] = (uint8_t)(k + 1);
		id_r[k] = (uint8_t)(k + 2);
		s_i[k] = (uint8_t)(k + 3);
		s_r[k] = (uint8_t)(k + 4);
		e_i[k] = (uint8_t)(k + 5);
		e_r[k] = (uint8_t)(k + 6);
	}
	assert_int_equal(wm_noise_hs_init(&i, true, s_i, e_i, NULL, 0), 0);
	assert_int_equal(wm_noise_hs_init(&r, false, s_r, e_r, NULL, 0), 0);
	/* Out of turn. */
	assert_int_equal(wm_noise_hs_write(&r, NULL, 0, msg, sizeof(msg)), -EPROTO);
	/* Message 1 is exactly the ephemeral key: it fits 32 bytes, not 31. */
	assert_int_equal(wm_noise_hs_write(&i, NULL, 0, msg, 31), -ENOSPC);
	n = wm_noise_hs_write(&i, NULL, 0, msg, 32);
	assert_int_equal(n, 32);
	assert_int_equal(wm_noise_hs_read(&r, msg, (size_t)n, got, sizeof(got)), 0);
	pl = wm_p2p_noise_payload(id_r, r.s_pub, pay, sizeof(pay));
	assert_true(pl > 0);
	n = wm_noise_hs_write(&r, pay, (size_t)pl, msg, sizeof(msg));
	assert_true(n > 0);
	/* A forged message 2 (one bit) is refused. */
	struct wm_noise_hs copy = i;
	msg[40] ^= 1;
	assert_int_equal(wm_noise_hs_read(&copy, msg, (size_t)n, got, sizeof(got)), -EBADMSG);
	wm_noise_hs_wipe(&copy);
	msg[40] ^= 1;
	n = wm_noise_hs_read(&i, msg, (size_t)n, got, sizeof(got));
	assert_int_equal(n, pl);
	assert_int_equal(wm_p2p_noise_payload_verify(got, (size_t)n, i.rs, &pid), 0);
	assert_int_equal(wm_ed25519_public(id_r, pk), 0);
	wm_peer_id_from_pubkey(pk, &want);
	assert_true(wm_peer_id_equal(&pid, &want));
	/* The same payload for another static key: the signature fails. */
	assert_int_equal(wm_p2p_noise_payload_verify(got, (size_t)n, i.s_pub, &pid), -EACCES);
	got[n - 1] ^= 1;
	assert_int_equal(wm_p2p_noise_payload_verify(got, (size_t)n, i.rs, &pid), -EACCES);
	assert_int_equal(wm_p2p_noise_payload_verify(got, 3, i.rs, &pid), -EBADMSG);

	pl = wm_p2p_noise_payload(id_i, i.s_pub, pay, sizeof(pay));
	n = wm_noise_hs_write(&i, pay, (size_t)pl, msg, sizeof(msg));
	assert_true(n > 0);
	n = wm_noise_hs_read(&r, msg, (size_t)n, got, sizeof(got));
	assert_int_equal(n, pl);
	assert_int_equal(wm_p2p_noise_payload_verify(got, (size_t)n, r.rs, &pid), 0);
	assert_int_equal(wm_ed25519_public(id_i, pk), 0);
	wm_peer_id_from_pubkey(pk, &want);
	assert_true(wm_peer_id_equal(&pid, &want));
	assert_true(wm_noise_hs_done(&i) && wm_noise_hs_done(&r));
	assert_int_equal(wm_noise_hs_write(&i, NULL, 0, msg, sizeof(msg)), -EPROTO);
	wm_noise_hs_wipe(&i);
	wm_noise_hs_wipe(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cacophony),
		cmocka_unit_test(test_libp2p_handshake),
		cmocka_unit_test(test_transport_reuse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
