/* Unit tests for src/core/key.c: canonical base64 and hex key encodings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/key.h"

static void test_base64_roundtrip(void **state)
{
	wm_key k, back;
	char b64[WM_KEY_B64_LEN + 1];

	(void)state;
	for (int seed = 0; seed < 64; seed++) {
		for (int i = 0; i < WM_KEY_LEN; i++)
			k[i] = (uint8_t)(seed * 31 + i * 7 + (seed ^ i));
		wm_key_to_base64(k, b64);
		assert_int_equal(strlen(b64), WM_KEY_B64_LEN);
		assert_int_equal(b64[43], '=');
		assert_int_equal(wm_key_from_base64(b64, back), 0);
		assert_memory_equal(k, back, WM_KEY_LEN);
	}
}

static void test_base64_known(void **state)
{
	wm_key k;
	char b64[WM_KEY_B64_LEN + 1];

	(void)state;
	memset(k, 0, sizeof(k));
	wm_key_to_base64(k, b64);
	assert_string_equal(b64, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	memset(k, 0xff, sizeof(k));
	wm_key_to_base64(k, b64);
	assert_string_equal(b64, "//////////////////////////////////////////8=");
	for (int i = 0; i < WM_KEY_LEN; i++)
		k[i] = (uint8_t)i;
	wm_key_to_base64(k, b64);
	/* printf '%b' "$(printf '\\x%02x' $(seq 0 31))" | base64 */
	assert_string_equal(b64, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
}

static void test_base64_invalid(void **state)
{
	static const char *const bad[] = {
		"",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",	 /* 43 */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", /* 45 */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",	 /* no '=' */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",	 /* 31 bytes */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",	 /* padding bits set */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/=",	 /* padding bits set */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*A=",	 /* alphabet */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-A=",	 /* url-safe alphabet */
		"AAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA=",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	};
	wm_key k;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (wm_key_from_base64(bad[i], k) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
	}
	assert_int_equal(wm_key_from_base64(NULL, k), -EINVAL);
	assert_int_equal(wm_key_from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=", k), 0);
	assert_int_equal(k[31], 1);
}

static void test_hex(void **state)
{
	wm_key k, back;
	char hex[WM_KEY_HEX_LEN + 1];

	(void)state;
	for (int i = 0; i < WM_KEY_LEN; i++)
		k[i] = (uint8_t)(i * 9 + 0xa0);
	wm_key_to_hex(k, hex);
	assert_int_equal(strlen(hex), WM_KEY_HEX_LEN);
	assert_memory_equal(hex, "a0a9b2bb", 8);
	assert_int_equal(wm_key_from_hex(hex, back), 0);
	assert_memory_equal(k, back, WM_KEY_LEN);
	for (char *p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	assert_int_equal(wm_key_from_hex(hex, back), 0);
	assert_memory_equal(k, back, WM_KEY_LEN);
	hex[10] = 'g';
	assert_int_equal(wm_key_from_hex(hex, back), -EINVAL);
	assert_int_equal(wm_key_from_hex("00", back), -EINVAL);
	assert_int_equal(wm_key_from_hex(NULL, back), -EINVAL);
	char longer[WM_KEY_HEX_LEN + 2];
	memset(longer, '0', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(wm_key_from_hex(longer, back), -EINVAL);
}

static void test_compare_zero_wipe(void **state)
{
	wm_key a, b;

	(void)state;
	memset(a, 0, sizeof(a));
	assert_true(wm_key_is_zero(a));
	a[31] = 1;
	assert_false(wm_key_is_zero(a));
	memcpy(b, a, sizeof(a));
	assert_true(wm_key_equal(a, b));
	b[0] ^= 0x80;
	assert_false(wm_key_equal(a, b));
	memset(b, 0x55, sizeof(b));
	wm_wipe(b, sizeof(b));
	assert_true(wm_key_is_zero(b));
	wm_wipe(NULL, 10);
}

static void test_hex_digit(void **state)
{
	(void)state;
	assert_int_equal(wm_hex_digit('0'), 0);
	assert_int_equal(wm_hex_digit('9'), 9);
	assert_int_equal(wm_hex_digit('a'), 10);
	assert_int_equal(wm_hex_digit('F'), 15);
	assert_int_equal(wm_hex_digit('g'), -1);
	assert_int_equal(wm_hex_digit('/'), -1);
	assert_int_equal(wm_hex_digit('\0'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_roundtrip),  cmocka_unit_test(test_base64_known),
		cmocka_unit_test(test_base64_invalid),	  cmocka_unit_test(test_hex),
		cmocka_unit_test(test_compare_zero_wipe), cmocka_unit_test(test_hex_digit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
