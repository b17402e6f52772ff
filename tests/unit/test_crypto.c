/* Unit tests for src/util/crypto.c: X25519 public keys as `wg pubkey` gives them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/key.h"
#include "util/crypto.h"

/* Private keys and what `wg pubkey` (wireguard-tools) printed for them. */
static const char *vec[][2] = {
	{"YIVzYk1ngfaGZhbhYexJFgKZz5iC3IrDcH1PwmvbJkg=",
	 "oXF9bfWrC/kcVW8ypE+GxV0s9zWnK2N0iZbqAeTUJQ4="},
	/* not clamped: X25519 clamps, as wg does */
	{"//////////////////////////////////////////8=",
	 "hHwNLDdSNPNl5mCVUYejc1oPdhPRYJ06ak2MU66qWiI="},
};

static void test_x25519_wg_vectors(void **state)
{
	wm_key priv, pub, want;

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		assert_int_equal(wm_key_from_base64(vec[i][0], priv), 0);
		assert_int_equal(wm_key_from_base64(vec[i][1], want), 0);
		assert_int_equal(wm_x25519_public(priv, pub), 0);
		assert_memory_equal(pub, want, WM_KEY_LEN);
	}
}

static void test_x25519_rfc7748(void **state)
{
	/* RFC 7748 section 6.1: Alice's key pair. */
	static const uint8_t priv[32] = {
		0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1,
		0x72, 0x51, 0xb2, 0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0,
		0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a,
	};
	static const uint8_t want[32] = {
		0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54, 0x74, 0x8b, 0x7d,
		0xdc, 0xb4, 0x3e, 0xf7, 0x5a, 0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38,
		0x1a, 0xf4, 0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a,
	};
	uint8_t pub[32];

	(void)state;
	assert_int_equal(wm_x25519_public(priv, pub), 0);
	assert_memory_equal(pub, want, 32);
}

/* RFC 7748 section 6.1: Alice and Bob share K; the node key is HKDF-SHA256
 * (RFC 5869) over K with the label as salt and no info (expected value from
 * Python's hmac module). */
static void test_node_shared_key(void **state)
{
	static const uint8_t alice[32] = {
		0x77, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d, 0x3c, 0x16, 0xc1,
		0x72, 0x51, 0xb2, 0x66, 0x45, 0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0,
		0x99, 0x2a, 0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x2a,
	};
	static const uint8_t bob[32] = {
		0x5d, 0xab, 0x08, 0x7e, 0x62, 0x4a, 0x8a, 0x4b, 0x79, 0xe1, 0x7f,
		0x8b, 0x83, 0x80, 0x0e, 0xe6, 0x6f, 0x3b, 0xb1, 0x29, 0x26, 0x18,
		0xb6, 0xfd, 0x1c, 0x2f, 0x8b, 0x27, 0xff, 0x88, 0xe0, 0xeb,
	};
	static const uint8_t want[32] = {
		0x56, 0xb9, 0x69, 0xa0, 0x68, 0x36, 0x18, 0x85, 0xfe, 0xb4, 0xf6,
		0x28, 0x36, 0x90, 0x52, 0xec, 0x47, 0x9a, 0xac, 0x0d, 0x59, 0x33,
		0x20, 0x29, 0x7c, 0xea, 0x20, 0xc2, 0x01, 0x1b, 0x95, 0xec,
	};
	uint8_t apub[32], bpub[32], k1[32], k2[32], zero[32] = {0};

	(void)state;
	assert_int_equal(wm_x25519_public(alice, apub), 0);
	assert_int_equal(wm_x25519_public(bob, bpub), 0);
	assert_int_equal(wm_node_shared_key(alice, bpub, "webmesh-test", k1), 0);
	assert_int_equal(wm_node_shared_key(bob, apub, "webmesh-test", k2), 0);
	assert_memory_equal(k1, want, 32);
	assert_memory_equal(k2, want, 32);
	/* another label, another key */
	assert_int_equal(wm_node_shared_key(alice, bpub, "webmesh-other", k2), 0);
	assert_false(wm_ct_equal(k1, k2, 32));
	/* a small-order peer key: the all-zero secret is refused, out wiped */
	memset(k2, 0xaa, sizeof(k2));
	assert_int_equal(wm_node_shared_key(alice, zero, "webmesh-test", k2), -EINVAL);
	assert_memory_equal(k2, zero, 32);
}

static void test_hmac_sha256(void **state)
{
	/* RFC 4231 test case 2 needs a 4-byte key; this is case 1's shape with
	 * a 32-byte key of 0x0b, checked against Python's hmac module. */
	uint8_t key[32], mac[32];
	static const uint8_t want[32] = {
		0x19, 0x8a, 0x60, 0x7e, 0xb4, 0x4b, 0xfb, 0xc6, 0x99, 0x03, 0xa0,
		0xf1, 0xcf, 0x2b, 0xbd, 0xc5, 0xba, 0x0a, 0xa3, 0xf3, 0xd9, 0xae,
		0x3c, 0x1c, 0x7a, 0x3b, 0x16, 0x96, 0xa0, 0xb6, 0x8c, 0xf7,
	};

	(void)state;
	memset(key, 0x0b, sizeof(key));
	assert_int_equal(wm_hmac_sha256(key, "Hi There", 8, mac), 0);
	assert_memory_equal(mac, want, 32);
}

static void test_random(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	assert_int_equal(wm_random(a, sizeof(a)), 0);
	assert_int_equal(wm_random(b, sizeof(b)), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(wm_random(a, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x25519_wg_vectors),
		cmocka_unit_test(test_x25519_rfc7748),
		cmocka_unit_test(test_node_shared_key),
		cmocka_unit_test(test_hmac_sha256),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
