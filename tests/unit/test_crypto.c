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
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
