/* Known answers for the embedded WireGuard's primitives and their
 * composition: BLAKE2s (RFC 7693), keyed BLAKE2s and HMAC-BLAKE2s and the KDF
 * chain (values from Python's hashlib, an independent BLAKE2 implementation),
 * X25519 (RFC 7748 6.1), HChaCha20 (draft-irtf-cfrg-xchacha 2.2.1), and the
 * Noise construction's initial chaining key and hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "test_wg_hex.h"
#include "wg/embedded/noise.h"
#include "wg/embedded/prim.h"

static void test_blake2s(void **state)
{
	uint8_t out[32];

	(void)state;
	assert_int_equal(wgp_hash2(out, "a", 1, "bc", 2), 0);
	assert_hex_equal(out, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

static void test_mac(void **state)
{
	uint8_t key[32], out[16];

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	assert_int_equal(wgp_mac(out, key, 32, "WireGuard", 9), 0);
	assert_hex_equal(out, "c44bc1a201f2ff374d10eda15244ad8a");
	/* MAC2 is keyed with a 16-byte cookie. */
	assert_int_equal(wgp_mac(out, key, 16, "WireGuard", 9), 0);
	assert_hex_equal(out, "d1e1bb5b57bb4d87292940c814de9239");
	assert_int_equal(wgp_mac(out, key, 0, "x", 1), -EINVAL);
	assert_int_equal(wgp_mac(out, key, 33, "x", 1), -EINVAL);
}

static void test_hmac_kdf(void **state)
{
	uint8_t key[32], out[32], t1[32], t2[32], t3[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	assert_int_equal(wgp_hmac(out, key, "input", 5), 0);
	assert_hex_equal(out, "bbe722d569a4845b94c23b9ae71c3dc04877099c376a541d26f313ca7348fd3a");
	assert_int_equal(wgp_kdf(key, "input", 5, t1, t2, t3), 0);
	assert_hex_equal(t1, "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040");
	assert_hex_equal(t2, "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824");
	assert_hex_equal(t3, "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9");
	/* KDF1 and KDF2 are prefixes of KDF3; the output may be the key itself
	 * (the chaining key is updated in place). */
	assert_int_equal(wgp_kdf(key, "input", 5, key, NULL, NULL), 0);
	assert_memory_equal(key, t1, 32);
}

static void test_initial(void **state)
{
	uint8_t ck[32], h[32];

	(void)state;
	wgn_initial(ck, h);
	assert_hex_equal(ck, "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
	assert_hex_equal(h, "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
}

static void test_x25519(void **state)
{
	uint8_t a[32], b[32], pub[32], out[32], zero[32] = {0};

	(void)state;
	unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a, 32);
	unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b, 32);
	assert_int_equal(wgp_pubkey(pub, a), 0);
	assert_hex_equal(pub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
	assert_int_equal(wgp_pubkey(pub, b), 0);
	assert_hex_equal(pub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
	assert_int_equal(wgp_dh(out, a, pub), 0);
	assert_hex_equal(out, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
	/* A small-order point gives the all-zero result WireGuard refuses. */
	assert_int_equal(wgp_dh(out, a, zero), -EINVAL);
	assert_memory_equal(out, zero, 32);
}

static void test_hchacha20(void **state)
{
	uint8_t key[32], nonce[16], out[32];

	(void)state;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	unhex("000000090000004a0000000031415927", nonce, 16);
	assert_int_equal(wgp_hchacha20(out, key, nonce), 0);
	assert_hex_equal(out, "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

static void test_aead(void **state)
{
	uint8_t key[32] = {1}, buf[64], out[64], nonce[24] = {7};
	struct wgp_aead_ctx *s = wgp_aead_ctx_new(key, true), *r = wgp_aead_ctx_new(key, false);

	(void)state;
	assert_non_null(s);
	assert_non_null(r);
	/* The context path and the one-shot path are the same cipher. */
	assert_int_equal(wgp_aead_ctx_seal(s, 5, buf, (const uint8_t *)"hello world", 11), 0);
	assert_int_equal(wgp_aead_open(out, key, 5, buf, 27, NULL, 0), 0);
	assert_memory_equal(out, "hello world", 11);
	assert_int_equal(wgp_aead_ctx_open(r, 5, out, buf, 27), 0);
	assert_int_equal(wgp_aead_ctx_open(r, 6, out, buf, 27), -EBADMSG);
	buf[3] ^= 1;
	assert_int_equal(wgp_aead_ctx_open(r, 5, out, buf, 27), -EBADMSG);
	/* XChaCha20-Poly1305 round trip; a wrong AAD fails. */
	assert_int_equal(wgp_xaead_seal(buf, key, nonce, (const uint8_t *)"cookie", 6,
					(const uint8_t *)"aad", 3),
			 0);
	assert_int_equal(wgp_xaead_open(out, key, nonce, buf, 22, (const uint8_t *)"aad", 3), 0);
	assert_memory_equal(out, "cookie", 6);
	assert_int_equal(wgp_xaead_open(out, key, nonce, buf, 22, (const uint8_t *)"aae", 3),
			 -EBADMSG);
	wgp_aead_ctx_free(s);
	wgp_aead_ctx_free(r);
}

/* One keyless lane seals and opens under alternating keys, exactly as the
 * one-shot path does; a key switch in between never leaks into the next. */
static void test_aead_lane(void **state)
{
	uint8_t k1[32] = {1}, k2[32] = {2}, in[300], a[316], b[316], out[300];
	struct wgp_aead_ctx *l = wgp_aead_lane_new();

	(void)state;
	assert_non_null(l);
	for (unsigned i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	for (uint64_t ctr = 0; ctr < 40; ctr++) {
		const uint8_t *k = ctr & 1 ? k2 : k1;
		size_t len = (size_t)(ctr * 7) % sizeof(in);

		assert_int_equal(wgp_aead_lane_seal(l, k, ctr, a, in, len), 0);
		assert_int_equal(wgp_aead_seal(b, k, ctr, in, len, NULL, 0), 0);
		assert_memory_equal(a, b, len + 16);
		assert_int_equal(wgp_aead_lane_open(l, k, ctr, out, a, len + 16), 0);
		assert_memory_equal(out, in, len);
		/* The other key, or the next counter, does not open it. */
		assert_int_equal(wgp_aead_lane_open(l, ctr & 1 ? k1 : k2, ctr, out, a, len + 16),
				 -EBADMSG);
		assert_int_equal(wgp_aead_lane_open(l, k, ctr + 1, out, a, len + 16), -EBADMSG);
	}
	assert_int_equal(wgp_aead_lane_open(l, k1, 0, out, a, 15), -EINVAL);
	wgp_aead_ctx_free(l);
}

static void test_tai64n(void **state)
{
	uint8_t a[12], b[12];

	(void)state;
	wgp_tai64n(a, 1, 999999999);
	wgp_tai64n(b, 2, 0);
	assert_true(memcmp(a, b, 12) < 0);
	assert_hex_equal(a, "400000000000000b3b9ac9ff");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blake2s),	 cmocka_unit_test(test_mac),
		cmocka_unit_test(test_hmac_kdf), cmocka_unit_test(test_initial),
		cmocka_unit_test(test_x25519),	 cmocka_unit_test(test_hchacha20),
		cmocka_unit_test(test_aead),	 cmocka_unit_test(test_aead_lane),
		cmocka_unit_test(test_tai64n),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
