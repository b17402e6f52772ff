/* Unit tests for src/core/base64.c: RFC 4648 vectors and the strict acceptance rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/base64.h"

static const char *vec[][2] = {
	{"", ""},
	{"f", "Zg=="},
	{"fo", "Zm8="},
	{"foo", "Zm9v"},
	{"foob", "Zm9vYg=="},
	{"fooba", "Zm9vYmE="},
	{"foobar", "Zm9vYmFy"},
};

static void test_vectors(void **state)
{
	char text[32];
	uint8_t bin[32];
	size_t n = 99;

	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t len = strlen(vec[i][0]);

		assert_int_equal(wm_base64_encode(vec[i][0], len, text), strlen(vec[i][1]));
		assert_string_equal(text, vec[i][1]);
		assert_true(strlen(text) + 1 <= WM_BASE64_ENCODED_LEN(len));
		assert_int_equal(
			wm_base64_decode(vec[i][1], strlen(vec[i][1]), bin, sizeof(bin), &n), 0);
		assert_int_equal(n, len);
		assert_memory_equal(bin, vec[i][0], len);
	}
	/* all 64 characters of the alphabet, both ways */
	const char *all = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t raw[48];
	assert_int_equal(wm_base64_decode(all, 64, raw, sizeof(raw), &n), 0);
	assert_int_equal(n, 48);
	char back[65];
	wm_base64_encode(raw, 48, back);
	assert_string_equal(back, all);
}

static void test_rejects(void **state)
{
	/* What libsodium's sodium_base64_VARIANT_ORIGINAL (no ignore set) refused. */
	static const char *bad[] = {
		"Zg",	    /* padding missing */
		"Zg=",	    /* padding short */
		"Zg===",    /* padding long */
		"Zm8",	    /* padding missing */
		"Zm8==",    /* padding long */
		"Zh==",	    /* non-zero unused bits */
		"Zm9=",	    /* non-zero unused bits */
		"Z",	    /* one char: 6 bits, no byte */
		"Z===",	    /* one char, padded */
		"Zm9vY",    /* a lone char after a group */
		"Zg==Zg==", /* data after padding */
		"Zm9v\n",   /* whitespace */
		" Zm9v",    /* whitespace */
		"Zm 9v",    /* whitespace */
		"Zm9-",	    /* URL-safe alphabet */
		"Zm9_",	    /* URL-safe alphabet */
		"=",	    /* padding alone */
		"====",	    /* padding alone */
	};
	uint8_t bin[16];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wm_base64_decode(bad[i], strlen(bad[i]), bin, sizeof(bin), &n),
				 -EINVAL);
	/* a NUL inside the given length is not base64 either */
	assert_int_equal(wm_base64_decode("Zm9v\0", 5, bin, sizeof(bin), &n), -EINVAL);
	/* more bytes than fit */
	assert_int_equal(wm_base64_decode("Zm9vYmFy", 8, bin, 5, &n), -ERANGE);
	assert_int_equal(wm_base64_decode("Zm9vYmE=", 8, bin, 5, &n), 0);
	assert_int_equal(n, 5);
}

static void test_value(void **state)
{
	(void)state;
	assert_int_equal(wm_base64_value('A'), 0);
	assert_int_equal(wm_base64_value('a'), 26);
	assert_int_equal(wm_base64_value('0'), 52);
	assert_int_equal(wm_base64_value('+'), 62);
	assert_int_equal(wm_base64_value('/'), 63);
	assert_int_equal(wm_base64_value('='), -1);
	assert_int_equal(wm_base64_value('-'), -1);
	assert_int_equal(wm_base64_value('\0'), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
